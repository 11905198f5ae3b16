//! Short-lived invocations of the binary (a subcommand, a configuration error) run to their
//! exit, and the ports a test needs.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::capture;

/// Result of a short-lived invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// Runs `bin args` with a cleared environment plus `env` to its exit (≤ 10 s).
pub fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(bin);
    cmd.args(args).env_clear().envs(env.iter().copied());
    run_command(&mut cmd, Duration::from_secs(10))
}

/// Runs `cmd` to its exit with stdout and stderr collected as it runs (a large output cannot
/// block it); after `limit` SIGKILL and a failed test.
pub fn run_command(cmd: &mut Command, limit: Duration) -> Run {
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = capture::collect(child.stdout.take().unwrap());
    let stderr = capture::collect(child.stderr.take().unwrap());
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let took = t0.elapsed();
    let text = |b: &capture::Collected| String::from_utf8_lossy(&b.wait()).into_owned();
    Run {
        code: status.code().expect("exited, not killed by a signal"),
        stdout: text(&stdout),
        stderr: text(&stderr),
        took,
    }
}

/// A port that nothing listens on (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (≤ 10 s) until `addr` accepts connections: for a server that logs no `listening`.
pub fn wait_port(addr: SocketAddr) {
    let t0 = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "nothing listens on {addr} after 10 s"
        );
        thread::sleep(Duration::from_millis(10));
    }
}
