//! `hello-world`: the reference hello-world service for Kubernetes, on hyper 1.x with a
//! hand-rolled runtime layer (no web framework).
//!
//! # Layout
//! - [`config`]: environment variables, parsed and validated once (exit 2 on a bad value).
//! - [`cli`]: `serve`, `healthcheck`, `sleep`, `--version`, `--help`.
//! - [`signal`]: SIGTERM/SIGINT handlers; the second signal exits from the handler.
//! - [`server`]: accept loop and the drain state machine (`serve(listener, state, shutdown)`).
//! - [`service`]: the routes' handlers and the per-request observation layer.
//! - [`routes`]: the pure route table.
//! - [`reject`]: JSON bodies for the 400/414/431 answers hyper writes by itself.
//! - [`query`]: query-string decoding and FastAPI-shaped validation errors.
//! - [`state`]: phase and readiness in atomics.
//! - [`metrics`]: Prometheus text rendered from atomics.
//! - [`log`]: the JSON log formatter and its batching writer.
//! - [`json`]: JSON string escaping shared by logs and bodies.
//! - [`healthcheck`]: the tiny HTTP client behind `hello-world healthcheck`.
//! - [`grpc`]: `grpc.health.v1.Health` by hand (protobuf, framing, trailers, `Watch`).
//! - [`lab`]: the Part 3 experiments' state (liveness, faults, stress, crash, start-up).
//! - [`sysinfo`]: process metrics from /proc/self and container metrics from the cgroup.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cli;
pub mod config;
pub mod grpc;
pub mod healthcheck;
pub mod json;
pub mod lab;
pub mod log;
pub mod metrics;
pub mod query;
pub mod reject;
pub mod routes;
pub mod server;
pub mod service;
pub mod signal;
pub mod state;
pub mod sysinfo;

pub use config::Config;
pub use server::{serve, serve_with, Outcome};
pub use state::{AppState, DrainCause, Phase};
