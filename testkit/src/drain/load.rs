//! Open-loop, constant-rate load through the ingress, on the engine of `hello-world watch`
//! (`hello_world::watch::engine`): the same scheduler, connection pool, failure kinds and
//! summary, so what `watch` reports is what this benchmark measured. This file only adds the
//! benchmark's request mix and keeps every request's record, which the report matches against
//! nginx's access log by `x-bench-id`.
//!
//! Open loop: request `n` is started at `n / rate` whether or not earlier ones finished, so a
//! stall shows up as latency and errors instead of silently lowering the offered load
//! (closed-loop generators hide exactly the windows this benchmark looks for). Keep-alive
//! connections to nginx like a real client, at most [`CONNECTIONS`] of them.
//!
//! The mix (per 20 requests): 14 × `GET /`, 5 × `POST /`, 1 × `GET /slow?seconds=N`.
//! `POST /` is the non-idempotent probe: nginx never re-sends a POST that reached a backend
//! (`proxy_next_upstream` excludes non-idempotent methods), so a POST written onto a connection
//! the backend is closing surfaces as a 502 instead of being retried. It is also harmless: our
//! server answers it with 405 without side effects (POST /admin/toggle-ready would flip
//! readiness). A 405 is a backend answer, so it counts as delivered (the engine's plan names 405
//! as the expected status); losses are transport errors, client timeouts, 502, 503 and 504.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use hello_world::watch::engine::{self, Event, Finished, Planned, Spec};
use hello_world::watch::outcome::Outcome as Raw;
use hello_world::watch::stats::{Recorder, Summary};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::Method;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Clock;

/// Enough connections that the slowest scenario (30 cluster-s `/slow` requests at 1 in 20)
/// never waits for one; the engine never opens more.
pub const CONNECTIONS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Get,
    Post,
    Slow,
}

impl Kind {
    pub fn of(n: u64) -> Kind {
        match n % 20 {
            0 => Kind::Slow,
            1 | 5 | 9 | 13 | 17 => Kind::Post,
            _ => Kind::Get,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Get => "GET /",
            Kind::Post => "POST /",
            Kind::Slow => "GET /slow",
        }
    }

    /// The status a healthy backend answers with.
    pub fn expected(self) -> u16 {
        match self {
            Kind::Post => 405,
            _ => 200,
        }
    }
}

/// One request's fate, on the scenario clock.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub id: u64,
    pub kind: Kind,
    /// Scheduled start, wall seconds on the scenario clock.
    pub t: f64,
    /// Scheduled start to answer (the engine measures from the schedule, see its docs).
    pub latency: f64,
    /// The status, when a complete answer came back.
    pub status: Option<u16>,
    /// Transport error class when there is no complete answer (`timeout`, `connect`,
    /// `closed_before_response`, `io:...`).
    pub error: Option<String>,
    /// Last upstream nginx used (`X-Upstream`), when a response came back.
    pub upstream: Option<String>,
}

impl Outcome {
    fn from_raw(o: &Raw, offset: f64) -> Outcome {
        let transport = o.detail.is_some();
        Outcome {
            id: o.id,
            kind: Kind::of(o.id),
            t: o.t + offset,
            latency: o.latency,
            status: if transport { None } else { o.status },
            error: o.detail.clone(),
            upstream: o.pod.clone(),
        }
    }

    /// Lost = the client did not get a backend's answer.
    pub fn lost(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => matches!(s, 502..=504),
        }
    }

    pub fn loss_kind(&self) -> Option<String> {
        if !self.lost() {
            return None;
        }
        Some(match (&self.error, self.status) {
            (Some(e), _) => e.clone(),
            (None, Some(s)) => s.to_string(),
            _ => "unknown".into(),
        })
    }
}

#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Requests per wall second.
    pub rate: f64,
    /// `seconds` parameter sent to `/slow` (wall seconds).
    pub slow_seconds: f64,
    /// Client timeout for `GET /` and `POST /` (wall).
    pub timeout: Duration,
    /// Client timeout for `/slow` (wall): the slow duration plus the same margin.
    pub slow_timeout: Duration,
}

/// The engine's plan for request `n`.
fn plan(n: u64, spec: &LoadSpec) -> Planned {
    let kind = Kind::of(n);
    let (method, path, body, timeout) = match kind {
        Kind::Get => (Method::GET, "/".to_string(), Bytes::new(), spec.timeout),
        Kind::Post => (
            Method::POST,
            "/".to_string(),
            Bytes::from_static(b"bench"),
            spec.timeout,
        ),
        Kind::Slow => (
            Method::GET,
            format!("/slow?seconds={}", super::pod::fmt_secs(spec.slow_seconds)),
            Bytes::new(),
            spec.slow_timeout,
        ),
    };
    Planned {
        method,
        path,
        headers: vec![
            (HeaderName::from_static("x-bench-id"), HeaderValue::from(n)),
            (CONTENT_TYPE, HeaderValue::from_static("text/plain")),
        ],
        body,
        timeout,
        expect: Some(kind.expected()),
    }
}

pub struct Load {
    stop: oneshot::Sender<()>,
    task: JoinHandle<(Finished, Vec<Raw>, f64)>,
    clock: Clock,
}

impl Load {
    pub fn start(target: SocketAddr, spec: LoadSpec, clock: Clock) -> Load {
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let collect = tokio::spawn(async move {
                let mut v = Vec::new();
                while let Some(ev) = rx.recv().await {
                    if let Event::Done(o) = ev {
                        v.push(o);
                    }
                }
                v
            });
            let rate = spec.rate;
            let engine_spec = Spec {
                host: target.ip().to_string(),
                port: target.port(),
                authority: "hello.local".into(),
                rate: spec.rate,
                duration: None,
                connections: CONNECTIONS,
                http2: false,
                pod_header: HeaderName::from_static("x-upstream"),
            };
            let finished = engine::run(engine_spec, move |n| plan(n, &spec), stop_rx, tx).await;
            let mut raw = collect.await.unwrap_or_default();
            raw.sort_by_key(|o| o.id);
            (finished, raw, rate)
        });
        Load { stop, task, clock }
    }

    /// Stops issuing requests, waits for the outstanding ones (bounded by their deadlines).
    /// Returns every record on the scenario clock and the engine's own summary (the one
    /// `hello-world watch` prints; pods are nginx's upstream addresses).
    pub async fn stop(self) -> (Vec<Outcome>, Option<Summary>) {
        let _ = self.stop.send(());
        let Ok((finished, raw, rate)) = self.task.await else {
            return (Vec::new(), None);
        };
        let offset = self.clock.at(finished.started);
        let mut rec = Recorder::default();
        for o in &raw {
            rec.sent(o.t);
            rec.record(o);
        }
        let mut summary = rec.summary(finished.sending, finished.ended);
        summary.connections_opened = finished.connections_opened;
        summary.rate = rate;
        (
            raw.iter().map(|o| Outcome::from_raw(o, offset)).collect(),
            Some(summary),
        )
    }
}
