//! `grpc.health.v1.Health` served by hand on the port's HTTP/2 (h2c prior knowledge) path: no
//! gRPC library, because the two messages are a few bytes of protobuf ([`proto`]), the
//! framing is a 5-byte prefix ([`frame`]) and the rest is HTTP/2 that hyper already speaks
//! ([`body`] adds trailers and the `Watch` stream).
//!
//! | service                | reports                                                    |
//! |------------------------|------------------------------------------------------------|
//! | `""`, `hello-world`    | readiness: `NOT_SERVING` while starting, toggled off, draining |
//! | `liveness`             | liveness (`POST /admin/toggle-live`)                        |
//! | anything else          | `Check`: status `NOT_FOUND`; `Watch`: `SERVICE_UNKNOWN`      |
//!
//! Kubernetes' native `grpc:` probe calls `Check` with the probe's `service`, so one port
//! answers `readinessProbe.grpc.service: ""` and `livenessProbe.grpc.service: liveness`.
//!
//! Errors are *trailers-only* answers: HTTP 200, `content-type: application/grpc` and the
//! `grpc-status`/`grpc-message` in the one HEADERS frame, no DATA. Two refusals are plain HTTP,
//! as the protocol asks, so a non-gRPC client cannot mistake them for success: a request whose
//! content-type is not gRPC (415) and a gRPC request over HTTP/1 (400: trailers need HTTP/2).

pub mod body;
pub mod frame;
pub mod proto;

use std::sync::Arc;

use http_body_util::BodyExt as _;
use hyper::body::Body;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use tokio::sync::watch;

pub use body::GrpcBody;
use body::StatusFn;
use frame::{Code, Collector, Status};
use proto::ServingStatus;

pub const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
pub const WATCH_PATH: &str = "/grpc.health.v1.Health/Watch";

/// The largest request message accepted (a service name is a few dozen bytes; gRPC
/// libraries answer `RESOURCE_EXHAUSTED` past their limit too).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// What the health service reads; implemented by the application state.
pub trait Health: Send + Sync + 'static {
    /// Readiness, exactly as `/health/ready` answers it.
    fn ready(&self) -> bool;
    /// Liveness, exactly as `/health/live` answers it.
    fn live(&self) -> bool;
    /// The server is closing its connections: `Watch` streams end (with `UNAVAILABLE`) so
    /// they do not hold the drain open.
    fn closing(&self) -> bool;
    /// Bumped on every change of readiness, liveness or phase.
    fn changes(&self) -> watch::Receiver<()>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Check,
    Watch,
}

/// What a service name reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Readiness,
    Liveness,
}

pub fn target(service: &str) -> Option<Target> {
    match service {
        "" | "hello-world" => Some(Target::Readiness),
        "liveness" => Some(Target::Liveness),
        _ => None,
    }
}

fn status_of<H: Health + ?Sized>(h: &H, t: Target) -> ServingStatus {
    let up = match t {
        Target::Readiness => h.ready(),
        Target::Liveness => h.live(),
    };
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// A refusal at the HTTP level, before any gRPC: the caller answers it with its JSON error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub detail: &'static str,
}

/// Checks that `req` is a gRPC call this server can answer in gRPC at all.
pub fn precheck<B>(req: &Request<B>) -> Result<(), Refusal> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map_or(&b""[..], HeaderValue::as_bytes);
    // `application/grpc`, `application/grpc+proto`, `application/grpc;charset…`.
    let grpc =
        ct.starts_with(b"application/grpc") && matches!(ct.get(16), None | Some(b'+' | b';'));
    if !grpc {
        return Err(Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            detail: "gRPC calls need content-type: application/grpc",
        });
    }
    if req.version() != Version::HTTP_2 {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            detail: "gRPC needs HTTP/2 (h2c with prior knowledge on this port)",
        });
    }
    Ok(())
}

/// Answers one call to `method`; `req` has passed [`precheck`].
pub async fn call<H, B>(health: Arc<H>, method: Method, req: Request<B>) -> Response<GrpcBody>
where
    H: Health,
    B: Body,
    B::Data: AsRef<[u8]>,
{
    if let Some(codec) = codec(&req) {
        let msg = format!("only protobuf is served, not application/grpc+{codec}");
        return trailers_only(&Status::new(Code::Unimplemented, msg));
    }
    let service = match read_request(req.into_body()).await {
        Ok(s) => s,
        Err(status) => return trailers_only(&status),
    };
    let target = target(&service);
    match method {
        Method::Check => match target {
            Some(t) => grpc_response(GrpcBody::unary(proto::encode_response(status_of(
                &*health, t,
            )))),
            None => trailers_only(&Status::new(
                Code::NotFound,
                format!("unknown service: {service:?}"),
            )),
        },
        Method::Watch => {
            let changes = health.changes();
            let status: StatusFn = Arc::new(move || {
                if health.closing() {
                    return None;
                }
                // health.proto: an unknown service gets SERVICE_UNKNOWN, and the call stays
                // open (it would report a status if the service ever became known).
                Some(target.map_or(ServingStatus::ServiceUnknown, |t| status_of(&*health, t)))
            });
            grpc_response(GrpcBody::watch(changes, status))
        }
    }
}

/// A gRPC path we do not serve (another method or service): `UNIMPLEMENTED`.
pub fn unimplemented(path: &str) -> Response<GrpcBody> {
    trailers_only(&Status::new(
        Code::Unimplemented,
        format!("unknown method {path}"),
    ))
}

/// The `+codec` suffix of the content-type when it is not protobuf.
fn codec<B>(req: &Request<B>) -> Option<String> {
    let ct = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let sub = ct.strip_prefix("application/grpc+")?;
    let sub = sub.split(';').next().unwrap_or("").trim();
    (!sub.eq_ignore_ascii_case("proto")).then(|| sub.to_owned())
}

async fn read_request<B>(body: B) -> Result<String, Status>
where
    B: Body,
    B::Data: AsRef<[u8]>,
{
    let mut collector = Collector::new(MAX_MESSAGE_BYTES);
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Status::new(Code::Internal, "request body unreadable"))?;
        if let Ok(data) = frame.into_data() {
            collector.push(data.as_ref())?;
        }
    }
    let message = collector.finish()?;
    proto::decode_request(&message).map_err(|e| Status::new(Code::Internal, e.0))
}

fn grpc_response(body: GrpcBody) -> Response<GrpcBody> {
    let mut rsp = Response::new(body);
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    rsp
}

/// An error as one HEADERS frame: HTTP 200, content-type, status and message.
pub fn trailers_only(status: &Status) -> Response<GrpcBody> {
    let mut rsp = grpc_response(GrpcBody::empty());
    rsp.headers_mut()
        .extend(body::trailers(status.code, &status.message));
    if status.code == Code::Unimplemented {
        rsp.headers_mut()
            .insert("grpc-accept-encoding", HeaderValue::from_static("identity"));
    }
    rsp
}

#[cfg(test)]
mod tests;
