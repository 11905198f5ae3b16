//! The Part 3 lab against the binary: read-only test routes (`/status/{code}`, `/echo`,
//! `x-served-by`), the experiments under `/admin/` (liveness, crash, fault mode, random faults,
//! CPU and memory stress, start-up variables), the process/cgroup metrics parsed with a real
//! Prometheus parser, and `grpc.health.v1.Health` with a real gRPC client (tonic) — through a
//! drain, too. The cgroup tests put the server into real cgroup v1 `cpu` and `memory`
//! children (root only; they fail, never skip, without root or cgroup v1).
//!
//! Every wait is bounded; every spawned server is killed when its test ends.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::http1::{connect, read_response, Response};
use testkit::{Server, Spawn};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

/// One HTTP/1.1 request on a fresh connection, with extra headers and a body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = connect(addr);
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    if method == "HEAD" {
        return read_head(&mut s);
    }
    read_response(&mut s).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// The answer to a HEAD request: status and headers (its content-length announces no body).
fn read_head(s: &mut std::net::TcpStream) -> Response {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).expect("read a head"),
            1,
            "EOF in the head"
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: Vec::new(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Response {
    http(addr, "GET", path, &[], b"")
}

fn post(addr: SocketAddr, path: &str) -> Response {
    http(addr, "POST", path, &[], b"")
}

#[track_caller]
fn expect(r: &Response, status: u16, body: Value) {
    assert_eq!(
        r.status,
        status,
        "body {:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json(), body);
}

/// `/metrics`, parsed by prometheus-parse: name (with sorted labels) → value.
fn metrics(addr: SocketAddr) -> HashMap<String, f64> {
    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    // The parser skips lines it cannot read; every line must be one it reads.
    for line in text.lines() {
        let info = prometheus_parse::LineInfo::parse(line);
        let unread = matches!(
            info,
            prometheus_parse::LineInfo::Ignored | prometheus_parse::LineInfo::Empty
        );
        assert!(!unread, "unparseable metrics line: {line:?}");
    }
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition text");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<_> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            let key = if labels.is_empty() {
                s.metric
            } else {
                format!("{}{{{}}}", s.metric, labels.join(","))
            };
            let v = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            };
            (key, v)
        })
        .collect()
}

/// The TYPE of every metric family in `/metrics`.
fn metric_types(addr: SocketAddr) -> HashMap<String, String> {
    let text = String::from_utf8(get(addr, "/metrics").body).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_owned(), t.to_owned()))
        .collect()
}

/// Polls `cond` every 50 ms until it holds or `within` passes.
fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The binary with the experiments' defaults; `POD_NAME` is set so `x-served-by` and `/echo`
/// have a name to show (a later `POD_NAME` in `env` wins).
fn lab(env: &[(&str, &str)]) -> Server {
    Spawn::new(crate::BIN)
        .env("POD_NAME", "drain-test")
        .envs(env)
        .start()
}

// ---------------------------------------------------------------------------------------------
// Read-only test routes
// ---------------------------------------------------------------------------------------------

/// `/status/{code}`: the status with `{"status":code}`, no body for 204/304, HEAD like GET
/// without a body, FastAPI's 422 (`loc: ["path","code"]`) outside 200–599.
#[test]
fn status_route_answers_the_code_it_is_given() {
    let s = lab(&[]);
    let a = s.addr();
    for code in [200u16, 201, 302, 404, 418, 500, 503, 599] {
        expect(
            &get(a, &format!("/status/{code}")),
            code,
            json!({ "status": code }),
        );
    }
    for code in [204, 304] {
        let r = get(a, &format!("/status/{code}"));
        assert_eq!((r.status, r.body.len()), (code, 0));
    }
    let r = http(a, "HEAD", "/status/503", &[], b"");
    assert_eq!((r.status, r.body.len()), (503, 0));
    let r = get(a, "/status/600");
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["loc"], json!(["path", "code"]));
    assert_eq!(r.json()["detail"][0]["type"], "less_than_equal");
    assert_eq!(
        get(a, "/status/101").json()["detail"][0]["type"],
        "greater_than_equal"
    );
    assert_eq!(
        get(a, "/status/abc").json()["detail"][0]["type"],
        "int_parsing"
    );
    assert_eq!(post(a, "/status/200").status, 405);
    assert_eq!(get(a, "/status/").status, 404);
    assert_eq!(get(a, "/status/200/x").status, 404);
}

/// `/echo` shows the request (query pairs, headers with credentials redacted, body as text
/// or base64, peer, protocol, pod) for every method it takes.
#[test]
fn echo_shows_the_request_with_credentials_redacted() {
    let s = lab(&[("MAX_BODY_BYTES", "1024")]);
    let a = s.addr();
    let r = http(
        a,
        "POST",
        "/echo?x=1&y=a+b&x=%32",
        &[
            ("X-Forwarded-For", "203.0.113.7"),
            ("Authorization", "Bearer t0ken"),
            ("Cookie", "id=42"),
        ],
        b"{\"hello\":1}",
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/echo");
    assert_eq!(v["query"], json!([["x", "1"], ["y", "a b"], ["x", "2"]]));
    assert_eq!(v["headers"]["x-forwarded-for"], "203.0.113.7");
    assert_eq!(v["headers"]["host"], "127.0.0.1");
    assert_eq!(v["headers"]["authorization"], "<redacted>");
    assert_eq!(v["headers"]["cookie"], "<redacted>");
    assert_eq!(v["body"], "{\"hello\":1}");
    assert_eq!(v["body_encoding"], "utf-8");
    assert_eq!(v["protocol"], "HTTP/1.1");
    assert_eq!(v["pod"], "drain-test");
    assert!(v["remote_addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(!String::from_utf8_lossy(&r.body).contains("t0ken"));
    let r = http(a, "PUT", "/echo", &[], &[0xff, 0xfe, 0x00]);
    assert_eq!(r.json()["body"], "//4A");
    assert_eq!(r.json()["body_encoding"], "base64");
    for m in ["GET", "PATCH", "DELETE"] {
        assert_eq!(http(a, m, "/echo", &[], b"").json()["method"], m);
    }
    assert_eq!(http(a, "OPTIONS", "/echo", &[], b"").status, 405);
    assert_eq!(http(a, "POST", "/echo", &[], &[b'x'; 2000]).status, 413);
}

/// Every answer names the pod, whatever the route or status.
#[test]
fn every_response_carries_x_served_by() {
    let s = lab(&[("POD_NAME", "hello-7d4b9-x2x4q")]);
    let a = s.addr();
    for (m, p) in [
        ("GET", "/"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("GET", "/metrics"),
        ("GET", "/nope"),
        ("POST", "/"),
        ("GET", "/slow?seconds=x"),
        ("HEAD", "/info"),
        ("GET", "/status/503"),
    ] {
        let r = http(a, m, p, &[], b"");
        assert_eq!(
            r.header("x-served-by"),
            Some("hello-7d4b9-x2x4q"),
            "{m} {p}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Experiments
// ---------------------------------------------------------------------------------------------

/// Liveness: the toggle makes `/health/live` 503 `{"status":"not alive"}` (readiness is not
/// touched), and back; GET cannot flip it.
#[test]
fn toggle_live_fails_and_restores_liveness() {
    let s = lab(&[]);
    let a = s.addr();
    expect(&post(a, "/admin/toggle-live"), 200, json!({"live": false}));
    expect(&get(a, "/health/live"), 503, json!({"status": "not alive"}));
    assert_eq!(get(a, "/health/ready").status, 200);
    assert_eq!(metrics(a)["app_live"], 0.0);
    assert_eq!(get(a, "/admin/toggle-live").status, 405);
    expect(&post(a, "/admin/toggle-live"), 200, json!({"live": true}));
    expect(&get(a, "/health/live"), 200, json!({"status": "ok"}));
    s.wait_for("the toggle logged as one JSON line", |v| {
        v["event"] == "toggle_live"
    });
}

const EXPERIMENT_ROUTES: [(&str, &str); 7] = [
    ("POST", "/admin/toggle-live"),
    ("POST", "/admin/crash?code=3"),
    ("GET", "/admin/fault"),
    ("POST", "/admin/fault?mode=off"),
    ("POST", "/admin/stress/cpu?seconds=1"),
    ("POST", "/admin/stress/memory?mib=1"),
    ("DELETE", "/admin/stress/memory"),
];

/// With `ADMIN_TOKEN` every experiment wants it (401 otherwise); with `EXPERIMENTS=false`
/// every one is 404 while the read-only test routes stay.
#[test]
fn experiments_need_the_token_and_vanish_when_disabled() {
    let s = lab(&[("ADMIN_TOKEN", "s3cret-token")]);
    let a = s.addr();
    for (m, p) in EXPERIMENT_ROUTES {
        let r = http(a, m, p, &[], b"");
        assert_eq!(r.status, 401, "{m} {p}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        let r = http(a, m, p, &[("Authorization", "Bearer wrong")], b"");
        assert_eq!(r.status, 401, "{m} {p}");
    }
    let ok = |m, p| http(a, m, p, &[("Authorization", "Bearer s3cret-token")], b"").status;
    assert_eq!(ok("POST", "/admin/toggle-live"), 200);
    assert_eq!(ok("GET", "/admin/fault"), 200);
    assert_eq!(ok("POST", "/admin/stress/memory?mib=1"), 202);
    assert_eq!(ok("DELETE", "/admin/stress/memory"), 200);
    drop(s);

    let s = lab(&[("EXPERIMENTS", "false")]);
    let a = s.addr();
    for (m, p) in EXPERIMENT_ROUTES {
        expect(
            &http(a, m, p, &[], b""),
            404,
            json!({"detail": "Not Found"}),
        );
    }
    assert_eq!(get(a, "/status/200").status, 200);
    assert_eq!(get(a, "/echo").status, 200);
    assert_eq!(get(a, "/info").json()["experiments"]["enabled"], false);
}

/// Crash: 202 `{"exiting":N}`, an ERROR line, then exit N within 100 ms of the answer,
/// without a drain. Bad codes are 422 and the process lives on.
#[test]
fn crash_exits_with_the_code_right_after_answering() {
    let mut s = lab(&[]);
    let a = s.addr();
    for bad in ["0", "126", "x", "-1"] {
        assert_eq!(
            post(a, &format!("/admin/crash?code={bad}")).status,
            422,
            "{bad}"
        );
    }
    assert_eq!(get(a, "/admin/crash?code=3").status, 405);
    let r = post(a, "/admin/crash?code=7");
    let answered = Instant::now();
    expect(&r, 202, json!({"exiting": 7}));
    let (status, exited) = s.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(7));
    let after = exited.duration_since(answered);
    // 100 ms is the promise; the test machine is shared, so allow it 3x before failing.
    assert!(
        after < Duration::from_millis(300),
        "exited {after:?} after the answer"
    );
    eprintln!("crash: exit 7 observed {after:?} after the 202");
    let lines = s.json_lines();
    let crash = lines
        .iter()
        .find(|l| l["event"] == "crash")
        .expect("a crash log line");
    assert_eq!(crash["level"], "ERROR");
    assert_eq!(crash["code"], 7);
    assert!(
        !lines.iter().any(|l| l["event"] == "listener_closed"),
        "no drain"
    );
    let mut s = lab(&[]);
    let r = post(s.addr(), "/admin/crash");
    expect(&r, 202, json!({"exiting": 1}));
    assert_eq!(s.wait_exit(Duration::from_secs(5)).0.code(), Some(1));
}

/// The sick replica: application routes 500 while probes, metrics, admin and docs work.
#[test]
fn fault_mode_fails_application_routes_only() {
    let s = lab(&[]);
    let a = s.addr();
    expect(
        &get(a, "/admin/fault"),
        200,
        json!({"mode": "off", "error_rate": 0, "delay_seconds": null, "injected": {"error": 0, "delay": 0}}),
    );
    assert_eq!(post(a, "/admin/fault?mode=error").json()["mode"], "error");
    for p in ["/", "/info", "/slow?seconds=0", "/echo", "/status/200"] {
        expect(&get(a, p), 500, json!({"detail": "fault injected"}));
    }
    for p in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/admin/fault",
    ] {
        assert_eq!(get(a, p).status, 200, "{p}");
    }
    let m = metrics(a);
    assert_eq!(m["app_faults_injected_total{kind=error}"], 5.0);
    assert_eq!(m["app_fault_mode_error"], 1.0);
    let r = post(a, "/admin/fault?mode=on");
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["type"], "literal_error");
    assert_eq!(
        post(a, "/admin/fault").json()["detail"][0]["type"],
        "missing"
    );
    assert_eq!(post(a, "/admin/fault?mode=off").json()["mode"], "off");
    assert_eq!(get(a, "/").status, 200);
    // The access log marks the injected answers.
    s.wait_for("an access-log line with status 500 and fault=error", |v| {
        v["status"] == 500 && v["fault"] == "error"
    });
    s.wait_for("the mode change logged as one JSON line", |v| {
        v["event"] == "fault_mode" && v["mode"] == "error" && v["logger"] == "lab"
    });
}

/// FAULT_ERROR_RATE=1 fails every application request and no probe; 0.5 about half.
#[test]
fn random_errors_follow_fault_error_rate() {
    let s = lab(&[("FAULT_ERROR_RATE", "1")]);
    let a = s.addr();
    for _ in 0..20 {
        assert_eq!(get(a, "/").status, 500);
        assert_eq!(get(a, "/health/ready").status, 200);
        assert_eq!(get(a, "/admin/fault").status, 200);
        assert_eq!(get(a, "/metrics").status, 200);
    }
    s.wait_for("a random error marked fault=error in the access log", |v| {
        v["event"] == "request" && v["path"] == "/" && v["status"] == 500 && v["fault"] == "error"
    });
    drop(s);
    let s = lab(&[("FAULT_ERROR_RATE", "0.5")]);
    let a = s.addr();
    let failed = (0..200).filter(|_| get(a, "/").status == 500).count();
    // Binomial(200, 0.5): 60..140 holds with probability 1 - 1e-8.
    assert!((60..=140).contains(&failed), "{failed} of 200 failed");
    assert_eq!(
        metrics(a)["app_faults_injected_total{kind=error}"],
        failed as f64
    );
}

/// Fails unless `since` is at least `ms` milliseconds ago (an injected delay was served).
fn assert_took_at_least(since: Instant, ms: u64) {
    let took = since.elapsed();
    assert!(
        took >= Duration::from_millis(ms),
        "took {took:?}, expected at least {ms} ms"
    );
}

/// FAULT_DELAY_SECONDS adds latency to application routes only.
#[test]
fn random_delay_slows_application_routes_only() {
    let s = lab(&[("FAULT_DELAY_SECONDS", "0.3-0.4")]);
    let a = s.addr();
    let t = Instant::now();
    assert_eq!(get(a, "/").status, 200);
    assert_took_at_least(t, 300);
    let t = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(a, "/health/live").status, 200);
    }
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "probes are not delayed: {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    for p in ["/metrics", "/admin/fault"] {
        for _ in 0..3 {
            assert_eq!(get(a, p).status, 200, "{p}");
        }
    }
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "/metrics and /admin are not delayed: {:?}",
        t.elapsed()
    );
    assert_eq!(metrics(a)["app_faults_injected_total{kind=delay}"], 1.0);
    assert_eq!(
        get(a, "/admin/fault").json()["delay_seconds"],
        json!([0.3, 0.4])
    );
    s.wait_for(
        "the delayed answer marked fault=delay in the access log",
        |v| {
            v["event"] == "request"
                && v["path"] == "/"
                && v["status"] == 200
                && v["fault"] == "delay"
        },
    );
    drop(s);
    // The single-number form: exactly that delay; with errors too, both marks.
    let s = lab(&[("FAULT_DELAY_SECONDS", "0.2"), ("FAULT_ERROR_RATE", "1")]);
    let a = s.addr();
    let t = Instant::now();
    assert_eq!(get(a, "/").status, 500);
    assert_took_at_least(t, 200);
    assert_eq!(
        get(a, "/admin/fault").json()["delay_seconds"],
        json!([0.2, 0.2])
    );
    s.wait_for("a delayed error marked fault=delay+error", |v| {
        v["event"] == "request" && v["path"] == "/" && v["fault"] == "delay+error"
    });
}

/// Bad experiment variables exit 2 with one JSON line naming variable, value and rule.
#[test]
fn bad_experiment_variables_exit_2() {
    for (var, value) in [
        ("FAULT_ERROR_RATE", "1.5"),
        ("FAULT_ERROR_RATE", "abc"),
        ("FAULT_DELAY_SECONDS", "2-1"),
        ("FAULT_DELAY_SECONDS", "61"),
        ("READY_DELAY_SECONDS", "-1"),
        ("STRESS_MAX_MIB", "lots"),
        ("START_READY", "maybe"),
        ("EXPERIMENTS", "perhaps"),
    ] {
        let mut s = Spawn::new(crate::BIN)
            .envs(&[(var, value)])
            .no_wait()
            .start();
        let (status, _) = s.wait_exit(Duration::from_secs(5));
        assert_eq!(status.code(), Some(2), "{var}={value}");
        let lines = s.json_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let text = lines[0].to_string();
        assert!(
            text.contains(var) && text.contains(value),
            "{var}={value}: {text}"
        );
    }
    let mut s = Spawn::new(crate::BIN)
        .envs(&[("EXPERIMENTS", "false"), ("FAULT_ERROR_RATE", "0.1")])
        .no_wait()
        .start();
    assert_eq!(s.wait_exit(Duration::from_secs(5)).0.code(), Some(2));
    assert!(s.json_lines()[0].to_string().contains("EXPERIMENTS"));
}

/// START_READY=false: unready (liveness fine) until toggled. READY_DELAY_SECONDS: 503 for
/// that long after listening, then 200 by itself.
#[test]
fn start_up_variables_hold_readiness_back() {
    let s = lab(&[("START_READY", "false")]);
    let a = s.addr();
    expect(
        &get(a, "/health/ready"),
        503,
        json!({"status": "not ready", "shutting_down": false}),
    );
    assert_eq!(get(a, "/health/live").status, 200);
    expect(&post(a, "/admin/toggle-ready"), 200, json!({"ready": true}));
    assert_eq!(get(a, "/health/ready").status, 200);
    drop(s);

    let s = lab(&[("READY_DELAY_SECONDS", "1.5")]);
    let listening = s.spawned_at;
    let a = s.addr();
    assert_eq!(get(a, "/health/ready").status, 503);
    assert_eq!(get(a, "/health/live").status, 200);
    assert!(eventually(Duration::from_secs(10), || get(
        a,
        "/health/ready"
    )
    .status
        == 200));
    assert!(listening.elapsed() >= Duration::from_millis(1500));
}

/// CPU stress answers at once, spins on its own threads (the server keeps answering), shows
/// in metrics, refuses a second run and bad parameters.
#[test]
fn cpu_stress_runs_off_the_request_path() {
    let s = lab(&[]);
    let a = s.addr();
    let before = metrics(a)["process_cpu_seconds_total"];
    let t = Instant::now();
    expect(
        &post(a, "/admin/stress/cpu?seconds=2&threads=2"),
        202,
        json!({"seconds": 2, "threads": 2}),
    );
    assert!(t.elapsed() < Duration::from_secs(1), "answered at once");
    assert_eq!(metrics(a)["app_stress_cpu_threads"], 2.0);
    assert_eq!(post(a, "/admin/stress/cpu?seconds=1").status, 409);
    for _ in 0..10 {
        assert_eq!(get(a, "/health/live").status, 200);
    }
    assert!(eventually(Duration::from_secs(10), || metrics(a)
        ["app_stress_cpu_threads"]
        == 0.0));
    let burnt = metrics(a)["process_cpu_seconds_total"] - before;
    eprintln!("cpu stress: 2 threads x 2 s burnt {burnt:.2} s of CPU");
    // An idle server uses well under 0.05 s in 2 s; the shared test machine may give the
    // two threads only a fraction of a core each.
    assert!(burnt > 0.15, "CPU time grew by only {burnt}");
    s.wait_for("the stress logged as one JSON line", |v| {
        v["event"] == "stress_cpu" && v["seconds"] == 2 && v["threads"] == 2
    });
    for bad in [
        "seconds=0",
        "seconds=301",
        "threads=65",
        "threads=0",
        "seconds=x",
    ] {
        assert_eq!(
            post(a, &format!("/admin/stress/cpu?{bad}")).status,
            422,
            "{bad}"
        );
    }
    assert_eq!(get(a, "/admin/stress/cpu").status, 405);
}

/// Memory stress holds resident memory until released; the cap is a 422.
#[test]
fn memory_stress_holds_resident_memory_until_released() {
    let s = lab(&[("STRESS_MAX_MIB", "160")]);
    let a = s.addr();
    let rss0 = metrics(a)["process_resident_memory_bytes"];
    expect(
        &post(a, "/admin/stress/memory?mib=96"),
        202,
        json!({"allocated_mib": 96, "held_mib": 96, "max_mib": 160}),
    );
    let m = metrics(a);
    let grown = (m["process_resident_memory_bytes"] - rss0) / 1048576.0;
    eprintln!("memory stress: RSS grew by {grown:.1} MiB for 96 MiB held");
    assert!(grown > 90.0, "RSS grew by only {grown} MiB");
    assert_eq!(m["app_stress_memory_bytes"], 96.0 * 1048576.0);
    let r = post(a, "/admin/stress/memory?mib=65");
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["ctx"], json!({"le": 64}));
    assert_eq!(
        post(a, "/admin/stress/memory").json()["detail"][0]["type"],
        "missing"
    );
    assert_eq!(get(a, "/info").json()["experiments"]["memory_held_mib"], 96);
    expect(
        &http(a, "DELETE", "/admin/stress/memory", &[], b""),
        200,
        json!({"released_mib": 96, "held_mib": 0}),
    );
    let shrunk = (m["process_resident_memory_bytes"] - metrics(a)["process_resident_memory_bytes"])
        / 1048576.0;
    eprintln!("memory stress: RSS fell by {shrunk:.1} MiB on release");
    assert!(shrunk > 90.0, "RSS fell by only {shrunk} MiB");
    s.wait_for("the allocation logged as one JSON line", |v| {
        v["event"] == "stress_memory" && v["mib"] == 96 && v["max_mib"] == 160
    });
    s.wait_for("the release logged as one JSON line", |v| {
        v["event"] == "stress_memory_release" && v["mib"] == 96
    });
    assert_eq!(get(a, "/admin/stress/memory").status, 405);
}

/// `/info` shows the experiments' state.
#[test]
fn info_shows_the_experiments() {
    let s = lab(&[]);
    let a = s.addr();
    post(a, "/admin/toggle-live");
    let v = get(a, "/info").json();
    assert_eq!(
        v["experiments"],
        json!({"enabled": true, "live": false, "fault_mode": "off", "fault_error_rate": 0,
               "cpu_stress_threads": 0, "memory_held_mib": 0})
    );
    assert_eq!(v["pod_name"], "drain-test");
}

/// Process metrics with the types Prometheus client libraries use, and sane values.
#[test]
fn process_and_container_metrics_are_exported() {
    let s = lab(&[]);
    let a = s.addr();
    let m = metrics(a);
    let types = metric_types(a);
    let text = String::from_utf8(get(a, "/metrics").body).unwrap();
    let families: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let mut unique = families.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        families.len(),
        "a metric family is declared twice"
    );
    for (name, kind) in [
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_threads", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("app_faults_injected_total", "counter"),
    ] {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    assert!(m["process_resident_memory_bytes"] > 1e6);
    assert!(m["process_virtual_memory_bytes"] >= m["process_resident_memory_bytes"]);
    assert!(m["process_open_fds"] >= 3.0 && m["process_open_fds"] < m["process_max_fds"]);
    assert!(m["process_threads"] >= 1.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let age = now - m["process_start_time_seconds"];
    assert!((-2.0..60.0).contains(&age), "started {age} s ago");
    // This machine runs cgroup v1: the cpu controller's counters are readable.
    for name in [
        "container_cpu_periods_total",
        "container_cpu_throttled_periods_total",
        "container_cpu_throttled_seconds_total",
        "container_memory_usage_bytes",
    ] {
        assert!(m.contains_key(name), "{name} missing");
    }
}

// ---------------------------------------------------------------------------------------------
// gRPC health, with tonic
// ---------------------------------------------------------------------------------------------

async fn connect_h2c(addr: SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("h2c connect")
}

async fn channel(addr: SocketAddr) -> HealthClient<tonic::transport::Channel> {
    HealthClient::new(connect_h2c(addr).await)
}

async fn check(
    c: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Status> {
    let r = c
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await?;
    Ok(r.into_inner().status())
}

/// One Check on a new h2c connection, written as raw frames in one go: the call is on the
/// wire before the server's PING (sent with the GOAWAY a draining server gives every new
/// connection) is answered — and it is never answered here, so the server's final GOAWAY never
/// comes and the call is served. Returns the DATA bytes of stream 1 (the framed message).
fn raw_check(addr: SocketAddr, service: &str) -> Vec<u8> {
    use testkit::h2c::{self, DATA, END_HEADERS, END_STREAM, HEADERS};
    let mut s = connect(addr);
    h2c::handshake(&mut s);
    // HPACK by hand: :method POST (static 3), :scheme http (6), then literals without
    // indexing: :path (name 4), :authority (name 1), content-type (name 31), te (new name).
    let mut block = vec![0x83, 0x86, 0x04];
    let lit = |out: &mut Vec<u8>, v: &str| {
        out.push(v.len() as u8);
        out.extend_from_slice(v.as_bytes());
    };
    lit(&mut block, "/grpc.health.v1.Health/Check");
    block.push(0x01);
    lit(&mut block, "127.0.0.1");
    block.extend_from_slice(&[0x0f, 0x10]);
    lit(&mut block, "application/grpc");
    block.push(0x00);
    lit(&mut block, "te");
    lit(&mut block, "trailers");
    h2c::write_frame(&mut s, HEADERS, END_HEADERS, 1, &block);
    // HealthCheckRequest{service}: field 1, length-delimited (written out here, not encoded
    // by the code under test).
    let mut framed = vec![
        0,
        0,
        0,
        0,
        service.len() as u8 + 2,
        0x0a,
        service.len() as u8,
    ];
    framed.extend_from_slice(service.as_bytes());
    h2c::write_frame(&mut s, DATA, END_STREAM, 1, &framed);
    let mut data = Vec::new();
    let mut status = None;
    loop {
        let f = h2c::read_frame(&mut s)
            .expect("read a frame")
            .expect("stream 1 answered");
        match (f.kind, f.stream) {
            (HEADERS, 1) if status.is_none() => status = h2c::indexed_status(&f),
            (DATA, 1) => data.extend_from_slice(&f.payload),
            _ => {}
        }
        if f.stream == 1 && f.flags & END_STREAM != 0 {
            break;
        }
        assert!(
            f.kind != h2c::RST_STREAM || f.stream != 1,
            "stream 1 reset: {}",
            f.name()
        );
    }
    assert_eq!(status, Some(200));
    data
}

/// Check: readiness for "" and "hello-world", liveness for "liveness", NOT_FOUND otherwise,
/// following both toggles; unknown methods are UNIMPLEMENTED; counted in the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_check_follows_readiness_and_liveness() {
    let s = lab(&[]);
    let a = s.addr();
    let mut c = channel(a).await;
    for svc in ["", "hello-world", "liveness"] {
        assert_eq!(
            check(&mut c, svc).await.unwrap(),
            ServingStatus::Serving,
            "{svc:?}"
        );
    }
    let e = check(&mut c, "payments").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.message().contains("payments"), "{}", e.message());

    tokio::task::spawn_blocking(move || post(a, "/admin/toggle-ready"))
        .await
        .unwrap();
    assert_eq!(check(&mut c, "").await.unwrap(), ServingStatus::NotServing);
    assert_eq!(
        check(&mut c, "hello-world").await.unwrap(),
        ServingStatus::NotServing
    );
    assert_eq!(
        check(&mut c, "liveness").await.unwrap(),
        ServingStatus::Serving
    );
    tokio::task::spawn_blocking(move || post(a, "/admin/toggle-live"))
        .await
        .unwrap();
    assert_eq!(
        check(&mut c, "liveness").await.unwrap(),
        ServingStatus::NotServing
    );

    // Another method on the same service: the generic client lets us name any path.
    let mut grpc = tonic::client::Grpc::new(connect_h2c(a).await);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/List");
    let codec = tonic_prost::ProstCodec::<HealthCheckRequest, tonic_health::pb::HealthCheckResponse>::default();
    let e = grpc
        .unary(
            tonic::Request::new(HealthCheckRequest::default()),
            path,
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unimplemented);

    let m = tokio::task::spawn_blocking(move || metrics(a))
        .await
        .unwrap();
    let checks: f64 = m
        .iter()
        .filter(|(k, _)| {
            k.starts_with("http_requests_total{")
                && k.contains("route=/grpc.health.v1.Health/Check")
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(checks, 8.0, "gRPC Check calls counted under their route");
}

/// Not gRPC: the wrong content-type is 415, gRPC over HTTP/1 is 400, GET is 405.
#[test]
fn grpc_route_refuses_what_is_not_grpc_over_h2() {
    let s = lab(&[]);
    let a = s.addr();
    let call = "/grpc.health.v1.Health/Check";
    assert_eq!(
        http(
            a,
            "POST",
            call,
            &[("content-type", "application/json")],
            b"{}"
        )
        .status,
        415
    );
    let r = http(
        a,
        "POST",
        call,
        &[("content-type", "application/grpc")],
        b"\0\0\0\0\0",
    );
    assert_eq!(r.status, 400);
    assert_eq!(get(a, call).status, 405);
}

/// Watch: the current status, then one message per change; NOT_SERVING from the first
/// signal on (while the announce phase still serves), the stream ends with UNAVAILABLE when
/// the listener closes, and it does not hold the drain open (exit 0, drained).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_watch_and_check_say_not_serving_through_a_drain() {
    let mut s = lab(&[
        ("DRAIN_DELAY_SECONDS", "2"),
        ("DRAIN_TIMEOUT_SECONDS", "10"),
    ]);
    let a = s.addr();
    let mut c = channel(a).await;
    let mut ready = c
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut live = c
        .watch(HealthCheckRequest {
            service: "liveness".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut unknown = c
        .watch(HealthCheckRequest {
            service: "nope".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let next = |m: Result<Option<tonic_health::pb::HealthCheckResponse>, tonic::Status>| {
        m.unwrap().unwrap().status()
    };
    assert_eq!(next(ready.message().await), ServingStatus::Serving);
    assert_eq!(next(live.message().await), ServingStatus::Serving);
    assert_eq!(next(unknown.message().await), ServingStatus::ServiceUnknown);

    // A change of readiness is streamed.
    tokio::task::spawn_blocking(move || post(a, "/admin/toggle-ready"))
        .await
        .unwrap();
    assert_eq!(next(ready.message().await), ServingStatus::NotServing);
    tokio::task::spawn_blocking(move || post(a, "/admin/toggle-ready"))
        .await
        .unwrap();
    assert_eq!(next(ready.message().await), ServingStatus::Serving);

    let signalled = s.signal("TERM");
    let m = tokio::time::timeout(Duration::from_secs(1), ready.message())
        .await
        .expect("NOT_SERVING within 1 s");
    assert_eq!(next(m), ServingStatus::NotServing);
    eprintln!(
        "grpc watch: NOT_SERVING {:?} after SIGTERM",
        signalled.elapsed()
    );
    // During the announce phase a new connection is still served, and told GOAWAY at once:
    // a call already on the wire before the client answers the server's PING is processed.
    // Check then says NOT_SERVING for readiness and SERVING for liveness.
    let (ready_now, live_now) =
        tokio::task::spawn_blocking(move || (raw_check(a, ""), raw_check(a, "liveness")))
            .await
            .unwrap();
    assert_eq!(ready_now, b"\0\0\0\0\x02\x08\x02", "readiness NOT_SERVING");
    assert_eq!(live_now, b"\0\0\0\0\x02\x08\x01", "liveness SERVING");
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "checked inside the announce phase"
    );
    // At closing every stream ends with UNAVAILABLE (liveness did not change before).
    let end = tokio::time::timeout(Duration::from_secs(5), ready.message())
        .await
        .expect("stream ends");
    assert_eq!(end.unwrap_err().code(), tonic::Code::Unavailable);
    let end = tokio::time::timeout(Duration::from_secs(5), live.message())
        .await
        .expect("stream ends");
    assert_eq!(end.unwrap_err().code(), tonic::Code::Unavailable);
    drop((c, unknown));
    let (status, _) = tokio::task::spawn_blocking(move || {
        let r = s.wait_exit(Duration::from_secs(15));
        (r.0, s.json_lines())
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0), "drained, not cut at the deadline");
}

// ---------------------------------------------------------------------------------------------
// cgroup v1, for real (root)
// ---------------------------------------------------------------------------------------------

/// A child cgroup under this process's own cgroup of one v1 controller, removed on drop.
struct Cgroup(PathBuf);

impl Cgroup {
    fn new(controller: &str) -> Cgroup {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("Uid:")
                        .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
                })
            });
        assert_eq!(
            uid.as_deref(),
            Some("0"),
            "the cgroup tests need root (to create cgroups under /sys/fs/cgroup/{controller})"
        );
        let mount = Path::new("/sys/fs/cgroup").join(controller);
        assert!(
            mount.join("cgroup.procs").exists() && mount.join("tasks").exists(),
            "no cgroup v1 `{controller}` hierarchy at {}: these tests need cgroup v1 (or hybrid)",
            mount.display()
        );
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let path = own
            .lines()
            .find_map(|l| {
                let mut p = l.splitn(3, ':');
                let (_, ctrls, path) = (p.next()?, p.next()?, p.next()?);
                ctrls
                    .split(',')
                    .any(|c| c == controller)
                    .then(|| path.to_owned())
            })
            .expect("this process is in a v1 cgroup of the controller");
        let name = format!("hello-lab-{}-{}", std::process::id(), rand_suffix());
        let dir = mount.join(path.trim_start_matches('/')).join(name);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Cgroup(dir)
    }

    fn write(&self, file: &str, value: &str) {
        std::fs::write(self.0.join(file), value)
            .unwrap_or_else(|e| panic!("write {value} to {file}: {e}"));
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap()
    }

    fn add(&self, pid: u32) {
        self.write("cgroup.procs", &pid.to_string());
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Tasks still inside (a server that outlived a failed assertion) go back to the parent.
        let parent = self.0.parent().unwrap().join("cgroup.procs");
        for pid in std::fs::read_to_string(self.0.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            let _ = std::fs::write(&parent, pid);
        }
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("could not remove {}", self.0.display());
    }
}

/// Under a 25 ms / 100 ms quota, CPU stress makes the throttling counters climb, as the
/// kernel's own cpu.stat shows them, and the limit reads 0.25 cores.
#[test]
fn cgroup_v1_cpu_quota_throttles_the_stress_and_metrics_show_it() {
    let cg = Cgroup::new("cpu");
    cg.write("cpu.cfs_period_us", "100000");
    cg.write("cpu.cfs_quota_us", "25000");
    let s = lab(&[]);
    let a = s.addr();
    cg.add(s.pid());
    let before = metrics(a);
    assert_eq!(before["container_cpu_limit_cores"], 0.25);
    assert_eq!(post(a, "/admin/stress/cpu?seconds=3&threads=2").status, 202);
    assert!(eventually(Duration::from_secs(20), || metrics(a)
        ["app_stress_cpu_threads"]
        == 0.0));
    let after = metrics(a);
    let d = |k: &str| after[k] - before[k];
    eprintln!(
        "cgroup v1 cpu: periods +{}, throttled periods +{}, throttled +{:.3} s, CPU used +{:.3} s (kernel cpu.stat now: {})",
        d("container_cpu_periods_total"),
        d("container_cpu_throttled_periods_total"),
        d("container_cpu_throttled_seconds_total"),
        d("process_cpu_seconds_total"),
        cg.read("cpu.stat").replace('\n', " ")
    );
    assert!(d("container_cpu_periods_total") >= 20.0);
    assert!(d("container_cpu_throttled_periods_total") >= 10.0);
    assert!(d("container_cpu_throttled_seconds_total") > 0.1);
    // 0.25 cores for ~3 s: well under the 6 s two free threads would burn.
    assert!(d("process_cpu_seconds_total") < 2.0);
    // The metrics are the kernel's counters (read before this second read of cpu.stat).
    let stat = cg.read("cpu.stat");
    let kernel = |k: &str| {
        let v = stat.lines().find_map(|l| l.strip_prefix(k)).unwrap();
        v.trim().parse::<f64>().unwrap()
    };
    assert!(kernel("nr_throttled ") >= after["container_cpu_throttled_periods_total"]);
    assert!(kernel("throttled_time ") / 1e9 >= after["container_cpu_throttled_seconds_total"]);
}

/// Past a 256 MiB limit the kernel OOM-kills the stressed server (SIGKILL); a second server in
/// the same cgroup reports the limit and the kill in its metrics.
#[test]
fn cgroup_v1_memory_limit_oom_kills_the_stress_and_metrics_count_it() {
    use std::os::unix::process::ExitStatusExt;
    let cg = Cgroup::new("memory");
    cg.write("memory.limit_in_bytes", &(256u64 << 20).to_string());
    let mut victim = lab(&[]);
    let observer = lab(&[]);
    cg.add(victim.pid());
    cg.add(observer.pid());
    let o = observer.addr();
    let m = metrics(o);
    assert_eq!(m["container_memory_limit_bytes"], 268435456.0);
    assert_eq!(m["container_oom_events_total"], 0.0);
    assert_eq!(
        post(victim.addr(), "/admin/stress/memory?mib=128").status,
        202
    );
    // This one crosses the limit: the answer never comes.
    let mut conn = connect(victim.addr());
    conn.write_all(
        b"POST /admin/stress/memory?mib=256 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let answer = read_response(&mut conn);
    assert!(
        answer.is_err(),
        "the allocation past the limit was answered: {:?}",
        answer.map(|r| r.status)
    );
    let (status, _) = victim.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.signal(),
        Some(9),
        "killed by SIGKILL (the OOM killer), got {status:?}"
    );
    let m = metrics(o);
    eprintln!(
        "cgroup v1 memory: victim {status:?}; observer sees container_oom_events_total {}, usage {} MiB of {} MiB; kernel memory.oom_control: {}",
        m["container_oom_events_total"],
        m["container_memory_usage_bytes"] / 1048576.0,
        m["container_memory_limit_bytes"] / 1048576.0,
        cg.read("memory.oom_control").replace('\n', " ")
    );
    assert!(m["container_oom_events_total"] >= 1.0);
    assert_eq!(get(o, "/health/live").status, 200, "the observer survived");
}
