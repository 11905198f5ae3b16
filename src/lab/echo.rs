//! `/echo`: the request as the server received it — method, path, decoded query pairs,
//! headers, body, peer address, protocol and the pod that answered. Behind an ingress this
//! shows what really arrives (`x-forwarded-for`, `host`, the path after rewrites).
//!
//! Credentials are not echoed: `authorization` and `cookie` values become `"<redacted>"`.
//! A body that is not UTF-8 is sent as base64 (`"body_encoding":"base64"`).

use hyper::http::request::Parts;
use hyper::Version;

use crate::json::{self, Obj};
use crate::query;

const REDACTED: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// The JSON body of an `/echo` answer.
pub fn render(parts: &Parts, body: &[u8], remote_addr: &str, pod: &str) -> String {
    let mut pairs = String::from("[");
    for pair in parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if pairs.len() > 1 {
            pairs.push(',');
        }
        pairs.push('[');
        json::push_str(&mut pairs, &String::from_utf8_lossy(&query::decode(k)));
        pairs.push(',');
        json::push_str(&mut pairs, &String::from_utf8_lossy(&query::decode(v)));
        pairs.push(']');
    }
    pairs.push(']');

    // Repeated fields are joined with ", " (RFC 9110 §5.3), in arrival order.
    let mut headers: Vec<(&str, String)> = Vec::new();
    for (name, value) in &parts.headers {
        let name = name.as_str();
        let value = if REDACTED.contains(&name) {
            "<redacted>".to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) if !REDACTED.contains(&name) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            Some(_) => {}
            None => headers.push((name, value)),
        }
    }
    let mut h = Obj::new();
    for (name, value) in &headers {
        h = h.str(name, value);
    }

    let (text, encoding) = match std::str::from_utf8(body) {
        Ok(t) => (t.to_owned(), "utf-8"),
        Err(_) => (base64(body), "base64"),
    };
    Obj::new()
        .str("method", parts.method.as_str())
        .str("path", parts.uri.path())
        .raw("query", &pairs)
        .raw("headers", &h.finish())
        .str("body", &text)
        .str("body_encoding", encoding)
        .str("remote_addr", remote_addr)
        .str("protocol", protocol(parts.version))
        .str("pod", pod)
        .finish()
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10 test vectors.
    #[test]
    fn base64_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = hyper::Request::builder().method("POST").uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn echoes_the_request_and_redacts_credentials() {
        let p = parts(
            "/echo?a=1&b=x+y&a=%32",
            &[
                ("x-forwarded-for", "10.0.0.1"),
                ("x-forwarded-for", "10.0.0.2"),
                ("authorization", "Bearer s3cret"),
                ("cookie", "session=abc"),
                ("cookie", "other=def"),
            ],
        );
        let body = render(&p, b"hello", "127.0.0.1:5000", "pod-a");
        assert_eq!(
            body,
            r#"{"method":"POST","path":"/echo","query":[["a","1"],["b","x y"],["a","2"]],"headers":{"x-forwarded-for":"10.0.0.1, 10.0.0.2","authorization":"<redacted>","cookie":"<redacted>"},"body":"hello","body_encoding":"utf-8","remote_addr":"127.0.0.1:5000","protocol":"HTTP/1.1","pod":"pod-a"}"#
        );
        assert!(!body.contains("s3cret") && !body.contains("session"));
    }

    #[test]
    fn binary_bodies_are_base64() {
        let body = render(&parts("/echo", &[]), &[0xff, 0x00, 0x80], "x", "p");
        assert!(
            body.contains(r#""body":"/wCA","body_encoding":"base64""#),
            "{body}"
        );
        assert!(body.contains(r#""query":[]"#));
    }
}
