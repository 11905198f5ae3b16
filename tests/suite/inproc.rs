//! In-process server for the suite: `hello_world::serve_with` on 127.0.0.1:0, driven over real
//! TCP by hyper's client (HTTP/1.1 and HTTP/2 prior knowledge) and by raw sockets where a
//! conforming client would refuse to send the bytes. No tests here.
//!
//! Logs are checked on the real binary (`logs`): the logger is process-global, and these
//! servers leave it uninitialised (nothing is logged in process).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use hello_world::{App, Handler};
use hello_world::{AppState, Config, DrainCause, Outcome};

/// Runs a test body with a deadline; a hang panics with the test's own message.
pub async fn bounded<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {secs} s"))
}

pub fn config(pairs: &[(&str, &str)]) -> Config {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| m.get(k).cloned()).expect("test configuration is valid")
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Outcome>,
}

impl TestServer {
    pub async fn start(pairs: &[(&str, &str)]) -> TestServer {
        TestServer::start_with(App::new(AppState::new(config(pairs)))).await
    }

    pub async fn start_with<H: Handler>(handler: H) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = handler.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(hello_world::serve_with(listener, handler, async move {
            let _ = rx.await;
            DrainCause::Sigterm
        }));
        TestServer {
            addr,
            state,
            stop: Some(tx),
            task,
        }
    }

    /// Triggers the drain and checks that it ended without cutting anything.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the server drains within 10 s")
            .expect("serve does not panic");
        assert_eq!(outcome.forced, 0, "no connection had to be cut");
    }

    pub async fn get(&self, path: &str) -> Reply {
        send(self.addr, Proto::H1, req(Method::GET, path)).await
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Proto {
    H1,
    H2,
}

/// A response with its body read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}: {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("UTF-8 body")
    }
}

pub fn req(method: Method, path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "test")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// One request on a fresh connection (closed afterwards).
pub async fn send(addr: SocketAddr, proto: Proto, mut r: Request<Full<Bytes>>) -> Reply {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let rsp: Response<Incoming> = match proto {
        Proto::H1 => {
            let (mut tx, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            tx.send_request(r).await.unwrap()
        }
        Proto::H2 => {
            // HTTP/2 takes the authority from the URI, not a Host header.
            r.headers_mut().remove("host");
            *r.uri_mut() = format!("http://{addr}{}", r.uri()).parse().unwrap();
            let (mut tx, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
            tokio::spawn(conn);
            tx.send_request(r).await.unwrap()
        }
    };
    let (parts, body) = rsp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// Writes `bytes` on a fresh connection and reads until the server closes it (or 5 s pass).
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before it has read everything we send; a failed write
    // is then expected, and the answer is still in our receive buffer.
    let _ = s.write_all(bytes).await;
    read_to_close(&mut s).await
}

pub async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

/// The status code of a raw HTTP/1 answer.
pub fn raw_status(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    assert!(
        text.starts_with("HTTP/1.1 "),
        "not an HTTP answer: {text:?}"
    );
    text[9..12].parse().unwrap()
}

/// The body of a raw HTTP/1 answer that has a content-length (all of ours do).
pub fn raw_body(answer: &[u8]) -> Value {
    let text = String::from_utf8_lossy(answer);
    let (_, body) = text.split_once("\r\n\r\n").expect("a complete head");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

/// Content-type and content-length are on every answer, and the length is the body's.
pub fn assert_framing(r: &Reply, what: &str) {
    let len: usize = r
        .header("content-length")
        .parse()
        .unwrap_or_else(|_| panic!("{what}: content-length is a number"));
    assert_eq!(len, r.body.len(), "{what}: content-length matches the body");
    assert!(
        r.headers.contains_key("content-type"),
        "{what}: content-type"
    );
}
