//! `hello-world`: the reference hello-world service for Kubernetes, on hyper 1.x with a
//! hand-rolled runtime layer (no web framework).
//!
//! # Layout
//! - [`cli`]: argv → [`cli::Command`], the usage text. [`run`]: what each command does.
//! - `config`: the variable table (name, default, help, parser) and the validated [`Config`],
//!   the experiment settings among them.
//! - `lifecycle`: [`Phase`], [`DrainCause`], readiness, the drain clock. Depends on nothing.
//! - `server`: [`serve`]'s phase loops and [`Outcome`]; the acceptor; protocol sniffing and
//!   connection driving; the connection I/O (JSON rejections, lingering close, send timeout).
//! - `http`: the route table, one handler per route, named responses, auth, request ids,
//!   head rejections, the observation layer, and [`AppState`].
//! - `metrics`: counters behind methods; the descriptor table the renderer walks.
//! - `query`: query-string decoding and FastAPI-shaped 422 details (routes and experiments).
//! - [`log`]: the JSON log formatter and its batching writer. [`json`]: JSON escaping.
//! - [`signal`]: SIGTERM/SIGINT handlers; the second signal exits from the handler.
//! - [`healthcheck`]: the tiny HTTP client behind `hello-world healthcheck`.
//! - [`watch`]: `hello-world watch URL`, the rollout watcher (and the drain bench's load engine).
//! - `grpc`: `grpc.health.v1.Health` by hand (protobuf, framing, trailers, `Watch`).
//! - `lab`: the Part 3 experiments' state (liveness, faults, stress, crash, start-up).
//! - `sysinfo`: process metrics from /proc/self and container metrics from the cgroup.
//!
//! Dependencies point one way, with no cycle between these modules:
//! `run → server → http → {lab, grpc, metrics, sysinfo, lifecycle} → {query, config} → log → json`.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cli;
pub(crate) mod config;
pub(crate) mod grpc;
pub mod healthcheck;
pub(crate) mod http;
pub mod json;
pub(crate) mod lab;
pub(crate) mod lifecycle;
pub mod log;
pub(crate) mod metrics;
pub(crate) mod query;
pub mod run;
pub(crate) mod server;
pub mod signal;
pub(crate) mod sysinfo;
pub mod watch;

pub use config::{Config, ConfigError, Limits};
pub use http::{App, AppState, Body, Handler, Reply, Route};
pub use lifecycle::{DrainCause, Phase};
pub use metrics::Metrics;
pub use server::{serve, serve_with, Outcome};

/// The pure parsers, for the property tests (`tests/properties.rs`) and the cargo-fuzz
/// targets (`fuzz/`): they must call them directly, with generated input, and an
/// integration test or a fuzz crate sees only the public API. Not an API: hidden from the
/// docs and free to change with the code.
#[doc(hidden)]
pub mod internals {
    /// Query-string decoding and the `/slow` and `/internal/prestop` parameter rules.
    pub mod query {
        pub use crate::query::{decode, int_param, last_value, seconds_param, Int, Invalid};
    }
    /// hyper's bodiless error heads rewritten to JSON.
    pub mod reject {
        pub use crate::http::reject::rewrite;
    }
    pub use crate::http::routes::resolve;

    /// `(name, default as --help shows it)` of every environment variable.
    pub fn variables() -> impl Iterator<Item = (&'static str, &'static str)> {
        crate::config::vars::VARIABLES
            .iter()
            .map(|v| (v.name, v.default_text()))
    }
}
