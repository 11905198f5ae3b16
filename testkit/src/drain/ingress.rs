//! The ingress: a real nginx configured the way ingress-nginx configures it, and the endpoint
//! controller that feeds it the Ready, non-terminating pods after a propagation delay.
//!
//! Endpoint updates rewrite an `upstreams.conf` include and reload nginx (SIGHUP). Open-source
//! nginx 1.22 has no runtime upstream API, and the Lua module ingress-nginx uses is not part of
//! the provisioned tooling. A reload has one known side effect (docs/drain.md §7/§8.3): the old
//! workers close their idle *client* keep-alive connections, so a client can see a transport
//! error that no backend caused. Every request therefore carries an `x-bench-id` that nginx
//! writes to its access log: a client error whose id nginx never logged is a reload artifact
//! (reported, not counted as a loss); anything nginx logged is attributed from `$status`,
//! `$upstream_addr` and `$upstream_status`. The backend side is unaffected by reloads: old
//! workers finish their in-flight upstream requests, new workers open fresh upstream pools.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::pod::Pod;
use super::{send_signal, Clock, Rng};

pub const NGINX: &str = "/usr/sbin/nginx";

/// Seconds from SIGHUP until a reload is effective (nginx's 100 ms master sleep + fork).
const RELOAD_LEAD: f64 = 0.135;

/// A private nginx master process (own prefix dir, own port).
pub struct Nginx {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    child: Mutex<Option<Child>>,
    pid: u32,
}

impl Nginx {
    pub async fn start(dir: &Path) -> Result<Nginx, String> {
        let bin = if Path::new(NGINX).exists() {
            NGINX.to_string()
        } else {
            which("nginx").ok_or("nginx not found: install it (apt-get install nginx-light)")?
        };
        for sub in ["tmp", "logs"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
        }
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        std::fs::write(dir.join("upstreams.conf"), upstreams(&[])).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("nginx.conf"), config(dir, addr)).map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start nginx: {e}"))?;
        let pid = child.id().ok_or("nginx has no pid")?;
        let nginx = Nginx {
            dir: dir.to_path_buf(),
            addr,
            child: Mutex::new(Some(child)),
            pid,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(nginx);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let err = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        Err(format!(
            "nginx did not start listening on {addr}: {}",
            err.trim()
        ))
    }

    /// Points the upstream at `backends`, reloads, and returns once the reload is effective.
    ///
    /// On SIGHUP the master parses the config, forks new workers, sleeps 100 ms ("allow new
    /// processes to start", `ngx_master_process_cycle`) and only then tells the old workers to
    /// stop; until then the old workers keep routing with the previous upstreams. Waiting for a
    /// new worker pid plus those 100 ms (and a little for the old worker to act on the signal)
    /// makes the recorded "applied" time the moment the change really takes effect, so timing
    /// checks and the plot are not off by a reload.
    pub async fn apply(&self, backends: &[SocketAddr]) -> Result<(), String> {
        let tmp = self.dir.join("upstreams.conf.tmp");
        std::fs::write(&tmp, upstreams(backends)).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, self.dir.join("upstreams.conf")).map_err(|e| e.to_string())?;
        let before = children(self.pid);
        send_signal(self.pid, libc::SIGHUP).map_err(|e| e.to_string())?;
        let end = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            if children(self.pid).iter().any(|c| !before.contains(c)) {
                break;
            }
            if tokio::time::Instant::now() > end {
                return Err("nginx started no new worker within 3 s of SIGHUP".into());
            }
        }
        tokio::time::sleep(Duration::from_millis(130)).await;
        Ok(())
    }

    /// Fast shutdown (SIGTERM) once the load has stopped; waits for the master to exit.
    pub async fn stop(&self) {
        let child = self.child.lock().unwrap().take();
        if let Some(mut child) = child {
            let _ = send_signal(self.pid, libc::SIGTERM);
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}

/// Child pids of `pid` (nginx workers), from /proc.
fn children(pid: u32) -> BTreeSet<u32> {
    let direct = format!("/proc/{pid}/task/{pid}/children");
    if let Ok(text) = std::fs::read_to_string(direct) {
        return text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    // Kernels without CONFIG_PROC_CHILDREN: scan every process's parent pid.
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // Field 4 (ppid) follows the parenthesised command name.
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            if let Ok(p) = e.file_name().to_string_lossy().parse() {
                out.insert(p);
            }
        }
    }
    out
}

fn which(name: &str) -> Option<String> {
    std::env::var("PATH").ok()?.split(':').find_map(|d| {
        let p = Path::new(d).join(name);
        p.exists().then(|| p.display().to_string())
    })
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn upstreams(backends: &[SocketAddr]) -> String {
    if backends.is_empty() {
        // An upstream block needs a server; ingress-nginx answers 503 for a Service without
        // endpoints, nginx with a single `down` server answers 502 ("no live upstreams").
        return "server 127.0.0.1:9 down;\n".into();
    }
    backends
        .iter()
        .map(|b| format!("server {b} max_fails=0;\n"))
        .collect()
}

/// nginx.conf modelled on ingress-nginx's template and defaults (docs/drain.md §1.5, §8.3):
/// upstream keep-alive 320 / 60 s / 10000, HTTP/1.1 upstream with `Connection: ""`,
/// `proxy_next_upstream error timeout` with 3 tries (POST/PATCH/LOCK are not retried once sent),
/// no proxy buffering. `max_fails=0` per server: ingress-nginx balances in Lua without nginx's
/// passive health checks, so a failing endpoint is not hidden for 10 s after its first error.
fn config(dir: &Path, addr: SocketAddr) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log error;
worker_shutdown_timeout 240s;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    log_format bench '$msec|$http_x_bench_id|$request_method|$uri|$status|$upstream_addr|$upstream_status|$request_time';
    access_log {d}/access.log bench;
    keepalive_timeout 75s;
    keepalive_requests 1000;
    upstream app {{
        include {d}/upstreams.conf;
        keepalive 320;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }}
    server {{
        listen {addr};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 0;
            proxy_connect_timeout 5s;
            proxy_send_timeout 60s;
            proxy_read_timeout 60s;
            proxy_buffering off;
            proxy_request_buffering on;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"#
    )
}

/// One endpoint change: when the controller saw it and when nginx got it.
#[derive(Clone, Debug)]
pub struct EndpointChange {
    pub observed: f64,
    pub applied: f64,
    pub pods: Vec<String>,
}

/// The EndpointSlice controller + ingress-nginx sync, collapsed into one loop: the set of
/// endpoints is the Ready, non-terminating, running pods; each change reaches nginx after
/// `propagation ± jitter` cluster seconds (changes apply in order).
pub struct Endpoints {
    /// Pod names currently configured in nginx.
    pub applied: Arc<Mutex<BTreeSet<String>>>,
    pub history: Arc<Mutex<Vec<EndpointChange>>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Endpoints {
    pub fn start(
        pods: Arc<Mutex<Vec<Arc<Pod>>>>,
        nginx: Arc<Nginx>,
        propagation: f64,
        jitter: f64,
        mut rng: Rng,
        clock: Clock,
    ) -> Endpoints {
        let applied = Arc::new(Mutex::new(BTreeSet::new()));
        let history = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stop_rx) = watch::channel(false);
        let (tx, mut rx) = mpsc::unbounded_channel::<(f64, f64, Vec<Arc<Pod>>)>();

        // Applier: waits until each change's due time, then rewrites nginx's upstreams.
        let (ap, hist, ck, everyone) = (applied.clone(), history.clone(), clock, pods.clone());
        let applier = tokio::spawn(async move {
            while let Some((observed, due, set)) = rx.recv().await {
                // A reload takes effect ~RELOAD_LEAD after SIGHUP (see `Nginx::apply`): send it
                // that much early so the change lands at its due time where possible.
                let wait = due - RELOAD_LEAD - ck.now();
                if wait > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                }
                let addrs: Vec<SocketAddr> = set.iter().map(|p| p.addr).collect();
                if let Err(e) = nginx.apply(&addrs).await {
                    eprintln!("drain-bench: nginx reload failed: {e}");
                }
                let names: BTreeSet<String> = set.iter().map(|p| p.name.clone()).collect();
                let cur = ap.lock().unwrap();
                for p in &set {
                    if !cur.contains(&p.name) {
                        p.event("endpoint+");
                    }
                }
                let gone: Vec<String> = cur.difference(&names).cloned().collect();
                drop(cur);
                // Removed pods are no longer in `set`: look them up to annotate their timelines.
                let all = everyone.lock().unwrap().clone();
                for p in all.iter().filter(|p| gone.contains(&p.name)) {
                    p.event("endpoint-");
                }
                *ap.lock().unwrap() = names.clone();
                hist.lock().unwrap().push(EndpointChange {
                    observed,
                    applied: ck.now(),
                    pods: names.into_iter().collect(),
                });
            }
        });

        // Watcher: computes the desired endpoint set every 5 ms.
        let task = tokio::spawn(async move {
            let mut last: Vec<String> = Vec::new();
            let mut last_due = 0.0f64;
            loop {
                let all = pods.lock().unwrap().clone();
                let desired: Vec<Arc<Pod>> = all
                    .into_iter()
                    .filter(|p| {
                        if p.exit().is_some() {
                            return false;
                        }
                        let stale = p.stale_endpoint.load(std::sync::atomic::Ordering::SeqCst);
                        if p.is_terminating() {
                            // Real EndpointSlice: ready=false at deletion. Negative control:
                            // the endpoint stays until the process is gone.
                            stale && last.contains(&p.name)
                        } else {
                            p.is_ready()
                        }
                    })
                    .collect();
                let names: Vec<String> = desired.iter().map(|p| p.name.clone()).collect();
                if names != last {
                    let now = clock.now();
                    let d = propagation * (1.0 + jitter * (2.0 * rng.next_f64() - 1.0));
                    let due = (now + clock.real(d).as_secs_f64()).max(last_due);
                    last_due = due;
                    last = names;
                    let _ = tx.send((now, due, desired));
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    _ = stop_rx.changed() => break,
                }
            }
            drop(tx);
            let _ = applier.await;
        });
        Endpoints {
            applied,
            history,
            stop,
            task,
        }
    }

    pub fn contains(&self, pod: &str) -> bool {
        self.applied.lock().unwrap().contains(pod)
    }

    pub async fn stop(self) -> Vec<EndpointChange> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let h = self.history.lock().unwrap().clone();
        h
    }
}

/// One line of nginx's access log.
#[derive(Clone, Debug)]
pub struct AccessEntry {
    pub t: f64,
    pub id: Option<u64>,
    pub method: String,
    pub uri: String,
    pub status: u16,
    /// Every upstream attempt, in order (retries add entries).
    pub attempts: Vec<(String, String)>,
    pub request_time: f64,
}

pub fn read_access_log(dir: &Path, clock: &Clock) -> Vec<AccessEntry> {
    let text = std::fs::read_to_string(dir.join("access.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            if f.len() < 8 {
                return None;
            }
            let split = |s: &str| -> Vec<String> {
                s.split(", ")
                    .flat_map(|x| x.split(" : "))
                    .map(|x| x.trim().to_string())
                    .collect()
            };
            let addrs = split(f[5]);
            let stats = split(f[6]);
            Some(AccessEntry {
                t: clock.at_unix(f[0].parse().ok()?),
                id: f[1].parse().ok(),
                method: f[2].to_string(),
                uri: f[3].to_string(),
                status: f[4].parse().ok()?,
                attempts: addrs.into_iter().zip(stats).collect(),
                request_time: f[7].parse().unwrap_or(0.0),
            })
        })
        .collect()
}

/// One upstream-related line of nginx's error log, classified.
#[derive(Clone, Debug)]
pub struct ErrorEntry {
    pub kind: String,
    pub upstream: Option<String>,
    pub request: String,
}

pub fn read_error_log(dir: &Path) -> Vec<ErrorEntry> {
    let text = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("[error]") || l.contains("[crit]") || l.contains("[emerg]"))
        .filter(|l| !l.contains("bench-warmup"))
        .map(|l| {
            let kind = if l.contains("upstream prematurely closed") {
                "upstream_prematurely_closed"
            } else if l.contains("(104: Connection reset by peer)") {
                "upstream_reset"
            } else if l.contains("(111: Connection refused)") {
                "upstream_refused"
            } else if l.contains("no live upstreams") {
                "no_live_upstreams"
            } else if l.contains("timed out") {
                "upstream_timeout"
            } else if l.contains("[emerg]") {
                "nginx_emerg"
            } else {
                "other"
            };
            let quoted = |key: &str| {
                l.split_once(key)
                    .and_then(|(_, r)| r.split('"').nth(1))
                    .map(str::to_string)
            };
            ErrorEntry {
                kind: kind.to_string(),
                upstream: quoted("upstream: ").map(|u| {
                    u.trim_start_matches("http://")
                        .split('/')
                        .next()
                        .unwrap_or("")
                        .to_string()
                }),
                request: quoted("request: ").unwrap_or_default(),
            }
        })
        .collect()
}
