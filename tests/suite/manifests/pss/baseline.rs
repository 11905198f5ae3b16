//! The baseline controls of the Pod Security Standards (see the parent module).

use super::{contexts, items, strs, Pod, CONFINED_PROFILES};

/// Baseline: the capabilities a container may add (the container runtimes' default set).
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
/// Baseline: the SELinux types allowed in Kubernetes 1.29 (1.31 adds `container_engine_t`).
const SELINUX_TYPES: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
/// Baseline: the safe sysctls of Kubernetes 1.29 (1.32 adds `net.ipv4.tcp_rmem`/`tcp_wmem`).
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

pub fn host_process(pod: &Pod) -> Vec<String> {
    contexts(pod)
        .into_iter()
        .filter(|(_, sc)| sc["windowsOptions"]["hostProcess"] == true)
        .map(|(who, _)| format!("{who} sets windowsOptions.hostProcess=true"))
        .collect()
}

pub fn host_namespaces(pod: &Pod) -> Vec<String> {
    ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|f| pod.spec[*f] == true)
        .map(|f| format!("pod sets {f}=true"))
        .collect()
}

pub fn privileged(pod: &Pod) -> Vec<String> {
    pod.containers()
        .into_iter()
        .filter(|(_, c)| c["securityContext"]["privileged"] == true)
        .map(|(who, _)| format!("{who} sets privileged=true"))
        .collect()
}

/// Capabilities a container adds that are not in `allowed`.
pub fn added_beyond(pod: &Pod, allowed: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (who, c) in pod.containers() {
        let extra: Vec<&str> = strs(&c["securityContext"]["capabilities"]["add"])
            .into_iter()
            .filter(|cap| !allowed.contains(cap))
            .collect();
        if !extra.is_empty() {
            out.push(format!("{who} adds capabilities {extra:?}"));
        }
    }
    out
}

pub fn capabilities_baseline(pod: &Pod) -> Vec<String> {
    added_beyond(pod, BASELINE_CAPABILITIES)
}

pub fn host_path_volumes(pod: &Pod) -> Vec<String> {
    items(&pod.spec["volumes"])
        .iter()
        .filter(|v| !v["hostPath"].is_null())
        .map(|v| format!("volume {} is a hostPath", v["name"]))
        .collect()
}

pub fn host_ports(pod: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    for (who, c) in pod.containers() {
        for p in items(&c["ports"]) {
            if !p["hostPort"].is_null() && p["hostPort"] != 0 {
                out.push(format!("{who} sets hostPort {}", p["hostPort"]));
            }
        }
    }
    out
}

/// Kubernetes 1.34+: probes and lifecycle hooks may not name a `host` (the node's network).
pub fn host_probes(pod: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    for (who, c) in pod.containers() {
        let handlers = [
            ("livenessProbe", &c["livenessProbe"]),
            ("readinessProbe", &c["readinessProbe"]),
            ("startupProbe", &c["startupProbe"]),
            ("lifecycle.postStart", &c["lifecycle"]["postStart"]),
            ("lifecycle.preStop", &c["lifecycle"]["preStop"]),
        ];
        for (name, h) in handlers {
            for action in ["httpGet", "tcpSocket"] {
                if let Some(host) = h[action]["host"].as_str().filter(|s| !s.is_empty()) {
                    out.push(format!("{who} {name}.{action}.host is {host:?}"));
                }
            }
        }
    }
    out
}

pub fn app_armor(pod: &Pod) -> Vec<String> {
    let mut out: Vec<String> = contexts(pod)
        .into_iter()
        .filter_map(|(who, sc)| {
            let t = sc["appArmorProfile"]["type"].as_str()?;
            (!CONFINED_PROFILES.contains(&t))
                .then(|| format!("{who} sets appArmorProfile.type {t:?}"))
        })
        .collect();
    if let Some(annotations) = pod.meta["annotations"].as_object() {
        for (key, value) in annotations {
            let value = value.as_str().unwrap_or("");
            let allowed =
                value.is_empty() || value == "runtime/default" || value.starts_with("localhost/");
            if key.starts_with(APPARMOR_ANNOTATION) && !allowed {
                out.push(format!("annotation {key}={value:?}"));
            }
        }
    }
    out
}

pub fn se_linux(pod: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    for (who, sc) in contexts(pod) {
        let opts = &sc["seLinuxOptions"];
        let t = opts["type"].as_str().unwrap_or("");
        if !SELINUX_TYPES.contains(&t) {
            out.push(format!("{who} sets seLinuxOptions.type {t:?}"));
        }
        for field in ["user", "role"] {
            if opts[field].as_str().is_some_and(|s| !s.is_empty()) {
                out.push(format!("{who} sets seLinuxOptions.{field}"));
            }
        }
    }
    out
}

pub fn proc_mount(pod: &Pod) -> Vec<String> {
    pod.containers()
        .into_iter()
        .filter_map(|(who, c)| {
            let m = c["securityContext"]["procMount"].as_str()?;
            (m != "Default").then(|| format!("{who} sets procMount {m:?}"))
        })
        .collect()
}

pub fn seccomp_baseline(pod: &Pod) -> Vec<String> {
    contexts(pod)
        .into_iter()
        .filter(|(_, sc)| sc["seccompProfile"]["type"] == "Unconfined")
        .map(|(who, _)| format!("{who} sets seccompProfile.type \"Unconfined\""))
        .collect()
}

pub fn sysctls(pod: &Pod) -> Vec<String> {
    items(&pod.psc()["sysctls"])
        .iter()
        .filter_map(|s| s["name"].as_str())
        .filter(|name| !SAFE_SYSCTLS.contains(name))
        .map(|name| format!("pod sets the unsafe sysctl {name}"))
        .collect()
}
