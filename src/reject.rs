//! JSON bodies for the answers hyper writes by itself.
//!
//! When an HTTP/1 request head cannot be parsed, hyper's dispatcher answers on its own, before
//! any service sees a request (`proto/h1/role.rs`, `Server::on_error`): `431` for a head larger
//! than `max_buf_size` or with more than `max_headers` fields, `414` for an over-long URI,
//! `400` for a malformed method, target, header or version. That answer has an empty body and
//! no `content-type`, and hyper offers no hook to change it.
//!
//! [`JsonRejects`] wraps the connection's I/O and replaces exactly that answer on its way out:
//! a write that *starts* with a `HTTP/1.1 400|414|431` head carrying no `content-type` header
//! (every answer of ours has one) is swapped for the same status with a JSON body, a
//! `content-length`, `content-type: application/json` and `connection: close` (hyper closes the
//! connection after a parse error anyway). hyper is told its original head was written; the
//! replacement is written before anything else, including the flush and shutdown that follow.
//! The rejection is counted in the metrics and logged like a request, so it is not invisible.
//!
//! After such an answer (or any answer given before the request body was read: 413, 405, 404,
//! 401) the client has usually sent bytes we never read. Closing a socket with unread data makes
//! the kernel send a RST, which can destroy the answer before the client reads it (RFC 9112
//! §9.6). So when hyper shuts the connection down after a rejection, or with input still
//! waiting unread, the wrapper *lingers*: it half-closes (FIN after the answer), then reads and
//! discards for at most [`LINGER`] / [`LINGER_BYTES`] until the client closes — what Apache and
//! nginx call a lingering close. A connection with nothing unread closes as before.
//!
//! Everything else passes through untouched; the check is a prefix comparison on each write.
//! It relies on two facts of this service: every response it builds has a `content-type`, and
//! no body it sends starts with `HTTP/1.1 ` (bodies are JSON, HTML or Prometheus text), so a
//! body chunk written on its own can never be mistaken for hyper's head. A rejection that hyper
//! queues behind an unflushed pipelined answer is not at the start of a write and keeps hyper's
//! empty body — still a correct 431/400, merely not JSON.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};

use crate::log::{Level, Value};
use crate::routes::{self, Route};
use crate::state::AppState;

/// Longest a rejected connection lingers before it is closed.
pub const LINGER: Duration = Duration::from_secs(1);
/// Most bytes read and discarded while lingering.
pub const LINGER_BYTES: usize = 256 * 1024;

/// The body of every 431, HTTP/1 (here) and HTTP/2 (`service`).
pub const HEAD_TOO_LARGE: &str = r#"{"detail":"Request Header Fields Too Large"}"#;

/// The statuses hyper answers by itself, with our JSON bodies.
const REJECTS: [(&[u8], u16, &str); 3] = [
    (b"HTTP/1.1 431 ", 431, HEAD_TOO_LARGE),
    (b"HTTP/1.1 414 ", 414, r#"{"detail":"URI Too Long"}"#),
    (b"HTTP/1.1 400 ", 400, r#"{"detail":"Bad Request"}"#),
];

/// If `buf` starts with one of hyper's own error heads, returns its length and the JSON
/// replacement (head and body). Pure, so it can be tested and fuzzed on its own.
pub fn rewrite(buf: &[u8]) -> Option<(usize, u16, Vec<u8>)> {
    let (_, status, body) = REJECTS.iter().find(|(p, ..)| buf.starts_with(p))?;
    let end = find(buf, b"\r\n\r\n")? + 4;
    let head = &buf[..end];
    let mut out = Vec::with_capacity(end + 96 + body.len());
    // Lines without their CR; empty ones dropped, so the output has exactly one blank line.
    let mut lines = head[..end - 2]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty());
    // Status line as hyper wrote it (canonical reason phrase).
    out.extend_from_slice(lines.next()?);
    out.extend_from_slice(b"\r\n");
    for line in lines {
        let name = line.split(|&b| b == b':').next().unwrap_or(b"");
        if name.eq_ignore_ascii_case(b"content-type") {
            return None; // an answer of ours, not hyper's
        }
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"connection")
        {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    Some((end, *status, out))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The connection's I/O with hyper's bodiless error answers replaced (module docs).
pub struct JsonRejects<T> {
    inner: T,
    /// Replacement bytes not yet written.
    pending: Vec<u8>,
    written: usize,
    state: Arc<AppState>,
    peer: SocketAddr,
    /// Set after a rejection, or at shutdown when input is waiting unread: linger.
    linger: bool,
    /// While lingering: the deadline, bytes discarded, whether the FIN was sent.
    lingering: Option<(Pin<Box<tokio::time::Sleep>>, usize, bool)>,
}

impl<T> JsonRejects<T> {
    pub fn new(inner: T, state: Arc<AppState>, peer: SocketAddr) -> Self {
        JsonRejects {
            inner,
            pending: Vec::new(),
            written: 0,
            state,
            peer,
            linger: false,
            lingering: None,
        }
    }

    fn reject(&mut self, status: u16, replacement: Vec<u8>) {
        self.pending = replacement;
        self.written = 0;
        self.linger = true;
        let m = &self.state.metrics;
        m.record(
            Route::Unmatched,
            routes::METHODS.len() - 1,
            status,
            Duration::ZERO,
        );
        if self.state.config.access_log && crate::log::enabled(Level::Info) {
            let peer = self.peer.to_string();
            crate::log::log(
                Level::Info,
                "access",
                &format!("request head rejected: {status}"),
                &[
                    ("event", Value::Str("request_rejected")),
                    ("status", Value::U64(u64::from(status))),
                    ("remote_addr", Value::Str(&peer)),
                    (
                        "connections_open",
                        Value::U64(m.connections_open.load(Ordering::Relaxed).max(0) as u64),
                    ),
                ],
            );
        }
    }
}

impl<T: Read + Write + Unpin> JsonRejects<T> {
    /// Lingering close (module docs): FIN, then discard input until EOF, the deadline or the
    /// byte budget.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (deadline, read, fin) = self
            .lingering
            .get_or_insert_with(|| (Box::pin(tokio::time::sleep(LINGER)), 0, false));
        if !*fin {
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            *fin = true;
        }
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
        while *read < LINGER_BYTES && deadline.as_mut().poll(cx).is_pending() {
            let mut rb = hyper::rt::ReadBuf::uninit(&mut buf);
            match Pin::new(&mut self.inner).poll_read(cx, rb.unfilled()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) if !rb.filled().is_empty() => *read += rb.filled().len(),
                Poll::Ready(_) => break, // EOF or error: the client is done
            }
        }
        self.linger = false;
        self.lingering = None;
        Poll::Ready(Ok(()))
    }
}

impl<T: Write + Unpin> JsonRejects<T> {
    /// Writes what is left of a replacement; `Ready(Ok)` once nothing is pending.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        if !self.pending.is_empty() {
            self.pending = Vec::new();
            self.written = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: Read + Unpin> Read for JsonRejects<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: Read + Write + Unpin> Write for JsonRejects<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some((len, status, replacement)) = rewrite(buf) {
            this.reject(status, replacement);
            // Best effort now; the rest goes out before any later write, flush or shutdown.
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(len));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        // hyper puts a message head in its own (first) buffer.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some((len, status, replacement)) = rewrite(first) {
                this.reject(status, replacement);
                if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(Ok(len));
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if !this.linger && this.lingering.is_none() {
            // Input waiting unread at close (a body answered without reading it, pipelined
            // requests): linger. A non-blocking look; nothing waiting means a plain close.
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1024];
            let mut rb = hyper::rt::ReadBuf::uninit(&mut buf);
            if let Poll::Ready(Ok(())) = Pin::new(&mut this.inner).poll_read(cx, rb.unfilled()) {
                this.linger = !rb.filled().is_empty();
            }
        }
        if this.linger {
            return this.poll_linger(cx);
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_431_becomes_json() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        let (len, status, out) = rewrite(head).unwrap();
        assert_eq!((len, status), (head.len(), 431));
        let text = String::from_utf8(out).unwrap();
        let (h, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(h.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(h.contains("\r\ncontent-type: application/json"));
        assert!(h.contains("\r\ndate: Thu"));
        assert!(h.contains(&format!("\r\ncontent-length: {}", body.len())));
        assert!(!h.contains("content-length: 0"));
        assert_eq!(body, r#"{"detail":"Request Header Fields Too Large"}"#);
    }

    #[test]
    fn our_own_answers_pass_untouched() {
        for head in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"{\"detail\":\"HTTP/1.1 431 \"}",
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n", // incomplete
            b"",
        ] {
            assert!(rewrite(head).is_none(), "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn stray_blank_lines_cannot_end_the_head_early() {
        // Found by the `query` fuzz target: a bare-CR line used to be copied as a blank line.
        let odd = b"HTTP/1.1 431 Req\r\n\n\r\n\r\ndate: x\r\n\r\n";
        let (_, _, out) = rewrite(odd).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{text:?}"
        );
        assert_eq!(body, HEAD_TOO_LARGE);
    }

    #[test]
    fn bad_request_and_uri_too_long_too() {
        let (_, s, out) =
            rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").unwrap();
        assert_eq!(s, 400);
        assert!(out.ends_with(br#"{"detail":"Bad Request"}"#));
        let (_, s, _) = rewrite(b"HTTP/1.1 414 URI Too Long\r\n\r\n").unwrap();
        assert_eq!(s, 414);
    }
}
