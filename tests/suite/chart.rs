//! Tests of the Helm chart (`helm/hello-world`) and the plain manifests in `k8s/`.
//!
//! Everything here shells out with `std::process::Command` to the tools a chart
//! maintainer has anyway — no crate beyond `std` is needed:
//!
//! * `helm` (Helm v4) and `helm3` (Helm v3): lint, template, `install --dry-run=client`;
//! * `kubernetes-validate` (PyPI): strict schema validation for Kubernetes 1.29–1.35
//!   (`tests/suite/manifests/schema.rs`);
//! * the Pod Security Standards at `restricted` (`tests/suite/manifests/pss.rs`, our own Rust check);
//! * `kubectl kustomize`: builds `k8s/<env>`;
//! * `podman kube play` with a kubelet's probes, preStop and grace period emulated
//!   (`tests/suite/manifests/play.rs`): runs the default render with the real image.
//!
//! A missing tool fails the test with a message naming what to install; nothing is
//! skipped silently. Rendered YAML is checked with plain string matching on the
//! chart's own, fixed indentation, which keeps the assertions readable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::manifests;

/// Release name used everywhere, as in the tutorial (`helm install hello ...`).
const RELEASE: &str = "hello";
const CHART: &str = "helm/hello-world";
/// Kinds that have no built-in schema (CRDs); schema validation must be told.
const CRD_KINDS: [&str; 2] = ["ServiceMonitor", "HTTPRoute"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------

/// Where to get each tool, for the failure message.
fn install_hint(tool: &str) -> &'static str {
    match tool {
        "helm" => "Helm v4 as `helm` (https://helm.sh/docs/intro/install/)",
        "helm3" => "Helm v3 as `helm3` (https://github.com/helm/helm/releases, v3.x binary renamed to helm3)",
        "kubectl" => "kubectl (https://kubernetes.io/docs/tasks/tools/)",
        "podman" => "podman (apt-get install podman)",
        _ => "it",
    }
}

/// Panics with an install hint unless `tool` is on PATH (and, for Helm, the right major version).
fn require(tool: &str) {
    static SEEN: OnceLock<Mutex<HashMap<String, Result<(), String>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let result = seen
        .lock()
        .unwrap()
        .entry(tool.to_string())
        .or_insert_with(|| check_tool(tool))
        .clone();
    if let Err(msg) = result {
        panic!("{msg}");
    }
}

fn check_tool(tool: &str) -> Result<(), String> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if !on_path {
        return Err(format!(
            "`{tool}` not found on PATH: install {}",
            install_hint(tool)
        ));
    }
    let want = match tool {
        "helm" => "v4.",
        "helm3" => "v3.",
        _ => return Ok(()),
    };
    let out = Command::new(tool)
        .args(["version", "--short"])
        .output()
        .map_err(|e| format!("running `{tool} version`: {e}"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if version.starts_with(want) {
        Ok(())
    } else {
        Err(format!(
            "`{tool}` is {version:?}, expected {want}x: install {}",
            install_hint(tool)
        ))
    }
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `tool args...` in the repository root.
fn run(tool: &str, args: &[&str]) -> Output {
    require(tool);
    let out = Command::new(tool)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run_ok(tool: &str, args: &[&str]) -> String {
    let out = run(tool, args);
    assert!(
        out.ok,
        "`{tool} {}` failed:\n{}{}",
        args.join(" "),
        out.stdout,
        out.stderr
    );
    out.stdout
}

// ---------------------------------------------------------------------------------------
// Rendering helpers
// ---------------------------------------------------------------------------------------

/// `helm template hello helm/hello-world ARGS` with the given Helm binary.
fn template_with(helm: &str, args: &[&str]) -> Output {
    let mut all = vec!["template", RELEASE, CHART];
    all.extend_from_slice(args);
    run(helm, &all)
}

/// Renders with Helm 4 and fails the test on an error.
fn render(args: &[&str]) -> String {
    let out = template_with("helm", args);
    assert!(out.ok, "helm template {}: {}", args.join(" "), out.stderr);
    out.stdout
}

/// Renders with Helm 4 and Helm 3, expects both to fail, and returns both error texts.
fn render_err(args: &[&str]) -> Vec<String> {
    ["helm", "helm3"]
        .iter()
        .map(|helm| {
            let out = template_with(helm, args);
            assert!(
                !out.ok,
                "{helm} template {} should have failed, rendered:\n{}",
                args.join(" "),
                out.stdout
            );
            out.stderr
        })
        .collect()
}

/// The documents of a multi-document render.
fn documents(rendered: &str) -> Vec<&str> {
    rendered
        .split("\n---\n")
        .filter(|d| d.lines().any(|l| l.starts_with("kind: ")))
        .collect()
}

fn kinds(rendered: &str) -> Vec<String> {
    documents(rendered)
        .iter()
        .filter_map(|d| d.lines().find_map(|l| l.strip_prefix("kind: ")))
        .map(str::to_string)
        .collect()
}

/// The single document of `kind` (panics when there is none or more than one).
fn doc<'a>(rendered: &'a str, kind: &str) -> &'a str {
    let line = format!("kind: {kind}");
    let found: Vec<&str> = documents(rendered)
        .into_iter()
        .filter(|d| d.lines().any(|l| l == line))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind} in:\n{rendered}"
    );
    found[0]
}

#[track_caller]
fn assert_has(hay: &str, needle: &str) {
    assert!(hay.contains(needle), "expected\n{needle}\nin\n{hay}");
}

#[track_caller]
fn assert_lacks(hay: &str, needle: &str) {
    assert!(!hay.contains(needle), "did not expect\n{needle}\nin\n{hay}");
}

/// A temp file that is removed on drop; named after the test so parallel tests do not clash.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "hello-world-chart-{}-{name}.yaml",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Validates a set of named renders strictly against the schemas of Kubernetes 1.29–1.35 (or
/// `versions`) with `kubernetes-validate`, and checks every pod template in them against the
/// Pod Security Standards at `restricted`.
fn validate(renders: &[(String, String)], versions: Option<&[&str]>) {
    let files: Vec<TempFile> = renders
        .iter()
        .map(|(name, yaml)| TempFile::new(name, yaml))
        .collect();
    let paths: Vec<&Path> = files.iter().map(|f| Path::new(f.path())).collect();
    let versions = versions.unwrap_or(&manifests::schema::KUBERNETES);
    if let Err(problems) = manifests::schema::validate(&paths, versions, &CRD_KINDS) {
        panic!("schema validation:\n{}", problems.join("\n"));
    }
    for (name, yaml) in renders {
        let level = manifests::pss::Level::Restricted;
        match manifests::pss::check_yaml(yaml, level) {
            Ok(pods) => assert!(pods > 0, "{name}: no pod template to check"),
            Err(v) => panic!("{name}: Pod Security (restricted):\n{}", v.join("\n")),
        }
    }
}

/// Values that `values-prod.yaml` needs on top (it requires an admin token source).
const PROD: [&str; 4] = [
    "-f",
    "values-prod.yaml",
    "--set",
    "adminToken.existingSecret=hello-world-admin",
];

// ---------------------------------------------------------------------------------------
// Lint, validation, Pod Security
// ---------------------------------------------------------------------------------------

/// `helm lint --strict` passes with Helm 4 and Helm 3 for the default, dev, prod, all-features
/// and release-namespace values.
#[test]
fn lint_strict_passes_with_helm4_and_helm3() {
    let sets: [&[&str]; 5] = [
        &[],
        &["-f", "values-dev.yaml"],
        &PROD,
        &["-f", "helm/hello-world/ci/all-features-values.yaml"],
        &["-f", "helm/hello-world/ci/release-namespace-values.yaml"],
    ];
    for helm in ["helm", "helm3"] {
        for extra in sets {
            let mut args = vec!["lint", "--strict", CHART];
            args.extend_from_slice(extra);
            let out = run_ok(helm, &args);
            assert_has(&out, "1 chart(s) linted, 0 chart(s) failed");
        }
    }
}

/// Option toggles rendered, validated and Pod-Security-checked. Each entry is
/// (name, helm template args); the name shows up in validator messages.
fn toggle_matrix() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("default", vec![]),
        ("dev", vec!["-f", "values-dev.yaml"]),
        ("prod", PROD.to_vec()),
        ("kube-1.29", vec!["--kube-version", "1.29.0"]),
        ("prestop-exec", vec!["--set", "gracefulShutdown.preStopMode=exec"]),
        ("prestop-httpget", vec!["--set", "gracefulShutdown.preStopMode=httpGet"]),
        (
            "prestop-none",
            vec![
                "--set",
                "gracefulShutdown.preStopMode=none",
                "--set",
                "gracefulShutdown.drainDelaySeconds=8",
            ],
        ),
        ("startup-probe", vec!["--set", "probes.startup.enabled=true"]),
        (
            "probes-grpc",
            vec!["--set", "probes.type=grpc", "--set", "probes.startup.enabled=true"],
        ),
        (
            "probes-grpc-kube-1.29",
            vec!["--set", "probes.type=grpc", "--kube-version", "1.29.0"],
        ),
        (
            "experiments-faults",
            vec![
                "--set",
                "experiments.faultErrorRate=0.1",
                "--set",
                "experiments.faultDelaySeconds=0.1-0.5",
                "--set",
                "experiments.startReady=false",
                "--set",
                "experiments.readyDelaySeconds=2.5",
            ],
        ),
        ("autoscaling", vec!["--set", "autoscaling.enabled=true"]),
        (
            "autoscaling-memory",
            vec![
                "--set",
                "autoscaling.enabled=true",
                "--set",
                "autoscaling.targetMemoryUtilizationPercentage=75",
                "--set",
                "autoscaling.behavior.scaleDown.stabilizationWindowSeconds=120",
            ],
        ),
        ("networkpolicy-open", vec!["--set", "networkPolicy.enabled=true"]),
        (
            "servicemonitor",
            vec!["--set", "serviceMonitor.enabled=true"],
        ),
        (
            "httproute",
            vec![
                "--set",
                "httpRoute.enabled=true",
                "--set",
                "httpRoute.parentRefs[0].name=public",
                "--set",
                "httpRoute.parentRefs[0].namespace=gateway",
                "--set",
                "ingress.enabled=false",
            ],
        ),
        (
            "topology-spread",
            vec![
                "--set",
                "topologySpreadConstraints[0].maxSkew=1",
                "--set",
                "topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
                "--set",
                "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
            ],
        ),
        (
            "extra-env",
            vec!["--set", "extraEnv[0].name=FOO", "--set", "extraEnv[0].value=bar"],
        ),
        ("admin-inline", vec!["--set", "adminToken.value=s3cret"]),
        (
            "nodeport-no-ingress",
            vec![
                "--set",
                "service.type=NodePort",
                "--set",
                "service.nodePort=30080",
                "--set",
                "ingress.enabled=false",
            ],
        ),
        (
            "ingress-tls",
            vec![
                "--set",
                "ingress.tls[0].secretName=hello-tls",
                "--set",
                "ingress.tls[0].hosts[0]=hello.local",
            ],
        ),
        ("namespace-string", vec!["--set", "namespace=other"]),
        (
            "release-namespace",
            vec!["--namespace", "team", "--set", "namespace.create=false"],
        ),
        (
            "no-serviceaccount",
            vec!["--set", "serviceAccount.create=false"],
        ),
        (
            "pdb-max-unavailable",
            vec!["--set", "podDisruptionBudget.maxUnavailable=1"],
        ),
        (
            "workers-and-digest",
            vec![
                "--set",
                "config.workers=2",
                "--set",
                "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
        ),
        (
            "ci-all-features",
            vec!["-f", "helm/hello-world/ci/all-features-values.yaml"],
        ),
        (
            "ci-release-namespace",
            vec![
                "--namespace",
                "ct",
                "-f",
                "helm/hello-world/ci/release-namespace-values.yaml",
            ],
        ),
        (
            "everything-on",
            vec![
                "-f",
                "values-prod.yaml",
                "--set",
                "adminToken.value=s3cret",
                "--set",
                "autoscaling.enabled=true",
                "--set",
                "serviceMonitor.enabled=true",
                "--set",
                "httpRoute.enabled=true",
                "--set",
                "httpRoute.parentRefs[0].name=public",
                "--set",
                "probes.startup.enabled=true",
                "--set",
                "gracefulShutdown.preStopMode=exec",
            ],
        ),
    ]
}

/// Every toggle combination renders manifests that validate for Kubernetes 1.29–1.35 and pass Pod
/// Security `restricted`.
#[test]
fn every_toggle_renders_valid_restricted_manifests_for_kubernetes_1_29_to_1_35() {
    let renders: Vec<(String, String)> = toggle_matrix()
        .into_iter()
        .map(|(name, args)| (name.to_string(), render(&args)))
        .collect();
    // Helm 3 renders the default the same way (its built-in Kubernetes version is >= 1.30 too).
    let helm3 = template_with("helm3", &[]);
    assert!(helm3.ok, "helm3 template: {}", helm3.stderr);
    let mut all = renders;
    all.push(("helm3-default".into(), helm3.stdout));
    validate(&all, None);
}

/// The default render has the tutorial's resources, and each toggle adds the resources it names.
#[test]
fn toggles_add_the_expected_resources() {
    let base = kinds(&render(&[]));
    for k in [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "Ingress",
        "PodDisruptionBudget",
        "Pod", // the helm test hook
    ] {
        assert!(
            base.iter().any(|x| x == k),
            "default render lacks {k}: {base:?}"
        );
    }
    for k in [
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "ServiceMonitor",
        "HTTPRoute",
        "Secret",
    ] {
        assert!(!base.iter().any(|x| x == k), "default render has {k}");
    }
    for (name, args) in toggle_matrix() {
        let r = render(&args);
        let want: &[&str] = match name {
            "autoscaling" | "autoscaling-memory" => &["HorizontalPodAutoscaler"],
            "networkpolicy-open" | "prod" => &["NetworkPolicy"],
            "servicemonitor" => &["ServiceMonitor"],
            "httproute" => &["HTTPRoute"],
            "admin-inline" => &["Secret"],
            "everything-on" | "ci-all-features" => &[
                "HorizontalPodAutoscaler",
                "NetworkPolicy",
                "ServiceMonitor",
                "HTTPRoute",
                "Secret",
                "Ingress",
            ],
            _ => &[],
        };
        let have = kinds(&r);
        for k in want {
            assert!(have.iter().any(|x| x == k), "{name}: no {k} in {have:?}");
        }
    }
    // With the HPA in charge the Deployment must not pin replicas.
    let hpa = render(&["--set", "autoscaling.enabled=true"]);
    assert_lacks(doc(&hpa, "Deployment"), "replicas:");
    assert_has(
        doc(&hpa, "HorizontalPodAutoscaler"),
        "averageUtilization: 80",
    );
    // No ingress / no service account when switched off.
    assert!(!kinds(&render(&["--set", "ingress.enabled=false"])).contains(&"Ingress".to_string()));
    let no_sa = render(&["--set", "serviceAccount.create=false"]);
    assert!(!kinds(&no_sa).contains(&"ServiceAccount".to_string()));
    assert_has(doc(&no_sa, "Deployment"), "serviceAccountName: default");
}

// ---------------------------------------------------------------------------------------
// The tutorial's behaviour and names
// ---------------------------------------------------------------------------------------

/// The default render keeps the tutorial's names: release `hello` → `hello-hello-world`, namespace,
/// host `hello.local`, image, port 8080.
#[test]
fn default_render_matches_the_tutorial() {
    let r = render(&[]);
    let ns = doc(&r, "Namespace");
    assert_has(ns, "  name: hello\n");
    assert_has(ns, "pod-security.kubernetes.io/enforce: restricted");
    for kind in [
        "ConfigMap",
        "Service",
        "Deployment",
        "Ingress",
        "ServiceAccount",
        "PodDisruptionBudget",
    ] {
        let d = doc(&r, kind);
        assert_has(d, "  name: hello-hello-world\n");
        assert_has(d, "  namespace: hello\n");
    }
    let dep = doc(&r, "Deployment");
    assert_has(dep, "  replicas: 2\n");
    assert_has(dep, "image: \"hello-world:1.0.0\"");
    assert_has(dep, "imagePullPolicy: IfNotPresent");
    assert_has(dep, "- name: http\n              containerPort: 8080\n");
    assert_has(dep, "terminationGracePeriodSeconds: 45\n");
    assert_has(
        dep,
        "resources:\n            limits:\n              cpu: 250m\n              memory: 256Mi\n            requests:\n              cpu: 100m\n              memory: 128Mi",
    );
    assert_has(
        dep,
        "livenessProbe:\n            httpGet:\n              path: /health/live\n              port: http\n            initialDelaySeconds: 10\n            periodSeconds: 10\n            timeoutSeconds: 1\n            failureThreshold: 3",
    );
    assert_has(
        dep,
        "readinessProbe:\n            httpGet:\n              path: /health/ready\n              port: http\n            initialDelaySeconds: 5\n            periodSeconds: 5\n            timeoutSeconds: 1\n            failureThreshold: 3",
    );
    assert_lacks(dep, "startupProbe");
    assert_has(
        dep,
        "selector:\n    matchLabels:\n      app.kubernetes.io/name: hello-world\n      app.kubernetes.io/instance: hello\n",
    );

    let svc = doc(&r, "Service");
    assert_has(svc, "type: ClusterIP");
    assert_has(svc, "port: 80\n      targetPort: 8080\n");

    let ing = doc(&r, "Ingress");
    assert_has(ing, "ingressClassName: nginx");
    assert_has(ing, "- host: \"hello.local\"");
    assert_has(
        ing,
        "name: hello-hello-world\n                port:\n                  name: http",
    );

    let cm = doc(&r, "ConfigMap");
    for line in [
        "APP_ENV: \"production\"",
        "APP_VERSION: \"1.0.0\"",
        "LOG_LEVEL: \"info\"",
        "GREETING: \"Hello World\"",
        "ACCESS_LOG: \"true\"",
    ] {
        assert_has(cm, line);
    }
    assert_lacks(cm, "WORKERS");
}

/// values-dev.yaml and values-prod.yaml render the tutorial's replicas, resources and log levels
/// (no PodDisruptionBudget for one dev pod).
#[test]
fn dev_and_prod_values_follow_the_tutorial() {
    let dev = render(&["-f", "values-dev.yaml"]);
    let dep = doc(&dev, "Deployment");
    assert_has(dep, "  replicas: 1\n");
    assert_has(dep, "cpu: 100m\n              memory: 128Mi\n            requests:\n              cpu: 50m\n              memory: 64Mi");
    assert_has(doc(&dev, "ConfigMap"), "APP_ENV: \"development\"");
    assert_has(doc(&dev, "ConfigMap"), "LOG_LEVEL: \"debug\"");
    // One pod: a PodDisruptionBudget would block node drains.
    assert!(!kinds(&dev).contains(&"PodDisruptionBudget".to_string()));

    let prod = render(&PROD);
    let dep = doc(&prod, "Deployment");
    assert_has(dep, "  replicas: 3\n");
    assert_has(dep, "cpu: 500m\n              memory: 512Mi\n            requests:\n              cpu: 200m\n              memory: 256Mi");
    assert_has(doc(&prod, "ConfigMap"), "LOG_LEVEL: \"warning\"");
    assert_has(
        dep,
        "- name: ADMIN_TOKEN\n              valueFrom:\n                secretKeyRef:\n                  name: hello-world-admin\n                  key: token",
    );
    assert_has(dep, "topologyKey: topology.kubernetes.io/zone");
    assert_has(doc(&prod, "PodDisruptionBudget"), "minAvailable: 2");
    assert_has(
        doc(&prod, "NetworkPolicy"),
        "kubernetes.io/metadata.name: ingress-nginx",
    );
}

/// `probes.type=grpc` renders Kubernetes' native gRPC probes on the container port (a number:
/// the `grpc` handler takes no port names): liveness and startup ask for the app's `liveness`
/// service, readiness for `""` (readiness, NOT_SERVING from the first drain signal on).
#[test]
fn grpc_probes_ask_the_health_service_on_the_container_port() {
    let r = render(&[
        "--set",
        "probes.type=grpc",
        "--set",
        "probes.startup.enabled=true",
    ]);
    let dep = doc(&r, "Deployment");
    assert_has(
        dep,
        "startupProbe:\n            grpc:\n              port: 8080\n              service: \"liveness\"\n            periodSeconds: 2",
    );
    assert_has(
        dep,
        "livenessProbe:\n            grpc:\n              port: 8080\n              service: \"liveness\"\n            initialDelaySeconds: 10",
    );
    assert_has(
        dep,
        "readinessProbe:\n            grpc:\n              port: 8080\n              service: \"\"\n            initialDelaySeconds: 5",
    );
    assert_lacks(dep, "httpGet:\n              path: /health");
    let moved = render(&[
        "--set",
        "probes.type=grpc",
        "--set",
        "containerPort=9090",
        "--set",
        "service.targetPort=9090",
    ]);
    assert_has(
        doc(&moved, "Deployment"),
        "grpc:\n              port: 9090\n",
    );
}

/// The experiment variables reach the ConfigMap; production turns the experiments off and
/// then renders no fault or stress variable at all.
#[test]
fn experiment_values_reach_the_configmap_and_prod_turns_them_off() {
    let cm = render(&[]);
    let cm = doc(&cm, "ConfigMap");
    for line in [
        "EXPERIMENTS: \"true\"",
        "START_READY: \"true\"",
        "READY_DELAY_SECONDS: \"0\"",
        "FAULT_ERROR_RATE: \"0\"",
        "STRESS_MAX_MIB: \"4096\"",
    ] {
        assert_has(cm, line);
    }
    assert_has(cm, "FAULT_DELAY_SECONDS: \"0\"");
    let set = render(&[
        "--set",
        "experiments.faultDelaySeconds=0.1-0.5",
        "--set",
        "experiments.startReady=false",
        "--set",
        "experiments.readyDelaySeconds=2.5",
        "--set",
        "experiments.faultErrorRate=0.25",
    ]);
    let cm = doc(&set, "ConfigMap");
    assert_has(cm, "FAULT_DELAY_SECONDS: \"0.1-0.5\"");
    assert_has(cm, "START_READY: \"false\"");
    assert_has(cm, "READY_DELAY_SECONDS: \"2.5\"");
    assert_has(cm, "FAULT_ERROR_RATE: \"0.25\"");
    let prod = render(&PROD);
    let cm = doc(&prod, "ConfigMap");
    assert_has(cm, "EXPERIMENTS: \"false\"");
    for var in ["FAULT_ERROR_RATE", "FAULT_DELAY_SECONDS", "STRESS_MAX_MIB"] {
        assert_lacks(cm, var);
    }
}

/// The tutorial runs `helm upgrade hello ./helm/hello-world -f values-dev.yaml` from the
/// repository root; the root files are symlinks to the chart's copies, so there is one source.
#[test]
fn root_values_files_are_symlinks_into_the_chart() {
    for name in ["values-dev.yaml", "values-prod.yaml"] {
        let link = repo().join(name);
        let meta = std::fs::symlink_metadata(&link)
            .unwrap_or_else(|e| panic!("{name} missing at the repo root: {e}"));
        assert!(meta.file_type().is_symlink(), "{name} should be a symlink");
        assert_eq!(
            std::fs::canonicalize(&link).unwrap(),
            std::fs::canonicalize(repo().join(CHART).join(name)).unwrap(),
            "{name} must point at {CHART}/{name}"
        );
    }
}

/// The tutorial's commands, as Helm 4 client-side dry runs (no cluster here; an upgrade
/// needs the release history, so each upgrade's flags are checked through `install`).
#[test]
fn tutorial_commands_dry_run_with_helm4() {
    let dry = |extra: &[&str]| {
        let mut args = vec!["install", RELEASE, "./helm/hello-world", "--dry-run=client"];
        args.extend_from_slice(extra);
        let out = run_ok("helm", &args);
        assert_has(&out, "STATUS: pending-install");
        assert_has(&out, "curl http://hello.local/");
        out
    };
    let plain = dry(&[]);
    assert_has(&plain, "kind: Namespace\nmetadata:\n  name: hello\n");
    assert_has(&plain, "  replicas: 2\n");

    let debug = dry(&["--set", "config.logLevel=debug"]);
    assert_has(&debug, "LOG_LEVEL: \"debug\"");
    // The ConfigMap change rolls the pods: its checksum is in the pod template.
    assert_ne!(checksum(&plain), checksum(&debug));

    let v2 = dry(&["--set", "image.tag=2.0.0", "--set", "app.version=2.0.0"]);
    assert_has(&v2, "image: \"hello-world:2.0.0\"");
    assert_has(&v2, "APP_VERSION: \"2.0.0\"");

    let dev = dry(&["-f", "values-dev.yaml"]);
    assert_has(&dev, "  replicas: 1\n");
    assert_has(&dev, "APP_ENV: \"development\"");

    let prod = dry(&PROD);
    assert_has(&prod, "  replicas: 3\n");
}

fn checksum(rendered: &str) -> String {
    rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("checksum/config: "))
        .unwrap_or_else(|| panic!("no checksum/config annotation in:\n{rendered}"))
        .to_string()
}

// ---------------------------------------------------------------------------------------
// Fields that matter for draining and security
// ---------------------------------------------------------------------------------------

const NATIVE_SLEEP: &str = "preStop:\n              # Native sleep action (Kubernetes >= 1.30): the kubelet waits, nothing runs in the container.\n              sleep:\n                seconds: 10\n";
const EXEC_SLEEP: &str = "exec:\n                command: [\"/hello-world\", \"sleep\", \"10\"]\n";

/// The preStop hook is the native `sleep` action on Kubernetes >= 1.30 and `exec /hello-world
/// sleep` below.
#[test]
fn prestop_form_follows_the_kubernetes_version() {
    for helm in ["helm", "helm3"] {
        let old = template_with(helm, &["--kube-version", "1.29.0"]);
        assert!(old.ok, "{helm}: {}", old.stderr);
        assert_has(&old.stdout, EXEC_SLEEP);
        assert_lacks(&old.stdout, "sleep:\n");
        for v in ["1.30.0", "1.33.2", "1.35.0"] {
            let new = template_with(helm, &["--kube-version", v]);
            assert!(new.ok, "{helm} {v}: {}", new.stderr);
            assert_has(&new.stdout, NATIVE_SLEEP);
            assert_lacks(&new.stdout, "exec:");
        }
    }
    // Explicit modes.
    let exec = render(&["--set", "gracefulShutdown.preStopMode=exec"]);
    assert_has(&exec, EXEC_SLEEP);
    let http = render(&["--set", "gracefulShutdown.preStopMode=httpGet"]);
    assert_has(
        &http,
        "httpGet:\n                path: /internal/prestop?seconds=10\n                port: http\n",
    );
    assert_has(
        &http,
        "- name: PRESTOP_ENDPOINT\n              value: \"true\"",
    );
    let none = render(&[
        "--set",
        "gracefulShutdown.preStopMode=none",
        "--set",
        "gracefulShutdown.terminationGracePeriodSeconds=35",
    ]);
    assert_lacks(&none, "lifecycle:");
    let zero = render(&["--set", "gracefulShutdown.preStopSleepSeconds=0"]);
    assert_lacks(&zero, "lifecycle:");
    for r in [&exec, &none, &render(&[])] {
        assert_lacks(r, "PRESTOP_ENDPOINT");
    }
    // Never a shell: the distroless image has none.
    for (name, args) in toggle_matrix() {
        let r = render(&args);
        assert_lacks(&r, "/bin/sh");
        assert_lacks(&r, "\"sh\"");
        let _ = name;
    }
    // Below the tested range (the tutorial's sample output shows a 1.28 minikube): a clear refusal.
    for e in render_err(&["--kube-version", "1.28.0"]) {
        assert_has(&e, "chart requires kubeVersion: >=1.29.0-0");
    }
    // Native sleep asked for explicitly on a cluster that lacks it: refuse.
    for e in render_err(&[
        "--kube-version",
        "1.29.0",
        "--set",
        "gracefulShutdown.preStopMode=sleep",
    ]) {
        assert_has(&e, "preStopMode=sleep needs Kubernetes >= 1.30");
    }
    for e in render_err(&[
        "--set",
        "gracefulShutdown.preStopMode=exec",
        "--set",
        "gracefulShutdown.preStopSleepSeconds=0",
    ]) {
        assert_has(
            &e,
            "preStopMode=exec needs gracefulShutdown.preStopSleepSeconds > 0",
        );
    }
}

/// terminationGracePeriodSeconds below preStop + drain timeout + 5 s is refused at render time,
/// with a message giving the numbers.
#[test]
fn termination_budget_is_enforced_at_render_time() {
    // The tutorial's numbers sit exactly on the limit: 45 >= 10 + 30 + 5.
    assert_has(&render(&[]), "# Budget: 45 >= preStop 10 + drain 30 + 5.");
    for e in render_err(&["--set", "gracefulShutdown.terminationGracePeriodSeconds=44"]) {
        assert_has(
            &e,
            "termination budget: gracefulShutdown.terminationGracePeriodSeconds (44) must be >= preStop (10) + drainTimeoutSeconds (30) + 5 = 45",
        );
    }
    for e in render_err(&["--set", "gracefulShutdown.preStopSleepSeconds=15"]) {
        assert_has(
            &e,
            "(45) must be >= preStop (15) + drainTimeoutSeconds (30) + 5 = 50",
        );
    }
    for e in render_err(&["--set", "gracefulShutdown.drainTimeoutSeconds=31"]) {
        assert_has(&e, "drainTimeoutSeconds (31) + 5 = 46");
    }
    // A fractional drain timeout is rounded up.
    // (`--set` hands "30.5" over as a string; the schema accepts decimal strings too.)
    for e in render_err(&["--set", "gracefulShutdown.drainTimeoutSeconds=30.5"]) {
        assert_has(&e, "drainTimeoutSeconds (30.5) + 5 = 46");
    }
    for e in render_err(&["--set-json", "gracefulShutdown.drainTimeoutSeconds=30.5"]) {
        assert_has(&e, "drainTimeoutSeconds (30.5) + 5 = 46");
    }
    let half = render(&["--set", "gracefulShutdown.drainDelaySeconds=0.5"]);
    assert_has(
        &half,
        "- name: DRAIN_DELAY_SECONDS\n              value: \"0.5\"",
    );
    // Without a preStop hook the hook's seconds do not count.
    render(&[
        "--set",
        "gracefulShutdown.preStopMode=none",
        "--set",
        "gracefulShutdown.terminationGracePeriodSeconds=35",
    ]);
    // Shorter drain, shorter grace: fine.
    render(&[
        "--set",
        "gracefulShutdown.drainTimeoutSeconds=20",
        "--set",
        "gracefulShutdown.terminationGracePeriodSeconds=35",
    ]);
    for e in render_err(&["--set", "gracefulShutdown.drainDelaySeconds=30"]) {
        assert_has(
            &e,
            "gracefulShutdown.drainDelaySeconds (30) must be below gracefulShutdown.drainTimeoutSeconds (30)",
        );
    }
}

/// The container environment, security context, config checksum annotation and rollout strategy are
/// pinned.
#[test]
fn env_security_context_checksum_and_strategy_are_pinned() {
    let r = render(&[]);
    let dep = doc(&r, "Deployment");
    for (var, path) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
        ("NODE_NAME", "spec.nodeName"),
    ] {
        assert_has(
            dep,
            &format!("- name: {var}\n              valueFrom:\n                fieldRef:\n                  fieldPath: {path}\n"),
        );
    }
    assert_has(dep, "- name: PORT\n              value: \"8080\"");
    assert_has(
        dep,
        "- name: DRAIN_TIMEOUT_SECONDS\n              value: \"30\"",
    );
    assert_has(
        dep,
        "- name: DRAIN_DELAY_SECONDS\n              value: \"2\"",
    );
    assert_has(
        dep,
        "envFrom:\n            - configMapRef:\n                name: hello-hello-world\n",
    );
    assert_lacks(dep, "ADMIN_TOKEN");

    // Restricted Pod Security, pod and container level.
    assert_has(
        dep,
        "      securityContext:\n        fsGroup: 65532\n        runAsGroup: 65532\n        runAsNonRoot: true\n        runAsUser: 65532\n        seccompProfile:\n          type: RuntimeDefault\n",
    );
    assert_has(
        dep,
        "          securityContext:\n            allowPrivilegeEscalation: false\n            capabilities:\n              drop:\n              - ALL\n            readOnlyRootFilesystem: true\n            runAsGroup: 65532\n            runAsNonRoot: true\n            runAsUser: 65532\n            seccompProfile:\n              type: RuntimeDefault\n",
    );
    assert_has(dep, "automountServiceAccountToken: false");
    assert_has(dep, "serviceAccountName: hello-hello-world");
    assert_has(
        doc(&r, "ServiceAccount"),
        "automountServiceAccountToken: false",
    );

    // Rollout safety.
    assert_has(
        dep,
        "strategy:\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n    type: RollingUpdate\n",
    );
    assert_has(dep, "minReadySeconds: 5\n");
    assert_has(dep, "revisionHistoryLimit: 5\n");
    assert_has(dep, "progressDeadlineSeconds: 300\n");

    // The checksum follows the ConfigMap, and only the ConfigMap.
    let base = checksum(&r);
    assert_eq!(base.len(), 64, "sha256 hex: {base}");
    for set in [
        "config.logLevel=debug",
        "config.greeting=Hi",
        "app.version=2.0.0",
        "config.accessLog=false",
    ] {
        assert_ne!(checksum(&render(&["--set", set])), base, "{set}");
    }
    for set in ["replicaCount=3", "image.tag=2.0.0", "service.port=8081"] {
        assert_eq!(checksum(&render(&["--set", set])), base, "{set}");
    }
    // An inline admin token gets its own checksum, so rotating it rolls the pods too.
    let a = render(&["--set", "adminToken.value=one"]);
    let b = render(&["--set", "adminToken.value=two"]);
    let sum = |r: &str| {
        r.lines()
            .find_map(|l| l.trim().strip_prefix("checksum/admin-token: "))
            .map(str::to_string)
    };
    assert!(sum(&a).is_some());
    assert_ne!(sum(&a), sum(&b));
    assert_has(doc(&a, "Secret"), "token: \"b25l\"");

    // PDB only with more than one pod.
    assert!(
        !kinds(&render(&["--set", "replicaCount=1"])).contains(&"PodDisruptionBudget".to_string())
    );
    let hpa1 = render(&[
        "--set",
        "replicaCount=1",
        "--set",
        "autoscaling.enabled=true",
    ]);
    assert!(kinds(&hpa1).contains(&"PodDisruptionBudget".to_string()));
}

/// `namespace` accepts the tutorial's plain string and the object form.
#[test]
fn namespace_value_accepts_the_tutorial_string_and_the_object_form() {
    // Tutorial form: a string names the namespace to create and use.
    let r = render(&["--set", "namespace=other"]);
    assert_has(doc(&r, "Namespace"), "  name: other\n");
    assert_has(doc(&r, "Deployment"), "  namespace: other\n");
    // Conventional form: the release namespace, nothing created.
    let r = render(&["--namespace", "team", "--set", "namespace.create=false"]);
    assert!(!kinds(&r).contains(&"Namespace".to_string()));
    for d in documents(&r) {
        assert_has(d, "  namespace: team\n");
    }
    // Keeping the namespace on uninstall, or no Pod Security label.
    let r = render(&[
        "--set",
        "namespace.keepOnUninstall=true",
        "--set",
        "namespace.podSecurity=",
    ]);
    let ns = doc(&r, "Namespace");
    assert_has(ns, "helm.sh/resource-policy: keep");
    assert_lacks(ns, "pod-security.kubernetes.io");
}

/// `helm test`'s pod runs the image's own `healthcheck` subcommand.
#[test]
fn helm_test_runs_the_images_own_healthcheck() {
    let r = render(&[]);
    let pod = doc(&r, "Pod");
    assert_has(pod, "helm.sh/hook: test");
    assert_has(
        pod,
        "helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded",
    );
    assert_has(
        pod,
        "command:\n        - /hello-world\n        - healthcheck\n        - http://hello-hello-world:80/health/ready\n",
    );
    assert_has(pod, "  namespace: hello\n");
    assert_lacks(pod, "curl");
    // The test pod must not match the Deployment's selector.
    assert_lacks(pod, "app.kubernetes.io/name: hello-world");
    // And a NetworkPolicy with a restricted source list still lets it in.
    let np = render(&PROD);
    assert_has(
        doc(&np, "NetworkPolicy"),
        "app.kubernetes.io/instance: hello\n              app.kubernetes.io/component: helm-test",
    );
}

// ---------------------------------------------------------------------------------------
// Bad values are rejected, naming the value
// ---------------------------------------------------------------------------------------

/// Bad values are rejected by the chart with a message naming the value.
#[test]
fn bad_values_are_rejected_with_a_message_naming_them() {
    let cases: [(&[&str], &str); 16] = [
        (&["--set", "replicaCount=abc"], "replicaCount"),
        (&["--set", "replicaCont=3"], "replicaCont"),
        (&["--set", "image.tagg=1"], "tagg"),
        (
            &["--set", "gracefulShutdown.terminationGracePeriodSeconds=-1"],
            "terminationGracePeriodSeconds",
        ),
        (
            &["--set", "gracefulShutdown.preStopMode=bogus"],
            "preStopMode",
        ),
        (&["--set", "config.logLevel=verbose"], "logLevel"),
        (&["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (&["--set", "service.type=ExternalName"], "type"),
        (&["--set", "containerPort=70000"], "containerPort"),
        (
            &["--set", "service.targetPort=9090"],
            "service.targetPort (9090) must equal containerPort (8080)",
        ),
        (
            &["-f", "values-prod.yaml"],
            "existingSecret", // the schema names it (Helm 4: `/adminToken/existingSecret`, Helm 3: `adminToken.existingSecret`)
        ),
        (
            &["--set", "httpRoute.enabled=true"],
            "httpRoute.enabled is true: set httpRoute.parentRefs",
        ),
        (
            &[
                "--set",
                "gracefulShutdown.preStopMode=httpGet",
                "--set",
                "adminToken.existingSecret=hello-admin",
            ],
            "preStopMode=httpGet cannot be combined with an admin token",
        ),
        (&["--set", "probes.type=tcp"], "type"),
        (
            &[
                "--set",
                "experiments.enabled=false",
                "--set",
                "experiments.faultDelaySeconds=1",
            ],
            "need experiments.enabled=true",
        ),
        (
            &["--set", "experiments.faultErrorRate=1.5"],
            "faultErrorRate",
        ),
    ];
    for (args, needle) in cases {
        for e in render_err(args) {
            assert_has(&e, needle);
        }
    }
}

// ---------------------------------------------------------------------------------------
// values.yaml documentation and schema hygiene
// ---------------------------------------------------------------------------------------

/// helm-docs documents a key from a `# --` comment right above it; a key inside a
/// documented block (e.g. `resources`) is covered by its parent's comment.
#[test]
fn every_value_has_a_helm_docs_comment() {
    let text = std::fs::read_to_string(repo().join(CHART).join("values.yaml")).unwrap();
    assert!(
        text.starts_with("# yaml-language-server: $schema=values.schema.json\n"),
        "values.yaml must start with the yaml-language-server schema header"
    );
    let mut comments: Vec<&str> = Vec::new();
    // (indent, documented) of the enclosing keys.
    let mut stack: Vec<(usize, bool)> = Vec::new();
    let mut missing = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            comments.push(trimmed);
            continue;
        }
        if trimmed.is_empty() {
            comments.clear();
            continue;
        }
        let indent = line.len() - trimmed.len();
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        if trimmed.starts_with("- ") {
            comments.clear();
            continue;
        }
        let Some((key, rest)) = trimmed.split_once(':') else {
            continue;
        };
        let own = comments.iter().any(|c| c.starts_with("# --"));
        let inherited = stack.iter().any(|(_, d)| *d);
        let is_leaf = !rest.trim().is_empty();
        if is_leaf && !own && !inherited {
            missing.push(key.to_string());
        }
        stack.push((indent, own || inherited));
        comments.clear();
    }
    assert!(
        missing.is_empty(),
        "values without a `# --` comment: {missing:?}"
    );
}

/// values.schema.json is self-contained JSON Schema draft-07: no `$ref`, closed objects.
#[test]
fn schema_is_self_contained_draft_07() {
    let text = std::fs::read_to_string(repo().join(CHART).join("values.schema.json")).unwrap();
    assert_has(
        &text,
        "\"$schema\": \"http://json-schema.org/draft-07/schema#\"",
    );
    assert_lacks(&text, "\"$ref\"");
    assert_has(&text, "\"additionalProperties\": false");
}

// ---------------------------------------------------------------------------------------
// k8s/ plain manifests
// ---------------------------------------------------------------------------------------

/// The plain manifests in `k8s/` equal the chart render and build with `kubectl kustomize`.
#[test]
fn k8s_manifests_match_the_chart_and_build_with_kustomize() {
    require("helm");
    let out = Command::new(repo().join("k8s/generate.sh"))
        .arg("--check")
        .current_dir(repo())
        .output()
        .expect("run k8s/generate.sh --check");
    assert!(
        out.status.success(),
        "k8s/ drifted from the chart (run k8s/generate.sh):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut renders = Vec::new();
    for env in ["default", "dev", "prod"] {
        let built = run_ok("kubectl", &["kustomize", &format!("k8s/{env}")]);
        // Plain manifests cannot ask the cluster its version: the exec form works on all.
        assert_has(
            &built,
            "exec:\n              command:\n              - /hello-world\n              - sleep\n              - \"10\"\n",
        );
        assert_has(&built, "name: hello-hello-world");
        assert_lacks(&built, "helm.sh/hook");
        assert_lacks(&built, "managed-by: Helm");
        renders.push((format!("k8s-{env}"), built));
    }
    validate(&renders, None);
}

// ---------------------------------------------------------------------------------------
// Smoke test with the real image (podman kube play)
// ---------------------------------------------------------------------------------------

/// The image tag the chart deploys by default.
const IMAGE: &str = "hello-world:1.0.0";

/// Builds `hello-world:1.0.0` from `Dockerfile.distroless` (layer and cargo caches make
/// a rebuild cheap) and runs the default render with `podman kube play`: probes answer,
/// the container runs as non-root, the preStop hook runs, and the app exits 0 on SIGTERM
/// within the grace period.
#[test]
fn kube_play_smoke_of_the_default_render_with_the_real_image() {
    let dockerfile = repo().join("Dockerfile.distroless");
    assert!(dockerfile.exists(), "{} is missing", dockerfile.display());
    run_ok(
        "podman",
        // Same flags as tests/image.rs, so the two share one cached build.
        &[
            "build",
            "--format",
            "docker",
            "-f",
            "Dockerfile.distroless",
            "-t",
            IMAGE,
            ".",
        ],
    );
    let rendered = render(&[]);
    let report = manifests::play::smoke(&rendered, std::time::Duration::from_secs(60));
    let all = report.lines.join("\n");
    assert!(
        report.failures().is_empty(),
        "podman kube play smoke:\n{all}"
    );
    // The preStop hook is the native sleep in the default render (Kubernetes >= 1.30).
    assert_has(&all, "preStop sleep 10s");
}
