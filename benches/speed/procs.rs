//! Processes the bench starts (servers, wrk) and what it reads about them from `/proc`.
//!
//! Every wait is bounded, and the bench only ever signals processes it spawned, by their PID:
//! a [`Server`] is SIGTERMed (then SIGKILLed if it outlives its bound) when it is stopped or
//! dropped, so a panic anywhere in the bench cannot leave a server running.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Environment variables of ours that must not leak from the caller's shell into a run.
const SCRUBBED: [&str; 7] = [
    "ACCESS_LOG",
    "BARE_LOG",
    "LOG_LEVEL",
    "WORKERS",
    "GREETING",
    "APP_VERSION",
    "ADMIN_TOKEN",
];

/// A server process started by the bench, stdout going to `log`.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

/// Starts `bin` (optionally under `taskset -c <cpu>`) on `127.0.0.1:0` with `env`, stdout to
/// `log`, and waits (at most 10 s) for its `listening` line to learn the bound address.
pub fn start(bin: &Path, cpu: Option<&str>, env: &[(&str, &str)], log: &Path) -> Server {
    let pin = cpu.map(|c| ["taskset", "-c", c]);
    let wrapper: &[&str] = pin.as_ref().map_or(&[], |p| p.as_slice());
    start_under(wrapper, bin, env, log, Duration::from_secs(10))
}

/// Like [`start`], run by `wrapper` (a command that execs its last argument in place, such as
/// `taskset -c 0` or `valgrind --tool=callgrind`), waiting at most `bound` for `listening`.
pub fn start_under(
    wrapper: &[&str],
    bin: &Path,
    env: &[(&str, &str)],
    log: &Path,
    bound: Duration,
) -> Server {
    let mut server = spawn_under(wrapper, bin, env, log);
    let deadline = Instant::now() + bound;
    loop {
        if let Some(addr) = listening_addr(log) {
            server.addr = addr;
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "{} exited ({status}) before listening; see {}",
                bin.display(),
                log.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} did not log `listening` within {bound:?}; see {}",
            bin.display(),
            log.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Like [`start`], for a server that logs no `listening` line (`LOG_LEVEL=WARNING`): the bench
/// picks a free port for it and waits (at most 10 s) until it accepts a connection.
pub fn start_on_free_port(bin: &Path, cpu: &str, env: &[(&str, &str)], log: &Path) -> Server {
    // Free now; the moment until the server binds it is a race nothing else on this machine's
    // loopback runs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port();
    let port_text = port.to_string();
    let mut env = env.to_vec();
    env.push(("PORT", &port_text));
    let mut server = spawn(bin, Some(cpu), &env, log);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{} exited ({status}) before listening", bin.display());
        }
        assert!(
            Instant::now() < deadline,
            "{} did not accept a connection on {addr} within 10 s",
            bin.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    server.addr = addr;
    server
}

/// Starts `bin` like [`start`] but returns at once (`addr` is unknown: `PORT` may be in `env`).
pub fn spawn(bin: &Path, cpu: Option<&str>, env: &[(&str, &str)], log: &Path) -> Server {
    let pin = cpu.map(|c| ["taskset", "-c", c]);
    spawn_under(pin.as_ref().map_or(&[], |p| p.as_slice()), bin, env, log)
}

fn spawn_under(wrapper: &[&str], bin: &Path, env: &[(&str, &str)], log: &Path) -> Server {
    // The wrappers exec the server in place: the PID we get is the server's.
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    for k in SCRUBBED {
        cmd.env_remove(k);
    }
    cmd.env("HOST", "127.0.0.1").env("PORT", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = File::create(log).expect("creating the server log file");
    let err = File::create(log.with_extension("stderr")).expect("creating the stderr file");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let pid = child.id();
    Server {
        child,
        pid,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log: log.to_path_buf(),
    }
}

/// The `addr` of the first `"event":"listening"` line in `log`, if it is there yet.
fn listening_addr(log: &Path) -> Option<SocketAddr> {
    let f = File::open(log).ok()?;
    for line in BufReader::new(f).lines().map_while(Result::ok).take(50) {
        if line.contains(r#""event":"listening""#) {
            let rest = &line[line.find(r#""addr":""#)? + 8..];
            return rest[..rest.find('"')?].parse().ok();
        }
    }
    None
}

impl Server {
    /// SIGTERM, then wait up to `bound` for the exit; SIGKILL if it is still there.
    pub fn stop(mut self, bound: Duration) -> Option<ExitStatus> {
        self.terminate(bound)
    }

    fn terminate(&mut self, bound: Duration) -> Option<ExitStatus> {
        if let Ok(Some(s)) = self.child.try_wait() {
            return Some(s);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if let Some(s) = wait_bounded(&mut self.child, bound) {
            return Some(s);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// utime + stime of the server so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .expect("reading /proc/<pid>/stat");
        // The command name (field 2) is in parentheses and may contain spaces: split after it.
        let after = &stat[stat.rfind(')').expect("stat has a comm field") + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 of proc(5) are the 12th and 13th after the comm.
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    /// (VmRSS, VmHWM) in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("reading /proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    pub fn threads(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Threads:"))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(5));
    }
}

/// Polls `child` until it exits or `bound` passes.
pub fn wait_bounded(child: &mut Child, bound: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => return None,
        }
    }
}

/// Runs a command to completion with a bound on its run time (killed past it); its stdout.
pub fn output_bounded(cmd: &mut Command, bound: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    // Read stdout on a thread so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child, bound);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = reader.join().unwrap_or_default();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => Err(format!("{cmd:?} exited with {s}: {err}{out}")),
        None => Err(format!("{cmd:?} still running after {bound:?}; killed")),
    }
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// CPU time the whole machine spent busy, in clock ticks, summed over its CPUs: every column of
/// `/proc/stat`'s `cpu` line but idle and iowait. Steal (time a hypervisor gave to another
/// guest) counts as busy: it was not ours either. Also the number of CPUs.
pub fn machine_busy_ticks() -> (u64, usize) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    let busy = stat
        .lines()
        .next()
        .filter(|l| l.starts_with("cpu "))
        .map(|l| {
            let cols: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .take(8)
                .map(|c| c.parse().unwrap_or(0))
                .collect();
            // user nice system idle iowait irq softirq steal
            cols.iter().sum::<u64>() - cols.get(3).unwrap_or(&0) - cols.get(4).unwrap_or(&0)
        })
        .unwrap_or(0);
    (busy, cpus.max(1))
}

/// User + system CPU seconds of this process's children that have been waited for (wrk runs
/// to its exit inside `wrk::run`, so the difference around a call is wrk's own time).
pub fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes one plain struct that we own and zeroed.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Clock ticks per second, for `/proc/<pid>/stat` times.
pub fn clk_tck() -> u64 {
    output_bounded(
        Command::new("getconf").arg("CLK_TCK"),
        Duration::from_secs(5),
    )
    .ok()
    .and_then(|s| s.trim().parse().ok())
    .unwrap_or(100)
}
