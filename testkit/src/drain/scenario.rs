//! Scenario definitions and the control-plane pieces that act on pods: the Deployment
//! controller (rolling updates honouring maxSurge / maxUnavailable / minReadySeconds), pod
//! deletion through the kubelet emulator, and the tutorial's readiness-toggle experiment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::ingress::{read_access_log, read_error_log, Endpoints, Nginx};
use super::load::{Load, LoadSpec};
use super::pod::{self, fmt_secs, kubelet_delete, Pod, Termination};
use super::report::{PodRecord, ScenarioResult};
use super::settings::{render_chart, DeploymentSpec, PreStop};
use super::{Clock, Rng};

/// What a scenario must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Zero lost requests, zero failed upstream attempts, every old pod exits 0, no SIGKILL.
    Clean,
    /// The harness must see losses (negative controls, and the tutorial's broken preStop).
    Lossy,
}

/// The pod template a rollout moves to (what changes the pod-template hash).
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    /// Pod-template label: pod names and plot colours ("v1", "v2", "v1-cm").
    pub label: String,
    /// `APP_VERSION` of the pods.
    pub version: String,
    /// Env overrides on top of the rendered container env (e.g. a changed ConfigMap).
    pub env: BTreeMap<String, String>,
}

impl Template {
    pub fn version(v: &str) -> Template {
        Template {
            label: v.into(),
            version: v.into(),
            env: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Action {
    /// Rolling update to each template in turn (two entries = update then rollback).
    Rollouts(Vec<Template>),
    /// Tutorial step 3-2: toggle readiness off on one pod, wait, toggle on.
    ReadinessToggle,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub title: String,
    pub expect: Expect,
    pub spec: DeploymentSpec,
    /// Endpoint propagation (cluster seconds) and its relative jitter (±).
    pub propagation: f64,
    pub jitter: f64,
    pub action: Action,
    /// Negative control: endpoints are not removed at deletion (only after the process is gone).
    pub stale_endpoints: bool,
    /// Duration of `/slow` requests, cluster seconds.
    pub slow_seconds: f64,
}

/// Harness-wide options (from the command line or the quick test).
#[derive(Clone, Debug)]
pub struct Options {
    pub bin: PathBuf,
    /// Chart directory; `None` = tutorial defaults.
    pub chart: Option<PathBuf>,
    pub scale: f64,
    /// Requests per wall second.
    pub rate: f64,
    pub seed: u64,
    /// Scratch directory (nginx prefixes, pod logs, raw request CSVs).
    pub work: PathBuf,
}

/// Cluster seconds of load before the action and after the last pod exited.
const WARMUP: f64 = 5.0;
const COOLDOWN: f64 = 5.0;
/// The harness's own "does nginx route yet" request; excluded from every count.
pub const WARMUP_PATH: &str = "/health/live?bench-warmup";
/// Client timeout margin (cluster seconds) on top of a request's expected duration.
const CLIENT_TIMEOUT: f64 = 10.0;

/// Renders a chart variant, or applies `fallback` to the tutorial defaults without a chart.
fn variant(
    opts: &Options,
    sets: &[(&str, &str)],
    fallback: impl FnOnce(&mut DeploymentSpec),
) -> Result<DeploymentSpec, String> {
    match &opts.chart {
        Some(chart) => {
            let sets: Vec<(&str, String)> = sets.iter().map(|(k, v)| (*k, v.to_string())).collect();
            render_chart(chart, &sets)
        }
        None => {
            let mut d = DeploymentSpec::tutorial_defaults();
            fallback(&mut d);
            if !sets.is_empty() {
                let s: Vec<String> = sets.iter().map(|(k, v)| format!("{k}={v}")).collect();
                d.source
                    .push_str(&format!(" + equivalent of --set {}", s.join(",")));
            }
            Ok(d)
        }
    }
}

/// The tutorial's own settings: `exec /bin/sh -c "sleep 10"` (fails in our distroless image),
/// no in-app delay. Our chart cannot render this hook; it is applied on top of the chart's
/// probes and strategy.
fn tutorial(opts: &Options) -> Result<DeploymentSpec, String> {
    let mut d = variant(opts, &[("gracefulShutdown.preStopMode", "none")], |_| {})?;
    d.pre_stop = PreStop::ExecFails(vec!["/bin/sh".into(), "-c".into(), "sleep 10".into()]);
    d.env.insert("DRAIN_DELAY_SECONDS".into(), "0".into());
    d.env.remove("PRESTOP_ENDPOINT");
    d.min_ready_seconds = 0.0;
    d.source
        .push_str(" + tutorial overrides: preStop exec /bin/sh -c 'sleep 10', DRAIN_DELAY_SECONDS=0, minReadySeconds=0");
    Ok(d)
}

fn v1_to_v2() -> Action {
    Action::Rollouts(vec![Template::version("v2")])
}

fn base(name: &str, title: &str, expect: Expect, spec: DeploymentSpec, prop: f64) -> Scenario {
    Scenario {
        name: name.into(),
        title: title.into(),
        expect,
        spec,
        propagation: prop,
        jitter: 0.3,
        action: v1_to_v2(),
        stale_endpoints: false,
        slow_seconds: 5.0,
    }
}

/// The full matrix: preStop variants × propagation, negative controls, Part 3.
pub fn matrix(opts: &Options) -> Result<Vec<Scenario>, String> {
    let mut out = Vec::new();
    for prop in [0.5, 3.0] {
        let p = if prop < 1.0 { "p0.5" } else { "p3" };
        out.push(base(
            &format!("tutorial-exec-sh-{p}"),
            "tutorial settings: exec /bin/sh preStop (fails in distroless), no in-app delay",
            Expect::Lossy,
            tutorial(opts)?,
            prop,
        ));
        out.push(base(
            &format!("prestop-sleep-{p}"),
            "native preStop sleep (chart: preStopMode=sleep)",
            Expect::Clean,
            variant(opts, &[("gracefulShutdown.preStopMode", "sleep")], |_| {})?,
            prop,
        ));
        out.push(base(
            &format!("prestop-exec-sleep-{p}"),
            "exec preStop of our own `hello-world sleep` (chart: preStopMode=exec)",
            Expect::Clean,
            variant(opts, &[("gracefulShutdown.preStopMode", "exec")], |d| {
                d.pre_stop = PreStop::ExecSleep(10.0)
            })?,
            prop,
        ));
        out.push(base(
            &format!("no-prestop-drain-delay-{p}"),
            "no preStop, DRAIN_DELAY_SECONDS=10 (chart: preStopMode=none, drainDelaySeconds=10)",
            Expect::Clean,
            variant(
                opts,
                &[
                    ("gracefulShutdown.preStopMode", "none"),
                    ("gracefulShutdown.drainDelaySeconds", "10"),
                ],
                |d| {
                    d.pre_stop = PreStop::None;
                    d.env.insert("DRAIN_DELAY_SECONDS".into(), "10".into());
                },
            )?,
            prop,
        ));
        out.push(base(
            &format!("prestop-httpget-{p}"),
            "httpGet preStop /internal/prestop (chart: preStopMode=httpGet)",
            Expect::Clean,
            variant(opts, &[("gracefulShutdown.preStopMode", "httpGet")], |d| {
                d.pre_stop = PreStop::HttpGet {
                    path: "/internal/prestop?seconds=10".into(),
                };
                d.env.insert("PRESTOP_ENDPOINT".into(), "true".into());
            })?,
            prop,
        ));
    }
    out.extend(negative_controls(opts)?);
    out.extend(part3(opts)?);
    Ok(out)
}

fn negative_controls(opts: &Options) -> Result<Vec<Scenario>, String> {
    let mut naive = base(
        "neg-sigterm-no-endpoint-removal",
        "NEGATIVE: SIGTERM at deletion, endpoint kept until the process is gone, no delay",
        Expect::Lossy,
        variant(opts, &[("gracefulShutdown.preStopMode", "none")], |d| {
            d.pre_stop = PreStop::None
        })?,
        0.5,
    );
    naive
        .spec
        .env
        .insert("DRAIN_DELAY_SECONDS".into(), "0".into());
    naive.stale_endpoints = true;
    naive
        .spec
        .source
        .push_str(" + DRAIN_DELAY_SECONDS=0, stale endpoints");
    let mut slow = base(
        "neg-drain-timeout-below-slow",
        "NEGATIVE: drainTimeoutSeconds=5 while 30 s /slow requests are in flight",
        Expect::Lossy,
        variant(
            opts,
            &[
                ("gracefulShutdown.preStopMode", "sleep"),
                ("gracefulShutdown.drainTimeoutSeconds", "5"),
                ("gracefulShutdown.drainDelaySeconds", "1"),
            ],
            |d| {
                d.env.insert("DRAIN_TIMEOUT_SECONDS".into(), "5".into());
            },
        )?,
        0.5,
    );
    slow.slow_seconds = 30.0;
    Ok(vec![naive, slow])
}

fn part3(opts: &Options) -> Result<Vec<Scenario>, String> {
    let chart = || variant(opts, &[], |_| {});
    let mut toggle = base(
        "part3-readiness-toggle",
        "tutorial 3-2: readiness toggled off on one pod, then on again",
        Expect::Clean,
        chart()?,
        3.0,
    );
    toggle.action = Action::ReadinessToggle;
    let mut cm = base(
        "part3-configmap-change",
        "tutorial 3-1: ConfigMap change (LOG_LEVEL=debug, GREETING) rolls the pods",
        Expect::Clean,
        chart()?,
        3.0,
    );
    let mut env = BTreeMap::new();
    env.insert("LOG_LEVEL".into(), "debug".into());
    env.insert("GREETING".into(), "Hello ConfigMap".into());
    cm.action = Action::Rollouts(vec![Template {
        label: "v1-cm".into(),
        version: "v1".into(),
        env,
    }]);
    let update = base(
        "part3-rolling-update",
        "tutorial 3-5: v1 -> v2 rolling update with the chart defaults",
        Expect::Clean,
        chart()?,
        3.0,
    );
    let mut rollback = base(
        "part3-rollback",
        "tutorial 3-5: v1 -> v2, then rollback to v1",
        Expect::Clean,
        chart()?,
        3.0,
    );
    rollback.action = Action::Rollouts(vec![Template::version("v2"), Template::version("v1")]);
    Ok(vec![toggle, cm, update, rollback])
}

/// The quick variant for the test suite: one chart-default rolling update.
pub fn quick(opts: &Options) -> Result<Vec<Scenario>, String> {
    let mut s = base(
        "quick-rolling-update",
        "quick: v1 -> v2 rolling update with the chart defaults",
        Expect::Clean,
        variant(opts, &[], |_| {})?,
        3.0,
    );
    s.slow_seconds = 2.0;
    Ok(vec![s])
}

/// The simulated namespace: every pod of the scenario and the deletions in progress.
struct Cluster {
    opts: Options,
    clock: Clock,
    dir: PathBuf,
    spec: DeploymentSpec,
    stale: bool,
    pods: Arc<Mutex<Vec<Arc<Pod>>>>,
    counter: Mutex<u32>,
    deletions: Mutex<Vec<JoinHandle<Termination>>>,
}

impl Cluster {
    /// The container env with the drain durations scaled to wall time.
    fn env(&self, tpl: &Template) -> BTreeMap<String, String> {
        let mut env = self.spec.env.clone();
        env.extend(tpl.env.clone());
        for key in ["DRAIN_DELAY_SECONDS", "DRAIN_TIMEOUT_SECONDS"] {
            if let Some(v) = env.get(key).and_then(|v| v.parse::<f64>().ok()) {
                env.insert(key.into(), fmt_secs(v / self.clock.scale));
            }
        }
        if matches!(self.spec.pre_stop, PreStop::HttpGet { .. }) {
            env.entry("PRESTOP_ENDPOINT".into())
                .or_insert_with(|| "true".into());
        }
        // The harness owns these; a chart value must not override them.
        for key in [
            "HOST",
            "PORT",
            "ACCESS_LOG",
            "POD_NAME",
            "APP_VERSION",
            "ADMIN_TOKEN",
        ] {
            env.remove(key);
        }
        env
    }

    async fn create(&self, tpl: &Template) -> Result<Arc<Pod>, String> {
        let n = {
            let mut c = self.counter.lock().unwrap();
            *c += 1;
            *c
        };
        let name = format!("{}-{n}", tpl.label);
        let p = pod::spawn(
            &self.opts.bin,
            &name,
            &tpl.label,
            &tpl.version,
            &self.env(tpl),
            self.clock,
            &self.dir,
        )
        .await?;
        pod::start_prober(p.clone(), self.spec.readiness.clone(), self.clock);
        self.pods.lock().unwrap().push(p.clone());
        Ok(p)
    }

    fn delete(&self, p: &Arc<Pod>) {
        if self.stale {
            p.stale_endpoint.store(true, Ordering::SeqCst);
        }
        let h = tokio::spawn(kubelet_delete(
            p.clone(),
            self.spec.pre_stop.clone(),
            self.spec.grace_seconds,
            self.opts.bin.clone(),
            self.clock,
        ));
        self.deletions.lock().unwrap().push(h);
    }

    /// Deployment "available": Ready for at least minReadySeconds and not terminating.
    fn available(&self, p: &Pod) -> bool {
        let since = *p.ready_since.lock().unwrap();
        p.exit().is_none()
            && !p.is_terminating()
            && since.is_some_and(|t| {
                self.clock.now() - t >= self.clock.real(self.spec.min_ready_seconds).as_secs_f64()
            })
    }

    /// One rolling update (Deployment controller semantics, simplified to one old and one
    /// new ReplicaSet): scale the new set up while `live <= replicas + maxSurge`, scale the
    /// old set down while `available > replicas - maxUnavailable`; unavailable old pods go
    /// first. Terminating pods count for neither (as in the ReplicaSet controller).
    async fn rollout(&self, old: Vec<Arc<Pod>>, tpl: &Template) -> Result<Vec<Arc<Pod>>, String> {
        let r = self.spec.replicas as usize;
        let surge = self.spec.max_surge as usize;
        let min_avail = r.saturating_sub(self.spec.max_unavailable as usize);
        let mut old = old;
        let mut new: Vec<Arc<Pod>> = Vec::new();
        let deadline = self.clock.now() + 120.0;
        loop {
            while new.len() < r && new.len() + old.len() < r + surge {
                new.push(self.create(tpl).await?);
            }
            // Old pods that are not available can go at once.
            old.sort_by_key(|p| self.available(p));
            let avail = new
                .iter()
                .chain(old.iter())
                .filter(|p| self.available(p))
                .count();
            let mut budget = avail.saturating_sub(min_avail);
            while let Some(first) = old.first() {
                let is_avail = self.available(first);
                if is_avail && budget == 0 {
                    break;
                }
                let p = old.remove(0);
                self.delete(&p);
                if is_avail {
                    budget -= 1;
                }
            }
            if old.is_empty() && new.len() == r && new.iter().all(|p| self.available(p)) {
                return Ok(new);
            }
            if self.clock.now() > deadline {
                return Err("rollout did not finish within 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_terminations(&self) -> Vec<Termination> {
        let hs: Vec<_> = std::mem::take(&mut *self.deletions.lock().unwrap());
        let mut out = Vec::new();
        for h in hs {
            if let Ok(t) = h.await {
                out.push(t);
            }
        }
        out
    }
}

async fn wait_for(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> Result<(), String> {
    let end = tokio::time::Instant::now() + timeout;
    while !cond() {
        if tokio::time::Instant::now() > end {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Runs one scenario end to end and collects everything the report needs.
pub async fn run(sc: &Scenario, opts: &Options) -> Result<ScenarioResult, String> {
    let clock = Clock::new(opts.scale);
    let dir = opts.work.join(&sc.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let nginx = Arc::new(Nginx::start(&dir.join("nginx")).await?);
    let cluster = Cluster {
        opts: opts.clone(),
        clock,
        dir: dir.clone(),
        spec: sc.spec.clone(),
        stale: sc.stale_endpoints,
        pods: Arc::new(Mutex::new(Vec::new())),
        counter: Mutex::new(0),
        deletions: Mutex::new(Vec::new()),
    };
    let result = drive(sc, opts, &cluster, &nginx, clock).await;
    // Teardown: whatever is still running (the final ReplicaSet) gets SIGTERM, then SIGKILL.
    nginx.stop().await;
    let pods = cluster.pods.lock().unwrap().clone();
    for p in &pods {
        if p.exit().is_none() {
            let _ = super::send_signal(p.pid, libc::SIGTERM);
        }
    }
    for p in &pods {
        if tokio::time::timeout(Duration::from_secs(5), p.exited())
            .await
            .is_err()
        {
            let _ = super::send_signal(p.pid, libc::SIGKILL);
            p.exited().await;
        }
    }
    let mut res = result?;
    res.access = read_access_log(&dir.join("nginx"), &clock);
    res.errors = read_error_log(&dir.join("nginx"));
    res.pods = pods
        .iter()
        .map(|p| PodRecord {
            name: p.name.clone(),
            version: p.version.clone(),
            addr: p.addr.to_string(),
            events: p.events.lock().unwrap().clone(),
        })
        .collect();
    res.write_requests_csv(&dir.join("requests.csv"));
    Ok(res)
}

async fn drive(
    sc: &Scenario,
    opts: &Options,
    cluster: &Cluster,
    nginx: &Arc<Nginx>,
    clock: Clock,
) -> Result<ScenarioResult, String> {
    let v1 = Template::version("v1");
    let mut current = Vec::new();
    for _ in 0..sc.spec.replicas {
        current.push(cluster.create(&v1).await?);
    }
    let endpoints = Endpoints::start(
        cluster.pods.clone(),
        nginx.clone(),
        sc.propagation,
        sc.jitter,
        Rng::new(opts.seed),
        clock,
    );
    let names: Vec<String> = current.iter().map(|p| p.name.clone()).collect();
    wait_for(
        "the first pods to reach the ingress",
        Duration::from_secs(60),
        || names.iter().all(|n| endpoints.contains(n)),
    )
    .await?;
    // `applied` is stamped when nginx gets SIGHUP; its new workers take a few ms more. Only
    // start the load once a request through nginx reaches a backend.
    let mut through = false;
    for _ in 0..200 {
        if pod::http_get(nginx.addr, WARMUP_PATH, Duration::from_secs(1)).await == Ok(200) {
            through = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !through {
        return Err("nginx never routed to the first pods".into());
    }

    // `/slow` takes whole seconds.
    let slow_wall = (sc.slow_seconds / clock.scale).round().max(1.0);
    let spec = LoadSpec {
        rate: opts.rate,
        slow_seconds: slow_wall,
        timeout: clock.real(CLIENT_TIMEOUT),
        slow_timeout: clock.real(CLIENT_TIMEOUT) + Duration::from_secs_f64(slow_wall),
    };
    let load = Load::start(nginx.addr, spec, clock);
    let load_start = clock.now();
    clock.sleep_cluster(WARMUP).await;
    let action_start = clock.now();
    let mut checks: Vec<(String, bool)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut toggled: Option<(String, f64, f64)> = None;
    let outcome = async {
        match &sc.action {
            Action::Rollouts(templates) => {
                for tpl in templates {
                    current = cluster.rollout(current.clone(), tpl).await?;
                    notes.push(format!(
                        "rollout to {} done at {:.2}s",
                        tpl.label,
                        clock.now()
                    ));
                    // The new pods really run the new template: ask one through the ingress.
                    if let Some(greeting) = tpl.env.get("GREETING") {
                        let body =
                            pod::http_exchange(nginx.addr, "GET", "/", Duration::from_secs(2))
                                .await
                                .map(|r| r.1)
                                .unwrap_or_default();
                        checks.push((
                            format!("after the rollout GET / answers with GREETING {greeting:?}"),
                            body.contains(greeting.as_str()),
                        ));
                    }
                }
            }
            Action::ReadinessToggle => {
                let (t_out, t_back) =
                    readiness_toggle(sc, &current[0], &endpoints, clock, &mut checks, &mut notes)
                        .await?;
                toggled = Some((current[0].addr.to_string(), t_out, t_back));
            }
        }
        Ok::<_, String>(())
    }
    .await;
    let terminations = cluster.wait_terminations().await;
    let action_end = clock.now();
    clock.sleep_cluster(COOLDOWN).await;
    let (outcomes, watch) = load.stop().await;
    let load_end = clock.now();
    let changes = endpoints.stop().await;
    outcome?;
    if let Some((addr, t_out, t_back)) = toggled {
        // 50 ms covers requests nginx's old worker was already handling at the reload.
        let routed = outcomes
            .iter()
            .filter(|o| o.t > t_out + 0.05 && o.t < t_back - 0.05)
            .filter(|o| o.upstream.as_deref() == Some(addr.as_str()))
            .count();
        checks.push((
            format!("no request routed to the unready pod while it was out ({routed} routed)"),
            routed == 0,
        ));
    }
    Ok(ScenarioResult {
        scenario: sc.clone(),
        scale: clock.scale,
        load_window: (load_start, load_end),
        action_window: (action_start, action_end),
        outcomes,
        watch,
        access: Vec::new(),
        errors: Vec::new(),
        terminations,
        pods: Vec::new(),
        endpoint_changes: changes,
        checks,
        notes,
    })
}

/// Tutorial step 3-2 with the probe arithmetic checked: after `POST /admin/toggle-ready` the
/// pod must leave the ingress after about failureThreshold × periodSeconds (+ propagation), get
/// no new requests while out, and return after successThreshold × periodSeconds.
async fn readiness_toggle(
    sc: &Scenario,
    pod: &Arc<Pod>,
    endpoints: &Endpoints,
    clock: Clock,
    checks: &mut Vec<(String, bool)>,
    notes: &mut Vec<String>,
) -> Result<(f64, f64), String> {
    let probe = &sc.spec.readiness;
    let prop_max = sc.propagation * (1.0 + sc.jitter);
    let limit =
        clock.real((f64::from(probe.failure_threshold) + 2.0) * probe.period + prop_max + 10.0);
    let toggle = |p: &Arc<Pod>| {
        let addr = p.addr;
        async move {
            pod::http_request(addr, "POST", "/admin/toggle-ready", Duration::from_secs(2)).await
        }
    };
    let t_off = clock.now();
    let code = toggle(pod).await?;
    pod.event("toggle-ready:off");
    checks.push((format!("toggle off answered 200 (got {code})"), code == 200));
    wait_for("the toggled pod to leave the ingress", limit, || {
        !endpoints.contains(&pod.name)
    })
    .await?;
    let t_out = clock.now();
    let out_after = clock.cluster(t_out - t_off);
    let f = f64::from(probe.failure_threshold);
    // Probes run every period at an arbitrary phase: the F-th failure lands in
    // ((F-1)·period, F·period] after the toggle, then propagation adds its delay.
    let (lo, hi) = ((f - 1.0) * probe.period, f * probe.period + prop_max + 1.0);
    notes.push(format!(
        "left the ingress {out_after:.1} cluster-s after toggle-off (expected {lo:.0}..{hi:.1} = failureThreshold {} x periodSeconds {} + propagation)",
        probe.failure_threshold, probe.period
    ));
    checks.push((
        format!(
            "removal after failureThreshold x periodSeconds: {out_after:.1}s in [{lo:.0}, {hi:.1}]"
        ),
        (lo..=hi).contains(&out_after),
    ));
    clock.sleep_cluster(2.0 * probe.period).await;
    let t_on = clock.now();
    let code = toggle(pod).await?;
    pod.event("toggle-ready:on");
    checks.push((format!("toggle on answered 200 (got {code})"), code == 200));
    wait_for("the toggled pod to return to the ingress", limit, || {
        endpoints.contains(&pod.name)
    })
    .await?;
    let t_back = clock.now();
    let back_after = clock.cluster(t_back - t_on);
    let s = f64::from(probe.success_threshold);
    let hi_back = s * probe.period + prop_max + 1.0;
    notes.push(format!(
        "returned {back_after:.1} cluster-s after toggle-on (expected <= {hi_back:.1})"
    ));
    checks.push((
        format!("return after successThreshold x periodSeconds: {back_after:.1}s <= {hi_back:.1}"),
        back_after <= hi_back,
    ));
    // Let some traffic flow to both pods again before the cooldown.
    clock.sleep_cluster(probe.period).await;
    notes.push(format!(
        "out-of-ingress window {t_out:.2}s..{t_back:.2}s (wall)"
    ));
    Ok((t_out, t_back))
}

/// Default location of the chart inside the repository.
pub fn default_chart(manifest_dir: &Path) -> Option<PathBuf> {
    let p = manifest_dir.join("helm").join("hello-world");
    p.join("Chart.yaml").exists().then_some(p)
}
