//! Runs rendered manifests with `podman kube play` (podman 4.3) and does by hand what a kubelet
//! would do and podman does not: poll the HTTP/TCP probes from outside, refuse a root process
//! when `runAsNonRoot` is set, run the preStop hook, then stop the pod with the pod's grace
//! period and require exit code 0 (137 means SIGTERM did not end the process in time).
//!
//! What podman 4.3 does with a Deployment (measured): `replicas` pods named `<name>-pod-<i>`,
//! containers `<pod>-<container>`; ConfigMaps as envFrom sources and volumes; only the
//! `metadata.name` fieldRef; every containerPort published on 0.0.0.0 (so [`prepare()`] publishes
//! each on a free 127.0.0.1 port instead). It ignores probes, preStop, runAsNonRoot,
//! terminationGracePeriodSeconds, Services and Ingresses.

mod prepare;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use prepare::{prepare, Target};
fn podman(args: &[&str]) -> (bool, String) {
    let out = Command::new("podman")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run podman ({e}): apt-get install podman (scripts/test does)")
        });
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// One HTTP/1.1 GET on 127.0.0.1:port; the status code, or None when nothing answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// What the smoke run saw: `ok ...` and `FAIL ...` lines in order.
pub struct Report {
    pub lines: Vec<String>,
}

impl Report {
    pub fn failures(&self) -> Vec<&String> {
        self.lines
            .iter()
            .filter(|l| l.starts_with("FAIL"))
            .collect()
    }
    fn check(&mut self, ok: bool, what: String) {
        self.lines
            .push(format!("{} {what}", if ok { "ok  " } else { "FAIL" }));
    }
}

/// Plays `yaml` (a render), checks it as described in the module docs, and always tears it down.
pub fn smoke(yaml: &str, timeout: Duration) -> Report {
    let (docs, targets) = prepare(super::documents(yaml));
    assert!(
        !targets.is_empty(),
        "no Deployment container to smoke-test in the render"
    );
    let file =
        std::env::temp_dir().join(format!("hello-world-kube-play-{}.yaml", std::process::id()));
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_norway::to_string(d).unwrap())
        .collect();
    std::fs::write(&file, text.join("---\n")).unwrap();
    let file_arg = file.to_str().unwrap();
    let mut report = Report { lines: Vec::new() };
    let (played, out) = podman(&["kube", "play", "--replace", file_arg]);
    report.check(
        played,
        format!(
            "podman kube play{}",
            if played {
                String::new()
            } else {
                format!(": {out}")
            }
        ),
    );
    for t in targets.iter().filter(|_| played) {
        run_target(t, timeout, &mut report);
    }
    podman(&["kube", "down", file_arg]);
    for d in docs.iter().filter(|d| d["kind"] == "ConfigMap") {
        podman(&[
            "volume",
            "rm",
            "-f",
            d["metadata"]["name"].as_str().unwrap_or("?"),
        ]);
    }
    let _ = std::fs::remove_file(&file);
    report
}

fn run_target(t: &Target, timeout: Duration, report: &mut Report) {
    for (kind, port, path) in &t.probes {
        let deadline = Instant::now() + timeout;
        let passed = loop {
            let ok = match path {
                Some(p) => http_status(*port, p).is_some_and(|s| (200..400).contains(&s)),
                None => TcpStream::connect(("127.0.0.1", *port)).is_ok(),
            };
            if ok || Instant::now() > deadline {
                break ok;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        report.check(
            passed,
            format!(
                "{} {kind} {} on 127.0.0.1:{port}",
                t.container,
                path.as_deref().unwrap_or("tcp")
            ),
        );
    }
    let (_, state) = podman(&["inspect", "--format", "{{.State.Status}}", &t.container]);
    report.check(
        state.trim() == "running",
        format!("{} is {}", t.container, state.trim()),
    );
    let (_, user) = podman(&["inspect", "--format", "{{.Config.User}}", &t.container]);
    let uid = user.trim().split(':').next().unwrap_or("").to_string();
    let root = uid.is_empty() || uid == "0" || uid == "root";
    report.check(
        !(t.run_as_non_root && root),
        format!(
            "{} runs as user {uid:?} (runAsNonRoot={})",
            t.container, t.run_as_non_root
        ),
    );
    run_pre_stop(t, report);
    let started = Instant::now();
    podman(&["pod", "stop", "-t", &t.grace_seconds.to_string(), &t.pod]);
    let took = started.elapsed();
    let (_, code) = podman(&["inspect", "--format", "{{.State.ExitCode}}", &t.container]);
    report.check(
        code.trim() == "0" && took < Duration::from_secs(t.grace_seconds),
        format!(
            "{} exit code {} after SIGTERM, in {:.1}s (grace {}s)",
            t.container,
            code.trim(),
            took.as_secs_f64(),
            t.grace_seconds
        ),
    );
}

fn run_pre_stop(t: &Target, report: &mut Report) {
    let hook = &t.pre_stop;
    if let Some(secs) = hook["sleep"]["seconds"].as_u64() {
        std::thread::sleep(Duration::from_secs(secs));
        report.check(true, format!("{} preStop sleep {secs}s", t.container));
    } else if let Some(cmd) = hook["exec"]["command"].as_array() {
        let mut args = vec!["exec", t.container.as_str()];
        args.extend(cmd.iter().filter_map(Value::as_str));
        let (ok, out) = podman(&args);
        report.check(
            ok,
            format!("{} preStop exec {cmd:?} {}", t.container, out.trim()),
        );
    } else if !hook["httpGet"].is_null() {
        let port = hook["httpGet"]["port"].as_u64().unwrap_or(0);
        let host = t
            .ports
            .iter()
            .find(|(c, _)| *c == port)
            .map(|(_, h)| *h)
            .unwrap_or(0);
        let path = hook["httpGet"]["path"].as_str().unwrap_or("/");
        let status = http_status(host, path);
        report.check(
            status.is_some(),
            format!("{} preStop GET {path} -> {status:?}", t.container),
        );
    }
}
