//! Prometheus metrics: counters kept in atomics behind methods, rendered to the text
//! exposition format 0.0.4 from the descriptor table in [`render`].
//!
//! Counters are `AtomicU64` updated with `Relaxed` ordering: each is an independent tally, no
//! other memory is published through them, and a scrape that sees one counter slightly ahead of
//! another is indistinguishable from a scrape a microsecond later. They are monotonic for the
//! life of the process (they would wrap after 2^64 events, which no pod lives to see).
//!
//! The label sets of `http_requests_total` are given at construction ([`Labels`]): route
//! templates from the route table, method names, and the statuses the request path produces.
//! So this module knows no route, method or status by name.

mod render;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use render::Snapshot;

/// The bounded label values of the per-request metrics.
pub(crate) struct Labels {
    /// Route templates, indexed by route; the last one is `unmatched`.
    pub routes: Vec<&'static str>,
    /// Method names, indexed by method; the last one is `OTHER`.
    pub methods: &'static [&'static str],
    /// Status codes the server produces; anything else is counted under `other`.
    pub statuses: &'static [u16],
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
        let us = micros(d);
        let i = BUCKETS
            .iter()
            .position(|&(le, _)| us <= le)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(us, Ordering::Relaxed);
    }
}

/// All metrics of one server instance. Read them with the getters; only this crate counts.
pub struct Metrics {
    labels: Labels,
    /// `http_requests_total`, indexed `[route][method][status]`; the last status is `other`.
    requests: Box<[AtomicU64]>,
    durations: Box<[Histogram]>,
    in_flight: AtomicI64,
    /// The `http_connections_open` gauge (the admission count is the acceptor's own).
    connections_open: AtomicI64,
    connections_total: AtomicU64,
    connections_rejected: AtomicU64,
    drain_requests: AtomicU64,
    drain_forced: AtomicU64,
    /// Microseconds from the shutdown signal to the drain's end (0 until it ends).
    drain_duration_micros: AtomicU64,
    panics: AtomicU64,
    version_label: String,
    start_time: f64,
}

impl Metrics {
    pub(crate) fn new(version: &str, labels: Labels) -> Metrics {
        let start_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let cells = labels.routes.len() * labels.methods.len() * (labels.statuses.len() + 1);
        Metrics {
            requests: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            durations: labels.routes.iter().map(|_| Histogram::new()).collect(),
            labels,
            in_flight: AtomicI64::new(0),
            connections_open: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            drain_requests: AtomicU64::new(0),
            drain_forced: AtomicU64::new(0),
            drain_duration_micros: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            version_label: render::escape_label(version),
            start_time,
        }
    }

    fn cell(&self, route: usize, method: usize, status: usize) -> usize {
        let statuses = self.labels.statuses.len() + 1;
        (route * self.labels.methods.len() + method) * statuses + status
    }

    /// Records one finished request (`route` and `method` index the [`Labels`]).
    pub(crate) fn record(&self, route: usize, method: usize, status: u16, took: Duration) {
        let s = self.labels.statuses.iter().position(|&c| c == status);
        let s = s.unwrap_or(self.labels.statuses.len());
        self.requests[self.cell(route, method, s)].fetch_add(1, Ordering::Relaxed);
        self.durations[route].observe(took);
    }

    pub(crate) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn request_ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn connection_rejected(&self) {
        self.connections_rejected.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn panic_answered(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn answered_while_draining(&self) {
        self.drain_requests.fetch_add(1, Ordering::Relaxed);
    }
    /// The drain ended: `forced` connections were cut, `since_signal` after the signal.
    pub(crate) fn drain_finished(&self, forced: usize, since_signal: Duration) {
        self.drain_forced
            .fetch_add(forced as u64, Ordering::Relaxed);
        self.drain_duration_micros
            .store(micros(since_signal), Ordering::Relaxed);
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed).max(0) as u64
    }
    /// Client connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed).max(0) as u64
    }
    /// Handler panics answered with 500.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }
    /// Requests answered after the drain began.
    pub fn drain_requests(&self) -> u64 {
        self.drain_requests.load(Ordering::Relaxed)
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}
