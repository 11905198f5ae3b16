//! What the operating system knows about this process, read at scrape time: process metrics
//! from `/proc/self` ([`process`]) and container metrics from the process's cgroup, v2 or v1
//! ([`cgroup`]). `process_start_time_seconds` is not here: the metrics module exports it
//! from the start instant it already keeps. Every metric is a row of [`Metric::ALL`] with its name, type and help; a
//! value that cannot be read is left out of the scrape rather than reported as zero.

pub mod cgroup;
pub mod process;

use std::fmt::Write as _;

/// One metric this module can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    ProcessCpuSeconds,
    ProcessResidentMemory,
    ProcessVirtualMemory,
    ProcessOpenFds,
    ProcessMaxFds,
    ProcessThreads,
    ContainerCpuThrottledSeconds,
    ContainerCpuThrottledPeriods,
    ContainerCpuPeriods,
    ContainerCpuLimitCores,
    ContainerMemoryUsage,
    ContainerMemoryLimit,
    ContainerOomEvents,
}

/// Name, Prometheus type and help text of a [`Metric`].
pub struct Descriptor {
    pub name: &'static str,
    pub kind: &'static str,
    pub help: &'static str,
}

impl Metric {
    /// Rendering order: the order of this table.
    pub const ALL: [Metric; 13] = [
        Metric::ProcessCpuSeconds,
        Metric::ProcessResidentMemory,
        Metric::ProcessVirtualMemory,
        Metric::ProcessOpenFds,
        Metric::ProcessMaxFds,
        Metric::ProcessThreads,
        Metric::ContainerCpuThrottledSeconds,
        Metric::ContainerCpuThrottledPeriods,
        Metric::ContainerCpuPeriods,
        Metric::ContainerCpuLimitCores,
        Metric::ContainerMemoryUsage,
        Metric::ContainerMemoryLimit,
        Metric::ContainerOomEvents,
    ];

    pub fn descriptor(self) -> Descriptor {
        let (name, kind, help) = match self {
            Metric::ProcessCpuSeconds => ("process_cpu_seconds_total", "counter",
                "User and system CPU time spent, in seconds (/proc/self/stat utime+stime)."),
            Metric::ProcessResidentMemory => ("process_resident_memory_bytes", "gauge",
                "Resident memory size in bytes (/proc/self/status VmRSS)."),
            Metric::ProcessVirtualMemory => ("process_virtual_memory_bytes", "gauge",
                "Virtual memory size in bytes (/proc/self/status VmSize)."),
            Metric::ProcessOpenFds => ("process_open_fds", "gauge",
                "Open file descriptors (entries of /proc/self/fd)."),
            Metric::ProcessMaxFds => ("process_max_fds", "gauge",
                "Soft limit on open file descriptors (/proc/self/limits)."),
            Metric::ProcessThreads => ("process_threads", "gauge",
                "OS threads of the process (/proc/self/status Threads)."),
            Metric::ContainerCpuThrottledSeconds => ("container_cpu_throttled_seconds_total", "counter",
                "Time the cgroup's CPU quota held its tasks back, in seconds (cgroup cpu.stat throttled_usec, v1 throttled_time)."),
            Metric::ContainerCpuThrottledPeriods => ("container_cpu_throttled_periods_total", "counter",
                "CFS periods in which the cgroup hit its CPU quota (cgroup cpu.stat nr_throttled)."),
            Metric::ContainerCpuPeriods => ("container_cpu_periods_total", "counter",
                "CFS periods in which the cgroup was runnable (cgroup cpu.stat nr_periods)."),
            Metric::ContainerCpuLimitCores => ("container_cpu_limit_cores", "gauge",
                "CPU limit in cores: quota / period (cgroup cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us); absent when unlimited."),
            Metric::ContainerMemoryUsage => ("container_memory_usage_bytes", "gauge",
                "Memory charged to the cgroup, page cache included, in bytes (cgroup memory.current, v1 memory.usage_in_bytes)."),
            Metric::ContainerMemoryLimit => ("container_memory_limit_bytes", "gauge",
                "Memory limit of the cgroup in bytes (cgroup memory.max, v1 memory.limit_in_bytes); absent when unlimited."),
            Metric::ContainerOomEvents => ("container_oom_events_total", "counter",
                "Processes of the cgroup killed by the OOM killer (cgroup memory.events oom_kill, v1 memory.oom_control oom_kill)."),
        };
        Descriptor { name, kind, help }
    }
}

/// One value read at scrape time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub metric: Metric,
    pub value: f64,
}

impl Sample {
    pub fn new(metric: Metric, value: f64) -> Sample {
        Sample { metric, value }
    }
}

/// Everything readable now, process first.
pub fn collect() -> Vec<Sample> {
    let mut out = Vec::with_capacity(Metric::ALL.len());
    process::collect(&mut out);
    cgroup::collect(&mut out);
    out
}

/// Appends `samples` in the text exposition format, in [`Metric::ALL`] order; a metric
/// without a sample gets no HELP/TYPE lines either.
pub fn render(out: &mut String, samples: &[Sample]) {
    for m in Metric::ALL {
        let Some(s) = samples.iter().find(|s| s.metric == m) else {
            continue;
        };
        let d = m.descriptor();
        let _ = writeln!(out, "# HELP {} {}", d.name, d.help);
        let _ = writeln!(out, "# TYPE {} {}", d.name, d.kind);
        let _ = writeln!(out, "{} {}", d.name, s.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        for m in Metric::ALL {
            let d = m.descriptor();
            assert_eq!(
                d.kind == "counter",
                d.name.ends_with("_total"),
                "{}",
                d.name
            );
            assert!(d.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(
                d.help.ends_with('.') && !d.help.contains('\n'),
                "{}",
                d.name
            );
        }
    }

    #[test]
    fn render_skips_absent_metrics_and_keeps_table_order() {
        let mut out = String::new();
        render(
            &mut out,
            &[
                Sample::new(Metric::ContainerCpuLimitCores, 0.25),
                Sample::new(Metric::ProcessThreads, 9.0),
            ],
        );
        let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            ["process_threads 9", "container_cpu_limit_cores 0.25"]
        );
        assert!(out.contains("# TYPE container_cpu_limit_cores gauge\n"));
        assert!(!out.contains("process_open_fds"));
    }
}
