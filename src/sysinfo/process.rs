//! Process metrics from `/proc/self`, the set Prometheus client libraries export: CPU time,
//! resident and virtual memory, threads, open and maximum file descriptors.
//!
//! Each file is parsed by a pure function (unit-tested on real samples of the kernel's
//! format); [`collect`] reads the files at scrape time and adds what it could read.
//!
//! Tick and page sizes: `/proc/self/stat` counts CPU time in USER_HZ ticks, which the kernel
//! fixes at 100 for user space on every architecture this image is built for (x86-64, arm64);
//! reading `sysconf(_SC_CLK_TCK)` would need libc. Memory comes from `/proc/self/status`,
//! which states kB, so no page size is needed.

use super::{Metric, Sample};

/// USER_HZ: the unit of `utime`, `stime` and `starttime` in `/proc/<pid>/stat`.
const USER_HZ: f64 = 100.0;

/// The fields of `/proc/self/stat` we use, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub utime: u64,
    pub stime: u64,
    /// Since boot (parsed for completeness of the record; unused by the metrics).
    pub starttime: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and `)`, so the fields are counted from the *last* `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // `rest` starts at field 3 (state): field N is at index N - 3.
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
    })
}

/// `VmRSS`, `VmSize` (bytes) and `Threads` from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    pub rss_bytes: Option<u64>,
    pub vm_bytes: Option<u64>,
    pub threads: Option<u64>,
}

pub fn parse_status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let mut words = value.split_ascii_whitespace();
        let number = words.next().and_then(|n| n.parse::<u64>().ok());
        // Memory lines are in kB (the kernel's word for KiB).
        let kib = || {
            number
                .filter(|_| words.clone().next() == Some("kB"))
                .map(|n| n * 1024)
        };
        match key {
            "VmRSS" => s.rss_bytes = kib(),
            "VmSize" => s.vm_bytes = kib(),
            "Threads" => s.threads = number,
            _ => {}
        }
    }
    s
}

/// The soft limit on open files from `/proc/<pid>/limits` (`None` when unlimited).
pub fn parse_max_fds(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..]
        .split_ascii_whitespace()
        .next()?;
    soft.parse().ok()
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Open descriptors: the entries of `/proc/self/fd`, less the one `read_dir` holds on it.
fn open_fds() -> Option<u64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(n.saturating_sub(1))
}

/// Reads `/proc/self` and appends what it could read.
pub fn collect(out: &mut Vec<Sample>) {
    if let Some(stat) = read("/proc/self/stat").as_deref().and_then(parse_stat) {
        let cpu = (stat.utime + stat.stime) as f64 / USER_HZ;
        out.push(Sample::new(Metric::ProcessCpuSeconds, cpu));
    }
    let status = read("/proc/self/status")
        .as_deref()
        .map(parse_status)
        .unwrap_or_default();
    let mut push = |m, v: Option<u64>| {
        if let Some(v) = v {
            out.push(Sample::new(m, v as f64));
        }
    };
    push(Metric::ProcessResidentMemory, status.rss_bytes);
    push(Metric::ProcessVirtualMemory, status.vm_bytes);
    push(Metric::ProcessThreads, status.threads);
    push(Metric::ProcessOpenFds, open_fds());
    push(
        Metric::ProcessMaxFds,
        read("/proc/self/limits").as_deref().and_then(parse_max_fds),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line, with a command name that contains both a space and `)`.
    #[test]
    fn stat_fields_count_from_the_last_paren() {
        let line = "4242 (hello) world) S 1 4242 4242 0 -1 4194560 1520 0 0 0 37 12 0 0 20 0 \
                    9 0 61746 1063583744 2380 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 \
                    1 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                utime: 37,
                stime: 12,
                starttime: 61746
            })
        );
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("no parens"), None);
    }

    #[test]
    fn status_memory_is_in_kib() {
        let text = "Name:\thello-world\nVmPeak:\t 1040000 kB\nVmSize:\t 1038656 kB\n\
                    VmRSS:\t    9520 kB\nThreads:\t9\nSigQ:\t0/95537\n";
        let s = parse_status(text);
        assert_eq!(s.vm_bytes, Some(1_038_656 * 1024));
        assert_eq!(s.rss_bytes, Some(9520 * 1024));
        assert_eq!(s.threads, Some(9));
        // A kernel thread has no Vm* lines: absent, not zero.
        assert_eq!(
            parse_status("Name:\tkthreadd\nThreads:\t1\n").rss_bytes,
            None
        );
    }

    #[test]
    fn limits_soft_value() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             95537                95537                processes \n\
                    Max open files            1048576              1048576              files     \n";
        assert_eq!(parse_max_fds(text), Some(1_048_576));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_fds(unlimited), None);
    }

    /// On Linux every process metric is readable for the process itself.
    #[test]
    fn collect_reads_this_process() {
        let mut out = Vec::new();
        collect(&mut out);
        let names: Vec<_> = out.iter().map(|s| s.metric).collect();
        for m in [
            Metric::ProcessCpuSeconds,
            Metric::ProcessResidentMemory,
            Metric::ProcessVirtualMemory,
            Metric::ProcessThreads,
            Metric::ProcessOpenFds,
        ] {
            assert!(names.contains(&m), "{m:?} missing from {names:?}");
        }
        let rss = out
            .iter()
            .find(|s| s.metric == Metric::ProcessResidentMemory);
        assert!(
            rss.unwrap().value > 1_000_000.0,
            "a test binary has over 1 MB resident"
        );
    }
}
