//! The tutorial's routes and their error answers, in-process ([`crate::inproc`]) over HTTP/1.1
//! and HTTP/2: every route × method with exact JSON bodies, content-type and content-length;
//! HEAD = GET's headers without a body; 404, 405 + `Allow`; complete raw HTTP/1 answers; `/slow`
//! with FastAPI's 422 shapes, percent-encoding and a real short sleep; `GREETING`, `/info` and
//! toggle-ready as clients see them; a panicking handler answers 500 and the server keeps
//! serving.
//!
//! Every test is bounded by [`bounded`]: a hang fails the test instead of the CI run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::{json, Value};

use hello_world::AppState;
use hello_world::{App, Handler, Reply, Route};

use crate::inproc::{
    assert_framing, bounded, config, raw, raw_body, raw_status, req, send, Proto, TestServer,
};
use crate::metrics::{metric, scrape};

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
                json!({"app_env": "local", "app_version": "1.0.0", "log_level": "info", "pod_name": "unknown",
                       "experiments": {"enabled": true, "live": true, "fault_mode": "off", "fault_error_rate": 0, "cpu_stress_threads": 0, "memory_held_mib": 0}}),
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
                "experiments": {"enabled": true, "live": true, "fault_mode": "off", "fault_error_rate": 0, "cpu_stress_threads": 0, "memory_held_mib": 0},
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

// ---------------------------------------------------------------------------------------------
// Panic safety
// ---------------------------------------------------------------------------------------------

/// The production handler, except that `/boom` panics inside the handler's future and
/// `/boom-now` panics while the handler is being called (before any future exists).
#[derive(Clone)]
struct Panicky(App);

impl Handler for Panicky {
    fn handle(&self, route: Route, req: Request<Incoming>) -> Reply {
        match req.uri().path() {
            "/boom" => Reply::Later(Box::pin(async {
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
