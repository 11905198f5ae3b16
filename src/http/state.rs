//! [`AppState`]: what the request path and the server loop share — the configuration, the
//! metrics and the lifecycle. It also owns the one action both sides take: beginning the
//! drain (a signal in the server loop, `GET /internal/prestop` in a handler). It lives with
//! the routes because the metrics' label sets come from the route table.

use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{responses, routes};
use crate::config::Config;
use crate::lifecycle::{DrainCause, Lifecycle, Phase};
use crate::log::Level;
use crate::log_at;
use crate::metrics::{Labels, Metrics};

/// The header on every answer that names the pod which gave it (POD_NAME); `watch` reads it.
pub(crate) const SERVED_BY: &str = "x-served-by";
pub(crate) const X_SERVED_BY: HeaderName = HeaderName::from_static(SERVED_BY);

/// Shared by every connection task through an `Arc`.
pub struct AppState {
    pub config: Config,
    pub metrics: Metrics,
    lifecycle: Lifecycle,
    /// The experiments' state; its channel also wakes the gRPC `Watch` streams on every
    /// change of readiness, liveness or phase (the wrappers below bump it).
    pub lab: crate::lab::Lab,
    /// `x-served-by` (POD_NAME), built once for every response.
    pub served_by: HeaderValue,
}

impl AppState {
    pub fn new(config: Config) -> Arc<AppState> {
        let labels = Labels {
            routes: routes::Route::all().map(route_label).collect(),
            methods: &routes::METHODS,
            statuses: responses::STATUSES,
        };
        let lab = &config.lab;
        Arc::new(AppState {
            metrics: Metrics::new(&config.app_version, labels),
            lifecycle: Lifecycle::new(lab.start_ready, lab.ready_delay.is_zero()),
            lab: crate::lab::Lab::new(lab.clone()),
            served_by: served_by(&config.pod_name),
            config,
        })
    }

    pub fn phase(&self) -> Phase {
        self.lifecycle.phase()
    }

    /// A receiver that observes every later phase change.
    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.lifecycle.subscribe()
    }

    /// Moves to `to` if that is forward; returns whether the phase changed.
    pub fn advance(&self, to: Phase) -> bool {
        let moved = self.lifecycle.advance(to);
        self.lab.bump();
        moved
    }

    /// `READY_DELAY_SECONDS` has passed since the listener came up.
    pub fn warm_up(&self) {
        self.lifecycle.warm_up();
        self.lab.bump();
    }

    /// `/health/ready`: ready only while serving normally and not toggled off.
    pub fn is_ready(&self) -> bool {
        self.lifecycle.is_ready()
    }

    /// True from the first drain cause on.
    pub fn is_shutting_down(&self) -> bool {
        self.lifecycle.is_shutting_down()
    }

    /// Flips the admin toggle. `None` while draining: readiness stays off for good (R5).
    pub fn toggle_ready(&self) -> Option<bool> {
        let now = self.lifecycle.toggle_ready();
        self.lab.bump();
        now
    }

    /// Begins the announce phase for `cause` (idempotent) and logs it once; a later, different
    /// cause is logged too. Returns when the announce phase began, which an httpGet preStop
    /// hook may have done before the signal.
    pub fn begin_drain(&self, cause: DrainCause) -> Instant {
        let d = self.lifecycle.begin_drain(cause);
        // NOT_SERVING from the first signal on, for gRPC `Watch` streams too.
        self.lab.bump();
        let m = &self.metrics;
        if d.fresh {
            let msg = match cause {
                DrainCause::PreStop => "preStop hook called, starting graceful shutdown".to_owned(),
                c => format!("Received {}, starting graceful shutdown", c.as_str()),
            };
            // elapsed_ms counts from the signal (`lifecycle` module docs): 0 at the signal;
            // a preStop call comes before any signal, and logs 0 as well.
            log_at!(Level::Info, "server", msg,
                "event" => "drain_started", "phase" => Phase::Draining.as_str(),
                "signal" => cause.as_str(), "elapsed_ms" => 0u64,
                "drain_delay_ms" => ms(self.config.drain_delay),
                "drain_timeout_ms" => ms(self.config.drain_timeout),
                "connections_open" => m.connections_open(), "in_flight" => m.in_flight());
        } else if cause != d.first {
            // The signal that arrives during a preStop drain: the clock's zero point, so
            // elapsed_ms is 0; `announce_ms` says how long the announce phase had lasted.
            log_at!(Level::Info, "server",
                format!("Received {} during a drain begun by {}", cause.as_str(), d.first.as_str()),
                "event" => "drain_signal", "signal" => cause.as_str(),
                "elapsed_ms" => 0u64, "announce_ms" => ms(d.at.elapsed()));
        }
        d.at
    }
}

impl crate::grpc::Health for AppState {
    fn ready(&self) -> bool {
        self.is_ready()
    }
    fn live(&self) -> bool {
        self.lab.is_live()
    }
    fn closing(&self) -> bool {
        self.phase() >= Phase::Closing
    }
    fn changes(&self) -> watch::Receiver<()> {
        self.lab.subscribe()
    }
}

/// A route's `route` label: its template, a `{name}` segment written `:name`. Prometheus
/// takes any label value, but common parsers (prometheus-parse among them) end the label set
/// at the first `}`, so a label is kept free of braces. Built once, at start-up.
fn route_label(r: routes::Route) -> &'static str {
    let t = r.template();
    if !t.contains('{') {
        return t;
    }
    let label = t.replace('{', ":").replace('}', "");
    Box::leak(label.into_boxed_str())
}

pub(crate) fn ms(d: std::time::Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// The `x-served-by` value: `POD_NAME`, or `unknown` when it cannot be a header value. Made
/// static once per state so that the copy every response takes is a pointer copy, not a
/// reference count (a shared buffer's clone and drop are two atomic operations per response).
fn served_by(pod_name: &str) -> HeaderValue {
    match HeaderValue::from_str(pod_name) {
        Ok(_) => HeaderValue::from_static(Box::leak(pod_name.to_owned().into_boxed_str())),
        Err(_) => HeaderValue::from_static("unknown"),
    }
}
