//! Instructions per request under callgrind: deterministic where wrk's numbers are noisy.
//!
//! Each server runs under `valgrind --tool=callgrind` with one worker (`WORKERS=1`) and answers
//! `GET /` over [`CONNECTIONS`] keep-alive connections: a request on each, then every answer,
//! round after round. Start-up, warm-up and shutdown cost the same whatever the request count,
//! so each server runs twice, with [`FEW`] and [`MANY`] requests, and the difference of the two
//! totals divided by `MANY - FEW` is the cost of one request (all threads counted, the log
//! writer included).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::procs;

pub const FEW: u64 = 2_000;
pub const MANY: u64 = 12_000;
const CONNECTIONS: usize = 16;

/// Whether valgrind is there to ask.
pub fn available() -> bool {
    procs::output_bounded(
        std::process::Command::new("valgrind").arg("--version"),
        Duration::from_secs(10),
    )
    .is_ok()
}

/// Instructions per `GET /` of `bin` with `env` (plus `WORKERS=1`).
pub fn per_request(bin: &Path, env: &[(&str, &str)], work: &Path, key: &str) -> f64 {
    let total = |n: u64| {
        let out = work.join(format!("callgrind.{key}.{n}.out"));
        let log = work.join(format!("callgrind.{key}.log"));
        let _ = std::fs::remove_file(&out);
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.push(("WORKERS", "1"));
        let tool = format!("--callgrind-out-file={}", out.display());
        let server = procs::start_under(
            &["valgrind", "--tool=callgrind", &tool],
            bin,
            &env,
            &log,
            Duration::from_secs(60),
        );
        drive(server.addr, n);
        // ours drains and exits; the baselines die of the SIGTERM — callgrind writes either way.
        server.stop(Duration::from_secs(60));
        let text = std::fs::read_to_string(&out)
            .unwrap_or_else(|e| panic!("{}: no callgrind output: {e}", out.display()));
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(&log);
        text.lines()
            .find_map(|l| {
                l.strip_prefix("totals:")
                    .or_else(|| l.strip_prefix("summary:"))
            })
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no totals in the callgrind output of {key}"))
    };
    let few = total(FEW);
    let many = total(MANY);
    (many as f64 - few as f64) / (MANY - FEW) as f64
}

/// `n` requests (rounded up to whole rounds) over [`CONNECTIONS`] connections.
fn drive(addr: std::net::SocketAddr, n: u64) {
    let mut conns: Vec<(TcpStream, BufReader<TcpStream>)> = (0..CONNECTIONS)
        .map(|_| {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(30)).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            s.set_nodelay(true).unwrap();
            let r = BufReader::new(s.try_clone().unwrap());
            (s, r)
        })
        .collect();
    let request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    let rounds = n.div_ceil(CONNECTIONS as u64);
    let mut line = String::new();
    for _ in 0..rounds {
        for (s, _) in &mut conns {
            s.write_all(request).expect("sending a request");
        }
        for (_, r) in &mut conns {
            line.clear();
            r.read_line(&mut line).expect("status line");
            assert!(line.starts_with("HTTP/1.1 200"), "{line:?}");
            let mut len = 0;
            loop {
                line.clear();
                r.read_line(&mut line).expect("a header");
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().expect("content-length");
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).expect("the body");
        }
    }
}
