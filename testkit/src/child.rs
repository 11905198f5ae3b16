//! The binary as a child process with its stdout captured line by line (timestamped), signals,
//! exit waits: the harness of the drain scenarios (`tests/suite/drain.rs`) and the config-error
//! checks that need a half-started server. The binary's path is passed in by the caller
//! (`env!("CARGO_BIN_EXE_hello-world")` is only set for the package's own test targets).
//!
//! Every wait here is bounded: a server that hangs makes the test fail with a message, it never
//! hangs the test run. A [`Server`] that is dropped while its process still runs SIGKILLs it,
//! so a failed assertion leaves no stray process behind.
//!
//! Signals are sent with the `kill` utility (`/usr/bin/kill`, procps/util-linux) rather than a
//! dev-dependency such as `nix`: no `unsafe`, no extra crate, and it is the same path an
//! operator's `kill -TERM` takes. Spawning it costs ~1–3 ms, which only makes the timing
//! bounds below stricter (times are measured from *before* `kill` runs).

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long to wait for the `listening` event after spawning.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// One stdout line with the (monotonic) time the test read it.
#[derive(Clone, Debug)]
pub struct Line {
    pub at: Instant,
    pub text: String,
    /// False for a last fragment that did not end in a newline (the process exited in the
    /// middle of writing it).
    pub complete: bool,
}

#[derive(Default)]
struct Captured {
    lines: Vec<Line>,
    eof: bool,
}

/// The captured stdout of the child, filled by a reader thread.
#[derive(Clone, Default)]
pub struct Stdout(Arc<(Mutex<Captured>, Condvar)>);

impl Stdout {
    /// Reads `out` line by line. With `pause_after_listening`, stops reading after the
    /// `listening` event (keeping the pipe open, so it fills up) until `resume` fires.
    fn spawn_reader(
        &self,
        out: ChildStdout,
        pause_after_listening: bool,
        close_after_listening: bool,
        resume: mpsc::Receiver<()>,
    ) {
        let me = self.clone();
        thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut paused = !pause_after_listening;
            loop {
                let mut buf = Vec::new();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let complete = buf.last() == Some(&b'\n');
                let text = String::from_utf8_lossy(&buf)
                    .trim_end_matches('\n')
                    .to_owned();
                let listening = !paused && text.contains("\"listening\"");
                me.push(Line {
                    at: Instant::now(),
                    text,
                    complete,
                });
                if close_after_listening && text_is_listening(&me) {
                    break; // drops the read end: the child's writes now fail with EPIPE
                }
                if listening {
                    paused = true;
                    // Blocks until resumed or the Server is dropped (the sender goes away).
                    let _ = resume.recv();
                }
            }
            let (m, cv) = &*me.0;
            m.lock().unwrap().eof = true;
            cv.notify_all();
        });
    }

    fn push(&self, line: Line) {
        let (m, cv) = &*self.0;
        m.lock().unwrap().lines.push(line);
        cv.notify_all();
    }

    pub fn lines(&self) -> Vec<Line> {
        self.0 .0.lock().unwrap().lines.clone()
    }

    /// Waits until a line satisfies `pred`; `None` on timeout or EOF without a match.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Line) -> bool) -> Option<Line> {
        let end = Instant::now() + timeout;
        let (m, cv) = &*self.0;
        let mut g = m.lock().unwrap();
        loop {
            if let Some(l) = g.lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if g.eof || now >= end {
                return None;
            }
            g = cv.wait_timeout(g, end - now).unwrap().0;
        }
    }

    /// Waits for EOF on the child's stdout (all lines read); false on timeout.
    pub fn wait_eof(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let (m, cv) = &*self.0;
        let mut g = m.lock().unwrap();
        while !g.eof {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            g = cv.wait_timeout(g, end - now).unwrap().0;
        }
        true
    }
}

/// Whether the last captured line is the `listening` event.
fn text_is_listening(out: &Stdout) -> bool {
    out.0
         .0
        .lock()
        .unwrap()
        .lines
        .last()
        .is_some_and(|l| event_of(&l.text).as_deref() == Some("listening"))
}

/// Parses a log line; panics with the line if it is not one JSON object.
pub fn json(line: &str) -> Value {
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
    assert!(v.is_object(), "stdout line is not a JSON object: {line:?}");
    v
}

/// The `event` field of a JSON log line, if any.
pub fn event_of(line: &str) -> Option<String> {
    serde_json::from_str::<Value>(line)
        .ok()?
        .get("event")?
        .as_str()
        .map(str::to_owned)
}

/// Options for [`Server::start`].
#[derive(Default)]
pub struct Opts<'a> {
    pub env: &'a [(&'a str, &'a str)],
    /// Stop reading stdout after `listening` (S16: a full stdout pipe).
    pub pause_stdout: bool,
    /// Close the read end of stdout after `listening` (a log collector that went away).
    pub close_stdout: bool,
    /// Send this signal this long after exec, before waiting for `listening` (S1).
    pub early_signal: Option<(&'a str, Duration)>,
    /// Prefix the command (e.g. `unshare --pid --fork`); the binary is appended.
    pub wrapper: &'a [&'a str],
    /// Do not wait for `listening` (a start expected to fail, or a signal before listening).
    pub no_wait: bool,
}

/// A running `hello-world serve`.
pub struct Server {
    pub child: Child,
    pub stdout: Stdout,
    /// The bound address from the `listening` event (None for a start that failed or was
    /// signalled before listening).
    pub addr: Option<SocketAddr>,
    pub spawned_at: Instant,
    /// With `early_signal`: the child's CPU time when the signal was sent.
    pub early_cpu: Option<Duration>,
    resume: Option<mpsc::Sender<()>>,
    exit: Option<(ExitStatus, Instant)>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

/// The environment every test server gets: an ephemeral port on loopback, info logs.
fn base_env(cmd: &mut Command) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_LEVEL", "info")
        .env("POD_NAME", "drain-test");
    // Lets a developer run the whole suite against another runtime flavour
    // (DRAIN_TEST_WORKERS=1: the current-thread runtime a 1-CPU pod gets).
    if let Some(w) = std::env::var_os("DRAIN_TEST_WORKERS") {
        cmd.env("WORKERS", w);
    }
}

impl Server {
    /// Spawns `bin` with `env` on top of the base environment and waits for `listening`.
    pub fn spawn(bin: &str, env: &[(&str, &str)]) -> Server {
        Server::start(
            bin,
            Opts {
                env,
                ..Opts::default()
            },
        )
    }

    /// Spawns `bin` as `opts` say (wrapper, stdout behaviour, early signal, waiting or not).
    pub fn start(bin: &str, opts: Opts<'_>) -> Server {
        let mut argv: Vec<&str> = opts.wrapper.to_vec();
        argv.push(bin);
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        base_env(&mut cmd);
        for (k, v) in opts.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the hello-world binary");
        let spawned_at = Instant::now();
        let mut early_cpu = None;
        if let Some((sig, after)) = opts.early_signal {
            early_cpu = Some(wait_run_time(child.id(), spawned_at, after));
            send(child.id(), sig);
        }
        let stdout = Stdout::default();
        let (tx, rx) = mpsc::channel();
        stdout.spawn_reader(
            child.stdout.take().unwrap(),
            opts.pause_stdout,
            opts.close_stdout,
            rx,
        );
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let mut e = child.stderr.take().unwrap();
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = e.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let mut s = Server {
            child,
            stdout,
            addr: None,
            spawned_at,
            early_cpu,
            resume: Some(tx),
            exit: None,
            stderr,
        };
        if !(opts.no_wait || opts.early_signal.is_some()) {
            s.wait_listening();
        }
        s
    }

    /// Waits for the `listening` event and records the address.
    pub fn wait_listening(&mut self) -> SocketAddr {
        let Some(l) = self.stdout.wait_for(START_TIMEOUT, |l| {
            event_of(&l.text).as_deref() == Some("listening")
        }) else {
            panic!(
                "no `listening` event within {START_TIMEOUT:?}; stdout: {:?}; stderr: {}",
                self.stdout.lines(),
                self.stderr()
            );
        };
        let v = json(&l.text);
        let addr = v["addr"].as_str().expect("listening has addr");
        let addr = addr.parse().expect("addr is a socket address");
        self.addr = Some(addr);
        addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("server is listening")
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Sends `sig` ("TERM", "INT", ...) to the child; returns the instant just before sending.
    pub fn signal(&self, sig: &str) -> Instant {
        let t = Instant::now();
        send(self.pid(), sig);
        t
    }

    /// Lets the stdout reader continue after `pause_stdout`.
    pub fn resume_stdout(&mut self) {
        if let Some(tx) = self.resume.take() {
            let _ = tx.send(());
        }
    }

    /// Waits (bounded) for the process to exit; returns its status and when it was seen gone
    /// (polled every millisecond). Panics on timeout (and SIGKILLs the child on drop).
    pub fn wait_exit(&mut self, timeout: Duration) -> (ExitStatus, Instant) {
        if let Some(e) = self.exit {
            return e;
        }
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                let e = (st, Instant::now());
                self.exit = Some(e);
                return e;
            }
            if Instant::now() >= end {
                panic!(
                    "the server did not exit within {timeout:?} (it would need SIGKILL); \
                     stdout so far: {:#?}",
                    self.stdout
                        .lines()
                        .iter()
                        .map(|l| &l.text)
                        .collect::<Vec<_>>()
                );
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Every stdout line, asserted to be a JSON object (after the process exited and stdout
    /// reached EOF).
    pub fn json_lines(&mut self) -> Vec<Value> {
        self.resume_stdout();
        assert!(
            self.stdout.wait_eof(Duration::from_secs(5)),
            "stdout did not reach EOF"
        );
        let lines = self.stdout.lines();
        if let Some(l) = lines.iter().find(|l| !l.complete) {
            panic!("stdout ends with a line cut short: {:?}", l.text);
        }
        lines.iter().map(|l| json(&l.text)).collect()
    }

    /// Like [`Server::json_lines`], but tolerates a last line cut short (a process that exits
    /// while its stdout pipe is full cannot finish writing it).
    pub fn complete_json_lines(&mut self) -> Vec<Value> {
        self.resume_stdout();
        assert!(
            self.stdout.wait_eof(Duration::from_secs(5)),
            "stdout did not reach EOF"
        );
        let lines = self.stdout.lines();
        let n = lines.len();
        for (i, l) in lines.iter().enumerate() {
            assert!(
                l.complete || i + 1 == n,
                "a line cut short mid-stream: {:?}",
                l.text
            );
        }
        lines
            .iter()
            .filter(|l| l.complete)
            .map(|l| json(&l.text))
            .collect()
    }

    /// The JSON line of the first `event` of that name, waiting up to `timeout`.
    pub fn event(&self, name: &str, timeout: Duration) -> Option<(Value, Instant)> {
        self.stdout
            .wait_for(timeout, |l| event_of(&l.text).as_deref() == Some(name))
            .map(|l| (json(&l.text), l.at))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.resume_stdout();
        if self.exit.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `after` has passed since exec *in the child's own time*: at least `after` of
/// wall-clock time since `exec_at`, and either `after / 5` of CPU time since this call began
/// or the child asleep (it finished its start-up work). On an idle machine that is just
/// `after`; on a loaded shared one the child may not have been scheduled at all 5 ms after
/// exec, and a signal then tests the scheduler, not the binary. Bounded by 2 s. Returns the
/// child's CPU time in that window (from /proc/PID/schedstat).
pub fn wait_run_time(pid: u32, exec_at: Instant, after: Duration) -> Duration {
    let cpu = || {
        let sched = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap_or_default();
        Duration::from_nanos(
            sched
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        )
    };
    let base = cpu();
    loop {
        let ran = cpu().saturating_sub(base);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|r| r.chars().next());
        let wall = exec_at.elapsed();
        if (wall >= after && (ran >= after / 5 || state == Some('S')))
            || wall > Duration::from_secs(2)
        {
            return ran;
        }
        thread::sleep(Duration::from_micros(100));
    }
}

/// `kill -s SIG PID`.
pub fn send(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .expect("run kill(1)");
    assert!(st.success(), "kill -s {sig} {pid} failed: {st}");
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: exact control over what is on the wire and when.
// ---------------------------------------------------------------------------------------------

/// Read timeout of test sockets: the upper bound of any single wait on a socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Writes `METHOD path HTTP/1.1` with a Host header (keep-alive: HTTP/1.1's default).
pub fn send_request(s: &mut TcpStream, method: &str, path: &str) {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nUser-Agent: drain-test\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("write request");
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads one response (head + `content-length` body). `Err` if the connection ends first,
/// with the bytes received so far in the message.
pub fn read_response(s: &mut TcpStream) -> io::Result<Response> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = match s.read(&mut byte) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            r => r?,
        };
        match n {
            0 => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("EOF after {:?}", String::from_utf8_lossy(&buf)),
                ))
            }
            _ => buf.push(byte[0]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().expect("content-length"));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// One request on a fresh connection; returns the response and the connection.
pub fn get(addr: SocketAddr, path: &str) -> (Response, TcpStream) {
    let mut s = connect(addr);
    send_request(&mut s, "GET", path);
    let r = read_response(&mut s).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r, s)
}

/// Waits until the peer closes the connection (EOF or reset) and returns when that was seen.
/// Fails if data arrives instead, or nothing happens within `timeout`.
pub fn expect_closed(s: &mut TcpStream, timeout: Duration) -> Instant {
    let end = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Instant::now(),
            Ok(n) => panic!(
                "expected the connection to close, got {n} bytes: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Instant::now(),
            // A signal delivered to the test process; not an answer from the server.
            Err(e) if e.kind() == ErrorKind::Interrupted && Instant::now() < end => continue,
            Err(e) => panic!("expected the connection to close within {timeout:?}: {e}"),
        }
    }
}

/// Milliseconds between two instants, for messages.
pub fn ms(from: Instant, to: Instant) -> u128 {
    to.saturating_duration_since(from).as_millis()
}
