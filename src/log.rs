//! Our JSON log formatter and a batching stdout writer.
//!
//! Every line is one JSON object with the tutorial's fields — `timestamp` (RFC 3339, UTC,
//! microseconds), `level`, `message`, `logger`, `pod` — followed by event fields
//! (`event`, `elapsed_ms`, counts). The formatting core, [`write_record`], is a pure function.
//!
//! # Writer policy
//! Request handlers never write to stdout themselves: they format a line into a thread-local
//! buffer and append it to a shared in-memory buffer under a mutex. One writer thread takes the
//! whole buffer every [`FLUSH_INTERVAL`] (or sooner when it passes [`FLUSH_AT`] bytes) and writes
//! it with a single `write_all`, so a busy server pays one syscall per batch, not per line.
//!
//! If stdout blocks (a full pipe, a stalled log collector) the shared buffer grows up to
//! [`MAX_BUFFERED`]; past that, new lines are **dropped and counted** rather than stalling
//! requests. The count is reported in a `log_lines_dropped` line as soon as the writer catches up
//! and as the `log_lines_dropped_total` metric. [`flush`] waits a bounded time for the writer, so
//! a clean exit keeps every line (the drain's last line included) while a dead stdout can never
//! hold the process past its drain deadline.

use std::cell::RefCell;
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::json;

/// How often the writer thread wakes up to write what has accumulated.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// A batch this large is written without waiting for the interval.
pub const FLUSH_AT: usize = 64 * 1024;
/// Upper bound of buffered, unwritten log bytes; lines beyond it are dropped and counted.
pub const MAX_BUFFERED: usize = 4 * 1024 * 1024;

/// Log severity, ordered so that `level >= threshold` means "emit".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    /// The spelling in the `level` field (Python logging's level names, as the tutorial prints).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }
}

/// Accepts the tutorial's names in any case, plus `warn`.
impl FromStr for Level {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warning" | "warn" => Ok(Level::Warning),
            "error" => Ok(Level::Error),
            "critical" => Ok(Level::Critical),
            _ => Err("one of debug, info, warning (or warn), error, critical; any case"),
        }
    }
}

/// A value of an event field.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
    U64(u64),
    F64(f64),
    /// A duration in microseconds, written as milliseconds with three decimals (`1.250`):
    /// exact, and far cheaper than float formatting on the per-request access-log path.
    Micros(u64),
    Bool(bool),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}
impl From<u64> for Value<'_> {
    fn from(v: u64) -> Self {
        Value::U64(v)
    }
}
impl From<usize> for Value<'_> {
    fn from(v: usize) -> Self {
        Value::U64(v as u64)
    }
}
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// Formats one log record as a JSON object followed by `\n`. Pure: no clock, no I/O.
pub fn write_record(
    out: &mut String,
    time: SystemTime,
    level: Level,
    logger: &str,
    pod: &str,
    message: &str,
    fields: &[(&str, Value<'_>)],
) {
    out.push_str("{\"timestamp\":\"");
    push_timestamp(out, time);
    out.push_str("\",\"level\":\"");
    out.push_str(level.as_str());
    out.push_str("\",\"message\":");
    json::push_str(out, message);
    out.push_str(",\"logger\":");
    json::push_str(out, logger);
    out.push_str(",\"pod\":");
    json::push_str(out, pod);
    for (key, value) in fields {
        json::push_key(out, key);
        match *value {
            Value::Str(s) => json::push_str(out, s),
            Value::Bytes(b) => json::push_bytes(out, b),
            Value::U64(n) => push_digits(out, n, 1),
            Value::F64(f) => json::push_f64(out, f),
            Value::Micros(us) => {
                push_digits(out, us / 1000, 1);
                out.push('.');
                push_digits(out, us % 1000, 3);
            }
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        }
    }
    out.push_str("}\n");
}

/// Writes `2026-02-26T10:00:00.000000+00:00` (the shape Python's `isoformat()` gives the
/// tutorial): UTC, microsecond precision. Times before 1970 are clamped to the epoch.
pub fn push_timestamp(out: &mut String, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    // The date and time of day change once a second, lines arrive far more often: each thread
    // keeps the last second's rendering and only writes the microseconds anew.
    let hit = SECOND.with(|c| {
        let c = c.borrow();
        if c.0 == secs && !c.1.is_empty() {
            out.push_str(&c.1);
            true
        } else {
            false
        }
    });
    if hit {
        out.push('.');
        push_digits(out, u64::from(since.subsec_micros()), 6);
        out.push_str("+00:00");
        return;
    }
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    // Digits into a fixed template, one append: every log line has a timestamp, and `fmt`'s
    // machinery was a visible share of a request's cost (benches/speed).
    let mut t = *b"0000-00-00T00:00:00.000000+00:00";
    put_digits(&mut t[0..4], y.clamp(0, 9999) as u64);
    put_digits(&mut t[5..7], u64::from(mo));
    put_digits(&mut t[8..10], u64::from(d));
    put_digits(&mut t[11..13], rem / 3600);
    put_digits(&mut t[14..16], rem % 3600 / 60);
    put_digits(&mut t[17..19], rem % 60);
    put_digits(&mut t[20..26], u64::from(since.subsec_micros()));
    let text = std::str::from_utf8(&t).expect("ASCII digits");
    out.push_str(text);
    SECOND.with(|c| {
        let mut c = c.borrow_mut();
        c.0 = secs;
        c.1.clear();
        c.1.push_str(&text[..19]);
    });
}

thread_local! {
    /// The last second [`push_timestamp`] rendered, and its `YYYY-MM-DDTHH:MM:SS` (a `String`,
    /// so a hit is one copy, without re-validating UTF-8).
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

/// Writes the low `dst.len()` decimal digits of `n` into `dst`, zero-padded.
fn put_digits(dst: &mut [u8], mut n: u64) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (at most 20).
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(buf.len() - width.min(buf.len()));
    // A few bytes: pushing them as chars beats the setup cost of a UTF-8 check.
    out.extend(buf[start..].iter().map(|&d| char::from(d)));
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); the era-based algorithm
/// published by Howard Hinnant ("chrono-Compatible Low-Level Date Algorithms").
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The process-wide logger: threshold, pod name and the shared buffer the writer drains.
struct Logger {
    level: Level,
    pod: String,
    shared: Mutex<Pending>,
    /// Wakes the writer early (buffer past [`FLUSH_AT`], or a flush request).
    wake: Condvar,
    /// Signalled by the writer after each write, for [`flush`].
    written: Condvar,
}

/// Bytes waiting for the writer, and how the writer is doing.
struct Pending {
    buf: Vec<u8>,
    /// Lines refused since the last report because the buffer was full.
    dropped_unreported: u64,
    /// Incremented by every completed write; [`flush`] waits for it to move.
    generation: u64,
    /// A write is in progress (so an empty `buf` does not yet mean "all written").
    writing: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static DROPPED_TOTAL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(256));
    static TAILS: RefCell<TailCache> = RefCell::new(TailCache::default());
}

/// Everything after the timestamp of the last field-less record a thread wrote.
///
/// Such lines mostly repeat word for word — `Hello World requested` is one per request — and
/// only their timestamp changes, so [`render`] re-uses the rendered rest instead of escaping
/// message, logger and pod again.
#[derive(Default)]
pub struct TailCache {
    level: Option<Level>,
    logger: String,
    message: String,
    pod: String,
    tail: String,
}

/// Length of `{"timestamp":"` plus the timestamp: where a record's tail begins.
const TAIL_START: usize = "{\"timestamp\":\"".len() + "2026-02-26T10:00:00.000000+00:00".len();

/// [`write_record`] through a [`TailCache`]: the same bytes, cheaper for repeated lines.
#[allow(clippy::too_many_arguments)]
pub fn render(
    cache: &mut TailCache,
    out: &mut String,
    time: SystemTime,
    level: Level,
    logger: &str,
    pod: &str,
    message: &str,
    fields: &[(&str, Value<'_>)],
) {
    let start = out.len();
    if !fields.is_empty() {
        write_record(out, time, level, logger, pod, message, fields);
        return;
    }
    if cache.level == Some(level)
        && cache.message == message
        && cache.logger == logger
        && cache.pod == pod
    {
        out.push_str("{\"timestamp\":\"");
        push_timestamp(out, time);
        out.push_str(&cache.tail);
        return;
    }
    write_record(out, time, level, logger, pod, message, fields);
    cache.level = Some(level);
    cache.logger.clear();
    cache.logger.push_str(logger);
    cache.message.clear();
    cache.message.push_str(message);
    cache.pod.clear();
    cache.pod.push_str(pod);
    cache.tail.clear();
    cache.tail.push_str(&out[start + TAIL_START..]);
}

/// Installs the logger and starts its writer thread. Later calls are ignored (tests and the
/// binary's subcommands may race to initialise; the first configuration wins).
pub fn init(level: Level, pod: &str) {
    let mut fresh = false;
    LOGGER.get_or_init(|| {
        fresh = true;
        Logger {
            level,
            pod: pod.to_owned(),
            shared: Mutex::new(Pending {
                buf: Vec::with_capacity(FLUSH_AT),
                dropped_unreported: 0,
                generation: 0,
                writing: false,
            }),
            wake: Condvar::new(),
            written: Condvar::new(),
        }
    });
    if fresh {
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(writer_loop)
            .expect("spawning the log writer thread");
    }
}

/// True when a record at `level` would be written. Lets callers skip building expensive fields.
pub fn enabled(level: Level) -> bool {
    LOGGER.get().is_some_and(|l| level >= l.level)
}

/// Lines dropped because stdout could not keep up, since start.
pub fn dropped_total() -> u64 {
    DROPPED_TOTAL.load(Ordering::Relaxed)
}

/// Formats and enqueues one record. Never blocks on stdout.
pub fn log(level: Level, logger: &str, message: &str, fields: &[(&str, Value<'_>)]) {
    emit(level, |line, now, pod| {
        TAILS.with(|tails| {
            render(
                &mut tails.borrow_mut(),
                line,
                now,
                level,
                logger,
                pod,
                message,
                fields,
            );
        });
    });
}

/// Formats and enqueues one access-log record (level INFO, logger `access`).
pub fn log_access(a: &Access<'_>) {
    emit(Level::Info, |line, now, pod| a.write(line, now, pod));
}

/// The shared part of [`log`] and [`log_access`]: level filter, the thread's line buffer, the
/// clock, the hand-over to the writer.
fn emit(level: Level, format: impl FnOnce(&mut String, SystemTime, &str)) {
    let Some(l) = LOGGER.get() else { return };
    if level < l.level {
        return;
    }
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        format(&mut line, SystemTime::now(), &l.pod);
        l.enqueue(line.as_bytes());
    });
}

/// One access-log record: what `service` knows about a finished request.
pub struct Access<'a> {
    pub method: &'a str,
    /// The request target (path and query) as received.
    pub target: &'a str,
    pub version: &'a str,
    pub status: u16,
    pub duration_us: u64,
    pub bytes: u64,
    pub remote_addr: &'a str,
    pub user_agent: &'a [u8],
    pub request_id: &'a [u8],
}

impl Access<'_> {
    /// Byte for byte what [`write_record`] writes for this record (the message
    /// `METHOD TARGET VERSION STATUS`, then the event fields), but with the keys as literals and
    /// no per-field dispatch or message allocation: with the access log on, every request comes
    /// through here. A unit test holds the two equal.
    pub fn write(&self, out: &mut String, time: SystemTime, pod: &str) {
        out.push_str("{\"timestamp\":\"");
        push_timestamp(out, time);
        out.push_str("\",\"level\":\"INFO\",\"message\":\"");
        // Escaping maps character by character, so the message may be escaped in pieces.
        json::push_escaped(out, self.method);
        out.push(' ');
        json::push_escaped(out, self.target);
        out.push(' ');
        json::push_escaped(out, self.version);
        out.push(' ');
        push_digits(out, u64::from(self.status), 1);
        out.push_str("\",\"logger\":\"access\",\"pod\":");
        json::push_str(out, pod);
        out.push_str(",\"event\":\"request\",\"method\":");
        json::push_str(out, self.method);
        out.push_str(",\"path\":");
        json::push_str(out, self.target);
        out.push_str(",\"status\":");
        push_digits(out, u64::from(self.status), 1);
        out.push_str(",\"duration_ms\":");
        push_digits(out, self.duration_us / 1000, 1);
        out.push('.');
        push_digits(out, self.duration_us % 1000, 3);
        out.push_str(",\"bytes\":");
        push_digits(out, self.bytes, 1);
        out.push_str(",\"remote_addr\":");
        json::push_str(out, self.remote_addr);
        out.push_str(",\"user_agent\":");
        json::push_bytes(out, self.user_agent);
        out.push_str(",\"request_id\":");
        json::push_bytes(out, self.request_id);
        out.push_str(",\"protocol\":");
        json::push_str(out, self.version);
        out.push_str("}\n");
    }
}

impl Logger {
    fn enqueue(&self, bytes: &[u8]) {
        let mut p = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if p.buf.len() + bytes.len() > MAX_BUFFERED {
            p.dropped_unreported += 1;
            DROPPED_TOTAL.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let before = p.buf.len();
        p.buf.extend_from_slice(bytes);
        // Wake the writer once, when the batch crosses FLUSH_AT: every notify is a futex system
        // call, and while the writer is busy or between batches the buffer stays above the
        // mark, so notifying on every line cost the request path a syscall per line.
        if before < FLUSH_AT && p.buf.len() >= FLUSH_AT {
            self.wake.notify_one();
        }
    }
}

fn writer_loop() {
    let l = LOGGER.get().expect("writer started after init");
    let mut out_buf: Vec<u8> = Vec::with_capacity(FLUSH_AT);
    let stdout = std::io::stdout();
    loop {
        let dropped;
        {
            let mut p = l.shared.lock().unwrap_or_else(|e| e.into_inner());
            if p.buf.is_empty() && p.dropped_unreported == 0 {
                p = l
                    .wake
                    .wait_timeout(p, FLUSH_INTERVAL)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            std::mem::swap(&mut p.buf, &mut out_buf);
            dropped = std::mem::take(&mut p.dropped_unreported);
            p.writing = !out_buf.is_empty() || dropped > 0;
        }
        if dropped > 0 {
            let mut line = String::new();
            write_record(
                &mut line,
                SystemTime::now(),
                Level::Warning,
                "log",
                &l.pod,
                "log lines dropped: stdout could not keep up",
                &[
                    ("event", Value::Str("log_lines_dropped")),
                    ("dropped", Value::U64(dropped)),
                ],
            );
            out_buf.extend_from_slice(line.as_bytes());
        }
        if !out_buf.is_empty() {
            let mut lock = stdout.lock();
            // A closed stdout (EPIPE) leaves nothing to report to; the lines are gone either way.
            let _ = lock.write_all(&out_buf).and_then(|()| lock.flush());
            out_buf.clear();
            if out_buf.capacity() > 4 * FLUSH_AT {
                out_buf.shrink_to(FLUSH_AT);
            }
        }
        let mut p = l.shared.lock().unwrap_or_else(|e| e.into_inner());
        p.writing = false;
        p.generation = p.generation.wrapping_add(1);
        l.written.notify_all();
        if p.buf.len() < FLUSH_AT && p.dropped_unreported == 0 {
            // Batch: let lines accumulate for one interval unless the buffer is already large.
            drop(p);
            std::thread::sleep(FLUSH_INTERVAL.min(Duration::from_millis(5)));
        }
    }
}

/// Waits until everything logged so far is written, or `timeout` passes. Returns whether the
/// buffer was fully written. Call before exiting: the writer thread does not outlive `exit`.
pub fn flush(timeout: Duration) -> bool {
    let Some(l) = LOGGER.get() else { return true };
    let deadline = Instant::now() + timeout;
    let mut p = l.shared.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if p.buf.is_empty() && !p.writing && p.dropped_unreported == 0 {
            return true;
        }
        l.wake.notify_one();
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        p = l
            .written
            .wait_timeout(p, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// `info!`-style helpers keep call sites to one line.
#[macro_export]
macro_rules! log_at {
    ($level:expr, $logger:expr, $msg:expr $(, $k:literal => $v:expr)* $(,)?) => {
        if $crate::log::enabled($level) {
            $crate::log::log($level, $logger, &$msg, &[$(($k, $crate::log::Value::from($v))),*]);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, micros * 1000)
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let mut s = String::new();
        push_timestamp(&mut s, at(0, 0));
        assert_eq!(s, "1970-01-01T00:00:00.000000+00:00");
        s.clear();
        // 2026-02-26T10:00:00.123456Z, the tutorial's example instant.
        push_timestamp(&mut s, at(1_772_100_000, 123_456));
        assert_eq!(s, "2026-02-26T10:00:00.123456+00:00");
        s.clear();
        // Leap day.
        push_timestamp(&mut s, at(951_782_400, 7));
        assert_eq!(s, "2000-02-29T00:00:00.000007+00:00");
        s.clear();
        push_timestamp(&mut s, UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(s, "1970-01-01T00:00:00.000000+00:00");
    }

    #[test]
    fn digits_are_padded_and_never_truncated() {
        let mut s = String::new();
        for (n, width) in [
            (0, 1),
            (7, 2),
            (42, 2),
            (123, 2),
            (5, 6),
            (u64::MAX, 1),
            (9, 20),
        ] {
            push_digits(&mut s, n, width);
            s.push(' ');
        }
        assert_eq!(
            s,
            "0 07 42 123 000005 18446744073709551615 00000000000000000009 "
        );
    }

    /// The tail cache changes nothing but the cost: byte for byte what `write_record` writes,
    /// whether the line repeats, changes, or has fields.
    #[test]
    fn cached_rendering_equals_write_record() {
        type Case<'a> = (Level, &'a str, &'a str, &'a str, &'a [(&'a str, Value<'a>)]);
        let mut cache = TailCache::default();
        let cases: [Case<'_>; 7] = [
            (Level::Info, "app", "p", "Hello World requested", &[]),
            (Level::Info, "app", "p", "Hello World requested", &[]),
            (Level::Warning, "app", "p", "Hello World requested", &[]),
            (Level::Warning, "app", "p", "Hello \"World\"\n", &[]),
            (Level::Warning, "srv", "p", "Hello \"World\"\n", &[]),
            (Level::Warning, "srv", "q", "Hello \"World\"\n", &[]),
            (
                Level::Info,
                "app",
                "p",
                "Hello World requested",
                &[("n", Value::U64(1))],
            ),
        ];
        for (i, (level, logger, pod, msg, fields)) in cases.iter().enumerate() {
            let t = at(1_772_100_000 + i as u64, 123_456);
            let mut want = String::new();
            write_record(&mut want, t, *level, logger, pod, msg, fields);
            let mut got = String::from("already here\n");
            render(&mut cache, &mut got, t, *level, logger, pod, msg, fields);
            assert_eq!(got, format!("already here\n{want}"), "case {i}");
        }
    }

    /// The per-thread cache of the current second gives the same text as a fresh rendering,
    /// for repeats, for the next second, and for a jump back in time.
    #[test]
    fn cached_seconds_render_like_fresh_ones() {
        for (secs, us) in [
            (1_772_100_000, 1),
            (1_772_100_000, 999_999),
            (1_772_100_001, 5),
            (951_782_400, 7),
            (1_772_100_001, 0),
        ] {
            let mut a = String::new();
            push_timestamp(&mut a, at(secs, us));
            let mut b = String::new();
            push_timestamp(&mut b, at(secs, us));
            SECOND.with(|c| c.borrow_mut().1.clear());
            let mut fresh = String::new();
            push_timestamp(&mut fresh, at(secs, us));
            assert_eq!((&a, &b), (&fresh, &fresh));
        }
    }

    /// The access record's direct writer equals the generic formatter, hostile input included.
    #[test]
    fn access_records_equal_write_record() {
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            u16,
            u64,
            u64,
            &'a str,
            &'a [u8],
            &'a [u8],
        );
        let cases: [Case<'_>; 4] = [
            (
                "GET",
                "/",
                "HTTP/1.1",
                200,
                107,
                43,
                "127.0.0.1:5",
                b"curl/7.88.1",
                b"00ab-1",
            ),
            (
                "HEAD",
                "/slow?seconds=1",
                "HTTP/2",
                503,
                61_000_123,
                0,
                "[::1]:9",
                b"",
                b"",
            ),
            (
                "BREW",
                "/a\"b\\c\n\u{2028}\u{7f}?x=\u{fffd}",
                "HTTP/1.0",
                404,
                0,
                22,
                "1.2.3.4:80",
                b"ua\xff\"\n",
                b"id\x00",
            ),
            (
                "POST",
                "/admin/toggle-ready",
                "HTTP/1.1",
                401,
                999,
                33,
                "10.0.0.1:1",
                b"\xe2\x80\xa8",
                b"x",
            ),
        ];
        for (i, (method, target, version, status, us, bytes, remote, ua, id)) in
            cases.into_iter().enumerate()
        {
            let t = at(1_772_100_000 + i as u64, 42);
            let message = format!("{method} {target} {version} {status}");
            let mut want = String::new();
            write_record(
                &mut want,
                t,
                Level::Info,
                "access",
                "pod\"1",
                &message,
                &[
                    ("event", Value::Str("request")),
                    ("method", Value::Str(method)),
                    ("path", Value::Str(target)),
                    ("status", Value::U64(u64::from(status))),
                    ("duration_ms", Value::Micros(us)),
                    ("bytes", Value::U64(bytes)),
                    ("remote_addr", Value::Str(remote)),
                    ("user_agent", Value::Bytes(ua)),
                    ("request_id", Value::Bytes(id)),
                    ("protocol", Value::Str(version)),
                ],
            );
            let a = Access {
                method,
                target,
                version,
                status,
                duration_us: us,
                bytes,
                remote_addr: remote,
                user_agent: ua,
                request_id: id,
            };
            let mut got = String::new();
            a.write(&mut got, t, "pod\"1");
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }

    #[test]
    fn record_has_the_tutorial_fields_in_order() {
        let mut s = String::new();
        write_record(
            &mut s,
            at(0, 0),
            Level::Info,
            "app",
            "hello-hello-world-abc",
            "Hello World requested",
            &[],
        );
        assert_eq!(
            s,
            "{\"timestamp\":\"1970-01-01T00:00:00.000000+00:00\",\"level\":\"INFO\",\
             \"message\":\"Hello World requested\",\"logger\":\"app\",\
             \"pod\":\"hello-hello-world-abc\"}\n"
        );
    }

    #[test]
    fn event_fields_of_every_type() {
        let mut s = String::new();
        write_record(
            &mut s,
            at(0, 0),
            Level::Warning,
            "server",
            "p",
            "",
            &[
                ("event", Value::Str("drained")),
                ("elapsed_ms", Value::U64(12)),
                ("ratio", Value::F64(0.5)),
                ("took", Value::Micros(1_250)),
                ("quick", Value::Micros(7)),
                ("nan", Value::F64(f64::NAN)),
                ("ok", Value::Bool(false)),
                ("path", Value::Bytes(b"/\xff\n")),
            ],
        );
        assert!(s.ends_with(
            ",\"message\":\"\",\"logger\":\"server\",\"pod\":\"p\",\"event\":\"drained\",\
             \"elapsed_ms\":12,\"ratio\":0.5,\"took\":1.250,\"quick\":0.007,\"nan\":null,\"ok\":false,\"path\":\"/\u{fffd}\\n\"}\n"
        ));
        assert_eq!(s.matches('\n').count(), 1);
    }

    #[test]
    fn hostile_strings_cannot_break_the_line() {
        let mut s = String::new();
        let evil = "\"}\n{\"level\":\"CRITICAL\"\u{0}\u{1b}[31m";
        write_record(
            &mut s,
            at(0, 0),
            Level::Info,
            evil,
            evil,
            evil,
            &[(evil, Value::Str(evil))],
        );
        assert_eq!(s.matches('\n').count(), 1);
        assert!(s.ends_with("}\n"));
        assert!(!s.contains('\u{0}') && !s.contains('\u{1b}'));
    }

    #[test]
    fn levels_parse_in_any_case_and_order_by_severity() {
        assert_eq!("INFO".parse(), Ok(Level::Info));
        assert_eq!("Warn".parse(), Ok(Level::Warning));
        assert_eq!("warning".parse(), Ok(Level::Warning));
        assert_eq!("CRITICAL".parse(), Ok(Level::Critical));
        assert!("verbose".parse::<Level>().is_err());
        assert!(Level::Debug < Level::Info && Level::Error < Level::Critical);
    }
}
