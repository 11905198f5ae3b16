//! The machine the bench runs on: its facts for the results, and waiting for it to be quiet.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::procs;

/// Below this 1-minute load average the machine counts as quiet: the two pinned CPUs are
/// then nearly ours (a load of 1 already means one of them is taken).
pub(crate) const QUIET_LOAD: f64 = 0.7;

/// Waits (at most `bound` seconds) until the 1-minute load is below [`QUIET_LOAD`]; returns
/// how long it waited.
pub(crate) fn wait_for_calm(bound: u64) -> Duration {
    let start = Instant::now();
    while procs::load1() >= QUIET_LOAD && start.elapsed() < Duration::from_secs(bound) {
        eprintln!(
            "speed: load average {:.2} >= {QUIET_LOAD}; waiting (at most {bound} s in all)",
            procs::load1()
        );
        std::thread::sleep(Duration::from_secs(5));
    }
    start.elapsed()
}

pub(crate) struct Machine {
    pub(crate) nproc: usize,
    pub(crate) cpu_model: String,
    pub(crate) kernel: String,
    pub(crate) load_start: f64,
    pub(crate) load_after_wait: f64,
    pub(crate) waited: Duration,
    pub(crate) rustc: String,
    pub(crate) commit: String,
    /// When the measurement began (UTC, RFC 3339).
    pub(crate) date: String,
    pub(crate) summary: String,
}

pub(crate) fn facts(load_start: f64, waited: Duration) -> Machine {
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
    let git = |args: &[&str]| {
        quiet(
            Command::new("git")
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR")),
        )
    };
    let mut commit = git(&["rev-parse", "--short", "HEAD"]);
    // Results are committed after the run: the tree is clean except for benches/results.
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .lines()
        .any(|l| !l.contains("benches/results/"));
    if dirty {
        commit.push_str(" + uncommitted changes");
    }
    let mut date = String::new();
    hello_world::log::push_timestamp(&mut date, std::time::SystemTime::now());
    date.truncate(19);
    date.push('Z');
    let load_after_wait = procs::load1();
    let summary = format!(
        "machine: {nproc} CPUs, {cpu_model}, Linux {kernel}; load average {load_start:.2} at start, \
         {load_after_wait:.2} after waiting {:.0} s; {rustc}; commit {commit}; {date}",
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
        date,
        summary,
    }
}
