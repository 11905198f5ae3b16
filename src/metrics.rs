//! Prometheus metrics: static descriptions plus atomics, rendered to the text exposition
//! format 0.0.4 by a pure function.
//!
//! Counters are `AtomicU64` updated with `Relaxed` ordering: each is an independent tally, no
//! other memory is published through them, and a scrape that sees one counter slightly ahead of
//! another is indistinguishable from a scrape a microsecond later. Counters are monotonic for the
//! life of the process (they would wrap after 2^64 events, which no pod lives to see).

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::routes::{Route, METHODS};
use crate::state::Phase;

/// Status codes the server can produce; anything else is counted under `other`.
pub const STATUSES: [u16; 13] = [
    200, 400, 401, 404, 405, 408, 409, 413, 422, 431, 500, 503, 0,
];

fn status_index(code: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == code)
        .unwrap_or(STATUSES.len() - 1)
}

/// Histogram upper bounds, in microseconds, with their `le` label spelling.
const BUCKETS: [(u64, &str); 14] = [
    (1_000, "0.001"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
    (30_000_000, "30"),
    (60_000_000, "60"),
];

/// One route's latency histogram. Buckets are stored non-cumulatively (one increment per
/// observation) and summed when rendered; the last slot is `+Inf`.
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let i = BUCKETS
            .iter()
            .position(|&(le, _)| us <= le)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(us, Ordering::Relaxed);
    }
}

/// All metrics of one server instance.
pub struct Metrics {
    /// `http_requests_total`, indexed `[route][method][status]`.
    requests: Box<[AtomicU64]>,
    durations: Box<[Histogram]>,
    pub in_flight: AtomicI64,
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    /// Connections closed at accept because `MAX_CONNECTIONS` were open.
    pub connections_rejected: AtomicU64,
    /// Requests answered after the drain began (announce or closing phase).
    pub drain_requests: AtomicU64,
    /// Connections aborted at the drain deadline.
    pub drain_forced: AtomicU64,
    /// Microseconds from the drain's start to its end (0 until it ends).
    pub drain_duration_micros: AtomicU64,
    /// Handler panics turned into 500 answers.
    pub panics: AtomicU64,
    version_label: String,
    start_time: f64,
}

const MSTRIDE: usize = STATUSES.len();
const RSTRIDE: usize = METHODS.len() * MSTRIDE;

impl Metrics {
    pub fn new(version: &str) -> Metrics {
        let start_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        Metrics {
            requests: (0..Route::COUNT * RSTRIDE)
                .map(|_| AtomicU64::new(0))
                .collect(),
            durations: (0..Route::COUNT).map(|_| Histogram::new()).collect(),
            in_flight: AtomicI64::new(0),
            connections_open: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            drain_requests: AtomicU64::new(0),
            drain_forced: AtomicU64::new(0),
            drain_duration_micros: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            version_label: escape_label(version),
            start_time,
        }
    }

    /// Records one finished request.
    pub fn record(&self, route: Route, method: usize, status: u16, took: Duration) {
        let i = route.index() * RSTRIDE + method * MSTRIDE + status_index(status);
        self.requests[i].fetch_add(1, Ordering::Relaxed);
        self.durations[route.index()].observe(took);
    }

    /// Renders the exposition text. `snapshot` carries the values owned by other modules.
    pub fn render(&self, snap: &Snapshot) -> String {
        let mut o = String::with_capacity(8 * 1024);
        header(
            &mut o,
            "http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        );
        for r in Route::ALL {
            for (m, method) in METHODS.iter().enumerate() {
                for (s, status) in STATUSES.iter().enumerate() {
                    let n = self.requests[r.index() * RSTRIDE + m * MSTRIDE + s]
                        .load(Ordering::Relaxed);
                    if n > 0 {
                        let status = if *status == 0 {
                            "other".to_string()
                        } else {
                            status.to_string()
                        };
                        let _ = writeln!(
                            o,
                            "http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                            r.template()
                        );
                    }
                }
            }
        }
        header(
            &mut o,
            "http_request_duration_seconds",
            "histogram",
            "Time from request head to response head, by route template.",
        );
        for r in Route::ALL {
            let h = &self.durations[r.index()];
            let mut cumulative = 0u64;
            for (i, (_, le)) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    o,
                    "http_request_duration_seconds_bucket{{route=\"{}\",le=\"{le}\"}} {cumulative}",
                    r.template()
                );
            }
            cumulative += h.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {cumulative}",
                r.template()
            );
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                o,
                "http_request_duration_seconds_sum{{route=\"{}\"}} {sum}",
                r.template()
            );
            let _ = writeln!(
                o,
                "http_request_duration_seconds_count{{route=\"{}\"}} {cumulative}",
                r.template()
            );
        }
        gauge(
            &mut o,
            "http_requests_in_flight",
            "Requests being handled now.",
            self.in_flight.load(Ordering::Relaxed),
        );
        gauge(
            &mut o,
            "http_connections_open",
            "Client connections open now.",
            self.connections_open.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "http_connections_total",
            "Client connections accepted since start.",
            self.connections_total.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "http_connections_rejected_total",
            "Connections closed at accept because MAX_CONNECTIONS were open.",
            self.connections_rejected.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "http_handler_panics_total",
            "Request handler panics answered with 500.",
            self.panics.load(Ordering::Relaxed),
        );
        gauge(
            &mut o,
            "app_ready",
            "1 when /health/ready answers 200.",
            i64::from(snap.ready),
        );
        gauge(
            &mut o,
            "app_shutting_down",
            "1 once the drain has begun.",
            i64::from(snap.phase >= Phase::Draining),
        );
        header(&mut o, "app_drain_phase", "gauge", "1 for the current lifecycle phase: starting, ready, draining (announce), closing, exited.");
        for p in Phase::ALL {
            let _ = writeln!(
                o,
                "app_drain_phase{{phase=\"{}\"}} {}",
                p.as_str(),
                u8::from(p == snap.phase)
            );
        }
        counter(
            &mut o,
            "app_drain_requests_total",
            "Requests answered after the drain began.",
            self.drain_requests.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "app_drain_forced_connections_total",
            "Connections cut at the drain deadline.",
            self.drain_forced.load(Ordering::Relaxed),
        );
        header(
            &mut o,
            "app_drain_duration_seconds",
            "gauge",
            "Seconds from the start of the drain to its end; 0 until it ends.",
        );
        let _ = writeln!(
            o,
            "app_drain_duration_seconds {}",
            self.drain_duration_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        counter(
            &mut o,
            "log_lines_dropped_total",
            "Log lines dropped because stdout could not keep up.",
            snap.log_dropped,
        );
        header(
            &mut o,
            "app_build_info",
            "gauge",
            "Constant 1, labelled with the application and crate versions.",
        );
        let _ = writeln!(
            o,
            "app_build_info{{version=\"{}\",crate_version=\"{}\"}} 1",
            self.version_label,
            env!("CARGO_PKG_VERSION")
        );
        header(
            &mut o,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
        );
        let _ = writeln!(o, "process_start_time_seconds {:.3}", self.start_time);
        o
    }
}

/// Values the metrics module reads from elsewhere at scrape time.
pub struct Snapshot {
    pub phase: Phase,
    pub ready: bool,
    pub log_dropped: u64,
}

fn header(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(o: &mut String, name: &str, help: &str, v: i64) {
    header(o, name, "gauge", help);
    let _ = writeln!(o, "{name} {v}");
}

fn counter(o: &mut String, name: &str, help: &str, v: u64) {
    header(o, name, "counter", help);
    let _ = writeln!(o, "{name} {v}");
}

/// Label values escape backslash, double quote and line feed (exposition format 0.0.4).
fn escape_label(v: &str) -> String {
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
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            phase: Phase::Ready,
            ready: true,
            log_dropped: 3,
        }
    }

    #[test]
    fn counts_requests_by_route_method_and_status() {
        let m = Metrics::new("1.0.0");
        m.record(Route::Root, 0, 200, Duration::from_micros(300));
        m.record(Route::Root, 0, 200, Duration::from_millis(7));
        m.record(Route::Unmatched, 2, 404, Duration::from_micros(10));
        m.record(Route::Slow, 0, 299, Duration::from_secs(61));
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
        let m = Metrics::new("2.0.0\"x");
        m.in_flight.fetch_add(2, Ordering::Relaxed);
        let t = m.render(&Snapshot {
            phase: Phase::Closing,
            ready: false,
            log_dropped: 0,
        });
        assert!(t.contains("http_requests_in_flight 2\n"));
        assert!(t.contains("app_ready 0\n"));
        assert!(t.contains("app_shutting_down 1\n"));
        assert!(t.contains("app_drain_phase{phase=\"closing\"} 1\n"));
        assert!(t.contains("app_drain_phase{phase=\"ready\"} 0\n"));
        assert!(t.contains("app_build_info{version=\"2.0.0\\\"x\",crate_version=\""));
        assert!(t.contains("# TYPE http_request_duration_seconds histogram\n"));
    }

    #[test]
    fn every_sample_line_has_a_type_line_before_it() {
        let m = Metrics::new("1");
        m.record(Route::Info, 1, 200, Duration::ZERO);
        let t = m.render(&snap());
        let mut typed = std::collections::HashSet::new();
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|b| typed.contains(*b))
                    .unwrap_or(name);
                assert!(typed.contains(base), "{line}");
            }
        }
    }
}
