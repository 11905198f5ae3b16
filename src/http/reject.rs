//! Answers about the request head itself: hyper's own bodiless rejections made JSON, and the
//! exact `MAX_HEADER_BYTES`/`MAX_HEADERS` check on a head hyper accepted.
//!
//! When an HTTP/1 request head cannot be parsed, hyper's dispatcher answers on its own, before
//! any service sees a request (`proto/h1/role.rs`, `Server::on_error`): `431` for a head larger
//! than `max_buf_size` or with more than `max_headers` fields, `414` for an over-long URI,
//! `400` for a malformed method, target, header or version. That answer has an empty body and
//! no `content-type`, and hyper offers no hook to change it. [`rewrite`] turns such a head into
//! the same status with a JSON body; the connection's I/O wrapper (`server::io`) applies it on
//! the way out. It relies on two facts of this service: every response it builds has a
//! `content-type`, and no body it sends starts with `HTTP/1.1 ` (bodies are JSON, HTML or
//! Prometheus text), so a body chunk can never be mistaken for hyper's head.

use hyper::{Request, Response, Version};

use super::responses::{self, HEAD_TOO_LARGE};
use super::state::SERVED_BY;
use super::Body;
use crate::config::Limits;

/// The statuses hyper answers by itself, with our JSON bodies.
const REJECTS: [(&[u8], u16, &str); 3] = [
    (b"HTTP/1.1 431 ", 431, HEAD_TOO_LARGE),
    (b"HTTP/1.1 414 ", 414, r#"{"detail":"URI Too Long"}"#),
    (b"HTTP/1.1 400 ", 400, r#"{"detail":"Bad Request"}"#),
];

/// The statuses [`rewrite`] produces (for the metrics' status list).
#[cfg(test)]
pub(crate) const REJECTED_STATUSES: [u16; 3] = [REJECTS[0].1, REJECTS[1].1, REJECTS[2].1];

/// If `buf` starts with one of hyper's own error heads, returns its length, its status and the
/// JSON replacement (head and body, with `x-served-by: {served_by}` like every other answer,
/// and `connection: close`: hyper closes after a parse error). Pure, so it can be tested and
/// fuzzed on its own.
pub fn rewrite(buf: &[u8], served_by: &[u8]) -> Option<(usize, u16, Vec<u8>)> {
    // Every response head passes here: one byte (the status class) turns away the 2xx and
    // 3xx answers before any prefix is compared.
    if buf.get(9) != Some(&b'4') {
        return None;
    }
    let (_, status, body) = REJECTS.iter().find(|(p, ..)| buf.starts_with(p))?;
    let end = find(buf, b"\r\n\r\n")? + 4;
    let head = &buf[..end];
    let mut out = Vec::with_capacity(end + 112 + served_by.len() + body.len());
    // Lines without their CR; empty ones dropped, so the output has exactly one blank line.
    let mut lines = head[..end - 2]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty());
    // Status line as hyper wrote it (canonical reason phrase).
    out.extend_from_slice(lines.next()?);
    out.extend_from_slice(b"\r\n");
    for line in lines {
        let name = line.split(|&b| b == b':').next().unwrap_or(b"");
        if name.eq_ignore_ascii_case(b"content-type") {
            return None; // an answer of ours, not hyper's
        }
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"connection")
        {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(SERVED_BY.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(served_by);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    Some((end, *status, out))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request head over `MAX_HEADER_BYTES` or with more than `MAX_HEADERS` fields gets a JSON 431.
///
/// HTTP/1: hyper already refuses (while parsing) a head that is still incomplete when its read
/// buffer reaches `MAX_HEADER_BYTES` ([`rewrite`] gives that answer its JSON), but a complete head
/// that arrived in one read may be up to twice that; measuring the head here makes the limit
/// exact. HTTP/2: the header list size of RFC 9113 §6.5.2 (name + value + 32 per field,
/// pseudo-headers included), the measure SETTINGS_MAX_HEADER_LIST_SIZE uses.
pub(crate) fn oversized_head<B>(req: &Request<B>, limits: &Limits) -> Option<Response<Body>> {
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
    (h.len() > limits.max_headers || size > limits.max_header_bytes).then(responses::head_too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_431_becomes_json() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        let (len, status, out) = rewrite(head, b"pod-1").unwrap();
        assert_eq!((len, status), (head.len(), 431));
        let text = String::from_utf8(out).unwrap();
        let (h, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(h.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(h.contains("\r\ncontent-type: application/json"));
        assert!(h.contains("\r\ndate: Thu"));
        assert!(h.contains("\r\nx-served-by: pod-1\r\n"));
        assert!(h.contains(&format!("\r\ncontent-length: {}", body.len())));
        assert!(!h.contains("content-length: 0"));
        assert_eq!(body, r#"{"detail":"Request Header Fields Too Large"}"#);
    }

    #[test]
    fn our_own_answers_pass_untouched() {
        for head in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"{\"detail\":\"HTTP/1.1 431 \"}",
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n", // incomplete
            b"",
        ] {
            assert!(rewrite(head, b"pod-1").is_none(), "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn stray_blank_lines_cannot_end_the_head_early() {
        // Found by the `query` fuzz target: a bare-CR line used to be copied as a blank line.
        let odd = b"HTTP/1.1 431 Req\r\n\n\r\n\r\ndate: x\r\n\r\n";
        let (_, _, out) = rewrite(odd, b"pod-1").unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{text:?}"
        );
        assert_eq!(body, HEAD_TOO_LARGE);
    }

    #[test]
    fn bad_request_and_uri_too_long_too() {
        let (_, s, out) = rewrite(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            b"pod-1",
        )
        .unwrap();
        assert_eq!(s, 400);
        assert!(out.ends_with(br#"{"detail":"Bad Request"}"#));
        let (_, s, _) = rewrite(b"HTTP/1.1 414 URI Too Long\r\n\r\n", b"pod-1").unwrap();
        assert_eq!(s, 414);
    }
}
