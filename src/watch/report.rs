//! Rendering: one line per second and the summary, as text for a terminal next to
//! `helm upgrade`, or as one JSON object per line (the stable interface in docs/watch.md).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::outcome::Failure;
use super::stats::{Second, Summary};
use crate::json::{push_f64, push_str};

/// The text line of second `k` (covering answers up to `k + 1` seconds).
pub fn text_line(k: usize, s: &Second) -> String {
    let mut o = format!(
        "{:>5}s  sent {:<5} ok {:<5} failed {:<4}",
        k + 1,
        s.sent,
        s.ok,
        s.failed
    );
    if s.failed > 0 {
        let kinds: Vec<String> = Failure::ALL
            .iter()
            .filter(|f| s.failures[f.index()] > 0)
            .map(|f| format!("{} {}", f.name(), s.failures[f.index()]))
            .collect();
        let _ = write!(o, "({}) ", kinds.join(", "));
    }
    let _ = write!(
        o,
        " versions {}  pods {}",
        counts(&s.versions),
        counts(&s.pods)
    );
    if s.answered > 0 {
        let _ = write!(o, "  p50 {} p99 {}", ms(s.p50_ms()), ms(s.p99_ms()));
    }
    o
}

fn counts(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "-".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// The text summary, several lines, ending with a newline.
pub fn text_summary(s: &Summary) -> String {
    let mut o = String::new();
    let verdict = if s.failed == 0 {
        "nothing failed"
    } else {
        "FAILURES"
    };
    let _ = writeln!(
        o,
        "summary: sent {} ok {} failed {} in {:.1} s: {verdict}",
        s.sent, s.ok, s.failed, s.duration_s
    );
    for (f, seen) in &s.failures {
        let _ = writeln!(
            o,
            "  failed {:<9} {:>6}  first {:.2} s  last {:.2} s",
            f.name(),
            seen.count,
            seen.first,
            seen.last
        );
    }
    let _ = writeln!(
        o,
        "  longest gap without a successful answer: {} ({:.2} s to {:.2} s)",
        ms(s.longest_gap_ms),
        s.gap_from_s,
        s.gap_to_s
    );
    for (v, seen) in &s.versions {
        let _ = writeln!(
            o,
            "  version {v:<12} {:>6}  first {:.2} s  last {:.2} s",
            seen.count, seen.first, seen.last
        );
    }
    for w in s.versions.windows(2) {
        let ((a, sa), (b, sb)) = (&w[0], &w[1]);
        if sb.first <= sa.last {
            let _ = writeln!(
                o,
                "  switch {a} -> {b}: both answered from {:.2} s to {:.2} s",
                sb.first, sa.last
            );
        } else {
            let _ = writeln!(
                o,
                "  switch {a} -> {b}: last {a} at {:.2} s, first {b} at {:.2} s",
                sa.last, sb.first
            );
        }
    }
    let pods: Vec<String> = s.pods.iter().map(|(p, n)| format!("{p}={n}")).collect();
    let _ = writeln!(
        o,
        "  pods: {}",
        if pods.is_empty() {
            "-".into()
        } else {
            pods.join(" ")
        }
    );
    let _ = writeln!(
        o,
        "  latency p50 {} p99 {}; schedule lateness p99 {}; connections opened {}",
        ms(s.p50_ms),
        ms(s.p99_ms),
        ms(s.lateness_p99_ms),
        s.connections_opened
    );
    o
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn num(o: &mut String, key: &str, v: f64) {
    push_str(o, key);
    o.push(':');
    push_f64(o, round3(v));
}

fn map<T>(
    o: &mut String,
    key: &str,
    items: impl IntoIterator<Item = (String, T)>,
    val: impl Fn(&mut String, T),
) {
    push_str(o, key);
    o.push_str(":{");
    for (i, (k, v)) in items.into_iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        push_str(o, &k);
        o.push(':');
        val(o, v);
    }
    o.push('}');
}

fn failures(s: &Second) -> impl Iterator<Item = (String, u64)> + '_ {
    Failure::ALL
        .iter()
        .filter(|f| s.failures[f.index()] > 0)
        .map(|f| (f.name().to_owned(), s.failures[f.index()]))
}

/// `{"t":..,"sent":..,"ok":..,"failed":..,"failures":{..},"versions":{..},"pods":{..},"p50_ms":..,"p99_ms":..}`
pub fn json_line(k: usize, s: &Second) -> String {
    let mut o = format!(
        "{{\"t\":{},\"sent\":{},\"ok\":{},\"failed\":{},",
        k + 1,
        s.sent,
        s.ok,
        s.failed
    );
    let int = |o: &mut String, n: u64| {
        let _ = write!(o, "{n}");
    };
    map(&mut o, "failures", failures(s), int);
    o.push(',');
    map(
        &mut o,
        "versions",
        s.versions.iter().map(|(k, v)| (k.clone(), *v)),
        int,
    );
    o.push(',');
    map(
        &mut o,
        "pods",
        s.pods.iter().map(|(k, v)| (k.clone(), *v)),
        int,
    );
    o.push(',');
    // No answer with a status in this second: no latency to report.
    if s.answered == 0 {
        o.push_str("\"p50_ms\":null,\"p99_ms\":null}");
        return o;
    }
    num(&mut o, "p50_ms", s.p50_ms());
    o.push(',');
    num(&mut o, "p99_ms", s.p99_ms());
    o.push('}');
    o
}

/// `{"summary":{...}}`: the field names of the issue plus the extras documented in docs/watch.md.
pub fn json_summary(s: &Summary) -> String {
    let mut o = format!(
        "{{\"summary\":{{\"sent\":{},\"ok\":{},\"failed\":{},",
        s.sent, s.ok, s.failed
    );
    let seen = s
        .failures
        .iter()
        .map(|(f, seen)| (f.name().to_owned(), *seen));
    map(&mut o, "failures", seen.clone(), |o, v| {
        let _ = write!(o, "{}", v.count);
    });
    o.push(',');
    map(&mut o, "versions", s.versions.iter().cloned(), |o, v| {
        let _ = write!(o, "{{\"count\":{},", v.count);
        num(o, "first_s", v.first);
        o.push(',');
        num(o, "last_s", v.last);
        o.push('}');
    });
    o.push(',');
    map(&mut o, "pods", s.pods.iter().cloned(), |o, n| {
        let _ = write!(o, "{n}");
    });
    o.push(',');
    num(&mut o, "longest_gap_ms", s.longest_gap_ms);
    o.push(',');
    num(&mut o, "duration_s", s.duration_s);
    // Extras (also stable): when each failure kind was first and last seen, where the gap
    // was, latency over the whole run and the watcher's own schedule accuracy.
    o.push(',');
    map(&mut o, "failure_times", seen, |o, v| {
        o.push('{');
        num(o, "first_s", v.first);
        o.push(',');
        num(o, "last_s", v.last);
        o.push('}');
    });
    for (k, v) in [
        ("gap_from_s", s.gap_from_s),
        ("gap_to_s", s.gap_to_s),
        ("ended_s", s.ended_s),
        ("p50_ms", s.p50_ms),
        ("p99_ms", s.p99_ms),
        ("schedule_lateness_p99_ms", s.lateness_p99_ms),
        ("schedule_lateness_max_ms", s.lateness_max_ms),
        ("rate", s.rate),
    ] {
        o.push(',');
        num(&mut o, k, v);
    }
    let _ = write!(o, ",\"connections_opened\":{}}}}}", s.connections_opened);
    o
}

#[cfg(test)]
mod tests {
    use super::super::outcome::Outcome;
    use super::super::stats::Recorder;
    use super::*;

    fn run() -> (Recorder, Summary) {
        let mut r = Recorder::default();
        let o = |id, t: f64, f: Option<Failure>, v: &str| Outcome {
            id,
            t,
            latency: 0.002,
            status: Some(if f.is_some() { 502 } else { 200 }),
            failure: f,
            version: Some(v.into()),
            pod: Some("p\"1".into()),
            ..Outcome::default()
        };
        for (i, out) in [
            o(0, 0.1, None, "1.0.0"),
            o(1, 0.5, Some(Failure::Http5xx), "x"),
            o(2, 0.7, None, "2.0.0"),
        ]
        .iter()
        .enumerate()
        {
            let _ = i;
            r.sent(out.t);
            r.record(out);
        }
        let s = r.summary(1.0, 1.0);
        (r, s)
    }

    /// The per-second JSON line has exactly the issue's fields, escaped.
    #[test]
    fn json_line_shape() {
        let (mut r, _) = run();
        let line = json_line(0, r.close(0));
        assert_eq!(
            line,
            r#"{"t":1,"sent":3,"ok":2,"failed":1,"failures":{"http_5xx":1},"versions":{"1.0.0":1,"2.0.0":1},"pods":{"p\"1":2},"p50_ms":2,"p99_ms":2}"#
        );
    }

    /// The summary carries the stable names; versions in order of first appearance.
    #[test]
    fn json_summary_shape() {
        let (_, mut s) = run();
        s.connections_opened = 1;
        s.rate = 20.0;
        let j = json_summary(&s);
        assert!(j.starts_with(r#"{"summary":{"sent":3,"ok":2,"failed":1,"failures":{"http_5xx":1},"versions":{"1.0.0":{"count":1,"first_s":0.102,"last_s":0.102},"2.0.0":{"count":1,"first_s":0.702,"last_s":0.702}},"pods":{"p\"1":2},"longest_gap_ms":600,"duration_s":1,"failure_times":{"http_5xx":{"first_s":0.502,"last_s":0.502}},"gap_from_s":0.102,"gap_to_s":0.702"#), "{j}");
        assert!(j.ends_with(r#""rate":20,"connections_opened":1}}"#), "{j}");
    }

    /// The text forms name kinds, versions and the switch.
    #[test]
    fn text_forms() {
        let (mut r, s) = run();
        let line = text_line(0, r.close(0));
        assert!(line.contains("failed 1   (http_5xx 1)"), "{line}");
        assert!(line.contains("versions 1.0.0=1 2.0.0=1"), "{line}");
        let t = text_summary(&s);
        assert!(t.contains("FAILURES"), "{t}");
        assert!(t.contains("failed http_5xx"), "{t}");
        assert!(
            t.contains("switch 1.0.0 -> 2.0.0: last 1.0.0 at 0.10 s, first 2.0.0 at 0.70 s"),
            "{t}"
        );
    }
}
