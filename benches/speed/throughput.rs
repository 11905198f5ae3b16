//! Throughput, latency and CPU per request (part 1 of the bench): the four servers under wrk,
//! and the check that every request answered left its lines.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{procs, shape, wrk, Bins, Kind, Knobs, Run, CONNECTIONS, SERVER_CPU, WRK_CPU};

/// Every run, and the first lines of the logging floor and of ours with the access log on.
pub(crate) fn run(bins: &Bins, work: &Path, k: &Knobs) -> (Vec<Run>, Option<shape::Samples>) {
    let clk = procs::clk_tck() as f64;
    let mut runs = Vec::new();
    let (mut floor_lines, mut our_lines) = (None, None);
    for round in 1..=k.rounds {
        for kind in round_order(round) {
            let log = work.join(format!("{}.log", kind.key()));
            let (bin, env) = kind.setup(bins);
            let server = procs::start(bin, Some(SERVER_CPU), env, &log);
            // Warm-up: connections, buffers and caches, outside the measurement.
            wrk::run(WRK_CPU, CONNECTIONS, 1, server.addr, "/");
            let load = procs::load1();
            let before = server.cpu_ticks();
            let (busy_before, cpus) = procs::machine_busy_ticks();
            let (wrk_before, t0) = (procs::children_cpu_seconds(), Instant::now());
            let report = wrk::run(WRK_CPU, CONNECTIONS, k.seconds, server.addr, "/");
            let ticks = server.cpu_ticks() - before;
            // Whatever else ran on the machine meanwhile: its busy time minus the server's and
            // wrk's, as a share of all CPUs' time. The load average cannot tell this: the run
            // itself keeps both CPUs busy.
            let elapsed = t0.elapsed().as_secs_f64();
            let wrk_cpu = procs::children_cpu_seconds() - wrk_before;
            let busy = (procs::machine_busy_ticks().0 - busy_before) as f64 / clk;
            let other = ((busy - ticks as f64 / clk - wrk_cpu) / (elapsed * cpus as f64)).max(0.0);
            assert!(
                report.non_2xx == 0 && report.requests > 0,
                "{}: {} non-2xx answers of {}",
                kind.name(),
                report.non_2xx,
                report.requests
            );
            let lines = matches!(kind, Kind::Quiet | Kind::Access)
                .then(|| check_log(&server, kind, &report));
            if matches!(kind, Kind::Bare | Kind::Floor) {
                // The floor writes only full buffers and has no drain: its tail dies with it.
                server.stop(Duration::from_secs(5));
            }
            match kind {
                Kind::Floor if floor_lines.is_none() => floor_lines = shape::first_pair(&log),
                Kind::Access if our_lines.is_none() => our_lines = shape::first_pair(&log),
                _ => {}
            }
            let _ = std::fs::remove_file(&log);
            let run = Run {
                kind,
                round,
                report,
                cpu_us_per_req: ticks as f64 / clk * 1e6 / report.requests as f64,
                load,
                other,
                lines,
            };
            eprintln!(
                "speed: round {round} {:<22} {:>9.0} req/s  p50 {:>7.0} us  p99 {:>7.0} us  cpu {:.2} us/req  other {:.1}%  load {load:.2}",
                kind.name(),
                report.rps,
                report.p50_us,
                report.p99_us,
                run.cpu_us_per_req,
                other * 100.0
            );
            runs.push(run);
        }
    }
    let samples = shape::Samples {
        floor: floor_lines.expect("the logging floor wrote no hello + access pair"),
        ours: our_lines.expect("ours wrote no hello + access pair"),
    };
    (runs, Some(samples))
}

/// The order of the servers in a round. The machine's speed drifts over seconds (a shared VM:
/// the same server's req/s moves by half between rounds), so the two servers of each compared
/// pair run back to back — ours `ACCESS_LOG=false` beside bare hyper, ours with the access log
/// beside the logging floor — and every other round runs backwards (ABBA), so that a steady
/// drift favours neither side of a pair over the rounds.
fn round_order(round: usize) -> [Kind; 4] {
    let forward = [Kind::Bare, Kind::Quiet, Kind::Access, Kind::Floor];
    if round % 2 == 1 {
        forward
    } else {
        [forward[3], forward[2], forward[1], forward[0]]
    }
}

/// Stops our server (SIGTERM: it drains and flushes its log) and checks that every request it
/// answered left its lines: `Hello World requested` always (LOG_LEVEL=info), the access line
/// when the access log is on. Returns (answered, hello lines, access lines).
pub(crate) fn check_log(
    server: &procs::Server,
    kind: Kind,
    report: &wrk::Report,
) -> (u64, u64, u64) {
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
    let mut done = false;
    while Instant::now() < deadline {
        (_, _, done) = count_lines(&log);
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
    // Count once the process is gone, so that the file is complete.
    while Instant::now() < deadline
        && std::fs::read_to_string(format!("/proc/{}/stat", server.pid))
            .is_ok_and(|s| !s.contains(") Z "))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (hello, access, _) = count_lines(&log);
    assert_eq!(dropped, 0, "{}: the logger dropped lines", kind.name());
    assert!(
        answered >= report.requests,
        "{}: /metrics counted {answered} answers, wrk {}",
        kind.name(),
        report.requests
    );
    // `answered` was scraped while the server may still have been working through requests
    // wrk had sent before it stopped (on a loaded machine, tens of them): those have lines but
    // were not yet counted. So: a line for every counted answer, and both lines alike.
    assert!(
        hello >= answered,
        "{}: {hello} `Hello World requested` lines for {answered} answers",
        kind.name()
    );
    // A request whose connection wrk closed mid-way has its hello line (written by the
    // handler) but no access line (its future was dropped before the answer): so, for the
    // access log, an access line for every counted answer and none beyond the hello lines.
    let ok = if kind == Kind::Access {
        access >= answered && access <= hello
    } else {
        access == 0
    };
    assert!(
        ok,
        "{}: {access} access lines for GET /, {hello} hello lines, {answered} answers",
        kind.name()
    );
    (answered, hello, access)
}

/// (hello lines, access lines for `/`, saw `drained`).
pub(crate) fn count_lines(log: &Path) -> (u64, u64, bool) {
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

pub(crate) fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A one-shot HTTP/1.1 GET with `Connection: close`, bounded by 5 s socket timeouts.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
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

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
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

/// The per-round ratios `f(kind) / f(base)`, each taken within one round: the load on a shared
/// machine changes between rounds, so ratios are formed first, between runs a few seconds
/// apart, and only then summarised.
pub(crate) fn ratios(runs: &[Run], kind: Kind, base: Kind, f: impl Fn(&Run) -> f64) -> Vec<f64> {
    let of = |round: usize, k: Kind| {
        runs.iter()
            .find(|r| r.round == round && r.kind == k)
            .map(&f)
    };
    let rounds = runs.iter().map(|r| r.round).max().unwrap_or(0);
    (1..=rounds)
        .filter_map(|n| Some(of(n, kind)? / of(n, base)?))
        .collect()
}

/// Median over rounds of the per-round ratios ([`ratios`]).
pub(crate) fn ratio_to(runs: &[Run], kind: Kind, base: Kind, f: impl Fn(&Run) -> f64) -> f64 {
    median(ratios(runs, kind, base, f))
}

/// A distribution-free interval of at least 95% for the median of what `v` samples: the
/// `k`-th smallest and `k`-th largest values, with `k` the largest rank such that fewer than
/// `k` of `n` fair coin flips come up heads with probability at most 2.5% (so for 16 rounds,
/// the 4th and 13th values; 97.9% coverage). It assumes only that rounds are independent, not
/// that their noise is normal: the VM's hiccups are not. `None` below 6 values (no such `k`).
pub(crate) fn median_interval(mut v: Vec<f64>) -> Option<(f64, f64)> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    // P(Binomial(n, 1/2) <= j), summed term by term.
    let mut below = 0.0;
    let mut term = 0.5f64.powi(n as i32);
    let mut k = 0;
    for j in 0..n {
        below += term;
        if below > 0.025 {
            break;
        }
        k = j + 1; // P(heads <= j) <= 2.5%: rank j+1 is a valid lower bound
        term *= (n - j) as f64 / (j + 1) as f64;
    }
    (k >= 1).then(|| (v[k - 1], v[n - k]))
}

/// A self-check of [`median_interval`]'s ranks against the textbook ones (n = 16: the 4th and
/// 13th values; n = 8: the extremes; n = 5: none), run at the start of every bench like
/// [`crate::wrk::self_check`]: a bench target has no test harness.
pub(crate) fn self_check() {
    let v = |n: usize| (1..=n).map(|i| i as f64).rev().collect::<Vec<_>>();
    assert_eq!(median_interval(v(16)), Some((4.0, 13.0)));
    assert_eq!(median_interval(v(8)), Some((1.0, 8.0)));
    assert_eq!(median_interval(v(32)), Some((10.0, 23.0)));
    assert_eq!(median_interval(v(5)), None);
}

/// Median of one field over the runs of one kind.
pub(crate) fn med(runs: &[Run], kind: Kind, f: impl Fn(&Run) -> f64) -> f64 {
    median(runs.iter().filter(|r| r.kind == kind).map(f).collect())
}
