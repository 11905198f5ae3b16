//! The open-loop scheduler: request `n` starts at `n / rate` whether or not earlier ones have
//! answered (a closed loop would slow down with the server and hide a stall), each with its
//! own deadline, over the [`Pool`]. Every request produces exactly one [`Outcome`], so
//! `sent = ok + failed` holds once the run has ended.
//!
//! This is the engine of both `hello-world watch` and the drain benchmark
//! (`testkit/src/drain/load.rs` gives it its request mix): what `watch` reports is what the
//! benchmark measured.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::{Method, Request};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::extract::string_field;
use super::outcome::{status_failure, Failure, Outcome};
use super::pool::{Body, Pool};

/// How much of an answer body is kept for attribution; the rest is read and dropped.
const BODY_KEEP: usize = 64 * 1024;

/// Where and how fast.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Host to connect to and its port.
    pub host: String,
    pub port: u16,
    /// `Host` header / `:authority`.
    pub authority: String,
    /// Requests per second.
    pub rate: f64,
    /// Stop scheduling after this long; `None`: until the stop future resolves.
    pub duration: Option<Duration>,
    pub connections: usize,
    pub http2: bool,
    /// Header naming who answered (`x-served-by`); its last comma-separated entry is kept.
    pub pod_header: HeaderName,
}

/// One request of the plan.
#[derive(Clone, Debug)]
pub struct Planned {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Deadline, from the scheduled start.
    pub timeout: Duration,
    /// A non-2xx status that counts as success (see [`status_failure`]).
    pub expect: Option<u16>,
}

impl Planned {
    /// `GET path` with a deadline: what `watch` sends.
    pub fn get(path: &str, timeout: Duration) -> Planned {
        Planned {
            method: Method::GET,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
            timeout,
            expect: None,
        }
    }
}

/// What the engine reports, in order per request: `Sent` when it starts, `Done` once.
#[derive(Clone, Debug)]
pub enum Event {
    Sent { id: u64, t: f64 },
    Done(Outcome),
}

/// The end of a run.
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    /// Time 0 of the outcomes' axis.
    pub started: std::time::Instant,
    pub sent: u64,
    /// Seconds requests were scheduled for.
    pub sending: f64,
    /// Seconds until the last answer was in.
    pub ended: f64,
    pub connections_opened: u64,
}

/// Runs until `spec.duration` elapses or `stop` resolves, then waits for the requests in
/// flight (each ends by its own deadline). Every event goes to `events`.
pub async fn run<P, S>(spec: Spec, plan: P, stop: S, events: UnboundedSender<Event>) -> Finished
where
    P: Fn(u64) -> Planned,
    S: Future,
{
    let pool = Arc::new(Pool::new(
        &spec.host,
        spec.port,
        spec.connections,
        spec.http2,
    ));
    let spec = Arc::new(spec);
    let started = std::time::Instant::now();
    let start = Instant::from_std(started);
    let end = spec.duration.map(|d| start + d);
    let mut inflight = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    let mut n: u64 = 0;
    loop {
        let offset = Duration::from_secs_f64(n as f64 / spec.rate);
        let due = start + offset;
        if let Some(end) = end.filter(|e| due >= *e) {
            // The run lasts D, not until the last request of it: wait out the rest.
            tokio::select! {
                _ = &mut stop => {}
                _ = tokio::time::sleep_until(end) => {}
            }
            break;
        }
        // When behind schedule (a busy machine), do not sleep: catch up at once.
        if due > Instant::now() {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = tokio::time::sleep_until(due) => {}
            }
        } else {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = std::future::ready(()) => {}
            }
        }
        let _ = events.send(Event::Sent {
            id: n,
            t: offset.as_secs_f64(),
        });
        let (pool, spec, events, planned) = (pool.clone(), spec.clone(), events.clone(), plan(n));
        inflight.spawn(async move {
            let o = one(&pool, &spec, n, start, due, planned).await;
            let _ = events.send(Event::Done(o));
        });
        n += 1;
        while inflight.try_join_next().is_some() {}
    }
    let sending = started.elapsed().as_secs_f64();
    while inflight.join_next().await.is_some() {}
    Finished {
        started,
        sent: n,
        sending,
        ended: started.elapsed().as_secs_f64(),
        connections_opened: pool.opened.load(Ordering::Relaxed),
    }
}

async fn one(
    pool: &Pool,
    spec: &Spec,
    id: u64,
    start: Instant,
    due: Instant,
    p: Planned,
) -> Outcome {
    let late = Instant::now().saturating_duration_since(due).as_secs_f64();
    let mut o = Outcome {
        id,
        t: (due - start).as_secs_f64(),
        late,
        ..Outcome::default()
    };
    let exchange = async {
        let (resp, lease) = pool.send(request(spec, &p)).await?;
        let status = resp.status().as_u16();
        o.status = Some(status);
        o.pod = resp
            .headers()
            .get(&spec.pod_header)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.rsplit(',').next().unwrap_or(s).trim().to_owned());
        let mut body = resp.into_body();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| super::outcome::hyper_failure(&e))?;
            if let Some(data) = frame.data_ref() {
                let room = BODY_KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        lease.release(pool);
        Ok::<_, (Failure, String)>((status, kept))
    };
    let result = tokio::time::timeout_at(due + p.timeout, exchange).await;
    o.latency = due.elapsed().as_secs_f64();
    match result {
        Ok(Ok((status, body))) => {
            o.failure = status_failure(status, p.expect);
            o.version = string_field(&body, "version");
            o.message = string_field(&body, "message");
        }
        Ok(Err((kind, detail))) => {
            o.failure = Some(kind);
            o.detail = Some(detail);
        }
        Err(_) => {
            o.failure = Some(Failure::Timeout);
            o.detail = Some("timeout".into());
        }
    }
    o
}

fn request(spec: &Spec, p: &Planned) -> Request<Body> {
    let mut b = Request::builder().method(p.method.clone());
    b = if spec.http2 {
        // h2 takes `:authority` from an absolute URI.
        b.uri(format!("http://{}{}", spec.authority, p.path))
    } else {
        b.uri(p.path.as_str()).header(HOST, spec.authority.as_str())
    };
    for (k, v) in &p.headers {
        b = b.header(k, v);
    }
    b.body(Body::new(p.body.clone()))
        .expect("method, path and headers were validated when parsed")
}
