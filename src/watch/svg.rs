//! Timelines as SVG, written directly (lines, rectangles and text need no plotting crate).
//! One renderer for both users: `watch --svg` (requests by outcome over time, versions and pods
//! as bands) and the drain benchmark's per-scenario plots (the same chart, plus pod phases),
//! each of which builds a [`Plot`].
//!
//! Layout: a title and up to two subtitle lines; a chart of rate series with marks along its top
//! edge (failures) and dots near its bottom (e.g. failed upstream attempts); a legend line;
//! one band row per entity; a time axis and a caption.

use std::fmt::Write;

const W: f64 = 1000.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 50.0;
const TOP: f64 = 64.0;
const CHART_H: f64 = 200.0;
const ROW_H: f64 = 18.0;

/// Text with an optional colour (a `<tspan>`).
pub type Span = (String, Option<&'static str>);

pub struct Series {
    pub label: String,
    pub colour: &'static str,
    /// (time, value) points.
    pub points: Vec<(f64, f64)>,
}

/// A tick at time `t` along the chart's top edge (`lane` 0 or 1), or a dot near its bottom.
pub struct Mark {
    pub t: f64,
    pub lane: u8,
    pub colour: &'static str,
    pub tip: String,
}

pub struct Band {
    pub from: f64,
    pub to: f64,
    pub fill: &'static str,
    pub tip: String,
}

pub struct Row {
    pub label: String,
    pub bands: Vec<Band>,
    /// Dark lines across the row (the bench: "configured in nginx").
    pub lines: Vec<(f64, f64)>,
    /// A small note at a time (the bench: "exit 0").
    pub note: Option<(f64, String)>,
}

pub struct Plot {
    pub title: String,
    pub subtitle: Vec<String>,
    pub t_start: f64,
    pub t_end: f64,
    pub y_label: String,
    pub series: Vec<Series>,
    pub marks: Vec<Mark>,
    pub dots: Vec<Mark>,
    pub legend: Vec<Span>,
    pub rows: Vec<Row>,
    pub caption: Vec<Span>,
}

/// A stable colour per label: the tutorial's versions get fixed ones.
pub fn colour(label: &str, i: usize) -> &'static str {
    match label {
        "v1" | "1.0.0" => "#1f77b4",
        "v2" | "2.0.0" => "#2ca02c",
        "v1-cm" => "#9467bd",
        _ => ["#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"][i % 5],
    }
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn spans(o: &mut String, parts: &[Span]) {
    for (text, c) in parts {
        match c {
            Some(c) => {
                let _ = write!(o, r#"<tspan fill="{c}">{}</tspan>"#, esc(text));
            }
            None => o.push_str(&esc(text)),
        }
    }
}

pub fn render(p: &Plot) -> String {
    let span = (p.t_end - p.t_start).max(1.0);
    let x = |t: f64| {
        LEFT + (t.clamp(p.t_start, p.t_start + span) - p.t_start) / span * (W - LEFT - RIGHT)
    };
    let bands_top = TOP + CHART_H + 40.0;
    let rows = p.rows.len() as f64;
    let h = bands_top + rows * (ROW_H + 4.0) + 70.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h:.0}" viewBox="0 0 {W} {h:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(&p.title)
    );
    for (i, line) in p.subtitle.iter().take(2).enumerate() {
        let _ = writeln!(
            o,
            r##"<text x="{LEFT}" y="{}" fill="#444">{}</text>"##,
            34 + 16 * i,
            esc(line)
        );
    }
    let ymax = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|pt| pt.1))
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
    let mid = TOP + CHART_H / 2.0;
    let _ = writeln!(
        o,
        r#"<text x="16" y="{mid:.1}" transform="rotate(-90 16 {mid:.1})" text-anchor="middle">{}</text>"#,
        esc(&p.y_label)
    );
    for (i, s) in p.series.iter().enumerate() {
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let c = s.colour;
        let _ = writeln!(
            o,
            r#"<polyline fill="none" stroke="{c}" stroke-width="1.6" points="{}"/>"#,
            pts.join(" ")
        );
        let lx = W - RIGHT - 300.0 + i as f64 * 75.0;
        let _ = writeln!(
            o,
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{c}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            TOP + 6.0,
            lx + 14.0,
            TOP + 15.0,
            esc(&s.label)
        );
    }
    for m in &p.marks {
        let yy = TOP + 4.0 + 10.0 * f64::from(m.lane);
        let _ = writeln!(
            o,
            r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{yy:.1}" y2="{:.1}" stroke="{}" stroke-width="1.5"><title>{}</title></line>"#,
            yy + 10.0,
            m.colour,
            esc(&m.tip),
            xx = x(m.t)
        );
    }
    for d in &p.dots {
        let _ = writeln!(
            o,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"><title>{}</title></circle>"#,
            x(d.t),
            TOP + CHART_H - 8.0,
            d.colour,
            esc(&d.tip)
        );
    }
    let _ = write!(o, r#"<text x="{LEFT}" y="{:.1}">"#, TOP + CHART_H + 16.0);
    spans(&mut o, &p.legend);
    o.push_str("</text>\n");
    for (i, r) in p.rows.iter().enumerate() {
        let top = bands_top + i as f64 * (ROW_H + 4.0);
        for b in r.bands.iter().filter(|b| b.to > b.from) {
            let _ = writeln!(
                o,
                r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{ROW_H}" fill="{}"><title>{} {}</title></rect>"#,
                x(b.from),
                (x(b.to) - x(b.from)).max(1.0),
                b.fill,
                esc(&r.label),
                esc(&b.tip)
            );
        }
        for (a, b) in &r.lines {
            let _ = writeln!(
                o,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#333" stroke-width="2"/>"##,
                x(*a),
                x(*b),
                yy = top + ROW_H / 2.0
            );
        }
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 4.0,
            top + 13.0,
            esc(&r.label)
        );
        if let Some((t, note)) = r.note.as_ref().filter(|n| n.0 <= p.t_end) {
            let _ = writeln!(
                o,
                r#"<text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                x(*t) + 3.0,
                top + 13.0,
                esc(note)
            );
        }
    }
    let axis_y = bands_top + rows * (ROW_H + 4.0) + 10.0;
    let step = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0]
        .into_iter()
        .find(|s| span / s <= 20.0)
        .unwrap_or(1800.0);
    let mut t = (p.t_start / step).ceil() * step;
    while t <= p.t_end {
        let _ = writeln!(
            o,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{axis_y:.1}" stroke="#f0f0f0"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{t:.0}</text>"##,
            axis_y + 14.0,
            xx = x(t)
        );
        t += step;
    }
    let _ = write!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">"#,
        (LEFT + W - RIGHT) / 2.0,
        axis_y + 34.0
    );
    spans(&mut o, &p.caption);
    o.push_str("</text>\n</svg>\n");
    o
}
