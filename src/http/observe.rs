//! The observation layer every request passes through: in-flight count, panic → 500, the
//! request timeout for routes that wait, HEAD bodies, `Connection: close` while draining,
//! request ids, metrics and the access log.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, Version};

use super::access::{self, AccessInfo};
use super::request_id::{self, X_REQUEST_ID};
use super::routes;
use super::state::{AppState, X_SERVED_BY};
use super::{responses, Body, Handler, Reply};
use crate::lifecycle::Phase;
use crate::log::{self, Level};
use crate::server::HeadDeadline;

/// What the requests of one connection and its I/O share.
pub(crate) struct Conn {
    /// The peer's address as the logs write it, formatted once per connection.
    pub peer: Box<str>,
    /// Set when an HTTP/1 answer was given with request body left unread: the connection
    /// then ends with a lingering close (`server::io`), so the client's remaining bytes do
    /// not turn into a RST that destroys the answer.
    pub linger: AtomicBool,
    /// The deadline of the HTTP/1 request head being read (`server::head_timeout`); cleared
    /// here, when the head has arrived and the service is called.
    pub head: Arc<HeadDeadline>,
}

impl Conn {
    pub fn new(peer: SocketAddr) -> Arc<Conn> {
        Arc::new(Conn {
            peer: peer.to_string().into(),
            linger: AtomicBool::new(false),
            head: Arc::default(),
        })
    }
}

/// Per-connection service: the handler plus what the connection shares with its I/O.
#[derive(Clone)]
pub struct Observed<H> {
    handler: H,
    conn: Arc<Conn>,
}

impl<H: Handler> Observed<H> {
    pub(crate) fn new(handler: H, conn: Arc<Conn>) -> Self {
        Observed { handler, conn }
    }
}

/// Decrements `http_requests_in_flight` however the request ends: answered, panicked, or
/// dropped because its connection was cut at the drain deadline. An answer made at once
/// borrows the state; one that waits owns a clone (`Arc<AppState>`), and so do the
/// connection's share (`S`, `C`).
struct InFlight<S: Deref<Target = AppState>>(S);

impl<S: Deref<Target = AppState>> Drop for InFlight<S> {
    fn drop(&mut self) {
        self.0.metrics.request_ended();
    }
}

impl<H: Handler> hyper::service::Service<Request<Incoming>> for Observed<H> {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Observing;

    fn call(&self, mut req: Request<Incoming>) -> Observing {
        self.conn.head.clear();
        let start = Instant::now();
        let state: &AppState = self.handler.state();
        state.metrics.request_started();
        let route = routes::resolve(req.uri().path());
        let access = state.config.access_log && log::enabled(Level::Info);
        let has_body = !req.body().is_end_stream();
        let def = route.def();
        // Timers cost a little per request; only routes that can wait get one.
        let can_wait =
            has_body || def.is_some_and(|d| d.waits() || (d.faults && state.lab.may_delay()));
        let finish = Finish {
            start,
            route,
            method: routes::method_index(req.method()),
            http1: req.version() <= Version::HTTP_11,
            head: req.method() == Method::HEAD,
            has_body,
            given_id: request_id::given(req.headers()),
            info: access.then(|| AccessInfo {
                method: req.method().clone(),
                uri: req.uri().clone(),
                version: req.version(),
                user_agent: req.headers().get(header::USER_AGENT).cloned(),
            }),
            conn: &*self.conn,
            in_flight: InFlight(state),
        };
        if def.is_some_and(|d| matches!(d.answer, routes::Answer::Request(_))) {
            // `/echo` shows the peer; the other whole-request routes ignore it.
            let peer: Arc<str> = Arc::from(&*self.conn.peer);
            req.extensions_mut().insert(super::lab::Peer(peer));
        }
        // A handler may also panic while building its future; that panic is re-raised inside
        // the future so that it becomes the same 500 (and is not reported twice by the hook).
        let handler = &self.handler;
        let reply = catch_unwind(AssertUnwindSafe(|| handler.handle(route, req))).unwrap_or_else(
            |payload| Reply::Later(Box::pin(async move { std::panic::resume_unwind(payload) })),
        );
        match reply {
            // Most answers are ready when the handler returns (`GET /`, the probes, /metrics):
            // finished here, they need no timer, no boxed future and no second poll.
            Reply::Now(Some(mut rsp)) => {
                finish.answer(&mut rsp);
                Observing::Ready(Some(rsp))
            }
            reply => {
                let fut = CatchUnwind(reply);
                let timeout = state.config.limits.request_timeout;
                let finish = finish.owned(Arc::clone(self.handler.state()), Arc::clone(&self.conn));
                Observing::Waiting(Box::pin(async move {
                    let outcome = if can_wait {
                        match tokio::time::timeout(timeout, fut).await {
                            Ok(r) => r,
                            Err(_) => Ok(responses::timed_out()),
                        }
                    } else {
                        fut.await
                    };
                    let mut rsp = outcome.unwrap_or_else(|panic| finish.panicked(&panic));
                    finish.answer(&mut rsp);
                    rsp
                }))
            }
        }
    }
}

/// The future of one request: an answer finished in `call`, or a handler still working.
pub enum Observing {
    Ready(Option<Response<Body>>),
    Waiting(Pin<Box<dyn Future<Output = Response<Body>> + Send>>),
}

impl Future for Observing {
    type Output = Result<Response<Body>, Infallible>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Observing::Ready(rsp) => {
                Poll::Ready(Ok(rsp.take().expect("Observing polled after completion")))
            }
            Observing::Waiting(fut) => fut.as_mut().poll(cx).map(Ok),
        }
    }
}

/// What `call` captured before the handler consumed the request, to finish its answer with.
/// Borrowing the state and the connection's share (`&AppState`, `&Conn`) when the answer is
/// made at once: cloning the two `Arc`s would be four atomic operations per request.
struct Finish<S: Deref<Target = AppState>, C: Deref<Target = Conn>> {
    start: Instant,
    /// The app's state, held by the guard that ends the request's in-flight count.
    in_flight: InFlight<S>,
    route: routes::Route,
    method: usize,
    http1: bool,
    head: bool,
    has_body: bool,
    given_id: Option<HeaderValue>,
    /// `Some` when the access log is on.
    info: Option<AccessInfo>,
    conn: C,
}

impl<'a> Finish<&'a AppState, &'a Conn> {
    /// For an answer that is still to come: the same, owning what it borrowed.
    fn owned(self, state: Arc<AppState>, conn: Arc<Conn>) -> Finish<Arc<AppState>, Arc<Conn>> {
        let in_flight = InFlight(state);
        // The borrowed guard must not count the request's end: the owned one will.
        std::mem::forget(self.in_flight);
        Finish {
            start: self.start,
            in_flight,
            route: self.route,
            method: self.method,
            http1: self.http1,
            head: self.head,
            has_body: self.has_body,
            given_id: self.given_id,
            info: self.info,
            conn,
        }
    }
}

impl<S: Deref<Target = AppState>, C: Deref<Target = Conn>> Finish<S, C> {
    /// A handler panicked: counted, logged, answered 500.
    fn panicked(&self, panic: &str) -> Response<Body> {
        self.in_flight.0.metrics.panic_answered();
        crate::log_at!(Level::Error, "app", "request handler panicked; answered 500",
            "event" => "handler_panic", "panic" => panic, "route" => self.route.template());
        responses::internal_error()
    }

    /// The handler's answer → the answer sent: HEAD's empty body, `Connection: close` while
    /// draining, the request id and `x-served-by`; then the metrics and the access line. In
    /// place: a `Response` is ~160 bytes, and each move of it is a `memcpy`.
    fn answer(self, rsp: &mut Response<Body>) {
        // `in_flight` lives to the end: the request stops counting as in flight once it is
        // logged.
        let Finish {
            start,
            in_flight,
            route,
            method,
            http1,
            head,
            has_body,
            given_id,
            info,
            conn,
        } = self;
        let state = &in_flight.0;
        if head {
            // hyper drops a HEAD answer's body on HTTP/1 but sends it as DATA frames on
            // HTTP/2, which clients reject (RFC 9113 §8.1.1). The headers stay GET's,
            // content-length included (hyper would derive 0 from the emptied body).
            let len = body_len(rsp);
            rsp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            *rsp.body_mut() = Body::default();
        }
        if state.phase() >= Phase::Draining {
            // R8/R13: while draining, every HTTP/1 answer is the connection's last.
            if http1 {
                responses::mark_closing(rsp);
            }
            state.metrics.answered_while_draining();
        }
        if http1 && has_body && rsp.headers().contains_key(header::CONNECTION) {
            conn.linger.store(true, Ordering::Relaxed);
        }
        // Made up only for the access log, which records it.
        let id = given_id.or_else(|| info.as_ref().map(|_| request_id::new()));
        if let Some(id) = &id {
            rsp.headers_mut().insert(X_REQUEST_ID, id.clone());
        }
        rsp.headers_mut()
            .insert(X_SERVED_BY, state.served_by.clone());
        // One clock read for the duration and, on HTTP/1, for the next head's timer.
        let end = Instant::now();
        let took = end.saturating_duration_since(start);
        if http1 {
            conn.head.answered(end);
        }
        let status = rsp.status();
        state
            .metrics
            .record(route.index(), method, status.as_u16(), took);
        if let Some(info) = &info {
            let fault = rsp.extensions().get::<super::lab::FaultMark>().map(|m| m.0);
            let bytes = body_len(rsp);
            access::log(info, status, took, bytes, &conn.peer, id.as_ref(), fault);
        }
        drop(in_flight);
    }
}

fn body_len(rsp: &Response<Body>) -> u64 {
    rsp.body().size_hint().exact().unwrap_or(0)
}

/// Polls the handler future inside `catch_unwind`, turning a panic into `Err(message)`.
///
/// `AssertUnwindSafe` is sound here because a panicking handler's future is dropped right
/// after and never polled again; the state it shares is atomics, which a panic cannot leave
/// half-updated, and the in-flight guard is released by the caller either way.
struct CatchUnwind(Reply);

impl Future for CatchUnwind {
    type Output = Result<Response<Body>, String>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *fut).poll(cx))) {
            Ok(Poll::Ready(rsp)) => Poll::Ready(Ok(rsp)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                Poll::Ready(Err(msg))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::handlers::BoxFuture;
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_err() {
        let fut: BoxFuture = Box::pin(async { panic!("boom") });
        let r = CatchUnwind(Reply::Later(fut)).await;
        assert_eq!(r.unwrap_err(), "boom");
    }
}
