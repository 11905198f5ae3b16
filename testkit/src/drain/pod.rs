//! One "pod": the real `hello-world` process, its kubelet (preStop, SIGTERM, SIGKILL) and its
//! readiness prober.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::watch;

use super::settings::{PreStop, Probe};
use super::{send_signal, Clock};

/// How a pod process ended.
#[derive(Clone, Copy, Debug)]
pub struct Exit {
    /// Wall seconds on the scenario clock.
    pub t: f64,
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    /// Exit code as a shell/kubelet would show it (128 + signal when killed).
    pub fn shown(&self) -> i32 {
        self.code.unwrap_or_else(|| 128 + self.signal.unwrap_or(0))
    }
}

/// One entry of a pod's timeline (`what` is a short tag, see `svg.rs` for the phases).
#[derive(Clone, Debug)]
pub struct PodEvent {
    pub t: f64,
    pub what: String,
}

/// A running backend process plus the state the simulated control plane keeps about it.
pub struct Pod {
    pub name: String,
    /// Pod-template label ("v1", "v2", "v1-cm"); the plot colours requests by it.
    pub version: String,
    pub addr: SocketAddr,
    pub pid: u32,
    /// Prober's verdict (the pod's Ready condition).
    pub ready: AtomicBool,
    /// Set by the kubelet emulator at deletion: EndpointSlice marks it `ready=false,
    /// terminating=true`, so the ingress drops it regardless of probes.
    pub terminating: AtomicBool,
    /// Negative control: the endpoint is *not* removed at deletion, only once the process is
    /// gone (a stale ingress / "SIGTERM without endpoint removal").
    pub stale_endpoint: AtomicBool,
    /// Wall time since which the pod is continuously Ready (for minReadySeconds).
    pub ready_since: Mutex<Option<f64>>,
    pub events: Mutex<Vec<PodEvent>>,
    exit_rx: watch::Receiver<Option<Exit>>,
    clock: Clock,
}

impl Pod {
    pub fn event(&self, what: impl Into<String>) {
        let t = self.clock.now();
        self.events.lock().unwrap().push(PodEvent {
            t,
            what: what.into(),
        });
    }

    pub fn exit(&self) -> Option<Exit> {
        *self.exit_rx.borrow()
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn is_terminating(&self) -> bool {
        self.terminating.load(Ordering::SeqCst)
    }

    /// Resolves when the process has exited.
    pub async fn exited(&self) -> Exit {
        let mut rx = self.exit_rx.clone();
        loop {
            if let Some(e) = *rx.borrow_and_update() {
                return e;
            }
            if rx.changed().await.is_err() {
                // Sender gone without a value cannot happen (the waiter always sends); be safe.
                return Exit {
                    t: self.clock.now(),
                    code: None,
                    signal: None,
                };
            }
        }
    }

    /// Time of the first event with this tag.
    pub fn first(&self, what: &str) -> Option<f64> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.what == what)
            .map(|e| e.t)
    }
}

/// Starts the server binary with `env` (already time-scaled) on an ephemeral loopback port and
/// waits for its `listening` log event.
pub async fn spawn(
    bin: &Path,
    name: &str,
    label: &str,
    app_version: &str,
    env: &BTreeMap<String, String>,
    clock: Clock,
    log_dir: &Path,
) -> Result<Arc<Pod>, String> {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("ACCESS_LOG", "false")
        .env("POD_NAME", name)
        .env("POD_NAMESPACE", "bench")
        .env("APP_VERSION", app_version)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(log_dir.join(format!("{name}.stderr")))
                .map_err(|e| e.to_string())?,
        ))
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let pid = child.id().ok_or("child has no pid")?;
    let created = clock.now();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut log =
        std::fs::File::create(log_dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;

    // Wait for the `listening` event, which carries the bound address.
    let addr = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            use std::io::Write;
            let _ = writeln!(log, "{line}");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["event"] == "listening" {
                    if let Some(a) = v["addr"].as_str().and_then(|a| a.parse().ok()) {
                        return Some(a);
                    }
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(addr) = addr else {
        let _ = child.start_kill();
        let err =
            std::fs::read_to_string(log_dir.join(format!("{name}.stderr"))).unwrap_or_default();
        return Err(format!(
            "{name}: no `listening` event within 10 s (stderr: {})",
            err.trim()
        ));
    };

    let (exit_tx, exit_rx) = watch::channel(None);
    let pod = Arc::new(Pod {
        name: name.to_string(),
        version: label.to_string(),
        addr,
        pid,
        ready: AtomicBool::new(false),
        terminating: AtomicBool::new(false),
        stale_endpoint: AtomicBool::new(false),
        ready_since: Mutex::new(None),
        events: Mutex::new(vec![PodEvent {
            t: created,
            what: "created".into(),
        }]),
        exit_rx,
        clock,
    });
    pod.event("listening");

    // Keep reading the JSON log: drain events become timeline entries.
    let p = pod.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            use std::io::Write;
            let _ = writeln!(log, "{line}");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(ev) = v["event"].as_str() {
                    p.event(format!("log:{ev}"));
                }
            }
        }
    });
    // Reap the process and publish how it ended.
    let p = pod.clone();
    tokio::spawn(async move {
        let status = child.wait().await;
        let t = p.clock.now();
        let (code, signal) = match status {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                (s.code(), s.signal())
            }
            Err(_) => (None, None),
        };
        let e = Exit { t, code, signal };
        p.event(format!("exit:{}", e.shown()));
        let _ = exit_tx.send(Some(e));
    });
    Ok(pod)
}

/// What the kubelet emulator did for one pod deletion.
#[derive(Clone, Debug, Default)]
pub struct Termination {
    pub pod: String,
    pub deleted_at: f64,
    pub prestop_outcome: String,
    /// Integer cluster seconds the kubelet charged the hook with.
    pub prestop_charged: i64,
    /// Cluster seconds between SIGTERM and SIGKILL the kubelet granted.
    pub granted: i64,
    pub sigterm_at: f64,
    pub exit_at: f64,
    pub exit_code: i32,
    pub sigkill: bool,
}

/// The kubelet's `killContainer` for one pod: run the preStop hook (bounded by the grace
/// period), charge its whole seconds against the grace period with a 2 s floor, SIGTERM, and
/// SIGKILL at the deadline.
pub async fn kubelet_delete(
    pod: Arc<Pod>,
    pre_stop: PreStop,
    grace_seconds: i64,
    bin: PathBuf,
    clock: Clock,
) -> Termination {
    const MIN_GRACE: i64 = 2; // kubelet minimumGracePeriodInSeconds
    let t0 = clock.now();
    pod.terminating.store(true, Ordering::SeqCst);
    pod.event("deleted");
    let grace = clock.real(grace_seconds as f64);
    let hook = async {
        match &pre_stop {
            PreStop::None => "none".to_string(),
            PreStop::Sleep(s) => {
                tokio::select! {
                    _ = clock.sleep_cluster(*s) => "sleep done".into(),
                    _ = pod.exited() => "sleep interrupted (container exited)".into(),
                }
            }
            PreStop::ExecSleep(s) => {
                let secs = fmt_secs(s / clock.scale);
                let run = Command::new(&bin)
                    .arg("sleep")
                    .arg(&secs)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .status();
                tokio::select! {
                    st = run => match st {
                        Ok(st) if st.success() => format!("exec sleep {secs} ok"),
                        Ok(st) => format!("FailedPreStopHook: exec sleep {secs} exited {st}"),
                        Err(e) => format!("FailedPreStopHook: {e}"),
                    },
                    _ = pod.exited() => "exec interrupted (container exited)".into(),
                }
            }
            PreStop::ExecFails(cmd) => {
                // What the runtime reports for the tutorial's hook in a distroless image.
                format!(
                    "FailedPreStopHook: exec {:?}: stat {}: no such file or directory (exit 126)",
                    cmd,
                    cmd.first().map(String::as_str).unwrap_or("")
                )
            }
            PreStop::HttpGet { path } => {
                let path = scale_seconds_query(path, clock.scale);
                match http_get(pod.addr, &path, grace).await {
                    Ok(code) if (200..400).contains(&code) => format!("httpGet {path} -> {code}"),
                    Ok(code) => format!("FailedPreStopHook: httpGet {path} -> {code}"),
                    Err(e) => format!("FailedPreStopHook: httpGet {path}: {e}"),
                }
            }
        }
    };
    let prestop_outcome = match tokio::time::timeout(grace, hook).await {
        Ok(s) => s,
        Err(_) => "preStop still running at the grace deadline".into(),
    };
    pod.event(format!("prestop:{prestop_outcome}"));
    // Go's int64(elapsed.Seconds()) truncates; the kubelet works in whole cluster seconds.
    let charged = clock.cluster(clock.now() - t0).floor() as i64;
    let granted = (grace_seconds - charged).max(MIN_GRACE);
    let sigterm_at = clock.now();
    pod.event("SIGTERM");
    let _ = send_signal(pod.pid, libc::SIGTERM);
    let mut sigkill = false;
    let exit = match tokio::time::timeout(clock.real(granted as f64), pod.exited()).await {
        Ok(e) => e,
        Err(_) => {
            sigkill = true;
            pod.event("SIGKILL");
            let _ = send_signal(pod.pid, libc::SIGKILL);
            pod.exited().await
        }
    };
    Termination {
        pod: pod.name.clone(),
        deleted_at: t0,
        prestop_outcome,
        prestop_charged: charged,
        granted,
        sigterm_at,
        exit_at: exit.t,
        exit_code: exit.shown(),
        sigkill,
    }
}

/// The kubelet's readiness prober: a new TCP connection per probe (`DisableKeepAlives`),
/// success iff 200 <= status < 400, Ready flips after `success_threshold` / `failure_threshold`
/// consecutive results. It keeps probing terminating pods until the process is gone.
pub fn start_prober(pod: Arc<Pod>, probe: Probe, clock: Clock) {
    tokio::spawn(async move {
        let period = clock.real(probe.period);
        let timeout = clock.real(probe.timeout);
        tokio::select! {
            _ = clock.sleep_cluster(probe.initial_delay) => {}
            _ = pod.exited() => return,
        }
        let (mut ok_run, mut fail_run) = (0u32, 0u32);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = pod.exited() => return,
            }
            let ok = matches!(
                http_get(pod.addr, "/health/ready", timeout).await,
                Ok(c) if (200..400).contains(&c)
            );
            if ok {
                ok_run += 1;
                fail_run = 0;
            } else {
                fail_run += 1;
                ok_run = 0;
            }
            let was = pod.is_ready();
            if !was && ok_run >= probe.success_threshold {
                pod.ready.store(true, Ordering::SeqCst);
                *pod.ready_since.lock().unwrap() = Some(clock.now());
                pod.event("ready");
            } else if was && fail_run >= probe.failure_threshold {
                pod.ready.store(false, Ordering::SeqCst);
                *pod.ready_since.lock().unwrap() = None;
                pod.event("unready");
            }
        }
    });
}

/// One-shot HTTP/1.1 GET on a fresh connection with `Connection: close`; returns the status.
pub async fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, String> {
    http_request(addr, "GET", path, timeout).await
}

/// One-shot request on a fresh connection (probes, preStop, the tutorial's admin toggle).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<u16, String> {
    http_exchange(addr, method, path, timeout)
        .await
        .map(|r| r.0)
}

/// Like [`http_request`], also returning the raw response (head and body).
pub async fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.34\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let head = String::from_utf8_lossy(&buf);
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| "no HTTP status line".to_string())?;
        Ok((code, head.into_owned()))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| "timeout".to_string())?
}

/// Formats seconds for the server's env/CLI (`2` rather than `2.0`, else up to ms precision).
pub fn fmt_secs(s: f64) -> String {
    let r = (s * 1000.0).round() / 1000.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// Scales the `seconds=N` query parameter of the httpGet preStop path to wall time.
fn scale_seconds_query(path: &str, scale: f64) -> String {
    let Some((p, q)) = path.split_once('?') else {
        return path.to_string();
    };
    let q: Vec<String> = q
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some(("seconds", v)) => match v.parse::<f64>() {
                Ok(n) => format!("seconds={}", fmt_secs(n / scale)),
                Err(_) => kv.to_string(),
            },
            _ => kv.to_string(),
        })
        .collect();
    format!("{p}?{}", q.join("&"))
}
