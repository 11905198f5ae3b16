//! Memory (VmRSS idle and after a million requests), start-up and the binary's size: parts 2-4.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{procs, wrk, CONNECTIONS, SERVER_CPU, WRK_CPU};

pub(crate) struct Rss {
    pub(crate) label: &'static str,
    pub(crate) key: &'static str,
    pub(crate) threads: u64,
    pub(crate) idle_kib: u64,
    pub(crate) after_kib: u64,
    pub(crate) peak_kib: u64,
    pub(crate) requests: u64,
}

/// (label, key, CPU to pin to, environment) of one memory measurement.
pub(crate) type Setup<'a> = (&'a str, &'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

pub(crate) fn rss(musl: &Path, work: &Path, requests: u64) -> Vec<Rss> {
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
pub(crate) fn startup(musl: &Path, work: &Path) -> Vec<f64> {
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
pub(crate) fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    l.local_addr().expect("local address")
}

/// Bytes of the musl binary after `strip` (the release profile strips already; this makes
/// sure the number is the stripped one whatever the profile says).
pub(crate) fn binary_size(musl: &Path, work: &Path) -> u64 {
    let copy = work.join("hello-world.musl.stripped");
    std::fs::copy(musl, &copy).expect("copying the musl binary");
    procs::output_bounded(Command::new("strip").arg(&copy), Duration::from_secs(30))
        .expect("strip");
    std::fs::metadata(&copy).expect("stat").len()
}
