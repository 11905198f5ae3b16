//! The environment variables: one row each — name, default, help, parse. The table drives
//! parsing (a row's parser runs on the value given, or on its default), `--help`, and the
//! tests that hold `docs/configuration.md` and the chart to the same names and defaults.
//! Adding a variable is a row here plus the field its parser sets.

use super::lab as params;
use super::rules::{boolean, int, optional, seconds, text};
use super::Config;

/// A variable's default as `--help` and the docs show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DefaultIs {
    /// Parsed like a given value when the variable is unset.
    Value(&'static str),
    /// Unset means "not provided"; the text says what then happens, in parentheses.
    Unset(&'static str),
}

/// One environment variable.
pub(crate) struct Var {
    pub name: &'static str,
    pub default: DefaultIs,
    pub help: &'static str,
    /// Validates a value and stores it; `Err` says what is allowed.
    pub parse: fn(&mut Config, &str) -> Result<(), String>,
}

impl Var {
    /// The default as shown: the value itself, or the parenthesised text.
    pub fn default_text(&self) -> &'static str {
        match self.default {
            DefaultIs::Value(v) | DefaultIs::Unset(v) => v,
        }
    }
}

/// Names other modules need (the error line before the logger runs, cross-field rules).
pub(crate) const POD_NAME: &str = "POD_NAME";
pub(crate) const DRAIN_DELAY: &str = "DRAIN_DELAY_SECONDS";
pub(crate) const DRAIN_TIMEOUT: &str = "DRAIN_TIMEOUT_SECONDS";
pub(crate) const EXPERIMENTS: &str = "EXPERIMENTS";
pub(crate) const FAULT_ERROR_RATE: &str = "FAULT_ERROR_RATE";
pub(crate) const FAULT_DELAY_SECONDS: &str = "FAULT_DELAY_SECONDS";
/// Its value is never echoed back, not even a bad one.
pub(crate) const ADMIN_TOKEN: &str = "ADMIN_TOKEN";

use DefaultIs::{Unset, Value};

/// Every variable, in `--help` order.
#[rustfmt::skip]
pub(crate) const VARIABLES: &[Var] = &[
    Var { name: "HOST", default: Value("0.0.0.0"), help: "listen address, an IPv4 or IPv6 literal",
        parse: |c, v| { c.host = v.parse().map_err(|_| "an IPv4 or IPv6 address literal")?; Ok(()) } },
    Var { name: "PORT", default: Value("8080"), help: "listen port, 0-65535 (0 picks a free port)",
        parse: |c, v| { c.port = v.parse().map_err(|_| "an integer from 0 to 65535")?; Ok(()) } },
    Var { name: "APP_ENV", default: Value("local"), help: "environment name shown by /info",
        parse: |c, v| { c.app_env = text(v)?; Ok(()) } },
    Var { name: "APP_VERSION", default: Value("1.0.0"), help: "version shown by / and /info",
        parse: |c, v| { c.app_version = text(v)?; Ok(()) } },
    Var { name: "LOG_LEVEL", default: Value("info"),
        help: "debug|info|warning|error|critical (any case; warn = warning)",
        parse: |c, v| { c.log_level = v.parse()?; c.log_level_raw = v.to_owned(); Ok(()) } },
    Var { name: POD_NAME, default: Value("unknown"), help: "pod name (Downward API), in every log line",
        parse: |c, v| { c.pod_name = text(v)?; Ok(()) } },
    Var { name: "POD_NAMESPACE", default: Unset("(unset)"),
        help: "pod namespace (Downward API), shown by /info",
        parse: |c, v| { c.pod_namespace = optional(v); Ok(()) } },
    Var { name: "NODE_NAME", default: Unset("(unset)"), help: "node name (Downward API), shown by /info",
        parse: |c, v| { c.node_name = optional(v); Ok(()) } },
    Var { name: "GREETING", default: Value("Hello World"), help: "the message of GET /",
        parse: |c, v| { c.greeting = text(v)?; Ok(()) } },
    Var { name: "ACCESS_LOG", default: Value("true"),
        help: "true|false: one JSON access-log line per request",
        parse: |c, v| { c.access_log = boolean(v)?; Ok(()) } },
    Var { name: "WORKERS", default: Unset("(CPUs available)"),
        help: "runtime worker threads, 1-1024; 1 = single-threaded",
        parse: |c, v| { c.workers = Some(int(v, 1, 1024)?); Ok(()) } },
    Var { name: DRAIN_DELAY, default: Value("0"),
        help: "seconds of drain announce after SIGTERM (listener stays open)",
        parse: |c, v| { c.drain_delay = seconds(v, false)?; Ok(()) } },
    Var { name: DRAIN_TIMEOUT, default: Value("30"),
        help: "seconds from SIGTERM until open connections are cut (> delay)",
        parse: |c, v| { c.drain_timeout = seconds(v, true)?; Ok(()) } },
    Var { name: ADMIN_TOKEN, default: Unset("(unset)"),
        help: "if set, /admin/* and /internal/prestop require 'Authorization: Bearer <token>'",
        parse: |c, v| {
            if !v.is_empty() && (v.len() < 8 || v.bytes().any(|b| !(0x21..=0x7e).contains(&b))) {
                return Err("at least 8 printable ASCII characters without spaces".into());
            }
            c.admin_token = optional(v);
            Ok(())
        } },
    Var { name: "PRESTOP_ENDPOINT", default: Value("false"),
        help: "true|false: serve GET /internal/prestop for an httpGet preStop hook",
        parse: |c, v| { c.prestop_endpoint = boolean(v)?; Ok(()) } },
    // Above the 60 s upstream keep-alive of ingress-nginx (docs/drain.md R18): the proxy, not
    // us, must be the side that closes an idle pooled connection.
    Var { name: "HEADER_READ_TIMEOUT_SECONDS", default: Value("75"),
        help: "seconds to receive a request head; also the keep-alive idle timeout",
        parse: |c, v| { c.limits.header_read_timeout = seconds(v, true)?; Ok(()) } },
    Var { name: "FIRST_BYTE_TIMEOUT_SECONDS", default: Value("10"),
        help: "seconds a new connection may stay silent before it is closed",
        parse: |c, v| { c.limits.first_byte_timeout = seconds(v, true)?; Ok(()) } },
    Var { name: "REQUEST_TIMEOUT_SECONDS", default: Value("90"),
        help: "seconds a request may run before it is answered 503",
        parse: |c, v| { c.limits.request_timeout = seconds(v, true)?; Ok(()) } },
    // Like nginx's send_timeout: a slow reader cannot hold a connection slot for ever.
    Var { name: "SEND_TIMEOUT_SECONDS", default: Value("60"),
        help: "seconds a response may make no progress (client not reading) before it is cut",
        parse: |c, v| { c.limits.send_timeout = seconds(v, true)?; Ok(()) } },
    Var { name: "MAX_CONNECTIONS", default: Value("10000"),
        help: "open connections; beyond it new ones are closed at once",
        parse: |c, v| { c.limits.max_connections = int(v, 1, 1 << 20)?; Ok(()) } },
    Var { name: "MAX_BODY_BYTES", default: Value("65536"),
        help: "largest accepted request body (413 beyond)",
        parse: |c, v| { c.limits.max_body_bytes = int(v, 0, 1 << 30)? as u64; Ok(()) } },
    Var { name: "MAX_HEADER_BYTES", default: Value("16384"),
        help: "largest request head: HTTP/1 bytes, HTTP/2 header list (8192 minimum; 431 beyond)",
        parse: |c, v| { c.limits.max_header_bytes = int(v, 8192, 1 << 20)?; Ok(()) } },
    Var { name: "MAX_HEADERS", default: Value("100"), help: "most request header fields (431 beyond)",
        parse: |c, v| { c.limits.max_headers = int(v, 1, 1000)?; Ok(()) } },
    Var { name: "H2_MAX_CONCURRENT_STREAMS", default: Value("100"),
        help: "HTTP/2 concurrent streams per connection",
        parse: |c, v| { c.limits.h2_max_streams = int(v, 1, 10_000)? as u32; Ok(()) } },
    // The Part 3 lab (docs/experiments.md).
    Var { name: EXPERIMENTS, default: Value("true"),
        help: "true|false: serve the experiment routes (/admin/toggle-live, crash, fault, stress/*)",
        parse: |c, v| { c.lab.enabled = boolean(v)?; Ok(()) } },
    Var { name: "START_READY", default: Value("true"),
        help: "true|false: false starts with readiness off until POST /admin/toggle-ready",
        parse: |c, v| { c.lab.start_ready = boolean(v)?; Ok(()) } },
    Var { name: "READY_DELAY_SECONDS", default: Value("0"),
        help: "seconds readiness stays 503 after the listener is up, 0-3600",
        parse: |c, v| { c.lab.ready_delay = params::ready_delay(v)?; Ok(()) } },
    Var { name: FAULT_ERROR_RATE, default: Value("0"),
        help: "share of application requests answered 500, 0-1 (needs EXPERIMENTS)",
        parse: |c, v| { c.lab.error_rate = params::error_rate(v)?; Ok(()) } },
    Var { name: FAULT_DELAY_SECONDS, default: Value("0"),
        help: "latency added to application requests: X or X-Y seconds, at most 60 (needs EXPERIMENTS)",
        parse: |c, v| { c.lab.delay = params::fault_delay(v)?; Ok(()) } },
    Var { name: "STRESS_MAX_MIB", default: Value("4096"),
        help: "most MiB POST /admin/stress/memory may hold, 0-1048576",
        parse: |c, v| { c.lab.stress_max_mib = params::stress_max_mib(v)?; Ok(()) } },
];
