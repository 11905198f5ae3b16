//! The Kubernetes Pod Security Standards, baseline and restricted levels, as a check of
//! manifests: what the PodSecurity admission controller of a namespace labelled
//! `pod-security.kubernetes.io/enforce=restricted` would reject.
//!
//! One row of [`RULES`] per control of the published standard that applies to a workload's pod
//! template (`spec.containers`, `spec.initContainers`, `spec.ephemeralContainers`). The chart
//! supports Kubernetes 1.29–1.35, so where the standard changed inside that range the strictest
//! version counts: the allow-lists that grew later (sysctls in 1.32, the SELinux type
//! `container_engine_t` in 1.31, `image` volumes) are the 1.29 lists, and the control added in
//! 1.34 (no `host` in probes and lifecycle hooks) is checked for every version.
//! Deliberately stricter than admission: the relaxations for user-namespaced pods
//! (`hostUsers: false`) and for Windows pods (`spec.os.name: windows`) are not applied; the chart
//! uses neither.

mod baseline;
mod restricted;

use serde_json::Value;

use baseline::*;
use restricted::*;

/// The two levels with rules; `Restricted` includes every `Baseline` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Baseline,
    Restricted,
}

/// One control of the standard: a name, its level and the check naming every violation.
pub struct Rule {
    pub name: &'static str,
    pub level: Level,
    check: fn(&Pod) -> Vec<String>,
}

/// The controls, in the order the standard lists them.
pub const RULES: &[Rule] = &[
    rule("hostProcess", Level::Baseline, host_process),
    rule("hostNamespaces", Level::Baseline, host_namespaces),
    rule("privileged", Level::Baseline, privileged),
    rule(
        "capabilities_baseline",
        Level::Baseline,
        capabilities_baseline,
    ),
    rule("hostPathVolumes", Level::Baseline, host_path_volumes),
    rule("hostPorts", Level::Baseline, host_ports),
    rule("hostProbesAndLifecycle", Level::Baseline, host_probes),
    rule("appArmor", Level::Baseline, app_armor),
    rule("seLinux", Level::Baseline, se_linux),
    rule("procMount", Level::Baseline, proc_mount),
    rule("seccomp_baseline", Level::Baseline, seccomp_baseline),
    rule("sysctls", Level::Baseline, sysctls),
    rule("volumeTypes", Level::Restricted, volume_types),
    rule(
        "allowPrivilegeEscalation",
        Level::Restricted,
        privilege_escalation,
    ),
    rule("runAsNonRoot", Level::Restricted, run_as_non_root),
    rule("runAsUser", Level::Restricted, run_as_user),
    rule("seccomp_restricted", Level::Restricted, seccomp_restricted),
    rule(
        "capabilities_restricted",
        Level::Restricted,
        capabilities_restricted,
    ),
];

const fn rule(name: &'static str, level: Level, check: fn(&Pod) -> Vec<String>) -> Rule {
    Rule { name, level, check }
}

/// Seccomp and AppArmor profile types that confine (restricted requires one for seccomp).
const CONFINED_PROFILES: &[&str] = &["RuntimeDefault", "Localhost"];

/// A pod template: its metadata (annotations) and spec.
pub struct Pod<'a> {
    meta: &'a Value,
    spec: &'a Value,
}

impl<'a> Pod<'a> {
    pub fn new(meta: &'a Value, spec: &'a Value) -> Self {
        Pod { meta, spec }
    }

    /// The pod template of a workload document (`None` for kinds without one).
    pub fn of(doc: &'a Value) -> Option<Self> {
        let template = match doc["kind"].as_str()? {
            "Pod" => return Some(Pod::new(&doc["metadata"], &doc["spec"])),
            "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "ReplicaSet"
            | "Job"
            | "ReplicationController" => &doc["spec"]["template"],
            "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"],
            _ => return None,
        };
        Some(Pod::new(&template["metadata"], &template["spec"]))
    }

    /// Every container of the pod with a label for messages (`container "x"`, ...).
    fn containers(&self) -> Vec<(String, &'a Value)> {
        let lists = [
            ("containers", "container"),
            ("initContainers", "initContainer"),
            ("ephemeralContainers", "ephemeralContainer"),
        ];
        let mut all = Vec::new();
        for (field, label) in lists {
            for c in items(&self.spec[field]) {
                all.push((
                    format!("{label} {:?}", c["name"].as_str().unwrap_or("?")),
                    c,
                ));
            }
        }
        all
    }

    /// The pod-level security context (Null when absent).
    fn psc(&self) -> &'a Value {
        &self.spec["securityContext"]
    }
}

/// The violations of `pod` at `level` (baseline rules included in restricted), as
/// `(rule, message)`.
pub fn violations(pod: &Pod, level: Level) -> Vec<(&'static str, String)> {
    RULES
        .iter()
        .filter(|r| r.level <= level)
        .flat_map(|r| (r.check)(pod).into_iter().map(move |m| (r.name, m)))
        .collect()
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn strs(v: &Value) -> Vec<&str> {
    items(v).iter().filter_map(Value::as_str).collect()
}

/// The pod-level context labelled `pod`, then every container's context.
fn contexts<'a>(pod: &Pod<'a>) -> Vec<(String, &'a Value)> {
    let mut all = vec![("pod".to_string(), pod.psc())];
    all.extend(
        pod.containers()
            .into_iter()
            .map(|(n, c)| (n, &c["securityContext"])),
    );
    all
}

/// Checks every workload of a multi-document YAML at `level`. Returns how many pod templates
/// were checked, or one line per violation (`Kind/name: rule: message`).
pub fn check_yaml(yaml: &str, level: Level) -> Result<usize, Vec<String>> {
    let mut checked = 0;
    let mut bad = Vec::new();
    for doc in super::documents(yaml) {
        let Some(pod) = Pod::of(&doc) else { continue };
        checked += 1;
        for (rule, msg) in violations(&pod, level) {
            bad.push(format!(
                "{}/{}: {rule}: {msg}",
                doc["kind"].as_str().unwrap_or("?"),
                doc["metadata"]["name"].as_str().unwrap_or("?")
            ));
        }
    }
    if bad.is_empty() {
        Ok(checked)
    } else {
        Err(bad)
    }
}
