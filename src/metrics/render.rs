//! The metric descriptors and the renderer. Every metric is one row of [`DESCRIPTORS`] —
//! name, type, help and the function that writes its samples — and [`Metrics::render`] walks
//! the table, so a metric cannot be declared without being exported.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::{Metrics, BUCKETS};
use crate::lab::Report;
use crate::lifecycle::Phase;
use crate::sysinfo::{Metric as Sys, Sample};

/// Values the metrics module reads from elsewhere at scrape time.
pub(crate) struct Snapshot {
    pub phase: Phase,
    pub ready: bool,
    pub log_dropped: u64,
    /// `/proc/self` and the cgroup, read for this scrape (what could not be read is absent).
    pub system: Vec<Sample>,
    pub lab: Report,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported metric: its `# HELP`/`# TYPE` lines and a writer for its samples.
struct Desc {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    samples: fn(&Metrics, &Snapshot, &str, &mut String),
}

/// Every exported metric, in exposition order.
#[rustfmt::skip]
const DESCRIPTORS: &[Desc] = &[
    Desc { name: "http_requests_total", kind: Kind::Counter,
        help: "HTTP requests answered, by method, route template and status.",
        samples: requests },
    Desc { name: "http_request_duration_seconds", kind: Kind::Histogram,
        help: "Time from request head to response head, by route template.",
        samples: durations },
    Desc { name: "http_requests_in_flight", kind: Kind::Gauge,
        help: "Requests being handled now.",
        samples: |m, _, n, o| plain(o, n, m.in_flight.load(Ordering::Relaxed)) },
    Desc { name: "http_connections_open", kind: Kind::Gauge,
        help: "Client connections open now.",
        samples: |m, _, n, o| plain(o, n, m.connections_open.load(Ordering::Relaxed)) },
    Desc { name: "http_connections_total", kind: Kind::Counter,
        help: "Client connections accepted since start.",
        samples: |m, _, n, o| plain(o, n, m.connections_total.load(Ordering::Relaxed)) },
    Desc { name: "http_connections_rejected_total", kind: Kind::Counter,
        help: "Connections closed at accept because MAX_CONNECTIONS were open.",
        samples: |m, _, n, o| plain(o, n, m.connections_rejected.load(Ordering::Relaxed)) },
    Desc { name: "http_handler_panics_total", kind: Kind::Counter,
        help: "Request handler panics answered with 500.",
        samples: |m, _, n, o| plain(o, n, m.panics.load(Ordering::Relaxed)) },
    Desc { name: "app_ready", kind: Kind::Gauge,
        help: "1 when /health/ready answers 200.",
        samples: |_, s, n, o| plain(o, n, u8::from(s.ready)) },
    Desc { name: "app_shutting_down", kind: Kind::Gauge,
        help: "1 once the drain has begun.",
        samples: |_, s, n, o| plain(o, n, u8::from(s.phase >= Phase::Draining)) },
    Desc { name: "app_drain_phase", kind: Kind::Gauge,
        help: "1 for the current lifecycle phase: starting, ready, draining (announce), closing, exited.",
        samples: phases },
    Desc { name: "app_drain_requests_total", kind: Kind::Counter,
        help: "Requests answered after the drain began.",
        samples: |m, _, n, o| plain(o, n, m.drain_requests.load(Ordering::Relaxed)) },
    Desc { name: "app_drain_forced_connections_total", kind: Kind::Counter,
        help: "Connections cut at the drain deadline.",
        samples: |m, _, n, o| plain(o, n, m.drain_forced.load(Ordering::Relaxed)) },
    Desc { name: "app_drain_duration_seconds", kind: Kind::Gauge,
        help: "Seconds from the shutdown signal to the end of the drain; 0 until it ends.",
        samples: |m, _, n, o| {
            plain(o, n, m.drain_duration_micros.load(Ordering::Relaxed) as f64 / 1e6)
        } },
    Desc { name: "log_lines_dropped_total", kind: Kind::Counter,
        help: "Log lines dropped because stdout could not keep up.",
        samples: |_, s, n, o| plain(o, n, s.log_dropped) },
    Desc { name: "app_build_info", kind: Kind::Gauge,
        help: "Constant 1, labelled with the application and crate versions.",
        samples: |m, _, n, o| {
            let _ = writeln!(o, "{n}{{version=\"{}\",crate_version=\"{}\"}} 1",
                m.version_label, env!("CARGO_PKG_VERSION"));
        } },
    Desc { name: "process_start_time_seconds", kind: Kind::Gauge,
        help: "Start time of the process since the Unix epoch, in seconds.",
        samples: |m, _, n, o| { let _ = writeln!(o, "{n} {:.3}", m.start_time); } },
    // What the OS says, read at scrape time (`sysinfo`); a value it could not read has no sample.
    Desc { name: "process_cpu_seconds_total", kind: Kind::Counter,
        help: "User and system CPU time spent, in seconds (/proc/self/stat utime+stime).",
        samples: |_, s, n, o| system(s, Sys::ProcessCpuSeconds, n, o) },
    Desc { name: "process_resident_memory_bytes", kind: Kind::Gauge,
        help: "Resident memory size in bytes (/proc/self/status VmRSS).",
        samples: |_, s, n, o| system(s, Sys::ProcessResidentMemory, n, o) },
    Desc { name: "process_virtual_memory_bytes", kind: Kind::Gauge,
        help: "Virtual memory size in bytes (/proc/self/status VmSize).",
        samples: |_, s, n, o| system(s, Sys::ProcessVirtualMemory, n, o) },
    Desc { name: "process_open_fds", kind: Kind::Gauge,
        help: "Open file descriptors (entries of /proc/self/fd).",
        samples: |_, s, n, o| system(s, Sys::ProcessOpenFds, n, o) },
    Desc { name: "process_max_fds", kind: Kind::Gauge,
        help: "Soft limit on open file descriptors (/proc/self/limits).",
        samples: |_, s, n, o| system(s, Sys::ProcessMaxFds, n, o) },
    Desc { name: "process_threads", kind: Kind::Gauge,
        help: "OS threads of the process (/proc/self/status Threads).",
        samples: |_, s, n, o| system(s, Sys::ProcessThreads, n, o) },
    Desc { name: "container_cpu_throttled_seconds_total", kind: Kind::Counter,
        help: "Time the cgroup's CPU quota held its tasks back, in seconds (cgroup cpu.stat throttled_usec, v1 throttled_time).",
        samples: |_, s, n, o| system(s, Sys::ContainerCpuThrottledSeconds, n, o) },
    Desc { name: "container_cpu_throttled_periods_total", kind: Kind::Counter,
        help: "CFS periods in which the cgroup hit its CPU quota (cgroup cpu.stat nr_throttled).",
        samples: |_, s, n, o| system(s, Sys::ContainerCpuThrottledPeriods, n, o) },
    Desc { name: "container_cpu_periods_total", kind: Kind::Counter,
        help: "CFS periods in which the cgroup was runnable (cgroup cpu.stat nr_periods).",
        samples: |_, s, n, o| system(s, Sys::ContainerCpuPeriods, n, o) },
    Desc { name: "container_cpu_limit_cores", kind: Kind::Gauge,
        help: "CPU limit in cores: quota / period (cgroup cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us); absent when unlimited.",
        samples: |_, s, n, o| system(s, Sys::ContainerCpuLimitCores, n, o) },
    Desc { name: "container_memory_usage_bytes", kind: Kind::Gauge,
        help: "Memory charged to the cgroup, page cache included, in bytes (cgroup memory.current, v1 memory.usage_in_bytes).",
        samples: |_, s, n, o| system(s, Sys::ContainerMemoryUsage, n, o) },
    Desc { name: "container_memory_limit_bytes", kind: Kind::Gauge,
        help: "Memory limit of the cgroup in bytes (cgroup memory.max, v1 memory.limit_in_bytes); absent when unlimited.",
        samples: |_, s, n, o| system(s, Sys::ContainerMemoryLimit, n, o) },
    Desc { name: "container_oom_events_total", kind: Kind::Counter,
        help: "Processes of the cgroup killed by the OOM killer (cgroup memory.events oom_kill, v1 memory.oom_control oom_kill).",
        samples: |_, s, n, o| system(s, Sys::ContainerOomEvents, n, o) },
    // The Part 3 experiments (`lab`).
    Desc { name: "app_faults_injected_total", kind: Kind::Counter,
        help: "Application requests given an injected fault (POST /admin/fault, FAULT_ERROR_RATE, FAULT_DELAY_SECONDS), by kind.",
        samples: |_, s, n, o| {
            for (kind, v) in s.lab.injected {
                let _ = writeln!(o, "{n}{{kind=\"{kind}\"}} {v}");
            }
        } },
    Desc { name: "app_live", kind: Kind::Gauge,
        help: "1 while /health/live answers 200 (POST /admin/toggle-live flips it).",
        samples: |_, s, n, o| plain(o, n, u8::from(s.lab.live)) },
    Desc { name: "app_fault_mode_error", kind: Kind::Gauge,
        help: "1 while POST /admin/fault?mode=error makes the application routes answer 500.",
        samples: |_, s, n, o| plain(o, n, u8::from(s.lab.fault_error)) },
    Desc { name: "app_stress_cpu_threads", kind: Kind::Gauge,
        help: "Threads of POST /admin/stress/cpu still spinning.",
        samples: |_, s, n, o| plain(o, n, s.lab.cpu_threads) },
    Desc { name: "app_stress_memory_bytes", kind: Kind::Gauge,
        help: "Memory held by POST /admin/stress/memory, in bytes.",
        samples: |_, s, n, o| plain(o, n, s.lab.memory_bytes) },
];

/// The sample of `metric`, if this scrape could read it.
fn system(s: &Snapshot, metric: Sys, name: &str, o: &mut String) {
    if let Some(x) = s.system.iter().find(|x| x.metric == metric) {
        plain(o, name, x.value);
    }
}

impl Metrics {
    /// Renders the exposition text. `snap` carries the values owned by other modules.
    pub(crate) fn render(&self, snap: &Snapshot) -> String {
        let mut o = String::with_capacity(8 * 1024);
        for d in DESCRIPTORS {
            let kind = match d.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(o, "# HELP {} {}\n# TYPE {} {kind}", d.name, d.help, d.name);
            (d.samples)(self, snap, d.name, &mut o);
        }
        o
    }
}

fn plain(o: &mut String, name: &str, v: impl std::fmt::Display) {
    let _ = writeln!(o, "{name} {v}");
}

fn requests(m: &Metrics, _: &Snapshot, name: &str, o: &mut String) {
    let l = &m.labels;
    for (r, route) in l.routes.iter().enumerate() {
        for (k, method) in l.methods.iter().enumerate() {
            for s in 0..=l.statuses.len() {
                let n = m.requests[m.cell(r, k, s)].load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let _ = match l.statuses.get(s) {
                    Some(code) => writeln!(
                        o,
                        "{name}{{method=\"{method}\",route=\"{route}\",status=\"{code}\"}} {n}"
                    ),
                    None => writeln!(
                        o,
                        "{name}{{method=\"{method}\",route=\"{route}\",status=\"other\"}} {n}"
                    ),
                };
            }
        }
    }
}

fn durations(m: &Metrics, _: &Snapshot, name: &str, o: &mut String) {
    for (route, h) in m.labels.routes.iter().zip(m.durations.iter()) {
        let mut cumulative = 0u64;
        for (i, (_, le)) in BUCKETS.iter().enumerate() {
            cumulative += h.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "{name}_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += h.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}"
        );
        let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(o, "{name}_sum{{route=\"{route}\"}} {sum}");
        let _ = writeln!(o, "{name}_count{{route=\"{route}\"}} {cumulative}");
    }
}

fn phases(_: &Metrics, s: &Snapshot, name: &str, o: &mut String) {
    for p in Phase::ALL {
        let _ = writeln!(
            o,
            "{name}{{phase=\"{}\"}} {}",
            p.as_str(),
            u8::from(p == s.phase)
        );
    }
}

/// Label values escape backslash, double quote and line feed (exposition format 0.0.4).
pub(super) fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::Labels;
    use super::*;
    use std::time::Duration;

    fn metrics(version: &str) -> Metrics {
        let labels = Labels {
            routes: vec!["/", "/slow", "/info", "unmatched"],
            methods: &["GET", "HEAD", "POST", "OTHER"],
            statuses: &[200, 404],
        };
        Metrics::new(version, labels)
    }

    fn snap() -> Snapshot {
        Snapshot {
            phase: Phase::Ready,
            ready: true,
            log_dropped: 3,
            system: Vec::new(),
            lab: crate::lab::Lab::new(Default::default()).report(),
        }
    }

    #[test]
    fn counts_requests_by_route_method_and_status() {
        let m = metrics("1.0.0");
        m.record(0, 0, 200, Duration::from_micros(300));
        m.record(0, 0, 200, Duration::from_millis(7));
        m.record(3, 2, 404, Duration::from_micros(10));
        m.record(1, 0, 299, Duration::from_secs(61));
        let t = m.render(&snap());
        assert!(
            t.contains("http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 2\n"),
            "{t}"
        );
        assert!(t.contains(
            "http_requests_total{method=\"POST\",route=\"unmatched\",status=\"404\"} 1\n"
        ));
        assert!(
            t.contains("http_requests_total{method=\"GET\",route=\"/slow\",status=\"other\"} 1\n")
        );
        // Cumulative buckets: 300 µs ≤ 1 ms; 7 ms ≤ 10 ms.
        assert!(t.contains("http_request_duration_seconds_bucket{route=\"/\",le=\"0.001\"} 1\n"));
        assert!(t.contains("http_request_duration_seconds_bucket{route=\"/\",le=\"0.005\"} 1\n"));
        assert!(t.contains("http_request_duration_seconds_bucket{route=\"/\",le=\"0.01\"} 2\n"));
        assert!(t.contains("http_request_duration_seconds_bucket{route=\"/\",le=\"+Inf\"} 2\n"));
        assert!(t.contains("http_request_duration_seconds_count{route=\"/\"} 2\n"));
        assert!(t.contains("http_request_duration_seconds_sum{route=\"/\"} 0.0073\n"));
        assert!(t.contains("http_request_duration_seconds_bucket{route=\"/slow\",le=\"60\"} 0\n"));
        assert!(t.contains("http_request_duration_seconds_bucket{route=\"/slow\",le=\"+Inf\"} 1\n"));
    }

    #[test]
    fn gauges_and_phase_render() {
        let m = metrics("2.0.0\"x");
        m.request_started();
        m.request_started();
        let t = m.render(&Snapshot {
            phase: Phase::Closing,
            ready: false,
            log_dropped: 0,
            system: vec![Sample::new(Sys::ProcessThreads, 9.0)],
            lab: crate::lab::Lab::new(Default::default()).report(),
        });
        assert!(t.contains("process_threads 9\n"));
        assert!(t.contains("app_faults_injected_total{kind=\"error\"} 0\n"));
        // A value the scrape could not read has no sample (its HELP/TYPE stay).
        assert!(t.contains("# TYPE container_memory_limit_bytes gauge\n"));
        assert!(!t.contains("\ncontainer_memory_limit_bytes "));
        assert!(t.contains("http_requests_in_flight 2\n"));
        assert!(t.contains("app_ready 0\n"));
        assert!(t.contains("app_shutting_down 1\n"));
        assert!(t.contains("app_drain_phase{phase=\"closing\"} 1\n"));
        assert!(t.contains("app_drain_phase{phase=\"ready\"} 0\n"));
        assert!(t.contains("app_drain_duration_seconds 0\n"));
        assert!(t.contains("app_build_info{version=\"2.0.0\\\"x\",crate_version=\""));
        assert!(t.contains("# TYPE http_request_duration_seconds histogram\n"));
    }

    /// Every descriptor is exported, once, with samples under its own name.
    #[test]
    fn every_descriptor_is_rendered_with_a_type_line_before_its_samples() {
        let m = metrics("1");
        m.record(2, 1, 200, Duration::ZERO);
        let t = m.render(&snap());
        let mut typed = Vec::new();
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|b| typed.iter().any(|t| t == b))
                    .unwrap_or(name);
                assert_eq!(typed.last().map(String::as_str), Some(base), "{line}");
            }
        }
        let names: Vec<_> = DESCRIPTORS.iter().map(|d| d.name.to_string()).collect();
        assert_eq!(typed, names);
    }
}
