//! Open-loop, constant-rate load through the ingress, recording every request's outcome.
//!
//! Open loop: request `n` is started at `n / rate` whether or not earlier ones finished, so a
//! stall shows up as latency and errors instead of silently lowering the offered load
//! (closed-loop generators hide exactly the windows this benchmark looks for). The client is
//! hyper-util's pooled client, i.e. keep-alive connections to nginx like a real client.
//!
//! The mix (per 20 requests): 14 × `GET /`, 5 × `POST /`, 1 × `GET /slow?seconds=N`.
//! `POST /` is the non-idempotent probe: nginx never re-sends a POST that reached a backend
//! (`proxy_next_upstream` excludes non-idempotent methods), so a POST written onto a connection
//! the backend is closing surfaces as a 502 instead of being retried. It is also harmless: our
//! server answers it with 405 without side effects (POST /admin/toggle-ready would flip
//! readiness). A 405 is a backend answer, so it counts as delivered; losses are transport
//! errors, client timeouts, 502, 503 and 504.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::Clock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Get,
    Post,
    Slow,
}

impl Kind {
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

/// One request's fate.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub id: u64,
    pub kind: Kind,
    /// Start, wall seconds on the scenario clock.
    pub t: f64,
    pub latency: f64,
    pub status: Option<u16>,
    /// Transport error class when there is no status (`timeout`, `connect`, `closed`, ...).
    pub error: Option<String>,
    /// Last upstream nginx used (`X-Upstream`), when a response came back.
    pub upstream: Option<String>,
}

impl Outcome {
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

pub struct Load {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<Outcome>>,
}

impl Load {
    pub fn start(target: SocketAddr, spec: LoadSpec, clock: Clock) -> Load {
        let (stop, mut stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(64)
                .build_http();
            let results = Arc::new(Mutex::new(Vec::new()));
            let mut inflight = JoinSet::new();
            let period = Duration::from_secs_f64(1.0 / spec.rate);
            let start = tokio::time::Instant::now();
            let mut n: u64 = 0;
            loop {
                let due = start + period * n as u32;
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = stop_rx.changed() => break,
                }
                let kind = match n % 20 {
                    0 => Kind::Slow,
                    1 | 5 | 9 | 13 | 17 => Kind::Post,
                    _ => Kind::Get,
                };
                let (client, results, spec) = (client.clone(), results.clone(), spec.clone());
                inflight.spawn(async move {
                    let o = one(&client, target, n, kind, &spec, clock).await;
                    results.lock().unwrap().push(o);
                });
                n += 1;
                // Reap finished tasks so the set stays small.
                while inflight.try_join_next().is_some() {}
            }
            while inflight.join_next().await.is_some() {}
            let mut v = std::mem::take(&mut *results.lock().unwrap());
            v.sort_by_key(|o| o.id);
            v
        });
        Load { stop, task }
    }

    /// Stops issuing requests, waits for the outstanding ones (bounded by their timeouts).
    pub async fn stop(self) -> Vec<Outcome> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

async fn one(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    target: SocketAddr,
    id: u64,
    kind: Kind,
    spec: &LoadSpec,
    clock: Clock,
) -> Outcome {
    let (method, path, body, timeout) = match kind {
        Kind::Get => ("GET", "/".to_string(), Bytes::new(), spec.timeout),
        Kind::Post => (
            "POST",
            "/".to_string(),
            Bytes::from_static(b"bench"),
            spec.timeout,
        ),
        Kind::Slow => (
            "GET",
            format!("/slow?seconds={}", super::pod::fmt_secs(spec.slow_seconds)),
            Bytes::new(),
            spec.slow_timeout,
        ),
    };
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{target}{path}"))
        .header("host", "hello.local")
        .header("x-bench-id", id.to_string())
        .header("content-type", "text/plain")
        .body(Full::new(body))
        .expect("valid request");
    let t = clock.now();
    let started = Instant::now();
    let fut = async {
        let resp = client.request(req).await.map_err(classify_client)?;
        let status = resp.status().as_u16();
        let upstream = resp
            .headers()
            .get("x-upstream")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.rsplit(", ").next().unwrap_or(s).to_string());
        resp.into_body()
            .collect()
            .await
            .map_err(|e| format!("body:{}", classify_hyper(&e)))?;
        Ok::<_, String>((status, upstream))
    };
    let (status, error, upstream) = match tokio::time::timeout(timeout, fut).await {
        Ok(Ok((s, u))) => (Some(s), None, u),
        Ok(Err(e)) => (None, Some(e), None),
        Err(_) => (None, Some("timeout".to_string()), None),
    };
    Outcome {
        id,
        kind,
        t,
        latency: started.elapsed().as_secs_f64(),
        status,
        error,
        upstream,
    }
}

fn classify_client(e: hyper_util::client::legacy::Error) -> String {
    if e.is_connect() {
        return "connect".into();
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = src {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            return classify_hyper(h);
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return format!("io:{:?}", io.kind());
        }
        src = s.source();
    }
    format!("client:{e}")
}

fn classify_hyper(e: &hyper::Error) -> String {
    if e.is_incomplete_message() {
        "closed_before_response".into()
    } else if e.is_canceled() {
        "canceled".into()
    } else if e.is_closed() {
        "closed".into()
    } else if e.is_timeout() {
        "timeout".into()
    } else {
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                return format!("io:{:?}", io.kind());
            }
            src = s.source();
        }
        format!("hyper:{e}")
    }
}
