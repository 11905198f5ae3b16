//! What the rendered Deployment says: rollout strategy, grace period, preStop hook, readiness
//! probe and the container environment.
//!
//! The default source is `helm template` of the project's chart, so the benchmark measures what
//! we ship. Without a chart directory the tutorial's values are used (and the report says so).
//! All durations here are *cluster* seconds; [`crate::drain::Clock`] scales them to wall time.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_norway::Value;

/// The preStop hook as the kubelet would run it against our distroless image.
#[derive(Clone, Debug, PartialEq)]
pub enum PreStop {
    /// No hook: SIGTERM right after deletion.
    None,
    /// `lifecycle.preStop.sleep.seconds` — the kubelet itself sleeps (K8s >= 1.30).
    Sleep(f64),
    /// `exec: [/hello-world, sleep, N]` — our binary's `sleep` subcommand, runs in the image.
    ExecSleep(f64),
    /// Any other `exec` (e.g. the tutorial's `/bin/sh -c "sleep 10"`): the image has no shell,
    /// the exec fails at once (exit 126), the kubelet logs `FailedPreStopHook` and sends SIGTERM.
    ExecFails(Vec<String>),
    /// `httpGet` to the app (our `/internal/prestop?seconds=N`), blocking for N seconds.
    HttpGet { path: String },
}

impl PreStop {
    pub fn label(&self) -> String {
        match self {
            PreStop::None => "none".into(),
            PreStop::Sleep(s) => format!("sleep {s}s"),
            PreStop::ExecSleep(s) => format!("exec hello-world sleep {s}"),
            PreStop::ExecFails(cmd) => format!("exec {} (fails: no shell)", cmd.join(" ")),
            PreStop::HttpGet { path } => format!("httpGet {path}"),
        }
    }
}

/// Readiness probe parameters (kubelet semantics, cluster seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub initial_delay: f64,
    pub period: f64,
    pub timeout: f64,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// Everything the simulation needs from one rendered Deployment.
#[derive(Clone, Debug)]
pub struct DeploymentSpec {
    pub replicas: u32,
    pub max_surge: u32,
    pub max_unavailable: u32,
    pub min_ready_seconds: f64,
    /// `terminationGracePeriodSeconds`: integer, the kubelet does integer arithmetic with it.
    pub grace_seconds: i64,
    pub pre_stop: PreStop,
    pub readiness: Probe,
    /// Container environment (`env` values and `envFrom` ConfigMaps), before time scaling.
    pub env: BTreeMap<String, String>,
    /// Where these values came from (a `helm template` command line or "tutorial defaults").
    pub source: String,
}

impl DeploymentSpec {
    /// The tutorial's values (Part 3), used when no chart directory exists.
    pub fn tutorial_defaults() -> Self {
        let mut env = BTreeMap::new();
        env.insert("DRAIN_DELAY_SECONDS".into(), "0".into());
        env.insert("DRAIN_TIMEOUT_SECONDS".into(), "30".into());
        env.insert("GREETING".into(), "Hello World".into());
        env.insert("APP_ENV".into(), "production".into());
        env.insert("LOG_LEVEL".into(), "info".into());
        DeploymentSpec {
            replicas: 2,
            max_surge: 1,
            max_unavailable: 0,
            min_ready_seconds: 0.0,
            grace_seconds: 45,
            pre_stop: PreStop::Sleep(10.0),
            readiness: Probe {
                initial_delay: 5.0,
                period: 5.0,
                timeout: 1.0,
                success_threshold: 1,
                failure_threshold: 3,
            },
            env,
            source: "tutorial defaults (no chart directory found)".into(),
        }
    }

    pub fn env_f64(&self, key: &str, default: f64) -> f64 {
        self.env
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    pub fn drain_delay(&self) -> f64 {
        self.env_f64("DRAIN_DELAY_SECONDS", 0.0)
    }

    pub fn drain_timeout(&self) -> f64 {
        self.env_f64("DRAIN_TIMEOUT_SECONDS", 30.0)
    }
}

/// Renders `chart` with `helm template` plus `--set` overrides and reads its Deployment.
pub fn render_chart(chart: &Path, sets: &[(&str, String)]) -> Result<DeploymentSpec, String> {
    let mut cmd = Command::new("helm");
    cmd.arg("template").arg("hello").arg(chart);
    // The chart's `preStopMode: auto` picks the native sleep action only for K8s >= 1.30;
    // render for a current cluster instead of helm's built-in default version.
    cmd.args(["--kube-version", "1.34.0"]);
    let mut shown = format!(
        "helm template hello {} --kube-version 1.34.0",
        chart.display()
    );
    for (k, v) in sets {
        cmd.arg("--set").arg(format!("{k}={v}"));
        shown.push_str(&format!(" --set {k}={v}"));
    }
    let out = cmd.output().map_err(|e| {
        format!("cannot run helm ({e}): install helm (https://helm.sh/docs/intro/install/)")
    })?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut spec = parse_manifests(&text)?;
    spec.source = shown;
    Ok(spec)
}

/// Reads the first Deployment (and the ConfigMaps it pulls env from) out of a multi-document
/// YAML stream.
pub fn parse_manifests(text: &str) -> Result<DeploymentSpec, String> {
    let mut configmaps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut deployment = None;
    for doc in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(doc).map_err(|e| format!("bad YAML from helm: {e}"))?;
        match str_at(&v, &["kind"]).as_deref() {
            Some("ConfigMap") => {
                let name = str_at(&v, &["metadata", "name"]).unwrap_or_default();
                let mut data = BTreeMap::new();
                if let Some(Value::Mapping(m)) = at(&v, &["data"]) {
                    for (k, val) in m {
                        if let (Some(k), Some(val)) = (scalar(k), scalar(val)) {
                            data.insert(k, val);
                        }
                    }
                }
                configmaps.insert(name, data);
            }
            Some("Deployment") if deployment.is_none() => deployment = Some(v),
            _ => {}
        }
    }
    let d = deployment.ok_or("no Deployment in the rendered manifests")?;
    let replicas = num_at(&d, &["spec", "replicas"]).unwrap_or(1.0) as u32;
    let pct = |path: &[&str], default: &str, round_up: bool| -> u32 {
        let raw = at(&d, path)
            .and_then(scalar)
            .unwrap_or_else(|| default.to_string());
        match raw.strip_suffix('%') {
            Some(p) => {
                let x = p.parse::<f64>().unwrap_or(25.0) * f64::from(replicas) / 100.0;
                (if round_up { x.ceil() } else { x.floor() }) as u32
            }
            None => raw.parse().unwrap_or(0),
        }
    };
    let max_surge = pct(
        &["spec", "strategy", "rollingUpdate", "maxSurge"],
        "25%",
        true,
    );
    let max_unavailable = pct(
        &["spec", "strategy", "rollingUpdate", "maxUnavailable"],
        "25%",
        false,
    );
    let pod = at(&d, &["spec", "template", "spec"]).ok_or("Deployment has no pod spec")?;
    let container = match at(pod, &["containers"]) {
        Some(Value::Sequence(s)) if !s.is_empty() => &s[0],
        _ => return Err("Deployment has no containers".into()),
    };
    let rp = at(container, &["readinessProbe"]);
    let probe_num = |k: &str, default: f64| rp.and_then(|p| num_at(p, &[k])).unwrap_or(default);
    let readiness = Probe {
        initial_delay: probe_num("initialDelaySeconds", 0.0),
        period: probe_num("periodSeconds", 10.0),
        timeout: probe_num("timeoutSeconds", 1.0),
        success_threshold: probe_num("successThreshold", 1.0) as u32,
        failure_threshold: probe_num("failureThreshold", 3.0) as u32,
    };
    let mut env = BTreeMap::new();
    if let Some(Value::Sequence(from)) = at(container, &["envFrom"]) {
        for f in from {
            if let Some(name) = str_at(f, &["configMapRef", "name"]) {
                if let Some(data) = configmaps.get(&name) {
                    env.extend(data.clone());
                }
            }
        }
    }
    if let Some(Value::Sequence(list)) = at(container, &["env"]) {
        for e in list {
            if let (Some(k), Some(v)) = (str_at(e, &["name"]), str_at(e, &["value"])) {
                env.insert(k, v);
            }
        }
    }
    let pre_stop = match at(container, &["lifecycle", "preStop"]) {
        None => PreStop::None,
        Some(h) => {
            if let Some(s) = num_at(h, &["sleep", "seconds"]) {
                PreStop::Sleep(s)
            } else if let Some(path) = str_at(h, &["httpGet", "path"]) {
                PreStop::HttpGet { path }
            } else if let Some(Value::Sequence(cmd)) = at(h, &["exec", "command"]) {
                let cmd: Vec<String> = cmd.iter().filter_map(scalar).collect();
                let ours = cmd.first().is_some_and(|c| c.ends_with("hello-world"))
                    && cmd.get(1).map(String::as_str) == Some("sleep");
                match cmd.get(2).and_then(|s| s.parse().ok()) {
                    Some(secs) if ours => PreStop::ExecSleep(secs),
                    _ => PreStop::ExecFails(cmd),
                }
            } else {
                return Err(format!("unsupported preStop hook: {h:?}"));
            }
        }
    };
    Ok(DeploymentSpec {
        replicas,
        max_surge,
        max_unavailable,
        min_ready_seconds: num_at(&d, &["spec", "minReadySeconds"]).unwrap_or(0.0),
        grace_seconds: num_at(pod, &["terminationGracePeriodSeconds"]).unwrap_or(30.0) as i64,
        pre_stop,
        readiness,
        env,
        source: String::new(),
    })
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(*key))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    at(v, path).and_then(scalar)
}

fn num_at(v: &Value, path: &[&str]) -> Option<f64> {
    at(v, path).and_then(scalar).and_then(|s| s.parse().ok())
}
