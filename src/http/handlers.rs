//! One function per route: what each answers. The routes that answer at once take the app
//! and the request target; the ones that wait return a boxed future.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::{Response, StatusCode, Uri};

use super::responses::{self as r, json_bytes, json_static, json_string};
use super::{App, Body};
use crate::json::{self, Obj};
use crate::lifecycle::DrainCause;
use crate::log::Level;
use crate::log_at;
use crate::metrics::Snapshot;
use crate::query;

pub type BoxFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// The tutorial's cap on `/slow`.
pub(crate) const SLOW_CAP_SECONDS: u64 = 60;

const OPENAPI: &str = include_str!("../assets/openapi.json");
const DOCS_HTML: &str = include_str!("../assets/docs.html");

/// Bodies that never change after start-up, rendered once.
pub(crate) struct Canned {
    root: Bytes,
    info: Bytes,
    openapi: Bytes,
}

impl Canned {
    pub fn new(c: &crate::config::Config) -> Canned {
        let root = Obj::new()
            .str("message", &c.greeting)
            .str("version", &c.app_version)
            .finish();
        let mut info = Obj::new()
            .str("app_env", &c.app_env)
            .str("app_version", &c.app_version)
            .str("log_level", &c.log_level_raw)
            .str("pod_name", &c.pod_name);
        if let Some(ns) = &c.pod_namespace {
            info = info.str("pod_namespace", ns);
        }
        if let Some(node) = &c.node_name {
            info = info.str("node_name", node);
        }
        // The document carries the running version; the placeholder is a JSON string, so the
        // version goes in JSON-escaped without its quotes.
        let mut version = String::new();
        json::push_str(&mut version, &c.app_version);
        let openapi = OPENAPI.replace("{{APP_VERSION}}", &version[1..version.len() - 1]);
        Canned {
            // Static, so that cloning it for every `GET /` touches no reference count (an
            // atomic add and subtract on a line every core shares). One per `App`.
            root: Bytes::from_static(root.into_bytes().leak()),
            info: Bytes::from(info.finish()),
            openapi: Bytes::from(openapi),
        }
    }
}

pub(crate) fn root(app: &App, _: &Uri) -> Response<Body> {
    log_at!(Level::Info, "app", "Hello World requested");
    json_bytes(StatusCode::OK, app.canned.root.clone())
}

/// 200 unless liveness was toggled off (`POST /admin/toggle-live`): then 503.
pub(crate) fn live(app: &App, _: &Uri) -> Response<Body> {
    if app.state.lab.is_live() {
        json_static(StatusCode::OK, r#"{"status":"ok"}"#)
    } else {
        json_static(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"not alive"}"#)
    }
}

pub(crate) fn ready(app: &App, _: &Uri) -> Response<Body> {
    let s = &app.state;
    if s.is_ready() {
        json_static(StatusCode::OK, r#"{"status":"ok"}"#)
    } else if s.is_shutting_down() {
        json_static(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"not ready","shutting_down":true}"#,
        )
    } else {
        json_static(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"not ready","shutting_down":false}"#,
        )
    }
}

pub(crate) fn toggle_ready(app: &App, _: &Uri) -> Response<Body> {
    match app.state.toggle_ready() {
        Some(now) => {
            let word = if now { "ready" } else { "not ready" };
            log_at!(Level::Info, "app", format!("Readiness toggled: {word}"));
            json_string(StatusCode::OK, Obj::new().bool("ready", now).finish())
        }
        None => json_string(
            StatusCode::CONFLICT,
            Obj::new()
                .str(
                    "detail",
                    "Shutting down: readiness stays off until the process exits",
                )
                .bool("ready", false)
                .finish(),
        ),
    }
}

/// The canned object with the experiments' state (which changes) in place of its `}`.
pub(crate) fn info(app: &App, _: &Uri) -> Response<Body> {
    let canned = &app.canned.info;
    let mut body = String::with_capacity(canned.len() + 160);
    body.push_str(std::str::from_utf8(&canned[..canned.len() - 1]).expect("rendered as text"));
    body.push_str(",\"experiments\":");
    body.push_str(&crate::lab::answers::info(&app.state.lab));
    body.push('}');
    json_string(StatusCode::OK, body)
}

pub(crate) fn metrics(app: &App, _: &Uri) -> Response<Body> {
    let s = &app.state;
    let text = s.metrics.render(&Snapshot {
        phase: s.phase(),
        ready: s.is_ready(),
        log_dropped: crate::log::dropped_total(),
        system: crate::sysinfo::collect(),
        lab: s.lab.report(),
    });
    r::respond(StatusCode::OK, r::PROMETHEUS_TEXT, Bytes::from(text))
}

pub(crate) fn openapi(app: &App, _: &Uri) -> Response<Body> {
    json_bytes(StatusCode::OK, app.canned.openapi.clone())
}

pub(crate) fn docs(_: &App, _: &Uri) -> Response<Body> {
    r::respond(
        StatusCode::OK,
        r::HTML,
        Bytes::from_static(DOCS_HTML.as_bytes()),
    )
}

/// `GET /slow?seconds=N`: sleeps min(N, 60) s on a timer, not a blocked thread.
pub(crate) fn slow(_: App, uri: Uri) -> BoxFuture {
    Box::pin(async move {
        let requested = match query::int_param(uri.query(), "seconds") {
            Ok(Some(n)) => n,
            Ok(None) => query::Int::small(5),
            Err(e) => return r::unprocessable(&e),
        };
        let actual = requested.capped(SLOW_CAP_SECONDS);
        log_at!(
            Level::Info,
            "app",
            format!("Slow endpoint called: sleeping for {actual}s")
        );
        tokio::time::sleep(Duration::from_secs(actual)).await;
        json_string(
            StatusCode::OK,
            Obj::new()
                .str("message", &format!("Responded after {actual} seconds"))
                .raw("requested_seconds", requested.as_json())
                .u64("actual_seconds", actual)
                .finish(),
        )
    })
}

/// `GET /internal/prestop?seconds=N`, for an httpGet preStop hook: begins the announce phase
/// now (before SIGTERM), then holds the hook until N seconds after the *first* call, so a hook
/// delivered twice (delivery is at-least-once) does not double the wait.
///
/// A wait longer than DRAIN_TIMEOUT_SECONDS is capped, not refused: a refused hook would start
/// no announce phase at all (the kubelet logs FailedPreStopHook and sends SIGTERM at once, the
/// failure `docs/drain.md` §0.2 describes for a broken exec preStop).
pub(crate) fn prestop(app: App, uri: Uri) -> BoxFuture {
    Box::pin(async move {
        // Only non-numbers (and absurd numbers, past a year) are refused.
        const MAX_SECONDS: f64 = 365.0 * 86_400.0;
        let s = &app.state;
        let wait = match query::seconds_param(uri.query(), "seconds", MAX_SECONDS) {
            Ok(Some(d)) => d.min(s.config.drain_timeout),
            Ok(None) => s.config.drain_delay,
            Err(e) => return r::unprocessable(&e),
        };
        let started = s.begin_drain(DrainCause::PreStop);
        tokio::time::sleep_until(started + wait).await;
        json_string(
            StatusCode::OK,
            Obj::new()
                .str("status", "draining")
                .u64("waited_ms", started.elapsed().as_millis() as u64)
                .finish(),
        )
    })
}
