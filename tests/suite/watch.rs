//! `hello-world watch` against real servers: the binary itself as the watched service, a local
//! nginx as the ingress (run unprivileged with its own prefix, like testkit/src/drain/
//! ingress.rs), and a tiny in-test server that stalls. Every run is bounded in time; every
//! number checked against an independent count (the server's `/metrics`, nginx's access log,
//! the stalling server's own request counter).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child as Proc, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::BIN;

/// A finished `hello-world watch` run.
struct Run {
    code: i32,
    lines: Vec<Value>,
    stderr: String,
}

impl Run {
    fn summary(&self) -> &Value {
        let last = self.lines.last().expect("at least the summary line");
        &last["summary"]
    }

    fn seconds(&self) -> &[Value] {
        &self.lines[..self.lines.len() - 1]
    }

    fn failures(&self, kind: &str) -> u64 {
        self.summary()["failures"][kind].as_u64().unwrap_or(0)
    }
}

/// Runs `hello-world watch ARGS --output json`, killed if it outlives `limit`.
fn watch(args: &[&str], limit: Duration) -> Run {
    let p = spawn_watch(args);
    wait_for(p, limit, &format!("watch {args:?}"))
}

fn spawn_watch(args: &[&str]) -> Proc {
    Command::new(BIN)
        .arg("watch")
        .args(args)
        .args(["--output", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch")
}

/// Waits for a spawned run (killed, and the test failed, if it outlives `limit`) and parses
/// its output.
fn wait_for(mut p: Proc, limit: Duration, what: &str) -> Run {
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(s) = p.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = p.kill();
            panic!("{what} did not end within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    p.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut stderr = String::new();
    p.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    Run {
        code: status.code().expect("exited, not killed"),
        lines,
        stderr,
    }
}

/// Every line has the issue's fields; the lines add up to the summary; sent = ok + failed.
fn check_shape(r: &Run) {
    for l in r.seconds() {
        for k in [
            "t", "sent", "ok", "failed", "failures", "versions", "pods", "p50_ms", "p99_ms",
        ] {
            assert!(l.get(k).is_some(), "{k} missing in {l}");
        }
    }
    let s = r.summary();
    for k in [
        "sent",
        "ok",
        "failed",
        "failures",
        "versions",
        "pods",
        "longest_gap_ms",
        "duration_s",
    ] {
        assert!(s.get(k).is_some(), "{k} missing in {s}");
    }
    let sum = |k: &str| {
        r.seconds()
            .iter()
            .map(|l| l[k].as_u64().unwrap())
            .sum::<u64>()
    };
    for k in ["sent", "ok", "failed"] {
        assert_eq!(
            sum(k),
            s[k].as_u64().unwrap(),
            "per-second {k} add up to the summary"
        );
    }
    assert_eq!(
        s["sent"].as_u64().unwrap(),
        s["ok"].as_u64().unwrap() + s["failed"].as_u64().unwrap()
    );
    let by_kind: u64 = s["failures"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_kind, s["failed"].as_u64().unwrap());
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `http_requests_total{method="GET",route="/",status="200"}` of a server.
fn served_root(addr: SocketAddr) -> u64 {
    let m = get(addr, "/metrics");
    m.lines()
        .find_map(|l| {
            l.strip_prefix(r#"http_requests_total{method="GET",route="/",status="200"} "#)
        })
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// A steady run straight at the server: nothing failed, exit 0, and the server counted exactly
/// the requests `watch` says it sent.
#[test]
fn steady_run_matches_the_servers_metrics() {
    let server = testkit::start(BIN, &[("APP_VERSION", "1.0.0")]);
    let url = format!("http://{}/", server.addr());
    let r = watch(
        &[&url, "--rate", "50", "--duration", "3"],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    check_shape(&r);
    let s = r.summary();
    assert_eq!(s["sent"], 150, "50 req/s for 3 s");
    assert_eq!(s["failed"], 0);
    assert_eq!(s["versions"]["1.0.0"]["count"], 150);
    assert!(
        s["connections_opened"].as_u64().unwrap() <= 4,
        "at most --connections"
    );
    assert_eq!(
        served_root(server.addr()),
        150,
        "the server's /metrics saw every request"
    );
    // h2c with prior knowledge against the same server.
    let r = watch(
        &[
            &url,
            "--rate",
            "40",
            "--duration",
            "1",
            "--http2",
            "--connections",
            "2",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    check_shape(&r);
    assert_eq!(r.summary()["ok"], 40);
    assert_eq!(served_root(server.addr()), 190);
}

/// An open-ended run (no `--duration`) ends on Ctrl-C: SIGINT stops the schedule, the requests
/// in flight are waited for, and the summary still adds up to what the server counted.
#[test]
fn an_open_ended_run_ends_on_sigint_with_its_summary() {
    let server = testkit::start(BIN, &[("APP_VERSION", "1.0.0")]);
    let url = format!("http://{}/", server.addr());
    let mut p = spawn_watch(&[&url, "--rate", "50"]);
    thread::sleep(Duration::from_millis(2500));
    assert!(
        p.try_wait().unwrap().is_none(),
        "ended without --duration or a signal"
    );
    send_signal(p.id(), "INT");
    // The schedule stops at once; the requests in flight get at most the 2 s timeout.
    let r = wait_for(p, Duration::from_secs(5), "watch after SIGINT");
    assert_eq!(r.code, 0, "nothing failed: {}", r.stderr);
    check_shape(&r);
    let s = r.summary();
    let sent = s["sent"].as_u64().unwrap();
    // 2.5 s at 50 req/s, give or take the start-up and the signal's delivery.
    assert!((100..=140).contains(&sent), "sent {sent}");
    assert_eq!(s["failed"], 0);
    assert_eq!(
        served_root(server.addr()),
        sent,
        "the server saw every request sent"
    );
}

/// A server that is down from the start is a result, not a crash: all refused, exit 1.
#[test]
fn server_down_is_counted_as_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let r = watch(
        &[&url, "--rate", "20", "--duration", "1"],
        Duration::from_secs(10),
    );
    assert_eq!(r.code, 1);
    check_shape(&r);
    assert_eq!(r.summary()["sent"], 20);
    assert_eq!(r.failures("refused"), 20);
    assert!(r.summary()["longest_gap_ms"].as_f64().unwrap() >= 950.0);
}

/// Usage errors exit 2 and name the argument; `--help` exits 0.
#[test]
fn bad_arguments_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["https://hello.local/"], "https"),
        (&["http:///"], "no host"),
        (&["http://127.0.0.1:99999/"], "port"),
        (&["http://127.0.0.1/", "--rate", "0"], "--rate"),
        (&["http://127.0.0.1/", "--rate", "100000"], "--rate"),
        (&["http://127.0.0.1/", "--duration", "-5"], "--duration"),
        (&["http://127.0.0.1/", "--timeout", "0"], "--timeout"),
        (
            &["http://127.0.0.1/", "--connections", "0"],
            "--connections",
        ),
        (&["http://127.0.0.1/", "--output", "yaml"], "--output"),
        (
            &["http://127.0.0.1/", "--svg", "/nonexistent-dir/x.svg"],
            "--svg",
        ),
        (&["http://127.0.0.1/", "--frobnicate"], "--frobnicate"),
        (&[], "URL"),
    ];
    for (args, needle) in cases {
        let out = Command::new(BIN).arg("watch").args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    let out = Command::new(BIN)
        .args(["watch", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--connections"));
}

/// Open loop: a server that stops answering for 1 s does not pause the schedule. Every request
/// scheduled during the stall is sent and accounted (the server counts what it received), the
/// stall shows as latency and as the longest gap.
#[test]
fn a_stall_does_not_pause_the_schedule() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    {
        let (received, first) = (received.clone(), first.clone());
        thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let (received, first) = (received.clone(), first.clone());
                thread::spawn(move || stalling_connection(conn, &received, &first));
            }
        });
    }
    let url = format!("http://{addr}/");
    let r = watch(
        &[&url, "--rate", "100", "--duration", "3", "--timeout", "3"],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    check_shape(&r);
    let s = r.summary();
    assert_eq!(
        s["sent"], 300,
        "100 req/s for 3 s, the stalled second included"
    );
    assert_eq!(s["ok"], 300);
    assert_eq!(
        received.load(Ordering::SeqCst),
        300,
        "the server received every one"
    );
    assert_eq!(
        r.seconds()[1]["sent"],
        100,
        "second 2 (the stall) still sent 100"
    );
    let gap = s["longest_gap_ms"].as_f64().unwrap();
    assert!(
        (900.0..2000.0).contains(&gap),
        "the stall is the gap: {gap} ms"
    );
    assert!(
        s["p99_ms"].as_f64().unwrap() >= 500.0,
        "the stall shows in latency: {s}"
    );
}

/// One keep-alive connection of the stalling server: answers at once, except that from 1 s
/// to 2 s after the first request it holds every answer until the stall ends.
fn stalling_connection(conn: TcpStream, received: &AtomicU64, first: &Mutex<Option<Instant>>) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let body = r#"{"message":"stall test","version":"stall"}"#;
    loop {
        let mut line = String::new();
        // Request line and headers (GET, no body).
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        received.fetch_add(1, Ordering::SeqCst);
        let t0 = *first.lock().unwrap().get_or_insert_with(Instant::now);
        let (from, to) = (t0 + Duration::from_secs(1), t0 + Duration::from_secs(2));
        let now = Instant::now();
        if now >= from && now < to {
            thread::sleep(to - now);
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A private nginx in front of the given backends (own prefix under the test's target dir).
struct Nginx {
    proc: Proc,
    dir: PathBuf,
    addr: SocketAddr,
}

const NGINX: &str = "/usr/sbin/nginx";

impl Nginx {
    fn start(name: &str, backends: &[SocketAddr]) -> Nginx {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("watch-nginx-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let d = dir.display();
        // Retries off: a failed upstream attempt reaches the client as a 502, so the watcher's
        // count and nginx's access log can be compared one to one. The pod header
        // (`x-served-by`) is the backends' own, passed through as an ingress passes it.
        let conf = format!(
            r#"daemon off; master_process on; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 1024; }}
http {{
  client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy; fastcgi_temp_path {d}/tmp/fcgi;
  uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
  log_format watch '$status|$upstream_addr|$upstream_status';
  access_log {d}/access.log watch;
  upstream app {{ include {d}/upstreams.conf; keepalive 32; }}
  server {{
    listen {addr};
    location / {{
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_next_upstream off;
    }}
  }}
}}
"#
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        write_upstreams(&dir, backends);
        let proc = Command::new(NGINX)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is required (apt-get install nginx-light)");
        let n = Nginx { proc, dir, addr };
        let end = Instant::now() + Duration::from_secs(10);
        while !get_ok(n.addr) {
            assert!(
                Instant::now() < end,
                "nginx did not route: {}",
                std::fs::read_to_string(n.dir.join("error.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(20));
        }
        // The readiness probes above are not the watcher's requests.
        std::fs::write(n.dir.join("access.log"), "").unwrap();
        send_signal(n.proc.id(), "USR1"); // reopen the log file
        thread::sleep(Duration::from_millis(200));
        n
    }

    /// New upstreams, SIGHUP, and time for the new worker to take over.
    fn set_upstreams(&self, backends: &[SocketAddr]) {
        write_upstreams(&self.dir, backends);
        send_signal(self.proc.id(), "HUP");
        thread::sleep(Duration::from_millis(500));
    }

    /// Statuses of the access log, in order.
    fn statuses(&self) -> Vec<u16> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap()
            .lines()
            .map(|l| l.split('|').next().unwrap().parse().unwrap())
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        send_signal(self.proc.id(), "TERM");
        let end = Instant::now() + Duration::from_secs(5);
        while self.proc.try_wait().ok().flatten().is_none() && Instant::now() < end {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

fn write_upstreams(dir: &Path, backends: &[SocketAddr]) {
    let s: String = backends
        .iter()
        .map(|b| format!("server {b} max_fails=0;\n"))
        .collect();
    std::fs::write(dir.join("upstreams.conf"), s).unwrap();
}

fn get_ok(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).is_ok() && get(addr, "/health/live").starts_with("HTTP/1.1 200")
}

/// A rollout done right: v1 and v2 behind nginx, v1 removed from the upstream and then
/// drained (SIGTERM). Both versions and the switch show, each pod is named, nothing failed.
#[test]
fn version_switch_through_nginx_loses_nothing() {
    let mut v1 = testkit::start(
        BIN,
        &[
            ("APP_VERSION", "1.0.0"),
            ("DRAIN_DELAY_SECONDS", "0.5"),
            ("POD_NAME", "hello-v1"),
        ],
    );
    let v2 = testkit::start(BIN, &[("APP_VERSION", "2.0.0"), ("POD_NAME", "hello-v2")]);
    let nginx = Nginx::start("switch", &[v1.addr(), v2.addr()]);
    let url = format!("http://{}/", nginx.addr);
    let watcher = {
        let url = url.clone();
        thread::spawn(move || {
            watch(
                &[&url, "--rate", "100", "--duration", "4"],
                Duration::from_secs(30),
            )
        })
    };
    thread::sleep(Duration::from_millis(1500));
    nginx.set_upstreams(&[v2.addr()]);
    v1.signal("TERM");
    let (status, _) = v1.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "v1 drained cleanly");
    let r = watcher.join().unwrap();
    assert_eq!(r.code, 0, "nothing failed: {:?}", r.summary());
    check_shape(&r);
    let s = r.summary();
    assert_eq!(s["sent"], 400);
    let (a, b) = (&s["versions"]["1.0.0"], &s["versions"]["2.0.0"]);
    assert!(
        a["count"].as_u64().unwrap() > 50 && b["count"].as_u64().unwrap() > 200,
        "{s}"
    );
    let (a_last, b_last) = (a["last_s"].as_f64().unwrap(), b["last_s"].as_f64().unwrap());
    assert!(
        (1.3..2.6).contains(&a_last),
        "1.0.0 last seen around the switch: {a_last}"
    );
    assert!(b_last > 3.5, "2.0.0 answered to the end: {b_last}");
    assert_eq!(
        s["pods"]["hello-v1"], a["count"],
        "pods from x-served-by: {s}"
    );
    assert_eq!(
        s["pods"]["hello-v2"], b["count"],
        "pods from x-served-by: {s}"
    );
    assert_eq!(nginx.statuses().len(), 400, "nginx saw every request");
}

/// A broken rollout: a backend SIGKILLed while nginx has retries off. The failures are counted
/// (as nginx's 502s, or resets), exit 1, and the counts match nginx's access log.
#[test]
fn killed_backend_is_counted_like_nginx_logged_it() {
    let v1 = testkit::start(BIN, &[("APP_VERSION", "1.0.0")]);
    let mut doomed = testkit::start(BIN, &[("APP_VERSION", "1.0.0")]);
    let nginx = Nginx::start("broken", &[v1.addr(), doomed.addr()]);
    let url = format!("http://{}/", nginx.addr);
    let watcher = thread::spawn(move || {
        watch(
            &[&url, "--rate", "100", "--duration", "3"],
            Duration::from_secs(30),
        )
    });
    thread::sleep(Duration::from_millis(1000));
    doomed.signal("KILL");
    let _ = doomed.wait_exit(Duration::from_secs(5));
    let r = watcher.join().unwrap();
    assert_eq!(r.code, 1, "failures mean exit 1");
    check_shape(&r);
    let s = r.summary();
    let logged = nginx.statuses();
    let log_5xx = logged.iter().filter(|s| **s >= 500).count() as u64;
    let log_2xx = logged.iter().filter(|s| (200..300).contains(*s)).count() as u64;
    assert!(
        log_5xx > 20,
        "nginx answered 502 for the dead backend: {log_5xx}"
    );
    assert_eq!(
        r.failures("http_5xx"),
        log_5xx,
        "watch's 5xx = nginx's 5xx: {s}"
    );
    assert_eq!(
        s["ok"].as_u64().unwrap(),
        log_2xx,
        "watch's ok = nginx's 2xx"
    );
    let transport = r.failures("reset");
    assert_eq!(
        s["failed"].as_u64().unwrap(),
        r.failures("http_5xx") + transport,
        "only 502s and resets: {s}"
    );
    assert_eq!(
        s["sent"].as_u64().unwrap(),
        logged.len() as u64 + transport,
        "every request is in nginx's log or a reset"
    );
    assert_eq!(s["sent"], 300);
}

/// `kill -s SIG PID` for the nginx and watch processes this module starts (the servers are
/// signalled through `testkit::Server`).
fn send_signal(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .expect("run kill(1)");
    assert!(st.success(), "kill -s {sig} {pid} failed: {st}");
}
