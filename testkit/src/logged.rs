//! The binary observed the way Kubernetes and a log collector see it: short-lived invocations
//! ([`run`]: exit code, stdout, stderr) and a [`Server`] whose every stdout line is checked to be
//! one log record (one JSON object with `timestamp`, `level`, `message`, `logger`, `pod`) by a
//! reader thread; a malformed line fails the test at the next receive.
//!
//! Servers run with a cleared environment plus `HOST=127.0.0.1 PORT=0`; the `listening` event
//! gives the bound address. Every wait is bounded: a hang fails the test, and [`Server`]'s
//! `Drop` kills the process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `bin` with a clean environment plus `env`, stdout and stderr piped.
pub fn command(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(bin);
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
pub fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
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
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// Runs `bin args` with a clean environment plus `env` to its exit (≤ 10 s).
pub fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let t0 = Instant::now();
    let mut child = command(bin, args, env).spawn().unwrap();
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
pub fn parse_line(raw: &[u8]) -> Value {
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
pub fn is_rfc3339_micros_utc(ts: &str) -> bool {
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
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub lines: Lines,
    /// Every line seen so far, in order.
    pub seen: Vec<Value>,
}

impl Server {
    /// Starts `bin` with `HOST=127.0.0.1 PORT=0` plus `env` and waits for it to listen.
    pub fn start(bin: &str, env: &[(&str, &str)]) -> Server {
        let mut all = vec![("HOST", "127.0.0.1"), ("PORT", "0")];
        all.extend_from_slice(env);
        Server::spawn(command(bin, &[], &all))
    }

    /// Starts `cmd` (the binary, possibly behind a wrapper that execs it) and waits for it to
    /// listen.
    pub fn spawn(mut cmd: Command) -> Server {
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
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
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
    pub fn terminate(&mut self) -> ExitStatus {
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

    pub fn of_logger(&self, logger: &str) -> Vec<&Value> {
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
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn sigterm(child: &Child) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill(1) is available");
    assert!(st.success());
}

/// Stdout lines, parsed and checked by a reader thread. A malformed line fails the test at the
/// next receive (a panic in the reader thread alone would only look like a closed stdout).
pub struct Lines(Receiver<Result<Value, String>>);

impl Lines {
    pub fn recv_timeout(&self, limit: Duration) -> Result<Value, RecvTimeoutError> {
        match self.0.recv_timeout(limit)? {
            Ok(v) => Ok(v),
            Err(bad) => panic!("malformed log line: {bad}"),
        }
    }
}

pub fn read_lines<R: BufRead + Send + 'static>(mut r: R) -> Lines {
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
pub fn http(
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

pub fn split_answer(answer: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("incomplete answer {text:?}"));
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// Sends raw bytes, reads until the server closes (bounded by a 5 s read timeout).
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

pub fn metric_value(addr: SocketAddr, name: &str) -> f64 {
    let (status, _, body) = http(addr, "GET", "/metrics", &[]);
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// A port that nothing listens on (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
