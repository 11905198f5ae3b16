//! The at-once cross-check (part 1b): two servers on CPU 0 at the same time, each in a cpu
//! cgroup of its own with equal shares, each loaded by its own wrk on CPU 1.
//!
//! # Why
//! Part 1 runs the servers one after the other, a few seconds apart, and the VM's speed moves
//! in between: the same binary's req/s ranges over a third from round to round, so per-round
//! ratios scatter by 0.06-0.11 and a 16-round median is known to about ±0.05-0.10 (the 95%
//! interval the table prints). Two servers sharing one CPU see the same machine at the same moments. Their
//! requests per CPU-second, divided, cancel the machine's speed; the A/A pair (the floor
//! against itself) shows what scatter is left. The ratio is of CPU cost, which is what req/s
//! measures when a server has a CPU to itself and saturates it (part 1's servers run at
//! 93-99% of CPU 0).
//!
//! # What it costs the comparison
//! The kernel time-slices CPU 0 between the two (slices of a few milliseconds), so each server
//! finds its caches colder than when alone, which weighs a little more on the bigger program;
//! and latency means nothing here. So these rows are reported beside part 1's verdicts, not
//! in place of them.
//!
//! Needs root and cgroup v1's `cpu` controller (`/sys/fs/cgroup/cpu`), as on this bench's
//! machines; elsewhere the part is skipped and the table says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{procs, wrk, Bins, Kind, CONNECTIONS, SERVER_CPU, WRK_CPU};

const CPU_V1: &str = "/sys/fs/cgroup/cpu";

/// The compared pairs; the log-off gap split in two (our request path without a log line,
/// then what the `Hello World requested` line adds to it); and the A/A pair that measures the
/// method.
pub(crate) const PAIRS: [(Kind, Kind); 5] = [
    (Kind::Quiet, Kind::Bare),
    (Kind::Access, Kind::Floor),
    (Kind::Silent, Kind::Bare),
    (Kind::Quiet, Kind::Silent),
    (Kind::Floor, Kind::Floor),
];

/// One pair's rounds: per round, (kind's requests per CPU-second / base's, kind's share of
/// the CPU time the two used).
pub(crate) struct Pair {
    pub kind: Kind,
    pub base: Kind,
    pub rounds: Vec<(f64, f64)>,
}

/// Why the part cannot run here, if it cannot.
pub(crate) fn unavailable() -> Option<&'static str> {
    if !Path::new(CPU_V1).join("cpu.shares").exists() {
        return Some("needs cgroup v1's cpu controller at /sys/fs/cgroup/cpu");
    }
    let probe = Path::new(CPU_V1).join("hello-speed-probe");
    let made = std::fs::create_dir(&probe).is_ok();
    let _ = std::fs::remove_dir(&probe);
    (!made).then_some("needs root to create cgroups under /sys/fs/cgroup/cpu")
}

/// A cpu cgroup with the default 1024 shares; removed on drop (it is empty by then: its
/// server has been stopped).
struct Group(PathBuf);

impl Group {
    fn new(name: &str) -> Group {
        let dir = Path::new(CPU_V1).join(name);
        // Left over from an interrupted run: reuse it.
        let _ = std::fs::create_dir(&dir);
        std::fs::write(dir.join("cpu.shares"), "1024").expect("setting cpu.shares");
        Group(dir)
    }
    /// Moves the whole process (every thread: v1's `cgroup.procs`) into the group.
    fn join(&self, pid: u32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string())
            .expect("moving a server into its cgroup");
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// CPU time a process has had, in nanoseconds: the first field of every thread's
/// `schedstat` (tick-based utime+stime would be too coarse for a few seconds at half a CPU).
fn cpu_ns(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("reading /proc/<pid>/task");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Every pair, `rounds` rounds of `seconds` each (after a one-second warm-up at once).
pub(crate) fn run(bins: &Bins, work: &Path, rounds: usize, seconds: u64) -> Vec<Pair> {
    let groups = [Group::new("hello-speed-a"), Group::new("hello-speed-b")];
    PAIRS
        .iter()
        .map(|&(kind, base)| {
            // One log per side: the A/A pair is one kind twice.
            let logs = [("a", kind), ("b", base)]
                .map(|(side, k)| work.join(format!("at-once.{side}.{}.log", k.key())));
            let servers = [0, 1].map(|i| {
                let k = [kind, base][i];
                let (bin, env) = k.setup(bins);
                if k == Kind::Silent {
                    // It logs no `listening` line to learn the port from.
                    procs::start_on_free_port(bin, SERVER_CPU, env, &logs[i])
                } else {
                    procs::start(bin, Some(SERVER_CPU), env, &logs[i])
                }
            });
            for (g, s) in groups.iter().zip(&servers) {
                g.join(s.pid);
            }
            both(&servers, 1);
            let mut out = Vec::new();
            for round in 1..=rounds {
                let cpu0 = servers.each_ref().map(|s| cpu_ns(s.pid));
                let [a, b] = both(&servers, seconds);
                let [ca, cb] = [0, 1].map(|i| (cpu_ns(servers[i].pid) - cpu0[i]) as f64);
                let per_cpu = (a.requests as f64 / ca) / (b.requests as f64 / cb);
                let share = ca / (ca + cb);
                eprintln!(
                    "speed: at once, round {round}: {} {:.0} req/s, {} {:.0} req/s, \
                     per CPU-second {per_cpu:.3}x, CPU share {:.0}%",
                    kind.name(),
                    a.rps,
                    base.name(),
                    b.rps,
                    share * 100.0
                );
                out.push((per_cpu, share));
            }
            for s in servers {
                s.stop(Duration::from_secs(10));
            }
            // ~25 s of lines at ~40k requests/s: hundreds of MB that nothing reads.
            for log in &logs {
                let _ = std::fs::remove_file(log);
                let _ = std::fs::remove_file(log.with_extension("stderr"));
            }
            Pair {
                kind,
                base,
                rounds: out,
            }
        })
        .collect()
}

/// wrk against both servers at once, for `seconds`.
fn both(servers: &[procs::Server; 2], seconds: u64) -> [wrk::Report; 2] {
    let addrs = servers.each_ref().map(|s| s.addr);
    std::thread::scope(|scope| {
        let runs = addrs
            .map(|addr| scope.spawn(move || wrk::run(WRK_CPU, CONNECTIONS, seconds, addr, "/")));
        runs.map(|h| {
            let r = h.join().expect("a wrk thread panicked");
            assert!(
                r.non_2xx == 0 && r.requests > 0,
                "at once: {} non-2xx answers of {}",
                r.non_2xx,
                r.requests
            );
            r
        })
    })
}
