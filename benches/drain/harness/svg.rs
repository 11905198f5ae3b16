//! One SVG timeline per scenario, written directly (no plotting dependency needed for lines,
//! rectangles and text).
//!
//! Top panel: requests per second by the backend's pod template (250 ms bins, by request start),
//! lost requests as red marks, failed upstream attempts (nginx retried or not) as orange marks, reload
//! artifacts as grey marks. Bottom panel: one band per pod with its phases — starting,
//! Ready, preStop (deleted, before SIGTERM), draining (SIGTERM to exit) — and a dark line
//! while the pod is configured in nginx.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::report::{ScenarioResult, Summary};

const W: f64 = 1000.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 50.0;
const TOP: f64 = 64.0;
const CHART_H: f64 = 200.0;
const ROW_H: f64 = 18.0;
const BIN: f64 = 0.25;

fn colour(label: &str, i: usize) -> &'static str {
    match label {
        "v1" => "#1f77b4",
        "v2" => "#2ca02c",
        "v1-cm" => "#9467bd",
        _ => ["#8c564b", "#e377c2", "#17becf"][i % 3],
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn render(r: &ScenarioResult, s: &Summary) -> String {
    let (t0, t1) = r.load_window;
    let t_end = r
        .pods
        .iter()
        .flat_map(|p| p.events.iter().map(|e| e.t))
        .fold(t1, f64::max)
        .min(t1 + 2.0);
    let t_start = (t0 - 0.5).max(0.0);
    let span = (t_end - t_start).max(1.0);
    let x = |t: f64| LEFT + (t - t_start) / span * (W - LEFT - RIGHT);
    let rows = r.pods.len() as f64;
    let bands_top = TOP + CHART_H + 40.0;
    let h = bands_top + rows * (ROW_H + 4.0) + 70.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h:.0}" viewBox="0 0 {W} {h:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{} — {}</text>"#,
        esc(&r.scenario.name),
        esc(&s.verdict)
    );
    let _ = writeln!(
        o,
        r##"<text x="{LEFT}" y="34" fill="#444">{}</text>"##,
        esc(&r.scenario.title)
    );
    let _ = writeln!(
        o,
        r##"<text x="{LEFT}" y="50" fill="#444">preStop {} | grace {}s | DRAIN_DELAY {}s | drain timeout {}s | propagation {}s ±{:.0}% | all times ÷{} (axis: wall s)</text>"##,
        esc(&r.scenario.spec.pre_stop.label()),
        r.scenario.spec.grace_seconds,
        r.scenario.spec.drain_delay(),
        r.scenario.spec.drain_timeout(),
        r.scenario.propagation,
        r.scenario.jitter * 100.0,
        r.scale
    );

    // Requests per second by template, binned by start time.
    let by_addr: HashMap<String, (String, String)> = r.pod_of_addr();
    let nbins = (span / BIN).ceil() as usize + 1;
    // By pod template; when every pod has the same template (readiness toggle), by pod.
    let per_pod = r.pods.iter().all(|p| p.version == r.pods[0].version);
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for out in r.outcomes.iter().filter(|o| !o.lost()) {
        let label = out
            .upstream
            .as_ref()
            .and_then(|a| by_addr.get(a))
            .map(|p| if per_pod { p.0.clone() } else { p.1.clone() })
            .unwrap_or_else(|| "?".into());
        let b = ((out.t - t_start) / BIN) as usize;
        let v = series.entry(label).or_insert_with(|| vec![0.0; nbins]);
        if b < nbins {
            v[b] += 1.0 / BIN;
        }
    }
    let ymax = series
        .values()
        .flat_map(|v| v.iter().copied())
        .fold(10.0f64, f64::max)
        * 1.15;
    let y = |v: f64| TOP + CHART_H - v / ymax * CHART_H;
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{CHART_H}" fill="none" stroke="#999"/>"##,
        W - LEFT - RIGHT
    );
    for k in 0..=4 {
        let v = ymax / 4.0 * f64::from(k);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            y(v) + 4.0,
            yy = y(v)
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">req/s by {}</text>"#,
        TOP + CHART_H / 2.0,
        TOP + CHART_H / 2.0,
        if per_pod { "pod" } else { "pod template" }
    );
    for (i, (label, v)) in series.iter().enumerate() {
        let pts: Vec<String> = v
            .iter()
            .enumerate()
            .map(|(b, val)| format!("{:.1},{:.1}", x(t_start + (b as f64 + 0.5) * BIN), y(*val)))
            .collect();
        let c = colour(label, i);
        let _ = writeln!(
            o,
            r#"<polyline fill="none" stroke="{c}" stroke-width="1.6" points="{}"/>"#,
            pts.join(" ")
        );
        let _ = writeln!(
            o,
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{c}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            W - RIGHT - 230.0 + i as f64 * 70.0,
            TOP + 6.0,
            W - RIGHT - 216.0 + i as f64 * 70.0,
            TOP + 15.0,
            esc(label)
        );
    }
    // Failure marks along the top edge of the chart.
    let logged: std::collections::HashSet<u64> = r.access.iter().filter_map(|a| a.id).collect();
    for out in r.outcomes.iter().filter(|o| o.lost()) {
        let artifact = out.status.is_none() && !logged.contains(&out.id);
        let (c, yy) = if artifact {
            ("#999", TOP + 14.0)
        } else {
            ("#d62728", TOP + 4.0)
        };
        let _ = writeln!(
            o,
            r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{yy:.1}" y2="{:.1}" stroke="{c}" stroke-width="1.5"><title>{} {}</title></line>"#,
            yy + 10.0,
            out.kind.label(),
            esc(&out.loss_kind().unwrap_or_default()),
            xx = x(out.t)
        );
    }
    for a in r.access.iter().filter(|a| a.id.is_some()) {
        for (addr, st) in &a.attempts {
            if matches!(st.as_str(), "502" | "503" | "504") {
                let pod = by_addr.get(addr).map(|p| p.0.as_str()).unwrap_or(addr);
                let _ = writeln!(
                    o,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#ff7f0e"><title>{} {} upstream {st} from {}</title></circle>"##,
                    x(a.t - a.request_time),
                    TOP + CHART_H - 8.0,
                    a.method,
                    esc(&a.uri),
                    esc(pod)
                );
            }
        }
    }
    let legend_y = TOP + CHART_H + 16.0;
    let _ = writeln!(
        o,
        r##"<text x="{LEFT}" y="{legend_y:.1}"><tspan fill="#d62728">| lost request</tspan>   <tspan fill="#ff7f0e">● failed upstream attempt (nginx log)</tspan>   <tspan fill="#999">| reload artifact</tspan>   lost {} · upstream errors {} · artifacts {} · exit codes {:?} · SIGKILL {}</text>"##,
        s.lost, s.upstream_errors, s.reload_artifacts, s.exit_codes, s.sigkills
    );

    // Pod phase bands.
    for (i, p) in r.pods.iter().enumerate() {
        let top = bands_top + i as f64 * (ROW_H + 4.0);
        let ev = |what: &str| p.events.iter().find(|e| e.what == what).map(|e| e.t);
        let exit = p
            .events
            .iter()
            .find(|e| e.what.starts_with("exit:"))
            .map(|e| e.t);
        let created = ev("created").unwrap_or(t_start);
        let ready = ev("ready");
        let deleted = ev("deleted");
        let sigterm = ev("SIGTERM");
        let end = exit.unwrap_or(t_end).min(t_end);
        let mut band = |a: f64, b: f64, fill: &str, tip: &str| {
            if b > a {
                let _ = writeln!(
                    o,
                    r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{ROW_H}" fill="{fill}"><title>{} {tip}</title></rect>"#,
                    x(a.max(t_start)),
                    x(b) - x(a.max(t_start)),
                    esc(&p.name)
                );
            }
        };
        let stop_starting = ready.or(deleted).unwrap_or(end).min(end);
        band(created, stop_starting, "#d9d9d9", "starting");
        if let Some(rd) = ready {
            band(rd, deleted.unwrap_or(end).min(end), "#b7e4b0", "Ready");
        }
        if let Some(d) = deleted {
            band(d, sigterm.unwrap_or(end).min(end), "#ffe08a", "preStop");
        }
        if let Some(st) = sigterm {
            band(st, end, "#f7a35c", "draining (SIGTERM to exit)");
        }
        // Unready stretches (readiness toggle) as hatching-like grey overlay.
        let mut un: Option<f64> = None;
        for e in &p.events {
            match e.what.as_str() {
                "unready" => un = Some(e.t),
                "ready" => {
                    if let Some(a) = un.take() {
                        band(a, e.t, "#bbbbbb", "not Ready (probe failures)");
                    }
                }
                _ => {}
            }
        }
        // In-ingress line.
        let mut since: Option<f64> = None;
        for e in &p.events {
            match e.what.as_str() {
                "endpoint+" => since = Some(e.t),
                "endpoint-" => {
                    if let Some(a) = since.take() {
                        let _ = writeln!(
                            o,
                            r##"<line x1="{:.1}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#333" stroke-width="2"/>"##,
                            x(a),
                            x(e.t),
                            yy = top + ROW_H / 2.0
                        );
                    }
                }
                _ => {}
            }
        }
        if let Some(a) = since {
            let _ = writeln!(
                o,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#333" stroke-width="2"/>"##,
                x(a),
                x(end),
                yy = top + ROW_H / 2.0
            );
        }
        let code = p
            .events
            .iter()
            .find_map(|e| e.what.strip_prefix("exit:"))
            .unwrap_or("");
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{} ({})</text>"#,
            LEFT - 4.0,
            top + 13.0,
            esc(&p.name),
            esc(p.addr.rsplit(':').next().unwrap_or(""))
        );
        if let (Some(e), false) = (exit, code.is_empty()) {
            if e <= t_end {
                let _ = writeln!(
                    o,
                    r#"<text x="{:.1}" y="{:.1}" font-size="10">exit {code}</text>"#,
                    x(e) + 3.0,
                    top + 13.0
                );
            }
        }
    }
    let axis_y = bands_top + rows * (ROW_H + 4.0) + 10.0;
    let step = if span > 40.0 {
        5.0
    } else if span > 15.0 {
        2.0
    } else {
        1.0
    };
    let mut t = (t_start / step).ceil() * step;
    while t <= t_end {
        let _ = writeln!(
            o,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{axis_y:.1}" stroke="#f0f0f0"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{t:.0}</text>"##,
            axis_y + 14.0,
            xx = x(t)
        );
        t += step;
    }
    let _ = writeln!(
        o,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">wall seconds (× {} = cluster seconds) — bands: <tspan fill="#999">starting</tspan> · <tspan fill="#5a9e4b">Ready</tspan> · <tspan fill="#c9a227">preStop</tspan> · <tspan fill="#e07b24">draining</tspan> · black line = in nginx upstreams</text>"##,
        (LEFT + W - RIGHT) / 2.0,
        axis_y + 34.0,
        r.scale
    );
    o.push_str("</svg>\n");
    o
}
