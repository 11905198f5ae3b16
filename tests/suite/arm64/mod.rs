//! The arm64 binary, run: `cargo build --release --target aarch64-unknown-linux-musl` with the
//! repository's `.cargo/config.toml` (rust-lld, nothing else installed), then the binary's smoke
//! set under qemu user-mode emulation, compared with the x86_64 binary of this test run.
//!
//! * the build is the shipped release profile (fat LTO, one codegen unit), into its own target
//!   dir `target/arm64` so that it does not wait for the lock of the main build;
//! * the file is a static AArch64 ELF (no program interpreter: it must start on distroless);
//! * every tutorial route answers the arm64 binary exactly as the x86_64 one (status,
//!   content type, body);
//! * `healthcheck` (exit 0 against a live server, 1 against a closed port) and `sleep`;
//! * SIGTERM during `/slow?seconds=1`: the request completes with 200, the process drains and
//!   exits 0;
//! * a bad variable exits 2 with one JSON line naming it.
//!
//! Needs `qemu-aarch64-static` or `qemu-aarch64` (Debian: `apt-get install -y qemu-user-static`)
//! and the target (`rustup target add aarch64-unknown-linux-musl`); without either the tests
//! fail with a message naming it. Nothing is skipped. Each test prints its emulated duration
//! (`cargo test --test suite arm64:: -- --nocapture`).

mod elf;
mod server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use elf::{parse_elf, Elf, EM_AARCH64};
use server::{command, request, Answer, Server};

pub const TRIPLE: &str = "aarch64-unknown-linux-musl";
/// The x86_64 binary of this test run: the reference the arm64 answers are compared with.
pub const NATIVE: &str = crate::BIN;
/// Emulation is slow to start (qemu translates the binary as it runs): generous, still bounded.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The qemu user-mode emulator on PATH, under either of its Debian names.
pub fn qemu() -> &'static str {
    static QEMU: OnceLock<Result<&'static str, String>> = OnceLock::new();
    let found = QEMU.get_or_init(|| {
        ["qemu-aarch64-static", "qemu-aarch64"]
            .into_iter()
            .find(|name| {
                Command::new(name)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .ok_or_else(|| {
                "neither qemu-aarch64-static nor qemu-aarch64 is on PATH: install qemu-user-static \
                 (Debian/Ubuntu: apt-get install -y qemu-user-static)"
                    .to_string()
            })
    });
    found.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

/// Builds the arm64 release binary once per test run and returns its path.
pub fn arm64_binary() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(build_arm64)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn build_arm64() -> Result<PathBuf, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {rustc}: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TRIPLE)
        .is_dir()
    {
        return Err(format!(
            "the Rust target {TRIPLE} is not installed in {sysroot}: run `rustup target add {TRIPLE}`"
        ));
    }
    let target_dir = repo().join("target/arm64");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    // The linker settings must come from .cargo/config.toml alone, as for a user: drop any
    // RUSTFLAGS or per-target overrides this test run may have inherited.
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(repo())
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            TRIPLE,
            "--target-dir",
        ])
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_TARGET_AARCH64_") || key.starts_with("CARGO_PROFILE_RELEASE_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build --release --target {TRIPLE} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!(
        "arm64: release build (fat LTO) took {:.1?}",
        started.elapsed()
    );
    Ok(target_dir.join(TRIPLE).join("release/hello-world"))
}

/// The arm64 build is an AArch64 executable that needs no loader (distroless has no libc).
#[test]
pub fn arm64_binary_is_a_static_aarch64_executable() {
    let bin = arm64_binary();
    let elf = parse_elf(&std::fs::read(bin).unwrap()).unwrap();
    assert_eq!(
        elf,
        Elf {
            machine: EM_AARCH64,
            has_interpreter: false
        },
        "{} must be a static AArch64 executable",
        bin.display()
    );
}

/// The tutorial's routes and error shapes, in an order that exercises the readiness toggle.
const SMOKE: [(&str, &str); 15] = [
    ("GET", "/"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/info"),
    ("GET", "/slow?seconds=0"),
    ("GET", "/slow?seconds=abc"),
    ("POST", "/admin/toggle-ready"),
    ("GET", "/health/ready"),
    ("POST", "/admin/toggle-ready"),
    ("GET", "/health/ready"),
    ("HEAD", "/"),
    ("POST", "/"),
    ("GET", "/nope"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
];

/// Every tutorial route answers the emulated arm64 binary as it answers the x86_64 one.
#[test]
fn arm64_routes_answer_as_on_x86_64() {
    let env = [
        ("APP_ENV", "arm64-smoke"),
        ("POD_NAME", "hello-hello-world-abc12"),
        ("GREETING", "Hello arm64"),
    ];
    let answers = |arm64: bool| {
        let server = Server::start(arm64, &env);
        let started = Instant::now();
        let all: Vec<Answer> = SMOKE
            .iter()
            .map(|(m, t)| request(server.addr, m, t))
            .collect();
        let metrics = request(server.addr, "GET", "/metrics");
        (all, metrics, started.elapsed())
    };
    let (native, native_metrics, _) = answers(false);
    let (arm64, arm64_metrics, took) = answers(true);
    eprintln!(
        "arm64: {} requests under emulation took {took:.1?}",
        SMOKE.len() + 1
    );
    for (((method, target), n), a) in SMOKE.iter().zip(&native).zip(&arm64) {
        assert_eq!(
            a, n,
            "{method} {target}: arm64 (left) differs from x86_64 (right)"
        );
    }
    // Spot checks, so that equal-but-broken answers cannot pass.
    assert_eq!(
        arm64[0].body,
        r#"{"message":"Hello arm64","version":"1.0.0"}"#
    );
    assert_eq!(arm64[7].status, 503, "readiness toggled off");
    assert_eq!(arm64[9].status, 200, "readiness toggled back on");
    // Counters and durations differ run to run; the format and the families must not.
    assert_eq!(arm64_metrics.status, 200);
    assert_eq!(arm64_metrics.content_type, native_metrics.content_type);
    let families = |m: &Answer| -> Vec<String> {
        m.body
            .lines()
            .filter(|l| l.starts_with("# TYPE"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(families(&arm64_metrics), families(&native_metrics));
}

/// `healthcheck` exits 0 against a live server and 1 against a closed port; `sleep 1` sleeps.
#[test]
fn arm64_healthcheck_and_sleep_work() {
    let server = Server::start(true, &[]);
    let url = format!("http://{}/health/live", server.addr);
    let started = Instant::now();
    let ok = command(true).args(["healthcheck", &url]).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "healthcheck {url}: {ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("answered 200"),
        "{ok:?}"
    );
    // A port nobody listens on: bind one, learn its number, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let bad = command(true)
        .args(["healthcheck", &format!("http://{closed}/health/live")])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(1),
        "healthcheck against a closed port: {bad:?}"
    );
    eprintln!("arm64: two healthchecks took {:.1?}", started.elapsed());

    let started = Instant::now();
    let slept = command(true).args(["sleep", "1"]).status().unwrap();
    let took = started.elapsed();
    assert_eq!(slept.code(), Some(0));
    assert!(
        took >= Duration::from_secs(1),
        "sleep 1 returned after {took:?}"
    );
    eprintln!("arm64: sleep 1 took {took:.1?}");
}

/// SIGTERM while `/slow?seconds=1` runs: the answer still arrives and the process exits 0.
#[test]
fn arm64_sigterm_during_slow_drains_and_exits_0() {
    let mut server = Server::start(true, &[]);
    let addr = server.addr;
    let started = Instant::now();
    let slow = thread::spawn(move || request(addr, "GET", "/slow?seconds=1"));
    server.wait_for("Slow endpoint called", IO_TIMEOUT);
    server.signal("TERM");
    let answer = slow.join().unwrap();
    let status = server.wait_exit(IO_TIMEOUT);
    eprintln!(
        "arm64: /slow?seconds=1 + SIGTERM to exit took {:.1?}",
        started.elapsed()
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body,
        r#"{"message":"Responded after 1 seconds","requested_seconds":1,"actual_seconds":1}"#
    );
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after the drain; stdout:\n{}",
        server.seen.join("\n")
    );
    // The signal really came while the request was in flight (not after it had finished).
    let started_drain = server.wait_for("\"event\":\"drain_started\"", Duration::ZERO);
    assert!(started_drain.contains("\"in_flight\":1"), "{started_drain}");
    let drained = server.wait_for("\"event\":\"drained\"", Duration::ZERO);
    assert!(drained.contains("\"forced\":0"), "{drained}");
}

/// A bad variable stops the emulated binary with exit 2 and one JSON line naming it.
#[test]
fn arm64_bad_variable_exits_2() {
    let out = command(true).env("PORT", "abc").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stdout}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["variable"], "PORT");
    assert_eq!(v["value"], "abc");
    assert_eq!(v["event"], "config_invalid");
}
