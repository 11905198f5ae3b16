//! The send timeout (`SEND_TIMEOUT_SECONDS`): a connection whose writes make no progress for
//! that long is cut, so a client that stops reading (a slow-read attack) cannot hold its slot.
//! Like nginx's `send_timeout`, it bounds the time between two successful writes, not the
//! whole response. The timer is armed only while a write is blocked: a connection whose
//! writes go through at once never touches it.
//!
//! On HTTP/2 a stream that waits for the peer's flow-control window does not write at all;
//! that wait is bounded by the h2 keep-alive pings instead (`conn`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::time::{Instant, Sleep};

use crate::log::Level;
use crate::log_at;

pub(crate) struct SendTimeout<T> {
    inner: T,
    limit: Duration,
    /// Allocated at the first blocked write and reused; armed while a write is blocked.
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<T> SendTimeout<T> {
    pub fn new(inner: T, limit: Duration) -> Self {
        SendTimeout {
            inner,
            limit,
            timer: None,
            armed: false,
        }
    }

    /// Passes a write-side result through: progress disarms the timer; a blocked write arms
    /// it, and fails with `TimedOut` once it has been blocked for the whole limit.
    fn watch<R>(&mut self, cx: &mut Context<'_>, res: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if res.is_ready() {
            self.armed = false;
            return res;
        }
        let deadline = Instant::now() + self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                log_at!(Level::Debug, "server", "peer stopped reading; connection closed",
                    "event" => "send_timeout", "send_timeout_ms" => crate::http::state::ms(self.limit));
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
        }
    }
}

impl<T: Read + Unpin> Read for SendTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for SendTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, res)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, res)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, res)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, res)
    }
}
