//! Hardening: head/body/connection/time limits, slow and hostile clients, HTTP/2 abuse, the
//! admin surface, hostile input, panics under load, running out of file descriptors.
//!
//! Most tests run the real binary so the limits are exercised exactly as configured from the
//! environment, and every stdout line is checked to be one log record; a conforming hyper client
//! ([`crate::inproc::send`]) adds the HTTP/2 side. The panic test runs `serve_with` in process
//! ([`crate::inproc`]). Every wait is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::abuse::{self, get, raw, request, Answer};
use testkit::procfs::cpu_ticks;
use testkit::{Server, Spawn};

use crate::inproc::{assert_framing, req, send, Proto};
use crate::BIN;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "s3cret-Token-7f3a9";

fn start(env: &[(&str, &str)]) -> Server {
    testkit::start(BIN, env)
}

/// Stops the server and checks that it exited cleanly and logged only JSON objects.
fn finish(mut s: Server) -> String {
    stop_clean(&mut s)
}

/// [`finish`] for a server the test still looks at afterwards (its records, its stderr).
fn stop_clean(s: &mut Server) -> String {
    let code = s.stop(Duration::from_secs(10)).and_then(|st| st.code());
    let log = s.log_text();
    assert_eq!(s.invalid_lines(), 0, "non-JSON log lines:\n{log}");
    assert_eq!(code, Some(0), "exit code; log:\n{log}");
    log
}

/// A keep-alive HTTP/1.1 connection that reads answers by `content-length`.
struct Conn(TcpStream);

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        Conn(
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
                .await
                .expect("connect in time")
                .expect("connect"),
        )
    }

    async fn get(&mut self, target: &str) -> Option<Answer> {
        let req = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        tokio::time::timeout(Duration::from_secs(5), async {
            self.0.write_all(req.as_bytes()).await.ok()?;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                if let Some(a) = Answer::parse(&buf) {
                    let len: usize = a
                        .head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if a.body.len() >= len {
                        return Some(a);
                    }
                }
                let n = self.0.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .ok()
        .flatten()
    }
}

fn assert_json(a: &Answer, status: u16, what: &str) -> serde_json::Value {
    assert_eq!(
        a.status,
        status,
        "{what}: head {} body {:?}",
        a.head,
        String::from_utf8_lossy(&a.body)
    );
    assert!(
        a.head.contains("content-type: application/json"),
        "{what}: not JSON: {}",
        a.head
    );
    // Every answer names its pod, hyper's rejections rewritten by the service included.
    assert!(
        a.head.contains("x-served-by: "),
        "{what}: no x-served-by: {}",
        a.head
    );
    a.json()
}

async fn metrics(addr: SocketAddr) -> String {
    let a = get(addr, "/metrics").await.expect("/metrics answers");
    String::from_utf8_lossy(&a.body).into_owned()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

// ------------------------------------------------------------------------------------------
// Limits
// ------------------------------------------------------------------------------------------

/// A head over MAX_HEADER_BYTES or with more than MAX_HEADERS fields gets a JSON 431, on HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_too_many_headers_get_431_json() {
    let s = start(&[("MAX_HEADER_BYTES", "8192"), ("MAX_HEADERS", "20")]);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let a = request(s.addr(), &big, Duration::from_secs(5))
        .await
        .expect("an answer");
    let body = assert_json(&a, 431, "oversized head");
    assert_eq!(body["detail"], "Request Header Fields Too Large");
    assert!(a.head.contains("connection: close"), "{}", a.head);

    // A long request line counts as head too.
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "x".repeat(9000));
    let a = request(s.addr(), &long_target, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_json(&a, 431, "long request line");

    let many: String = (0..21).map(|i| format!("X-H{i}: v\r\n")).collect();
    let a = request(
        s.addr(),
        &format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n"),
        Duration::from_secs(5),
    )
    .await
    .expect("an answer");
    assert_json(&a, 431, "too many headers");

    // Pipelined behind two good requests: both answered, then the JSON 431.
    // (However the head arrives, in one read or many: the limit is exact.)
    let big_close = big.replacen("Host: t\r\n", "Host: t\r\nConnection: close\r\n", 1);
    let pipelined = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /info HTTP/1.1\r\nHost: t\r\n\r\n{big_close}"
    );
    let out = raw(s.addr(), pipelined.as_bytes(), Duration::from_secs(5)).await;
    let out = String::from_utf8_lossy(&out);
    assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{out}");
    assert!(
        out.contains("HTTP/1.1 431 Request Header Fields Too Large\r\n")
            && out.contains("content-type: application/json\r\n")
            && out.ends_with("\r\n\r\n{\"detail\":\"Request Header Fields Too Large\"}"),
        "{out}"
    );
    // Exactly at the limit passes, one byte over does not.
    let exact = |extra: usize| {
        let pad = 8192 - "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: \r\n\r\n".len();
        format!(
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(pad + extra)
        )
    };
    let a = request(s.addr(), &exact(0), Duration::from_secs(5))
        .await
        .expect("answer");
    assert_json(&a, 200, "head of exactly MAX_HEADER_BYTES");
    let a = request(s.addr(), &exact(1), Duration::from_secs(5))
        .await
        .expect("answer");
    assert_json(&a, 431, "one byte over");

    // Just under both limits is fine.
    let ok: String = (0..18).map(|i| format!("X-H{i}: v\r\n")).collect();
    let a = request(
        s.addr(),
        &format!("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{ok}\r\n"),
        Duration::from_secs(5),
    )
    .await
    .expect("an answer");
    assert_json(&a, 200, "18 headers");

    // hyper's own rejections are counted and logged (3 or 4: the one-byte-over head is refused
    // by hyper or by the service, depending on how it was read).
    let m = metrics(s.addr()).await;
    let hyper_431 = metric(
        &m,
        r#"http_requests_total{method="OTHER",route="unmatched",status="431"}"#,
    );
    assert!((3.0..=4.0).contains(&hyper_431), "{m}");
    let log = finish(s);
    let logged = log
        .matches(r#""event":"request_rejected","status":431"#)
        .count();
    assert_eq!(logged as f64, hyper_431, "one log line per rejection");
}

/// A client trickling its head is cut by HEADER_READ_TIMEOUT_SECONDS, a silent one by
/// FIRST_BYTE_TIMEOUT_SECONDS, and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_and_silent_connections_are_cut() {
    let s = start(&[
        ("HEADER_READ_TIMEOUT_SECONDS", "1"),
        ("FIRST_BYTE_TIMEOUT_SECONDS", "0.5"),
    ]);
    let (trickled, silent, idle) = tokio::join!(
        abuse::trickle(s.addr(), Duration::from_millis(100), Duration::from_secs(5)),
        abuse::silent(s.addr(), Duration::from_secs(5)),
        async {
            // A served keep-alive connection left idle is closed by the same header timeout.
            let mut c = Conn::open(s.addr()).await;
            assert_eq!(c.get("/health/live").await.expect("answer").status, 200);
            let t = Instant::now();
            let mut b = [0u8; 16];
            let _ = tokio::time::timeout(Duration::from_secs(5), c.0.read(&mut b)).await;
            t.elapsed()
        },
    );
    let trickled = trickled.expect("a trickling client is cut within 5 s");
    assert!(
        trickled >= Duration::from_millis(900) && trickled < Duration::from_secs(3),
        "trickler cut after {trickled:?}, wanted ~1 s"
    );
    let silent = silent.expect("a silent connection is closed within 5 s");
    assert!(
        silent >= Duration::from_millis(400) && silent < Duration::from_millis(2500),
        "silent connection closed after {silent:?}, wanted ~0.5 s"
    );
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(3),
        "idle keep-alive closed after {idle:?}, wanted ~1 s"
    );
    // And the server still serves.
    assert_eq!(
        get(s.addr(), "/health/live").await.expect("answer").status,
        200
    );
    finish(s);
}

/// A body over MAX_BODY_BYTES (64 KiB by default) gets a JSON 413 naming the limit, whether it
/// is declared by Content-Length (answered before it is read, and the answer survives the unread
/// bytes) or streamed chunked, on HTTP/1.1 and HTTP/2; a body within the limit, exactly at it
/// included, is read and ignored and leaves a keep-alive connection usable; the oversized POSTs
/// never reach the toggle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_cap_get_413_json() {
    let too_large = json!({"detail": "Request body too large", "limit_bytes": 65536});
    let s = start(&[]);
    let addr = s.addr();
    // Declared too large: the head alone is enough for the answer.
    for head in [
        "POST /admin/toggle-ready HTTP/1.1\r\nHost: t\r\nContent-Length: 65537\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\n",
    ] {
        let a = request(addr, head, Duration::from_secs(5)).await;
        assert_eq!(assert_json(&a.expect("an answer"), 413, head), too_large);
    }

    // Declared too large *and* sent: the answer must survive the unread bytes (lingering
    // close; without it the kernel's RST can destroy the answer before it is read). The same
    // holds for any answer given before the body was read (405 here).
    for (target, want) in [("/admin/toggle-ready", 413), ("/", 405)].repeat(3) {
        let mut req =
            format!("POST {target} HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n")
                .into_bytes();
        req.extend(std::iter::repeat_n(b'z', 300_000));
        let out = raw(addr, &req, Duration::from_secs(5)).await;
        let a = Answer::parse(&out).expect("the answer arrives despite the unread body");
        assert_json(&a, want, "declared and sent");
    }

    // Chunked, no length up front: the limit is enforced while reading.
    for target in ["POST /admin/toggle-ready", "GET /"] {
        let mut chunked = format!(
            "{target} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        for _ in 0..9 {
            chunked.extend_from_slice(b"2000\r\n");
            chunked.extend_from_slice(&[b'a'; 0x2000]);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let a = Answer::parse(&raw(addr, &chunked, Duration::from_secs(5)).await);
        assert_eq!(assert_json(&a.expect("an answer"), 413, target), too_large);
    }

    // Through a conforming client too, on both protocols.
    for proto in [Proto::H1, Proto::H2] {
        let mut r = req(Method::GET, "/");
        *r.body_mut() = Full::new(Bytes::from(vec![b'x'; 64 * 1024 + 1]));
        let r = send(addr, proto, r).await;
        assert_eq!(r.status, 413, "{proto:?}");
        assert_eq!(r.json(), too_large);
        assert_framing(&r, "413");
        // Exactly at the limit: read, ignored, answered normally.
        let mut r = req(Method::GET, "/health/live");
        *r.body_mut() = Full::new(Bytes::from(vec![b'x'; 64 * 1024]));
        let r = send(addr, proto, r).await;
        assert_eq!(
            (r.status.as_u16(), r.json()),
            (200, json!({"status": "ok"}))
        );
    }

    // Under the cap: read, discarded, answered normally.
    let small = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}",
        "y".repeat(100)
    );
    let a = request(addr, &small, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_json(&a, 200, "small body");
    // A small chunked body on a keep-alive connection leaves it usable.
    let a = raw(
        addr,
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let text = String::from_utf8_lossy(&a);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    // The oversized POSTs never reached the toggle.
    let ready = get(addr, "/health/ready").await.expect("answer");
    assert_eq!(ready.status, 200);
    finish(s);

    // MAX_BODY_BYTES sets the limit, declared or chunked.
    let s = start(&[("MAX_BODY_BYTES", "1024")]);
    let a = request(
        s.addr(),
        "POST /admin/toggle-ready HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
        Duration::from_secs(5),
    )
    .await
    .expect("an answer");
    let body = assert_json(&a, 413, "declared length");
    assert_eq!(body["limit_bytes"], 1024);
    let chunk = "x".repeat(600);
    let chunked = format!(
        "POST /admin/toggle-ready HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    let a = request(s.addr(), &chunked, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_json(&a, 413, "chunked body");
    finish(s);
}

/// Beyond MAX_CONNECTIONS a new connection is closed at once while the held ones keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_new_ones_are_closed_fast_and_old_ones_work() {
    let s = start(&[("MAX_CONNECTIONS", "4")]);
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = Conn::open(s.addr()).await;
        assert_eq!(c.get("/health/live").await.expect("answer").status, 200);
        held.push(c);
    }
    // The fifth: accepted by the kernel, closed by the server at once.
    let t = Instant::now();
    let a = request(
        s.addr(),
        "GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    let took = t.elapsed();
    assert!(a.is_none(), "the fifth connection must not be served");
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    // Existing connections are unaffected.
    for c in &mut held {
        assert_eq!(c.get("/").await.expect("still served").status, 200);
    }
    // Freeing one slot lets a new connection in.
    held.pop();
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(a) = get(s.addr(), "/metrics").await {
            let m = String::from_utf8_lossy(&a.body).into_owned();
            assert!(metric(&m, "http_connections_rejected_total") >= 1.0);
            break;
        }
        assert!(Instant::now() < end, "no slot freed within 3 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    finish(s);
}

/// A request running past REQUEST_TIMEOUT_SECONDS gets a JSON 503 at about that time, not when the
/// handler would finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_its_time_gets_503_json() {
    let s = start(&[("REQUEST_TIMEOUT_SECONDS", "0.5")]);
    let t = Instant::now();
    let a = get(s.addr(), "/slow?seconds=5").await.expect("an answer");
    let took = t.elapsed();
    let body = assert_json(&a, 503, "request timeout");
    assert_eq!(body["detail"], "Request timed out");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "answered after {took:?}"
    );
    // A slow client body is bounded by the same timeout.
    let t = Instant::now();
    let a = request(
        s.addr(),
        "POST /admin/toggle-ready HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
        Duration::from_secs(5),
    )
    .await
    .expect("an answer");
    assert_json(&a, 503, "slow body");
    assert!(t.elapsed() < Duration::from_secs(3));
    let m = metrics(s.addr()).await;
    assert_eq!(
        metric(&m, "http_requests_in_flight"),
        1.0,
        "only the scrape"
    );
    finish(s);
}

// ------------------------------------------------------------------------------------------
// HTTP/2
// ------------------------------------------------------------------------------------------

/// H2_MAX_CONCURRENT_STREAMS caps the streams of one HTTP/2 connection (requests beyond it wait for
/// a slot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_concurrent_streams_are_capped() {
    let s = start(&[("H2_MAX_CONCURRENT_STREAMS", "2")]);
    let client = abuse::h2_connect(s.addr()).await.expect("h2 handshake");
    let base = format!("http://{}", s.addr());
    let (status, _) = abuse::h2_get(client.clone(), &format!("{base}/health/live"), &[])
        .await
        .expect("h2 GET");
    assert_eq!(status, 200);
    // Four 1-second requests on one connection limited to 2 streams: two waves.
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (c, uri) = (client.clone(), format!("{base}/slow?seconds=1"));
        set.spawn(async move { abuse::h2_get(c, &uri, &[]).await.map(|r| r.0) });
    }
    // Mid-way, the server runs exactly two of them (plus this scrape).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = metrics(s.addr()).await;
    assert_eq!(metric(&m, "http_requests_in_flight"), 3.0, "{m}");
    let mut n = 0;
    while let Some(r) = tokio::time::timeout(Duration::from_secs(10), set.join_next())
        .await
        .expect("bounded")
    {
        assert_eq!(r.unwrap().expect("h2 slow"), 200);
        n += 1;
    }
    assert_eq!(n, 4);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(8),
        "4 streams with a limit of 2 took {took:?}, wanted two waves (~2 s)"
    );
    finish(s);
}

/// MAX_HEADER_BYTES and MAX_HEADERS apply to HTTP/2 header blocks too: a JSON 431.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_header_limits_get_431_json() {
    let s = start(&[("MAX_HEADER_BYTES", "8192"), ("MAX_HEADERS", "20")]);
    let uri = format!("http://{}/", s.addr());
    let client = abuse::h2_connect(s.addr()).await.expect("h2 handshake");

    let (st, body) = abuse::h2_get(client.clone(), &uri, &[("x-big", "a".repeat(9000))])
        .await
        .expect("answered");
    assert_eq!(st, 431);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
    assert_eq!(v["detail"], "Request Header Fields Too Large");

    let many: Vec<(&str, String)> = (0..21)
        .map(|i| (["x-a", "x-b", "x-c"][i % 3], format!("v{i}")))
        .collect();
    let (st, body) = abuse::h2_get(client.clone(), &uri, &many)
        .await
        .expect("answered");
    assert_eq!(st, 431);
    serde_json::from_slice::<serde_json::Value>(&body).expect("JSON body");

    // Beyond twice the limit the h2 codec itself refuses (431 without a body, or a reset);
    // either way the connection and the server stay usable.
    let r = abuse::h2_get(client.clone(), &uri, &[("x-huge", "b".repeat(20_000))]).await;
    if let Ok((st, _)) = r {
        assert_eq!(st, 431);
    }
    let client = abuse::h2_connect(s.addr()).await.expect("h2 handshake");
    let (st, body) = abuse::h2_get(client, &uri, &[]).await.expect("answered");
    assert_eq!(st, 200);
    serde_json::from_slice::<serde_json::Value>(&body).expect("JSON body");
    finish(s);
}

/// An HTTP/2 rapid-reset flood (HEADERS + RST_STREAM) stays bounded in memory and CPU, and normal
/// requests still succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_rapid_reset_flood_is_bounded() {
    let s = start(&[("ACCESS_LOG", "false"), ("WORKERS", "2")]);
    let addr = s.addr();
    // Warm up the allocator so the baseline is fair.
    for _ in 0..20 {
        get(addr, "/health/live").await.expect("answer");
    }
    let rss_before = s.rss_kib();

    let bystander = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        let mut n = 0;
        let end = Instant::now() + Duration::from_secs(4);
        while Instant::now() < end {
            let t = Instant::now();
            let a = get(addr, "/health/live").await;
            assert_eq!(a.map(|a| a.status), Some(200), "bystander request failed");
            worst = worst.max(t.elapsed());
            n += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (n, worst)
    });
    // 10 000 HEADERS+RST_STREAM on streams that would each sleep 5 s if not cancelled.
    let t = Instant::now();
    let flood = abuse::rapid_reset(
        addr,
        "/slow?seconds=5",
        10_000,
        Duration::from_secs(8),
        0,
        Duration::ZERO,
    )
    .await;
    let flood_took = t.elapsed();
    let (served, worst) = bystander.await.expect("bystander");
    assert!(
        flood.resets >= 2_000,
        "the flood should get going: {flood:?} in {flood_took:?}"
    );
    assert!(served >= 20, "bystander served only {served} requests");
    assert!(worst < Duration::from_secs(1), "bystander waited {worst:?}");

    // Cancelled streams leave nothing behind: no in-flight handlers, no open connections.
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let m = metrics(addr).await;
        if metric(&m, "http_requests_in_flight") <= 1.0
            && metric(&m, "http_connections_open") <= 1.0
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "in-flight/connections not back to idle after the flood:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // No CPU burnt after the flood (nothing left spinning).
    let c0 = cpu_ticks(s.pid());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_ticks = cpu_ticks(s.pid()) - c0;
    assert!(idle_ticks <= 10, "{idle_ticks} ticks of CPU in 1 s of idle");
    let rss_after = s.rss_kib();
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    eprintln!(
        "rapid reset: {} resets over {} connections in {flood_took:?}; bystander {served} ok, \
         worst {worst:?}; RSS {rss_before} -> {rss_after} KiB",
        flood.resets, flood.connections
    );
    finish(s);
}

// ------------------------------------------------------------------------------------------
// Admin surface
// ------------------------------------------------------------------------------------------

async fn post_toggle(addr: SocketAddr, auth: Option<&str>) -> Answer {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    request(
        addr,
        &format!("POST /admin/toggle-ready HTTP/1.1\r\nHost: t\r\n{auth}Connection: close\r\n\r\n"),
        Duration::from_secs(5),
    )
    .await
    .expect("an answer")
}

/// With ADMIN_TOKEN, `/admin/*` and `/internal/prestop` need the exact bearer token: without it
/// (near misses included) 401 JSON with `WWW-Authenticate: Bearer` on HTTP/1.1 and HTTP/2, and
/// readiness is untouched; with it 200, the scheme case-insensitive; other routes need none.
/// The token reaches neither the log (not even at debug level, not a prefix) nor stderr, while
/// every request, refused or not, has its access line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_token_and_it_is_never_logged() {
    let mut s = start(&[
        ("ADMIN_TOKEN", TOKEN),
        ("PRESTOP_ENDPOINT", "true"),
        ("APP_ENV", "production"),
        ("LOG_LEVEL", "debug"),
    ]);
    let addr = s.addr();
    let mut requests = 0;
    let unauthorized = json!({"detail": "Not authenticated"});
    let near = format!("{TOKEN}x");
    let short = &TOKEN[..TOKEN.len() - 1];
    for auth in [
        None,
        Some(String::new()),
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
        Some(format!("Basic {TOKEN}")),
        Some(format!("Bearer {near}")),
        Some(format!("Bearer {short}")),
        Some(format!("Bearer  {TOKEN}")),
        Some(TOKEN.to_owned()),
    ] {
        let a = post_toggle(addr, auth.as_deref()).await;
        let body = assert_json(&a, 401, &format!("auth {auth:?}"));
        assert_eq!(body, unauthorized);
        assert!(a.head.contains("www-authenticate: bearer"), "{}", a.head);
        for proto in [Proto::H1, Proto::H2] {
            let mut r = req(Method::POST, "/admin/toggle-ready");
            if let Some(a) = &auth {
                r.headers_mut().insert("authorization", a.parse().unwrap());
            }
            let r = send(addr, proto, r).await;
            assert_eq!(r.status, 401, "{proto:?} {auth:?}");
            assert_eq!(r.json(), unauthorized);
            assert_eq!(r.header("www-authenticate"), "Bearer");
            assert_framing(&r, "401");
        }
        requests += 3;
    }
    // The preStop endpoint is guarded like /admin/*.
    let a = request(
        addr,
        "GET /internal/prestop?seconds=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await
    .expect("answer");
    assert_json(&a, 401, "prestop without token");
    assert_eq!(
        get(addr, "/health/ready").await.unwrap().status,
        200,
        "a refused toggle changes nothing"
    );
    requests += 2;

    // The right token; the scheme is case-insensitive (RFC 9110 §11.1), as in FastAPI.
    for (i, scheme) in ["Bearer", "bearer", "BEARER", "Bearer"].iter().enumerate() {
        let a = post_toggle(addr, Some(&format!("{scheme} {TOKEN}"))).await;
        assert_eq!(assert_json(&a, 200, scheme), json!({"ready": i % 2 == 1}));
        requests += 1;
        if i == 0 {
            s.wait_for("toggled", |v| {
                v["message"] == "Readiness toggled: not ready"
            });
            assert_eq!(get(addr, "/health/ready").await.unwrap().status, 503);
            assert_eq!(
                get(addr, "/").await.unwrap().status,
                200,
                "only /admin/* needs the token"
            );
            requests += 2;
        }
    }
    let a = request(
        addr,
        &format!(
            "GET /internal/prestop?seconds=0 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        ),
        Duration::from_secs(5),
    )
    .await
    .expect("answer");
    assert_json(&a, 200, "prestop with token");
    requests += 1;

    let log = stop_clean(&mut s);
    let access = s.of_logger("access").len();
    let stderr = s.stderr();
    assert_eq!(
        access, requests,
        "one access line per request, refused or not"
    );
    assert!(
        !log.contains(TOKEN),
        "the token leaked into the log:\n{log}"
    );
    assert!(!log.contains(short), "a token prefix leaked into the log");
    assert!(!stderr.contains(short), "the token leaked to stderr");
    assert!(
        !log.contains("admin_unprotected"),
        "a token is set: no warning"
    );
}

/// APP_ENV=production without ADMIN_TOKEN logs one `admin_unprotected` WARNING at start-up; other
/// environments do not.
#[test]
fn production_without_a_token_warns_at_startup() {
    let s = start(&[("APP_ENV", "production")]);
    let log = finish(s);
    let warning = log
        .lines()
        .find(|l| l.contains(r#""event":"admin_unprotected""#))
        .unwrap_or_else(|| panic!("no startup warning:\n{log}"));
    let v: serde_json::Value = serde_json::from_str(warning).unwrap();
    assert_eq!(v["level"], "WARNING");
    assert!(v["message"].as_str().unwrap().contains("ADMIN_TOKEN"));

    let log = finish(start(&[("APP_ENV", "local")]));
    assert!(!log.contains("admin_unprotected"), "only in production");
}

// ------------------------------------------------------------------------------------------
// Hostile input
// ------------------------------------------------------------------------------------------

/// Hostile query strings, targets, methods and raw bytes get a JSON 4xx (or the documented answer),
/// never a panic or a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_json_4xx_or_the_documented_answer() {
    let s = start(&[("REQUEST_TIMEOUT_SECONDS", "0.5"), ("LOG_LEVEL", "debug")]);
    let close = "Host: t\r\nConnection: close\r\n\r\n";
    // (request line target or whole raw request, status, a field of the JSON body to check)
    let cases: Vec<(Vec<u8>, u16)> = [
        // query strings
        ("/slow?seconds=0", 200),
        ("/slow?seconds=5&seconds=0", 200), // last wins
        ("/slow?seconds=0&seconds=", 422),
        ("/slow?seconds=", 422),
        ("/slow?seconds", 422),
        ("/slow?seconds=-1", 422),
        ("/slow?seconds=-0", 200),
        ("/slow?seconds=%2D1", 422),
        ("/slow?seconds=1.5", 422),
        ("/slow?seconds=1e3", 422),
        ("/slow?seconds=0x10", 422),
        ("/slow?seconds=%30", 200),
        ("/slow?sec%6Fnds=0", 200),
        ("/slow?seconds=%ff%fe", 422),
        ("/slow?seconds=%00", 422),
        ("/slow?seconds=%", 422),
        ("/slow?seconds=%%%", 422),
        ("/slow?seconds=+0", 422), // `+` decodes to a space: not a digit
        ("/slow?seconds=%2B0", 200),
        ("/slow?seconds=-99999999999999999999", 422),
        // capped at 60, then cut by the request timeout
        ("/slow?seconds=99999999999999999999", 503),
        ("/slow?&&&=&=&seconds=0&&", 200),
        ("/?a=1&a=2&a=%zz", 200),
        // paths
        ("/health%2Flive", 404),
        ("/health%2flive", 404),
        ("/health/live/", 404),
        ("/./health/live", 404),
        ("/health/../health/live", 404),
        ("/%2e%2e/%2e%2e/etc/passwd", 404),
        ("//health/live", 404),
        ("/%00", 404),
        ("/%ff%fe", 404),
        ("/info%00.json", 404),
        ("/INFO", 404),
        ("http://evil.example/health/live", 200), // absolute form: the path routes
        ("*", 404),
    ]
    .iter()
    .map(|(t, st)| (format!("GET {t} HTTP/1.1\r\n{close}").into_bytes(), *st))
    .chain([
        // raw bytes hyper refuses while parsing: 400 JSON
        (b"GET /a\x00b HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 400),
        (b"GET /\xff\xfe HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 400),
        (b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 400),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n".to_vec(),
            400,
        ),
        (b"GET / HTTP/1.1\r\nHo st: t\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/9.9\r\nHost: t\r\n\r\n".to_vec(), 400),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
            400,
        ), // a TLS hello
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(),
            400,
        ),
        // absurd but legal header values: served, logged as valid JSON
        (
            [
                &b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nUser-Agent: "[..],
                &[0x80u8, 0xff, b'"', b'\\', 0xc3, 0x28].repeat(500),
                b"\r\nX-Request-Id: \"}\\n{\"level\":\"CRITICAL\"\r\n\r\n",
            ]
            .concat(),
            200,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Request-Id: {}\r\n\r\n",
                "i".repeat(500)
            )
            .into_bytes(),
            200,
        ),
        (b"GET / HTTP/1.0\r\nHost: t\r\n\r\n".to_vec(), 200),
        (format!("BREW / HTTP/1.1\r\n{close}").into_bytes(), 405),
        (
            format!("DELETE /admin/toggle-ready HTTP/1.1\r\n{close}").into_bytes(),
            405,
        ),
    ])
    .collect();
    for (req, want) in &cases {
        let what = String::from_utf8_lossy(&req[..req.len().min(60)]).into_owned();
        let raw_answer = raw(s.addr(), req, Duration::from_secs(5)).await;
        let a = Answer::parse(&raw_answer).unwrap_or_else(|| panic!("{what:?}: no answer"));
        assert_json(&a, *want, &what);
    }
    // The server survived all of it.
    assert_eq!(get(s.addr(), "/health/live").await.unwrap().status, 200);
    let huge = get(s.addr(), "/slow?seconds=5&seconds=0").await.unwrap();
    assert_eq!(huge.json()["requested_seconds"], 0);
    let log = finish(s);
    // Every line parsed as JSON (checked by finish); the forged fields stayed inside strings.
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_ne!(v["level"], "CRITICAL", "forged level: {line}");
    }
    assert!(!log.contains(r#""event":"panic""#), "a panic:\n{log}");
}

// ------------------------------------------------------------------------------------------
// Panics
// ------------------------------------------------------------------------------------------

/// Panics on `/slow`, before or after an await; everything else goes to the real app.
#[derive(Clone)]
struct Panicky(hello_world::App);

impl hello_world::Handler for Panicky {
    fn handle(
        &self,
        route: hello_world::Route,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hello_world::Reply {
        if route.template() == "/slow" {
            let late = req.uri().query() == Some("late");
            return hello_world::Reply::Later(Box::pin(async move {
                if late {
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                panic!("injected panic (late={late})");
            }));
        }
        self.0.handle(route, req)
    }
    fn state(&self) -> &Arc<hello_world::AppState> {
        &self.0.state
    }
}

/// Handlers panicking under concurrent load leak no connection or in-flight count: the gauges
/// return to rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_under_concurrency_leak_no_connection_or_in_flight_count() {
    let cfg = hello_world::Config::from_lookup(|_| None).unwrap();
    let state = hello_world::AppState::new(cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = Panicky(hello_world::App::new(Arc::clone(&state)));
    let server = tokio::spawn(hello_world::serve_with(listener, app, async move {
        let _ = rx.await;
        hello_world::DrainCause::Sigterm
    }));

    // 8 keep-alive connections × 25 requests, a third of them panicking.
    let mut set = tokio::task::JoinSet::new();
    for c in 0..8 {
        set.spawn(async move {
            let mut conn = Conn::open(addr).await;
            let mut counts = (0, 0);
            for i in 0..25 {
                let target = match (c + i) % 3 {
                    0 => "/slow?late",
                    1 => "/slow",
                    _ => "/health/live",
                };
                let a = conn
                    .get(target)
                    .await
                    .expect("the connection survives a panic");
                if a.status == 500 {
                    assert_eq!(a.json()["detail"], "Internal Server Error");
                    counts.0 += 1;
                } else {
                    assert_eq!(a.status, 200);
                    counts.1 += 1;
                }
            }
            counts
        });
    }
    let (mut panicked, mut ok) = (0, 0);
    while let Some(r) = tokio::time::timeout(Duration::from_secs(20), set.join_next())
        .await
        .expect("bounded")
    {
        let (p, o) = r.expect("client task");
        panicked += p;
        ok += o;
    }
    assert_eq!(panicked + ok, 200);
    let m = &state.metrics;
    assert_eq!(m.panics(), panicked as u64);
    // Clients closed: every count returns to zero.
    let end = Instant::now() + Duration::from_secs(3);
    while m.connections_open() != 0 || m.in_flight() != 0 {
        assert!(
            Instant::now() < end,
            "leaked: connections_open={} in_flight={}",
            m.connections_open(),
            m.in_flight()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = tx.send(());
    let outcome = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("drained in time")
        .expect("server task");
    assert_eq!(outcome.forced, 0);
}

/// The accept loop survives running out of file descriptors (EMFILE): it logs `accept_error`,
/// backs off instead of spinning on the still-readable listener, and serves again as soon as
/// descriptors are free — it never exits.
#[test]
fn accept_loop_survives_emfile() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::process::Command;
    use std::thread;

    if Command::new("prlimit").arg("--version").output().is_err() {
        panic!("prlimit not found: install util-linux");
    }
    // 40 descriptors: the runtime, the listener and the signal pipes take a dozen.
    let mut srv = Spawn::new(BIN)
        .wrapper(&["prlimit", "--nofile=40:40"])
        .envs(&[
            ("WORKERS", "1"),
            ("ACCESS_LOG", "false"),
            // Silent connections must stay open for the whole test.
            ("FIRST_BYTE_TIMEOUT_SECONDS", "120"),
        ])
        .start();
    // The kernel completes connects from the backlog even when accept() fails.
    let held: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(srv.addr()).unwrap())
        .collect();
    let err = srv.wait_for("an accept_error line", |v| v["event"] == "accept_error");
    assert_eq!(err["level"], "WARNING");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("Too many open files"),
        "{err}"
    );
    let pid = srv.pid();
    let before = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(pid) - before;
    // A spinning loop would burn ~100 ticks (one CPU-second); backing off burns next to none.
    assert!(
        spent < 30,
        "{spent} ticks of CPU in 1 s while out of descriptors"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ok = TcpStream::connect(srv.addr()).ok().and_then(|mut c| {
            c.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
            c.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .ok()?;
            let mut answer = Vec::new();
            c.read_to_end(&mut answer).ok()?;
            Some(answer.starts_with(b"HTTP/1.1 200"))
        });
        if ok == Some(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not serving again 5 s after descriptors were freed"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(srv.terminate().code(), Some(0));
}
