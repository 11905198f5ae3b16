//! JSON string escaping (RFC 8259 §7), shared by the log formatter and the response bodies.
//!
//! Paths, header values and environment strings end up inside JSON we emit. They are attacker- or
//! operator-controlled, so every one of them goes through [`push_str`] and can neither end the
//! string early nor inject a line break into the one-object-per-line log stream.

/// Appends `s` to `out` as a quoted JSON string.
///
/// Escapes `"`, `\`, every control character below U+0020 and DEL, plus U+2028/U+2029 (legal in
/// JSON but line terminators for JavaScript consumers of the log stream).
pub fn push_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// The escaped content of a JSON string, without the quotes: escaping maps each character on
/// its own, so a string may be written in pieces (cut at character boundaries).
pub fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    // Fast path: printable ASCII without `"` or `\` — nearly every string a log line holds —
    // goes in with one check per byte and one copy, instead of the escaping loop below.
    if all_plain(bytes) {
        out.push_str(s);
        return;
    }
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Byte by byte, not char by char: nearly every byte needs no escape and is skipped
        // here. Bytes of multi-byte characters are all >= 0x80; of those, only U+2028/U+2029
        // (E2 80 A8 / E2 80 A9) are escaped, so only a 0xE2 lead byte needs a closer look.
        if b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f && b != 0xe2 {
            i += 1;
            continue;
        }
        let (escape, code, len): (Option<&str>, u32, usize) = match b {
            b'"' => (Some("\\\""), 0, 1),
            b'\\' => (Some("\\\\"), 0, 1),
            b'\n' => (Some("\\n"), 0, 1),
            b'\r' => (Some("\\r"), 0, 1),
            b'\t' => (Some("\\t"), 0, 1),
            0x08 => (Some("\\b"), 0, 1),
            0x0c => (Some("\\f"), 0, 1),
            0xe2 => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(0x80), Some(0xa8)) => (None, 0x2028, 3),
                (Some(0x80), Some(0xa9)) => (None, 0x2029, 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            // The other controls below U+0020, and DEL.
            _ => (None, u32::from(b), 1),
        };
        // `i` is at an ASCII byte or a lead byte: a char boundary.
        out.push_str(&s[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => push_unicode_escape(out, code),
        }
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
}

/// Appends `,"key":` — an object member's separator and name. Keys are nearly always plain
/// identifiers, which take three straight appends; anything else goes through [`push_str`].
pub fn push_key(out: &mut String, key: &str) {
    if all_plain(key.as_bytes()) {
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":");
    } else {
        out.push(',');
        push_str(out, key);
        out.push(':');
    }
}

/// Printable ASCII other than `"` and `\`: the bytes that never need a closer look.
fn plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

/// Whether every byte is [`plain`]. Eight bytes per step ("SWAR": bit tricks on a `u64`), as
/// this runs over every string of every log line. Each test below is exact — it is non-zero iff
/// some byte of the word matches — so no byte that needs escaping can slip through.
fn all_plain(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero iff some byte of `x` is zero (the classic `haszero`).
    fn has_zero(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("chunks_exact(8)"));
        let special = (x & HIGH) // >= 0x80: non-ASCII
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH) // < 0x20: controls
            | has_zero(x ^ (ONES * u64::from(b'"')))
            | has_zero(x ^ (ONES * u64::from(b'\\')))
            | has_zero(x ^ (ONES * 0x7f)); // DEL
        if special != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| plain(b))
}

/// Appends raw bytes as a JSON string: invalid UTF-8 sequences become U+FFFD, so a header value
/// or a request target with arbitrary bytes still yields valid JSON.
pub fn push_bytes(out: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => push_str(out, s),
        Err(_) => push_str(out, &String::from_utf8_lossy(b)),
    }
}

fn push_unicode_escape(out: &mut String, code: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((code >> shift) & 0xf) as usize] as char);
    }
}

/// Appends a finite `f64`; non-finite values (which JSON cannot represent) become `null`.
pub fn push_f64(out: &mut String, v: f64) {
    use std::fmt::Write;
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str("null");
    }
}

/// A JSON object built field by field; keeps the call sites of response bodies short.
pub struct Obj(String);

impl Obj {
    pub fn new() -> Self {
        Obj(String::from("{"))
    }

    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        push_str(&mut self.0, k);
        self.0.push(':');
    }

    pub fn str(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        push_str(&mut self.0, v);
        self
    }

    pub fn bool(mut self, k: &str, v: bool) -> Self {
        self.key(k);
        self.0.push_str(if v { "true" } else { "false" });
        self
    }

    pub fn u64(mut self, k: &str, v: u64) -> Self {
        use std::fmt::Write;
        self.key(k);
        let _ = write!(self.0, "{v}");
        self
    }

    /// Inserts pre-rendered JSON (a number literal, an array) verbatim.
    pub fn raw(mut self, k: &str, json: &str) -> Self {
        self.key(k);
        self.0.push_str(json);
        self
    }

    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

impl Default for Obj {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, s);
        out
    }

    /// The word-at-a-time check agrees with the byte rule for every byte value at every
    /// position of a word, and for the tail.
    #[test]
    fn all_plain_matches_the_byte_rule() {
        for len in [1usize, 7, 8, 9, 16, 17] {
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut v = vec![b'a'; len];
                    v[pos] = b;
                    assert_eq!(all_plain(&v), plain(b), "byte {b:#x} at {pos} of {len}");
                }
            }
        }
        assert!(all_plain(b""));
        assert!(all_plain(b"GET /health/live?x=1 HTTP/1.1 curl/7.88.1"));
    }

    #[test]
    fn keys_are_escaped_only_when_needed() {
        let mut s = String::new();
        push_key(&mut s, "duration_ms");
        push_key(&mut s, "a\"b");
        assert_eq!(s, r#","duration_ms":,"a\"b":"#);
    }

    #[test]
    fn plain_strings_are_only_quoted() {
        assert_eq!(q("Hello World"), r#""Hello World""#);
        assert_eq!(q(""), r#""""#);
        assert_eq!(q("안녕 ✓"), "\"안녕 ✓\"");
    }

    #[test]
    fn quotes_backslashes_and_controls_are_escaped() {
        assert_eq!(q(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(q("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(q("\u{0}\u{1f}\u{7f}"), r#""\u0000\u001f\u007f""#);
        assert_eq!(q("\u{8}\u{c}"), r#""\b\f""#);
        assert_eq!(q("x\u{2028}y\u{2029}"), r#""x\u2028y\u2029""#);
        // Neighbours of U+2028 in UTF-8 (E2 80 A6, E2 80 AA, E2 9C 93) pass through unescaped.
        assert_eq!(
            q("\u{2026}\u{202a}\u{2713}"),
            "\"\u{2026}\u{202a}\u{2713}\""
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        let mut out = String::new();
        push_bytes(&mut out, b"/a\xff\xfe\"b");
        assert_eq!(out, "\"/a\u{fffd}\u{fffd}\\\"b\"");
    }

    #[test]
    fn a_forged_log_line_stays_inside_its_string() {
        let hostile = "x\"}\n{\"level\":\"CRITICAL\",\"message\":\"forged";
        let s = q(hostile);
        assert!(!s.contains('\n'));
        // The only unescaped quotes are the two delimiters.
        let unescaped = s
            .as_bytes()
            .windows(2)
            .filter(|w| w[1] == b'"' && w[0] != b'\\')
            .count();
        assert_eq!(unescaped, 1, "{s}"); // the closing quote; the opening one has no predecessor
    }

    #[test]
    fn objects_render_in_insertion_order() {
        let o = Obj::new()
            .str("message", "Hello World")
            .bool("ok", true)
            .u64("n", 42)
            .raw("a", "[1]")
            .finish();
        assert_eq!(o, r#"{"message":"Hello World","ok":true,"n":42,"a":[1]}"#);
        assert_eq!(Obj::new().finish(), "{}");
    }

    #[test]
    fn non_finite_floats_become_null() {
        let mut s = String::new();
        push_f64(&mut s, f64::NAN);
        push_f64(&mut s, 0.25);
        assert_eq!(s, "null0.25");
    }
}
