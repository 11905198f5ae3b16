//! The container image, built and run for real with podman.
//!
//! `Dockerfile.distroless` is built once per test run (a `OnceLock` shared by the tests below)
//! and tagged `hello-world:1.0.0`, the name the chart uses. The tests then check what the image
//! *is* (size, user, no shell, a static binary) and what it *does*: the tutorial's checks through
//! a published port on 127.0.0.1, the HEALTHCHECK, a `--read-only` run, and `podman stop` during
//! an in-flight request (PID 1 drains on SIGTERM and exits 0; every log line is JSON).
//!
//! podman is required: without it these tests fail with a message saying what to install.
//! The first build compiles the whole dependency tree inside the builder (minutes on a small
//! machine); later runs reuse buildah's layer cache and the cargo cache mounts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const IMAGE: &str = "hello-world:1.0.0";
/// Issue 4: at most 6 MB uncompressed, as `podman image inspect --format '{{.Size}}'` counts it.
const MAX_IMAGE_BYTES: u64 = 6_000_000;
/// `podman stop -t` used in the drain test; the container must exit well before it.
const STOP_TIMEOUT_SECS: u64 = 10;

// --- podman plumbing -------------------------------------------------------------------------

fn podman(args: &[&str]) -> Output {
    match Command::new("podman").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "podman is not installed: run scripts/test, which installs it \
             (apt-get install podman buildah runc catatonit) — the image tests cannot run without it"
        ),
        Err(e) => panic!("cannot run podman {args:?}: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs podman and returns its trimmed stdout; panics with both streams if it fails.
fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_owned()
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Builds the image once for the whole test binary. `--format docker` keeps the HEALTHCHECK
/// (podman's default OCI format has no field for it and drops it with a warning); everything
/// else is exactly `podman build -f Dockerfile.distroless -t hello-world:1.0.0 .`.
fn image() -> &'static str {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let version = podman(&["--version"]);
        if !version.status.success() {
            return Err(format!(
                "`podman --version` failed: {} — install podman (see README)",
                text(&version.stderr)
            ));
        }
        let root = env!("CARGO_MANIFEST_DIR");
        let revision = Command::new("git")
            .args(["-C", root, "rev-parse", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| text(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let started = Instant::now();
        let out = Command::new("podman")
            .current_dir(root)
            .args(["build", "--format", "docker", "-f", "Dockerfile.distroless"])
            .args(["-t", IMAGE, "--build-arg", &format!("REVISION={revision}"), "."])
            .output()
            .map_err(|e| format!("cannot run podman build: {e} — install podman (see README)"))?;
        eprintln!(
            "image test: podman build took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "podman build -f Dockerfile.distroless failed ({}):\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
                out.status,
                tail(&text(&out.stdout), 40),
                tail(&text(&out.stderr), 40)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    IMAGE
}

fn inspect_image(format: &str) -> String {
    podman_ok(&["image", "inspect", "--format", format, image()])
}

fn unique_name(what: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "hello-world-image-test-{what}-{}-{n}-{nanos:08x}",
        std::process::id()
    )
}

/// A container that is removed (`podman rm -f`) when dropped, including when a test panics.
struct Container {
    name: String,
}

impl Container {
    /// `podman create`/`podman run -d` with a fresh unique name; `args` go before the image.
    fn start(what: &str, verb: &str, args: &[&str], cmd: &[&str]) -> Container {
        let c = Container {
            name: unique_name(what),
        };
        let mut all = vec![verb];
        if verb == "run" {
            all.push("-d");
        }
        all.extend(["--name", c.name.as_str()]);
        all.extend(args);
        all.push(image());
        all.extend(cmd);
        podman_ok(&all);
        c
    }

    /// Starts the server with the container port published on an ephemeral 127.0.0.1 port.
    fn serve(what: &str, extra: &[&str]) -> (Container, SocketAddr) {
        let mut args = vec!["-p", "127.0.0.1::8080", "-e", "POD_NAME=image-test-pod"];
        args.extend(extra);
        let c = Container::start(what, "run", &args, &[]);
        let port = podman_ok(&["port", &c.name, "8080/tcp"]);
        let addr: SocketAddr = port
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("cannot parse `podman port` output {port:?}"));
        c.wait_ready(addr);
        (c, addr)
    }

    /// Polls `/health/ready` until it answers 200 (the published port forwards as soon as the
    /// container runs; the server needs a moment more to bind).
    fn wait_ready(&self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = get(addr, "/health/ready") {
                if r.status == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "container {} not ready on {addr} after 30 s; logs:\n{}",
                    self.name,
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        let out = podman(&["logs", &self.name]);
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    }

    fn inspect(&self, format: &str) -> String {
        podman_ok(&["inspect", "--format", format, &self.name])
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "0", &self.name])
            .output();
    }
}

// --- a minimal HTTP/1.1 client over std TCP ----------------------------------------------------

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

fn get(addr: SocketAddr, path: &str) -> std::io::Result<Reply> {
    get_with_timeout(addr, path, Duration::from_secs(5))
}

/// `GET path` with `Connection: close`, reading to EOF. The server answers with
/// `Content-Length` bodies, which the check below relies on.
fn get_with_timeout(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: image-test\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let raw = text(&raw);
    let bad =
        |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{why}: {raw:?}"));
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let headers = head.to_ascii_lowercase();
    if let Some(len) = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if body.len() != len {
            return Err(bad("body shorter than content-length"));
        }
    }
    Ok(Reply {
        status,
        headers,
        body: body.to_owned(),
    })
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body:?}"))
}

fn temp_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(unique_name(what));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct RemoveDir(PathBuf);
impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// --- what the image is -------------------------------------------------------------------------

/// The image is under the size cap, runs as a non-root user and carries the documented port,
/// entrypoint and HEALTHCHECK.
#[test]
fn image_is_small_nonroot_and_configured() {
    let size: u64 = inspect_image("{{.Size}}")
        .parse()
        .expect("image size in bytes");
    eprintln!("image test: {IMAGE} is {size} bytes uncompressed");
    assert!(
        size <= MAX_IMAGE_BYTES,
        "{IMAGE} is {size} bytes; the budget is {MAX_IMAGE_BYTES}"
    );

    assert_eq!(inspect_image("{{.Config.User}}"), "65532:65532");
    assert_eq!(
        inspect_image("{{json .Config.Entrypoint}}"),
        r#"["/hello-world"]"#
    );
    let ports = inspect_image("{{json .Config.ExposedPorts}}");
    assert!(ports.contains("8080/tcp"), "exposed ports: {ports}");

    let labels = json(&inspect_image("{{json .Config.Labels}}"));
    for key in ["source", "version", "revision", "licenses"] {
        let v = labels[format!("org.opencontainers.image.{key}")].as_str();
        assert!(
            v.is_some_and(|v| !v.is_empty()),
            "label org.opencontainers.image.{key} missing: {labels}"
        );
    }
    assert_eq!(labels["org.opencontainers.image.version"], "1.0.0");
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");

    let health = json(&inspect_image("{{json .HealthCheck}}"));
    assert_eq!(
        health["Test"],
        serde_json::json!(["CMD", "/hello-world", "healthcheck"]),
        "HEALTHCHECK: {health}"
    );
}

/// The image has no shell, and its one binary is static and stripped.
#[test]
fn image_has_no_shell_and_a_static_stripped_binary() {
    // No shell to exec into.
    let out = podman(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        image(),
        "-c",
        "true",
    ]);
    assert!(
        !out.status.success(),
        "/bin/sh ran inside the image: {}",
        text(&out.stdout)
    );

    // The whole filesystem: nothing that can run a command except our binary.
    let c = Container::start("fs", "create", &[], &[]);
    let dir = temp_dir("fs");
    let _cleanup = RemoveDir(dir.clone());
    let tar = dir.join("rootfs.tar");
    podman_ok(&["export", "-o", tar.to_str().unwrap(), &c.name]);
    let list = Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .expect("tar is needed to list the exported filesystem: install tar");
    assert!(list.status.success(), "tar -tf failed");
    let entries: Vec<String> = text(&list.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_owned())
        .collect();
    assert!(
        entries.iter().any(|e| e == "hello-world"),
        "no /hello-world in {entries:?}"
    );
    for shell in [
        "bin/sh",
        "usr/bin/sh",
        "bin/bash",
        "bin/busybox",
        "usr/bin/env",
    ] {
        assert!(
            !entries.iter().any(|e| e == shell),
            "/{shell} is in the image"
        );
    }
    let executables: Vec<&String> = entries
        .iter()
        .filter(|e| e.starts_with("bin/") || e.starts_with("usr/bin/") || e.starts_with("sbin/"))
        .collect();
    assert!(
        executables.is_empty(),
        "executables in the image: {executables:?}"
    );

    // The binary itself: static (no interpreter, no libc to find) and stripped.
    let bin = dir.join("hello-world");
    podman_ok(&[
        "cp",
        &format!("{}:/hello-world", c.name),
        bin.to_str().unwrap(),
    ]);
    let file = Command::new("file").arg(&bin).output().unwrap_or_else(|e| {
        panic!("`file` is needed to check the binary: install the `file` package ({e})")
    });
    let desc = text(&file.stdout);
    eprintln!(
        "image test: /hello-world is {} bytes: {desc}",
        std::fs::metadata(&bin).unwrap().len()
    );
    assert!(
        desc.contains("statically linked") || desc.contains("static-pie linked"),
        "not static: {desc}"
    );
    assert!(desc.contains(", stripped"), "not stripped: {desc}");
    assert!(
        !desc.contains("interpreter"),
        "has an ELF interpreter: {desc}"
    );
}

// --- what the image does ---------------------------------------------------------------------

/// The container answers the tutorial's checks through a published port, and `podman stop` during
/// an in-flight request drains it: PID 1 exits 0 and every log line is JSON.
#[test]
fn container_serves_the_tutorial_checks_and_drains_on_podman_stop() {
    let (c, addr) = Container::serve("run", &[]);

    // The tutorial's curl checks.
    let root = get(addr, "/").unwrap();
    assert_eq!(root.status, 200, "GET /: {}", root.body);
    assert!(root.headers.contains("content-type: application/json"));
    let body = json(&root.body);
    assert_eq!(body["message"], "Hello World");
    assert_eq!(body["version"], "1.0.0");

    let live = get(addr, "/health/live").unwrap();
    assert_eq!(
        (live.status, json(&live.body)),
        (200, serde_json::json!({"status": "ok"}))
    );
    let ready = get(addr, "/health/ready").unwrap();
    assert_eq!(
        (ready.status, json(&ready.body)),
        (200, serde_json::json!({"status": "ok"}))
    );

    let info = get(addr, "/info").unwrap();
    assert_eq!(info.status, 200);
    let info = json(&info.body);
    assert_eq!(info["pod_name"], "image-test-pod", "/info: {info}");
    assert_eq!(info["app_version"], "1.0.0");

    // The HEALTHCHECK, run by podman itself, and the same command run by hand.
    let hc = podman(&["healthcheck", "run", &c.name]);
    assert!(
        hc.status.success(),
        "podman healthcheck run failed: {}{}",
        text(&hc.stdout),
        text(&hc.stderr)
    );
    let exec = podman_ok(&["exec", &c.name, "/hello-world", "healthcheck"]);
    assert!(exec.contains("healthy"), "healthcheck said {exec:?}");

    // The process is PID 1 and runs as 65532.
    let pid = c.inspect("{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    assert!(
        uid_line.split_whitespace().nth(1) == Some("65532"),
        "{uid_line:?}"
    );

    // podman stop during an in-flight request: SIGTERM reaches PID 1, which drains.
    let slow = thread::spawn(move || {
        let started = Instant::now();
        let r = get_with_timeout(addr, "/slow?seconds=2", Duration::from_secs(15));
        (r, started.elapsed())
    });
    // Let the request reach the handler before the signal.
    wait_in_flight(addr);
    let stop_started = Instant::now();
    podman_ok(&["stop", "-t", &STOP_TIMEOUT_SECS.to_string(), &c.name]);
    let stop_took = stop_started.elapsed();
    let (reply, request_took) = slow.join().unwrap();
    let reply = reply.expect("the in-flight /slow request failed during podman stop");
    assert_eq!(reply.status, 200, "/slow during stop: {}", reply.body);
    assert!(request_took >= Duration::from_secs(2));
    assert_eq!(
        c.inspect("{{.State.ExitCode}}"),
        "0",
        "exit code after podman stop; logs:\n{}",
        c.logs()
    );
    eprintln!(
        "image test: podman stop took {:.2} s",
        stop_took.as_secs_f64()
    );
    assert!(
        stop_took < Duration::from_secs(STOP_TIMEOUT_SECS / 2),
        "podman stop took {stop_took:?}: SIGTERM was not handled promptly"
    );

    // Every log line is one JSON object, and the drain is in them.
    let logs = c.logs();
    let mut events = Vec::new();
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line:?}\nall logs:\n{logs}"));
        assert!(v.is_object(), "log line is not an object: {line}");
        assert_eq!(v["pod"], "image-test-pod", "{line}");
        if let Some(e) = v["event"].as_str() {
            events.push(e.to_owned());
        }
    }
    for e in ["listening", "drain_started", "listener_closed", "drained"] {
        assert!(events.iter().any(|x| x == e), "no `{e}` event in:\n{logs}");
    }
    assert!(logs.contains(r#""signal":"SIGTERM""#), "{logs}");
}

/// Waits until the server counts the `/slow` request as in flight: `http_requests_in_flight`
/// counts the `/metrics` request that reads it too, so 2 means the slow one is being handled.
/// Bounded well inside the 2 s the request takes, so the stop still lands while it is in flight.
fn wait_in_flight(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < deadline {
        let n = get(addr, "/metrics").ok().and_then(|m| {
            m.body
                .lines()
                .find_map(|l| l.strip_prefix("http_requests_in_flight "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        if n.is_some_and(|n| n >= 2.0) {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The container serves with a `--read-only` root filesystem.
#[test]
fn container_runs_with_a_read_only_root_filesystem() {
    let (c, addr) = Container::serve("ro", &["--read-only"]);
    assert_eq!(c.inspect("{{.HostConfig.ReadonlyRootfs}}"), "true");
    let root = get(addr, "/").unwrap();
    assert_eq!(root.status, 200);
    assert_eq!(json(&root.body)["message"], "Hello World");
    let info = get(addr, "/info").unwrap();
    assert_eq!(json(&info.body)["pod_name"], "image-test-pod");
    podman_ok(&["stop", "-t", &STOP_TIMEOUT_SECS.to_string(), &c.name]);
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "0", "logs:\n{}", c.logs());
    for line in c.logs().lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "log line is not JSON: {line:?}"
        );
    }
}
