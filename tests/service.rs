//! The request path of issue 2, in-process: `hello_world::serve` / `serve_with` on 127.0.0.1:0,
//! driven over real TCP by hyper's client (HTTP/1.1 and HTTP/2 prior knowledge) and by raw
//! sockets where a conforming client would refuse to send the bytes.
//!
//! # Contents
//! - routes: every route × method, exact JSON bodies, content-type and content-length on every
//!   answer, over HTTP/1.1 and HTTP/2; HEAD = GET's headers without a body; 404, 405 + Allow
//! - bodies: 413 past 64 KiB (declared and chunked), bodies within the limit are ignored
//! - /slow: FastAPI 422 shapes, last repeated key wins, percent-encoding, a real short sleep
//! - configuration seen by clients: GREETING, /info (Downward API fields), ADMIN_TOKEN, toggle
//! - /metrics: parsed by a Prometheus text parser; route labels stay bounded
//! - /openapi.json, /docs
//! - panic safety: a panicking handler → 500, the server keeps serving, gauges return to rest
//!
//! Logs are checked on the real binary (tests/binary.rs): the logger is process-global, and
//! these tests leave it uninitialised (nothing is logged here).
//!
//! Every test is bounded by [`bounded`]: a hang fails the test instead of the CI run.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use hello_world::{App, Handler, Route};
use hello_world::{AppState, Config, DrainCause, Outcome};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Runs a test body with a deadline; a hang panics with the test's own message.
async fn bounded<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {secs} s"))
}

fn config(pairs: &[(&str, &str)]) -> Config {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| m.get(k).cloned()).expect("test configuration is valid")
}

struct TestServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Outcome>,
}

impl TestServer {
    async fn start(pairs: &[(&str, &str)]) -> TestServer {
        TestServer::start_with(App::new(AppState::new(config(pairs)))).await
    }

    async fn start_with<H: Handler>(handler: H) -> TestServer {
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
    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the server drains within 10 s")
            .expect("serve does not panic");
        assert_eq!(outcome.forced, 0, "no connection had to be cut");
    }

    async fn get(&self, path: &str) -> Reply {
        send(self.addr, Proto::H1, req(Method::GET, path)).await
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    H1,
    H2,
}

/// A response with its body read in full.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}: {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("UTF-8 body")
    }
}

fn req(method: Method, path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "test")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// One request on a fresh connection (closed afterwards).
async fn send(addr: SocketAddr, proto: Proto, mut r: Request<Full<Bytes>>) -> Reply {
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
async fn raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before it has read everything we send; a failed write
    // is then expected, and the answer is still in our receive buffer.
    let _ = s.write_all(bytes).await;
    read_to_close(&mut s).await
}

async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

/// The status code of a raw HTTP/1 answer.
fn raw_status(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    assert!(
        text.starts_with("HTTP/1.1 "),
        "not an HTTP answer: {text:?}"
    );
    text[9..12].parse().unwrap()
}

/// The body of a raw HTTP/1 answer that has a content-length (all of ours do).
fn raw_body(answer: &[u8]) -> Value {
    let text = String::from_utf8_lossy(answer);
    let (_, body) = text.split_once("\r\n\r\n").expect("a complete head");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

/// Content-type and content-length are on every answer, and the length is the body's.
fn assert_framing(r: &Reply, what: &str) {
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

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// (method, path, status, content-type prefix, exact JSON body or None for non-JSON/varying)
fn route_table() -> Vec<(Method, &'static str, u16, &'static str, Option<Value>)> {
    let json_ct = "application/json";
    vec![
        (
            Method::GET,
            "/",
            200,
            json_ct,
            Some(json!({"message": "Hello World", "version": "1.0.0"})),
        ),
        (
            Method::GET,
            "/health/live",
            200,
            json_ct,
            Some(json!({"status": "ok"})),
        ),
        (
            Method::GET,
            "/health/ready",
            200,
            json_ct,
            Some(json!({"status": "ok"})),
        ),
        (
            Method::GET,
            "/slow?seconds=0",
            200,
            json_ct,
            Some(
                json!({"message": "Responded after 0 seconds", "requested_seconds": 0, "actual_seconds": 0}),
            ),
        ),
        (
            Method::GET,
            "/info",
            200,
            json_ct,
            Some(
                json!({"app_env": "local", "app_version": "1.0.0", "log_level": "info", "pod_name": "unknown"}),
            ),
        ),
        (
            Method::GET,
            "/metrics",
            200,
            "text/plain; version=0.0.4",
            None,
        ),
        (Method::GET, "/openapi.json", 200, json_ct, None),
        (Method::GET, "/docs", 200, "text/html", None),
        // Off unless PRESTOP_ENDPOINT=true: the route does not exist.
        (
            Method::GET,
            "/internal/prestop",
            404,
            json_ct,
            Some(json!({"detail": "Not Found"})),
        ),
        (
            Method::GET,
            "/nope",
            404,
            json_ct,
            Some(json!({"detail": "Not Found"})),
        ),
        (
            Method::GET,
            "/health/live/",
            404,
            json_ct,
            Some(json!({"detail": "Not Found"})),
        ),
        (
            Method::POST,
            "/nope",
            404,
            json_ct,
            Some(json!({"detail": "Not Found"})),
        ),
        (
            Method::POST,
            "/",
            405,
            json_ct,
            Some(json!({"detail": "Method Not Allowed"})),
        ),
        (
            Method::PUT,
            "/info",
            405,
            json_ct,
            Some(json!({"detail": "Method Not Allowed"})),
        ),
        (
            Method::DELETE,
            "/health/ready",
            405,
            json_ct,
            Some(json!({"detail": "Method Not Allowed"})),
        ),
        (
            Method::PATCH,
            "/slow",
            405,
            json_ct,
            Some(json!({"detail": "Method Not Allowed"})),
        ),
        (
            Method::OPTIONS,
            "/metrics",
            405,
            json_ct,
            Some(json!({"detail": "Method Not Allowed"})),
        ),
        (
            Method::GET,
            "/admin/toggle-ready",
            405,
            json_ct,
            Some(json!({"detail": "Method Not Allowed"})),
        ),
    ]
}

/// Every route and method over HTTP/1.1 and HTTP/2: status, exact JSON, content-type,
/// content-length, and the `Allow` header on every 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_with_exact_bodies_and_framing_on_h1_and_h2() {
    bounded(30, async {
        let srv = TestServer::start(&[]).await;
        for proto in [Proto::H1, Proto::H2] {
            for (method, path, status, ct, body) in route_table() {
                let what = format!("{proto:?} {method} {path}");
                let r = send(srv.addr, proto, req(method.clone(), path)).await;
                assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
                assert!(
                    r.header("content-type").starts_with(ct),
                    "{what}: content-type {:?}",
                    r.header("content-type")
                );
                assert_framing(&r, &what);
                if let Some(expected) = body {
                    assert_eq!(r.json(), expected, "{what}");
                }
                if status == 405 {
                    let allow = if path == "/admin/toggle-ready" {
                        "POST"
                    } else {
                        "GET, HEAD"
                    };
                    assert_eq!(r.header("allow"), allow, "{what}");
                }
            }
            // POST /admin/toggle-ready flips readiness; flip it back for the next protocol.
            let r = send(srv.addr, proto, req(Method::POST, "/admin/toggle-ready")).await;
            assert_eq!(
                (r.status.as_u16(), r.json()),
                (200, json!({"ready": false}))
            );
            assert_framing(&r, "toggle");
            let r = send(srv.addr, proto, req(Method::POST, "/admin/toggle-ready")).await;
            assert_eq!((r.status.as_u16(), r.json()), (200, json!({"ready": true})));
            // 405 for the POST-only route with other methods.
            for m in [Method::HEAD, Method::PUT, Method::DELETE] {
                let r = send(srv.addr, proto, req(m.clone(), "/admin/toggle-ready")).await;
                assert_eq!(r.status, 405, "{proto:?} {m}");
                assert_eq!(r.header("allow"), "POST");
            }
        }
        srv.stop().await;
    })
    .await;
}

/// HEAD on every GET route: the GET's status and headers (content-length included), no body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_has_get_headers_and_no_body() {
    bounded(30, async {
        let srv = TestServer::start(&[]).await;
        for proto in [Proto::H1, Proto::H2] {
            for path in [
                "/",
                "/health/live",
                "/health/ready",
                "/slow?seconds=0",
                "/info",
                "/openapi.json",
                "/docs",
                "/nope",
            ] {
                let what = format!("{proto:?} HEAD {path}");
                let get = send(srv.addr, proto, req(Method::GET, path)).await;
                let head = send(srv.addr, proto, req(Method::HEAD, path)).await;
                assert_eq!(head.status, get.status, "{what}");
                assert!(head.body.is_empty(), "{what}: no body");
                for h in ["content-type", "content-length"] {
                    assert_eq!(head.header(h), get.header(h), "{what}: {h}");
                }
            }
            // The metrics text changes between two scrapes; its type and a length must be there.
            let head = send(srv.addr, proto, req(Method::HEAD, "/metrics")).await;
            assert_eq!(head.status, 200);
            assert!(head.body.is_empty());
            assert!(head
                .header("content-type")
                .starts_with("text/plain; version=0.0.4"));
            assert!(head.header("content-length").parse::<usize>().unwrap() > 0);
        }
        srv.stop().await;
    })
    .await;
}

/// The same route table over raw HTTP/1.1 bytes: what a plain `curl` sees on the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_http1_answers_are_complete() {
    bounded(20, async {
        let srv = TestServer::start(&[]).await;
        let a = raw(
            srv.addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        let text = String::from_utf8_lossy(&a).to_ascii_lowercase();
        assert_eq!(raw_status(&a), 200);
        assert!(
            text.contains("\r\ncontent-type: application/json\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\ncontent-length: 43\r\n"), "{text}");
        assert_eq!(
            raw_body(&a),
            json!({"message": "Hello World", "version": "1.0.0"})
        );
        // HTTP/1.0 without a Host header is still answered.
        let a = raw(srv.addr, b"GET /health/live HTTP/1.0\r\n\r\n").await;
        assert!(
            a.starts_with(b"HTTP/1."),
            "{:?}",
            String::from_utf8_lossy(&a)
        );
        assert_eq!(raw_body(&a), json!({"status": "ok"}));
        srv.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// A body over 64 KiB gets 413 JSON, whether it is announced by Content-Length (answered
/// before it is sent) or arrives chunked; a body within the limit is read and ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_64_kib_get_413() {
    bounded(30, async {
        let srv = TestServer::start(&[]).await;
        let too_large = json!({"detail": "Request body too large", "limit_bytes": 65536});

        // Declared: the head alone is enough for the answer.
        let a = raw(
            srv.addr,
            b"POST /admin/toggle-ready HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n",
        )
        .await;
        assert_eq!(raw_status(&a), 413);
        assert_eq!(raw_body(&a), too_large);
        let a = raw(
            srv.addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
        )
        .await;
        assert_eq!(raw_status(&a), 413);

        // Chunked: no length up front; the limit is enforced while reading.
        let mut chunked = b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..9 {
            chunked.extend_from_slice(b"2000\r\n");
            chunked.extend_from_slice(&[b'a'; 0x2000]);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let a = raw(srv.addr, &chunked).await;
        assert_eq!(raw_status(&a), 413, "{:?}", String::from_utf8_lossy(&a));
        assert_eq!(raw_body(&a), too_large);

        // Through a conforming client too, on both protocols.
        for proto in [Proto::H1, Proto::H2] {
            let mut r = req(Method::GET, "/");
            *r.body_mut() = Full::new(Bytes::from(vec![b'x'; 64 * 1024 + 1]));
            let r = send(srv.addr, proto, r).await;
            assert_eq!(r.status, 413, "{proto:?}");
            assert_eq!(r.json(), too_large);
            assert_framing(&r, "413");
            // Exactly at the limit: read, ignored, answered normally.
            let mut r = req(Method::GET, "/health/live");
            *r.body_mut() = Full::new(Bytes::from(vec![b'x'; 64 * 1024]));
            let r = send(srv.addr, proto, r).await;
            assert_eq!((r.status.as_u16(), r.json()), (200, json!({"status": "ok"})));
        }

        // A small chunked body on a keep-alive connection leaves it usable.
        let a = raw(
            srv.addr,
            b"GET /health/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
              GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        let text = String::from_utf8_lossy(&a);
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
        srv.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// /slow
// ---------------------------------------------------------------------------------------------

fn int_parsing(input: &str) -> Value {
    json!({"detail": [{
        "type": "int_parsing",
        "loc": ["query", "seconds"],
        "msg": "Input should be a valid integer, unable to parse string as an integer",
        "input": input,
    }]})
}

/// Bad `seconds` values get FastAPI's 422 body, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_rejects_bad_seconds_with_fastapi_422() {
    bounded(20, async {
        let srv = TestServer::start(&[]).await;
        let negative = json!({"detail": [{
            "type": "greater_than_equal",
            "loc": ["query", "seconds"],
            "msg": "Input should be greater than or equal to 0",
            "input": "-1",
            "ctx": {"ge": 0},
        }]});
        for (query, expected) in [
            ("seconds=abc", int_parsing("abc")),
            ("seconds=1.5", int_parsing("1.5")),
            ("seconds=", int_parsing("")),
            ("seconds", int_parsing("")),
            ("seconds=1e3", int_parsing("1e3")),
            ("seconds=%41", int_parsing("A")),
            ("seconds=1%00", int_parsing("1\u{0}")),
            ("seconds=%22%5C", int_parsing("\"\\")),
            ("seconds=%ff", int_parsing("\u{fffd}")),
            ("seconds=0&seconds=abc", int_parsing("abc")),
            ("seconds=-1", negative),
        ] {
            for proto in [Proto::H1, Proto::H2] {
                let r = send(srv.addr, proto, req(Method::GET, &format!("/slow?{query}"))).await;
                assert_eq!(r.status, 422, "{proto:?} {query}");
                assert_eq!(r.header("content-type"), "application/json", "{query}");
                assert_framing(&r, query);
                assert_eq!(r.json(), expected, "{proto:?} {query}");
            }
        }
        srv.stop().await;
    })
    .await;
}

/// Good `seconds` values: repeated keys (last wins), percent-encoded keys and values, `+`,
/// leading zeros; the answer echoes the request and the sleep is real and non-blocking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_parses_like_fastapi_and_really_sleeps() {
    bounded(20, async {
        let srv = TestServer::start(&[]).await;
        let zero =
            json!({"message": "Responded after 0 seconds", "requested_seconds": 0, "actual_seconds": 0});
        for query in [
            "seconds=0",
            "seconds=abc&seconds=0",
            "seconds=5&seconds=0",
            "sec%6Fnds=0",
            "seconds=%30",
            "seconds=000",
            "seconds=-0",
            "seconds=%2B0",
            "other=1&seconds=0&x",
        ] {
            let r = srv.get(&format!("/slow?{query}")).await;
            assert_eq!((r.status.as_u16(), r.json()), (200, zero.clone()), "{query}");
        }
        // A real one-second sleep that does not block the server meanwhile.
        let addr = srv.addr;
        let t0 = Instant::now();
        let slow = tokio::spawn(async move { send(addr, Proto::H1, req(Method::GET, "/slow?seconds=1")).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let live = srv.get("/health/live").await;
        assert_eq!(live.status, 200);
        assert!(t0.elapsed() < Duration::from_millis(900), "served while /slow sleeps");
        let r = slow.await.unwrap();
        let took = t0.elapsed();
        assert_eq!(
            r.json(),
            json!({"message": "Responded after 1 seconds", "requested_seconds": 1, "actual_seconds": 1})
        );
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(3),
            "{took:?}"
        );
        srv.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Configuration as clients see it
// ---------------------------------------------------------------------------------------------

/// GREETING changes the message of `/` (the tutorial's v1 → v2 rollout), APP_VERSION the version;
/// `/info` reports the environment, with the Downward API fields when they are set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeting_and_info_follow_the_environment() {
    bounded(20, async {
        let srv = TestServer::start(&[
            ("GREETING", "Hello \"Kubernetes\" v2 ✓"),
            ("APP_VERSION", "2.0.0"),
            ("APP_ENV", "production"),
            ("LOG_LEVEL", "DEBUG"),
            ("POD_NAME", "hello-7d9f-abcde"),
            ("POD_NAMESPACE", "demo"),
            ("NODE_NAME", "node-1"),
        ])
        .await;
        let r = srv.get("/").await;
        assert_eq!(
            r.json(),
            json!({"message": "Hello \"Kubernetes\" v2 ✓", "version": "2.0.0"})
        );
        assert_framing(&r, "/");
        let r = srv.get("/info").await;
        assert_eq!(
            r.json(),
            json!({
                "app_env": "production", "app_version": "2.0.0", "log_level": "DEBUG",
                "pod_name": "hello-7d9f-abcde", "pod_namespace": "demo", "node_name": "node-1",
            })
        );
        srv.stop().await;

        // Empty Downward API values mean "not set": the fields are left out.
        let srv = TestServer::start(&[("POD_NAMESPACE", ""), ("NODE_NAME", "")]).await;
        let info = srv.get("/info").await.json();
        assert!(info.get("pod_namespace").is_none() && info.get("node_name").is_none());
        srv.stop().await;
    })
    .await;
}

/// Toggling readiness: 503 with FastAPI-style body while off, 200 again when flipped back;
/// liveness is unaffected; `app_ready` follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggle_ready_flips_readiness_not_liveness() {
    bounded(20, async {
        let srv = TestServer::start(&[]).await;
        let r = send(
            srv.addr,
            Proto::H1,
            req(Method::POST, "/admin/toggle-ready"),
        )
        .await;
        assert_eq!(r.json(), json!({"ready": false}));
        let r = srv.get("/health/ready").await;
        assert_eq!(r.status, 503);
        assert_eq!(
            r.json(),
            json!({"status": "not ready", "shutting_down": false})
        );
        assert_framing(&r, "503");
        assert_eq!(srv.get("/health/live").await.status, 200);
        assert_eq!(metric(&scrape(&srv).await, "app_ready", &[]), 0.0);
        let r = send(
            srv.addr,
            Proto::H2,
            req(Method::POST, "/admin/toggle-ready"),
        )
        .await;
        assert_eq!(r.json(), json!({"ready": true}));
        assert_eq!(srv.get("/health/ready").await.status, 200);
        assert_eq!(metric(&scrape(&srv).await, "app_ready", &[]), 1.0);
        srv.stop().await;
    })
    .await;
}

/// ADMIN_TOKEN: without the right bearer token `/admin/*` is 401 JSON with
/// `WWW-Authenticate: Bearer` (and readiness is untouched); with it, 200. Other routes need none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_token_guards_toggle_ready() {
    bounded(20, async {
        let token = "s3cret-Token_42";
        let srv = TestServer::start(&[("ADMIN_TOKEN", token)]).await;
        let unauthorized = json!({"detail": "Not authenticated"});
        for auth in [
            None,
            Some("".to_owned()),
            Some("Bearer".to_owned()),
            Some("Bearer ".to_owned()),
            Some(format!("Basic {token}")),
            Some(format!("Bearer {token}x")),
            Some(format!("Bearer {}", &token[..token.len() - 1])),
            Some(format!("Bearer  {token}")),
            Some(token.to_owned()),
        ] {
            for proto in [Proto::H1, Proto::H2] {
                let mut r = req(Method::POST, "/admin/toggle-ready");
                if let Some(a) = &auth {
                    r.headers_mut().insert("authorization", a.parse().unwrap());
                }
                let r = send(srv.addr, proto, r).await;
                assert_eq!(r.status, 401, "{proto:?} {auth:?}");
                assert_eq!(r.json(), unauthorized);
                assert_eq!(r.header("www-authenticate"), "Bearer");
                assert_framing(&r, "401");
            }
        }
        assert!(srv.state.is_ready(), "a refused toggle changes nothing");
        // The right token; the scheme is case-insensitive (RFC 9110 §11.1), as in FastAPI.
        for (i, scheme) in ["Bearer", "bearer", "BEARER"].iter().enumerate() {
            let mut r = req(Method::POST, "/admin/toggle-ready");
            r.headers_mut().insert(
                "authorization",
                format!("{scheme} {token}").parse().unwrap(),
            );
            let r = send(srv.addr, Proto::H1, r).await;
            assert_eq!(r.status, 200, "{scheme}");
            assert_eq!(r.json(), json!({"ready": i % 2 == 1}));
        }
        assert_eq!(srv.get("/health/ready").await.status, 503);
        assert_eq!(
            srv.get("/").await.status,
            200,
            "only /admin/* needs the token"
        );
        srv.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

async fn scrape(srv: &TestServer) -> prometheus_parse::Scrape {
    let r = srv.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse_metrics(&r.text())
}

/// Parses with `prometheus-parse`, and first checks that the parser understood every line:
/// it silently ignores lines it cannot read, which would hide a malformed exposition.
fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    use prometheus_parse::LineInfo;
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut typed = HashMap::new();
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Ignored | LineInfo::Empty => panic!("unparseable metrics line: {line:?}"),
            LineInfo::Type {
                metric_name,
                metric_alias,
                ..
            } => {
                let family = metric_alias.unwrap_or(metric_name);
                assert!(
                    typed.insert(family.clone(), ()).is_none(),
                    "TYPE twice: {family}"
                );
            }
            LineInfo::Sample {
                metric_name, value, ..
            } => {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| metric_name.strip_suffix(s))
                    .filter(|f| typed.contains_key(*f))
                    .unwrap_or(metric_name);
                assert!(typed.contains_key(family), "sample before its TYPE: {line}");
                assert!(
                    value.parse::<f64>().is_ok() || value == "+Inf",
                    "bad value: {line}"
                );
            }
            LineInfo::Doc { .. } => {}
        }
    }
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels` (0 when there is none).
fn metric(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value as V;
    let mut found = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)));
    let Some(sample) = found.next() else {
        return 0.0;
    };
    match &sample.value {
        V::Counter(v) | V::Gauge(v) | V::Untyped(v) => *v,
        V::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
        V::Summary(_) => panic!("no summaries here"),
    }
}

/// `/metrics` parses with a real Prometheus parser, has every family issue 2 names with the
/// right type, and counts requests by method, route template and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count_requests() {
    bounded(20, async {
        let srv = TestServer::start(&[("APP_VERSION", "3.1.4")]).await;
        for _ in 0..3 {
            srv.get("/").await;
        }
        send(srv.addr, Proto::H2, req(Method::HEAD, "/info")).await;
        send(srv.addr, Proto::H1, req(Method::POST, "/")).await;
        srv.get("/slow?seconds=x").await;
        let s = scrape(&srv).await;
        for (family, kind) in [
            ("http_requests_total", "counter"),
            ("http_request_duration_seconds", "histogram"),
            ("http_requests_in_flight", "gauge"),
            ("http_connections_open", "gauge"),
            ("http_connections_total", "counter"),
            ("http_handler_panics_total", "counter"),
            ("app_ready", "gauge"),
            ("app_shutting_down", "gauge"),
            ("app_build_info", "gauge"),
            ("process_start_time_seconds", "gauge"),
            ("log_lines_dropped_total", "counter"),
        ] {
            assert!(s.docs.contains_key(family), "HELP for {family}");
            let r = srv.get("/metrics").await.text();
            assert!(
                r.contains(&format!("# TYPE {family} {kind}\n")),
                "TYPE {family} {kind}"
            );
        }
        let req_total = |m, r, st| {
            metric(
                &s,
                "http_requests_total",
                &[("method", m), ("route", r), ("status", st)],
            )
        };
        assert_eq!(req_total("GET", "/", "200"), 3.0);
        assert_eq!(req_total("HEAD", "/info", "200"), 1.0);
        assert_eq!(req_total("POST", "/", "405"), 1.0);
        assert_eq!(req_total("GET", "/slow", "422"), 1.0);
        assert_eq!(
            metric(&s, "http_request_duration_seconds", &[("route", "/")]),
            4.0,
            "+Inf bucket of / (3 GET + the 405 POST)"
        );
        assert_eq!(
            metric(&s, "http_request_duration_seconds_count", &[("route", "/")]),
            4.0
        );
        assert_eq!(metric(&s, "app_build_info", &[("version", "3.1.4")]), 1.0);
        assert_eq!(metric(&s, "app_ready", &[]), 1.0);
        assert_eq!(metric(&s, "app_shutting_down", &[]), 0.0);
        // The scrape itself is in flight while it renders.
        assert_eq!(metric(&s, "http_requests_in_flight", &[]), 1.0);
        assert!(metric(&s, "http_connections_total", &[]) >= 7.0);
        let start = metric(&s, "process_start_time_seconds", &[]);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(start > now - 60.0 && start <= now + 1.0, "{start} vs {now}");
        srv.stop().await;
    })
    .await;
}

/// Route labels stay bounded: 100 random paths all count under `route="unmatched"`, and no
/// label value anywhere is a raw path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_share_one_route_label() {
    bounded(30, async {
        let srv = TestServer::start(&[]).await;
        // One keep-alive connection; a cheap xorshift makes the paths differ run to run.
        let io = TokioIo::new(TcpStream::connect(srv.addr).await.unwrap());
        let (mut tx, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        for i in 0..100 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let path = format!("/r{i}/{x:x}?q={x}");
            tx.ready().await.unwrap();
            let rsp = tx.send_request(req(Method::GET, &path)).await.unwrap();
            assert_eq!(rsp.status(), 404);
            rsp.into_body().collect().await.unwrap();
        }
        let s = scrape(&srv).await;
        let templates: Vec<&str> = Route::all().map(|r| r.template()).collect();
        for sample in &s.samples {
            if let Some(route) = sample.labels.get("route") {
                assert!(templates.contains(&route), "unbounded label {route:?}");
            }
        }
        assert_eq!(
            metric(
                &s,
                "http_requests_total",
                &[("method", "GET"), ("route", "unmatched"), ("status", "404")]
            ),
            100.0
        );
        srv.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI and the explorer
// ---------------------------------------------------------------------------------------------

/// `/openapi.json` is JSON carrying the running APP_VERSION (escaped); `/docs` is HTML.
/// (The documents themselves are checked where they are written, on the docs branch.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_carries_the_version_and_docs_is_html() {
    bounded(20, async {
        let version = "4.5.6-rc.1+\"quoted\"";
        let srv = TestServer::start(&[("APP_VERSION", version)]).await;
        let r = srv.get("/openapi.json").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), "application/json");
        assert_framing(&r, "openapi");
        let doc = r.json();
        assert_eq!(doc["info"]["version"], version);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let r = srv.get("/docs").await;
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").starts_with("text/html"));
        assert_framing(&r, "docs");
        assert!(
            r.text().to_ascii_lowercase().contains("<html")
                || r.text().starts_with("<!doctype html")
        );
        srv.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Panic safety
// ---------------------------------------------------------------------------------------------

/// The production handler, except that `/boom` panics inside the handler's future and
/// `/boom-now` panics while the handler is being called (before any future exists).
#[derive(Clone)]
struct Panicky(App);

impl Handler for Panicky {
    fn handle(&self, route: Route, req: Request<Incoming>) -> hello_world::Reply {
        match req.uri().path() {
            "/boom" => hello_world::Reply::Later(Box::pin(async {
                tokio::task::yield_now().await;
                panic!("boom (a deliberate test panic)")
            })),
            "/boom-now" => panic!("boom-now (a deliberate test panic)"),
            _ => self.0.handle(route, req),
        }
    }
    fn state(&self) -> &Arc<AppState> {
        self.0.state()
    }
}

/// With `panic = "unwind"`, a handler panic is a 500 JSON answer; the server keeps serving on
/// the same and on new connections; the in-flight gauge returns to 0, the panic is counted,
/// and connections are not leaked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_yields_500_and_the_server_keeps_serving() {
    bounded(20, async {
        let app = App::new(AppState::new(config(&[])));
        let srv = TestServer::start_with(Panicky(app)).await;
        let internal = json!({"detail": "Internal Server Error"});
        let mut panics = 0.0;
        for path in ["/boom", "/boom-now"] {
            for proto in [Proto::H1, Proto::H2] {
                let r = send(srv.addr, proto, req(Method::GET, path)).await;
                panics += 1.0;
                assert_eq!(r.status, 500, "{proto:?} {path}");
                assert_eq!(r.json(), internal);
                assert_framing(&r, "500");
            }
            // The same keep-alive connection goes on serving after the panic.
            let a = raw(
                srv.addr,
                format!(
                    "GET {path} HTTP/1.1\r\nHost: x\r\n\r\nGET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await;
            panics += 1.0;
            let text = String::from_utf8_lossy(&a);
            assert!(text.starts_with("HTTP/1.1 500"), "{text}");
            assert!(text.contains("HTTP/1.1 200 OK"), "{text}");
        }
        assert_eq!(srv.get("/").await.status, 200);

        // Gauges settle once the server has seen the clients' connections close.
        let t0 = Instant::now();
        loop {
            let s = scrape(&srv).await;
            let open = metric(&s, "http_connections_open", &[]);
            let in_flight = metric(&s, "http_requests_in_flight", &[]);
            // The scrape's own connection and request are the only ones left.
            if open == 1.0 && in_flight == 1.0 {
                assert_eq!(metric(&s, "http_handler_panics_total", &[]), panics);
                assert_eq!(
                    metric(&s, "http_requests_total", &[("route", "unmatched"), ("status", "500")]),
                    panics
                );
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "gauges did not settle: open={open} in_flight={in_flight}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        srv.stop().await;
    })
    .await;
}
