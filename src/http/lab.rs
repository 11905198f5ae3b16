//! The handlers of the Part 3 lab's routes (rows of the route table): the read-only test
//! routes, the experiments under `/admin/`, gRPC health, and the fault injection the
//! application routes go through. What each answers is decided in [`crate::lab::answers`]
//! and [`crate::grpc`]; this module only turns requests into those calls and answers into
//! responses.

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};

use super::handlers::BoxFuture;
use super::responses::{self as r, json_static, json_string};
use super::{App, Body, Reply};
use crate::grpc;
use crate::json::Obj;
use crate::lab::answers::{self, Answer};
use crate::lab::Injected;

/// The peer address, handed to `/echo` in the request's extensions by the observation layer
/// (only for the routes that take the whole request: no cost on the others).
#[derive(Clone)]
pub(crate) struct Peer(pub Arc<str>);

/// On a response that got an injected fault: the access log's `fault` value.
#[derive(Clone, Copy)]
pub(crate) struct FaultMark(pub &'static str);

/// A lab answer as a JSON response (an empty body stays empty: 204, 304).
fn respond(a: Answer) -> Response<Body> {
    if a.body.is_empty() {
        let mut rsp = Response::new(Body::default());
        *rsp.status_mut() = a.status;
        return rsp;
    }
    json_string(a.status, a.body)
}

/// An injected fault: the delay first (`FAULT_DELAY_SECONDS`), then 500 or the route
/// (`inner`, `None` for an error).
pub(crate) fn faulted(fault: Injected, inner: Option<Reply>) -> Reply {
    let mark = FaultMark(fault.label());
    let fail = move || {
        let mut rsp = json_static(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"detail":"fault injected"}"#,
        );
        rsp.extensions_mut().insert(mark);
        rsp
    };
    let Some(delay) = fault.delay else {
        return Reply::Now(Some(fail()));
    };
    Reply::Later(Box::pin(async move {
        tokio::time::sleep(delay).await;
        match inner {
            Some(reply) => {
                let mut rsp = reply.await;
                rsp.extensions_mut().insert(mark);
                rsp
            }
            None => fail(),
        }
    }))
}

/// `GET /status/{code}`.
pub(crate) fn status(_: &App, uri: &Uri) -> Response<Body> {
    let code = uri.path().strip_prefix("/status/").unwrap_or("");
    let mut rsp = respond(answers::status(code));
    // What RFC 9110 requires of these two statuses.
    match rsp.status().as_u16() {
        405 => {
            let allow = HeaderValue::from_static("GET, HEAD");
            rsp.headers_mut().insert(header::ALLOW, allow);
        }
        401 => {
            let scheme = HeaderValue::from_static("Bearer");
            rsp.headers_mut().insert(header::WWW_AUTHENTICATE, scheme);
        }
        _ => {}
    }
    rsp
}

/// Reads the body up to `MAX_BODY_BYTES`; the error is the answer.
async fn body(app: &App, body: Incoming) -> Result<hyper::body::Bytes, Response<Body>> {
    let limit = app.state.config.limits.max_body_bytes;
    match Limited::new(body, limit as usize).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(r::too_large(limit)),
        Err(_) => Err(r::bad_request("the request body could not be read")),
    }
}

/// `/echo`, any of its methods.
pub(crate) fn echo(app: App, req: Request<Incoming>) -> BoxFuture {
    Box::pin(async move {
        let (parts, incoming) = req.into_parts();
        let bytes = match body(&app, incoming).await {
            Ok(b) => b,
            Err(rsp) => return rsp,
        };
        let peer = parts.extensions.get::<Peer>().map_or("", |p| &p.0[..]);
        let pod = &app.state.config.pod_name;
        json_string(
            StatusCode::OK,
            crate::lab::echo::render(&parts, &bytes, peer, pod),
        )
    })
}

pub(crate) fn toggle_live(app: &App, _: &Uri) -> Response<Body> {
    respond(answers::toggle_live(&app.state.lab))
}

pub(crate) fn crash(_: &App, uri: &Uri) -> Response<Body> {
    respond(answers::crash(uri.query()))
}

pub(crate) fn stress_cpu(app: &App, uri: &Uri) -> Response<Body> {
    respond(answers::stress_cpu(&app.state.lab, uri.query()))
}

/// `GET /admin/fault` shows, `POST /admin/fault?mode=` switches.
pub(crate) fn fault(app: App, req: Request<Incoming>) -> BoxFuture {
    Box::pin(async move {
        let (parts, incoming) = req.into_parts();
        if let Err(rsp) = body(&app, incoming).await {
            return rsp;
        }
        let lab = &app.state.lab;
        respond(match parts.method {
            Method::POST => answers::set_fault(lab, parts.uri.query()),
            _ => answers::fault_state(lab),
        })
    })
}

/// `POST /admin/stress/memory?mib=M` holds more, `DELETE` releases all.
pub(crate) fn stress_memory(app: App, req: Request<Incoming>) -> BoxFuture {
    Box::pin(async move {
        let (parts, incoming) = req.into_parts();
        if let Err(rsp) = body(&app, incoming).await {
            return rsp;
        }
        let lab = &app.state.lab;
        respond(match parts.method {
            Method::DELETE => answers::release_memory(lab),
            _ => answers::stress_memory(lab, parts.uri.query()).await,
        })
    })
}

pub(crate) fn grpc_check(app: App, req: Request<Incoming>) -> BoxFuture {
    grpc_call(app, req, grpc::Method::Check)
}

pub(crate) fn grpc_watch(app: App, req: Request<Incoming>) -> BoxFuture {
    grpc_call(app, req, grpc::Method::Watch)
}

fn grpc_call(app: App, req: Request<Incoming>, method: grpc::Method) -> BoxFuture {
    Box::pin(async move {
        if let Err(refusal) = grpc::precheck(&req) {
            let body = Obj::new().str("detail", refusal.detail).finish();
            return json_string(refusal.status, body);
        }
        let state = Arc::clone(&app.state);
        grpc::call(state, method, req).await.map(Body::Grpc)
    })
}
