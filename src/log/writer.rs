//! The batching writer: one shared buffer that request threads format their lines into, and
//! one thread that writes it to stdout in batches of about [`FLUSH_AT`] bytes.
//!
//! # Who writes, and when
//! A request thread takes the buffer's lock, formats its line straight into the buffer (no
//! per-line copy or allocation: the buffer keeps its capacity) and lets go. The writer thread
//! sleeps on a condition variable in one of three named states ([`State`]) and is woken at most
//! once per batch: when the buffer crosses [`FLUSH_AT`] (a busy server: one `write(2)` of
//! ~256 KiB per ~600 requests with the access log on), or when [`FLUSH_INTERVAL`] has passed
//! since it last wrote and
//! something is waiting (a quiet server). An idle logger sleeps without a timeout; the first
//! line wakes it. So the writer never polls: on a one-CPU pod its only claim on the CPU is the
//! write itself, the same work a logger writing from the request thread would do.
//!
//! # A blocked stdout
//! If stdout blocks (a full pipe, a stalled log collector), the writer blocks in `write(2)`,
//! and the buffer grows up to [`MAX_BUFFERED`]; past that, new lines are **dropped and
//! counted** rather than stalling requests. The count is reported in a `log_lines_dropped` line
//! as soon as the writer gets going again, and as [`dropped_total`].
//!
//! # A clean exit
//! [`Batcher::flush`] waits (bounded) until the batch holding every line logged before the call
//! is written: nothing logged before the drain's last line is lost, and a dead stdout still
//! cannot hold the process past its drain deadline.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::record::{write_record, Scratch};
use super::value::{Level, Value};

/// A batch this large is written at once. Each batch costs the request thread a wake-up of
/// the writer and, on a one-CPU pod, two context switches; measured with both builds on one
/// CPU at once (docs/logging.md), 256 KiB instead of 64 KiB gave 2.5% more requests with
/// the access log on and 2.4% with it off; 128 KiB about half of that, 512 KiB nothing
/// measurable beyond. The price is resident memory: the two buffers' touched pages.
pub const FLUSH_AT: usize = 256 * 1024;
/// The longest a line waits on a quiet server. 20 ms keeps `kubectl logs -f` looking live, and
/// bounds the timer's wake-ups to 50 a second; a busy server reaches [`FLUSH_AT`] first (at
/// 100k requests/s with the access log on, in about 6 ms), so there the timer never fires.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// Upper bound of buffered, unwritten log bytes; lines beyond it are dropped and counted.
pub const MAX_BUFFERED: usize = 4 * 1024 * 1024;

static DROPPED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// Lines dropped because stdout could not keep up, since start.
pub fn dropped_total() -> u64 {
    DROPPED_TOTAL.load(Ordering::Relaxed)
}

/// What the writer thread is doing, so that a request thread wakes it only when it matters.
#[derive(Clone, Copy, PartialEq, Debug)]
enum State {
    /// Waiting without a timeout on an empty buffer: the next line wakes it.
    Idle,
    /// Waiting until [`FLUSH_AT`] bytes or the end of the interval: only the line that crosses
    /// [`FLUSH_AT`] wakes it.
    Batching,
    /// In `write(2)`; looks at the buffer again when done. Nobody wakes it.
    Writing,
}

/// The shared buffer and its writer's bookkeeping.
pub struct Pending {
    buf: String,
    /// The formatter's memory between lines (under the same lock as the buffer).
    scratch: Scratch,
    /// Lines refused since the last report because the buffer was full.
    dropped_unreported: u64,
    /// Batches the writer has taken, and of those, written: [`Batcher::flush`] waits on them.
    taken: u64,
    written: u64,
    /// A flush is waiting: write what is there without waiting for the batch to fill.
    flush_wanted: bool,
    flush_waiters: u32,
    state: State,
}

pub struct Batcher {
    pending: Mutex<Pending>,
    /// The writer waits here.
    wake: Condvar,
    /// [`Batcher::flush`] waits here.
    done: Condvar,
}

impl Batcher {
    pub fn new() -> Batcher {
        Batcher {
            pending: Mutex::new(Pending {
                buf: String::with_capacity(2 * FLUSH_AT),
                scratch: Scratch::default(),
                dropped_unreported: 0,
                taken: 0,
                written: 0,
                flush_wanted: false,
                flush_waiters: 0,
                state: State::Batching,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Formatting does not panic; if it ever did, the lines so far are still worth writing.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one line, formatted by `format` into the buffer, unless the buffer is full.
    /// Never waits for stdout.
    pub fn append(&self, format: impl FnOnce(&mut String, &mut Scratch)) {
        let mut p = self.lock();
        let before = p.buf.len();
        if before >= MAX_BUFFERED {
            p.dropped_unreported += 1;
            DROPPED_TOTAL.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Pending { buf, scratch, .. } = &mut *p;
        format(buf, scratch);
        let wake = match p.state {
            State::Idle => before == 0,
            State::Batching => before < FLUSH_AT && p.buf.len() >= FLUSH_AT,
            State::Writing => false,
        };
        drop(p);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Waits until every line appended before the call is written, or `timeout` passes.
    /// Returns whether it was.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut p = self.lock();
        // Lines still in the buffer go out with the next batch taken; if the buffer is empty,
        // the batch being written (if any) is the last one holding them.
        let target = if p.buf.is_empty() && p.dropped_unreported == 0 {
            p.taken
        } else {
            p.flush_wanted = true;
            self.wake.notify_one();
            p.taken + 1
        };
        p.flush_waiters += 1;
        let ok = loop {
            if p.written >= target {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            p = self
                .done
                .wait_timeout(p, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        p.flush_waiters -= 1;
        ok
    }

    /// Sleeps until there is a batch to write (see the module's documentation).
    fn next_batch<'a>(&'a self, mut p: MutexGuard<'a, Pending>) -> MutexGuard<'a, Pending> {
        p.state = State::Batching;
        let mut deadline = Instant::now() + FLUSH_INTERVAL;
        loop {
            if p.flush_wanted || p.dropped_unreported > 0 || p.buf.len() >= FLUSH_AT {
                return p;
            }
            let now = Instant::now();
            if now < deadline {
                p = self
                    .wake
                    .wait_timeout(p, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            } else if !p.buf.is_empty() {
                return p;
            } else {
                p.state = State::Idle;
                p = self.wake.wait(p).unwrap_or_else(|e| e.into_inner());
                p.state = State::Batching;
                deadline = Instant::now() + FLUSH_INTERVAL;
            }
        }
    }

    /// The writer thread's loop: batches to `sink`, forever. `pod` names the process in the
    /// `log_lines_dropped` report.
    pub fn run(&self, pod: &str, mut sink: impl Write) -> ! {
        let mut out = String::with_capacity(2 * FLUSH_AT);
        let mut p = self.lock();
        loop {
            p = self.next_batch(p);
            std::mem::swap(&mut p.buf, &mut out);
            let dropped = std::mem::take(&mut p.dropped_unreported);
            p.taken += 1;
            p.flush_wanted = false;
            p.state = State::Writing;
            drop(p);
            if dropped > 0 {
                write_record(
                    &mut out,
                    SystemTime::now(),
                    Level::Warning,
                    "log",
                    pod,
                    "log lines dropped: stdout could not keep up",
                    &[
                        ("event", Value::Str("log_lines_dropped")),
                        ("dropped", Value::U64(dropped)),
                    ],
                );
            }
            // A closed stdout (EPIPE) leaves nothing to report to; the lines are gone either way.
            let _ = sink.write_all(out.as_bytes()).and_then(|()| sink.flush());
            out.clear();
            // After a blocked spell the batch may have grown to MAX_BUFFERED: give that back.
            if out.capacity() > 4 * FLUSH_AT {
                out.shrink_to(2 * FLUSH_AT);
            }
            p = self.lock();
            p.written = p.taken;
            if p.flush_waiters > 0 {
                self.done.notify_all();
            }
        }
    }
}

impl Default for Batcher {
    fn default() -> Self {
        Batcher::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc};

    /// What a [`Sink`] has received, and whether it is open.
    type Received = Mutex<(Vec<u8>, bool)>;

    /// A sink the test can read, and hold shut: while `open` is false, `write` blocks.
    #[derive(Clone, Default)]
    struct Sink(Arc<(Received, Condvar)>);

    impl Sink {
        fn open(&self, open: bool) {
            self.0 .0.lock().unwrap().1 = open;
            self.0 .1.notify_all();
        }
        fn text(&self) -> String {
            String::from_utf8(self.0 .0.lock().unwrap().0.clone()).unwrap()
        }
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let mut g = self.0 .0.lock().unwrap();
            while !g.1 {
                g = self.0 .1.wait(g).unwrap();
            }
            g.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn started(open: bool) -> (&'static Batcher, Sink) {
        let b: &'static Batcher = Box::leak(Box::default());
        let sink = Sink::default();
        sink.open(open);
        let s = sink.clone();
        std::thread::spawn(move || b.run("p", s));
        (b, sink)
    }

    fn line(b: &Batcher, n: usize) {
        b.append(|out, _| {
            out.push_str(&n.to_string());
            out.push('\n');
        });
    }

    /// Many batches' worth of lines come out whole, in order, and `flush` returns only when
    /// the last is written.
    #[test]
    fn every_line_comes_out_in_order_and_flush_waits_for_it() {
        let (b, sink) = started(true);
        let n = 200_000; // ~1.3 MB: several FLUSH_AT batches and a partial one
        let mut want = String::new();
        for i in 0..n {
            line(b, i);
            want.push_str(&format!("{i}\n"));
        }
        assert!(b.flush(Duration::from_secs(10)));
        assert_eq!(sink.text(), want);
        assert!(
            b.flush(Duration::ZERO),
            "nothing left: flush returns at once"
        );
    }

    /// On a quiet logger a single line is written within about one interval, without a flush:
    /// the idle writer wakes for it.
    #[test]
    fn a_lone_line_is_written_without_a_flush() {
        let (b, sink) = started(true);
        std::thread::sleep(FLUSH_INTERVAL * 3); // the writer goes idle
        line(b, 7);
        let t = Instant::now();
        while sink.text().is_empty() {
            assert!(t.elapsed() < Duration::from_secs(5), "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sink.text(), "7\n");
    }

    /// A blocked sink: appends keep returning at once, lines past MAX_BUFFERED are dropped and
    /// counted, and once the sink moves the report says exactly how many; flush then succeeds.
    #[test]
    fn a_blocked_sink_drops_and_counts_but_never_blocks_an_append() {
        let (b, sink) = started(false);
        let total = 1_000_000; // ~6.9 MB of lines against a 4 MiB bound
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for i in 0..total {
                line(b, i);
            }
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("appends returned while the sink was blocked");
        assert!(
            !b.flush(Duration::from_millis(50)),
            "blocked: flush gives up"
        );
        sink.open(true);
        assert!(b.flush(Duration::from_secs(10)));
        let text = sink.text();
        let report = text
            .lines()
            .find(|l| l.contains("\"event\":\"log_lines_dropped\""))
            .expect("a report");
        let written = text.lines().filter(|l| !l.starts_with('{')).count();
        let dropped: usize = report
            .rsplit("\"dropped\":")
            .next()
            .and_then(|r| r.trim_end_matches('}').parse().ok())
            .expect("a count");
        assert!(dropped > 0);
        assert_eq!(written + dropped, total, "every line written or counted");
        assert!(report.contains("\"level\":\"WARNING\""));
    }
}
