//! The response body of a gRPC call: one message then the trailers (unary `Check`), nothing
//! at all (a trailers-only error, whose status travels in the response headers), or the
//! `Watch` stream — a message whenever the watched status changes, until the server closes.
//!
//! The stream is driven by a `tokio::sync::watch` channel that every writer of readiness or
//! liveness bumps; on each bump the stream re-reads the status and sends a message only if it
//! differs from the last one sent, so coalesced or unrelated bumps cost a comparison, and a
//! change is never missed: `changed()` marks the version seen *before* the status is read.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use hyper::header::{HeaderMap, HeaderValue};
use tokio::sync::watch;

use super::frame::{self, Code};
use super::proto::{self, ServingStatus};

/// What a `Watch` stream reports next: a status, or `None` once the server is closing.
pub type StatusFn = Arc<dyn Fn() -> Option<ServingStatus> + Send + Sync>;

type Changed = Pin<Box<dyn Future<Output = (bool, watch::Receiver<()>)> + Send>>;

pub struct GrpcBody(Kind);

enum Kind {
    Unary {
        data: Option<Bytes>,
        /// Boxed: a `HeaderMap` is ~100 bytes, and this body sits inside every response of
        /// the service's body enum.
        trailers: Option<Box<HeaderMap>>,
    },
    Watch(Box<WatchStream>),
}

impl GrpcBody {
    /// No DATA at all: a trailers-only answer (or a plain HTTP error body of `data`).
    pub fn empty() -> GrpcBody {
        GrpcBody(Kind::Unary {
            data: None,
            trailers: None,
        })
    }

    /// A plain body without trailers (the HTTP-level refusals: 400, 415).
    pub fn plain(data: Bytes) -> GrpcBody {
        GrpcBody(Kind::Unary {
            data: Some(data),
            trailers: None,
        })
    }

    /// One framed message, then `grpc-status: 0`.
    pub fn unary(message: &[u8]) -> GrpcBody {
        GrpcBody(Kind::Unary {
            data: Some(frame::encode(message)),
            trailers: Some(Box::new(trailers(Code::Ok, ""))),
        })
    }

    /// The `Watch` stream: the current status at once, then one message per change; ends
    /// with `UNAVAILABLE` when `status` returns `None` or the channel's sender is gone.
    pub fn watch(changes: watch::Receiver<()>, status: StatusFn) -> GrpcBody {
        GrpcBody(Kind::Watch(Box::new(WatchStream {
            status,
            changed: Box::pin(next_change(changes)),
            last: None,
            stale: true,
            done: false,
        })))
    }
}

/// `grpc-status` and, when there is one, `grpc-message` (percent-encoded, so always a valid
/// header value).
pub fn trailers(code: Code, message: &str) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(2);
    map.insert("grpc-status", HeaderValue::from_static(code.as_str()));
    if !message.is_empty() {
        let encoded = frame::percent_encode(message);
        map.insert(
            "grpc-message",
            HeaderValue::from_str(&encoded).expect("percent-encoded text is a header value"),
        );
    }
    map
}

async fn next_change(mut rx: watch::Receiver<()>) -> (bool, watch::Receiver<()>) {
    let alive = rx.changed().await.is_ok();
    (alive, rx)
}

struct WatchStream {
    status: StatusFn,
    /// Resolves on the next bump; owns the receiver meanwhile.
    changed: Changed,
    /// The last status sent; a bump that leaves it unchanged sends nothing.
    last: Option<ServingStatus>,
    /// The status must be read again (at the start and after every bump).
    stale: bool,
    done: bool,
}

impl WatchStream {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Bytes>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if self.stale {
                self.stale = false;
                match (self.status)() {
                    None => return Poll::Ready(Some(self.end())),
                    Some(now) if self.last != Some(now) => {
                        self.last = Some(now);
                        let msg = frame::encode(proto::encode_response(now));
                        return Poll::Ready(Some(Frame::data(msg)));
                    }
                    Some(_) => {}
                }
            }
            match self.changed.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready((false, _)) => return Poll::Ready(Some(self.end())),
                Poll::Ready((true, rx)) => {
                    self.changed = Box::pin(next_change(rx));
                    self.stale = true;
                }
            }
        }
    }

    /// A stream only ends because the server is going away; clients retry elsewhere.
    fn end(&mut self) -> Frame<Bytes> {
        self.done = true;
        Frame::trailers(trailers(Code::Unavailable, "server shutting down"))
    }
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().0 {
            Kind::Unary { data, trailers } => Poll::Ready(match data.take() {
                Some(d) => Some(Ok(Frame::data(d))),
                None => trailers.take().map(|t| Ok(Frame::trailers(*t))),
            }),
            Kind::Watch(w) => w.poll_next(cx).map(|f| f.map(Ok)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Unary { data, trailers } => data.is_none() && trailers.is_none(),
            Kind::Watch(w) => w.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Unary { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Watch(_) => SizeHint::default(),
        }
    }
}

/// Collects a whole body's DATA and trailers (tests only: a watch stream never ends on its
/// own).
#[cfg(test)]
pub async fn collect(body: GrpcBody) -> (Bytes, Option<HeaderMap>) {
    use http_body_util::BodyExt as _;
    let c = body.collect().await.expect("infallible");
    let trailers = c.trailers().cloned();
    (c.to_bytes(), trailers)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU8, Ordering};

    use http_body_util::BodyExt as _;

    use super::*;

    #[tokio::test]
    async fn unary_sends_the_message_then_ok_trailers() {
        let (data, trailers) = collect(GrpcBody::unary(b"\x08\x01")).await;
        assert_eq!(&data[..], b"\x00\x00\x00\x00\x02\x08\x01");
        let t = trailers.unwrap();
        assert_eq!(t["grpc-status"], "0");
        assert!(t.get("grpc-message").is_none());
    }

    #[test]
    fn empty_is_at_end_from_the_start() {
        assert!(GrpcBody::empty().is_end_stream());
        assert!(!GrpcBody::unary(b"").is_end_stream());
        assert_eq!(GrpcBody::unary(b"\x08\x01").size_hint().exact(), Some(7));
    }

    /// The stream sends the current status, one message per *change* (a bump that changes
    /// nothing sends nothing), and ends with UNAVAILABLE when the server closes.
    #[tokio::test]
    async fn watch_streams_changes_only_and_ends_at_close() {
        // 1 serving, 2 not serving, 0 closing.
        let state = Arc::new(AtomicU8::new(1));
        let (tx, rx) = watch::channel(());
        let s = Arc::clone(&state);
        let status: StatusFn = Arc::new(move || match s.load(Ordering::SeqCst) {
            1 => Some(ServingStatus::Serving),
            2 => Some(ServingStatus::NotServing),
            _ => None,
        });
        let mut body = GrpcBody::watch(rx, status);
        let f = next(&mut body).await.unwrap().unwrap();
        assert_eq!(&f.into_data().unwrap()[..], b"\x00\x00\x00\x00\x02\x08\x01");
        tx.send_replace(()); // a bump without a change
        assert!(
            next(&mut body).await.is_err(),
            "no message without a change"
        );
        state.store(2, Ordering::SeqCst);
        tx.send_replace(());
        let f = next(&mut body).await.unwrap().unwrap();
        assert_eq!(&f.into_data().unwrap()[..], b"\x00\x00\x00\x00\x02\x08\x02");
        state.store(0, Ordering::SeqCst);
        tx.send_replace(());
        let f = next(&mut body).await.unwrap().unwrap();
        assert_eq!(f.into_trailers().unwrap()["grpc-status"], "14");
        assert!(body.is_end_stream());
        assert!(next(&mut body).await.unwrap().is_none());
    }

    /// A dropped sender (the state is gone) also ends the stream rather than hanging it.
    #[tokio::test]
    async fn watch_ends_when_the_channel_closes() {
        let (tx, rx) = watch::channel(());
        let mut body = GrpcBody::watch(rx, Arc::new(|| Some(ServingStatus::Serving)));
        assert!(futures_next(&mut body).await.unwrap().is_data());
        drop(tx);
        let f = futures_next(&mut body).await.unwrap();
        assert_eq!(f.into_trailers().unwrap()["grpc-status"], "14");
    }

    /// The next frame within 300 ms (`Err` when none came).
    async fn next(b: &mut GrpcBody) -> Result<Option<Frame<Bytes>>, tokio::time::error::Elapsed> {
        tokio::time::timeout(std::time::Duration::from_millis(300), futures_next(b)).await
    }

    async fn futures_next(b: &mut GrpcBody) -> Option<Frame<Bytes>> {
        b.frame().await.map(|r| r.expect("infallible"))
    }
}
