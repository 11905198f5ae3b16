//! The real `hello-world` binary (issue 2): configuration errors, the CLI subcommands and the
//! JSON log stream, observed from outside the process as Kubernetes and a log collector see it.
//!
//! # Contents
//! - config: every bad value → exit 2 and exactly one JSON line naming variable, value, allowed
//! - cli: `--version`, `--help`, unknown arguments, `sleep`, `healthcheck`
//! - logs: every line is one JSON object with the tutorial's fields; hostile paths and headers
//!   cannot break or forge a line; access-log fields; `ACCESS_LOG`, `LOG_LEVEL`; the startup
//!   line and runtime choice; tutorial lines (`/slow`, toggle-ready); no token in the logs
//! - log policy: a blocked stdout never stalls requests; dropped lines are counted and
//!   reported; a clean exit loses nothing and `drained` is the last line
//! - request ids: generated ids differ between replicas that all run as PID 1 (`unshare`)
//!
//! Servers run with `HOST=127.0.0.1 PORT=0`; the `listening` event gives the bound address.
//! Every wait is bounded: a hang fails the test, and [`Server`]'s `Drop` kills the process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hello-world");

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// The binary with a clean environment plus `env`.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_clear();
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits for `child` to exit, killing it (and failing) after `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Result of a short-lived invocation (a subcommand or a config error).
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let t0 = Instant::now();
    let mut child = command(args, env).spawn().unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let took = t0.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        code: status.code().expect("exited, not killed by a signal"),
        stdout,
        stderr,
        took,
    }
}

/// Parses one log line and checks the fields every line must have.
fn parse_line(raw: &[u8]) -> Value {
    let line =
        std::str::from_utf8(raw).unwrap_or_else(|e| panic!("log line is not UTF-8 ({e}): {raw:?}"));
    assert!(!line.contains('\r'), "stray CR in {line:?}");
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}"));
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {line}"));
    let ts = obj["timestamp"].as_str().expect("timestamp is a string");
    assert!(is_rfc3339_micros_utc(ts), "timestamp {ts:?}");
    let level = obj["level"].as_str().expect("level is a string");
    assert!(
        ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&level),
        "level {level:?}"
    );
    for f in ["message", "logger", "pod"] {
        assert!(obj[f].is_string(), "{f} is a string: {line}");
    }
    v
}

/// `2026-02-26T10:00:00.123456+00:00`
fn is_rfc3339_micros_utc(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 32
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 | 29 => *c == b':',
            19 => *c == b'.',
            26 => *c == b'+',
            _ => c.is_ascii_digit(),
        })
        && ts.ends_with("+00:00")
}

/// A running server: stdout lines arrive on a channel from a reader thread.
struct Server {
    child: Child,
    addr: SocketAddr,
    lines: Lines,
    /// Every line seen so far, in order.
    seen: Vec<Value>,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Server {
        let mut all = vec![("HOST", "127.0.0.1"), ("PORT", "0")];
        all.extend_from_slice(env);
        Server::spawn(command(&[], &all))
    }

    /// Starts `cmd` (the binary, possibly behind a wrapper that execs it) and waits for it to
    /// listen.
    fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = read_lines(BufReader::new(stdout));
        let mut s = Server {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            lines,
            seen: Vec::new(),
        };
        let l = s.wait_for("the listening event", |v| v["event"] == "listening");
        s.addr = l["addr"].as_str().unwrap().parse().unwrap();
        s
    }

    /// Waits (≤ 10 s) for a line that satisfies `pred` and returns it.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no log line for {what} within 10 s; seen: {:#?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stdout closed before {what}; seen: {:#?}", self.seen)
                }
            }
        }
    }

    /// SIGTERM, then every remaining line until stdout closes; returns the exit status.
    fn terminate(&mut self) -> ExitStatus {
        sigterm(&self.child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => self.seen.push(v),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stdout still open 10 s after SIGTERM"),
            }
        }
        wait_exit(&mut self.child, Duration::from_secs(5))
    }

    fn of_logger(&self, logger: &str) -> Vec<&Value> {
        self.seen.iter().filter(|v| v["logger"] == logger).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills the process if the test ends (or panics) before it exited: no leaked servers.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigterm(child: &Child) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill(1) is available");
    assert!(st.success());
}

/// Stdout lines, parsed and checked by a reader thread. A malformed line fails the test at the
/// next receive (a panic in the reader thread alone would only look like a closed stdout).
struct Lines(Receiver<Result<Value, String>>);

impl Lines {
    fn recv_timeout(&self, limit: Duration) -> Result<Value, RecvTimeoutError> {
        match self.0.recv_timeout(limit)? {
            Ok(v) => Ok(v),
            Err(bad) => panic!("malformed log line: {bad}"),
        }
    }
}

fn read_lines<R: BufRead + Send + 'static>(mut r: R) -> Lines {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = buf.clone();
                    let checked = std::panic::catch_unwind(move || {
                        assert_eq!(line.last(), Some(&b'\n'), "a line ends with a newline");
                        parse_line(&line[..line.len() - 1])
                    })
                    .map_err(|_| format!("{:?}", String::from_utf8_lossy(&buf)));
                    if tx.send(checked).is_err() {
                        break;
                    }
                }
            }
        }
    });
    Lines(rx)
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close` is added): status, lower-
/// cased head and body.
fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let answer = raw(addr, req.as_bytes());
    split_answer(&answer)
}

fn split_answer(answer: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("incomplete answer {text:?}"));
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// Sends raw bytes, reads until the server closes (bounded by a 5 s read timeout).
fn raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn metric_value(addr: SocketAddr, name: &str) -> f64 {
    let (status, _, body) = http(addr, "GET", "/metrics", &[]);
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// A port that nothing listens on (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------------

/// Each bad value: exit 2 before serving, and stdout is exactly one JSON line (CRITICAL,
/// event `config_invalid`) naming the variable, the value as given and what is allowed.
#[test]
fn bad_configuration_exits_2_with_one_json_line() {
    for (env, var, value, allowed) in [
        (&[("PORT", "abc")][..], "PORT", "abc", "0 to 65535"),
        (&[("PORT", "65536")], "PORT", "65536", "0 to 65535"),
        (
            &[("HOST", "localhost")],
            "HOST",
            "localhost",
            "IPv4 or IPv6",
        ),
        (&[("LOG_LEVEL", "verbose")], "LOG_LEVEL", "verbose", "debug"),
        (
            &[("ACCESS_LOG", "yes")],
            "ACCESS_LOG",
            "yes",
            "true or false",
        ),
        (&[("WORKERS", "0")], "WORKERS", "0", "1 to 1024"),
        (
            &[("DRAIN_TIMEOUT_SECONDS", "0")],
            "DRAIN_TIMEOUT_SECONDS",
            "0",
            "greater than 0",
        ),
        (
            &[("DRAIN_DELAY_SECONDS", "5"), ("DRAIN_TIMEOUT_SECONDS", "5")],
            "DRAIN_DELAY_SECONDS",
            "5",
            "less than DRAIN_TIMEOUT_SECONDS",
        ),
        (
            &[("PRESTOP_ENDPOINT", "1")],
            "PRESTOP_ENDPOINT",
            "1",
            "true or false",
        ),
        // A control character: refused, and escaped in the JSON line that names it.
        (
            &[("APP_ENV", "a\u{1}\"b")],
            "APP_ENV",
            "a\u{1}\"b",
            "control",
        ),
        (&[("GREETING", "")], "GREETING", "", "1 to 256"),
        // A token is never echoed, not even a rejected one.
        (
            &[("ADMIN_TOKEN", "short")],
            "ADMIN_TOKEN",
            "<redacted>",
            "at least 8",
        ),
    ] {
        // A value that were wrongly accepted must not bind the real port 8080.
        let mut all = vec![("HOST", "127.0.0.1"), ("PORT", "0")];
        all.extend_from_slice(env);
        let r = run(&[], &all);
        assert_eq!(r.code, 2, "{var}={value}: exit code; stdout {:?}", r.stdout);
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{var}: exactly one line: {:?}", r.stdout);
        assert!(r.stdout.ends_with('\n'));
        let v = parse_line(lines[0].as_bytes());
        assert_eq!(v["level"], "CRITICAL", "{var}");
        assert_eq!(v["event"], "config_invalid");
        assert_eq!(v["variable"], var);
        assert_eq!(v["value"], value, "{var}");
        let a = v["allowed"].as_str().unwrap();
        assert!(a.contains(allowed), "{var}: allowed = {a:?}");
        assert!(v["message"].as_str().unwrap().contains(var));
        assert!(!r.stdout.contains("short"), "the token is not echoed");
    }
}

/// A port that is taken is not a configuration error, nor a drain cut short: exit 3 with a
/// `bind_failed` line.
#[test]
fn a_taken_port_exits_3() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let r = run(&[], &[("HOST", "127.0.0.1"), ("PORT", &port)]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    let last = r.stdout.lines().last().expect("a log line");
    let v = parse_line(last.as_bytes());
    assert_eq!(
        (v["level"].as_str(), v["event"].as_str()),
        (Some("CRITICAL"), Some("bind_failed"))
    );
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

#[test]
fn version_and_help() {
    let r = run(&["--version"], &[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "hello-world 1.0.0\n"));
    let r = run(&["-V"], &[]);
    assert_eq!(r.code, 0);
    let r = run(&["--help"], &[]);
    assert_eq!(r.code, 0);
    for (name, default) in hello_world::internals::variables() {
        let row = r
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("--help lists {name}"));
        assert!(
            row.contains(default),
            "{name}'s default {default:?} in {row:?}"
        );
    }
    for sub in ["serve", "healthcheck", "sleep", "--version", "--help"] {
        assert!(r.stdout.contains(sub), "--help mentions {sub}");
    }
}

/// Unknown arguments are usage errors: exit 2, the reason and the usage on stderr.
#[test]
fn unknown_arguments_exit_2_with_usage() {
    for args in [
        &["--bogus"][..],
        &["serve", "extra"],
        &["sleep"],
        &["sleep", "abc"],
        &["sleep", "-1"],
        &["healthcheck", "a", "b"],
    ] {
        let r = run(args, &[]);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains("USAGE"), "{args:?}: {:?}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}");
    }
}

/// `sleep 0.2` (the distroless preStop exec) sleeps that long and exits 0.
#[test]
fn sleep_sleeps_then_exits_0() {
    let r = run(&["sleep", "0.2"], &[]);
    assert_eq!(r.code, 0);
    assert!(
        r.took >= Duration::from_millis(200) && r.took < Duration::from_secs(2),
        "{:?}",
        r.took
    );
    assert_eq!(run(&["sleep", "0"], &[]).code, 0);
}

/// `healthcheck`: 0 for a 2xx, 1 for a 503, a closed port or a silent server, 2 for a URL it
/// cannot use; without a URL it checks `/health/live` on `$PORT`.
#[test]
fn healthcheck_exit_codes() {
    let mut srv = Server::start(&[]);
    let base = format!("http://{}", srv.addr);
    let r = run(&["healthcheck", &format!("{base}/health/live")], &[]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let port = srv.addr.port().to_string();
    assert_eq!(
        run(&["healthcheck"], &[("PORT", &port)]).code,
        0,
        "default URL"
    );

    let (status, _, _) = http(srv.addr, "POST", "/admin/toggle-ready", &[]);
    assert_eq!(status, 200);
    let r = run(&["healthcheck", &format!("{base}/health/ready")], &[]);
    assert_eq!(r.code, 1, "503 is unhealthy");
    assert!(r.stderr.contains("503"), "{}", r.stderr);
    assert_eq!(
        run(&["healthcheck", &format!("{base}/nope")], &[]).code,
        1,
        "404"
    );

    let closed = format!("http://127.0.0.1:{}/health/live", free_port());
    assert_eq!(run(&["healthcheck", &closed], &[]).code, 1, "closed port");

    // Accepts (the kernel does, via the backlog) but never answers: the timeout applies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health/live", silent.local_addr().unwrap());
    let r = run(&["healthcheck", "--timeout", "0.3", &url], &[]);
    assert_eq!(r.code, 1);
    assert!(r.took < Duration::from_secs(2), "{:?}", r.took);

    let r = run(
        &["healthcheck", &format!("https://{}/health/live", srv.addr)],
        &[],
    );
    assert_eq!(r.code, 2, "https is not supported: {}", r.stderr);
    assert_eq!(run(&["healthcheck", "ftp://x/"], &[]).code, 2);
    assert_eq!(srv.terminate().code(), Some(0));
}

/// Without a URL, `healthcheck` asks the address the server itself listens on: with
/// `HOST=::1` that is `[::1]`, not IPv4 loopback.
#[test]
fn healthcheck_default_url_follows_host() {
    let port = free_port().to_string();
    let mut child = command(&[], &[("HOST", "::1"), ("PORT", &port)])
        .spawn()
        .unwrap();
    let lines = read_lines(BufReader::new(child.stdout.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let v = lines
            .recv_timeout(left)
            .expect("a listening line within 10 s");
        if v["event"] == "listening" {
            break;
        }
    }
    let env = [("HOST", "::1"), ("PORT", port.as_str())];
    let r = run(&["healthcheck"], &env);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("http://[::1]:"), "{}", r.stdout);
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(5)).code(),
        Some(0)
    );
}

/// utime + stime of `pid`, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The accept loop survives running out of file descriptors (EMFILE): it logs `accept_error`,
/// backs off instead of spinning on the still-readable listener, and serves again as soon as
/// descriptors are free — it never exits.
#[test]
fn accept_loop_survives_emfile() {
    let mut cmd = Command::new("prlimit");
    // 40 descriptors: the runtime, the listener and the signal pipes take a dozen.
    cmd.args(["--nofile=40:40", BIN]).env_clear();
    for (k, v) in [
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("WORKERS", "1"),
        ("ACCESS_LOG", "false"),
        // Silent connections must stay open for the whole test.
        ("FIRST_BYTE_TIMEOUT_SECONDS", "120"),
    ] {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if Command::new("prlimit").arg("--version").output().is_err() {
        panic!("prlimit not found: install util-linux");
    }
    let mut srv = Server::spawn(cmd);
    // The kernel completes connects from the backlog even when accept() fails.
    let held: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
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
    let pid = srv.child.id();
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
        let ok = TcpStream::connect(srv.addr).ok().and_then(|mut c| {
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

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

/// The startup line keeps the tutorial's wording and reports the worker count and runtime;
/// WORKERS=1 is a current-thread runtime.
#[test]
fn startup_line_and_runtime_choice() {
    for (workers, runtime) in [("1", "current_thread"), ("2", "multi_thread")] {
        let mut srv = Server::start(&[
            ("WORKERS", workers),
            ("APP_ENV", "staging"),
            ("APP_VERSION", "2.0.0"),
            ("POD_NAME", "hello-abc"),
        ]);
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
        assert_eq!(http(srv.addr, "GET", "/", &[]).0, 200);
        assert_eq!(srv.terminate().code(), Some(0));
        assert!(srv.seen.iter().all(|v| v["pod"] == "hello-abc"));
    }
}

/// One access line per request with every field issue 2 lists; the request id is taken from
/// `x-request-id` or generated, and echoed in the response either way.
#[test]
fn access_log_fields() {
    let mut srv = Server::start(&[]);
    let (status, head, body) = http(
        srv.addr,
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
        let (status, head, _) = http(srv.addr, "HEAD", "/health/live", &h);
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
    let mut srv = Server::start(&[]);
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
        let answer = raw(srv.addr, r);
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
    for v in &srv.seen {
        assert!(v.get("forged").is_none(), "forged field: {v}");
        assert_ne!(v["level"], "CRITICAL", "{v}");
    }
    assert_eq!(srv.seen.last().unwrap()["event"], "drained");
}

/// `ACCESS_LOG=false` removes the access lines and keeps the tutorial's application lines.
#[test]
fn access_log_false_keeps_application_lines() {
    let mut srv = Server::start(&[("ACCESS_LOG", "false")]);
    for _ in 0..3 {
        assert_eq!(http(srv.addr, "GET", "/", &[]).0, 200);
    }
    let (_, head, _) = http(srv.addr, "GET", "/health/live", &[]);
    assert!(
        !head.contains("x-request-id"),
        "no generated id without an access log"
    );
    assert_eq!(srv.terminate().code(), Some(0));
    assert!(srv.of_logger("access").is_empty(), "{:#?}", srv.seen);
    let hello = srv
        .seen
        .iter()
        .filter(|v| v["message"] == "Hello World requested")
        .count();
    assert_eq!(hello, 3);
}

/// `LOG_LEVEL=warning` (any case) removes every INFO line, the tutorial's and the access log's.
#[test]
fn log_level_warning_removes_info_lines() {
    let port = free_port().to_string();
    let mut child = Reap(
        command(
            &[],
            &[
                ("HOST", "127.0.0.1"),
                ("PORT", &port),
                ("LOG_LEVEL", "WARNING"),
            ],
        )
        .spawn()
        .unwrap(),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // No `listening` line at this level: wait for the port instead.
    let t0 = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        thread::sleep(Duration::from_millis(10));
    }
    for target in ["/", "/slow?seconds=0", "/nope"] {
        http(addr, "GET", target, &[]);
    }
    http(addr, "POST", "/admin/toggle-ready", &[]);
    sigterm(&child.0);
    let status = wait_exit(&mut child.0, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let mut out = Vec::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v = parse_line(line);
        assert_ne!(v["level"], "INFO", "{v}");
        assert_ne!(v["level"], "DEBUG", "{v}");
    }
}

/// The tutorial's application lines: toggle-ready and /slow. A huge `seconds` is capped at 60
/// (seen in the log line; the request is then abandoned rather than waited for).
#[test]
fn tutorial_lines_for_toggle_and_slow() {
    let mut srv = Server::start(&[]);
    assert_eq!(http(srv.addr, "POST", "/admin/toggle-ready", &[]).0, 200);
    srv.wait_for("not ready", |v| {
        v["message"] == "Readiness toggled: not ready"
    });
    assert_eq!(http(srv.addr, "POST", "/admin/toggle-ready", &[]).0, 200);
    srv.wait_for("ready", |v| v["message"] == "Readiness toggled: ready");

    let (status, _, body) = http(srv.addr, "GET", "/slow?seconds=0", &[]);
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

    let mut s = TcpStream::connect(srv.addr).unwrap();
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
    assert_eq!(http(srv.addr, "GET", "/health/live", &[]).0, 200);
}

/// With ADMIN_TOKEN set, the token appears in no log line (nor on stderr), whatever requests
/// carry it or guess at it.
#[test]
fn admin_token_never_logged() {
    let token = "tok-9f8e7d6c5b4a";
    let mut srv = Server::start(&[("ADMIN_TOKEN", token)]);
    let bearer = format!("Bearer {token}");
    let wrong = format!("Bearer {token}0");
    assert_eq!(http(srv.addr, "POST", "/admin/toggle-ready", &[]).0, 401);
    assert_eq!(
        http(
            srv.addr,
            "POST",
            "/admin/toggle-ready",
            &[("Authorization", &wrong)]
        )
        .0,
        401
    );
    assert_eq!(
        http(
            srv.addr,
            "POST",
            "/admin/toggle-ready",
            &[("Authorization", &bearer)]
        )
        .0,
        200
    );
    srv.wait_for("toggled", |v| {
        v["message"] == "Readiness toggled: not ready"
    });
    assert_eq!(srv.terminate().code(), Some(0));
    let mut stderr = String::new();
    srv.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    for v in &srv.seen {
        assert!(!v.to_string().contains(token), "token in {v}");
    }
    assert!(!stderr.contains(token));
    assert_eq!(srv.of_logger("access").len(), 3);
}

/// Nothing logged before a clean exit is lost: every request's access line is there even when
/// SIGTERM follows at once, and `drained` is the last line.
#[test]
fn clean_exit_loses_no_line() {
    let mut srv = Server::start(&[]);
    let n = 300;
    let mut s = TcpStream::connect(srv.addr).unwrap();
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
        srv.seen.last().unwrap()["event"],
        "drained",
        "the last line"
    );
}

/// The logging policy under a blocked stdout: requests keep being answered promptly; the lines
/// that do not fit the bounded buffer are dropped, counted in `log_lines_dropped_total` and
/// reported by a `log_lines_dropped` warning once stdout moves again; the exit is still clean.
#[test]
fn blocked_stdout_drops_and_counts_lines_but_never_stalls_requests() {
    let mut child = Reap(
        command(&[], &[("HOST", "127.0.0.1"), ("PORT", "0")])
            .spawn()
            .unwrap(),
    );
    let mut stdout: BufReader<ChildStdout> = BufReader::new(child.0.stdout.take().unwrap());
    // Read only up to the listening line, then stop reading: the pipe (64 KiB) fills, the
    // writer thread blocks in write(2), and the logger's 4 MiB buffer fills behind it.
    let addr: SocketAddr = {
        let mut line = Vec::new();
        loop {
            line.clear();
            assert!(
                stdout.read_until(b'\n', &mut line).unwrap() > 0,
                "stdout closed"
            );
            let v = parse_line(&line[..line.len() - 1]);
            if v["event"] == "listening" {
                break v["addr"].as_str().unwrap().parse().unwrap();
            }
        }
    };
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
    let lines = read_lines(stdout);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let report = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let v = lines
            .recv_timeout(left)
            .expect("a log_lines_dropped report");
        let hit = v["event"] == "log_lines_dropped";
        seen.push(v.clone());
        if hit {
            break v;
        }
    };
    assert_eq!(report["level"], "WARNING");
    let reported = report["dropped"].as_u64().unwrap();
    // The scrape's own access line may be dropped after it rendered the counter.
    assert!(
        reported > 0 && reported as f64 <= dropped + 1.0,
        "{reported} vs {dropped}"
    );
    sigterm(&child.0);
    loop {
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(v) => seen.push(v),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("stdout still open 10 s after SIGTERM"),
        }
    }
    assert_eq!(
        wait_exit(&mut child.0, Duration::from_secs(5)).code(),
        Some(0)
    );
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
        let port = free_port().to_string();
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--kill-child", BIN])
            .env_clear()
            .envs([("HOST", "127.0.0.1"), ("PORT", port.as_str())])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let guard = Reap(c.spawn().unwrap_or_else(|e| {
            panic!("this test needs `unshare` (apt-get install util-linux): {e}")
        }));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let t0 = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the server under `unshare --pid` did not start (is unsharing allowed here?)"
            );
            thread::sleep(Duration::from_millis(10));
        }
        let (_, head, _) = http(addr, "GET", "/health/live", &[]);
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .expect("a generated id")
            .to_owned();
        ids.push(id);
        // `unshare` leaves SIGTERM to its child; Reap's SIGKILL ends both (--kill-child).
        drop(guard);
    }
    assert_ne!(
        ids[0], ids[1],
        "two PID-1 replicas generated the same request id"
    );
}
