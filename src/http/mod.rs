//! The HTTP application: the route table ([`routes`]), one handler per route
//! ([`handlers`]), named responses, the admin token, request ids, answers about the request
//! head ([`reject`]), query parsing, and the observation layer every request passes through
//! ([`observe`]). The app never fails: every problem becomes a status code.

pub(crate) mod access;
pub(crate) mod auth;
pub(crate) mod handlers;
pub(crate) mod lab;
pub(crate) mod observe;
pub(crate) mod reject;
pub(crate) mod request_id;
pub(crate) mod responses;
pub(crate) mod routes;
pub(crate) mod state;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::{Request, Response, Version};

use handlers::{BoxFuture, Canned};
pub use routes::Route;
use routes::{Answer, RouteDef};
pub use state::AppState;

/// Every response body: one buffer with its size known (hyper writes `content-length` from
/// it) — nearly every route — or a gRPC body with trailers and the `Watch` stream. An enum,
/// not a boxed body: the common path allocates nothing for it.
pub enum Body {
    Full(Full<Bytes>),
    Grpc(crate::grpc::GrpcBody),
}

impl Body {
    pub fn new(bytes: Bytes) -> Body {
        Body::Full(Full::new(bytes))
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::Full(Full::default())
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Body::Full(_) => "Body::Full",
            Body::Grpc(_) => "Body::Grpc",
        })
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Pin::new(b).poll_frame(cx),
            Body::Grpc(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.is_end_stream(),
            Body::Grpc(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Full(b) => b.size_hint(),
            Body::Grpc(b) => b.size_hint(),
        }
    }
}

/// What a handler returns: an answer already made (most routes: no allocation, no state
/// machine), or a boxed future for what waits (`/slow`, `/internal/prestop`, a body to read).
pub enum Reply {
    Now(Option<Response<Body>>),
    Later(Pin<Box<dyn Future<Output = Response<Body>> + Send>>),
}

impl Future for Reply {
    type Output = Response<Body>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response<Body>> {
        match self.get_mut() {
            Reply::Now(rsp) => Poll::Ready(rsp.take().expect("Reply polled after completion")),
            Reply::Later(fut) => fut.as_mut().poll(cx),
        }
    }
}

/// Something that answers a routed request: [`App`] in production. The seam for tests that
/// need a handler to misbehave (panic, hang) behind the real server: wrap an `App`, answer
/// some routes yourself, pass the rest on, and serve it with [`crate::serve_with`].
pub trait Handler: Clone + Send + Sync + 'static {
    fn handle(&self, route: Route, req: Request<Incoming>) -> Reply;
    fn state(&self) -> &Arc<AppState>;
}

/// The production handler: routes a request through the table. Cheap to clone: two `Arc`s.
#[derive(Clone)]
pub struct App {
    pub state: Arc<AppState>,
    canned: Arc<Canned>,
}

impl App {
    pub fn new(state: Arc<AppState>) -> App {
        let canned = Arc::new(Canned::new(&state.config));
        App { state, canned }
    }

    /// Answers one request. The checks run in this order: the route exists (404), the head
    /// is within its limits (431), the method (405), a declared body size (413), the admin
    /// token (401); then a body, if any, is read (bounded) and discarded, and the handler runs.
    pub fn handle(&self, route: Route, req: Request<Incoming>) -> Reply {
        let Some(def) = route.def().filter(|d| (d.enabled)(&self.state.config)) else {
            if route == Route::UNMATCHED && crate::grpc::precheck(&req).is_ok() {
                // A gRPC client calling a method we do not serve expects a gRPC status.
                let rsp = crate::grpc::unimplemented(req.uri().path()).map(Body::Grpc);
                return unread(rsp, &req);
            }
            return unread(responses::not_found(), &req);
        };
        let limits = &self.state.config.limits;
        if let Some(rsp) = reject::oversized_head(&req, limits) {
            return unread(rsp, &req);
        }
        if !def.methods.accepts(req.method()) {
            return unread(responses::method_not_allowed(def.methods), &req);
        }
        let limit = limits.max_body_bytes;
        // hyper has parsed Content-Length into the body's exact size (HTTP/1 and HTTP/2); a
        // request without a body (most of them) has no size to check.
        let body = req.body();
        let declared = (!body.is_end_stream())
            .then(|| body.size_hint().exact())
            .flatten();
        if declared.is_some_and(|n| n > limit) {
            return unread(responses::too_large(limit), &req);
        }
        if def.admin {
            if let Some(rsp) = auth::check(self.state.config.admin_token.as_deref(), &req) {
                return unread(rsp, &req);
            }
        }
        if def.faults {
            // One relaxed load when no fault is configured or switched on.
            if let Some(fault) = self.state.lab.fault() {
                // An error answers without running the route (no side effect, no log line).
                let inner = (!fault.error).then(|| self.route(def, req, limit));
                return lab::faulted(fault, inner);
            }
        }
        self.route(def, req, limit)
    }

    /// The rest of [`App::handle`]. The common answer — made at once, no body — is given
    /// here, inlined, from the request's URI alone: moving the request (~250 bytes) into a
    /// call is a copy (callgrind: ~70 instructions per `GET /` against one `match` for all).
    /// Everything else goes through [`App::dispatch`].
    #[inline(always)]
    fn route(&self, def: &'static RouteDef, req: Request<Incoming>, limit: u64) -> Reply {
        match def.answer {
            Answer::Now(f) if req.body().is_end_stream() => Reply::Now(Some(f(self, req.uri()))),
            _ => self.dispatch(def, req, limit),
        }
    }

    /// Any request to its handler: the body (read and discarded, or given to the routes that
    /// take the whole request), then the handler.
    fn dispatch(&self, def: &'static RouteDef, req: Request<Incoming>, limit: u64) -> Reply {
        match def.answer {
            Answer::Request(f) => Reply::Later(f(self.clone(), req)),
            _ if !req.body().is_end_stream() => self.read_body_then(def, req, limit),
            Answer::Now(f) => Reply::Now(Some(f(self, req.uri()))),
            Answer::Waits(f) => Reply::Later(f(self.clone(), req.into_parts().0.uri)),
        }
    }

    /// No route takes a body, but one that arrives is read (bounded) and discarded, so an
    /// oversized chunked body still gets its 413. A body cut short there is left unread and
    /// the connection closes after the answer, so the answer says so.
    fn read_body_then(&self, def: &'static RouteDef, req: Request<Incoming>, limit: u64) -> Reply {
        let app = self.clone();
        let http1 = req.version() <= Version::HTTP_11;
        Reply::Later(Box::pin(async move {
            let (parts, body) = req.into_parts();
            let failed = match Limited::new(body, limit as usize).collect().await {
                Ok(_) => None,
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    Some(responses::too_large(limit))
                }
                Err(_) => Some(responses::bad_request("the request body could not be read")),
            };
            match (failed, &def.answer) {
                (Some(rsp), _) if http1 => responses::closing(rsp),
                (Some(rsp), _) => rsp,
                (None, Answer::Now(f)) => f(&app, &parts.uri),
                (None, Answer::Waits(f)) => f(app, parts.uri).await,
                (None, Answer::Request(_)) => unreachable!("given the body instead"),
            }
        }) as BoxFuture)
    }
}

impl Handler for App {
    fn handle(&self, route: Route, req: Request<Incoming>) -> Reply {
        App::handle(self, route, req)
    }
    fn state(&self) -> &Arc<AppState> {
        &self.state
    }
}

/// An answer given before the request body was read. hyper then closes an HTTP/1
/// connection after the answer (the unread body cannot be told from the next request), so
/// the answer says `Connection: close` and a keep-alive client does not reuse it.
fn unread(rsp: Response<Body>, req: &Request<Incoming>) -> Reply {
    let close = req.version() <= Version::HTTP_11 && !req.body().is_end_stream();
    Reply::Now(Some(if close { responses::closing(rsp) } else { rsp }))
}
