//! Configuration from the environment, parsed and validated once, before the runtime starts.
//!
//! Every variable is a row of [`vars::VARIABLES`]: name, default, help and parser. A value
//! that breaks its rule is a [`ConfigError`] naming the variable, the value given and what is
//! allowed; the binary prints it as one JSON log line and exits 2. Nothing is silently
//! replaced by a default.

pub(crate) mod lab;
pub(crate) mod rules;
pub(crate) mod vars;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::log::Level;
use vars::{DefaultIs, VARIABLES};

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
    /// The Part 3 experiments' variables.
    pub lab: lab::Settings,
}

/// Resource limits that protect the server from slow and hostile clients.
#[derive(Clone, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub request_timeout: Duration,
    /// A response that makes no write progress this long is aborted.
    pub send_timeout: Duration,
    pub max_connections: usize,
    pub max_body_bytes: u64,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub h2_max_streams: u32,
}

impl std::default::Default for Config {
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
    /// `POD_NAME` (or `unknown`), for the error's log line: the logger is not running yet.
    pub pod: String,
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
        for var in VARIABLES {
            if let Err(std::env::VarError::NotUnicode(raw)) = std::env::var(var.name) {
                return Err(error(
                    var.name,
                    &raw.to_string_lossy(),
                    "valid UTF-8".into(),
                    &|k| std::env::var(k).ok(),
                ));
            }
        }
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the configuration from any lookup function (tests pass a map): every row's
    /// parser runs on the value given or on the row's default.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut c = Config::unset();
        for var in VARIABLES {
            let given = get(var.name);
            let value = match (&given, var.default) {
                (Some(v), _) => v.as_str(),
                (None, DefaultIs::Value(d)) => d,
                (None, DefaultIs::Unset(_)) => continue,
            };
            if let Err(allowed) = (var.parse)(&mut c, value) {
                let shown = if var.name == vars::ADMIN_TOKEN {
                    "<redacted>"
                } else {
                    value
                };
                return Err(error(var.name, shown, allowed, &get));
            }
        }
        if c.drain_delay >= c.drain_timeout {
            let allowed = format!(
                "less than {} ({}): the deadline counts from the signal and includes the \
                 announce delay",
                vars::DRAIN_TIMEOUT,
                c.drain_timeout.as_secs_f64()
            );
            let given = get(vars::DRAIN_DELAY).unwrap_or_default();
            return Err(error(vars::DRAIN_DELAY, &given, allowed, &get));
        }
        if let Err((var, allowed)) = lab::check(&c.lab) {
            let given = get(var).unwrap_or_default();
            return Err(error(var, &given, allowed, &get));
        }
        Ok(c)
    }

    /// The starting point of [`Config::from_lookup`]: every field here is overwritten by its
    /// row's parser (given value or default) unless the row's default is "unset". These are
    /// not defaults; the defaults are in the table.
    fn unset() -> Config {
        Config {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            app_env: String::new(),
            app_version: String::new(),
            log_level: Level::Info,
            log_level_raw: String::new(),
            pod_name: String::new(),
            pod_namespace: None,
            node_name: None,
            greeting: String::new(),
            access_log: false,
            workers: None,
            drain_delay: Duration::ZERO,
            drain_timeout: Duration::ZERO,
            admin_token: None,
            prestop_endpoint: false,
            lab: lab::Settings::default(),
            limits: Limits {
                header_read_timeout: Duration::ZERO,
                first_byte_timeout: Duration::ZERO,
                request_timeout: Duration::ZERO,
                send_timeout: Duration::ZERO,
                max_connections: 0,
                max_body_bytes: 0,
                max_header_bytes: 0,
                max_headers: 0,
                h2_max_streams: 0,
            },
        }
    }
}

fn error(
    variable: &'static str,
    value: &str,
    allowed: String,
    get: &dyn Fn(&str) -> Option<String>,
) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_owned(),
        allowed,
        pod: get(vars::POD_NAME).unwrap_or_else(|| "unknown".into()),
    }
}

/// `ENVIRONMENT` rows of `--help`: name, default, meaning.
pub(crate) fn help_rows() -> String {
    let mut s = String::new();
    for v in VARIABLES {
        s.push_str(&format!(
            "    {:<28} {:<18} {}\n",
            v.name,
            v.default_text(),
            v.help
        ));
    }
    s
}

#[cfg(test)]
pub(crate) mod tests;
