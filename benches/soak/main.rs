//! Soak: minutes of mixed load with slow and abusive clients against the real binary,
//! sampling its memory (RSS), open file descriptors and connection counts over time.
//!
//! ```text
//! cargo bench --bench soak                      # 5 minutes (the recorded run)
//! cargo bench --bench soak -- --duration 30     # a short run
//! cargo bench --bench soak -- --duration 60 --out /tmp/soak
//! ```
//!
//! Load, all on 127.0.0.1 and bounded in rate and time:
//! - `wrk` (`/usr/bin/wrk`, or `--wrk PATH`): 8 keep-alive connections, one request per
//!   connection every 5 ms at most (≤ 1600 req/s), rotating over the 2xx routes;
//! - 8 tricklers sending a request head one byte every 300 ms (cut by the header read timeout);
//! - 8 silent connections (cut by the first-byte timeout);
//! - a hostile loop: oversized heads (431), too many headers (431), oversized bodies (413),
//!   garbage bytes (400), hostile query strings (422), each answer checked to be JSON;
//! - an HTTP/2 rapid-reset flood (HEADERS + RST_STREAM) in bursts, plus a normal h2 request
//!   after each burst that must succeed.
//!
//! Output: `soak.csv` (one sample every 5 s: t, RSS, fds, open connections, in-flight) and
//! `soak.md` (summary) in `--out` (default `benches/results/`). Exits 1 if a check failed:
//! invalid log lines, unexpected answers, normal-load errors, RSS growing past the band.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::abuse::{self, Answer, Server};

const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Allowed RSS spread after warm-up, KiB (beyond it the run fails).
const RSS_BAND_KIB: u64 = 16 * 1024;

struct Args {
    duration: Duration,
    out: PathBuf,
    wrk: String,
    /// `git rev-parse --short HEAD` at start (the binary under test was built from it).
    commit: String,
}

fn args() -> Args {
    let mut a = Args {
        duration: Duration::from_secs(300),
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/results"),
        wrk: "/usr/bin/wrk".into(),
        commit: Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--duration" => {
                let v: f64 = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--duration SECONDS");
                assert!((5.0..=3600.0).contains(&v), "--duration: 5 to 3600 s");
                a.duration = Duration::from_secs_f64(v);
            }
            "--out" => a.out = it.next().expect("--out DIR").into(),
            "--wrk" => a.wrk = it.next().expect("--wrk PATH"),
            // `cargo bench` passes --bench; filters make no sense for one scenario.
            _ => {}
        }
    }
    a
}

#[derive(Default)]
struct Counts {
    trickle_cut: AtomicU64,
    trickle_not_cut: AtomicU64,
    silent_cut: AtomicU64,
    silent_not_cut: AtomicU64,
    hostile_ok: AtomicU64,
    hostile_bad: AtomicU64,
    h2_resets: AtomicU64,
    h2_connections: AtomicU64,
    h2_ok: AtomicU64,
    h2_bad: AtomicU64,
}

struct Sample {
    t: f64,
    rss_kib: u64,
    fds: usize,
    conns: f64,
    in_flight: f64,
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The hostile requests of one round, with the status each must get (always JSON).
fn hostile_requests() -> Vec<(&'static str, Vec<u8>, u16)> {
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    let mut body =
        b"POST /admin/toggle-ready HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'x', 70_000));
    vec![
        ("oversized head", big.into_bytes(), 431),
        ("too many headers", many.into_bytes(), 431),
        ("oversized body", body, 413),
        ("garbage", b"\x00\xff\xfe GET /\r\n\r\n".to_vec(), 400),
        (
            "non-UTF-8 target",
            b"GET /\xc3\x28 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            400,
        ),
        (
            "huge seconds",
            b"GET /slow?seconds=-99999999999999999999 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                .to_vec(),
            422,
        ),
        (
            "encoded slash",
            b"GET /health%2Flive HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            404,
        ),
    ]
}

async fn hostile_loop(addr: SocketAddr, stop: Arc<AtomicBool>, c: Arc<Counts>) {
    let reqs = hostile_requests();
    while !stop.load(Ordering::Relaxed) {
        for (what, bytes, want) in &reqs {
            let raw = abuse::raw(addr, bytes, Duration::from_secs(5)).await;
            match Answer::parse(&raw) {
                Some(a) if a.status == *want && a.is_json() => {
                    c.hostile_ok.fetch_add(1, Ordering::Relaxed);
                }
                other => {
                    c.hostile_bad.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "soak: {what}: wanted {want} JSON, got {:?}",
                        other.map(|a| (a.status, a.head))
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn h2_loop(addr: SocketAddr, stop: Arc<AtomicBool>, c: Arc<Counts>) {
    while !stop.load(Ordering::Relaxed) {
        // A burst of 400 resets on streams that would each sleep 5 s if hyper did not cancel them.
        let f = abuse::rapid_reset(
            addr,
            "/slow?seconds=5",
            400,
            Duration::from_secs(5),
            100,
            Duration::from_millis(10),
        )
        .await;
        c.h2_resets.fetch_add(f.resets, Ordering::Relaxed);
        c.h2_connections.fetch_add(f.connections, Ordering::Relaxed);
        let ok = match tokio::time::timeout(Duration::from_secs(5), async {
            let client = abuse::h2_connect(addr).await?;
            abuse::h2_get(client, &format!("http://{addr}/health/live"), &[]).await
        })
        .await
        {
            Ok(Ok((200, _))) => true,
            other => {
                eprintln!("soak: h2 request after a reset burst failed: {other:?}");
                false
            }
        };
        let n = if ok { &c.h2_ok } else { &c.h2_bad };
        n.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn wrk_script() -> PathBuf {
    let p = std::env::temp_dir().join(format!("hello-world-soak-{}.lua", std::process::id()));
    std::fs::write(
        &p,
        r#"local paths = {"/", "/health/live", "/health/ready", "/info", "/metrics", "/slow?seconds=0", "/openapi.json"}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
delay = function() return 5 end
done = function(summary, latency, requests)
  io.write(string.format("WRK_SUMMARY requests=%d connect=%d read=%d write=%d status=%d timeout=%d p99_ms=%.2f\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(99) / 1000))
end
"#,
    )
    .expect("write wrk script");
    p
}

fn main() {
    let args = args();
    if !std::path::Path::new(&args.wrk).exists() {
        eprintln!(
            "soak: wrk not found at {} — install it (apt-get install wrk) \
             or pass --wrk PATH",
            args.wrk
        );
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(run(args));
    rt.shutdown_timeout(Duration::from_secs(2));
    std::process::exit(code);
}

async fn run(args: Args) -> i32 {
    let mut server = Server::start_keeping(
        env!("CARGO_BIN_EXE_hello-world"),
        &[
            ("HEADER_READ_TIMEOUT_SECONDS", "2"),
            ("FIRST_BYTE_TIMEOUT_SECONDS", "1"),
            ("REQUEST_TIMEOUT_SECONDS", "10"),
            ("MAX_CONNECTIONS", "2000"),
            ("DRAIN_TIMEOUT_SECONDS", "10"),
            ("WORKERS", "2"),
        ],
        10_000,
    );
    let addr = server.addr;
    let pid = server.pid();
    println!(
        "soak: pid {pid} at {addr}, {} s of mixed load",
        args.duration.as_secs()
    );
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let c = Arc::new(Counts::default());

    let script = wrk_script();
    let wrk = Command::new(&args.wrk)
        .args(["-t1", "-c8", "--timeout", "5s", "-d"])
        .arg(format!("{}s", args.duration.as_secs().max(1)))
        .arg("-s")
        .arg(&script)
        .arg(format!("http://{addr}/"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn wrk");
    let wrk = tokio::task::spawn_blocking(move || wrk.wait_with_output());

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (stop1, c1) = (stop.clone(), c.clone());
        tasks.spawn(async move {
            let (stop, c) = (stop1, c1);
            while !stop.load(Ordering::Relaxed) {
                match abuse::trickle(addr, Duration::from_millis(300), Duration::from_secs(10))
                    .await
                {
                    Some(_) => c.trickle_cut.fetch_add(1, Ordering::Relaxed),
                    None => c.trickle_not_cut.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
        let (stop2, c2) = (stop.clone(), c.clone());
        tasks.spawn(async move {
            let (stop, c) = (stop2, c2);
            while !stop.load(Ordering::Relaxed) {
                match abuse::silent(addr, Duration::from_secs(5)).await {
                    Some(_) => c.silent_cut.fetch_add(1, Ordering::Relaxed),
                    None => c.silent_not_cut.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    tasks.spawn(hostile_loop(addr, stop.clone(), c.clone()));
    tasks.spawn(h2_loop(addr, stop.clone(), c.clone()));

    let mut samples = Vec::new();
    let sample = |t: f64| async move {
        let metrics = abuse::get(addr, "/metrics")
            .await
            .map(|a| String::from_utf8_lossy(&a.body).into_owned())
            .unwrap_or_default();
        Sample {
            t,
            rss_kib: abuse::rss_kib(pid),
            fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count()),
            conns: metric(&metrics, "http_connections_open"),
            in_flight: metric(&metrics, "http_requests_in_flight"),
        }
    };
    samples.push(sample(0.0).await);
    let mut next = start + SAMPLE_EVERY;
    while start.elapsed() < args.duration {
        tokio::time::sleep_until(next.into()).await;
        next += SAMPLE_EVERY;
        let s = sample(start.elapsed().as_secs_f64()).await;
        println!(
            "soak: t={:>5.0}s rss={} KiB fds={} conns={} in_flight={}",
            s.t, s.rss_kib, s.fds, s.conns, s.in_flight
        );
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    // Abusers finish their current round (bounded by their own timeouts, at most ~10 s).
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    let wrk_out = match tokio::time::timeout(Duration::from_secs(30), wrk).await {
        Ok(Ok(Ok(o))) => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => String::new(),
    };
    // Idle again: everything the abusers opened must be gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = sample(start.elapsed().as_secs_f64()).await;
    let exit = server.stop(Duration::from_secs(15));
    report(&args, &samples, &idle, &c, &wrk_out, &server, exit)
}

fn report(
    args: &Args,
    samples: &[Sample],
    idle: &Sample,
    c: &Counts,
    wrk_out: &str,
    server: &Server,
    exit: Option<i32>,
) -> i32 {
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    // Warm-up: the first 30 s (or the first tenth of a short run).
    let warm = (args.duration.as_secs_f64() / 10.0).min(30.0);
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.t >= warm).collect();
    let rss_min = steady.iter().map(|s| s.rss_kib).min().unwrap_or(0);
    let rss_max = steady.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let fd_min = steady.iter().map(|s| s.fds).min().unwrap_or(0);
    let fd_max = steady.iter().map(|s| s.fds).max().unwrap_or(0);
    let wrk_line = wrk_out
        .lines()
        .find(|l| l.starts_with("WRK_SUMMARY"))
        .unwrap_or("WRK_SUMMARY missing");
    let wrk_field = |k: &str| -> u64 {
        wrk_line
            .split_whitespace()
            .find_map(|f| f.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let wrk_errors: u64 = ["connect", "read", "write", "status", "timeout"]
        .iter()
        .map(|k| wrk_field(k))
        .fold(0u64, u64::saturating_add);
    let invalid = server.invalid.load(Ordering::Relaxed);
    let log_lines = server.total.load(Ordering::Relaxed);

    let mut checks: Vec<(String, bool)> = vec![
        (
            format!(
                "RSS band after warm-up {} KiB (limit {RSS_BAND_KIB})",
                rss_max - rss_min
            ),
            rss_max - rss_min <= RSS_BAND_KIB,
        ),
        (format!("invalid log lines: {invalid}"), invalid == 0),
        (format!("wrk errors: {wrk_errors}"), wrk_errors == 0),
        (
            format!("tricklers not cut: {}", n(&c.trickle_not_cut)),
            n(&c.trickle_not_cut) == 0 && n(&c.trickle_cut) > 0,
        ),
        (
            format!("silent connections not cut: {}", n(&c.silent_not_cut)),
            n(&c.silent_not_cut) == 0 && n(&c.silent_cut) > 0,
        ),
        (
            format!(
                "hostile requests with a wrong answer: {}",
                n(&c.hostile_bad)
            ),
            n(&c.hostile_bad) == 0 && n(&c.hostile_ok) > 0,
        ),
        (
            format!("h2 requests failing after a reset burst: {}", n(&c.h2_bad)),
            n(&c.h2_bad) == 0 && n(&c.h2_ok) > 0,
        ),
        (
            format!(
                "idle at the end: connections_open={} (only the scrape) in_flight={}",
                idle.conns, idle.in_flight
            ),
            idle.conns <= 1.0 && idle.in_flight <= 1.0,
        ),
        (
            format!("exit code after SIGTERM: {exit:?}"),
            exit == Some(0),
        ),
    ];
    let ok = checks.iter().all(|(_, ok)| *ok);

    let mut csv = String::from("t_s,rss_kib,fds,connections_open,in_flight\n");
    for s in samples.iter().chain(std::iter::once(idle)) {
        let _ = writeln!(
            csv,
            "{:.1},{},{},{},{}",
            s.t, s.rss_kib, s.fds, s.conns, s.in_flight
        );
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Soak: {} s of mixed load\n\nRun with `cargo bench --bench soak -- --duration {}` \
         (release build, WORKERS=2, HEADER_READ_TIMEOUT_SECONDS=2, FIRST_BYTE_TIMEOUT_SECONDS=1, \
         access log on) on the shared 2-core machine.\n",
        args.duration.as_secs(),
        args.duration.as_secs()
    );
    let _ = writeln!(md, "Commit: `{}`.\n", args.commit);
    let _ = writeln!(md, "| measure | value |\n|---|---|");
    let first = samples.first().map_or(0, |s| s.rss_kib);
    let rows = [
        ("RSS at start", format!("{first} KiB")),
        (
            "RSS after warm-up (min–max)",
            format!("{rss_min}–{rss_max} KiB (band {} KiB)", rss_max - rss_min),
        ),
        ("RSS idle at the end", format!("{} KiB", idle.rss_kib)),
        (
            "open fds after warm-up (min–max)",
            format!("{fd_min}–{fd_max}"),
        ),
        ("open fds idle at the end", idle.fds.to_string()),
        (
            "wrk",
            wrk_line.trim_start_matches("WRK_SUMMARY ").to_owned(),
        ),
        (
            "tricklers cut / not cut",
            format!("{} / {}", n(&c.trickle_cut), n(&c.trickle_not_cut)),
        ),
        (
            "silent connections cut / not cut",
            format!("{} / {}", n(&c.silent_cut), n(&c.silent_not_cut)),
        ),
        (
            "hostile requests answered as expected / not",
            format!("{} / {}", n(&c.hostile_ok), n(&c.hostile_bad)),
        ),
        (
            "h2 rapid resets sent (connections used)",
            format!("{} ({})", n(&c.h2_resets), n(&c.h2_connections)),
        ),
        (
            "h2 requests after bursts ok / failed",
            format!("{} / {}", n(&c.h2_ok), n(&c.h2_bad)),
        ),
        (
            "log lines (all valid JSON?)",
            format!("{log_lines} ({})", invalid == 0),
        ),
        ("exit code after SIGTERM", format!("{exit:?}")),
    ];
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(md, "\nChecks:\n");
    for (what, pass) in checks.iter_mut() {
        let _ = writeln!(md, "- {} {what}", if *pass { "PASS" } else { "FAIL" });
    }
    let _ = writeln!(
        md,
        "\nRSS over time (KiB), every {} s:\n",
        SAMPLE_EVERY.as_secs()
    );
    let _ = writeln!(md, "```");
    for s in samples {
        let _ = writeln!(
            md,
            "{:>6.0}s {:>8} fds={:<4} conns={}",
            s.t, s.rss_kib, s.fds, s.conns
        );
    }
    let _ = writeln!(md, "```");
    print!("{md}");
    if std::fs::create_dir_all(&args.out).is_ok() {
        let _ = std::fs::write(args.out.join("soak.csv"), csv);
        let _ = std::fs::write(args.out.join("soak.md"), &md);
        println!("soak: wrote {}/soak.{{csv,md}}", args.out.display());
    }
    if ok {
        0
    } else {
        1
    }
}
