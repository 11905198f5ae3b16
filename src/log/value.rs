//! What a record is made of besides text: its severity ([`Level`]) and its event fields'
//! values ([`Value`]).

use std::str::FromStr;

/// Log severity, ordered so that `level >= threshold` means "emit".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    /// The spelling in the `level` field (Python logging's level names, as the tutorial prints).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }
}

/// Accepts the tutorial's names in any case, plus `warn`.
impl FromStr for Level {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warning" | "warn" => Ok(Level::Warning),
            "error" => Ok(Level::Error),
            "critical" => Ok(Level::Critical),
            _ => Err("one of debug, info, warning (or warn), error, critical; any case"),
        }
    }
}

/// A value of an event field.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Str(&'a str),
    /// Raw bytes (a header value, a request target): invalid UTF-8 becomes U+FFFD.
    Bytes(&'a [u8]),
    U64(u64),
    F64(f64),
    /// A duration in microseconds, written as milliseconds with three decimals (`1.250`):
    /// exact, and far cheaper than float formatting on the per-request access-log path.
    Micros(u64),
    Bool(bool),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}
impl From<u64> for Value<'_> {
    fn from(v: u64) -> Self {
        Value::U64(v)
    }
}
impl From<usize> for Value<'_> {
    fn from(v: usize) -> Self {
        Value::U64(v as u64)
    }
}
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_in_any_case_and_order_by_severity() {
        assert_eq!("INFO".parse(), Ok(Level::Info));
        assert_eq!("Warn".parse(), Ok(Level::Warning));
        assert_eq!("warning".parse(), Ok(Level::Warning));
        assert_eq!("CRITICAL".parse(), Ok(Level::Critical));
        assert!("verbose".parse::<Level>().is_err());
        assert!(Level::Debug < Level::Info && Level::Error < Level::Critical);
    }
}
