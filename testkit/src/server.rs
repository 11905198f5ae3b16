//! The running [`Server`] (started by [`crate::Spawn`]): its address from the `listening`
//! event, every stdout line checked as one log record, signals by PID, bounded waits for lines
//! and for the exit. A [`Server`] that is dropped while its process still runs is SIGKILLed.
//!
//! Signals are sent with the `kill` utility rather than a dev-dependency such as `nix`: no
//! `unsafe`, and it is the path an operator's `kill -TERM` takes. Spawning it costs ~1–3 ms,
//! which only makes timing bounds stricter (times are taken *before* `kill` runs).

use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::capture::{Collected, Line, Stdout};
use crate::procfs;

/// The bound on every wait for a line (the `listening` event included).
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `hello-world` (or its wrapper).
pub struct Server {
    pub child: Child,
    pub stdout: Stdout,
    pub(crate) addr: Option<SocketAddr>,
    pub spawned_at: Instant,
    /// With [`Spawn::early_signal`]: the child's CPU time when the signal was sent.
    pub early_cpu: Option<Duration>,
    pub(crate) resume: Option<mpsc::Sender<()>>,
    pub(crate) exit: Option<(ExitStatus, Instant)>,
    pub(crate) stderr: Collected,
}

impl Server {
    /// Waits for the `listening` event and records the bound address.
    pub fn wait_listening(&mut self) -> SocketAddr {
        let l = self.stdout.event("listening", WAIT);
        let Some(l) = l else {
            panic!(
                "no `listening` event within {WAIT:?}; stdout: {:#?}; stderr: {}",
                self.texts(),
                self.stderr()
            );
        };
        let addr = l.value()["addr"].as_str().expect("listening has addr");
        let addr = addr.parse().expect("addr is a socket address");
        self.addr = Some(addr);
        addr
    }

    /// The address from the `listening` event.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the server has logged `listening`")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stderr so far; all of it once the exit has been seen.
    pub fn stderr(&self) -> String {
        let bytes = if self.exit.is_some() {
            self.stderr.wait()
        } else {
            self.stderr.now()
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Sends `sig` ("TERM", "INT", ...); returns the instant just before sending.
    pub fn signal(&self, sig: &str) -> Instant {
        let t = Instant::now();
        send(self.pid(), sig);
        t
    }

    /// Waits (≤ [`WAIT`]) for a line whose record satisfies `pred` and returns it; a malformed
    /// line before it fails the test.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let hit = self.stdout.wait_for(WAIT, |l| pred(l.value()));
        hit.map(|l| l.value().clone()).unwrap_or_else(|| {
            panic!(
                "no log line for {what} within {WAIT:?}: {:#?}",
                self.texts()
            )
        })
    }

    /// The first `event` of that name and when it was read, waiting up to `timeout`.
    pub fn event(&self, name: &str, timeout: Duration) -> Option<(Value, Instant)> {
        let l = self.stdout.event(name, timeout)?;
        Some((l.value().clone(), l.at))
    }

    /// Every record read so far; a malformed line (or one cut short) fails the test.
    pub fn seen(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .iter()
            .map(|l| l.value().clone())
            .collect()
    }

    pub fn of_logger(&self, logger: &str) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|v| v["logger"] == logger)
            .collect()
    }

    /// Complete lines that were not a log record (must stay 0), and lines read in all.
    pub fn invalid_lines(&self) -> u64 {
        self.stdout.counts().1
    }

    pub fn total_lines(&self) -> u64 {
        self.stdout.counts().0
    }

    /// The kept lines as text, for messages.
    pub fn log_text(&self) -> String {
        self.texts().join("\n")
    }

    fn texts(&self) -> Vec<String> {
        self.stdout.lines().into_iter().map(|l| l.text).collect()
    }

    /// Lets a paused stdout reader go on.
    pub fn resume_stdout(&mut self) {
        if let Some(tx) = self.resume.take() {
            let _ = tx.send(());
        }
    }

    /// The exit status and when it was seen (polled every millisecond), or `None` if the
    /// process still runs after `timeout`.
    pub fn try_wait_exit(&mut self, timeout: Duration) -> Option<(ExitStatus, Instant)> {
        let end = Instant::now() + timeout;
        while self.exit.is_none() {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                self.exit = Some((st, Instant::now()));
            } else if Instant::now() >= end {
                return None;
            } else {
                thread::sleep(Duration::from_millis(1));
            }
        }
        self.exit
    }

    /// [`Server::try_wait_exit`], failing the test (and SIGKILLing on drop) on a timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> (ExitStatus, Instant) {
        self.try_wait_exit(timeout).unwrap_or_else(|| {
            panic!(
                "the server did not exit within {timeout:?} (it would need SIGKILL); \
                 stdout so far: {:#?}",
                self.texts()
            )
        })
    }

    /// SIGTERM, then the exit (≤ 10 s) and every remaining line (stdout at EOF).
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        let (st, _) = self.wait_exit(Duration::from_secs(10));
        self.drain_stdout();
        st
    }

    /// SIGTERM and a bounded wait; on a timeout SIGKILL and `None`. For reports that must
    /// go on (the soak bench), where [`Server::terminate`] would panic.
    pub fn stop(&mut self, within: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        let st = self.try_wait_exit(within).map(|(st, _)| st);
        if st.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Count every line up to the exit (what a caller checks next).
        self.resume_stdout();
        self.stdout.wait_eof(Duration::from_secs(5));
        st
    }

    fn drain_stdout(&mut self) {
        self.resume_stdout();
        assert!(
            self.stdout.wait_eof(Duration::from_secs(5)),
            "stdout did not reach EOF"
        );
    }

    /// Every stdout line, each a log record (after the exit: stdout is read to EOF).
    pub fn json_lines(&mut self) -> Vec<Value> {
        self.drain_stdout();
        self.seen()
    }

    /// Like [`Server::json_lines`], but tolerates a last line cut short (a process that exits
    /// while its stdout pipe is full cannot finish writing it).
    pub fn complete_json_lines(&mut self) -> Vec<Value> {
        self.drain_stdout();
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
            .map(|l| l.value().clone())
            .collect()
    }

    /// Resident set size in KiB and open descriptors, from /proc.
    pub fn rss_kib(&self) -> u64 {
        procfs::rss_kib(self.pid())
    }

    pub fn fds(&self) -> usize {
        procfs::fds(self.pid())
    }

    /// The lines read so far, with the time each was read.
    pub fn lines(&self) -> Vec<Line> {
        self.stdout.lines()
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

/// `kill -s SIG PID`.
pub fn send(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .expect("run kill(1)");
    assert!(st.success(), "kill -s {sig} {pid} failed: {st}");
}
