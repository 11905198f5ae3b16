//! The child's stdout, read line by line by a thread: each line is timestamped when read and
//! checked at once ([`crate::logline::check_line`]); waiters block on a condition variable.
//! The reader can pause after `listening` (a log collector that stops reading: the pipe fills)
//! or close the pipe (one that went away: the child's writes fail with EPIPE).

use std::io::{BufRead, BufReader, Read};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::logline::check_line;

/// One stdout line with the (monotonic) time the test read it.
#[derive(Clone, Debug)]
pub struct Line {
    pub at: Instant,
    pub text: String,
    /// False for a last fragment that did not end in a newline (the process exited in the
    /// middle of writing it).
    pub complete: bool,
    /// The checked record, or why the line is not one (a fragment is never one).
    pub record: Result<Value, String>,
}

impl Line {
    /// The record; a malformed line fails the test.
    pub fn value(&self) -> &Value {
        match &self.record {
            Ok(v) => v,
            Err(why) => panic!("malformed log line: {why}"),
        }
    }

    fn is_event(&self, name: &str) -> bool {
        self.record.as_ref().is_ok_and(|v| v["event"] == name)
    }
}

/// What the reader does once it has read the `listening` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AfterListening {
    #[default]
    Read,
    /// Stop reading (keeping the pipe open, so it fills up) until resumed.
    Pause,
    /// Drop the read end.
    Close,
}

#[derive(Default)]
struct Captured {
    lines: Vec<Line>,
    /// Lines read in all, and those that were not a record (kept or not).
    total: u64,
    invalid: u64,
    eof: bool,
}

/// The captured stdout, shared with the reader thread.
#[derive(Clone, Default)]
pub struct Stdout(Arc<(Mutex<Captured>, Condvar)>);

impl Stdout {
    /// Starts the reader; keeps about the last `keep` lines (a soak writes millions, each is
    /// still checked and counted). The returned sender resumes a paused reader.
    pub(crate) fn read(
        &self,
        out: impl Read + Send + 'static,
        after: AfterListening,
        keep: usize,
    ) -> mpsc::Sender<()> {
        let (resume_tx, resume) = mpsc::channel::<()>();
        let me = self.clone();
        thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut seen_listening = false;
            loop {
                let mut buf = Vec::new();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let at = Instant::now();
                let complete = buf.last() == Some(&b'\n');
                let record = if complete {
                    check_line(&buf[..buf.len() - 1])
                } else {
                    Err(format!("cut short: {:?}", String::from_utf8_lossy(&buf)))
                };
                let text = String::from_utf8_lossy(&buf)
                    .trim_end_matches('\n')
                    .to_owned();
                let line = Line {
                    at,
                    text,
                    complete,
                    record,
                };
                let listening = !seen_listening && line.is_event("listening");
                seen_listening |= listening;
                me.push(line, keep);
                match (listening, after) {
                    (true, AfterListening::Close) => break,
                    // Blocks until resumed or the Server is dropped (the sender goes away).
                    (true, AfterListening::Pause) => drop(resume.recv()),
                    _ => {}
                }
            }
            let (m, cv) = &*me.0;
            m.lock().unwrap().eof = true;
            cv.notify_all();
        });
        resume_tx
    }

    fn push(&self, line: Line, keep: usize) {
        let (m, cv) = &*self.0;
        let mut g = m.lock().unwrap();
        g.total += 1;
        g.invalid += u64::from(line.record.is_err() && line.complete);
        if g.lines.len() >= keep {
            let half = (g.lines.len() / 2).max(1);
            g.lines.drain(..half);
        }
        g.lines.push(line);
        cv.notify_all();
    }

    /// The lines kept so far.
    pub fn lines(&self) -> Vec<Line> {
        self.0 .0.lock().unwrap().lines.clone()
    }

    /// (lines read, complete lines that were not a log record).
    pub fn counts(&self) -> (u64, u64) {
        let g = self.0 .0.lock().unwrap();
        (g.total, g.invalid)
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

    /// The first line that is the event `name`.
    pub fn event(&self, name: &str, timeout: Duration) -> Option<Line> {
        self.wait_for(timeout, |l| l.is_event(name))
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

/// A pipe (stderr, or the whole stdout of a short run) collected by a thread.
pub struct Collected {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Collected {
    /// What has arrived so far.
    pub fn now(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    /// Everything, once the writer closed the pipe.
    pub fn wait(&self) -> Vec<u8> {
        if let Some(h) = self.done.lock().unwrap().take() {
            let _ = h.join();
        }
        self.now()
    }
}

pub(crate) fn collect(mut from: impl Read + Send + 'static) -> Collected {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let to = Arc::clone(&bytes);
    let done = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            to.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    Collected {
        bytes,
        done: Mutex::new(Some(done)),
    }
}
