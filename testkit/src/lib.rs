//! The dev-only harness of `hello-world`, shared by the integration suite (`tests/suite`), the
//! soak bench (`benches/soak`) and the fuzz targets (`fuzz/fuzz_targets`). Not published.
//!
//! - [`logged`]: run the binary to its exit, or start it and wait for `listening` with every
//!   stdout line checked to be one log record; raw HTTP/1 exchanges on fresh connections.
//! - [`child`]: the binary as a child with timestamped stdout, stdout stalls/closes, early
//!   signals and bounded exit waits (the drain scenarios).
//! - [`h2c`]: a raw HTTP/2 prior-knowledge client that writes and reads frames itself.
//! - [`abuse`]: async hostile and broken clients (tricklers, silent sockets, oversized heads,
//!   an h2 rapid-reset flood) plus a server handle that counts non-JSON log lines.
//! - [`props`]: the properties of the input-facing pure functions, as functions of bytes.
//! - [`procfs`]: CPU time of a process from `/proc`.
//!
//! The binary's path is always passed in: `env!("CARGO_BIN_EXE_hello-world")` is only set for
//! the package's own test and bench targets, not for this crate.

pub mod abuse;
pub mod child;
pub mod h2c;
pub mod logged;
pub mod procfs;
pub mod props;
