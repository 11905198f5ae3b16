//! The speed and memory bench: `cargo bench --bench speed`.
//!
//! It measures the real binaries, side by side in one run, and prints a table of targets:
//!
//! 1. **Throughput and latency** — `GET /` at 64 keep-alive connections, each server pinned to
//!    CPU 0 (`taskset -c 0`, so each picks the current-thread runtime) and wrk to CPU 1
//!    (`wrk -t1 -c64 -d3s --latency`). Four servers, interleaved round by round (the two of each
//!    compared pair back to back, every other round backwards), medians reported: bare hyper
//!    (`benches/speed/bare.rs`), the logging floor (the same server writing our two lines per
//!    request from its own thread, `benches/speed/floor.rs`), ours with
//!    `ACCESS_LOG=false` (the default `LOG_LEVEL=info` still writes `Hello World requested` per
//!    request) and ours with the access log on. stdout goes to a file; after each run of ours
//!    the bench checks that every answered request has its lines in that file, and that the
//!    floor's lines have our lines' fields, order and fixed values (`shape.rs`). One wrk thread
//!    saturates its own CPU near 100k req/s, so the server's CPU time per request
//!    (utime+stime from `/proc/<pid>/stat`) is reported too: a tie in req/s can hide a
//!    costlier server.
//!    Each target ratio comes with a distribution-free 95% interval for its median; a target
//!    inside the interval is within this run's noise, and the table says so.
//!
//!    **At once** (`at_once.rs`, a cross-check beside the verdicts): the two servers of a pair
//!    on CPU 0 together, in cpu cgroups with equal shares, each loaded by its own wrk; their
//!    ratio of requests per CPU-second cancels the VM's changing speed, and an A/A pair (the
//!    floor against itself) shows the method's own error. Needs root and cgroup v1's `cpu`.
//! 2. **Instructions per request** — callgrind, one worker (`callgrind.rs`): deterministic,
//!    so it still means something on a loaded machine.
//! 3. **Memory** — VmRSS of the musl release build, idle and after 1 million requests, with
//!    `WORKERS=1` (pinned) and with the default worker count (unpinned).
//! 4. **Start-up** — exec → first 200 from `/health/ready`, polled with a tight connect loop;
//!    median of 10.
//! 5. **Size** — the stripped musl release binary.
//!
//! Results: a table on stdout, `benches/results/speed.json` and `benches/results/SPEED.md`
//! (with the machine, date, commit and load averages; a loaded machine is said to be loaded).
//! Knobs (environment): `SPEED_SECONDS` (3), `SPEED_ROUNDS` (16), `SPEED_AT_ONCE_ROUNDS` (8),
//! `SPEED_RSS_REQUESTS`
//! (1000000), `SPEED_LOAD_WAIT` (seconds to wait for the machine to calm down, 120),
//! `SPEED_SKIP_BUILD=1` (use the binaries already in `target/`), `SPEED_PARTS` (a comma list of
//! `throughput,at_once,callgrind,memory,startup`, all by default; for quick iterations only),
//! `SPEED_OURS_BIN` (measure another build of ours, e.g. an older commit's
//! `target/release/hello-world`, in place of this tree's glibc build; the results name it) and
//! `SPEED_OUT` (the results directory, `benches/results` by default). The two last compare a
//! change with what it replaced: run the bench twice, once with the old build, into two
//! directories.
//!
//! Every wait is bounded; the bench signals only the processes it started, by PID.

mod at_once;
mod callgrind;
mod machine;
mod memory;
mod procs;
mod report;
mod results;
mod shape;
mod throughput;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::Command;

const SERVER_CPU: &str = "0";
const WRK_CPU: &str = "1";
const CONNECTIONS: u32 = 64;
const MUSL: &str = "x86_64-unknown-linux-musl";
const MIB: f64 = 1024.0 * 1024.0;

struct Knobs {
    seconds: u64,
    rounds: usize,
    at_once_rounds: usize,
    rss_requests: u64,
    load_wait: u64,
    skip_build: bool,
    /// Which parts to run: `throughput`, `memory`, `startup` (the size check always runs).
    parts: Vec<String>,
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: expected a whole number")),
        Err(_) => default,
    }
}

/// The binaries under test (`bare` is both baselines: quiet, and with `BARE_LOG=1` the
/// logging floor).
struct Bins {
    ours: PathBuf,
    bare: PathBuf,
    musl: PathBuf,
}

/// One line of the result table.
struct Row {
    metric: String,
    target: String,
    measured: String,
    pass: Option<bool>,
}

fn row(metric: &str, target: &str, measured: String, pass: Option<bool>) -> Row {
    Row {
        metric: metric.to_owned(),
        target: target.to_owned(),
        measured,
        pass,
    }
}

/// The four servers of the throughput comparison.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// bare hyper, no logging.
    Bare,
    /// bare hyper writing our two lines per request from its own thread (benches/speed/floor.rs).
    Floor,
    Quiet,
    Access,
    /// Ours writing no line per request (`LOG_LEVEL=WARNING` too): only in the at-once part,
    /// where it splits the log-off gap into our request path and the `Hello World` line.
    Silent,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Bare, Kind::Floor, Kind::Quiet, Kind::Access];
    fn name(self) -> &'static str {
        match self {
            Kind::Bare => "bare hyper",
            Kind::Floor => "logging floor",
            Kind::Quiet => "ours ACCESS_LOG=false",
            Kind::Access => "ours access log on",
            Kind::Silent => "ours LOG_LEVEL=WARNING",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Kind::Bare => "bare",
            Kind::Floor => "logging_floor",
            Kind::Quiet => "ours_access_log_off",
            Kind::Access => "ours_access_log_on",
            Kind::Silent => "ours_silent",
        }
    }
    /// The binary and environment of this server.
    fn setup(self, bins: &Bins) -> (&Path, &'static [(&'static str, &'static str)]) {
        match self {
            Kind::Bare => (&bins.bare, &[]),
            Kind::Floor => (&bins.bare, &[("BARE_LOG", "1")]),
            Kind::Quiet => (&bins.ours, &[("ACCESS_LOG", "false")]),
            Kind::Access => (&bins.ours, &[]),
            Kind::Silent => (
                &bins.ours,
                &[("ACCESS_LOG", "false"), ("LOG_LEVEL", "WARNING")],
            ),
        }
    }
}

/// One measured wrk run against one server.
struct Run {
    kind: Kind,
    round: usize,
    report: wrk::Report,
    /// Server CPU (user + system) per completed request, microseconds.
    cpu_us_per_req: f64,
    load: f64,
    /// The share of the machine's CPU time (all CPUs, steal included) that went to neither the
    /// server nor wrk during the run: 0 on a quiet machine.
    other: f64,
    /// For ours: (answered per /metrics, `Hello World requested` lines, access lines for `/`).
    lines: Option<(u64, u64, u64)>,
}

fn main() {
    let knobs = Knobs {
        // Many short rounds rather than a few long ones: on a shared VM the speed drifts over
        // seconds (bare hyper's own req/s moves by a third between 5 s rounds), so the two
        // runs of a compared pair are kept close in time, and the median is over more pairs.
        seconds: env_num("SPEED_SECONDS", 3),
        rounds: env_num("SPEED_ROUNDS", 16) as usize,
        // At once, the machine's speed cancels: the A/A pair's 3 s rounds stayed within ±0.03
        // of 1 but for one of 32 (1.066), so 8 rounds suffice.
        at_once_rounds: env_num("SPEED_AT_ONCE_ROUNDS", 8) as usize,
        rss_requests: env_num("SPEED_RSS_REQUESTS", 1_000_000),
        load_wait: env_num("SPEED_LOAD_WAIT", 120),
        skip_build: std::env::var("SPEED_SKIP_BUILD").is_ok_and(|v| v == "1"),
        parts: std::env::var("SPEED_PARTS")
            .unwrap_or_else(|_| "throughput,at_once,callgrind,memory,startup".into())
            .split(',')
            .map(str::to_owned)
            .collect(),
    };
    preflight();
    wrk::self_check();
    throughput::self_check();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let work = target.join("speed");
    std::fs::create_dir_all(&work).expect("creating target/speed");

    let mut bins = build(&root, &target, knobs.skip_build);
    let other_ours = std::env::var_os("SPEED_OURS_BIN").map(PathBuf::from);
    if let Some(path) = &other_ours {
        assert!(
            path.exists(),
            "SPEED_OURS_BIN={}: no such file",
            path.display()
        );
        bins.ours = path.clone();
    }
    let out =
        std::env::var_os("SPEED_OUT").map_or_else(|| root.join("benches/results"), PathBuf::from);
    let load_before_wait = procs::load1();
    let waited = machine::wait_for_calm(knobs.load_wait);
    let machine = machine::facts(load_before_wait, waited);
    println!("{}", machine.summary);

    let part = |name: &str| knobs.parts.iter().any(|p| p == name);
    let (runs, shapes) = if part("throughput") {
        throughput::run(&bins, &work, &knobs)
    } else {
        (Vec::new(), None)
    };
    let at_once = if !part("at_once") {
        Ok(Vec::new())
    } else if let Some(why) = at_once::unavailable() {
        Err(why)
    } else {
        Ok(at_once::run(
            &bins,
            &work,
            knobs.at_once_rounds,
            knobs.seconds,
        ))
    };
    let instructions = if part("callgrind") && callgrind::available() {
        Kind::ALL
            .map(|kind| {
                let (bin, env) = kind.setup(&bins);
                let n = callgrind::per_request(bin, env, &work, kind.key());
                eprintln!(
                    "speed: callgrind {:<22} {n:>8.0} instructions/request",
                    kind.name()
                );
                (kind, n)
            })
            .to_vec()
    } else {
        Vec::new()
    };
    let rss = if part("memory") {
        memory::rss(&bins.musl, &work, knobs.rss_requests)
    } else {
        Vec::new()
    };
    let startup = if part("startup") {
        memory::startup(&bins.musl, &work)
    } else {
        Vec::new()
    };
    let size = memory::binary_size(&bins.musl, &work);
    let load_end = procs::load1();

    let rows = report::table(
        &runs,
        shapes.as_ref(),
        &at_once,
        &instructions,
        &rss,
        &startup,
        size,
    );
    let report = report::render_table(&rows);
    println!("\n{report}");
    println!("{}", report::render_runs(&runs));
    results::write(
        &out,
        other_ours.as_deref(),
        &machine,
        load_end,
        &rows,
        &runs,
        &instructions,
        &rss,
        &startup,
        size,
    );
}

fn preflight() {
    for (tool, why) in [
        (wrk::WRK, "the load generator (Debian package `wrk`)"),
        ("taskset", "CPU pinning (Debian package `util-linux`)"),
        ("strip", "the binary size check (Debian package `binutils`)"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "speed bench: `{tool}` is missing: install it — {why}"
        );
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cpus >= 2,
        "speed bench: needs 2 CPUs (server on CPU 0, wrk on CPU 1); this process may use {cpus}"
    );
}

/// Builds the binaries with the release profile (bounded: 40 minutes on a busy machine): ours
/// glibc, the baselines, ours musl. Ours is built in a cargo run of its own: built together
/// with the example, it would get the dev-dependencies' features too (tokio's `test-util`
/// among them), which is not the binary users run (callgrind: ~60 instructions per `GET /`
/// more). The example cannot be built without them.
fn build(root: &Path, target: &Path, skip: bool) -> Bins {
    let bins = Bins {
        ours: target.join("release/hello-world"),
        bare: target.join("release/examples/bare_hyper"),
        musl: target.join(MUSL).join("release/hello-world"),
    };
    if !skip {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        for args in [
            vec!["build", "--release", "--bin", "hello-world"],
            vec!["build", "--release", "--example", "bare_hyper"],
            vec![
                "build",
                "--release",
                "--bin",
                "hello-world",
                "--target",
                MUSL,
            ],
        ] {
            eprintln!("speed: cargo {}", args.join(" "));
            let status = Command::new(&cargo)
                .args(&args)
                .current_dir(root)
                .status()
                .expect("running cargo");
            assert!(status.success(), "cargo {} failed", args.join(" "));
        }
    }
    for b in [&bins.ours, &bins.bare, &bins.musl] {
        assert!(
            b.exists(),
            "{} is missing (build it, or unset SPEED_SKIP_BUILD)",
            b.display()
        );
    }
    bins
}
