//! Configuration from the environment, parsed and validated once, before the runtime starts.
//!
//! Every variable has a named constant, a default and a rule. A value that breaks its rule is a
//! [`ConfigError`] naming the variable, the value given and what is allowed; `main` prints it as
//! one JSON log line and exits 2. Nothing is silently replaced by a default.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::log::Level;

pub const ENV_HOST: &str = "HOST";
pub const ENV_PORT: &str = "PORT";
pub const ENV_APP_ENV: &str = "APP_ENV";
pub const ENV_APP_VERSION: &str = "APP_VERSION";
pub const ENV_LOG_LEVEL: &str = "LOG_LEVEL";
pub const ENV_POD_NAME: &str = "POD_NAME";
pub const ENV_POD_NAMESPACE: &str = "POD_NAMESPACE";
pub const ENV_NODE_NAME: &str = "NODE_NAME";
pub const ENV_GREETING: &str = "GREETING";
pub const ENV_ACCESS_LOG: &str = "ACCESS_LOG";
pub const ENV_WORKERS: &str = "WORKERS";
pub const ENV_DRAIN_DELAY: &str = "DRAIN_DELAY_SECONDS";
pub const ENV_DRAIN_TIMEOUT: &str = "DRAIN_TIMEOUT_SECONDS";
pub const ENV_ADMIN_TOKEN: &str = "ADMIN_TOKEN";
pub const ENV_PRESTOP_ENDPOINT: &str = "PRESTOP_ENDPOINT";
pub const ENV_HEADER_READ_TIMEOUT: &str = "HEADER_READ_TIMEOUT_SECONDS";
pub const ENV_FIRST_BYTE_TIMEOUT: &str = "FIRST_BYTE_TIMEOUT_SECONDS";
pub const ENV_REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT_SECONDS";
pub const ENV_MAX_CONNECTIONS: &str = "MAX_CONNECTIONS";
pub const ENV_MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
pub const ENV_MAX_HEADER_BYTES: &str = "MAX_HEADER_BYTES";
pub const ENV_MAX_HEADERS: &str = "MAX_HEADERS";
pub const ENV_H2_MAX_STREAMS: &str = "H2_MAX_CONCURRENT_STREAMS";

/// One row of `--help`: variable, default, meaning.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        ENV_HOST,
        "0.0.0.0",
        "listen address, an IPv4 or IPv6 literal",
    ),
    (
        ENV_PORT,
        "8080",
        "listen port, 0-65535 (0 picks a free port)",
    ),
    (ENV_APP_ENV, "local", "environment name shown by /info"),
    (ENV_APP_VERSION, "1.0.0", "version shown by / and /info"),
    (
        ENV_LOG_LEVEL,
        "info",
        "debug|info|warning|error|critical (any case; warn = warning)",
    ),
    (
        ENV_POD_NAME,
        "unknown",
        "pod name (Downward API), in every log line",
    ),
    (
        ENV_POD_NAMESPACE,
        "(unset)",
        "pod namespace (Downward API), shown by /info",
    ),
    (
        ENV_NODE_NAME,
        "(unset)",
        "node name (Downward API), shown by /info",
    ),
    (ENV_GREETING, "Hello World", "the message of GET /"),
    (
        ENV_ACCESS_LOG,
        "true",
        "true|false: one JSON access-log line per request",
    ),
    (
        ENV_WORKERS,
        "(CPUs available)",
        "runtime worker threads, 1-1024; 1 = single-threaded",
    ),
    (
        ENV_DRAIN_DELAY,
        "0",
        "seconds of drain announce after SIGTERM (listener stays open)",
    ),
    (
        ENV_DRAIN_TIMEOUT,
        "30",
        "seconds from SIGTERM until open connections are cut (> delay)",
    ),
    (
        ENV_ADMIN_TOKEN,
        "(unset)",
        "if set, /admin/* and /internal/prestop require 'Authorization: Bearer <token>'",
    ),
    (
        ENV_PRESTOP_ENDPOINT,
        "false",
        "true|false: serve GET /internal/prestop for an httpGet preStop hook",
    ),
    (
        ENV_HEADER_READ_TIMEOUT,
        "75",
        "seconds to receive a request head; also the keep-alive idle timeout",
    ),
    (
        ENV_FIRST_BYTE_TIMEOUT,
        "10",
        "seconds a new connection may stay silent before it is closed",
    ),
    (
        ENV_REQUEST_TIMEOUT,
        "90",
        "seconds a request may run before it is answered 503",
    ),
    (
        ENV_MAX_CONNECTIONS,
        "10000",
        "open connections; beyond it new ones are closed at once",
    ),
    (
        ENV_MAX_BODY_BYTES,
        "65536",
        "largest accepted request body (413 beyond)",
    ),
    (
        ENV_MAX_HEADER_BYTES,
        "16384",
        "largest request head: HTTP/1 bytes, HTTP/2 header list (8192 minimum; 431 beyond)",
    ),
    (
        ENV_MAX_HEADERS,
        "100",
        "most request header fields (431 beyond)",
    ),
    (
        ENV_H2_MAX_STREAMS,
        "100",
        "HTTP/2 concurrent streams per connection",
    ),
];

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub app_env: String,
    pub app_version: String,
    pub log_level: Level,
    /// `LOG_LEVEL` exactly as given: `/info` reports it back like the tutorial does.
    pub log_level_raw: String,
    pub pod_name: String,
    pub pod_namespace: Option<String>,
    pub node_name: Option<String>,
    pub greeting: String,
    pub access_log: bool,
    pub workers: Option<usize>,
    pub drain_delay: Duration,
    pub drain_timeout: Duration,
    pub admin_token: Option<String>,
    pub prestop_endpoint: bool,
    pub limits: Limits,
}

/// Resource limits that protect the server from slow and hostile clients (issue 7).
#[derive(Clone, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub max_body_bytes: u64,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub h2_max_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Above the 60 s upstream keep-alive of ingress-nginx (drain.md R18): the proxy, not
            // us, must be the side that closes an idle pooled connection.
            header_read_timeout: Duration::from_secs(75),
            first_byte_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(90),
            max_connections: 10_000,
            max_body_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            h2_max_streams: 100,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::from_lookup(|_| None).expect("defaults are valid")
    }
}

/// A rejected variable: which one, what it was, what would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub allowed: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}={:?}: expected {}",
            self.variable, self.value, self.allowed
        )
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment. Non-UTF-8 values are rejected, not mangled.
    pub fn from_env() -> Result<Config, ConfigError> {
        for (name, ..) in VARIABLES {
            if let Err(std::env::VarError::NotUnicode(raw)) = std::env::var(name) {
                return Err(ConfigError {
                    variable: name,
                    value: raw.to_string_lossy().into_owned(),
                    allowed: "valid UTF-8".into(),
                });
            }
        }
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the configuration from any lookup function (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let d = Limits::default();
        let log_level_raw = get(ENV_LOG_LEVEL).unwrap_or_else(|| "info".into());
        let log_level = log_level_raw
            .parse::<Level>()
            .map_err(|allowed| err(ENV_LOG_LEVEL, &log_level_raw, allowed))?;
        let drain_delay = seconds(&get, ENV_DRAIN_DELAY, 0.0, 0.0)?;
        let drain_timeout = seconds(&get, ENV_DRAIN_TIMEOUT, 30.0, 0.001)?;
        if drain_delay >= drain_timeout {
            return Err(err(
                ENV_DRAIN_DELAY,
                &get(ENV_DRAIN_DELAY).unwrap_or_default(),
                &format!(
                    "less than {ENV_DRAIN_TIMEOUT} ({}): the deadline counts from the signal and \
                     includes the announce delay",
                    drain_timeout.as_secs_f64()
                ),
            ));
        }
        let admin_token = optional(&get, ENV_ADMIN_TOKEN);
        if let Some(t) = &admin_token {
            if t.len() < 8 || t.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
                // Never echo a token back, not even a bad one.
                return Err(err(
                    ENV_ADMIN_TOKEN,
                    "<redacted>",
                    "at least 8 printable ASCII characters without spaces",
                ));
            }
        }
        Ok(Config {
            host: parse(&get, ENV_HOST, "0.0.0.0", "an IPv4 or IPv6 address literal")?,
            port: parse(&get, ENV_PORT, "8080", "an integer from 0 to 65535")?,
            app_env: text(&get, ENV_APP_ENV, "local")?,
            app_version: text(&get, ENV_APP_VERSION, "1.0.0")?,
            log_level,
            log_level_raw,
            pod_name: text(&get, ENV_POD_NAME, "unknown")?,
            pod_namespace: optional(&get, ENV_POD_NAMESPACE),
            node_name: optional(&get, ENV_NODE_NAME),
            greeting: text(&get, ENV_GREETING, "Hello World")?,
            access_log: boolean(&get, ENV_ACCESS_LOG, true)?,
            workers: match get(ENV_WORKERS) {
                None => None,
                Some(v) => Some(ranged(ENV_WORKERS, &v, 1, 1024)?),
            },
            drain_delay,
            drain_timeout,
            admin_token,
            prestop_endpoint: boolean(&get, ENV_PRESTOP_ENDPOINT, false)?,
            limits: Limits {
                header_read_timeout: seconds(
                    &get,
                    ENV_HEADER_READ_TIMEOUT,
                    d.header_read_timeout.as_secs_f64(),
                    0.001,
                )?,
                first_byte_timeout: seconds(
                    &get,
                    ENV_FIRST_BYTE_TIMEOUT,
                    d.first_byte_timeout.as_secs_f64(),
                    0.001,
                )?,
                request_timeout: seconds(
                    &get,
                    ENV_REQUEST_TIMEOUT,
                    d.request_timeout.as_secs_f64(),
                    0.001,
                )?,
                max_connections: ranged_or(
                    &get,
                    ENV_MAX_CONNECTIONS,
                    d.max_connections,
                    1,
                    1 << 20,
                )?,
                max_body_bytes: ranged_or(
                    &get,
                    ENV_MAX_BODY_BYTES,
                    d.max_body_bytes as usize,
                    0,
                    1 << 30,
                )? as u64,
                max_header_bytes: ranged_or(
                    &get,
                    ENV_MAX_HEADER_BYTES,
                    d.max_header_bytes,
                    8192,
                    1 << 20,
                )?,
                max_headers: ranged_or(&get, ENV_MAX_HEADERS, d.max_headers, 1, 1000)?,
                h2_max_streams: ranged_or(
                    &get,
                    ENV_H2_MAX_STREAMS,
                    d.h2_max_streams as usize,
                    1,
                    10_000,
                )? as u32,
            },
        })
    }
}

fn err(variable: &'static str, value: &str, allowed: &str) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_owned(),
        allowed: allowed.to_owned(),
    }
}

/// Free text with a default; empty is rejected because an empty ConfigMap key is a mistake.
fn text(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    match get(var) {
        None => Ok(default.to_owned()),
        Some(v) if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) => Err(err(
            var,
            &v,
            "1 to 256 characters without control characters",
        )),
        Some(v) => Ok(v),
    }
}

/// Optional text: unset or empty both mean "not provided" (Downward API fields may be empty).
fn optional(get: &impl Fn(&str) -> Option<String>, var: &str) -> Option<String> {
    get(var).filter(|v| !v.is_empty())
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
    allowed: &str,
) -> Result<T, ConfigError> {
    let v = get(var).unwrap_or_else(|| default.to_owned());
    v.parse().map_err(|_| err(var, &v, allowed))
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(err(var, &v, "true or false")),
        },
    }
}

fn ranged(var: &'static str, v: &str, min: usize, max: usize) -> Result<usize, ConfigError> {
    match v.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(var, v, &format!("an integer from {min} to {max}"))),
    }
}

fn ranged_or(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => ranged(var, &v, min, max),
    }
}

/// Decimal seconds (`1.5`), at least `min`, at most one hour.
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: f64,
    min: f64,
) -> Result<Duration, ConfigError> {
    const MAX: f64 = 3600.0;
    let Some(v) = get(var) else {
        return Ok(Duration::from_secs_f64(default));
    };
    let allowed = if min > 0.0 {
        format!("a number of seconds greater than 0 and at most {MAX}, decimals allowed")
    } else {
        format!("a number of seconds from 0 to {MAX}, decimals allowed")
    };
    // Plain decimal notation only: "inf", "NaN", "1e3" and signs are refused.
    let plain = !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.bytes().filter(|&b| b == b'.').count() <= 1
        && v.bytes().any(|b| b.is_ascii_digit());
    match v.parse::<f64>() {
        Ok(s) if plain && s >= min && s <= MAX && (min == 0.0 || s > 0.0) => {
            Ok(Duration::from_secs_f64(s))
        }
        _ => Err(err(var, &v, &allowed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_tutorials() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.host.to_string(), "0.0.0.0");
        assert_eq!(c.port, 8080);
        assert_eq!(c.app_env, "local");
        assert_eq!(c.app_version, "1.0.0");
        assert_eq!(c.log_level, Level::Info);
        assert_eq!(c.pod_name, "unknown");
        assert_eq!(c.greeting, "Hello World");
        assert!(c.access_log);
        assert_eq!(c.drain_delay, Duration::ZERO);
        assert_eq!(c.drain_timeout, Duration::from_secs(30));
        assert!(c.admin_token.is_none() && !c.prestop_endpoint && c.workers.is_none());
    }

    #[test]
    fn good_values_are_taken() {
        let c = cfg(&[
            ("HOST", "::1"),
            ("PORT", "0"),
            ("LOG_LEVEL", "WARN"),
            ("DRAIN_DELAY_SECONDS", "1.5"),
            ("DRAIN_TIMEOUT_SECONDS", "2"),
            ("WORKERS", "1"),
            ("ACCESS_LOG", "FALSE"),
            ("POD_NAMESPACE", ""),
        ])
        .unwrap();
        assert_eq!(c.host.to_string(), "::1");
        assert_eq!(c.port, 0);
        assert_eq!(c.log_level, Level::Warning);
        assert_eq!(c.log_level_raw, "WARN");
        assert_eq!(c.drain_delay, Duration::from_millis(1500));
        assert_eq!(c.workers, Some(1));
        assert!(!c.access_log);
        assert_eq!(c.pod_namespace, None);
    }

    #[test]
    fn bad_values_name_variable_value_and_rule() {
        for (var, val, needle) in [
            ("PORT", "80a", "0 to 65535"),
            ("PORT", "65536", "0 to 65535"),
            ("HOST", "localhost", "IPv4 or IPv6"),
            ("LOG_LEVEL", "verbose", "debug, info"),
            ("ACCESS_LOG", "yes", "true or false"),
            ("WORKERS", "0", "1 to 1024"),
            ("DRAIN_TIMEOUT_SECONDS", "0", "greater than 0"),
            ("DRAIN_TIMEOUT_SECONDS", "-1", "greater than 0"),
            ("DRAIN_TIMEOUT_SECONDS", "inf", "greater than 0"),
            ("DRAIN_DELAY_SECONDS", "1e3", "from 0 to"),
            ("APP_ENV", "", "1 to 256"),
            ("MAX_HEADER_BYTES", "100", "8192"),
        ] {
            let e = cfg(&[(var, val)]).unwrap_err();
            assert_eq!(e.variable, var);
            assert_eq!(e.value, val);
            assert!(e.allowed.contains(needle), "{var}: {}", e.allowed);
        }
    }

    #[test]
    fn delay_must_be_below_timeout() {
        let e = cfg(&[("DRAIN_DELAY_SECONDS", "5"), ("DRAIN_TIMEOUT_SECONDS", "5")]).unwrap_err();
        assert_eq!(e.variable, "DRAIN_DELAY_SECONDS");
        assert!(
            e.allowed.contains("less than DRAIN_TIMEOUT_SECONDS"),
            "{}",
            e.allowed
        );
    }

    #[test]
    fn admin_token_is_never_echoed() {
        let e = cfg(&[("ADMIN_TOKEN", "short")]).unwrap_err();
        assert_eq!(e.value, "<redacted>");
        assert!(cfg(&[("ADMIN_TOKEN", "s3cret-token")]).is_ok());
    }

    #[test]
    fn every_variable_is_documented_once() {
        let mut names: Vec<_> = VARIABLES.iter().map(|v| v.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VARIABLES.len());
    }
}
