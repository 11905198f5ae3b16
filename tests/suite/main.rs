//! The integration suite of `hello-world`: one test crate, one module per concern. Each test
//! says in its `///` line what it pins. Shared harness code lives in the dev-only `testkit`
//! crate (also used by the soak bench and the fuzz targets); [`inproc`] is this crate's
//! in-process server.
//!
//! | module          | pins                                                                  | needs            |
//! |-----------------|-----------------------------------------------------------------------|------------------|
//! | [`routes`]      | the tutorial's routes: exact bodies, framing on h1/h2, HEAD, 404/405, `/slow`, `/info`, toggle-ready, 500 on a panic | — |
//! | [`limits`]      | hardening: head/body/connection/time limits, slow and hostile clients, h2 abuse, the admin surface, EMFILE | `prlimit` |
//! | [`drain`]       | the drain scenarios S1–S16 (`docs/drain.md`) with real signals, PID 1, the preStop endpoint | `unshare` |
//! | [`logs`]        | the JSON log stream: fields, no forged lines, access log, levels, blocked stdout, request ids | `unshare` |
//! | [`connections`] | the server closing a connection: `Connection: close` on every early answer (Python's keep-alive client), the send timeout | `python3` |
//! | [`metrics`]     | `/metrics` parsed by a Prometheus parser; counters; bounded route labels | — |
//! | [`cli`]         | subcommands, exit codes, `--help`/`--version`, every config error (exit 2, one JSON line) | — |
//! | [`docs`]        | `openapi.json` (oas3, strict rules and schemas via `jsonschema`, live answers), `/docs` in Chromium | `chromium` |
//! | [`chart`]       | the Helm chart and `k8s/` manifests: lint, render, validation, PSS, kube-play | helm, helm3, kubectl, kubernetes-validate, podman |
//! | [`manifests`]   | our manifest checks proved: each Pod Security rule, strict schemas per Kubernetes version, the kube-play smoke | kubernetes-validate, podman (`schema_*`, `podman_*`) |
//! | [`image`]       | the container image built and run with podman                          | podman (slow)    |
//! | [`props`]       | proptest over the query parser, router and JSON escaper; the fuzz corpus replayed | — |
//! | [`fuzz`]        | the bounded cargo-fuzz run (`fuzz/run.sh`)                             | nightly, cargo-fuzz (slow) |
//! | [`watch`]       | `hello-world watch`: a steady run vs `/metrics`, a version switch and a SIGKILLed backend behind nginx (vs its access log), a stalling server (open loop), usage errors | nginx |
//! | [`lab`]         | the Part 3 lab: `/status`, `/echo`, `x-served-by`, the experiments (liveness, crash, faults, stress, start-up variables), process/cgroup metrics, gRPC health with tonic through a drain, real cgroup v1 throttling and OOM kill | root + cgroup v1 for `lab::cgroup_` |
//! | [`drain_bench`] | the quick drain-bench run: a rolling update through nginx loses nothing | nginx, helm (slow) |
//! | [`guide`]       | the tutorial guides (`docs/ko/README.md`, `docs/tutorial.md`, `docs/arm64.md`): every helm, curl and binary example re-run, zsh quoting, file references; `Dockerfile` = `Dockerfile.distroless`, lint fails like install on prod values, NOTES, the `kubectl debug` profile | helm, helm3, curl |
//! | [`arm64`]       | the aarch64 release binary (built with `.cargo/config.toml` alone) run under qemu: static AArch64 ELF, routes as on x86_64, healthcheck, sleep, SIGTERM drain, exit 2 | aarch64 target, qemu-user-static (slow: first build) |
//!
//! Run one concern with `cargo test --test suite <module>::` (a name filter), e.g.
//! `cargo test --test suite routes:: limits::`. The slow modules are `image`, `fuzz`,
//! `drain_bench` and `chart`.

/// The binary under test: Cargo sets this for the package's own test targets only, so the suite
/// passes it to `testkit`.
const BIN: &str = env!("CARGO_BIN_EXE_hello-world");

mod inproc;

mod arm64;
mod chart;
mod cli;
mod connections;
mod docs;
mod drain;
mod drain_bench;
mod fuzz;
mod guide;
mod image;
mod lab;
mod limits;
mod logs;
mod manifests;
mod metrics;
mod props;
mod routes;
mod watch;
