//! The `watch --svg` plot: a [`Plot`] built from a run's [`Recorder`] and [`Summary`], drawn by
//! [`super::svg::render`].

use super::outcome::Failure;
use super::stats::{Recorder, Summary, BIN};
use super::svg::{colour, Band, Mark, Plot, Row, Series};

/// `watch --svg`: successes per second by version, failures per second in red, failure ticks
/// (one per plot bin, its kinds in the tooltip), and a band per version and pod from the first
/// to the last time it answered.
pub fn timeline(r: &Recorder, s: &Summary, url: &str) -> Plot {
    let t_end = s.ended_s.max(s.duration_s);
    let pt = |b: usize, v: u32| ((b as f64 + 0.5) * BIN, f64::from(v) / BIN);
    let mut series: Vec<Series> = r
        .version_names
        .iter()
        .enumerate()
        .map(|(i, v)| Series {
            label: v.clone(),
            colour: colour(v, i),
            points: r
                .bins
                .iter()
                .enumerate()
                .map(|(b, bin)| pt(b, bin.ok.get(i).copied().unwrap_or(0)))
                .collect(),
        })
        .collect();
    series.push(Series {
        label: "failed".into(),
        colour: "#d62728",
        points: r
            .bins
            .iter()
            .enumerate()
            .map(|(b, bin)| pt(b, bin.failed.iter().sum()))
            .collect(),
    });
    let marks = r
        .bins
        .iter()
        .enumerate()
        .filter(|(_, bin)| bin.failed.iter().any(|&n| n > 0))
        .map(|(b, bin)| Mark {
            t: b as f64 * BIN,
            lane: 0,
            colour: "#d62728",
            tip: Failure::ALL
                .iter()
                .filter(|f| bin.failed[f.index()] > 0)
                .map(|f| format!("{} × {}", bin.failed[f.index()], f.name()))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let band = |label: String, from: f64, to: f64, n: u64, fill| Row {
        bands: vec![Band {
            from,
            to: to.max(from + 0.05),
            fill,
            tip: format!("{n} answers, {from:.2} s to {to:.2} s"),
        }],
        label,
        lines: Vec::new(),
        note: None,
    };
    let mut rows: Vec<Row> = s
        .versions
        .iter()
        .map(|(v, seen)| {
            let i = r.version_names.iter().position(|n| n == v).unwrap_or(0);
            band(
                format!("version {v}"),
                seen.first,
                seen.last,
                seen.count,
                colour(v, i),
            )
        })
        .collect();
    rows.extend(
        r.pods
            .iter()
            .take(16)
            .map(|(p, seen)| band(p.clone(), seen.first, seen.last, seen.count, "#b7e4b0")),
    );
    let failures: Vec<String> = s
        .failures
        .iter()
        .map(|(f, n)| format!("{} {}", n.count, f.name()))
        .collect();
    Plot {
        title: format!("hello-world watch {url} — {}", if s.failed == 0 { "nothing failed" } else { "FAILURES" }),
        subtitle: vec![format!(
            "sent {} ok {} failed {}{} | longest gap without success {:.0} ms | p50 {:.1} ms p99 {:.1} ms",
            s.sent,
            s.ok,
            s.failed,
            if failures.is_empty() { String::new() } else { format!(" ({})", failures.join(", ")) },
            s.longest_gap_ms,
            s.p50_ms,
            s.p99_ms
        )],
        t_start: 0.0,
        t_end,
        y_label: "req/s by outcome".into(),
        series,
        marks,
        dots: Vec::new(),
        legend: vec![("| failures in a 250 ms bin (tooltip: kinds)".into(), Some("#d62728"))],
        rows,
        caption: vec![("seconds since start (by scheduled time) — bands: first to last answer of each version and pod".into(), None)],
    }
}

#[cfg(test)]
mod tests {
    use super::super::outcome::Outcome;
    use super::super::svg::render;
    use super::*;

    /// A run with a switch and a failure draws both versions, the failure tick and the bands.
    #[test]
    fn watch_timeline() {
        let mut r = Recorder::default();
        for (i, v) in ["1.0.0", "1.0.0", "2.0.0"].iter().enumerate() {
            r.record(&Outcome {
                id: i as u64,
                t: i as f64,
                latency: 0.01,
                status: Some(200),
                version: Some((*v).into()),
                ..Outcome::default()
            });
        }
        r.record(&Outcome {
            id: 3,
            t: 1.5,
            failure: Some(Failure::Reset),
            ..Outcome::default()
        });
        let s = r.summary(3.0, 3.0);
        let svg = render(&timeline(&r, &s, "http://h/<x>"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("version 1.0.0") && svg.contains("version 2.0.0"));
        assert!(svg.contains("1 × reset"));
        assert!(svg.contains("http://h/&lt;x&gt;"), "escaped");
        assert_eq!(svg.matches("<polyline").count(), 3);
    }
}
