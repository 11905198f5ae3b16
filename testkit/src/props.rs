//! Properties of the input-facing pure functions, as plain functions of arbitrary bytes.
//!
//! One definition, three drivers:
//! - the cargo-fuzz targets in `fuzz/fuzz_targets/` (coverage-guided, nightly, run by
//!   `fuzz/run.sh`);
//! - the suite's `props` module replays the committed corpus `fuzz/corpus/<target>/` through them
//!   in the normal suite;
//! - the suite's `props` module also drives them (and structured variants) with proptest.
//!
//! Each function panics when a property is violated; it must never panic otherwise.

use hello_world::internals::{query, reject};
use hello_world::{json, log};

fn escape(s: &str) -> String {
    let mut out = String::new();
    json::push_str(&mut out, s);
    out
}

/// The JSON string escaper: output parses as a JSON string equal to the input; it carries no
/// raw control character, DEL or U+2028/U+2029 (one log line stays one line for every consumer);
/// `push_bytes` equals the lossy UTF-8 of its input; an object of such strings round-trips; a
/// log record is exactly one line of one JSON object.
pub fn check_json_escape(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let out = escape(&s);
    let back: String = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("escaped output is not JSON ({e}): {out:?}"));
    assert_eq!(back, s, "round trip");
    assert!(
        !out.chars()
            .any(|c| (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}'),
        "raw control or line separator left in {out:?}"
    );

    let mut b = String::new();
    json::push_bytes(&mut b, data);
    assert_eq!(
        serde_json::from_str::<String>(&b).expect("bytes as JSON"),
        s
    );

    // Split the input in two: a key and a value of an object.
    let (k, v) = s.split_at(
        s.char_indices()
            .nth(s.chars().count() / 2)
            .map_or(s.len(), |x| x.0),
    );
    let obj = json::Obj::new().str(k, v).str("fixed", "x").finish();
    let parsed: serde_json::Value = serde_json::from_str(&obj).expect("object is JSON");
    // (A key that is itself "fixed" is a duplicate; JSON parsers keep the last.)
    if k != "fixed" {
        assert_eq!(parsed[k], serde_json::Value::String(v.to_owned()), "{obj}");
    }
    assert_eq!(parsed["fixed"], "x");

    let mut line = String::new();
    log::write_record(
        &mut line,
        std::time::SystemTime::UNIX_EPOCH,
        log::Level::Info,
        "access",
        v,
        k,
        &[
            ("path", log::Value::Str(&s)),
            ("ua", log::Value::Bytes(data)),
        ],
    );
    assert!(
        line.ends_with('\n') && line.matches('\n').count() == 1,
        "{line:?}"
    );
    let rec: serde_json::Value = serde_json::from_str(&line).expect("log line is JSON");
    assert_eq!(rec["message"], serde_json::Value::String(k.to_owned()));
    assert_eq!(
        rec["path"],
        serde_json::Value::String(s.clone().into_owned())
    );
}

/// Percent-encodes every byte that is not unreserved (the inverse of `query::decode`).
pub fn encode(b: &[u8]) -> String {
    let mut out = String::new();
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// The request-target query parser, on an arbitrary query string: decoding inverts encoding;
/// the last value of a key wins; integer and seconds parameters either give a value within
/// bounds that is valid JSON, or an error whose FastAPI-shaped body is valid JSON and reports
/// the input. The bytes are also used as a whole request target for the router.
pub fn check_query(data: &[u8]) {
    let q = String::from_utf8_lossy(data);
    let _ = hello_world::internals::resolve(&q);

    // decode ∘ encode = id, on the raw bytes.
    assert_eq!(query::decode(&encode(data)), data, "decode(encode(x)) != x");
    // Without escapes decoding is the identity (modulo '+').
    if !q.contains('%') {
        assert_eq!(query::decode(&q), q.replace('+', " ").as_bytes());
    }
    // Decoding never grows the input.
    assert!(query::decode(&q).len() <= q.len());

    for key in ["seconds", "a", ""] {
        // Last value wins, against an independent model.
        let model = q.split('&').rev().filter(|p| !p.is_empty()).find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (query::decode(k) == key.as_bytes()).then(|| query::decode(v))
        });
        assert_eq!(
            query::last_value(Some(&q), key),
            model,
            "last_value({q:?}, {key:?})"
        );

        match query::int_param(Some(&q), key) {
            Ok(None) => assert!(model.is_none()),
            Ok(Some(n)) => {
                let digits = n.as_json();
                assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
                assert!(
                    digits == "0" || !digits.starts_with('0'),
                    "canonical: {digits}"
                );
                // A real JSON parser accepts the literal. `RawValue` checks the grammar only:
                // a `Value` would refuse integers past f64's range (over 309 digits), which
                // JSON itself allows and the answer really sends.
                let raw: Box<serde_json::value::RawValue> =
                    serde_json::from_str(digits).expect("a JSON number literal");
                assert_eq!(raw.get(), digits);
                assert!(n.capped(60) <= 60);
                if let Ok(small) = digits.parse::<u64>() {
                    assert_eq!(n.capped(u64::MAX), small);
                }
            }
            Err(e) => check_invalid(&e, key),
        }
        match query::seconds_param(Some(&q), key, 30.0) {
            Ok(None) => assert!(model.is_none()),
            Ok(Some(d)) => assert!(d.as_secs_f64() <= 30.0, "{d:?} over the cap"),
            Err(e) => check_invalid(&e, key),
        }
    }
}

fn check_invalid(e: &query::Invalid, key: &str) {
    let body = e.to_json();
    let v: serde_json::Value = serde_json::from_str(&body)
        .unwrap_or_else(|err| panic!("422 body not JSON ({err}): {body}"));
    let item = &v["detail"][0];
    assert_eq!(item["loc"][0], "query");
    assert_eq!(item["loc"][1], key);
    assert_eq!(item["input"], serde_json::Value::String(e.input.clone()));
    assert!(item["msg"].is_string() && item["type"].is_string());
}

/// The rewrite of hyper's own error answers: never panics; when it fires, the replacement is
/// a complete HTTP/1.1 answer whose body is JSON of the length declared.
pub fn check_reject(data: &[u8]) {
    if let Some((len, status, out)) = reject::rewrite(data, b"pod-1") {
        assert!(len <= data.len());
        assert!([400, 414, 431].contains(&status));
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("head end")
            + 4;
        let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
        assert!(head.starts_with(&format!("http/1.1 {status} ")));
        assert!(head.contains("\r\ncontent-type: application/json\r\n"));
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", out.len() - end)));
        serde_json::from_slice::<serde_json::Value>(&out[end..]).expect("JSON body");
    }
}
