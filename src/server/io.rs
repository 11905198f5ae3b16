//! The I/O of an HTTP/1 connection, between hyper and the socket: hyper's own bodiless error
//! answers made JSON ([`crate::http::reject::rewrite`]), and the lingering close.
//!
//! [`JsonRejects`] replaces exactly hyper's answer on its way out: a write that *starts* with a
//! `HTTP/1.1 400|414|431` head carrying no `content-type` header is swapped for the same status
//! with a JSON body and `connection: close`. hyper is told its original head was written; the
//! replacement is written before anything else, including the flush and shutdown that follow.
//! The rejection is counted in the metrics and logged like a request, so it is not invisible.
//! A rejection that hyper queues behind an unflushed pipelined answer is not at the start of a
//! write and keeps hyper's empty body — still a correct 431/400, merely not JSON.
//!
//! After such an answer (or any answer given before the request body was read: 413, 405, 404,
//! 401, each marked `Connection: close` by the app) the client has usually sent bytes we never
//! read. Closing a socket with unread data makes the kernel send a RST, which can destroy the
//! answer before the client reads it (RFC 9112 §9.6). So when hyper shuts the connection down
//! after a rejection, or with input still waiting unread, the wrapper *lingers*: it
//! half-closes (FIN after the answer), then reads and discards for at most [`LINGER`] /
//! [`LINGER_BYTES`] until the client closes — what Apache and nginx call a lingering close. A
//! connection with nothing unread closes as before.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};

use crate::http::observe::Conn;
use crate::http::reject::rewrite;
use crate::http::{routes, AppState, Route};
use crate::log::{Level, Value};

/// Longest a rejected connection lingers before it is closed.
pub(crate) const LINGER: Duration = Duration::from_secs(1);
/// Most bytes read and discarded while lingering.
pub(crate) const LINGER_BYTES: usize = 256 * 1024;

/// The connection's I/O with hyper's bodiless error answers replaced (module docs).
pub(crate) struct JsonRejects<T> {
    inner: T,
    /// Replacement bytes not yet written.
    pending: Vec<u8>,
    written: usize,
    state: Arc<AppState>,
    conn: Arc<Conn>,
    /// Set after a rejection, or at shutdown when input is waiting unread: linger.
    linger: bool,
    /// While lingering: the deadline, bytes discarded, whether the FIN was sent.
    lingering: Option<(Pin<Box<tokio::time::Sleep>>, usize, bool)>,
}

impl<T> JsonRejects<T> {
    pub fn new(inner: T, state: Arc<AppState>, conn: Arc<Conn>) -> Self {
        JsonRejects {
            inner,
            pending: Vec::new(),
            written: 0,
            state,
            conn,
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
            Route::UNMATCHED.index(),
            routes::METHODS.len() - 1,
            status,
            Duration::ZERO,
        );
        if self.state.config.access_log && crate::log::enabled(Level::Info) {
            crate::log::log(
                Level::Info,
                "access",
                &format!("request head rejected: {status}"),
                &[
                    ("event", Value::Str("request_rejected")),
                    ("status", Value::U64(u64::from(status))),
                    ("remote_addr", Value::Str(&self.conn.peer)),
                    ("connections_open", Value::U64(m.connections_open())),
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
        if let Some((len, status, replacement)) = rewrite(buf, this.state.served_by.as_bytes()) {
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
            if let Some((len, status, replacement)) =
                rewrite(first, this.state.served_by.as_bytes())
            {
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
        if !this.linger && this.lingering.is_none() && this.conn.linger.load(Ordering::Relaxed) {
            // An answer was given with request body unread (`http::observe::Conn`).
            this.linger = true;
        }
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
