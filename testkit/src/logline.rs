//! What every stdout line of the binary must be: one JSON object with the tutorial's fields
//! (`timestamp` as RFC 3339 with microseconds in UTC, `level`, `message`, `logger`, `pod`).

use serde_json::Value;

/// Checks one line (without its newline) and returns the parsed object, or why it is not a
/// log record.
pub fn check_line(raw: &[u8]) -> Result<Value, String> {
    let line = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8 ({e}): {raw:?}"))?;
    if line.contains('\r') {
        return Err(format!("stray CR in {line:?}"));
    }
    let v: Value =
        serde_json::from_str(line).map_err(|e| format!("not one JSON object ({e}): {line:?}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| format!("not an object: {line}"))?;
    let ts = obj.get("timestamp").and_then(Value::as_str);
    if !ts.is_some_and(is_rfc3339_micros_utc) {
        return Err(format!("timestamp {ts:?}: {line}"));
    }
    let level = obj.get("level").and_then(Value::as_str);
    if !level.is_some_and(|l| ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&l)) {
        return Err(format!("level {level:?}: {line}"));
    }
    for f in ["message", "logger", "pod"] {
        if !obj.get(f).is_some_and(Value::is_string) {
            return Err(format!("{f} is not a string: {line}"));
        }
    }
    Ok(v)
}

/// [`check_line`], failing the test on a bad line.
pub fn parse_line(raw: &[u8]) -> Value {
    check_line(raw).unwrap_or_else(|why| panic!("malformed log line: {why}"))
}

/// `2026-02-26T10:00:00.123456+00:00`
pub fn is_rfc3339_micros_utc(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 32
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 | 29 => *c == b':',
            19 => *c == b'.',
            26 => *c == b'+',
            _ => c.is_ascii_digit(),
        })
        && ts.ends_with("+00:00")
}
