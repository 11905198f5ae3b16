//! The dev-only harness of `hello-world`, shared by the integration suite (`tests/suite`), the
//! soak and drain benches (`benches/soak`, `benches/drain`) and the fuzz targets (`fuzz/fuzz_targets`). Not published.
//!
//! - [`Spawn`] ([`spawn`]) / [`Server`] ([`server`]): the one way to run `hello-world serve` — builder-style
//!   environment, arguments and wrapper; the address from `listening`; every stdout line
//!   checked as one log record ([`logline`]), timestamped ([`capture`]); signals by PID;
//!   bounded waits for lines and for the exit.
//! - [`run`]: short-lived invocations to their exit; free ports.
//! - [`http1`]: a raw blocking HTTP/1.1 client.
//! - [`h2c`]: a raw HTTP/2 prior-knowledge client that writes and reads frames itself.
//! - [`abuse`]: async hostile and broken clients (tricklers, silent sockets, oversized heads,
//!   an h2 rapid-reset flood).
//! - [`props`]: the properties of the input-facing pure functions, as functions of bytes.
//! - [`procfs`]: CPU time, memory and descriptors of a process from `/proc`.
//! - [`drain`]: the drain benchmark's cluster replay (kubelet, endpoints, nginx, rollouts), run by
//!   `benches/drain` and, in its quick form, by the suite's `drain_bench` module.
//!
//! The binary's path is always passed in: `env!("CARGO_BIN_EXE_hello-world")` is only set for
//! the package's own test and bench targets, not for this crate.

pub mod abuse;
pub mod capture;
pub mod drain;
pub mod h2c;
pub mod http1;
pub mod logline;
pub mod procfs;
pub mod props;
pub mod run;
pub mod server;
pub mod spawn;

pub use server::Server;
pub use spawn::{start, Spawn};
