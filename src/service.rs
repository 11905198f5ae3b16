//! The HTTP service: routing to handlers ([`App`]) wrapped in the observation layer
//! ([`Observed`]) that every request passes through — in-flight count, panic → 500, timeout,
//! `Connection: close` while draining, metrics and the access log.
//!
//! Every response is built by a small named function with an explicit `content-type` and a
//! `content-length`. The app service never fails: every problem becomes a status code.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};

use crate::json::{self, Obj};
use crate::log::{self, Level};
use crate::metrics::Snapshot;
use crate::query;
use crate::routes::{self, Route};
use crate::state::{AppState, DrainCause, Phase};

pub type Body = Full<Bytes>;
type BoxFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// What a handler returns: an answer already made (most routes: no allocation, no state
/// machine), or a boxed future for the routes that wait (`/slow`, `/internal/prestop`, a body
/// to read).
pub enum Reply {
    Now(Option<Response<Body>>),
    Later(BoxFuture),
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

impl From<BoxFuture> for Reply {
    fn from(fut: BoxFuture) -> Reply {
        Reply::Later(fut)
    }
}

/// The tutorial's cap on `/slow`.
pub const SLOW_CAP_SECONDS: u64 = 60;

const OPENAPI: &str = include_str!("assets/openapi.json");
const DOCS_HTML: &str = include_str!("assets/docs.html");

/// Bodies that never change after start-up, rendered once.
pub struct Canned {
    root: Bytes,
    info: Bytes,
    openapi: Bytes,
}

impl Canned {
    pub fn new(state: &AppState) -> Canned {
        let c = &state.config;
        let root = Obj::new()
            .str("message", &c.greeting)
            .str("version", &c.app_version)
            .finish();
        let mut info = Obj::new()
            .str("app_env", &c.app_env)
            .str("app_version", &c.app_version)
            .str("log_level", &c.log_level_raw)
            .str("pod_name", &c.pod_name);
        if let Some(ns) = &c.pod_namespace {
            info = info.str("pod_namespace", ns);
        }
        if let Some(node) = &c.node_name {
            info = info.str("node_name", node);
        }
        // The document carries the running version; the placeholder is a JSON string, so the
        // version goes in JSON-escaped without its quotes.
        let mut version = String::new();
        json::push_str(&mut version, &c.app_version);
        let openapi = OPENAPI.replace("{{APP_VERSION}}", &version[1..version.len() - 1]);
        Canned {
            root: Bytes::from(root),
            info: Bytes::from(info.finish()),
            openapi: Bytes::from(openapi),
        }
    }
}

/// Routes a request to its handler. Cheap to clone: two `Arc`s.
#[derive(Clone)]
pub struct App {
    pub state: Arc<AppState>,
    canned: Arc<Canned>,
}

impl App {
    pub fn new(state: Arc<AppState>) -> App {
        let canned = Arc::new(Canned::new(&state));
        App { state, canned }
    }

    /// Answers one request. Everything that can wait (a body to read, `/slow`,
    /// `/internal/prestop`) is async; the rest is answered without suspending.
    pub fn handle(&self, route: Route, req: Request<Incoming>) -> Reply {
        if route == Route::Unmatched
            || (route == Route::PreStop && !self.state.config.prestop_endpoint)
        {
            return ready(not_found());
        }
        if let Some(rsp) = head_too_large(&req, &self.state.config.limits) {
            return ready(rsp);
        }
        if !route.accepts(req.method()) {
            return ready(method_not_allowed(route));
        }
        let limit = self.state.config.limits.max_body_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return ready(too_large(limit));
        }
        // Every state-changing route takes the token when one is set: the preStop endpoint
        // starts an irreversible drain, so it is guarded like /admin/* (README, "Hardening").
        if matches!(route, Route::ToggleReady | Route::PreStop) {
            if let Some(rsp) = self.unauthorized(&req) {
                return ready(rsp);
            }
        }
        if !req.body().is_end_stream() {
            // No route takes a body, but one that arrives is read (bounded) and discarded, so
            // an oversized chunked body still gets its 413 and the connection stays reusable.
            let app = self.clone();
            return Reply::Later(Box::pin(async move {
                let (parts, body) = req.into_parts();
                match Limited::new(body, limit as usize).collect().await {
                    Ok(_) => app.dispatch(route, parts.uri.query()).await,
                    Err(e) if e.is::<http_body_util::LengthLimitError>() => too_large(limit),
                    Err(_) => bad_request("the request body could not be read"),
                }
            }));
        }
        match self.answer(route) {
            Some(rsp) => Reply::Now(Some(rsp)),
            None => {
                let app = self.clone();
                Reply::Later(Box::pin(async move {
                    app.dispatch(route, req.uri().query()).await
                }))
            }
        }
    }

    /// Every route, the waiting ones included.
    async fn dispatch(&self, route: Route, query: Option<&str>) -> Response<Body> {
        match route {
            Route::Slow => slow(query).await,
            Route::PreStop => prestop(&self.state, query).await,
            _ => self
                .answer(route)
                .expect("only /slow and /internal/prestop wait"),
        }
    }

    /// The routes that answer without waiting; `None` for `/slow` and `/internal/prestop`.
    fn answer(&self, route: Route) -> Option<Response<Body>> {
        let s = &self.state;
        Some(match route {
            Route::Root => {
                crate::log_at!(Level::Info, "app", "Hello World requested");
                json_bytes(StatusCode::OK, self.canned.root.clone())
            }
            Route::Live => json_static(StatusCode::OK, r#"{"status":"ok"}"#),
            Route::Ready => ready_rsp(s),
            Route::ToggleReady => match s.toggle_ready() {
                Some(now) => {
                    let word = if now { "ready" } else { "not ready" };
                    crate::log_at!(Level::Info, "app", format!("Readiness toggled: {word}"));
                    json_string(StatusCode::OK, Obj::new().bool("ready", now).finish())
                }
                None => json_string(
                    StatusCode::CONFLICT,
                    Obj::new()
                        .str(
                            "detail",
                            "Shutting down: readiness stays off until the process exits",
                        )
                        .bool("ready", false)
                        .finish(),
                ),
            },
            Route::Slow | Route::PreStop => return None,
            Route::Info => json_bytes(StatusCode::OK, self.canned.info.clone()),
            Route::Metrics => {
                let text = s.metrics.render(&Snapshot {
                    phase: s.phase(),
                    ready: s.is_ready(),
                    log_dropped: log::dropped_total(),
                });
                respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    Bytes::from(text),
                )
            }
            Route::OpenApi => json_bytes(StatusCode::OK, self.canned.openapi.clone()),
            Route::Docs => respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                Bytes::from_static(DOCS_HTML.as_bytes()),
            ),
            Route::Unmatched => not_found(),
        })
    }

    /// `None` when the request may use the admin routes.
    fn unauthorized<B>(&self, req: &Request<B>) -> Option<Response<Body>> {
        let token = self.state.config.admin_token.as_deref()?;
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
            // The scheme is case-insensitive (RFC 9110 §11.1); FastAPI's HTTPBearer agrees.
            .filter(|v| v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"Bearer "))
            .map(|v| &v[7..]);
        match given {
            Some(g) if ct_eq(g, token.as_bytes()) => None,
            _ => {
                let mut rsp = json_static(
                    StatusCode::UNAUTHORIZED,
                    r#"{"detail":"Not authenticated"}"#,
                );
                rsp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Some(rsp)
            }
        }
    }
}

/// Compares in time that depends only on the lengths, not on where the bytes differ, so a
/// caller cannot learn the token a prefix at a time.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// A request head over `MAX_HEADER_BYTES` or with more than `MAX_HEADERS` fields gets a JSON 431.
///
/// HTTP/1: hyper already refuses (while parsing) a head that is still incomplete when its read
/// buffer reaches `MAX_HEADER_BYTES` (`reject` gives that answer its JSON), but a complete head
/// that arrived in one read may be up to twice that; measuring the head here makes the limit
/// exact. HTTP/2: the header list size of RFC 9113 §6.5.2 (name + value + 32 per field,
/// pseudo-headers included), the measure SETTINGS_MAX_HEADER_LIST_SIZE uses.
fn head_too_large<B>(req: &Request<B>, limits: &crate::config::Limits) -> Option<Response<Body>> {
    let h = req.headers();
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |pq| pq.as_str().len());
    let size = if req.version() == Version::HTTP_2 {
        let pseudo = req.method().as_str().len()
            + target
            + uri.authority().map_or(0, |a| a.as_str().len())
            + uri.scheme_str().map_or(0, str::len)
            + 4 * 32;
        h.iter()
            .fold(pseudo, |n, (k, v)| n + k.as_str().len() + v.len() + 32)
    } else {
        // `METHOD SP target SP HTTP/1.1 CRLF`, `name: value CRLF` each, final CRLF; an
        // absolute-form target counts its scheme and authority too.
        let line = req.method().as_str().len()
            + uri.scheme_str().map_or(0, |s| s.len() + 3)
            + uri.authority().map_or(0, |a| a.as_str().len())
            + target
            + 12;
        h.iter()
            .fold(line + 2, |n, (k, v)| n + k.as_str().len() + v.len() + 4)
    };
    (h.len() > limits.max_headers || size > limits.max_header_bytes).then(|| {
        json_static(
            StatusCode::from_u16(431).expect("431 is a valid status"),
            crate::reject::HEAD_TOO_LARGE,
        )
    })
}

fn ready_rsp(s: &AppState) -> Response<Body> {
    if s.is_ready() {
        json_static(StatusCode::OK, r#"{"status":"ok"}"#)
    } else if s.is_shutting_down() {
        json_static(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"not ready","shutting_down":true}"#,
        )
    } else {
        json_static(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"not ready","shutting_down":false}"#,
        )
    }
}

async fn slow(query: Option<&str>) -> Response<Body> {
    let requested = match query::int_param(query, "seconds") {
        Ok(Some(n)) => n,
        Ok(None) => query::Int::small(5),
        Err(e) => return unprocessable(&e),
    };
    let actual = requested.capped(SLOW_CAP_SECONDS);
    crate::log_at!(
        Level::Info,
        "app",
        format!("Slow endpoint called: sleeping for {actual}s")
    );
    // A timer, not a blocked thread: the runtime keeps serving while this request waits.
    tokio::time::sleep(Duration::from_secs(actual)).await;
    json_string(
        StatusCode::OK,
        Obj::new()
            .str("message", &format!("Responded after {actual} seconds"))
            .raw("requested_seconds", requested.as_json())
            .u64("actual_seconds", actual)
            .finish(),
    )
}

/// `GET /internal/prestop?seconds=N`, for an httpGet preStop hook: begins the announce phase
/// now (before SIGTERM), then holds the hook until N seconds after the *first* call, so a hook
/// delivered twice (delivery is at-least-once) does not double the wait.
///
/// A wait longer than DRAIN_TIMEOUT_SECONDS is capped, not refused: a refused hook would start
/// no announce phase at all (the kubelet logs FailedPreStopHook and sends SIGTERM at once, the
/// failure drain.md §0.2 describes for a broken exec preStop).
async fn prestop(s: &Arc<AppState>, query: Option<&str>) -> Response<Body> {
    // Only non-numbers (and absurd numbers, past a year) are refused.
    const MAX_SECONDS: f64 = 365.0 * 86_400.0;
    let wait = match query::seconds_param(query, "seconds", MAX_SECONDS) {
        Ok(Some(d)) => d.min(s.config.drain_timeout),
        Ok(None) => s.config.drain_delay,
        Err(e) => return unprocessable(&e),
    };
    let started = crate::server::start_drain(s, DrainCause::PreStop);
    tokio::time::sleep_until((started + wait).into()).await;
    json_string(
        StatusCode::OK,
        Obj::new()
            .str("status", "draining")
            .u64("waited_ms", started.elapsed().as_millis() as u64)
            .finish(),
    )
}

fn ready(rsp: Response<Body>) -> Reply {
    Reply::Now(Some(rsp))
}

/// A response with an explicit `content-type`. No `content-length` header: hyper writes it
/// from the body's exact size on HTTP/1 and HTTP/2 alike (one header-map insert less per
/// request); only HEAD answers, whose body is emptied, set it themselves (see [`Observed`]).
pub fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut rsp = Response::new(Full::new(body));
    *rsp.status_mut() = status;
    rsp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    rsp
}

fn json_bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    respond(status, "application/json", body)
}

fn json_static(status: StatusCode, body: &'static str) -> Response<Body> {
    json_bytes(status, Bytes::from_static(body.as_bytes()))
}

fn json_string(status: StatusCode, body: String) -> Response<Body> {
    json_bytes(status, Bytes::from(body))
}

pub fn not_found() -> Response<Body> {
    json_static(StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#)
}

fn method_not_allowed(route: Route) -> Response<Body> {
    let mut rsp = json_static(
        StatusCode::METHOD_NOT_ALLOWED,
        r#"{"detail":"Method Not Allowed"}"#,
    );
    rsp.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static(route.allow_header()),
    );
    rsp
}

fn too_large(limit: u64) -> Response<Body> {
    json_string(
        StatusCode::PAYLOAD_TOO_LARGE,
        Obj::new()
            .str("detail", "Request body too large")
            .u64("limit_bytes", limit)
            .finish(),
    )
}

fn bad_request(why: &str) -> Response<Body> {
    json_string(
        StatusCode::BAD_REQUEST,
        Obj::new().str("detail", why).finish(),
    )
}

/// FastAPI's validation-error shape.
fn unprocessable(e: &query::Invalid) -> Response<Body> {
    json_string(StatusCode::UNPROCESSABLE_ENTITY, e.to_json())
}

fn internal_error() -> Response<Body> {
    json_static(
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"{"detail":"Internal Server Error"}"#,
    )
}

fn timed_out() -> Response<Body> {
    json_static(
        StatusCode::SERVICE_UNAVAILABLE,
        r#"{"detail":"Request timed out"}"#,
    )
}

// ---------------------------------------------------------------------------------------------
// The observation layer
// ---------------------------------------------------------------------------------------------

/// Something that answers a routed request; [`App`] in production, a stand-in in tests that
/// need a handler to misbehave (panic, hang).
pub trait Handler: Clone + Send + Sync + 'static {
    fn handle(&self, route: Route, req: Request<Incoming>) -> Reply;
    fn state(&self) -> &Arc<AppState>;
}

impl Handler for App {
    fn handle(&self, route: Route, req: Request<Incoming>) -> Reply {
        App::handle(self, route, req)
    }
    fn state(&self) -> &Arc<AppState> {
        &self.state
    }
}

/// Per-connection service: the handler plus what the access log needs to know about the peer.
#[derive(Clone)]
pub struct Observed<H> {
    handler: H,
    /// The peer's address as the access log writes it, formatted once per connection.
    peer: Arc<str>,
}

impl<H: Handler> Observed<H> {
    pub fn new(handler: H, peer: SocketAddr) -> Self {
        Observed {
            handler,
            peer: peer.to_string().into(),
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids for requests that bring none: a per-process prefix and a sequence number.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// The per-process prefix (the PID in hex), computed once: `getpid` is a system call.
static ID_PREFIX: OnceLock<String> = OnceLock::new();

/// Decrements `http_requests_in_flight` however the request ends: answered, panicked, or
/// dropped because its connection was cut at the drain deadline.
struct InFlight(Arc<AppState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the access log records about a request, captured before the handler consumes it.
struct AccessInfo {
    method: Method,
    /// The request target; cloning a parsed `Uri` shares its bytes instead of copying them.
    uri: Uri,
    version: Version,
    user_agent: Option<HeaderValue>,
}

impl<H: Handler> hyper::service::Service<Request<Incoming>> for Observed<H> {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let start = Instant::now();
        let state = self.handler.state().clone();
        state.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(state.clone());
        let route = routes::resolve(req.uri().path());
        let method = routes::method_index(req.method());
        let http1 = req.version() <= Version::HTTP_11;
        let head = req.method() == Method::HEAD;
        let access = state.config.access_log && log::enabled(Level::Info);
        let given_id = req
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|v| valid_request_id(v))
            .cloned();
        let info = access.then(|| AccessInfo {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            user_agent: req.headers().get(header::USER_AGENT).cloned(),
        });
        // Timers cost a little per request; only routes that can wait get one.
        let can_wait = matches!(route, Route::Slow | Route::PreStop) || !req.body().is_end_stream();
        let timeout = state.config.limits.request_timeout;
        // A handler may also panic while building its future; that panic is re-raised inside
        // the future so that it becomes the same 500 (and is not reported twice by the hook).
        let handler = &self.handler;
        let fut = CatchUnwind(
            catch_unwind(AssertUnwindSafe(|| handler.handle(route, req))).unwrap_or_else(
                |payload| Reply::Later(Box::pin(async move { std::panic::resume_unwind(payload) })),
            ),
        );
        let peer = Arc::clone(&self.peer);
        Box::pin(async move {
            let outcome = if can_wait {
                match tokio::time::timeout(timeout, fut).await {
                    Ok(r) => r,
                    Err(_) => Ok(timed_out()),
                }
            } else {
                fut.await
            };
            let mut rsp = outcome.unwrap_or_else(|panic| {
                state.metrics.panics.fetch_add(1, Ordering::Relaxed);
                crate::log_at!(Level::Error, "app", "request handler panicked; answered 500",
                    "event" => "handler_panic", "panic" => panic.as_str(), "route" => route.template());
                internal_error()
            });
            if head {
                // hyper drops a HEAD answer's body on HTTP/1 but sends it as DATA frames on
                // HTTP/2, which clients reject (RFC 9113 §8.1.1). The headers stay GET's,
                // content-length included (hyper would derive 0 from the emptied body).
                let len = body_len(&rsp);
                rsp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                *rsp.body_mut() = Body::default();
            }
            if state.phase() >= Phase::Draining {
                // R8/R13: while draining, every HTTP/1 answer is the connection's last.
                if http1 {
                    rsp.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                state.metrics.drain_requests.fetch_add(1, Ordering::Relaxed);
            }
            let id = match given_id {
                Some(id) => Some(id),
                None if access => Some(new_request_id()),
                None => None,
            };
            if let Some(id) = &id {
                rsp.headers_mut().insert(X_REQUEST_ID, id.clone());
            }
            let took = start.elapsed();
            let status = rsp.status();
            state.metrics.record(route, method, status.as_u16(), took);
            if let Some(info) = info {
                access_log(&info, status, took, body_len(&rsp), &peer, id.as_ref());
            }
            drop(guard);
            Ok(rsp)
        })
    }
}

fn body_len(rsp: &Response<Body>) -> u64 {
    rsp.body().size_hint().exact().unwrap_or(0)
}

fn valid_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
}

fn new_request_id() -> HeaderValue {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let prefix = ID_PREFIX.get_or_init(|| format!("{:08x}-", id_prefix()));
    let mut id = String::with_capacity(prefix.len() + 16);
    id.push_str(prefix);
    push_hex(&mut id, n);
    // From the `String`'s own allocation: no second copy.
    HeaderValue::from_maybe_shared(Bytes::from(id))
        .expect("hex digits and a dash are a valid header value")
}

/// Lower-case hex without `fmt` (this runs once per request).
fn push_hex(out: &mut String, n: u64) {
    let digits = 16 - (n.leading_zeros() as usize / 4).min(15);
    for shift in (0..digits).rev() {
        out.push(char::from(
            b"0123456789abcdef"[((n >> (shift * 4)) & 0xf) as usize],
        ));
    }
}

/// The per-process prefix. In a container every replica's process is PID 1, so the PID alone
/// gave every pod of a Deployment the same ids; the start instant's nanoseconds set them apart.
fn id_prefix() -> u32 {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        nanos ^ std::process::id().rotate_left(16)
    })
}

fn access_log(
    info: &AccessInfo,
    status: StatusCode,
    took: Duration,
    bytes: u64,
    peer: &str,
    id: Option<&HeaderValue>,
) {
    let version = match info.version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    };
    let target = info
        .uri
        .path_and_query()
        .map_or_else(|| info.uri.path(), |pq| pq.as_str());
    log::log_access(&log::Access {
        method: info.method.as_str(),
        target,
        version,
        status: status.as_u16(),
        duration_us: took.as_micros().min(u128::from(u64::MAX)) as u64,
        bytes: if info.method == Method::HEAD {
            0
        } else {
            bytes
        },
        remote_addr: peer,
        user_agent: info.user_agent.as_ref().map_or(b"", |v| v.as_bytes()),
        request_id: id.map_or(b"", |v| v.as_bytes()),
    });
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
    use super::*;

    #[test]
    fn constant_time_compare_is_correct() {
        assert!(ct_eq(b"s3cret-token", b"s3cret-token"));
        assert!(!ct_eq(b"s3cret-token", b"s3cret-tokem"));
        assert!(!ct_eq(b"s3cret", b"s3cret-token"));
        assert!(!ct_eq(b"", b"x"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn hex_matches_fmt() {
        for n in [0, 1, 0xf, 0x10, 0xabc, 0x1234_5678_9abc, u64::MAX] {
            let mut s = String::new();
            push_hex(&mut s, n);
            assert_eq!(s, format!("{n:x}"));
        }
    }

    #[test]
    fn request_ids_are_validated() {
        assert!(valid_request_id(&HeaderValue::from_static("abc-123")));
        assert!(!valid_request_id(&HeaderValue::from_static("has space")));
        assert!(!valid_request_id(&HeaderValue::from_static("")));
        assert!(valid_request_id(&new_request_id()));
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_err() {
        let fut: BoxFuture = Box::pin(async { panic!("boom") });
        let r = CatchUnwind(fut.into()).await;
        assert_eq!(r.unwrap_err(), "boom");
    }

    #[test]
    fn responses_carry_type_and_length() {
        let r = not_found();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        // hyper writes content-length from this exact size.
        assert_eq!(r.body().size_hint().exact(), Some(22));
        let r = method_not_allowed(Route::ToggleReady);
        assert_eq!(r.headers()[header::ALLOW], "POST");
    }
}
