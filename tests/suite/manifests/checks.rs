//! The manifest checks of the parent module, proved on manifests that break them (the `chart`
//! module runs the same checks on every render of the chart).
//!
//! * Pod Security Standards: a table of (rule, mutation) cases. Each mutation of one good pod
//!   template must be rejected by exactly its rule among the rules of that rule's level; each
//!   case is its own named test. The good template itself passes restricted.
//! * Schema validation (`schema_*`, needs `kubernetes-validate` from PyPI): a good manifest
//!   passes for Kubernetes 1.29–1.35; unknown fields, wrong types, removed APIs, fields newer
//!   than a version and unlisted CRDs fail.

use super::pss::{self, Level, Pod, RULES};
use super::schema::{self, KUBERNETES};
use serde_json::{json, Value};

/// A Deployment whose pod template uses an allowed value of every control the standard has,
/// so that over-strict rules would show here too: a confined AppArmor profile (field and
/// annotation), an allowed SELinux type, a safe sysctl, NET_BIND_SERVICE added after dropping
/// ALL, allowed volume types, and probes and hooks without `host`.
fn good() -> Value {
    let restricted = json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": true,
    });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "good"},
        "spec": {"selector": {"matchLabels": {"app": "good"}}, "template": {
            "metadata": {
                "labels": {"app": "good"},
                "annotations": {"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"},
            },
            "spec": {
                "securityContext": {
                    "runAsNonRoot": true,
                    "runAsUser": 65532,
                    "seccompProfile": {"type": "RuntimeDefault"},
                    "appArmorProfile": {"type": "RuntimeDefault"},
                    "seLinuxOptions": {"type": "container_t"},
                    "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                },
                "volumes": [
                    {"name": "config", "configMap": {"name": "good"}},
                    {"name": "tmp", "emptyDir": {}},
                ],
                "initContainers": [{"name": "init", "image": "x", "securityContext": restricted}],
                "containers": [{
                    "name": "app",
                    "image": "x",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}},
                    "livenessProbe": {"tcpSocket": {"port": 8080}},
                    "lifecycle": {"preStop": {"httpGet": {"path": "/internal/prestop", "port": 8080}}},
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "runAsNonRoot": true,
                        "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"},
                        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                        "procMount": "Default",
                    },
                }],
                "ephemeralContainers": [{"name": "debug", "image": "x", "securityContext": restricted}],
            },
        }},
    })
}

/// The pod template spec of a document made by [`good`].
fn spec(doc: &mut Value) -> &mut Value {
    &mut doc["spec"]["template"]["spec"]
}

fn container<'a>(doc: &'a mut Value, list: &str) -> &'a mut Value {
    &mut spec(doc)[list][0]
}

/// The rules `doc`'s pod template breaks at `level`, sorted, without repeats.
fn broken(doc: &Value, level: Level) -> Vec<&'static str> {
    let pod = Pod::of(doc).expect("a workload");
    let mut rules: Vec<&str> = pss::violations(&pod, level)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

type Mutation = fn(&mut Value);

/// Runs one case: the mutation must break exactly `rule` at the rule's own level, and the
/// rule must still fire at restricted (which includes every baseline rule).
fn case(rule: &str, mutate: Mutation) {
    let level = RULES
        .iter()
        .find(|r| r.name == rule)
        .unwrap_or_else(|| panic!("no rule {rule}"))
        .level;
    let mut doc = good();
    assert_eq!(broken(&doc, Level::Restricted), Vec::<&str>::new());
    mutate(&mut doc);
    assert_eq!(broken(&doc, level), vec![rule], "at {level:?}");
    assert!(broken(&doc, Level::Restricted).contains(&rule));
}

macro_rules! cases {
    ($($test:ident: $rule:literal => $mutate:expr;)*) => {
        /// Every case, for the coverage check: (test name, rule).
        const CASES: &[(&str, &str)] = &[$((stringify!($test), $rule)),*];
        $(
            #[doc = concat!("Pins rule `", $rule, "`: a pod template that breaks it is rejected.")]
            #[test]
            fn $test() {
                case($rule, $mutate);
            }
        )*
    };
}

cases! {
    pss_host_process_pod: "hostProcess" =>
        |d| spec(d)["securityContext"]["windowsOptions"] = json!({"hostProcess": true});
    pss_host_process_ephemeral_container: "hostProcess" =>
        |d| container(d, "ephemeralContainers")["securityContext"]["windowsOptions"] = json!({"hostProcess": true});
    pss_host_network: "hostNamespaces" => |d| spec(d)["hostNetwork"] = json!(true);
    pss_host_pid: "hostNamespaces" => |d| spec(d)["hostPID"] = json!(true);
    pss_host_ipc: "hostNamespaces" => |d| spec(d)["hostIPC"] = json!(true);
    pss_privileged_init_container: "privileged" =>
        |d| container(d, "initContainers")["securityContext"]["privileged"] = json!(true);
    pss_capability_outside_the_baseline_set: "capabilities_baseline" =>
        |d| container(d, "containers")["securityContext"]["capabilities"]["add"] = json!(["SYS_ADMIN"]);
    pss_host_path_volume: "hostPathVolumes" =>
        |d| spec(d)["volumes"].as_array_mut().unwrap().push(json!({"name": "h", "hostPath": {"path": "/"}}));
    pss_host_port: "hostPorts" => |d| container(d, "containers")["ports"][0]["hostPort"] = json!(8080);
    pss_probe_host: "hostProbesAndLifecycle" =>
        |d| container(d, "containers")["readinessProbe"]["httpGet"]["host"] = json!("10.0.0.1");
    pss_tcp_probe_host: "hostProbesAndLifecycle" =>
        |d| container(d, "containers")["livenessProbe"]["tcpSocket"]["host"] = json!("node");
    pss_prestop_host: "hostProbesAndLifecycle" =>
        |d| container(d, "containers")["lifecycle"]["preStop"]["httpGet"]["host"] = json!("10.0.0.1");
    pss_apparmor_unconfined_field: "appArmor" =>
        |d| container(d, "containers")["securityContext"]["appArmorProfile"] = json!({"type": "Unconfined"});
    pss_apparmor_unconfined_annotation: "appArmor" =>
        |d| d["spec"]["template"]["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/app"] = json!("unconfined");
    pss_selinux_type: "seLinux" => |d| spec(d)["securityContext"]["seLinuxOptions"]["type"] = json!("spc_t");
    pss_selinux_type_newer_than_1_29: "seLinux" =>
        |d| spec(d)["securityContext"]["seLinuxOptions"]["type"] = json!("container_engine_t");
    pss_selinux_user: "seLinux" =>
        |d| container(d, "initContainers")["securityContext"]["seLinuxOptions"] = json!({"user": "system_u"});
    pss_selinux_role: "seLinux" =>
        |d| container(d, "containers")["securityContext"]["seLinuxOptions"] = json!({"role": "sysadm_r"});
    pss_proc_mount_unmasked: "procMount" =>
        |d| container(d, "containers")["securityContext"]["procMount"] = json!("Unmasked");
    pss_seccomp_unconfined: "seccomp_baseline" =>
        |d| spec(d)["securityContext"]["seccompProfile"]["type"] = json!("Unconfined");
    pss_unsafe_sysctl: "sysctls" =>
        |d| spec(d)["securityContext"]["sysctls"][0]["name"] = json!("kernel.msgmax");
    pss_sysctl_newer_than_1_29: "sysctls" =>
        |d| spec(d)["securityContext"]["sysctls"][0]["name"] = json!("net.ipv4.tcp_rmem");
    pss_nfs_volume: "volumeTypes" =>
        |d| spec(d)["volumes"].as_array_mut().unwrap().push(json!({"name": "n", "nfs": {"server": "s", "path": "/"}}));
    pss_privilege_escalation_unset: "allowPrivilegeEscalation" =>
        |d| { container(d, "containers")["securityContext"].as_object_mut().unwrap().remove("allowPrivilegeEscalation"); };
    pss_privilege_escalation_true_in_init_container: "allowPrivilegeEscalation" =>
        |d| container(d, "initContainers")["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    pss_run_as_non_root_false: "runAsNonRoot" =>
        |d| container(d, "ephemeralContainers")["securityContext"]["runAsNonRoot"] = json!(false);
    pss_run_as_non_root_unset: "runAsNonRoot" => |d| {
        spec(d)["securityContext"].as_object_mut().unwrap().remove("runAsNonRoot");
        container(d, "containers")["securityContext"].as_object_mut().unwrap().remove("runAsNonRoot");
    };
    pss_run_as_user_0_pod: "runAsUser" => |d| spec(d)["securityContext"]["runAsUser"] = json!(0);
    pss_run_as_user_0_container: "runAsUser" =>
        |d| container(d, "initContainers")["securityContext"]["runAsUser"] = json!(0);
    pss_seccomp_unset: "seccomp_restricted" => |d| {
        spec(d)["securityContext"].as_object_mut().unwrap().remove("seccompProfile");
        container(d, "containers")["securityContext"].as_object_mut().unwrap().remove("seccompProfile");
    };
    pss_capabilities_drop_missing: "capabilities_restricted" =>
        |d| container(d, "ephemeralContainers")["securityContext"]["capabilities"]["drop"] = json!([]);
    pss_capability_allowed_by_baseline_only: "capabilities_restricted" =>
        |d| container(d, "containers")["securityContext"]["capabilities"]["add"] = json!(["CHOWN"]);
}

/// Every rule of the table has at least one case that breaks it.
#[test]
fn pss_every_rule_has_a_case() {
    let missing: Vec<&str> = RULES
        .iter()
        .map(|r| r.name)
        .filter(|name| !CASES.iter().any(|(_, rule)| rule == name))
        .collect();
    assert!(missing.is_empty(), "rules without a case: {missing:?}");
}

/// A pod that sets nothing is what the standard calls the default pod: baseline admits it,
/// restricted rejects it for exactly the four settings it requires.
#[test]
fn pss_default_pod_passes_baseline_only() {
    let pod = json!({"kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"containers": [{"name": "c", "image": "x"}]}});
    assert_eq!(broken(&pod, Level::Baseline), Vec::<&str>::new());
    let mut want = vec![
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "runAsNonRoot",
        "seccomp_restricted",
    ];
    want.sort();
    assert_eq!(broken(&pod, Level::Restricted), want);
}

/// The pod template is found in every workload kind, and other kinds are not checked.
#[test]
fn pss_checks_the_pod_template_of_every_workload_kind() {
    let bad = json!({"spec": {"hostPID": true, "containers": [{"name": "c", "image": "x"}]}});
    let template = |kind: &str| match kind {
        "Pod" => json!({"kind": "Pod", "metadata": {"name": "w"}, "spec": bad["spec"]}),
        "CronJob" => json!({"kind": kind, "metadata": {"name": "w"},
                            "spec": {"jobTemplate": {"spec": {"template": bad}}}}),
        _ => json!({"kind": kind, "metadata": {"name": "w"}, "spec": {"template": bad}}),
    };
    for kind in [
        "Pod",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
    ] {
        let yaml = serde_json::to_string(&template(kind)).unwrap();
        let err = pss::check_yaml(&yaml, Level::Baseline).expect_err(kind);
        assert!(err[0].contains("hostNamespaces"), "{kind}: {err:?}");
    }
    let service = r#"{"kind": "Service", "metadata": {"name": "s"}, "spec": {"hostPID": true}}"#;
    assert_eq!(pss::check_yaml(service, Level::Restricted), Ok(0));
}

// --- schema validation (kubernetes-validate) -------------------------------------------

/// A temp file holding `docs` as a YAML stream; removed on drop.
struct Manifest(std::path::PathBuf);

impl Manifest {
    fn new(name: &str, docs: &[Value]) -> Self {
        let path = std::env::temp_dir().join(format!(
            "hello-world-manifests-{}-{name}.yaml",
            std::process::id()
        ));
        let text: Vec<String> = docs
            .iter()
            .map(|d| serde_norway::to_string(d).unwrap())
            .collect();
        std::fs::write(&path, text.join("---\n")).unwrap();
        Manifest(path)
    }
}

impl Drop for Manifest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn validate(
    name: &str,
    docs: &[Value],
    versions: &[&str],
    crds: &[&str],
) -> Result<usize, Vec<String>> {
    let file = Manifest::new(name, docs);
    schema::validate(&[file.0.as_path()], versions, crds)
}

fn config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}})
}

#[track_caller]
fn assert_rejected(result: Result<usize, Vec<String>>, needle: &str) {
    let problems = result.expect_err("must be rejected");
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected {needle:?} in {problems:#?}"
    );
}

/// The good manifests pass for every supported version: each document counted once per version.
#[test]
fn schema_accepts_good_manifests_for_1_29_to_1_35() {
    let mut doc = good();
    // The securityContext field appArmorProfile exists from 1.30 on (1.29 has the annotation).
    let psc = spec(&mut doc)["securityContext"].as_object_mut().unwrap();
    assert!(psc.remove("appArmorProfile").is_some());
    assert_eq!(
        validate("good", &[doc, config_map()], &KUBERNETES, &[]),
        Ok(2 * 7)
    );
}

/// Strict: a field no schema knows (a typo) is an error, not ignored.
#[test]
fn schema_rejects_an_unknown_field() {
    let mut doc = good();
    spec(&mut doc)["containers"][0]["readinesProbe"] = json!({});
    assert_rejected(
        validate("unknown", &[doc], &KUBERNETES, &[]),
        "'readinesProbe' was unexpected",
    );
}

#[test]
fn schema_rejects_a_wrong_type() {
    let mut doc = good();
    doc["spec"]["replicas"] = json!("two");
    assert_rejected(
        validate("type", &[doc], &["1.35.0"], &[]),
        "is not of type 'integer'",
    );
}

/// An API removed from the supported versions (autoscaling/v2beta2 went in 1.26) has no schema:
/// an error, where the plain CLI only warns.
#[test]
fn schema_rejects_a_removed_api() {
    let hpa = json!({"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
                     "metadata": {"name": "h"}, "spec": {"maxReplicas": 2,
                     "scaleTargetRef": {"kind": "Deployment", "name": "good"}}});
    assert_rejected(
        validate("removed", &[hpa], &["1.29.0"], &[]),
        "Couldn't find schema",
    );
}

/// Each version is checked with its own schema: pod-level `resources` exists from 1.32 on.
#[test]
fn schema_checks_each_version_with_its_own_schema() {
    let mut doc = good();
    spec(&mut doc)["resources"] = json!({"limits": {"memory": "64Mi"}});
    let docs = [doc];
    assert_eq!(
        validate("new-field", &docs, &["1.32.0", "1.35.0"], &[]),
        Ok(2)
    );
    let problems = validate("new-field", &docs, &KUBERNETES, &[]).expect_err("1.29-1.31 reject it");
    for v in ["1.29.0", "1.30.0", "1.31.0"] {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(&format!("k8s {v}: ERROR"))),
            "{v}: {problems:#?}"
        );
    }
    assert!(
        !problems.iter().any(|p| p.starts_with("k8s 1.32.0")),
        "{problems:#?}"
    );
}

/// A CRD kind passes only when named (it has no built-in schema), and then nothing else.
#[test]
fn schema_allows_only_the_named_crds() {
    let monitor = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                         "metadata": {"name": "m"}, "spec": {}});
    let docs = [monitor, config_map()];
    assert_rejected(validate("crd", &docs, &["1.35.0"], &[]), "ServiceMonitor");
    assert_eq!(
        validate("crd", &docs, &["1.35.0"], &["ServiceMonitor"]),
        Ok(2)
    );
    assert_rejected(
        validate("crd", &docs, &["1.35.0"], &["HTTPRoute"]),
        "ServiceMonitor",
    );
}

/// A document without kind/apiVersion is an error (the tool reports it and skips it).
#[test]
fn schema_rejects_a_document_without_a_kind() {
    assert_rejected(
        validate(
            "nokind",
            &[json!({"foo": "bar"}), config_map()],
            &["1.35.0"],
            &[],
        ),
        "could not be validated",
    );
}

// --- podman kube play smoke ------------------------------------------------------------

use super::play;

/// A Deployment running the project's image, as the chart renders it in essence.
fn image_deployment(grace: u64, env: Value, security: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "smoke", "namespace": "hello"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "smoke"}}, "template": {
            "metadata": {"labels": {"app": "smoke"}},
            "spec": {
                "terminationGracePeriodSeconds": grace,
                "securityContext": security,
                "containers": [{
                    "name": "app", "image": "hello-world:1.0.0",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "env": env,
                    "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}},
                    "livenessProbe": {"tcpSocket": {"port": 8080}},
                }],
            },
        }},
    })
}

/// What podman gets: hooks and ignored kinds dropped, one replica, every port on a free
/// 127.0.0.1 port, named probe ports resolved, fieldRefs podman cannot resolve pinned.
#[test]
fn kube_play_prepare_fixes_the_manifest_for_podman() {
    let env = json!([
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]);
    let hook = json!({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "t", "annotations": {"helm.sh/hook": "test"}}});
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}});
    let docs = vec![
        image_deployment(45, env, json!({"runAsNonRoot": true})),
        hook,
        service,
        config_map(),
    ];
    let (kept, targets) = play::prepare(docs);
    let kinds: Vec<&str> = kept.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Deployment", "ConfigMap"]);
    assert_eq!(kept[0]["spec"]["replicas"], 1);
    let c = &kept[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["ports"][0]["hostIP"], "127.0.0.1");
    let host = c["ports"][0]["hostPort"].as_u64().unwrap() as u16;
    assert_eq!(
        c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(
        c["env"][1],
        json!({"name": "POD_NAMESPACE", "value": "hello"})
    );
    let t = &targets[0];
    assert_eq!(
        (t.pod.as_str(), t.container.as_str()),
        ("smoke-pod-0", "smoke-pod-0-app")
    );
    assert_eq!(
        t.probes[0],
        (
            "readinessProbe".to_string(),
            host,
            Some("/health/ready".to_string())
        )
    );
    assert_eq!(t.probes[1], ("livenessProbe".to_string(), host, None));
    assert_eq!((t.grace_seconds, t.run_as_non_root), (45, true));
}

/// The smoke run can fail: a root process under `runAsNonRoot: true` (which podman runs
/// anyway) and an app that outlives its grace period (a 5 s drain announce against a 1 s
/// grace period: podman SIGKILLs it, exit 137) are both reported.
#[test]
fn podman_kube_play_smoke_reports_root_and_a_missed_grace_period() {
    let build = std::process::Command::new("podman")
        .args([
            "build",
            "--format",
            "docker",
            "-f",
            "Dockerfile.distroless",
            "-t",
            "hello-world:1.0.0",
            ".",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("podman is required: apt-get install podman (scripts/test installs it)");
    assert!(
        build.status.success(),
        "podman build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let env = json!([{"name": "DRAIN_DELAY_SECONDS", "value": "5"},
                     {"name": "DRAIN_TIMEOUT_SECONDS", "value": "10"}]);
    let doc = image_deployment(1, env, json!({"runAsNonRoot": true, "runAsUser": 0}));
    let yaml = serde_norway::to_string(&doc).unwrap();
    let report = play::smoke(&yaml, std::time::Duration::from_secs(60));
    let all = report.lines.join("\n");
    let failures = report.failures();
    assert_eq!(failures.len(), 2, "{all}");
    assert!(failures[0].contains("runs as user \"0\""), "{all}");
    assert!(failures[1].contains("exit code 137"), "{all}");
    // The probes themselves answered: the failures are the two planted ones only.
    assert!(
        all.contains("ok   smoke-pod-0-app readinessProbe /health/ready"),
        "{all}"
    );
}
