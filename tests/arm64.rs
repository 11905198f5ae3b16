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
//! (`cargo test --test arm64 -- --nocapture`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const TRIPLE: &str = "aarch64-unknown-linux-musl";
/// The x86_64 binary of this test run: the reference the arm64 answers are compared with.
const NATIVE: &str = env!("CARGO_BIN_EXE_hello-world");
/// Emulation is slow to start (qemu translates the binary as it runs): generous, still bounded.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The qemu user-mode emulator on PATH, under either of its Debian names.
fn qemu() -> &'static str {
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
fn arm64_binary() -> &'static Path {
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

// ---------------------------------------------------------------------------------------
// The ELF header
// ---------------------------------------------------------------------------------------

/// What matters about an executable here: its machine and whether it needs a loader.
#[derive(Debug, PartialEq)]
struct Elf {
    machine: u16,
    has_interpreter: bool,
}

const EM_AARCH64: u16 = 183;
const PT_INTERP: u32 = 3;

/// Reads a little-endian ELF64 header and its program headers.
fn parse_elf(bytes: &[u8]) -> Result<Elf, String> {
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    if bytes.get(..4) != Some(b"\x7fELF".as_slice())
        || bytes.get(4) != Some(&2)
        || bytes.get(5) != Some(&1)
    {
        return Err("not a little-endian ELF64 file".into());
    }
    let short = || "truncated ELF header".to_string();
    let machine = u16_at(18).ok_or_else(short)?;
    let phoff = u64_at(32).ok_or_else(short)? as usize;
    let phentsize = u16_at(54).ok_or_else(short)? as usize;
    let phnum = u16_at(56).ok_or_else(short)? as usize;
    let mut has_interpreter = false;
    for i in 0..phnum {
        let kind = u32_at(phoff + i * phentsize).ok_or("truncated program header table")?;
        has_interpreter |= kind == PT_INTERP;
    }
    Ok(Elf {
        machine,
        has_interpreter,
    })
}

/// Pins the parser on the x86_64 binary of this run (machine 62) before trusting it on arm64.
#[test]
fn elf_parser_reads_the_native_binary() {
    let elf = parse_elf(&std::fs::read(NATIVE).unwrap()).unwrap();
    assert_eq!(elf.machine, 62, "x86_64 is EM_X86_64 (62)");
    assert!(parse_elf(b"#!/bin/sh\n").is_err());
}

/// The arm64 build is an AArch64 executable that needs no loader (distroless has no libc).
#[test]
fn arm64_binary_is_a_static_aarch64_executable() {
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

// ---------------------------------------------------------------------------------------
// A server process (native or emulated)
// ---------------------------------------------------------------------------------------

/// A running `hello-world`, its stdout lines arriving on a channel. Killed when dropped.
struct Server {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    addr: SocketAddr,
}

/// `hello-world` itself, or the arm64 binary under qemu.
fn command(arm64: bool) -> Command {
    if arm64 {
        let mut c = Command::new(qemu());
        c.arg(arm64_binary());
        c
    } else {
        Command::new(NATIVE)
    }
}

impl Server {
    fn start(arm64: bool, env: &[(&str, &str)]) -> Server {
        let mut cmd = command(arm64);
        cmd.env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .envs(env.iter().copied());
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            lines,
            seen: Vec::new(),
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        let listening = server.wait_for("\"event\":\"listening\"", START_TIMEOUT);
        let v: serde_json::Value = serde_json::from_str(&listening).unwrap();
        server.addr = v["addr"].as_str().unwrap().parse().unwrap();
        server
    }

    /// The first stdout line (seen or still to come) containing `needle`.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle} within {timeout:?}; stdout so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{name} failed");
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {timeout:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status, content type and body of one HTTP/1.1 request (raw, `Connection: close`).
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn request(addr: SocketAddr, method: &str, target: &str) -> Answer {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {raw:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        })
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body: body.to_string(),
    }
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
