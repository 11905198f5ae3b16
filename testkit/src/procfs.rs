//! Process accounting from `/proc`: CPU time, memory, descriptors, and "has the child run yet".

use std::thread;
use std::time::{Duration, Instant};

/// utime + stime of `pid`, in clock ticks (`/proc/<pid>/stat` fields 14 and 15). Panics if the
/// process is gone: a bound measured on a dead process would pass for the wrong reason.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Resident set size in KiB (0 once the process is gone).
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors (0 once the process is gone).
pub fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Waits until `after` has passed since exec *in the child's own time*: at least `after` of
/// wall-clock time since `exec_at`, and either `after / 5` of CPU time since this call began
/// or the child asleep (it finished its start-up work). On an idle machine that is just
/// `after`; on a loaded shared one the child may not have been scheduled at all 5 ms after
/// exec, and a signal then tests the scheduler, not the binary. Bounded by 2 s. Returns the
/// child's CPU time in that window (from /proc/PID/schedstat).
pub fn wait_run_time(pid: u32, exec_at: Instant, after: Duration) -> Duration {
    let cpu = || {
        let sched = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap_or_default();
        Duration::from_nanos(
            sched
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        )
    };
    let base = cpu();
    loop {
        let ran = cpu().saturating_sub(base);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|r| r.chars().next());
        let wall = exec_at.elapsed();
        if (wall >= after && (ran >= after / 5 || state == Some('S')))
            || wall > Duration::from_secs(2)
        {
            return ran;
        }
        thread::sleep(Duration::from_micros(100));
    }
}
