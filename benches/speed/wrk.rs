//! Running wrk (pinned to its own CPU) and reading its `--latency` report.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::procs;

pub const WRK: &str = "wrk";

/// What one wrk run reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    /// Completed responses.
    pub requests: u64,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub non_2xx: u64,
    pub socket_errors: u64,
}

/// `taskset -c <cpu> wrk -t1 -c<conns> -d<secs>s --latency http://<addr><path>`, bounded.
pub fn run(cpu: &str, conns: u32, secs: u64, addr: SocketAddr, path: &str) -> Report {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpu, WRK, "-t1"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg(format!("http://{addr}{path}"));
    let out = procs::output_bounded(&mut cmd, Duration::from_secs(secs + 20))
        .unwrap_or_else(|e| panic!("wrk failed: {e}"));
    parse(&out).unwrap_or_else(|| panic!("cannot read wrk's report:\n{out}"))
}

/// Parses wrk's text report.
pub fn parse(out: &str) -> Option<Report> {
    let mut r = Report::default();
    let mut seen = (false, false, false);
    for line in out.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("50%") => r.p50_us = micros(words.next()?)?,
            Some("99%") => {
                r.p99_us = micros(words.next()?)?;
                seen.0 = true;
            }
            Some("Requests/sec:") => {
                r.rps = words.next()?.parse().ok()?;
                seen.1 = true;
            }
            Some("Non-2xx") => r.non_2xx = line.rsplit(' ').next()?.parse().ok()?,
            Some("Socket") => {
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                r.socket_errors = line
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum();
            }
            Some(n) if line.contains(" requests in ") => {
                r.requests = n.parse().ok()?;
                seen.2 = true;
            }
            _ => {}
        }
    }
    (seen == (true, true, true)).then_some(r)
}

/// `612.00us`, `1.20ms`, `2.00s` → microseconds.
fn micros(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        "m" => n * 60e6,
        _ => return None,
    })
}

/// A self-check of the parser on a real report, run at the start of every bench.
pub fn self_check() {
    let sample = "Running 10s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n\
        \x20 Thread Stats   Avg      Stdev     Max   +/- Stdev\n\
        \x20   Latency   612.00us  100.00us   5.00ms   90.00%\n\
        \x20 Latency Distribution\n     50%  590.00us\n     75%  650.00us\n     90%  700.00us\n\
        \x20    99%    1.20ms\n  1000123 requests in 10.00s, 150.00MB read\n\
        \x20 Non-2xx or 3xx responses: 3\nRequests/sec: 100012.30\nTransfer/sec:     15.00MB\n";
    let r = parse(sample).expect("sample parses");
    assert_eq!(r.requests, 1_000_123);
    assert!((r.rps - 100_012.3).abs() < 1e-6);
    assert!((r.p50_us - 590.0).abs() < 1e-9 && (r.p99_us - 1200.0).abs() < 1e-9);
    assert_eq!(r.non_2xx, 3);
}
