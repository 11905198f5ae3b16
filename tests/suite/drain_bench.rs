//! The quick variant of the drain benchmark (`cargo bench --bench drain -- --quick`), run in the
//! test suite so the harness cannot rot: the same harness code (`testkit::drain`)
//! replays one chart-default rolling update v1 -> v2 through nginx under load and must see
//! zero lost requests, zero failed upstream attempts, exit code 0 and no SIGKILL.
//!
//! Needs nginx and helm (scripts/test installs both); fails, naming what to
//! install, when either is missing.

use std::path::Path;

use harness::scenario::{self, Options};
use testkit::drain as harness;

fn require(tool: &str, probe: &[&str]) {
    let ok = std::process::Command::new(probe[0])
        .args(&probe[1..])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{tool} is required by the drain benchmark test: run scripts/test, which installs it (nginx: apt-get install nginx-light; helm: scripts/install-helm-kubectl)"
    );
}

/// One chart-default rolling update v1 -> v2 through nginx under load loses no request, fails no
/// upstream attempt, exits 0 and needs no SIGKILL.
#[test]
fn quick_rolling_update_loses_nothing() {
    require("nginx", &[harness::ingress::NGINX, "-v"]);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chart = scenario::default_chart(manifest);
    if chart.is_some() {
        require("helm", &["helm", "version"]);
    }
    let opts = Options {
        bin: env!("CARGO_BIN_EXE_hello-world").into(),
        chart,
        scale: 10.0,
        rate: 100.0,
        seed: 1,
        work: manifest.join("target/drain-bench/test-work"),
    };
    let scenarios = scenario::quick(&opts).expect("scenario definition");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for sc in &scenarios {
        let r = rt.block_on(scenario::run(sc, &opts)).expect("scenario ran");
        let s = r.summary();
        let table = harness::report::table(&[(&r, s.clone())]);
        println!("{table}");
        // The harness must have actually exercised a rollout under load.
        assert!(s.requests > 100, "too few requests: {}", s.requests);
        assert_eq!(
            r.terminations.len() as u32,
            sc.spec.replicas,
            "every old pod deleted"
        );
        assert!(
            r.endpoint_changes.len() >= 3,
            "endpoint changes reached nginx"
        );
        assert!(s.passed, "{}\n{table}\n{:#}", s.verdict, r.to_json(&s));
    }
}

/// The Deployment reader understands every preStop form the chart (or the tutorial) renders.
#[test]
fn parses_rendered_deployment() {
    use harness::settings::{parse_manifests, PreStop};
    let y = r#"
kind: ConfigMap
metadata: {name: cm}
data: {GREETING: "Hi", DRAIN_TIMEOUT_SECONDS: "30"}
---
kind: Deployment
spec:
  replicas: 3
  minReadySeconds: 5
  strategy: {rollingUpdate: {maxSurge: "25%", maxUnavailable: 0}}
  template:
    spec:
      terminationGracePeriodSeconds: 45
      containers:
        - name: app
          envFrom: [{configMapRef: {name: cm}}]
          env: [{name: DRAIN_DELAY_SECONDS, value: "2"}]
          lifecycle: {preStop: {exec: {command: ["/bin/sh", "-c", "sleep 10"]}}}
          readinessProbe: {periodSeconds: 5, failureThreshold: 3}
"#;
    let d = parse_manifests(y).unwrap();
    assert_eq!((d.replicas, d.max_surge, d.max_unavailable), (3, 1, 0));
    assert_eq!(d.grace_seconds, 45);
    assert!(matches!(d.pre_stop, PreStop::ExecFails(_)));
    assert_eq!(d.drain_delay(), 2.0);
    assert_eq!(d.env["GREETING"], "Hi");
    assert_eq!(d.readiness.period, 5.0);
    let ours = y.replace(
        r#"exec: {command: ["/bin/sh", "-c", "sleep 10"]}"#,
        r#"exec: {command: ["/hello-world", "sleep", "10"]}"#,
    );
    assert_eq!(
        parse_manifests(&ours).unwrap().pre_stop,
        PreStop::ExecSleep(10.0)
    );
    let sleep = y.replace(
        r#"exec: {command: ["/bin/sh", "-c", "sleep 10"]}"#,
        "sleep: {seconds: 10}",
    );
    assert_eq!(
        parse_manifests(&sleep).unwrap().pre_stop,
        PreStop::Sleep(10.0)
    );
}
