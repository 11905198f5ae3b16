//! The speed and memory bench: `cargo bench --bench speed`.
//!
//! It measures the real binaries, side by side in one run, and prints a table of targets:
//!
//! 1. **Throughput and latency** — `GET /` at 64 keep-alive connections, each server pinned to
//!    CPU 0 (`taskset -c 0`, so both pick the current-thread runtime) and wrk to CPU 1
//!    (`wrk -t1 -c64 -d10s --latency`). Three configurations, interleaved round by round, medians
//!    reported: the bare hyper baseline (`benches/speed/bare.rs`), ours with `ACCESS_LOG=false`
//!    (the default `LOG_LEVEL=info` still writes `Hello World requested` per request) and ours
//!    with the access log on. stdout goes to a file; after each run the bench checks that every
//!    answered request has its lines in that file. One wrk thread saturates its own CPU near
//!    100k req/s, so the server's CPU time per request (utime+stime from `/proc/<pid>/stat`) is
//!    reported too: a tie in req/s can hide a costlier server.
//! 2. **Memory** — VmRSS of the musl release build, idle and after 1 million requests, with
//!    `WORKERS=1` (pinned) and with the default worker count (unpinned).
//! 3. **Start-up** — exec → first 200 from `/health/ready`, polled with a tight connect loop;
//!    median of 10.
//! 4. **Size** — the stripped musl release binary.
//!
//! Results: a table on stdout, `benches/results/speed.json` and `benches/results/SPEED.md`.
//! Knobs (environment): `SPEED_SECONDS` (10), `SPEED_ROUNDS` (3), `SPEED_RSS_REQUESTS`
//! (1000000), `SPEED_LOAD_WAIT` (seconds to wait for the machine to calm down, 120),
//! `SPEED_SKIP_BUILD=1` (use the binaries already in `target/`), `SPEED_PARTS` (a comma list of
//! `throughput,memory,startup`, all by default; for quick iterations only).
//!
//! Every wait is bounded; the bench signals only the processes it started, by PID.

mod procs;
mod wrk;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hello_world::json::{self, Obj};

const SERVER_CPU: &str = "0";
const WRK_CPU: &str = "1";
const CONNECTIONS: u32 = 64;
const MUSL: &str = "x86_64-unknown-linux-musl";
const MIB: f64 = 1024.0 * 1024.0;

struct Knobs {
    seconds: u64,
    rounds: usize,
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

/// The binaries under test.
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

/// The three servers of the throughput comparison.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bare,
    Quiet,
    Access,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Bare, Kind::Quiet, Kind::Access];
    fn name(self) -> &'static str {
        match self {
            Kind::Bare => "bare hyper",
            Kind::Quiet => "ours ACCESS_LOG=false",
            Kind::Access => "ours access log on",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Kind::Bare => "bare",
            Kind::Quiet => "ours_access_log_off",
            Kind::Access => "ours_access_log_on",
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
    /// For ours: (answered per /metrics, `Hello World requested` lines, access lines for `/`).
    lines: Option<(u64, u64, u64)>,
}

fn main() {
    let knobs = Knobs {
        seconds: env_num("SPEED_SECONDS", 10),
        rounds: env_num("SPEED_ROUNDS", 3) as usize,
        rss_requests: env_num("SPEED_RSS_REQUESTS", 1_000_000),
        load_wait: env_num("SPEED_LOAD_WAIT", 120),
        skip_build: std::env::var("SPEED_SKIP_BUILD").is_ok_and(|v| v == "1"),
        parts: std::env::var("SPEED_PARTS")
            .unwrap_or_else(|_| "throughput,memory,startup".into())
            .split(',')
            .map(str::to_owned)
            .collect(),
    };
    preflight();
    wrk::self_check();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let work = target.join("speed");
    std::fs::create_dir_all(&work).expect("creating target/speed");

    let bins = build(&root, &target, knobs.skip_build);
    let load_before_wait = procs::load1();
    let waited = wait_for_calm(knobs.load_wait);
    let machine = machine_facts(load_before_wait, waited);
    println!("{}", machine.summary);

    let part = |name: &str| knobs.parts.iter().any(|p| p == name);
    let runs = if part("throughput") {
        throughput(&bins, &work, &knobs)
    } else {
        Vec::new()
    };
    let rss = if part("memory") {
        memory(&bins.musl, &work, knobs.rss_requests)
    } else {
        Vec::new()
    };
    let startup = if part("startup") {
        startup(&bins.musl, &work)
    } else {
        Vec::new()
    };
    let size = binary_size(&bins.musl, &work);
    let load_end = procs::load1();

    let rows = table(&runs, &rss, &startup, size);
    let report = render_table(&rows);
    println!("\n{report}");
    println!("{}", render_runs(&runs));
    write_results(
        &root, &machine, load_end, &rows, &runs, &rss, &startup, size,
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

/// Builds the three binaries with the release profile (bounded: 40 minutes on a busy machine).
fn build(root: &Path, target: &Path, skip: bool) -> Bins {
    let bins = Bins {
        ours: target.join("release/hello-world"),
        bare: target.join("release/examples/bare_hyper"),
        musl: target.join(MUSL).join("release/hello-world"),
    };
    if !skip {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        for args in [
            vec![
                "build",
                "--release",
                "--bin",
                "hello-world",
                "--example",
                "bare_hyper",
            ],
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

/// Waits (at most `bound` seconds) until the 1-minute load is below the CPU count; returns
/// how long it waited.
fn wait_for_calm(bound: u64) -> Duration {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let start = Instant::now();
    while procs::load1() >= cpus && start.elapsed() < Duration::from_secs(bound) {
        eprintln!(
            "speed: load average {:.2} >= {cpus} CPUs; waiting (at most {bound} s in all)",
            procs::load1()
        );
        std::thread::sleep(Duration::from_secs(5));
    }
    start.elapsed()
}

struct Machine {
    nproc: usize,
    cpu_model: String,
    kernel: String,
    load_start: f64,
    load_after_wait: f64,
    waited: Duration,
    rustc: String,
    commit: String,
    summary: String,
}

fn machine_facts(load_start: f64, waited: Duration) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
    let nproc = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let quiet = |cmd: &mut Command| {
        procs::output_bounded(cmd, Duration::from_secs(10))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into())
    };
    let rustc = quiet(Command::new("rustc").arg("-V"));
    let commit = quiet(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR")),
    );
    let load_after_wait = procs::load1();
    let summary = format!(
        "machine: {nproc} CPUs, {cpu_model}, Linux {kernel}; load average {load_start:.2} at start, \
         {load_after_wait:.2} after waiting {:.0} s; {rustc}; commit {commit}",
        waited.as_secs_f64()
    );
    Machine {
        nproc,
        cpu_model,
        kernel,
        load_start,
        load_after_wait,
        waited,
        rustc,
        commit,
        summary,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Throughput, latency, CPU per request
// ---------------------------------------------------------------------------------------------

fn throughput(bins: &Bins, work: &Path, k: &Knobs) -> Vec<Run> {
    let clk = procs::clk_tck() as f64;
    let mut runs = Vec::new();
    for round in 1..=k.rounds {
        for kind in Kind::ALL {
            let log = work.join(format!("{}.log", kind.key()));
            let (bin, env): (&Path, &[(&str, &str)]) = match kind {
                Kind::Bare => (&bins.bare, &[]),
                Kind::Quiet => (&bins.ours, &[("ACCESS_LOG", "false")]),
                Kind::Access => (&bins.ours, &[]),
            };
            let server = procs::start(bin, Some(SERVER_CPU), env, &log);
            // Warm-up: connections, buffers and caches, outside the measurement.
            wrk::run(WRK_CPU, CONNECTIONS, 1, server.addr, "/");
            let load = procs::load1();
            let before = server.cpu_ticks();
            let report = wrk::run(WRK_CPU, CONNECTIONS, k.seconds, server.addr, "/");
            let ticks = server.cpu_ticks() - before;
            assert!(
                report.non_2xx == 0 && report.requests > 0,
                "{}: {} non-2xx answers of {}",
                kind.name(),
                report.non_2xx,
                report.requests
            );
            let lines = (kind != Kind::Bare).then(|| check_log(&server, kind, &report));
            if kind == Kind::Bare {
                server.stop(Duration::from_secs(5));
            }
            let _ = std::fs::remove_file(&log);
            let run = Run {
                kind,
                round,
                report,
                cpu_us_per_req: ticks as f64 / clk * 1e6 / report.requests as f64,
                load,
                lines,
            };
            eprintln!(
                "speed: round {round} {:<22} {:>9.0} req/s  p50 {:>7.0} us  p99 {:>7.0} us  cpu {:.2} us/req  load {load:.2}",
                kind.name(),
                report.rps,
                report.p50_us,
                report.p99_us,
                run.cpu_us_per_req
            );
            runs.push(run);
        }
    }
    runs
}

/// Stops our server (SIGTERM: it drains and flushes its log) and checks that every request it
/// answered left its lines: `Hello World requested` always (LOG_LEVEL=info), the access line
/// when the access log is on. Returns (answered, hello lines, access lines).
fn check_log(server: &procs::Server, kind: Kind, report: &wrk::Report) -> (u64, u64, u64) {
    let metrics = http_get(server.addr, "/metrics").expect("scraping /metrics");
    let answered = metric(
        &metrics,
        r#"http_requests_total{method="GET",route="/",status="200"}"#,
    );
    let dropped = metric(&metrics, "log_lines_dropped_total");
    let log = server.log.clone();
    // The Server value is borrowed here; stop it through a SIGTERM by PID and wait for the file.
    let _ = Command::new("kill")
        .args(["-TERM", &server.pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut hello, mut access, mut done) = (0, 0, false);
    while Instant::now() < deadline {
        (hello, access, done) = count_lines(&log);
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        done,
        "{}: no `drained` line within 15 s of SIGTERM",
        kind.name()
    );
    assert_eq!(dropped, 0, "{}: the logger dropped lines", kind.name());
    assert!(
        answered >= report.requests,
        "{}: /metrics counted {answered} answers, wrk {}",
        kind.name(),
        report.requests
    );
    assert_eq!(
        hello,
        answered,
        "{}: `Hello World requested` lines",
        kind.name()
    );
    let want_access = if kind == Kind::Access { answered } else { 0 };
    assert_eq!(
        access,
        want_access,
        "{}: access lines for GET /",
        kind.name()
    );
    (answered, hello, access)
}

/// (hello lines, access lines for `/`, saw `drained`).
fn count_lines(log: &Path) -> (u64, u64, bool) {
    let Ok(f) = File::open(log) else {
        return (0, 0, false);
    };
    let (mut hello, mut access, mut drained) = (0, 0, false);
    for line in BufReader::with_capacity(1 << 20, f).split(b'\n') {
        let Ok(line) = line else { break };
        let has = |needle: &[u8]| line.windows(needle.len()).any(|w| w == needle);
        if has(br#""message":"Hello World requested""#) {
            hello += 1;
        } else if has(br#""logger":"access""#) && has(br#""path":"/","#) {
            access += 1;
        } else if has(br#""event":"drained""#) {
            drained = true;
        }
    }
    (hello, access, drained)
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A one-shot HTTP/1.1 GET with `Connection: close`, bounded by 5 s socket timeouts.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median over rounds of `f(ours) / f(bare)` taken within each round: the load on a shared
/// machine changes between rounds, so ratios are formed first, between runs a few seconds
/// apart, and only then summarised.
fn ratio(runs: &[Run], kind: Kind, f: impl Fn(&Run) -> f64) -> f64 {
    let of = |round: usize, k: Kind| {
        runs.iter()
            .find(|r| r.round == round && r.kind == k)
            .map(&f)
    };
    let rounds = runs.iter().map(|r| r.round).max().unwrap_or(0);
    median(
        (1..=rounds)
            .filter_map(|n| Some(of(n, kind)? / of(n, Kind::Bare)?))
            .collect(),
    )
}

/// Median of one field over the runs of one kind.
fn med(runs: &[Run], kind: Kind, f: impl Fn(&Run) -> f64) -> f64 {
    median(runs.iter().filter(|r| r.kind == kind).map(f).collect())
}

// ---------------------------------------------------------------------------------------------
// 2. Memory
// ---------------------------------------------------------------------------------------------

struct Rss {
    label: &'static str,
    key: &'static str,
    threads: u64,
    idle_kib: u64,
    after_kib: u64,
    peak_kib: u64,
    requests: u64,
}

/// (label, key, CPU to pin to, environment) of one memory measurement.
type Setup<'a> = (&'a str, &'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

fn memory(musl: &Path, work: &Path, requests: u64) -> Vec<Rss> {
    let setups: [Setup; 2] = [
        (
            "WORKERS=1, pinned to CPU 0",
            "workers_1",
            Some(SERVER_CPU),
            &[("WORKERS", "1")],
        ),
        ("default workers, unpinned", "workers_default", None, &[]),
    ];
    let mut out = Vec::new();
    for (label, key, cpu, env) in setups {
        let log = work.join(format!("rss_{key}.log"));
        let server = procs::start(musl, cpu, env, &log);
        std::thread::sleep(Duration::from_millis(300));
        let (idle_kib, _) = server.rss_kib();
        let threads = server.threads();
        // Chunks of wrk until `requests` are answered: 3 s to learn the rate, then the rest.
        let mut done = 0u64;
        let mut secs = 3;
        for _ in 0..20 {
            let r = wrk::run(WRK_CPU, CONNECTIONS, secs, server.addr, "/");
            done += r.requests;
            if done >= requests {
                break;
            }
            let rate = r.requests.max(1) as f64 / secs as f64;
            secs = (((requests - done) as f64 / rate).ceil() as u64 + 1).clamp(1, 60);
        }
        let (after_kib, peak_kib) = server.rss_kib();
        eprintln!(
            "speed: rss {label}: {threads} threads, idle {idle_kib} KiB, after {done} requests {after_kib} KiB (peak {peak_kib} KiB)"
        );
        server.stop(Duration::from_secs(15));
        let _ = std::fs::remove_file(&log);
        out.push(Rss {
            label,
            key,
            threads,
            idle_kib,
            after_kib,
            peak_kib,
            requests: done,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 3. Start-up, 4. size
// ---------------------------------------------------------------------------------------------

/// Exec → first 200 from /health/ready, ten times, in milliseconds.
fn startup(musl: &Path, work: &Path) -> Vec<f64> {
    let request = b"GET /health/ready HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    let log = work.join("startup.log");
    let mut times = Vec::new();
    for _ in 0..10 {
        let addr = free_port();
        let port = addr.port().to_string();
        let t0 = Instant::now();
        let server = procs::spawn(musl, None, &[("PORT", &port)], &log);
        let took = loop {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "no 200 from /health/ready within 5 s of exec"
            );
            let Ok(mut s) = TcpStream::connect(addr) else {
                continue;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut head = [0u8; 12];
            if s.write_all(request).is_ok()
                && s.read_exact(&mut head).is_ok()
                && &head == b"HTTP/1.1 200"
            {
                break t0.elapsed();
            }
        };
        server.stop(Duration::from_secs(5));
        times.push(took.as_secs_f64() * 1e3);
    }
    let _ = std::fs::remove_file(&log);
    eprintln!("speed: exec -> ready (ms): {times:.2?}");
    times
}

/// A port that was free a moment ago (the kernel's pick for an ephemeral bind).
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    l.local_addr().expect("local address")
}

/// Bytes of the musl binary after `strip` (the release profile strips already; this makes
/// sure the number is the stripped one whatever the profile says).
fn binary_size(musl: &Path, work: &Path) -> u64 {
    let copy = work.join("hello-world.musl.stripped");
    std::fs::copy(musl, &copy).expect("copying the musl binary");
    procs::output_bounded(Command::new("strip").arg(&copy), Duration::from_secs(30))
        .expect("strip");
    std::fs::metadata(&copy).expect("stat").len()
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

fn table(runs: &[Run], rss: &[Rss], startup: &[f64], size: u64) -> Vec<Row> {
    let mut rows = Vec::new();
    if !runs.is_empty() {
        throughput_rows(&mut rows, runs);
    }
    for r in rss {
        rows.push(row(
            &format!("idle RSS, musl, {}", r.label),
            "<= 2.00 MiB",
            format!(
                "{:.2} MiB ({} threads)",
                r.idle_kib as f64 / 1024.0,
                r.threads
            ),
            Some(r.idle_kib as f64 <= 2.0 * 1024.0),
        ));
        rows.push(row(
            &format!(
                "RSS after {} requests, musl, {}",
                millions(r.requests),
                r.label
            ),
            "<= 4.00 MiB",
            format!(
                "{:.2} MiB (peak {:.2} MiB)",
                r.after_kib as f64 / 1024.0,
                r.peak_kib as f64 / 1024.0,
            ),
            Some(r.after_kib as f64 <= 4.0 * 1024.0),
        ));
    }
    if !startup.is_empty() {
        let start_ms = median(startup.to_vec());
        rows.push(row(
            "exec -> first 200 /health/ready (median of 10)",
            "<= 10 ms",
            format!(
                "{start_ms:.2} ms (min {:.2}, max {:.2})",
                startup.iter().copied().fold(f64::INFINITY, f64::min),
                startup.iter().copied().fold(0.0, f64::max)
            ),
            Some(start_ms <= 10.0),
        ));
    }
    rows.push(row(
        "stripped musl release binary",
        "<= 2.50 MiB",
        format!("{:.2} MiB ({size} bytes)", size as f64 / MIB),
        Some(size as f64 <= 2.5 * MIB),
    ));
    rows
}

fn throughput_rows(rows: &mut Vec<Row>, runs: &[Run]) {
    let bare_rps = med(runs, Kind::Bare, |r| r.report.rps);
    let bare_p99 = med(runs, Kind::Bare, |r| r.report.p99_us);
    let bare_cpu = med(runs, Kind::Bare, |r| r.cpu_us_per_req);
    for (kind, min_ratio) in [(Kind::Quiet, 0.9), (Kind::Access, 0.8)] {
        let rps = med(runs, kind, |r| r.report.rps);
        let ratio = ratio(runs, kind, |r| r.report.rps);
        rows.push(row(
            &format!("req/s, {} / bare", kind.name()),
            &format!(">= {min_ratio:.2}x"),
            format!("{ratio:.3}x (medians {rps:.0} / {bare_rps:.0})"),
            Some(ratio >= min_ratio),
        ));
    }
    for kind in [Kind::Quiet, Kind::Access] {
        let p99 = med(runs, kind, |r| r.report.p99_us);
        let ratio = ratio(runs, kind, |r| r.report.p99_us);
        rows.push(row(
            &format!("p99 latency, {} / bare", kind.name()),
            "<= 1.50x",
            format!("{ratio:.3}x (medians {p99:.0} / {bare_p99:.0} us)"),
            Some(ratio <= 1.5),
        ));
    }
    let bare_p50 = med(runs, Kind::Bare, |r| r.report.p50_us);
    for kind in [Kind::Quiet, Kind::Access] {
        let p50 = med(runs, kind, |r| r.report.p50_us);
        rows.push(row(
            &format!("p50 latency, {} / bare", kind.name()),
            "(reported)",
            format!(
                "{:.2}x (medians {p50:.0} / {bare_p50:.0} us)",
                ratio(runs, kind, |r| r.report.p50_us)
            ),
            None,
        ));
    }
    for kind in [Kind::Quiet, Kind::Access] {
        let cpu = med(runs, kind, |r| r.cpu_us_per_req);
        rows.push(row(
            &format!("server CPU/request, {} / bare", kind.name()),
            "(reported)",
            format!(
                "{:.2}x (medians {cpu:.2} / {bare_cpu:.2} us)",
                ratio(runs, kind, |r| r.cpu_us_per_req)
            ),
            None,
        ));
    }
    let (answered, hello, access) = runs
        .iter()
        .filter(|r| r.kind == Kind::Access)
        .filter_map(|r| r.lines)
        .fold((0, 0, 0), |a, l| (a.0 + l.0, a.1 + l.1, a.2 + l.2));
    let wrk_seen: u64 = runs
        .iter()
        .filter(|r| r.kind == Kind::Access)
        .map(|r| r.report.requests)
        .sum();
    rows.push(row(
        "access log: a line per request",
        "every request",
        format!(
            "{access} access + {hello} hello lines / {answered} answered \
             (wrk counted {wrk_seen}; the rest are warm-up)"
        ),
        Some(access == answered && hello == answered && answered >= wrk_seen),
    ));
}

/// `1.02M`, `250k`.
fn millions(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.2}M", n as f64 / 1e6)
    } else {
        format!("{}k", n / 1000)
    }
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "info",
    }
}

/// The result table as Markdown (readable as plain text too).
fn render_table(rows: &[Row]) -> String {
    let w0 = rows.iter().map(|r| r.metric.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.target.len()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.measured.len()).max().unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| {:w0$} | {:w1$} | {:w2$} | result |",
        "metric", "target", "measured"
    );
    let _ = writeln!(
        s,
        "| {} | {} | {} | ------ |",
        "-".repeat(w0),
        "-".repeat(w1),
        "-".repeat(w2)
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {:w0$} | {:w1$} | {:w2$} | {:6} |",
            r.metric,
            r.target,
            r.measured,
            verdict(r.pass)
        );
    }
    s
}

fn render_runs(runs: &[Run]) -> String {
    let mut s = String::from(
        "| round | server | req/s | requests | p50 us | p99 us | server CPU us/req | load |\n\
         | ----- | ------ | ----- | -------- | ------ | ------ | ----------------- | ---- |\n",
    );
    for r in runs {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {} | {:.0} | {:.0} | {:.2} | {:.2} |",
            r.round,
            r.kind.name(),
            r.report.rps,
            r.report.requests,
            r.report.p50_us,
            r.report.p99_us,
            r.cpu_us_per_req,
            r.load
        );
    }
    s
}

const COMMAND: &str = "cargo bench --bench speed";

#[allow(clippy::too_many_arguments)]
fn write_results(
    root: &Path,
    m: &Machine,
    load_end: f64,
    rows: &[Row],
    runs: &[Run],
    rss: &[Rss],
    startup: &[f64],
    size: u64,
) {
    let dir = root.join("benches/results");
    std::fs::create_dir_all(&dir).expect("creating benches/results");

    let f = |x: f64| format!("{x:.3}");
    let arr = |items: Vec<String>| format!("[{}]", items.join(","));
    let machine = Obj::new()
        .u64("nproc", m.nproc as u64)
        .str("cpu_model", &m.cpu_model)
        .str("kernel", &m.kernel)
        .raw("load1_at_start", &f(m.load_start))
        .raw("load1_after_wait", &f(m.load_after_wait))
        .raw("waited_seconds", &f(m.waited.as_secs_f64()))
        .raw("load1_at_end", &f(load_end))
        .str("rustc", &m.rustc)
        .str("commit", &m.commit)
        .finish();
    let table = arr(rows
        .iter()
        .map(|r| {
            Obj::new()
                .str("metric", &r.metric)
                .str("target", &r.target)
                .str("measured", &r.measured)
                .str("result", verdict(r.pass))
                .finish()
        })
        .collect());
    let run_list = arr(runs
        .iter()
        .map(|r| {
            let mut o = Obj::new()
                .str("server", r.kind.key())
                .u64("round", r.round as u64)
                .raw("requests_per_second", &f(r.report.rps))
                .u64("requests", r.report.requests)
                .raw("p50_us", &f(r.report.p50_us))
                .raw("p99_us", &f(r.report.p99_us))
                .raw("server_cpu_us_per_request", &f(r.cpu_us_per_req))
                .u64("socket_errors", r.report.socket_errors)
                .raw("load1", &f(r.load));
            if let Some((answered, hello, access)) = r.lines {
                o = o
                    .u64("answered", answered)
                    .u64("hello_lines", hello)
                    .u64("access_lines", access);
            }
            o.finish()
        })
        .collect());
    let mut medians = Obj::new();
    for kind in Kind::ALL {
        medians = medians.raw(
            kind.key(),
            &Obj::new()
                .raw("requests_per_second", &f(med(runs, kind, |r| r.report.rps)))
                .raw("p99_us", &f(med(runs, kind, |r| r.report.p99_us)))
                .raw(
                    "server_cpu_us_per_request",
                    &f(med(runs, kind, |r| r.cpu_us_per_req)),
                )
                .finish(),
        );
    }
    let rss_list = arr(rss
        .iter()
        .map(|r| {
            Obj::new()
                .str("setup", r.key)
                .u64("threads", r.threads)
                .u64("idle_kib", r.idle_kib)
                .u64("after_kib", r.after_kib)
                .u64("peak_kib", r.peak_kib)
                .u64("requests", r.requests)
                .finish()
        })
        .collect());
    let mut cmd_json = String::new();
    json::push_str(&mut cmd_json, COMMAND);
    let doc = Obj::new()
        .raw("command", &cmd_json)
        .raw("machine", &machine)
        .raw("table", &table)
        .raw("medians", &medians.finish())
        .raw("runs", &run_list)
        .raw("rss", &rss_list)
        .raw("startup_ms", &arr(startup.iter().map(|t| f(*t)).collect()))
        .u64("musl_stripped_bytes", size)
        .finish();
    std::fs::write(dir.join("speed.json"), doc + "\n").expect("writing speed.json");

    let mut md = String::new();
    let _ = writeln!(md, "# Speed and memory — measured\n");
    let _ = writeln!(
        md,
        "Produced by `{COMMAND}` (benches/speed/main.rs); do not edit by hand.\n"
    );
    let calm = if m.load_after_wait < m.nproc as f64 {
        "it had dropped below the CPU count"
    } else {
        "the bound; it never dropped below the CPU count"
    };
    let _ = writeln!(
        md,
        "- Machine: {} CPUs, {}, Linux {}; {}; commit {}.\n- Load average (1 min): {:.2} at start, \
         {:.2} when measuring began (after waiting {:.0} s: {calm}), {:.2} at the end. On a \
         shared machine absolute numbers are noisy; the side-by-side ratios much less so.\n\
         - Throughput: server pinned to CPU 0, `taskset -c 1 wrk -t1 -c{CONNECTIONS} -d<N>s --latency \
         http://127.0.0.1:<port>/`; {} rounds of the three servers, interleaved; each ratio is the \
         median of the per-round ratios.\n",
        m.nproc,
        m.cpu_model,
        m.kernel,
        m.rustc,
        m.commit,
        m.load_start,
        m.load_after_wait,
        m.waited.as_secs_f64(),
        load_end,
        runs.iter().map(|r| r.round).max().unwrap_or(0),
    );
    let _ = writeln!(md, "{}", render_table(rows));
    let _ = writeln!(md, "Every run:\n\n{}", render_runs(runs));
    std::fs::write(dir.join("SPEED.md"), md).expect("writing SPEED.md");
    println!("speed: wrote benches/results/speed.json and benches/results/SPEED.md");
}
