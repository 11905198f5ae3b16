//! The logging floor of the speed bench: the least work a logger can do for our two lines.
//!
//! With `BARE_LOG=1`, [`crate`]'s bare hyper server writes, for every request, the same two
//! lines `hello-world` writes with its access log on — the tutorial's `Hello World requested`
//! and the access record with every field — into a 64 KiB buffer owned by the request's thread,
//! and writes that buffer to stdout when it is full. No other thread, no lock, no allocation
//! per line, no bound on a blocked stdout (the worker simply blocks): a floor, not a design.
//!
//! Written independently of `src/log/` on purpose (a plain table-driven escaper, the date
//! computed for every line), so the floor does not inherit our formatter's tricks or its bugs;
//! the bench checks that the lines have the same shape as ours, field for field.

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Written when this much has accumulated: 64 KiB, as the floor is defined (a pipe's buffer).
/// Ours batches 256 KiB, to wake its writer thread less often (docs/logging.md); the floor has
/// no thread to wake, so for it a bigger buffer would save only three `write(2)`s in four.
const CAPACITY: usize = 64 * 1024;

/// What the access line says about one request.
pub struct Request<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub version: &'a str,
    pub status: u16,
    pub duration_us: u64,
    pub bytes: u64,
    pub remote_addr: &'a str,
    pub user_agent: &'a [u8],
}

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(CAPACITY + 8 * 1024));
}

/// stdout without `std`'s line buffering: a batch is one `write(2)`.
fn out() -> &'static File {
    static OUT: OnceLock<File> = OnceLock::new();
    OUT.get_or_init(|| {
        let fd = std::io::stdout().as_fd().try_clone_to_owned();
        File::from(fd.expect("duplicating stdout"))
    })
}

/// The pod name as ours has it (`POD_NAME`, default `unknown`).
fn pod() -> &'static str {
    static POD: OnceLock<String> = OnceLock::new();
    POD.get_or_init(|| std::env::var("POD_NAME").unwrap_or_else(|_| "unknown".into()))
}

/// Request ids of our shape: a per-process 8-hex-digit prefix, a dash, a hex counter.
fn request_id(out: &mut Vec<u8>) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    static PREFIX: OnceLock<u32> = OnceLock::new();
    let prefix = *PREFIX.get_or_init(|| std::process::id().rotate_left(16) ^ 0x5eed);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    hex(out, u64::from(prefix), 8);
    out.push(b'-');
    let digits = (16 - n.leading_zeros() as usize / 4).max(1);
    hex(out, n, digits);
}

/// The `Hello World requested` line, at the start of the handler.
pub fn hello() {
    let now = SystemTime::now();
    BUF.with(|b| {
        let b = &mut *b.borrow_mut();
        head(b, now);
        b.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":");
        string(b, b"Hello World requested");
        b.extend_from_slice(b",\"logger\":");
        string(b, b"app");
        b.extend_from_slice(b",\"pod\":");
        string(b, pod().as_bytes());
        b.extend_from_slice(b"}\n");
        spill(b);
    });
}

/// The access line, when the answer is ready.
pub fn access(r: &Request<'_>) {
    let now = SystemTime::now();
    BUF.with(|b| {
        let b = &mut *b.borrow_mut();
        head(b, now);
        b.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"");
        escaped(b, r.method.as_bytes());
        b.push(b' ');
        escaped(b, r.target.as_bytes());
        b.push(b' ');
        escaped(b, r.version.as_bytes());
        b.push(b' ');
        decimal(b, u64::from(r.status), 1);
        b.extend_from_slice(b"\",\"logger\":");
        string(b, b"access");
        b.extend_from_slice(b",\"pod\":");
        string(b, pod().as_bytes());
        b.extend_from_slice(b",\"event\":\"request\",\"method\":");
        string(b, r.method.as_bytes());
        b.extend_from_slice(b",\"path\":");
        string(b, r.target.as_bytes());
        b.extend_from_slice(b",\"status\":");
        decimal(b, u64::from(r.status), 1);
        b.extend_from_slice(b",\"duration_ms\":");
        decimal(b, r.duration_us / 1000, 1);
        b.push(b'.');
        decimal(b, r.duration_us % 1000, 3);
        b.extend_from_slice(b",\"bytes\":");
        decimal(b, r.bytes, 1);
        b.extend_from_slice(b",\"remote_addr\":");
        string(b, r.remote_addr.as_bytes());
        b.extend_from_slice(b",\"user_agent\":");
        string(b, r.user_agent);
        b.extend_from_slice(b",\"request_id\":\"");
        request_id(b);
        b.extend_from_slice(b"\",\"protocol\":");
        string(b, r.version.as_bytes());
        b.extend_from_slice(b"}\n");
        spill(b);
    });
}

/// Writes the buffer once it is full (a blocked stdout blocks this worker: no bound here).
fn spill(b: &mut Vec<u8>) {
    if b.len() >= CAPACITY {
        let _ = out().write_all(b);
        b.clear();
    }
}

/// `{"timestamp":"2026-02-26T10:00:00.123456+00:00` (UTC, microseconds).
fn head(b: &mut Vec<u8>, now: SystemTime) {
    let t = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = t.as_secs();
    let days = (secs / 86_400) as i64;
    // Days to a civil date (proleptic Gregorian), counting from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = secs % 86_400;
    b.extend_from_slice(b"{\"timestamp\":\"");
    decimal(b, year as u64, 4);
    b.push(b'-');
    decimal(b, month as u64, 2);
    b.push(b'-');
    decimal(b, day as u64, 2);
    b.push(b'T');
    decimal(b, s / 3600, 2);
    b.push(b':');
    decimal(b, s / 60 % 60, 2);
    b.push(b':');
    decimal(b, s % 60, 2);
    b.push(b'.');
    decimal(b, u64::from(t.subsec_micros()), 6);
    b.extend_from_slice(b"+00:00");
}

/// A quoted JSON string; invalid UTF-8 becomes U+FFFD like ours.
fn string(b: &mut Vec<u8>, s: &[u8]) {
    b.push(b'"');
    match std::str::from_utf8(s) {
        Ok(_) => escaped(b, s),
        Err(_) => escaped(b, String::from_utf8_lossy(s).as_bytes()),
    }
    b.push(b'"');
}

/// RFC 8259 escaping, plus DEL and U+2028/U+2029 as ours does: one table lookup per byte.
fn escaped(b: &mut Vec<u8>, s: &[u8]) {
    // 0: as is; 1: needs a look (controls, `"`, `\`, DEL, the lead byte of U+2028/9).
    const LOOK: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < 0x20 {
            t[i] = 1;
            i += 1;
        }
        t[b'"' as usize] = 1;
        t[b'\\' as usize] = 1;
        t[0x7f] = 1;
        t[0xe2] = 1;
        t
    };
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        if LOOK[c as usize] == 0 {
            continue;
        }
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0xe2 if s.get(i + 1) == Some(&0x80) && matches!(s.get(i + 2), Some(0xa8 | 0xa9)) => {
                b.extend_from_slice(&s[start..i]);
                b.extend_from_slice(if s[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                start = i + 3;
                continue;
            }
            0xe2 => continue,
            _ => b"",
        };
        b.extend_from_slice(&s[start..i]);
        if esc.is_empty() {
            b.extend_from_slice(b"\\u00");
            hex(b, u64::from(c), 2);
        } else {
            b.extend_from_slice(esc);
        }
        start = i + 1;
    }
    b.extend_from_slice(&s[start..]);
}

/// `n` in decimal, zero-padded to `width`.
fn decimal(b: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut d = [b'0'; 20];
    let mut i = d.len();
    while n > 0 || i > d.len() - width {
        i -= 1;
        d[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    b.extend_from_slice(&d[i..]);
}

/// The low `digits` hex digits of `n`, lower case.
fn hex(b: &mut Vec<u8>, n: u64, digits: usize) {
    for k in (0..digits).rev() {
        b.push(b"0123456789abcdef"[(n >> (k * 4) & 0xf) as usize]);
    }
}
