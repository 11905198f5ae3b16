//! Named responses. Each has an explicit `content-type`; no `content-length` header: hyper
//! writes it from the body's exact size on HTTP/1 and HTTP/2 alike (one header-map insert
//! less per request). Only HEAD answers, whose body is emptied, set it (see `observe`).

use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::routes::Methods;
use super::Body;
use crate::json::Obj;
use crate::query;

/// Every status the request path produces (the handlers, these responses, and the answers
/// hyper writes by itself that `reject` rewrites): the `status` label values of
/// `http_requests_total`. A test builds every named response and checks it is listed.
pub(crate) const STATUSES: &[u16] = &[
    200, 202, 400, 401, 404, 405, 409, 413, 414, 415, 422, 431, 500, 503,
];

/// The body of every 431, HTTP/1 (rewritten by `reject`) and HTTP/2 (`too_many_headers`).
pub(crate) const HEAD_TOO_LARGE: &str = r#"{"detail":"Request Header Fields Too Large"}"#;

/// The content types the service answers with. Constants, so that the check `from_static`
/// makes of every byte runs once at compile time and not on every response (callgrind: ~180
/// instructions per `GET /`).
pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const PROMETHEUS_TEXT: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
pub(crate) const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");

pub(crate) fn respond(
    status: StatusCode,
    content_type: HeaderValue,
    body: Bytes,
) -> Response<Body> {
    let mut rsp = Response::new(Body::new(body));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(header::CONTENT_TYPE, content_type);
    rsp
}

pub(crate) fn json_bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    respond(status, JSON, body)
}

pub(crate) fn json_static(status: StatusCode, body: &'static str) -> Response<Body> {
    json_bytes(status, Bytes::from_static(body.as_bytes()))
}

pub(crate) fn json_string(status: StatusCode, body: String) -> Response<Body> {
    json_bytes(status, Bytes::from(body))
}

pub(crate) fn not_found() -> Response<Body> {
    json_static(StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#)
}

pub(crate) fn method_not_allowed(allowed: Methods) -> Response<Body> {
    let mut rsp = json_static(
        StatusCode::METHOD_NOT_ALLOWED,
        r#"{"detail":"Method Not Allowed"}"#,
    );
    let allow = HeaderValue::from_str(&allowed.allow()).expect("method names are a header value");
    rsp.headers_mut().insert(header::ALLOW, allow);
    rsp
}

pub(crate) fn unauthorized() -> Response<Body> {
    let mut rsp = json_static(
        StatusCode::UNAUTHORIZED,
        r#"{"detail":"Not authenticated"}"#,
    );
    rsp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    rsp
}

pub(crate) fn too_large(limit: u64) -> Response<Body> {
    json_string(
        StatusCode::PAYLOAD_TOO_LARGE,
        Obj::new()
            .str("detail", "Request body too large")
            .u64("limit_bytes", limit)
            .finish(),
    )
}

pub(crate) fn head_too_large() -> Response<Body> {
    json_static(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, HEAD_TOO_LARGE)
}

pub(crate) fn bad_request(why: &str) -> Response<Body> {
    json_string(
        StatusCode::BAD_REQUEST,
        Obj::new().str("detail", why).finish(),
    )
}

/// FastAPI's validation-error shape.
pub(crate) fn unprocessable(e: &query::Invalid) -> Response<Body> {
    json_string(StatusCode::UNPROCESSABLE_ENTITY, e.to_json())
}

pub(crate) fn internal_error() -> Response<Body> {
    json_static(
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"{"detail":"Internal Server Error"}"#,
    )
}

pub(crate) fn timed_out() -> Response<Body> {
    json_static(
        StatusCode::SERVICE_UNAVAILABLE,
        r#"{"detail":"Request timed out"}"#,
    )
}

/// Marks an HTTP/1 answer as the connection's last (`Connection: close`).
pub(crate) fn closing(mut rsp: Response<Body>) -> Response<Body> {
    mark_closing(&mut rsp);
    rsp
}

/// [`closing`] in place.
pub(crate) fn mark_closing(rsp: &mut Response<Body>) {
    const CLOSE: HeaderValue = HeaderValue::from_static("close");
    rsp.headers_mut().insert(header::CONNECTION, CLOSE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    #[test]
    fn responses_carry_type_and_length() {
        let r = not_found();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        // hyper writes content-length from this exact size.
        assert_eq!(r.body().size_hint().exact(), Some(22));
        let r = method_not_allowed(Methods::POST);
        assert_eq!(r.headers()[header::ALLOW], "POST");
    }

    /// The metrics' status list holds every status a named response or handler produces,
    /// and the ones `reject` rewrites; nothing else.
    #[test]
    fn statuses_are_what_the_code_produces() {
        let invalid = query::int_param(Some("seconds=x"), "seconds").unwrap_err();
        let mut produced: Vec<u16> = [
            not_found(),
            method_not_allowed(Methods::GET),
            unauthorized(),
            too_large(1),
            head_too_large(),
            bad_request("x"),
            unprocessable(&invalid),
            internal_error(),
            timed_out(),
        ]
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
        // The handlers: 200 (every route), 409 (toggle while draining; a CPU stress run
        // going), 503 (readiness, liveness off); the lab's: 202 (crash, stress), 415 (gRPC
        // without its content-type). `/status/{code}`'s other codes count as `other`.
        produced.extend([200, 202, 409, 415, 503]);
        produced.extend(super::super::reject::REJECTED_STATUSES);
        produced.sort_unstable();
        produced.dedup();
        assert_eq!(produced, STATUSES);
    }
}
