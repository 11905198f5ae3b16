//! A tiny, tolerant reader for one top-level string field of a JSON object (`version`,
//! `message` of `GET /`), so the run-time binary needs no JSON parser. It walks the bytes once,
//! skipping strings (with escapes) and nesting, and only accepts `"key": "value"` at depth 1: a
//! key-like text inside a string or a nested object never matches. Anything malformed gives
//! `None`, never a panic.

/// The value of the top-level string field `key` of the JSON object in `body`.
pub fn string_field(body: &[u8], key: &str) -> Option<String> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b'"' => {
                let (s, next) = read_string(body, i)?;
                i = skip_ws(body, next);
                if depth == 1 && body.get(i) == Some(&b':') {
                    let v = skip_ws(body, i + 1);
                    if s == key {
                        if body.get(v) != Some(&b'"') {
                            return None;
                        }
                        return read_string(body, v).map(|(s, _)| s);
                    }
                    i = v;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// Decodes the string starting at the quote `b[start]`; returns it and the index after it.
fn read_string(b: &[u8], start: usize) -> Option<(String, usize)> {
    let mut out = Vec::new();
    let mut i = start + 1;
    loop {
        match *b.get(i)? {
            b'"' => return Some((String::from_utf8(out).ok()?, i + 1)),
            b'\\' => {
                let c = *b.get(i + 1)?;
                i += 2;
                let ch = match c {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        let hi = hex4(b, i)?;
                        i += 4;
                        let code = if (0xd800..0xdc00).contains(&hi) {
                            // A surrogate pair: `\uD83D\uDE00`.
                            if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
                                return None;
                            }
                            let lo = hex4(b, i + 2)?;
                            i += 6;
                            if !(0xdc00..0xe000).contains(&lo) {
                                return None;
                            }
                            0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                        } else {
                            hi
                        };
                        char::from_u32(code)?
                    }
                    _ => return None,
                };
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let s = std::str::from_utf8(b.get(i..i + 4)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(body: &str, key: &str) -> Option<String> {
        string_field(body.as_bytes(), key)
    }

    /// The service's own `GET /` body, and whitespace variants.
    #[test]
    fn service_body() {
        let b = r#"{"message":"Hello World","version":"2.0.0"}"#;
        assert_eq!(f(b, "version").as_deref(), Some("2.0.0"));
        assert_eq!(f(b, "message").as_deref(), Some("Hello World"));
        let spaced = "{ \"version\" :\n \"1.0.0\" , \"message\": \"hi\" }";
        assert_eq!(f(spaced, "version").as_deref(), Some("1.0.0"));
        assert_eq!(f(spaced, "message").as_deref(), Some("hi"));
    }

    /// Escapes decode, including a surrogate pair.
    #[test]
    fn escapes() {
        let b = r#"{"message":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}"#;
        assert_eq!(f(b, "message").as_deref(), Some("a\"b\\c/d\né😀"));
    }

    /// Only top-level keys match: not text inside a value, not a nested object's key.
    #[test]
    fn top_level_only() {
        let b = r#"{"message":"\"version\":\"x\"","inner":{"version":"y"},"version":"z"}"#;
        assert_eq!(f(b, "version").as_deref(), Some("z"));
        assert_eq!(f(r#"{"inner":{"version":"y"}}"#, "version"), None);
        assert_eq!(f(r#"["version","v"]"#, "version"), None);
    }

    /// Non-string values and malformed input give `None`.
    #[test]
    fn tolerant() {
        assert_eq!(f(r#"{"version":2}"#, "version"), None);
        assert_eq!(
            f(r#"{"version":null,"message":"m"}"#, "message").as_deref(),
            Some("m")
        );
        for bad in [
            "",
            "not json",
            r#"{"version":"unterminated"#,
            r#"{"version":"\x"}"#,
            r#"{"version":"\ud83d"}"#,
            r#"{"version":"\u12"}"#,
            "}}}{",
            "<html>version</html>",
        ] {
            assert_eq!(f(bad, "version"), None, "{bad}");
        }
    }
}
