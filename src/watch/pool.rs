//! At most C keep-alive connections to one target, like a browser or an ingress client: a
//! request takes an idle connection or opens one; a connection the server closed is dropped and
//! a new one opened on demand.
//!
//! Our own small pool over `hyper::client::conn` rather than hyper-util's legacy `Client`: that
//! client caps only *idle* connections per host and opens a new one for every request while all
//! are busy, so during a stall it would open hundreds, and "C at most" would not hold. Here an
//! HTTP/1.1 request holds one of C permits from before it takes a connection until its answer
//! body is read; with `--http2`, requests are multiplexed over C connections round-robin.
//!
//! Retries: only a request hyper hands back as *not sent* (the reused connection was already
//! closing) goes again, once, on a fresh connection — the server never saw it. A request that
//! was written and then met a closed connection is a failure (`reset`): that is exactly what a
//! rollout that closes keep-alive connections under load does to clients.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::outcome::{hyper_failure, io_failure, Failure};

pub type Body = Full<Bytes>;
/// A failure kind and its detail.
pub type Fail = (Failure, String);

pub struct Pool {
    host: String,
    port: u16,
    http2: bool,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<http1::SendRequest<Body>>>,
    h2: Vec<tokio::sync::Mutex<Option<http2::SendRequest<Body>>>>,
    next: AtomicUsize,
    /// Connections opened so far (a reconnect storm shows here).
    pub opened: AtomicU64,
}

/// What an HTTP/1.1 request holds while its answer body is read; [`Lease::release`] returns
/// the connection for reuse. Dropped without release (timeout, error), the connection closes.
pub struct Lease {
    conn: Option<(http1::SendRequest<Body>, OwnedSemaphorePermit)>,
}

impl Pool {
    pub fn new(host: &str, port: u16, connections: usize, http2: bool) -> Pool {
        Pool {
            host: host.to_owned(),
            port,
            http2,
            permits: Arc::new(Semaphore::new(connections)),
            idle: Mutex::new(Vec::new()),
            h2: (0..connections)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
            opened: AtomicU64::new(0),
        }
    }

    /// Sends `req` and returns the answer's head; the caller reads the body, then releases.
    pub async fn send(&self, req: Request<Body>) -> Result<(Response<Incoming>, Lease), Fail> {
        if self.http2 {
            return self.send_h2(req).await.map(|r| (r, Lease { conn: None }));
        }
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut req = req;
        loop {
            let idle = self.take_idle();
            let reused = idle.is_some();
            let mut conn = match idle {
                Some(c) => c,
                None => self.open_h1().await?,
            };
            if conn.ready().await.is_err() {
                if reused {
                    continue;
                }
                return Err((Failure::Reset, "closed".into()));
            }
            match conn.try_send_request(req).await {
                Ok(resp) => {
                    return Ok((
                        resp,
                        Lease {
                            conn: Some((conn, permit)),
                        },
                    ))
                }
                Err(mut e) => match e.take_message() {
                    Some(back) if reused => req = back,
                    _ => return Err(hyper_failure(e.error())),
                },
            }
        }
    }

    fn take_idle(&self) -> Option<http1::SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop() {
            if !c.is_closed() {
                return Some(c);
            }
        }
        None
    }

    async fn tcp(&self) -> Result<TokioIo<TcpStream>, Fail> {
        let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| (Failure::Other, format!("resolve {}: {e}", self.host)))?;
        let mut last = (Failure::Other, format!("no address for {}", self.host));
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    self.opened.fetch_add(1, Ordering::Relaxed);
                    return Ok(TokioIo::new(s));
                }
                Err(e) => last = (io_failure(e.kind()), "connect".into()),
            }
        }
        Err(last)
    }

    async fn open_h1(&self) -> Result<http1::SendRequest<Body>, Fail> {
        let io = self.tcp().await?;
        let (send, conn) = http1::handshake(io).await.map_err(|e| hyper_failure(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    async fn send_h2(&self, req: Request<Body>) -> Result<Response<Incoming>, Fail> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.h2.len();
        let mut send = {
            // Held while connecting, so one slot opens one connection, not one per request.
            let mut slot = self.h2[i].lock().await;
            match slot.as_ref() {
                Some(s) if !s.is_closed() => s.clone(),
                _ => {
                    let io = self.tcp().await?;
                    let (s, conn) = http2::handshake(TokioExecutor::new(), io)
                        .await
                        .map_err(|e| hyper_failure(&e))?;
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    *slot = Some(s.clone());
                    s
                }
            }
        };
        send.ready().await.map_err(|e| hyper_failure(&e))?;
        send.send_request(req).await.map_err(|e| hyper_failure(&e))
    }
}

impl Lease {
    /// The answer was read completely: the connection may carry the next request.
    pub fn release(self, pool: &Pool) {
        if let Some((conn, _permit)) = self.conn {
            if !conn.is_closed() {
                pool.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
            }
        }
    }
}
