//! The restricted controls of the Pod Security Standards (see the parent module).

use serde_json::Value;

use super::baseline::added_beyond;
use super::{contexts, items, strs, Pod, CONFINED_PROFILES};

/// Restricted: the only volume sources a pod may use.
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

pub fn volume_types(pod: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    for v in items(&pod.spec["volumes"]) {
        let Some(fields) = v.as_object() else {
            continue;
        };
        let sources: Vec<&String> = fields
            .iter()
            .filter(|(k, val)| *k != "name" && !val.is_null())
            .map(|(k, _)| k)
            .collect();
        if !sources
            .iter()
            .all(|k| RESTRICTED_VOLUMES.contains(&k.as_str()))
        {
            out.push(format!("volume {} uses {sources:?}", v["name"]));
        }
    }
    out
}

pub fn privilege_escalation(pod: &Pod) -> Vec<String> {
    pod.containers()
        .into_iter()
        .filter(|(_, c)| c["securityContext"]["allowPrivilegeEscalation"] != false)
        .map(|(who, _)| format!("{who} must set allowPrivilegeEscalation=false"))
        .collect()
}

/// A setting the pod may set once for all containers: a container's own value wins, and every
/// container must end up with an allowed one (`ok`). An explicit bad value at either level is a
/// violation even when the other level is fine.
fn inherited(pod: &Pod, field: &str, ok: fn(&Value) -> bool, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    let pod_value = &pod.psc()[field];
    if !pod_value.is_null() && !ok(pod_value) {
        out.push(format!("pod sets {field} {pod_value}"));
    }
    for (who, c) in pod.containers() {
        let own = &c["securityContext"][field];
        if !own.is_null() && !ok(own) {
            out.push(format!("{who} sets {field} {own}"));
        } else if own.is_null() && !ok(pod_value) {
            out.push(format!("pod or {who} must set {field} {what}"));
        }
    }
    out
}

pub fn run_as_non_root(pod: &Pod) -> Vec<String> {
    inherited(pod, "runAsNonRoot", |v| *v == true, "true")
}

pub fn run_as_user(pod: &Pod) -> Vec<String> {
    contexts(pod)
        .into_iter()
        .filter(|(_, sc)| sc["runAsUser"] == 0)
        .map(|(who, _)| format!("{who} sets runAsUser=0"))
        .collect()
}

pub fn seccomp_restricted(pod: &Pod) -> Vec<String> {
    let confined = |v: &Value| {
        v["type"]
            .as_str()
            .is_some_and(|t| CONFINED_PROFILES.contains(&t))
    };
    inherited(
        pod,
        "seccompProfile",
        confined,
        "type RuntimeDefault or Localhost",
    )
}

pub fn capabilities_restricted(pod: &Pod) -> Vec<String> {
    let mut out = added_beyond(pod, &["NET_BIND_SERVICE"]);
    for (who, c) in pod.containers() {
        if !strs(&c["securityContext"]["capabilities"]["drop"]).contains(&"ALL") {
            out.push(format!("{who} must drop capability ALL"));
        }
    }
    out
}
