//! Turning one scenario's raw records into a verdict, a table row and JSON.
//!
//! Attribution rules (docs/drain.md §7 "Attribute errors correctly"):
//! - *lost*: the client got no backend answer — a transport error or client timeout for a
//!   request nginx logged, or a 502/503/504 status.
//! - *reload artifact*: a client transport error for a request nginx never logged. nginx
//!   closed an idle client keep-alive connection while reloading for an endpoint change; no
//!   backend saw the request. Reported, not counted as lost.
//! - *upstream errors*: failed upstream attempts in nginx's access log (`$upstream_status`
//!   502/503/504), including those nginx hid from the client by retrying on another pod. R22
//!   counts them as backend-attributable failures, so a Clean scenario needs zero of these too.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use hello_world::watch::outcome::Failure;
use hello_world::watch::report::json_summary;
use hello_world::watch::stats::Summary as WatchSummary;
use serde_json::{json, Value};

use super::ingress::{AccessEntry, EndpointChange, ErrorEntry};
use super::load::{Kind, Outcome};
use super::pod::{PodEvent, Termination};
use super::scenario::{Expect, Scenario};

#[derive(Clone, Debug)]
pub struct PodRecord {
    pub name: String,
    pub version: String,
    pub addr: String,
    pub events: Vec<PodEvent>,
}

/// Everything recorded during one scenario run.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub scale: f64,
    pub load_window: (f64, f64),
    pub action_window: (f64, f64),
    pub outcomes: Vec<Outcome>,
    /// The load engine's own summary: what `hello-world watch` would have printed for this
    /// run (it cannot see nginx's log, so reload artifacts and 405s it counts as it sees them).
    pub watch: Option<WatchSummary>,
    pub access: Vec<AccessEntry>,
    pub errors: Vec<ErrorEntry>,
    pub terminations: Vec<Termination>,
    pub pods: Vec<PodRecord>,
    pub endpoint_changes: Vec<EndpointChange>,
    /// Scenario-specific assertions (description, passed).
    pub checks: Vec<(String, bool)>,
    pub notes: Vec<String>,
}

/// The numbers of one scenario.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub requests: usize,
    pub by_kind: BTreeMap<String, usize>,
    pub lost: usize,
    pub lost_kinds: BTreeMap<String, usize>,
    pub reload_artifacts: usize,
    /// Backend answers other than the expected status (not losses; listed for review).
    pub unexpected: BTreeMap<String, usize>,
    pub upstream_errors: usize,
    pub upstream_errors_by_pod: BTreeMap<String, usize>,
    pub error_log: BTreeMap<String, usize>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Longest SIGTERM -> exit, cluster seconds.
    pub longest_drain: f64,
    pub exit_codes: Vec<i32>,
    pub sigkills: usize,
    pub passed: bool,
    pub verdict: String,
}

impl ScenarioResult {
    pub fn pod_of_addr(&self) -> HashMap<String, (String, String)> {
        self.pods
            .iter()
            .map(|p| (p.addr.clone(), (p.name.clone(), p.version.clone())))
            .collect()
    }

    pub fn summary(&self) -> Summary {
        let logged: HashMap<u64, &AccessEntry> = self
            .access
            .iter()
            .filter_map(|a| a.id.map(|id| (id, a)))
            .collect();
        let pods = self.pod_of_addr();
        let mut s = Summary {
            requests: self.outcomes.len(),
            ..Summary::default()
        };
        for o in &self.outcomes {
            *s.by_kind.entry(o.kind.label().to_string()).or_default() += 1;
            if o.lost() {
                if o.status.is_none() && !logged.contains_key(&o.id) {
                    s.reload_artifacts += 1;
                    continue;
                }
                s.lost += 1;
                let mut k = format!("{}:{}", o.kind.label(), o.loss_kind().unwrap_or_default());
                if let (None, Some(a)) = (o.status, logged.get(&o.id)) {
                    k.push_str(&format!("(nginx {})", a.status));
                }
                *s.lost_kinds.entry(k).or_default() += 1;
            } else if o.status != Some(o.kind.expected()) {
                let k = format!("{}:{}", o.kind.label(), o.status.unwrap_or(0));
                *s.unexpected.entry(k).or_default() += 1;
            }
        }
        // Only the load's requests (they carry an id); the harness's own warm-up is excluded.
        for a in self.access.iter().filter(|a| a.id.is_some()) {
            for (addr, st) in &a.attempts {
                if matches!(st.as_str(), "502" | "503" | "504") {
                    s.upstream_errors += 1;
                    let who = pods.get(addr).map(|p| p.0.clone()).unwrap_or(addr.clone());
                    *s.upstream_errors_by_pod.entry(who).or_default() += 1;
                }
            }
        }
        for e in &self.errors {
            *s.error_log.entry(e.kind.clone()).or_default() += 1;
        }
        let (a0, a1) = self.action_window;
        let mut lat: Vec<f64> = self
            .outcomes
            .iter()
            .filter(|o| o.kind != Kind::Slow && !o.lost() && o.t >= a0 && o.t <= a1)
            .map(|o| o.latency * 1000.0)
            .collect();
        lat.sort_by(|a, b| a.total_cmp(b));
        s.p50_ms = percentile(&lat, 0.50);
        s.p99_ms = percentile(&lat, 0.99);
        for t in &self.terminations {
            s.longest_drain = s.longest_drain.max((t.exit_at - t.sigterm_at) * self.scale);
            s.exit_codes.push(t.exit_code);
            s.sigkills += usize::from(t.sigkill);
        }
        let checks_ok = self.checks.iter().all(|c| c.1);
        let failures = s.lost + s.upstream_errors;
        match self.scenario.expect {
            Expect::Clean => {
                let exits_ok = s.exit_codes.iter().all(|&c| c == 0) && s.sigkills == 0;
                s.passed = failures == 0 && exits_ok && checks_ok && s.requests > 0;
                s.verdict = if s.passed {
                    "PASS: no loss".into()
                } else if failures > 0 {
                    format!(
                        "FAIL: {} lost, {} upstream errors",
                        s.lost, s.upstream_errors
                    )
                } else if !exits_ok {
                    "FAIL: exit code/SIGKILL".into()
                } else {
                    "FAIL: check".into()
                };
            }
            Expect::Lossy => {
                s.passed = failures > 0;
                s.verdict = if s.passed {
                    "PASS: losses seen".into()
                } else {
                    "FAIL: harness saw no loss".into()
                };
            }
        }
        s
    }

    pub fn to_json(&self, s: &Summary) -> Value {
        let sc = &self.scenario;
        let spec = &sc.spec;
        json!({
            "name": sc.name,
            "title": sc.title,
            "expect": format!("{:?}", sc.expect),
            "passed": s.passed,
            "verdict": s.verdict,
            "scale": self.scale,
            "deployment": {
                "source": spec.source,
                "replicas": spec.replicas,
                "maxSurge": spec.max_surge,
                "maxUnavailable": spec.max_unavailable,
                "minReadySeconds": spec.min_ready_seconds,
                "terminationGracePeriodSeconds": spec.grace_seconds,
                "preStop": spec.pre_stop.label(),
                "readiness": {
                    "initialDelaySeconds": spec.readiness.initial_delay,
                    "periodSeconds": spec.readiness.period,
                    "timeoutSeconds": spec.readiness.timeout,
                    "successThreshold": spec.readiness.success_threshold,
                    "failureThreshold": spec.readiness.failure_threshold,
                },
                "DRAIN_DELAY_SECONDS": spec.drain_delay(),
                "DRAIN_TIMEOUT_SECONDS": spec.drain_timeout(),
            },
            "propagation_seconds": sc.propagation,
            "propagation_jitter": sc.jitter,
            "stale_endpoints": sc.stale_endpoints,
            "slow_seconds": sc.slow_seconds,
            "summary": {
                "requests": s.requests,
                "by_kind": s.by_kind,
                "lost": s.lost,
                "lost_kinds": s.lost_kinds,
                "reload_artifacts": s.reload_artifacts,
                "unexpected_status": s.unexpected,
                "upstream_errors": s.upstream_errors,
                "upstream_errors_by_pod": s.upstream_errors_by_pod,
                "nginx_error_log": s.error_log,
                "p50_ms_during_rollout": round2(s.p50_ms),
                "p99_ms_during_rollout": round2(s.p99_ms),
                "longest_drain_seconds": round2(s.longest_drain),
                "exit_codes": s.exit_codes,
                "sigkills": s.sigkills,
            },
            // Exactly the object `hello-world watch --output json` prints as its summary.
            "watch_summary": self.watch.as_ref().and_then(|w| {
                serde_json::from_str::<Value>(&json_summary(w)).ok().map(|v| v["summary"].clone())
            }),
            "checks": self.checks.iter().map(|(d, ok)| json!({"check": d, "passed": ok})).collect::<Vec<_>>(),
            "notes": self.notes,
            "windows_wall_seconds": {
                "load": [round2(self.load_window.0), round2(self.load_window.1)],
                "action": [round2(self.action_window.0), round2(self.action_window.1)],
            },
            "terminations": self.terminations.iter().map(|t| json!({
                "pod": t.pod,
                "deleted_at": round3(t.deleted_at),
                "preStop": t.prestop_outcome,
                "preStop_charged_seconds": t.prestop_charged,
                "granted_after_sigterm_seconds": t.granted,
                "sigterm_at": round3(t.sigterm_at),
                "exit_at": round3(t.exit_at),
                "drain_seconds": round2((t.exit_at - t.sigterm_at) * self.scale),
                "exit_code": t.exit_code,
                "sigkill": t.sigkill,
            })).collect::<Vec<_>>(),
            "pods": self.pods.iter().map(|p| json!({
                "name": p.name,
                "version": p.version,
                "addr": p.addr,
                "events": p.events.iter().map(|e| json!([round3(e.t), e.what])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "endpoint_changes": self.endpoint_changes.iter().map(|c| json!({
                "observed": round3(c.observed),
                "applied": round3(c.applied),
                "pods": c.pods,
            })).collect::<Vec<_>>(),
            "failed_requests": self.outcomes.iter().filter(|o| o.lost()).map(|o| json!({
                "id": o.id,
                "kind": o.kind.label(),
                "t": round3(o.t),
                "latency_ms": round2(o.latency * 1000.0),
                "status": o.status,
                "error": o.error,
                "nginx": self.access.iter().find(|a| a.id == Some(o.id)).map(|a| json!({
                    "status": a.status,
                    "attempts": a.attempts,
                })),
            })).collect::<Vec<_>>(),
            "upstream_error_lines": self.errors.iter().take(50).map(|e| json!({
                "kind": e.kind, "upstream": e.upstream, "request": e.request,
            })).collect::<Vec<_>>(),
        })
    }

    /// Every request's outcome, for digging (kept out of the committed results: large).
    pub fn write_requests_csv(&self, path: &Path) {
        let Ok(mut f) = std::fs::File::create(path) else {
            return;
        };
        let _ = writeln!(f, "id,kind,t_wall,latency_ms,status,error,upstream");
        for o in &self.outcomes {
            let _ = writeln!(
                f,
                "{},{},{:.4},{:.2},{},{},{}",
                o.id,
                o.kind.label(),
                o.t,
                o.latency * 1000.0,
                o.status.map(|s| s.to_string()).unwrap_or_default(),
                o.error.clone().unwrap_or_default(),
                o.upstream.clone().unwrap_or_default()
            );
        }
    }
}

/// "0", or "3 (http_5xx 2, reset 1)": the engine's verdict, as `watch` would print it.
fn watch_cell(w: Option<&WatchSummary>) -> String {
    let Some(w) = w else {
        return "-".into();
    };
    if w.failed == 0 {
        return "0".into();
    }
    let kinds: Vec<String> = w
        .failures
        .iter()
        .map(|(f, seen): &(Failure, _)| format!("{} {}", f.name(), seen.count))
        .collect();
    format!("{} ({})", w.failed, kinds.join(", "))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn join_counts(m: &BTreeMap<String, usize>) -> String {
    if m.is_empty() {
        return "-".into();
    }
    m.iter()
        .map(|(k, v)| format!("{v}× {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Markdown table (also what the bench prints on stdout).
pub fn table(rows: &[(&ScenarioResult, Summary)]) -> String {
    let mut out = String::from(
        "| scenario | expect | verdict | requests | lost (client) | lost by kind | upstream errors (nginx log) | reload artifacts | p50 / p99 ms during rollout | longest drain s | exit codes | SIGKILLs | watch: failed (kinds) |\n\
         |---|---|---|---:|---:|---|---:|---:|---|---:|---|---:|---|\n",
    );
    for (r, s) in rows {
        let mut codes = s.exit_codes.clone();
        codes.sort_unstable();
        out.push_str(&format!(
            "| {} | {:?} | {} | {} | {} | {} | {} | {} | {:.1} / {:.1} | {:.1} | {} | {} | {} |\n",
            r.scenario.name,
            r.scenario.expect,
            s.verdict,
            s.requests,
            s.lost,
            join_counts(&s.lost_kinds),
            s.upstream_errors,
            s.reload_artifacts,
            s.p50_ms,
            s.p99_ms,
            s.longest_drain,
            codes
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
            s.sigkills,
            watch_cell(r.watch.as_ref())
        ));
    }
    out
}
