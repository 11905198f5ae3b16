//! The value rules shared by the variable table, the command line and query parameters.
//! Each returns the parsed value, or `Err(what is allowed)`.

use std::time::Duration;

/// The longest duration any seconds value may give: one hour.
pub(crate) const MAX_SECONDS: f64 = 3600.0;

/// Decimal seconds in plain notation (`2`, `1.5`, `.5`), from 0 to `max`. "inf", "NaN",
/// "1e3" and signs are refused: the one validator behind every seconds value.
pub(crate) fn decimal_seconds(s: &str, max: f64) -> Option<Duration> {
    let plain = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|&b| b == b'.').count() <= 1
        && s.bytes().any(|b| b.is_ascii_digit());
    match s.parse::<f64>() {
        Ok(v) if plain && v <= max => Some(Duration::from_secs_f64(v)),
        _ => None,
    }
}

/// Seconds from 0 (or, with `positive`, above 0) to [`MAX_SECONDS`].
pub(crate) fn seconds(v: &str, positive: bool) -> Result<Duration, String> {
    match decimal_seconds(v, MAX_SECONDS) {
        Some(d) if !positive || !d.is_zero() => Ok(d),
        _ if positive => Err(format!(
            "a number of seconds greater than 0 and at most {MAX_SECONDS}, decimals allowed"
        )),
        _ => Err(format!(
            "a number of seconds from 0 to {MAX_SECONDS}, decimals allowed"
        )),
    }
}

/// Free text; empty is refused because an empty ConfigMap key is a mistake.
pub(crate) fn text(v: &str) -> Result<String, String> {
    if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
        return Err("1 to 256 characters without control characters".into());
    }
    Ok(v.to_owned())
}

/// Optional text: empty means "not provided" (Downward API fields may be empty).
pub(crate) fn optional(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

pub(crate) fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("true or false".into()),
    }
}

pub(crate) fn int(v: &str, min: usize, max: usize) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("an integer from {min} to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_seconds_is_plain_notation_only() {
        assert_eq!(
            decimal_seconds("1.5", 10.0),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            decimal_seconds(".5", 10.0),
            Some(Duration::from_millis(500))
        );
        assert_eq!(decimal_seconds("10", 10.0), Some(Duration::from_secs(10)));
        for bad in [
            "", ".", "11", "-1", "+1", "1e3", "inf", "NaN", "1.2.3", " 1",
        ] {
            assert_eq!(decimal_seconds(bad, 10.0), None, "{bad:?}");
        }
    }

    #[test]
    fn seconds_rules() {
        assert!(seconds("0", false).is_ok());
        assert!(seconds("0", true).unwrap_err().contains("greater than 0"));
        assert!(seconds("3601", false).unwrap_err().contains("from 0 to"));
    }
}
