//! One SVG timeline per scenario, drawn by `hello_world::watch::svg` (the renderer `watch --svg`
//! uses); this file only turns a scenario's records into its [`Plot`].
//!
//! Top panel: requests per second by the backend's pod template (250 ms bins, by request start),
//! lost requests as red marks, failed upstream attempts (nginx retried or not) as orange marks,
//! reload artifacts as grey marks. Bottom panel: one band per pod with its phases — starting,
//! Ready, preStop (deleted, before SIGTERM), draining (SIGTERM to exit) — and a dark line
//! while the pod is configured in nginx.

use std::collections::{BTreeMap, HashMap, HashSet};

use hello_world::watch::svg::{self as plot, colour, Band, Mark, Plot, Row, Series};

use super::report::{ScenarioResult, Summary};

const BIN: f64 = 0.25;

pub fn render(r: &ScenarioResult, s: &Summary) -> String {
    plot::render(&to_plot(r, s))
}

fn to_plot(r: &ScenarioResult, s: &Summary) -> Plot {
    let (t0, t1) = r.load_window;
    let t_end = r
        .pods
        .iter()
        .flat_map(|p| p.events.iter().map(|e| e.t))
        .fold(t1, f64::max)
        .min(t1 + 2.0);
    let t_start = (t0 - 0.5).max(0.0);
    let span = (t_end - t_start).max(1.0);
    // Requests per second by template, binned by start time; when every pod has the same
    // template (readiness toggle), by pod.
    let by_addr: HashMap<String, (String, String)> = r.pod_of_addr();
    let nbins = (span / BIN).ceil() as usize + 1;
    let per_pod = r.pods.iter().all(|p| p.version == r.pods[0].version);
    let mut bins: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for out in r.outcomes.iter().filter(|o| !o.lost()) {
        let label = out
            .upstream
            .as_ref()
            .and_then(|a| by_addr.get(a))
            .map(|p| if per_pod { p.0.clone() } else { p.1.clone() })
            .unwrap_or_else(|| "?".into());
        let b = ((out.t - t_start) / BIN) as usize;
        let v = bins.entry(label).or_insert_with(|| vec![0.0; nbins]);
        if b < nbins {
            v[b] += 1.0 / BIN;
        }
    }
    let series = bins
        .into_iter()
        .enumerate()
        .map(|(i, (label, v))| Series {
            colour: colour(&label, i),
            label,
            points: v
                .iter()
                .enumerate()
                .map(|(b, val)| (t_start + (b as f64 + 0.5) * BIN, *val))
                .collect(),
        })
        .collect();
    let logged: HashSet<u64> = r.access.iter().filter_map(|a| a.id).collect();
    let marks = r
        .outcomes
        .iter()
        .filter(|o| o.lost())
        .map(|out| {
            let artifact = out.status.is_none() && !logged.contains(&out.id);
            Mark {
                t: out.t,
                lane: u8::from(artifact),
                colour: if artifact { "#999" } else { "#d62728" },
                tip: format!(
                    "{} {}",
                    out.kind.label(),
                    out.loss_kind().unwrap_or_default()
                ),
            }
        })
        .collect();
    let mut dots = Vec::new();
    for a in r.access.iter().filter(|a| a.id.is_some()) {
        for (addr, st) in &a.attempts {
            if matches!(st.as_str(), "502" | "503" | "504") {
                let pod = by_addr.get(addr).map(|p| p.0.as_str()).unwrap_or(addr);
                dots.push(Mark {
                    t: a.t - a.request_time,
                    lane: 0,
                    colour: "#ff7f0e",
                    tip: format!("{} {} upstream {st} from {pod}", a.method, a.uri),
                });
            }
        }
    }
    let sc = &r.scenario;
    Plot {
        title: format!("{} — {}", sc.name, s.verdict),
        subtitle: vec![
            sc.title.clone(),
            format!(
                "preStop {} | grace {}s | DRAIN_DELAY {}s | drain timeout {}s | propagation {}s ±{:.0}% | all times ÷{} (axis: wall s)",
                sc.spec.pre_stop.label(),
                sc.spec.grace_seconds,
                sc.spec.drain_delay(),
                sc.spec.drain_timeout(),
                sc.propagation,
                sc.jitter * 100.0,
                r.scale
            ),
        ],
        t_start,
        t_end,
        y_label: format!("req/s by {}", if per_pod { "pod" } else { "pod template" }),
        series,
        marks,
        dots,
        legend: vec![
            ("| lost request".into(), Some("#d62728")),
            ("   ".into(), None),
            ("● failed upstream attempt (nginx log)".into(), Some("#ff7f0e")),
            ("   ".into(), None),
            ("| reload artifact".into(), Some("#999")),
            (
                format!(
                    "   lost {} · upstream errors {} · artifacts {} · exit codes {:?} · SIGKILL {}",
                    s.lost, s.upstream_errors, s.reload_artifacts, s.exit_codes, s.sigkills
                ),
                None,
            ),
        ],
        rows: r.pods.iter().map(|p| pod_row(p, t_start, t_end)).collect(),
        caption: vec![
            (format!("wall seconds (× {} = cluster seconds) — bands: ", r.scale), None),
            ("starting".into(), Some("#999")),
            (" · ".into(), None),
            ("Ready".into(), Some("#5a9e4b")),
            (" · ".into(), None),
            ("preStop".into(), Some("#c9a227")),
            (" · ".into(), None),
            ("draining".into(), Some("#e07b24")),
            (" · black line = in nginx upstreams".into(), None),
        ],
    }
}

/// A pod's phases: starting, Ready, preStop, draining; unready stretches; in-ingress lines.
fn pod_row(p: &super::report::PodRecord, t_start: f64, t_end: f64) -> Row {
    let ev = |what: &str| p.events.iter().find(|e| e.what == what).map(|e| e.t);
    let exit = p
        .events
        .iter()
        .find(|e| e.what.starts_with("exit:"))
        .map(|e| e.t);
    let created = ev("created").unwrap_or(t_start).max(t_start);
    let (ready, deleted, sigterm) = (ev("ready"), ev("deleted"), ev("SIGTERM"));
    let end = exit.unwrap_or(t_end).min(t_end);
    let mut bands = Vec::new();
    let mut band = |a: f64, b: f64, fill: &'static str, tip: &str| {
        bands.push(Band {
            from: a.max(t_start),
            to: b,
            fill,
            tip: tip.to_owned(),
        });
    };
    band(
        created,
        ready.or(deleted).unwrap_or(end).min(end),
        "#d9d9d9",
        "starting",
    );
    if let Some(rd) = ready {
        band(rd, deleted.unwrap_or(end).min(end), "#b7e4b0", "Ready");
    }
    if let Some(d) = deleted {
        band(d, sigterm.unwrap_or(end).min(end), "#ffe08a", "preStop");
    }
    if let Some(st) = sigterm {
        band(st, end, "#f7a35c", "draining (SIGTERM to exit)");
    }
    let mut unready: Option<f64> = None;
    let mut since: Option<f64> = None;
    let mut lines = Vec::new();
    for e in &p.events {
        match e.what.as_str() {
            "unready" => unready = Some(e.t),
            "ready" => {
                if let Some(a) = unready.take() {
                    band(a, e.t, "#bbbbbb", "not Ready (probe failures)");
                }
            }
            "endpoint+" => since = Some(e.t),
            "endpoint-" => {
                if let Some(a) = since.take() {
                    lines.push((a, e.t));
                }
            }
            _ => {}
        }
    }
    if let Some(a) = since {
        lines.push((a, end));
    }
    let code = p
        .events
        .iter()
        .find_map(|e| e.what.strip_prefix("exit:"))
        .unwrap_or("");
    Row {
        label: format!("{} ({})", p.name, p.addr.rsplit(':').next().unwrap_or("")),
        bands,
        lines,
        note: exit
            .filter(|_| !code.is_empty())
            .map(|e| (e, format!("exit {code}"))),
    }
}
