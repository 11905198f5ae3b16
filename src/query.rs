//! Query-string parsing for `/slow` and `/internal/prestop`: form decoding and the integer and
//! seconds rules, with errors in FastAPI's validation shape.
//!
//! Semantics follow what the tutorial's FastAPI app did: `+` is a space, `%XX` is a byte,
//! malformed escapes stay literal, and when a key repeats the last value wins.

use std::time::Duration;

use crate::json::{self, Obj};

/// Percent-decodes one form component (`+` → space).
pub fn decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The decoded value of the last `key=` in `query`, if any.
pub fn last_value(query: Option<&str>, key: &str) -> Option<Vec<u8>> {
    let mut found = None;
    for pair in query?.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(k) == key.as_bytes() {
            found = Some(decode(v));
        }
    }
    found
}

/// A non-negative integer of any size: `u64` when it fits, else its canonical digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Int {
    value: Option<u64>,
    digits: String,
}

impl Int {
    pub fn small(n: u64) -> Int {
        Int {
            value: Some(n),
            digits: n.to_string(),
        }
    }

    /// `min(self, cap)`.
    pub fn capped(&self, cap: u64) -> u64 {
        self.value.map_or(cap, |v| v.min(cap))
    }

    /// The number as a JSON literal (JSON numbers have no size limit).
    pub fn as_json(&self) -> &str {
        &self.digits
    }
}

/// A rejected parameter, rendered as FastAPI's 422 body.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub kind: &'static str,
    pub param: String,
    pub msg: String,
    pub input: String,
    /// Pre-rendered `ctx` object (e.g. `{"ge":0}`), when the rule has parameters.
    pub ctx: Option<String>,
}

impl Invalid {
    pub fn to_json(&self) -> String {
        let mut loc = String::from("[\"query\",");
        json::push_str(&mut loc, &self.param);
        loc.push(']');
        let mut item = Obj::new()
            .str("type", self.kind)
            .raw("loc", &loc)
            .str("msg", &self.msg)
            .str("input", &self.input);
        if let Some(ctx) = &self.ctx {
            item = item.raw("ctx", ctx);
        }
        format!("{{\"detail\":[{}]}}", item.finish())
    }
}

/// Parses `key` as a non-negative integer: optional `+`, ASCII digits. `-0` is zero.
pub fn int_param(query: Option<&str>, key: &str) -> Result<Option<Int>, Invalid> {
    let Some(raw) = last_value(query, key) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&raw).into_owned();
    let invalid = |kind, msg: &str, ctx: Option<&str>| Invalid {
        kind,
        param: key.to_owned(),
        msg: msg.to_owned(),
        input: text.clone(),
        ctx: ctx.map(str::to_owned),
    };
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, &text[..]),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            None,
        ));
    }
    let canonical = digits.trim_start_matches('0');
    let canonical = if canonical.is_empty() { "0" } else { canonical };
    if negative && canonical != "0" {
        return Err(invalid(
            "greater_than_equal",
            "Input should be greater than or equal to 0",
            Some(r#"{"ge":0}"#),
        ));
    }
    Ok(Some(Int {
        value: canonical.parse().ok(),
        digits: canonical.to_owned(),
    }))
}

/// Parses `key` as decimal seconds (`2`, `1.5`), from 0 to `max`.
pub fn seconds_param(
    query: Option<&str>,
    key: &str,
    max: f64,
) -> Result<Option<Duration>, Invalid> {
    let Some(raw) = last_value(query, key) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&raw).into_owned();
    match crate::config::rules::decimal_seconds(&text, max) {
        Some(d) => Ok(Some(d)),
        _ => Err(Invalid {
            kind: "value_error",
            param: key.to_owned(),
            msg: format!("Input should be a number of seconds from 0 to {max}"),
            input: text,
            ctx: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(q: &str) -> Result<Option<Int>, Invalid> {
        int_param(Some(q), "seconds")
    }

    #[test]
    fn decoding_follows_form_rules() {
        assert_eq!(decode("a+b%20c"), b"a b c");
        assert_eq!(decode("%3"), b"%3");
        assert_eq!(decode("%zz1"), b"%zz1");
        assert_eq!(decode("%00%ff"), b"\x00\xff");
        assert_eq!(decode("%"), b"%");
        assert_eq!(decode("100%"), b"100%");
    }

    #[test]
    fn last_value_wins_and_keys_decode() {
        assert_eq!(
            last_value(Some("seconds=1&seconds=2"), "seconds"),
            Some(b"2".to_vec())
        );
        assert_eq!(
            last_value(Some("sec%6Fnds=3"), "seconds"),
            Some(b"3".to_vec())
        );
        assert_eq!(last_value(Some("seconds"), "seconds"), Some(Vec::new()));
        assert_eq!(last_value(Some("x=1"), "seconds"), None);
        assert_eq!(last_value(None, "seconds"), None);
    }

    #[test]
    fn integers() {
        assert_eq!(int("seconds=7").unwrap().unwrap().capped(60), 7);
        assert_eq!(int("seconds=%2B7").unwrap().unwrap().as_json(), "7");
        assert_eq!(int("seconds=007").unwrap().unwrap().as_json(), "7");
        assert_eq!(int("seconds=-0").unwrap().unwrap().capped(60), 0);
        let huge = int("seconds=99999999999999999999").unwrap().unwrap();
        assert_eq!(
            (huge.capped(60), huge.as_json()),
            (60, "99999999999999999999")
        );
        assert_eq!(int("other=1").unwrap(), None);
    }

    #[test]
    fn invalid_integers_get_fastapi_errors() {
        for bad in [
            "seconds=abc",
            "seconds=",
            "seconds=1.5",
            "seconds=+",
            "seconds=1%00",
            "seconds=%ff",
        ] {
            let e = int(bad).unwrap_err();
            assert_eq!(e.kind, "int_parsing", "{bad}");
        }
        let e = int("seconds=-3").unwrap_err();
        assert_eq!(e.kind, "greater_than_equal");
        assert_eq!(
            e.to_json(),
            r#"{"detail":[{"type":"greater_than_equal","loc":["query","seconds"],"msg":"Input should be greater than or equal to 0","input":"-3","ctx":{"ge":0}}]}"#
        );
        let e = int("seconds=%ff%22").unwrap_err();
        assert_eq!(e.input, "\u{fffd}\"");
        assert!(
            e.to_json().contains(r#""input":"\ufffd\"""#)
                || e.to_json().contains("\"input\":\"\u{fffd}\\\"\"")
        );
    }

    #[test]
    fn seconds() {
        assert_eq!(
            seconds_param(Some("seconds=1.5"), "seconds", 30.0).unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert!(seconds_param(Some("seconds=31"), "seconds", 30.0).is_err());
        assert!(seconds_param(Some("seconds=-1"), "seconds", 30.0).is_err());
        assert!(seconds_param(Some("seconds=NaN"), "seconds", 30.0).is_err());
        assert_eq!(seconds_param(None, "seconds", 30.0).unwrap(), None);
    }
}
