//! `cargo bench --bench watch -- [--rate R] [--seconds S] [--rounds N] [--bin PATH] [--http2]`:
//! the overhead of `hello-world watch` itself (docs/watch.md, "Overhead").
//!
//! Runs the release server on a loopback port, then `hello-world watch --rate R --duration S
//! --output json` against it, N rounds. Per round it prints the CPU time the watcher used
//! (getrusage(RUSAGE_CHILDREN) around waiting for it: user + system, its threads included),
//! that as a share of one core, its peak RSS, and from its own summary the schedule lateness
//! p99 and maximum and the latency p50/p99 it measured. Machine, load average, commit are
//! printed so the numbers can be quoted with them.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let (mut rate, mut seconds, mut rounds, mut http2) = (1000.0f64, 10.0f64, 3usize, false);
    let mut bin = manifest.join("target/release/hello-world");
    while let Some(a) = args.next() {
        let mut val = || args.next().expect("flag needs a value");
        match a.as_str() {
            "--bench" => {}
            "--rate" => rate = val().parse().expect("--rate"),
            "--seconds" => seconds = val().parse().expect("--seconds"),
            "--rounds" => rounds = val().parse().expect("--rounds"),
            "--bin" => bin = PathBuf::from(val()),
            "--http2" => http2 = true,
            other => panic!("unknown argument {other:?}"),
        }
    }
    assert!(
        bin.exists(),
        "{} missing: cargo build --release first",
        bin.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(&bin)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("APP_VERSION", "1.0.0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the server");
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "watch overhead: {} | {} CPU(s) | load average before: {} | commit {} | binary {}",
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_owned())
            )
            .unwrap_or_default(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        loadavg(),
        git(&manifest, &["rev-parse", "--short", "HEAD"]),
        bin.display()
    );
    println!("| round | rate req/s | s | sent | failed | watch CPU s | share of one core | peak RSS MiB | lateness p99 ms | lateness max ms | latency p50 / p99 ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for round in 1..=rounds {
        let before = children_usage();
        let started = Instant::now();
        let mut cmd = Command::new(&bin);
        cmd.arg("watch")
            .arg(format!("http://127.0.0.1:{port}/"))
            .args([
                "--rate",
                &rate.to_string(),
                "--duration",
                &seconds.to_string(),
                "--output",
                "json",
            ]);
        if http2 {
            cmd.arg("--http2");
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn watch");
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let status = child.wait().unwrap();
        let wall = started.elapsed().as_secs_f64();
        let after = children_usage();
        let cpu = (after.0 - before.0) + (after.1 - before.1);
        let summary: serde_json::Value =
            serde_json::from_str(out.lines().last().unwrap_or("{}")).unwrap_or_default();
        let s = &summary["summary"];
        println!(
            "| {round} | {rate} | {seconds} | {} | {} | {cpu:.3} | {:.1} % | {:.1} | {} | {} | {} / {} |",
            s["sent"],
            s["failed"],
            cpu / wall * 100.0,
            after.2 as f64 / 1024.0,
            s["schedule_lateness_p99_ms"],
            s["schedule_lateness_max_ms"],
            s["p50_ms"],
            s["p99_ms"]
        );
        assert!(status.code().is_some(), "watch was killed");
    }
    println!("load average after: {}", loadavg());
    let _ = server.kill();
    let _ = server.wait();
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// (user s, system s, max RSS KiB) of the waited-for children so far.
fn children_usage() -> (f64, f64, i64) {
    // SAFETY: getrusage writes into the zeroed struct we pass and nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime), ru.ru_maxrss)
}
