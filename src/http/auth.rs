//! The admin token: `Authorization: Bearer <ADMIN_TOKEN>` on the routes the table marks
//! `admin`, compared in constant time.

use hyper::header::{self, HeaderValue};
use hyper::{Request, Response};

use super::{responses, Body};

/// `None` when the request may use an admin route: no token is set, or it carries the token.
pub(crate) fn check<B>(token: Option<&str>, req: &Request<B>) -> Option<Response<Body>> {
    let token = token?;
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        // The scheme is case-insensitive (RFC 9110 §11.1); FastAPI's HTTPBearer agrees.
        .filter(|v| v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"Bearer "))
        .map(|v| &v[7..]);
    match given {
        Some(g) if ct_eq(g, token.as_bytes()) => None,
        _ => Some(responses::unauthorized()),
    }
}

/// Compares in time that depends only on the lengths, not on where the bytes differ, so a
/// caller cannot learn the token a prefix at a time.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
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
    fn bearer_scheme_any_case() {
        let req = |v: &'static str| {
            Request::builder()
                .header("authorization", v)
                .body(())
                .unwrap()
        };
        assert!(check(Some("s3cret-token"), &req("bearer s3cret-token")).is_none());
        assert!(check(Some("s3cret-token"), &req("Bearer s3cret-tokeX")).is_some());
        assert!(check(Some("s3cret-token"), &req("Basic s3cret-token")).is_some());
        assert!(check(None, &req("")).is_none());
    }
}
