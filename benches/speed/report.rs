//! The result table: targets, verdicts, and the per-run listing.

use std::fmt::Write as _;

use crate::memory::Rss;
use crate::throughput::{med, median, median_interval, ratio_to, ratios};
use crate::{at_once, row, shape, Kind, Row, Run, MIB};

pub(crate) fn table(
    runs: &[Run],
    shapes: Option<&shape::Samples>,
    at_once: &Result<Vec<at_once::Pair>, &str>,
    instructions: &[(Kind, f64)],
    rss: &[Rss],
    startup: &[f64],
    size: u64,
) -> Vec<Row> {
    let mut rows = Vec::new();
    if !runs.is_empty() {
        throughput_rows(&mut rows, runs);
    }
    if let Some(s) = shapes {
        let (same, text) = shape::compare(s);
        eprintln!("speed: the two lines, normalized:\n{text}");
        rows.push(row(
            "logging floor writes our two lines (fields, order, fixed values)",
            "same",
            if same {
                "same".into()
            } else {
                "different (see the bench's stderr)".into()
            },
            Some(same),
        ));
    }
    at_once_rows(&mut rows, at_once);
    let base = instructions
        .iter()
        .find(|(k, _)| *k == Kind::Bare)
        .map(|i| i.1);
    for &(kind, n) in instructions {
        rows.push(row(
            &format!("callgrind instructions/request, {}", kind.name()),
            "(reported)",
            match base {
                Some(b) if kind != Kind::Bare => format!("{n:.0} ({:.2}x bare)", n / b),
                _ => format!("{n:.0}"),
            },
            None,
        ));
    }
    for r in rss {
        rows.push(row(
            &format!("idle RSS, musl, {}", r.label),
            "<= 2.00 MiB",
            format!(
                "{:.2} MiB ({} threads)",
                r.idle_kib as f64 / 1024.0,
                r.threads
            ),
            Some(r.idle_kib as f64 <= 2.0 * 1024.0),
        ));
        rows.push(row(
            &format!(
                "RSS after {} requests, musl, {}",
                millions(r.requests),
                r.label
            ),
            "<= 4.00 MiB",
            format!(
                "{:.2} MiB (peak {:.2} MiB)",
                r.after_kib as f64 / 1024.0,
                r.peak_kib as f64 / 1024.0,
            ),
            Some(r.after_kib as f64 <= 4.0 * 1024.0),
        ));
    }
    if !startup.is_empty() {
        let start_ms = median(startup.to_vec());
        rows.push(row(
            "exec -> first 200 /health/ready (median of 10)",
            "<= 10 ms",
            format!(
                "{start_ms:.2} ms (min {:.2}, max {:.2})",
                startup.iter().copied().fold(f64::INFINITY, f64::min),
                startup.iter().copied().fold(0.0, f64::max)
            ),
            Some(start_ms <= 10.0),
        ));
    }
    rows.push(row(
        "stripped musl release binary",
        "<= 2.50 MiB",
        format!("{:.2} MiB ({size} bytes)", size as f64 / MIB),
        Some(size as f64 <= 2.5 * MIB),
    ));
    rows
}

/// The throughput targets, (ours, baseline, least ratio): the verdicts and the at-once
/// cross-check read them from here.
const RPS_TARGETS: [(Kind, Kind, f64); 2] = [
    (Kind::Quiet, Kind::Bare, 0.95),
    (Kind::Access, Kind::Floor, 0.90),
];

pub(crate) fn throughput_rows(rows: &mut Vec<Row>, runs: &[Run]) {
    let rps = |r: &Run| r.report.rps;
    let p99 = |r: &Run| r.report.p99_us;
    let p50 = |r: &Run| r.report.p50_us;
    let cpu = |r: &Run| r.cpu_us_per_req;
    // (what, base, the ratio's target as (bound, at least?) or None for "reported").
    type Check = (
        Kind,
        Kind,
        &'static str,
        fn(&Run) -> f64,
        Option<(f64, bool)>,
    );
    let checks: [Check; 9] = [
        (
            Kind::Quiet,
            Kind::Bare,
            "req/s",
            rps,
            Some((RPS_TARGETS[0].2, true)),
        ),
        (
            Kind::Access,
            Kind::Floor,
            "req/s",
            rps,
            Some((RPS_TARGETS[1].2, true)),
        ),
        (
            Kind::Access,
            Kind::Floor,
            "p99 latency",
            p99,
            Some((1.50, false)),
        ),
        (
            Kind::Quiet,
            Kind::Bare,
            "p99 latency",
            p99,
            Some((1.50, false)),
        ),
        (Kind::Floor, Kind::Bare, "req/s", rps, None),
        (Kind::Access, Kind::Bare, "req/s", rps, None),
        (Kind::Floor, Kind::Bare, "p99 latency", p99, None),
        (Kind::Access, Kind::Bare, "p99 latency", p99, None),
        (Kind::Access, Kind::Floor, "p50 latency", p50, None),
    ];
    for (kind, base, what, f, target) in checks {
        let r = ratio_to(runs, kind, base, f);
        let unit = if what == "req/s" { "" } else { " us" };
        let mut measured = format!(
            "{r:.3}x (medians {:.0} / {:.0}{unit}",
            med(runs, kind, f),
            med(runs, base, f)
        );
        // The interval says whether this run could tell: a bound inside it is within the noise.
        if let (Some((bound, _)), Some((lo, hi))) =
            (target, median_interval(ratios(runs, kind, base, f)))
        {
            let reach = if lo <= bound && bound <= hi {
                "within the noise"
            } else {
                "clear of the target"
            };
            let _ = write!(measured, "; 95% interval {lo:.3}-{hi:.3}, {reach}");
        }
        measured.push(')');
        let (target, pass) = match target {
            Some((bound, true)) => (format!(">= {bound:.2}x"), Some(r >= bound)),
            Some((bound, false)) => (format!("<= {bound:.2}x"), Some(r <= bound)),
            None => ("(reported)".to_owned(), None),
        };
        rows.push(row(
            &format!("{what}, {} / {}", kind.name(), base.name()),
            &target,
            measured,
            pass,
        ));
    }
    for kind in Kind::ALL {
        let c = med(runs, kind, cpu);
        rows.push(row(
            &format!("server CPU/request, {}", kind.name()),
            "(reported)",
            format!(
                "{c:.2} us ({:.2}x bare)",
                ratio_to(runs, kind, Kind::Bare, cpu)
            ),
            None,
        ));
    }
    let (answered, hello, access) = runs
        .iter()
        .filter(|r| r.kind == Kind::Access)
        .filter_map(|r| r.lines)
        .fold((0, 0, 0), |a, l| (a.0 + l.0, a.1 + l.1, a.2 + l.2));
    let wrk_seen: u64 = runs
        .iter()
        .filter(|r| r.kind == Kind::Access)
        .map(|r| r.report.requests)
        .sum();
    rows.push(row(
        "access log: a line per request",
        "every request",
        format!(
            "{access} access + {hello} hello lines / {answered} answered \
             (wrk counted {wrk_seen}; the rest are warm-up)"
        ),
        Some(access >= answered && access <= hello && answered >= wrk_seen),
    ));
}

/// The at-once cross-check ([`at_once`]): reported beside the verdicts, each with the target it
/// checks, and the A/A pair that shows the method's own scatter.
fn at_once_rows(rows: &mut Vec<Row>, at_once: &Result<Vec<at_once::Pair>, &str>) {
    let pairs = match at_once {
        Ok(pairs) => pairs,
        Err(why) => {
            rows.push(row(
                "at once on CPU 0: requests per CPU-second",
                "(cross-check)",
                format!("not measured: {why}"),
                None,
            ));
            return;
        }
    };
    for p in pairs {
        let per_cpu: Vec<f64> = p.rounds.iter().map(|r| r.0).collect();
        let share = median(p.rounds.iter().map(|r| r.1).collect());
        let r = median(per_cpu.clone());
        let lo = per_cpu.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_cpu.iter().copied().fold(0.0, f64::max);
        let bound = RPS_TARGETS
            .iter()
            .find(|t| (t.0, t.1) == (p.kind, p.base))
            .map(|t| t.2);
        let against = match bound {
            Some(b) if lo >= b => format!(", every round at or above {b:.2}x"),
            Some(b) if hi < b => format!(", every round below {b:.2}x"),
            Some(b) => format!(", rounds on both sides of {b:.2}x"),
            None if p.kind == p.base => {
                " (the same server twice: the method's own error)".to_owned()
            }
            None => " (a part of the log-off gap)".to_owned(),
        };
        rows.push(row(
            &format!(
                "at once on CPU 0: requests per CPU-second, {} / {}",
                p.kind.name(),
                p.base.name()
            ),
            "(cross-check)",
            format!(
                "{r:.3}x (median of {} rounds, range {lo:.3}-{hi:.3}, CPU share {:.0}%{against})",
                per_cpu.len(),
                share * 100.0
            ),
            None,
        ));
    }
}

/// `1.02M`, `250k`.
pub(crate) fn millions(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.2}M", n as f64 / 1e6)
    } else {
        format!("{}k", n / 1000)
    }
}

pub(crate) fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "info",
    }
}

/// The result table as Markdown (readable as plain text too).
pub(crate) fn render_table(rows: &[Row]) -> String {
    let w0 = rows.iter().map(|r| r.metric.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.target.len()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.measured.len()).max().unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| {:w0$} | {:w1$} | {:w2$} | result |",
        "metric", "target", "measured"
    );
    let _ = writeln!(
        s,
        "| {} | {} | {} | ------ |",
        "-".repeat(w0),
        "-".repeat(w1),
        "-".repeat(w2)
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {:w0$} | {:w1$} | {:w2$} | {:6} |",
            r.metric,
            r.target,
            r.measured,
            verdict(r.pass)
        );
    }
    s
}

pub(crate) fn render_runs(runs: &[Run]) -> String {
    let mut s = String::from(
        "| round | server | req/s | requests | p50 us | p99 us | server CPU us/req | other CPU | load |\n\
         | ----- | ------ | ----- | -------- | ------ | ------ | ----------------- | --------- | ---- |\n",
    );
    for r in runs {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {} | {:.0} | {:.0} | {:.2} | {:.1}% | {:.2} |",
            r.round,
            r.kind.name(),
            r.report.rps,
            r.report.requests,
            r.report.p50_us,
            r.report.p99_us,
            r.cpu_us_per_req,
            r.other * 100.0,
            r.load
        );
    }
    s
}
