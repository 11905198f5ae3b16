//! What the operating system knows about this process, read at scrape time: process metrics
//! from `/proc/self` ([`process`]) and container metrics from the process's cgroup, v2 or v1
//! ([`cgroup`]). The values are keyed by [`Metric`]; their names, types and help are rows of
//! the metrics descriptor table (`process_start_time_seconds` is there too, from the start
//! instant the metrics keep). A value that cannot be read is left out of the scrape rather
//! than reported as zero.

pub mod cgroup;
pub mod process;

/// One value this module can read.
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
    let mut out = Vec::with_capacity(13);
    process::collect(&mut out);
    cgroup::collect(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value is reported at most once per scrape; the process ones always are.
    #[test]
    fn collect_reports_each_metric_once() {
        let samples = collect();
        for s in &samples {
            let same = samples.iter().filter(|x| x.metric == s.metric).count();
            assert_eq!(same, 1, "{:?}", s.metric);
        }
        assert!(samples.iter().any(|s| s.metric == Metric::ProcessThreads));
    }
}
