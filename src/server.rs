//! The accept loop and the drain state machine.
//!
//! [`serve`] is a function of a bound listener, the shared state and a shutdown future; `main`
//! passes the signal future, tests pass their own trigger. Its life, named as in
//! [`Phase`](crate::state::Phase):
//!
//! ```text
//! ready     accept and serve until the shutdown future resolves (SIGTERM/SIGINT)
//! draining  announce, DRAIN_DELAY_SECONDS long: keep accepting and serving; readiness 503;
//!           HTTP/1 answers carry `Connection: close`; HTTP/2 connections get GOAWAY
//!           (may begin earlier, at GET /internal/prestop)
//! closing   listener dropped (new connects are refused); idle and silent connections close
//!           at once; in-flight requests finish, with `Connection: close`
//! exited    all connections gone → `drained`, exit 0; or the deadline (DRAIN_TIMEOUT_SECONDS
//!           after the signal) passed → remaining connections aborted → `deadline_forced`, exit 1
//! ```
//!
//! Connections are tracked in a `JoinSet` so the deadline can abort them; each connection task
//! watches the phase and asks hyper for its graceful shutdown at the right moment: at
//! `draining` for HTTP/2 (GOAWAY is retry-safe), at `closing` for HTTP/1 (closing an idle
//! HTTP/1 connection races a request the client may be writing, drain.md §2.3, so HTTP/1
//! connections instead end one by one after an answer marked `Connection: close`).
//!
//! The protocol is chosen by peeking at the first bytes rather than with hyper-util's auto
//! builder: that gives a first-byte timeout for silent connections (the auto builder has none,
//! drain.md R19) and tells each task which protocol it serves, which the phase rules above need.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use crate::config::Limits;
use crate::log::Level;
use crate::log_at;
use crate::reject::JsonRejects;
use crate::service::{App, Handler, Observed};
use crate::state::{AppState, DrainCause, Phase};

/// How the drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Connections still open at the deadline, aborted.
    pub forced: usize,
    /// From the shutdown signal to the end.
    pub elapsed: Duration,
}

impl Outcome {
    /// 0 when everything finished in time, 1 when the deadline cut connections (R3).
    pub fn exit_code(&self) -> i32 {
        if self.forced == 0 {
            0
        } else {
            1
        }
    }
}

/// Serves the application on `listener` until `shutdown` resolves, then drains.
pub async fn serve<F>(listener: TcpListener, state: Arc<AppState>, shutdown: F) -> Outcome
where
    F: std::future::Future<Output = DrainCause>,
{
    serve_with(listener, App::new(state), shutdown).await
}

/// [`serve`] with any [`Handler`]; tests use it to inject misbehaving handlers.
pub async fn serve_with<H, F>(listener: TcpListener, handler: H, shutdown: F) -> Outcome
where
    H: Handler,
    F: std::future::Future<Output = DrainCause>,
{
    let state = Arc::clone(handler.state());
    let protocols = Arc::new(Protocols::new(&state.config.limits));
    let mut conns: JoinSet<()> = JoinSet::new();
    let mut accept = Acceptor::default();
    tokio::pin!(shutdown);

    state.advance(Phase::Ready);
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    log_at!(Level::Info, "server", format!("Listening on http://{addr}"),
        "event" => "listening", "addr" => &addr, "phase" => Phase::Ready.as_str());

    // ready: serve until the first signal.
    let cause = loop {
        tokio::select! {
            biased;
            cause = &mut shutdown => break cause,
            Some(done) = conns.join_next(), if !conns.is_empty() => reap(done),
            () = accept.resumed(), if accept.paused() => {}
            res = listener.accept(), if !accept.paused() => {
                accept.handle(res, &handler, &protocols, &mut conns);
            }
        }
    };

    // draining: the announce phase. Keep accepting until it has lasted DRAIN_DELAY_SECONDS.
    let signal_at = Instant::now();
    let announced_at = start_drain(&state, cause);
    let closing_at = signal_at.max(announced_at + state.config.drain_delay);
    let deadline = signal_at + state.config.drain_timeout;
    loop {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(closing_at.into()) => break,
            Some(done) = conns.join_next(), if !conns.is_empty() => reap(done),
            () = accept.resumed(), if accept.paused() => {}
            res = listener.accept(), if !accept.paused() => {
                accept.handle(res, &handler, &protocols, &mut conns);
            }
        }
    }

    // closing: refuse new connections; every connection task is told to shut down gracefully.
    drop(listener);
    state.advance(Phase::Closing);
    log_at!(Level::Info, "server", "Listener closed; finishing in-flight requests",
        "event" => "listener_closed", "phase" => Phase::Closing.as_str(),
        "elapsed_ms" => ms(signal_at.elapsed()), "connections_open" => conns.len(),
        "in_flight" => state.metrics.in_flight.load(Ordering::Relaxed).max(0) as u64);
    let drained = loop {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(deadline.into()) => break false,
            done = conns.join_next() => match done {
                Some(done) => reap(done),
                None => break true,
            },
        }
    };

    // exited: cut what is left at the deadline.
    let forced = conns.len();
    if !drained {
        conns.abort_all();
        // Aborted tasks end at their next poll; bounded anyway so nothing can hold the exit.
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            while conns.join_next().await.is_some() {}
        })
        .await;
    }
    let elapsed = signal_at.elapsed();
    let m = &state.metrics;
    m.drain_forced.fetch_add(forced as u64, Ordering::Relaxed);
    let since_announce = announced_at.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
    m.drain_duration_micros
        .store(since_announce, Ordering::Relaxed);
    state.advance(Phase::Exited);
    let served = m.drain_requests.load(Ordering::Relaxed);
    if forced == 0 {
        log_at!(Level::Info, "server", "Shutdown complete: every connection drained",
            "event" => "drained", "phase" => Phase::Exited.as_str(),
            "elapsed_ms" => ms(elapsed), "requests_while_draining" => served, "forced" => 0u64);
    } else {
        log_at!(Level::Warning, "server",
            format!("Drain deadline reached: cut {forced} open connection(s)"),
            "event" => "deadline_forced", "phase" => Phase::Exited.as_str(),
            "elapsed_ms" => ms(elapsed), "requests_while_draining" => served, "forced" => forced);
    }
    Outcome { forced, elapsed }
}

/// Begins the announce phase for `cause` (idempotent) and logs it once. Returns when the
/// announce phase began, which an httpGet preStop hook may have done before the signal.
pub fn start_drain(state: &AppState, cause: DrainCause) -> Instant {
    let (at, first, fresh) = state.begin_drain(cause);
    let m = &state.metrics;
    if fresh {
        let msg = match cause {
            DrainCause::PreStop => "preStop hook called, starting graceful shutdown".to_owned(),
            c => format!("Received {}, starting graceful shutdown", c.as_str()),
        };
        log_at!(Level::Info, "server", msg,
            "event" => "drain_started", "phase" => Phase::Draining.as_str(),
            "signal" => cause.as_str(), "elapsed_ms" => 0u64,
            "drain_delay_ms" => ms(state.config.drain_delay),
            "drain_timeout_ms" => ms(state.config.drain_timeout),
            "connections_open" => m.connections_open.load(Ordering::Relaxed).max(0) as u64,
            "in_flight" => m.in_flight.load(Ordering::Relaxed).max(0) as u64);
    } else if cause != first {
        log_at!(Level::Info, "server",
            format!("Received {} during a drain begun by {}", cause.as_str(), first.as_str()),
            "event" => "drain_signal", "signal" => cause.as_str(),
            "elapsed_ms" => ms(at.elapsed()));
    }
    at
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

fn reap(done: Result<(), JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            log_at!(Level::Error, "server", "connection task panicked", "event" => "connection_panic");
        }
    }
}

/// hyper's connection builders, configured once and shared by every connection.
struct Protocols {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new(limits: &Limits) -> Protocols {
        let mut h1 = http1::Builder::new();
        // Without a timer hyper silently ignores header_read_timeout (drain.md §2.3). The same
        // timeout is hyper's keep-alive idle timeout, hence above proxies' 60 s (R18).
        h1.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true)
            .max_buf_size(limits.max_header_bytes)
            .max_headers(limits.max_headers);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(limits.h2_max_streams)
            // The h2 codec answers an over-limit header list itself, with an empty-bodied 431.
            // Its hard limit sits at twice ours so that the service's own check (JSON 431 at
            // MAX_HEADER_BYTES, `service::head_too_large`) answers first; the codec's limit
            // still bounds what one stream may make us decode and hold.
            .max_header_list_size((limits.max_header_bytes as u32).saturating_mul(2))
            // Rapid-reset (CVE-2023-44487) bound: refused streams that may be pending at once.
            .max_pending_accept_reset_streams(Some(20))
            .max_local_error_reset_streams(Some(256))
            // Pings find dead peers; a peer that never answers is closed after the timeout.
            .keep_alive_interval(Some(Duration::from_secs(20)))
            .keep_alive_timeout(Duration::from_secs(20));
        Protocols { h1, h2 }
    }
}

/// Accept-side policy: the connection cap, and backing off after accept errors (EMFILE and
/// friends) without ever ending the loop.
#[derive(Default)]
struct Acceptor {
    paused_until: Option<Instant>,
    backoff: Duration,
}

impl Acceptor {
    const FIRST_BACKOFF: Duration = Duration::from_millis(10);
    const MAX_BACKOFF: Duration = Duration::from_secs(1);

    fn paused(&self) -> bool {
        self.paused_until.is_some()
    }

    /// Resolves when the pause ends (only polled while paused).
    async fn resumed(&mut self) {
        if let Some(t) = self.paused_until {
            tokio::time::sleep_until(t.into()).await;
        }
        self.paused_until = None;
    }

    fn handle<H: Handler>(
        &mut self,
        res: io::Result<(TcpStream, SocketAddr)>,
        handler: &H,
        protocols: &Arc<Protocols>,
        conns: &mut JoinSet<()>,
    ) {
        let state = handler.state();
        match res {
            Ok((stream, peer)) => {
                self.backoff = Duration::ZERO;
                let m = &state.metrics;
                if m.connections_open.load(Ordering::Relaxed)
                    >= state.config.limits.max_connections as i64
                {
                    // Closing at once keeps existing connections unaffected (issue 7).
                    m.connections_rejected.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    return;
                }
                m.connections_total.fetch_add(1, Ordering::Relaxed);
                m.connections_open.fetch_add(1, Ordering::Relaxed);
                let open = OpenConn(Arc::clone(state));
                conns.spawn(connection(
                    stream,
                    peer,
                    handler.clone(),
                    Arc::clone(protocols),
                    state.subscribe(),
                    open,
                ));
            }
            Err(e) => {
                self.backoff = (self.backoff * 2).clamp(Self::FIRST_BACKOFF, Self::MAX_BACKOFF);
                self.paused_until = Some(Instant::now() + self.backoff);
                log_at!(Level::Warning, "server", format!("accept failed: {e}"),
                    "event" => "accept_error", "backoff_ms" => ms(self.backoff));
            }
        }
    }
}

/// Decrements `http_connections_open` when the connection task ends or is aborted.
struct OpenConn(Arc<AppState>);

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.0
            .metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Http1,
    Http2,
}

const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits for the first bytes and tells HTTP/2 prior knowledge from HTTP/1. `None` if the peer
/// closed without sending anything.
async fn sniff(stream: &TcpStream) -> io::Result<Option<Proto>> {
    let mut buf = [0u8; 24];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(Some(Proto::Http1));
        }
        if n == H2_PREFACE.len() {
            return Ok(Some(Proto::Http2));
        }
        // A strict prefix of the preface: peek would return the same bytes at once, so wait a
        // little for the rest (bounded by the caller's first-byte timeout).
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Drives a hyper connection, asking for its graceful shutdown once the phase reaches `at`.
macro_rules! drive {
    ($conn:expr, $phase:ident, $at:expr) => {{
        let conn = $conn;
        tokio::pin!(conn);
        let mut told = false;
        loop {
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        // Peers hang up mid-request all the time; not the server's fault.
                        log_at!(Level::Debug, "server", format!("connection ended: {e}"),
                            "event" => "connection_error");
                    }
                    break;
                }
                _ = $phase.wait_for(|p| *p >= $at), if !told => {
                    told = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }};
}

async fn connection<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: H,
    protocols: Arc<Protocols>,
    mut phase: watch::Receiver<Phase>,
    _open: OpenConn,
) {
    let _ = stream.set_nodelay(true);
    let first_byte = handler.state().config.limits.first_byte_timeout;
    let proto = tokio::select! {
        biased;
        // R12: a connection that has sent nothing when closing begins is closed at once.
        _ = phase.wait_for(|p| *p >= Phase::Closing) => return,
        res = tokio::time::timeout(first_byte, sniff(&stream)) => match res {
            Ok(Ok(Some(p))) => p,
            Ok(Ok(None)) | Ok(Err(_)) => return,
            Err(_) => {
                // R19: silent connections do not hold a slot forever.
                log_at!(Level::Debug, "server", "closing a connection that sent nothing",
                    "event" => "first_byte_timeout");
                return;
            }
        },
    };
    let io = TokioIo::new(stream);
    let state = Arc::clone(handler.state());
    let svc = Observed::new(handler, peer);
    match proto {
        Proto::Http1 => drive!(
            protocols
                .h1
                .serve_connection(JsonRejects::new(io, state, peer), svc),
            phase,
            Phase::Closing
        ),
        Proto::Http2 => drive!(
            protocols.h2.serve_connection(io, svc),
            phase,
            Phase::Draining
        ),
    }
}
