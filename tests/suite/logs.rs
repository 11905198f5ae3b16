//! The JSON log stream of the real binary, as a log collector sees it: every line is one JSON
//! object with the tutorial's fields; hostile paths and headers cannot break or forge a line;
//! access-log fields; `ACCESS_LOG`, `LOG_LEVEL`; the startup line and runtime choice; the
//! tutorial's lines (`/slow`, toggle-ready); no token in the logs; a blocked stdout never stalls
//! requests, dropped lines are counted and reported; a clean exit loses nothing and `drained`
//! is the last line; generated request ids differ between replicas that all run as PID 1.
//!
//! Servers are [`testkit::Server`]s: every stdout line is checked by the harness.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use testkit::http1::{http, metric_value, raw};
use testkit::run::{free_port, wait_port};
use testkit::{start, Spawn};

use crate::BIN;

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

/// The startup line keeps the tutorial's wording and reports the worker count and runtime;
/// WORKERS=1 is a current-thread runtime.
#[test]
fn startup_line_and_runtime_choice() {
    for (workers, runtime) in [("1", "current_thread"), ("2", "multi_thread")] {
        let mut srv = start(
            BIN,
            &[
                ("WORKERS", workers),
                ("APP_ENV", "staging"),
                ("APP_VERSION", "2.0.0"),
                ("POD_NAME", "hello-abc"),
            ],
        );
        let v = srv.wait_for("started", |v| v["event"] == "started");
        assert_eq!(
            v["message"],
            "Application started: env=staging, version=2.0.0, pod=hello-abc"
        );
        assert_eq!(
            (v["level"].as_str(), v["logger"].as_str()),
            (Some("INFO"), Some("app"))
        );
        assert_eq!(v["pod"], "hello-abc");
        assert_eq!(v["workers"], workers.parse::<u64>().unwrap());
        assert_eq!(v["runtime"], runtime);
        assert_eq!(http(srv.addr(), "GET", "/", &[]).0, 200);
        assert_eq!(srv.terminate().code(), Some(0));
        assert!(srv.seen().iter().all(|v| v["pod"] == "hello-abc"));
    }
}

/// One access line per request with every documented field; the request id is taken from
/// `x-request-id` or generated, and echoed in the response either way.
#[test]
fn access_log_fields() {
    let mut srv = start(BIN, &[]);
    let (status, head, body) = http(
        srv.addr(),
        "GET",
        "/?a=1",
        &[("User-Agent", "curl/8.5.0"), ("X-Request-Id", "req-123")],
    );
    assert_eq!(status, 200);
    assert!(head.contains("\r\nx-request-id: req-123"), "{head}");
    let v = srv.wait_for("access line", |v| {
        v["logger"] == "access" && v["request_id"] == "req-123"
    });
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["event"], "request");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/?a=1");
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes"], body.len() as u64);
    assert!(v["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(v["remote_addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(v["user_agent"], "curl/8.5.0");
    assert_eq!(v["message"], "GET /?a=1 HTTP/1.1 200");
    srv.wait_for("Hello World requested", |v| {
        v["message"] == "Hello World requested" && v["logger"] == "app"
    });

    // No id given (or an unusable one): one is generated and echoed.
    for given in [None, Some("has space"), Some(&*"x".repeat(200))] {
        let mut h = vec![];
        if let Some(g) = given {
            h.push(("X-Request-Id", g));
        }
        let (status, head, _) = http(srv.addr(), "HEAD", "/health/live", &h);
        assert_eq!(status, 200);
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap_or_else(|| panic!("an id is echoed: {head}"))
            .to_owned();
        assert!(!id.is_empty() && Some(id.as_str()) != given);
        let v = srv.wait_for("generated id", |v| {
            v["logger"] == "access" && v["request_id"] == id.as_str()
        });
        assert_eq!(
            (v["method"].as_str(), v["bytes"].as_u64()),
            (Some("HEAD"), Some(0))
        );
        assert_eq!(v["user_agent"], "");
    }
    assert_eq!(srv.terminate().code(), Some(0));
}

/// Attacker-controlled paths and headers — quotes, backslashes, `%00`, raw non-UTF-8 bytes,
/// CR/LF attempts, a very long user agent — never break a line or forge a field.
#[test]
fn hostile_requests_cannot_break_or_forge_log_lines() {
    let mut srv = start(BIN, &[]);
    let long_ua = "A".repeat(12 * 1024);
    let forged = r#"x","level":"CRITICAL","forged":"1"#;
    let mut requests: Vec<Vec<u8>> = vec![
        b"GET /\"q\"\\back%00%0d%0a{\"forged\":1} HTTP/1.1\r\nHost: x\r\nX-Request-Id: id-1\r\n\r\n".to_vec(),
        format!("GET /ua HTTP/1.1\r\nHost: x\r\nUser-Agent: {forged}\r\nX-Request-Id: id-2\r\n\r\n").into_bytes(),
        format!("GET /rid HTTP/1.1\r\nHost: x\r\nX-Request-Id: {forged}\r\n\r\n").into_bytes(),
        format!("GET /long HTTP/1.1\r\nHost: x\r\nUser-Agent: {long_ua}\r\nX-Request-Id: id-4\r\n\r\n").into_bytes(),
        b"GET /bytes HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\xc3\xa9 \xff\xfe\x80\r\nX-Request-Id: id-5\r\n\r\n".to_vec(),
        // Raw bytes in the target, CR/LF smuggling in a header: refused by the parser (400) or
        // logged escaped; either way no line may break.
        b"GET /\xff\xfe\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /crlf HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\r\n{\"level\":\"CRITICAL\"}\r\n\r\n".to_vec(),
        b"GET /cr HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\rb\r\n\r\n".to_vec(),
        b"GET /nul HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x00b\r\n\r\n".to_vec(),
        b"GET /\x1b[31mred HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    ];
    for r in &mut requests {
        // Close after the answer so `raw` returns promptly.
        let at = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        r.splice(at + 2..at + 2, b"Connection: close\r\n".iter().copied());
        let answer = raw(srv.addr(), r);
        assert!(
            answer.starts_with(b"HTTP/1.1 "),
            "every hostile request is answered: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    let v = srv.wait_for("quoted path", |v| v["request_id"] == "id-1");
    assert_eq!(v["path"], "/\"q\"\\back%00%0d%0a{\"forged\":1}");
    assert_eq!(v["status"], 404);
    let v = srv.wait_for("forged UA", |v| v["request_id"] == "id-2");
    assert_eq!(v["user_agent"], forged);
    assert_eq!(v["level"], "INFO");
    let v = srv.wait_for("forged id", |v| v["path"] == "/rid");
    assert_eq!(v["request_id"], forged, "a printable id is kept, escaped");
    let v = srv.wait_for("long UA", |v| v["request_id"] == "id-4");
    assert_eq!(v["user_agent"], long_ua.as_str());
    let v = srv.wait_for("raw bytes UA", |v| v["request_id"] == "id-5");
    assert_eq!(v["user_agent"], "café \u{fffd}\u{fffd}\u{fffd}");
    assert_eq!(srv.terminate().code(), Some(0));
    // Every line was parsed and checked by the reader; none may carry a forged field or level.
    for v in &srv.seen() {
        assert!(v.get("forged").is_none(), "forged field: {v}");
        assert_ne!(v["level"], "CRITICAL", "{v}");
    }
    assert_eq!(srv.seen().last().unwrap()["event"], "drained");
}

/// `ACCESS_LOG=false` removes the access lines and keeps the tutorial's application lines.
#[test]
fn access_log_false_keeps_application_lines() {
    let mut srv = start(BIN, &[("ACCESS_LOG", "false")]);
    for _ in 0..3 {
        assert_eq!(http(srv.addr(), "GET", "/", &[]).0, 200);
    }
    let (_, head, _) = http(srv.addr(), "GET", "/health/live", &[]);
    assert!(
        !head.contains("x-request-id"),
        "no generated id without an access log"
    );
    assert_eq!(srv.terminate().code(), Some(0));
    assert!(srv.of_logger("access").is_empty(), "{:#?}", srv.seen());
    let hello = srv
        .seen()
        .iter()
        .filter(|v| v["message"] == "Hello World requested")
        .count();
    assert_eq!(hello, 3);
}

/// `LOG_LEVEL=warning` (any case) removes every INFO line, the tutorial's and the access log's.
#[test]
fn log_level_warning_removes_info_lines() {
    let port = free_port().to_string();
    let mut srv = Spawn::new(BIN)
        .env("PORT", &port)
        .env("LOG_LEVEL", "WARNING")
        .no_wait()
        .start();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // No `listening` line at this level: wait for the port instead.
    wait_port(addr);
    for target in ["/", "/slow?seconds=0", "/nope"] {
        http(addr, "GET", target, &[]);
    }
    http(addr, "POST", "/admin/toggle-ready", &[]);
    assert_eq!(srv.terminate().code(), Some(0));
    // Every line was checked as a log record by the harness.
    for v in srv.seen() {
        assert_ne!(v["level"], "INFO", "{v}");
        assert_ne!(v["level"], "DEBUG", "{v}");
    }
}

/// The tutorial's application lines: toggle-ready and /slow. A huge `seconds` is capped at 60
/// (seen in the log line; the request is then abandoned rather than waited for).
#[test]
fn tutorial_lines_for_toggle_and_slow() {
    let srv = start(BIN, &[]);
    assert_eq!(http(srv.addr(), "POST", "/admin/toggle-ready", &[]).0, 200);
    srv.wait_for("not ready", |v| {
        v["message"] == "Readiness toggled: not ready"
    });
    assert_eq!(http(srv.addr(), "POST", "/admin/toggle-ready", &[]).0, 200);
    srv.wait_for("ready", |v| v["message"] == "Readiness toggled: ready");

    let (status, _, body) = http(srv.addr(), "GET", "/slow?seconds=0", &[]);
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"message":"Responded after 0 seconds","requested_seconds":0,"actual_seconds":0}"#
        )
    );
    srv.wait_for("0s", |v| {
        v["message"] == "Slow endpoint called: sleeping for 0s"
    });

    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.write_all(b"GET /slow?seconds=99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let v = srv.wait_for("60s", |v| {
        v["message"] == "Slow endpoint called: sleeping for 60s"
    });
    assert_eq!(
        (v["level"].as_str(), v["logger"].as_str()),
        (Some("INFO"), Some("app"))
    );
    drop(s);
    // The server goes on answering meanwhile; the 60 s request dies with the process.
    assert_eq!(http(srv.addr(), "GET", "/health/live", &[]).0, 200);
}

/// Nothing logged before a clean exit is lost: every request's access line is there even when
/// SIGTERM follows at once, and `drained` is the last line.
#[test]
fn clean_exit_loses_no_line() {
    let mut srv = start(BIN, &[]);
    let n = 300;
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut batch = Vec::new();
    for i in 0..n {
        let close = if i == n - 1 {
            "Connection: close\r\n"
        } else {
            ""
        };
        batch.extend_from_slice(
            format!("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Request-Id: c-{i}\r\n{close}\r\n")
                .as_bytes(),
        );
    }
    s.write_all(&batch).unwrap();
    let mut answers = Vec::new();
    s.read_to_end(&mut answers).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&answers)
            .matches("HTTP/1.1 200")
            .count(),
        n
    );
    let status = srv.terminate();
    assert_eq!(status.code(), Some(0));
    let access = srv.of_logger("access");
    assert_eq!(access.len(), n, "one access line per request");
    for (i, v) in access.iter().enumerate() {
        assert_eq!(v["request_id"], format!("c-{i}"));
    }
    assert_eq!(
        srv.seen().last().unwrap()["event"],
        "drained",
        "the last line"
    );
}

/// The logging policy under a blocked stdout: requests keep being answered promptly; the lines
/// that do not fit the bounded buffer are dropped, counted in `log_lines_dropped_total` and
/// reported by a `log_lines_dropped` warning once stdout moves again; the exit is still clean.
#[test]
fn blocked_stdout_drops_and_counts_lines_but_never_stalls_requests() {
    // Read only up to the listening line, then stop reading: the pipe (64 KiB) fills, the
    // writer thread blocks in write(2), and the logger's 4 MiB buffer fills behind it.
    let mut srv = Spawn::new(BIN).pause_stdout().start();
    let addr = srv.addr();
    // ~2.5 KB of log per request (the user agent is logged): 4 MiB fills after ~1700.
    let ua = "u".repeat(2048);
    let head = format!("GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\n\r\n");
    let t0 = Instant::now();
    let mut worst = Duration::ZERO;
    let conns = 4;
    let per_conn = 900;
    let handles: Vec<_> = (0..conns)
        .map(|_| {
            let head = head.clone();
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut worst = Duration::ZERO;
                let mut buf = String::new();
                for _ in 0..per_conn {
                    let t = Instant::now();
                    s.write_all(head.as_bytes()).unwrap();
                    // Status line, headers, then the 43-byte body.
                    buf.clear();
                    r.read_line(&mut buf).expect("answered within 5 s");
                    assert!(buf.starts_with("HTTP/1.1 200"), "{buf:?}");
                    let mut len = 0;
                    loop {
                        buf.clear();
                        r.read_line(&mut buf).unwrap();
                        if buf == "\r\n" {
                            break;
                        }
                        if let Some(v) = buf.to_ascii_lowercase().strip_prefix("content-length: ") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    worst = worst.max(t.elapsed());
                }
                worst
            })
        })
        .collect();
    for h in handles {
        worst = worst.max(h.join().expect("client thread"));
    }
    let took = t0.elapsed();
    // Generous bounds for a shared 2-core machine; a stalled logger would block for good.
    assert!(worst < Duration::from_secs(2), "slowest request {worst:?}");
    assert!(
        took < Duration::from_secs(60),
        "{took:?} for {} requests",
        conns * per_conn
    );
    let dropped = metric_value(addr, "log_lines_dropped_total");
    assert!(dropped > 0.0, "lines were dropped while stdout was blocked");

    // Unblock: read everything from here on.
    srv.resume_stdout();
    let report = srv.wait_for("a log_lines_dropped report", |v| {
        v["event"] == "log_lines_dropped"
    });
    assert_eq!(report["level"], "WARNING");
    let reported = report["dropped"].as_u64().unwrap();
    // The scrape's own access line may be dropped after it rendered the counter.
    assert!(
        reported > 0 && reported as f64 <= dropped + 1.0,
        "{reported} vs {dropped}"
    );
    assert_eq!(srv.terminate().code(), Some(0));
    let seen = srv.seen();
    assert_eq!(seen.last().unwrap()["event"], "drained", "the last line");
    let total_reported: u64 = seen
        .iter()
        .filter(|v| v["event"] == "log_lines_dropped")
        .map(|v| v["dropped"].as_u64().unwrap())
        .sum();
    assert!(
        total_reported as f64 >= dropped,
        "every drop reported: {total_reported} < {dropped}"
    );
}

/// Generated request ids differ between replicas even though, in a container, every replica's
/// process is PID 1 (the id prefix used to be the PID: every pod issued `00000001-1` first).
/// Runs two servers as PID 1 of their own PID namespace with `unshare` (util-linux).
#[test]
fn generated_request_ids_differ_between_pid_1_replicas() {
    let mut ids = Vec::new();
    for _ in 0..2 {
        // Waits for `listening` (every line checked); drop SIGKILLs `unshare`, and
        // `--kill-child` ends the server with it.
        let srv = Spawn::new(BIN)
            .wrapper(&["unshare", "--pid", "--fork", "--kill-child"])
            .start();
        let addr = srv.addr();
        let (_, head, _) = http(addr, "GET", "/health/live", &[]);
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .expect("a generated id")
            .to_owned();
        ids.push(id);
        // `unshare` leaves SIGTERM to its child; the harness's SIGKILL ends both.
        drop(srv);
    }
    assert_ne!(
        ids[0], ids[1],
        "two PID-1 replicas generated the same request id"
    );
}
