//! What `podman kube play` gets instead of the render, and what the smoke run then watches.

use std::net::TcpListener;

use serde_json::{json, Value};

/// Kinds `podman kube play` acts on; the others are dropped before playing.
const PLAYABLE: [&str; 4] = ["Deployment", "ConfigMap", "Secret", "PersistentVolumeClaim"];

/// One container the smoke test watches, with what it found in the manifest.
#[derive(Debug)]
pub struct Target {
    pub pod: String,
    pub container: String,
    /// (probe kind, host port, HTTP path or None for a TCP probe)
    pub probes: Vec<(String, u16, Option<String>)>,
    pub pre_stop: Value,
    pub grace_seconds: u64,
    pub run_as_non_root: bool,
    /// container port -> published host port
    pub ports: Vec<(u64, u16)>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Rewrites the documents for podman: drops Helm hooks and kinds podman ignores, sets one
/// replica, publishes each port on 127.0.0.1, replaces the fieldRefs podman cannot resolve by
/// what a kubelet would inject. Returns the documents to play and the containers to watch.
pub fn prepare(docs: Vec<Value>) -> (Vec<Value>, Vec<Target>) {
    let mut keep = Vec::new();
    let mut targets = Vec::new();
    for mut doc in docs {
        let kind = doc["kind"].as_str().unwrap_or("").to_string();
        if !doc["metadata"]["annotations"]["helm.sh/hook"].is_null()
            || !PLAYABLE.contains(&kind.as_str())
        {
            continue;
        }
        if kind == "Deployment" {
            doc["spec"]["replicas"] = json!(1);
            let name = doc["metadata"]["name"].as_str().unwrap_or("?").to_string();
            let namespace = doc["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            let spec = &mut doc["spec"]["template"]["spec"];
            let grace_seconds = spec["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
            let pod_non_root = spec["securityContext"]["runAsNonRoot"] == true;
            let pod = format!("{name}-pod-0");
            for c in spec["containers"].as_array_mut().into_iter().flatten() {
                targets.push(prepare_container(
                    c,
                    &pod,
                    &namespace,
                    grace_seconds,
                    pod_non_root,
                ));
            }
        }
        keep.push(doc);
    }
    (keep, targets)
}

fn prepare_container(
    c: &mut Value,
    pod: &str,
    namespace: &str,
    grace: u64,
    pod_non_root: bool,
) -> Target {
    let mut ports = Vec::new();
    let mut named = Vec::new();
    for p in c["ports"].as_array_mut().into_iter().flatten() {
        let host = free_port();
        p["hostIP"] = json!("127.0.0.1");
        p["hostPort"] = json!(host);
        let port = p["containerPort"].as_u64().unwrap_or(0);
        ports.push((port, host));
        if let Some(n) = p["name"].as_str() {
            named.push((n.to_string(), port));
        }
    }
    let host_port = |v: &Value| -> u16 {
        let port = match v.as_str() {
            Some(n) => named.iter().find(|(name, _)| name == n).map(|(_, p)| *p),
            None => v.as_u64(),
        };
        let port = port.unwrap_or_else(|| panic!("probe port {v} is not a container port"));
        ports
            .iter()
            .find(|(c, _)| *c == port)
            .map(|(_, h)| *h)
            .unwrap_or_else(|| panic!("port {port} not published"))
    };
    let mut probes = Vec::new();
    for kind in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let p = &c[kind];
        if !p["httpGet"].is_null() {
            let path = p["httpGet"]["path"].as_str().unwrap_or("/").to_string();
            probes.push((
                kind.to_string(),
                host_port(&p["httpGet"]["port"]),
                Some(path),
            ));
        } else if !p["tcpSocket"].is_null() {
            probes.push((kind.to_string(), host_port(&p["tcpSocket"]["port"]), None));
        }
    }
    // podman 4.3 resolves only `metadata.name`; pin the others to what a kubelet would inject.
    for e in c["env"].as_array_mut().into_iter().flatten() {
        let field = e["valueFrom"]["fieldRef"]["fieldPath"]
            .as_str()
            .map(str::to_string);
        let value = match field.as_deref() {
            None | Some("metadata.name") => continue,
            Some("metadata.namespace") => namespace.to_string(),
            Some("spec.nodeName") => "kube-play-node".to_string(),
            Some(_) => "127.0.0.1".to_string(),
        };
        let obj = e.as_object_mut().unwrap();
        obj.remove("valueFrom");
        obj.insert("value".into(), json!(value));
    }
    let name = c["name"].as_str().unwrap_or("?");
    let own = &c["securityContext"]["runAsNonRoot"];
    Target {
        pod: pod.to_string(),
        container: format!("{pod}-{name}"),
        probes,
        pre_stop: c["lifecycle"]["preStop"].clone(),
        grace_seconds: grace,
        run_as_non_root: if own.is_null() {
            pod_non_root
        } else {
            *own == true
        },
        ports,
    }
}
