//! Aggregation of outcomes into per-second lines and the run's summary. Pure: fed events, it
//! keeps bounded state (one entry per second and per 250 ms plot bin, a log histogram), so a
//! run of hours at thousands of requests a second does not grow memory per request.
//!
//! Per-second lines count requests *sent* in that second and answers *completed* in it (the
//! second an answer belongs to is the one it completed in; one that arrives after its second's
//! line was printed goes to the next open one), so every line is printed on time and the lines
//! add up to the summary.

use std::collections::BTreeMap;

use super::hist::Hist;
use super::outcome::{Failure, Outcome};

/// Width of the plot bins (scheduled time), seconds.
pub const BIN: f64 = 0.25;

/// One second of the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Second {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub failures: [u64; 6],
    pub versions: BTreeMap<String, u64>,
    pub pods: BTreeMap<String, u64>,
    /// Answers with a status (what the percentiles are over).
    pub answered: u64,
    /// Latencies (ms) of the answers with a status; cleared when the second is closed.
    latencies: Vec<f64>,
    p50_ms: f64,
    p99_ms: f64,
}

impl Second {
    pub fn p50_ms(&self) -> f64 {
        self.p50_ms
    }

    pub fn p99_ms(&self) -> f64 {
        self.p99_ms
    }
}

/// Count with the first and last time (seconds) something was seen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seen {
    pub count: u64,
    pub first: f64,
    pub last: f64,
}

impl Seen {
    fn at(t: f64) -> Seen {
        Seen {
            count: 1,
            first: t,
            last: t,
        }
    }

    fn add(&mut self, t: f64) {
        self.count += 1;
        self.first = self.first.min(t);
        self.last = self.last.max(t);
    }
}

fn see(m: &mut BTreeMap<String, Seen>, key: &str, t: f64) {
    match m.get_mut(key) {
        Some(s) => s.add(t),
        None => {
            m.insert(key.to_owned(), Seen::at(t));
        }
    }
}

/// One plot bin: successes by version (indexes into [`Recorder::version_names`]) and
/// failures by kind, of the requests *scheduled* in it.
#[derive(Clone, Debug, Default)]
pub struct Bin {
    pub ok: Vec<u32>,
    pub failed: [u32; 6],
}

#[derive(Clone, Debug, Default)]
pub struct Recorder {
    seconds: Vec<Second>,
    /// First second whose line is not printed yet.
    open: usize,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub failures: [Option<Seen>; 6],
    pub versions: BTreeMap<String, Seen>,
    pub pods: BTreeMap<String, Seen>,
    last_ok: f64,
    /// Longest stretch without a successful answer: (length, from, to) in seconds.
    gap: (f64, f64, f64),
    latency: Hist,
    lateness: Hist,
    pub bins: Vec<Bin>,
    pub version_names: Vec<String>,
}

/// The run's summary (see docs/watch.md for the JSON names).
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub failures: Vec<(Failure, Seen)>,
    /// In order of first appearance: the v1 -> v2 switch reads left to right.
    pub versions: Vec<(String, Seen)>,
    pub pods: Vec<(String, u64)>,
    pub longest_gap_ms: f64,
    pub gap_from_s: f64,
    pub gap_to_s: f64,
    pub duration_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub lateness_p99_ms: f64,
    pub lateness_max_ms: f64,
    /// Seconds until the last answer was in.
    pub ended_s: f64,
    /// Set by the caller (the engine knows them).
    pub connections_opened: u64,
    pub rate: f64,
}

fn second(v: &mut Vec<Second>, k: usize) -> &mut Second {
    if v.len() <= k {
        v.resize_with(k + 1, Second::default);
    }
    &mut v[k]
}

impl Recorder {
    pub fn sent(&mut self, t: f64) {
        self.sent += 1;
        let k = (t.max(0.0) as usize).max(self.open);
        second(&mut self.seconds, k).sent += 1;
    }

    pub fn record(&mut self, o: &Outcome) {
        let done = o.done();
        let k = (done.max(0.0) as usize).max(self.open);
        let s = second(&mut self.seconds, k);
        self.lateness.add(o.late * 1000.0);
        if o.status.is_some() {
            s.answered += 1;
            s.latencies.push(o.latency * 1000.0);
            self.latency.add(o.latency * 1000.0);
        }
        let b = (o.t.max(0.0) / BIN) as usize;
        if self.bins.len() <= b {
            self.bins.resize_with(b + 1, Bin::default);
        }
        match o.failure {
            Some(f) => {
                s.failed += 1;
                s.failures[f.index()] += 1;
                self.failed += 1;
                match &mut self.failures[f.index()] {
                    Some(seen) => seen.add(done),
                    none => *none = Some(Seen::at(done)),
                }
                self.bins[b].failed[f.index()] += 1;
            }
            None => {
                let version = o.version.as_deref().unwrap_or("unknown");
                let pod = o.pod.as_deref().unwrap_or("unknown");
                s.ok += 1;
                *s.versions.entry(version.to_owned()).or_default() += 1;
                *s.pods.entry(pod.to_owned()).or_default() += 1;
                self.ok += 1;
                see(&mut self.versions, version, done);
                see(&mut self.pods, pod, done);
                if done > self.last_ok {
                    if done - self.last_ok > self.gap.0 {
                        self.gap = (done - self.last_ok, self.last_ok, done);
                    }
                    self.last_ok = done;
                }
                let vi = match self.version_names.iter().position(|v| v == version) {
                    Some(i) => i,
                    None => {
                        self.version_names.push(version.to_owned());
                        self.version_names.len() - 1
                    }
                };
                let ok = &mut self.bins[b].ok;
                if ok.len() <= vi {
                    ok.resize(vi + 1, 0);
                }
                ok[vi] += 1;
            }
        }
    }

    /// Closes second `k` for printing (its percentiles are computed, its latencies dropped);
    /// later arrivals count in the next open second.
    pub fn close(&mut self, k: usize) -> &Second {
        let s = second(&mut self.seconds, k);
        s.latencies.sort_by(f64::total_cmp);
        s.p50_ms = nearest_rank(&s.latencies, 0.50);
        s.p99_ms = nearest_rank(&s.latencies, 0.99);
        s.latencies = Vec::new();
        self.open = self.open.max(k + 1);
        &self.seconds[k]
    }

    /// Seconds that hold anything (what the final flush must print).
    pub fn len(&self) -> usize {
        self.seconds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seconds.is_empty()
    }

    /// The summary of a run that sent for `duration` seconds and ended (last answer in) at
    /// `end`: the stretch from the last success to `end` counts as a gap too.
    pub fn summary(&self, duration: f64, end: f64) -> Summary {
        let mut gap = self.gap;
        if end - self.last_ok > gap.0 {
            gap = (end - self.last_ok, self.last_ok, end);
        }
        let mut versions: Vec<_> = self.versions.iter().map(|(k, v)| (k.clone(), *v)).collect();
        versions.sort_by(|a, b| a.1.first.total_cmp(&b.1.first));
        Summary {
            sent: self.sent,
            ok: self.ok,
            failed: self.failed,
            failures: Failure::ALL
                .iter()
                .filter_map(|f| self.failures[f.index()].map(|s| (*f, s)))
                .collect(),
            versions,
            pods: self
                .pods
                .iter()
                .map(|(k, v)| (k.clone(), v.count))
                .collect(),
            longest_gap_ms: gap.0 * 1000.0,
            gap_from_s: gap.1,
            gap_to_s: gap.2,
            duration_s: duration,
            p50_ms: self.latency.quantile(0.50),
            p99_ms: self.latency.quantile(0.99),
            lateness_p99_ms: self.lateness.quantile(0.99),
            lateness_max_ms: self.lateness.max,
            ended_s: end,
            connections_opened: 0,
            rate: 0.0,
        }
    }
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(id: u64, t: f64, latency: f64, version: &str) -> Outcome {
        Outcome {
            id,
            t,
            latency,
            status: Some(200),
            version: Some(version.into()),
            pod: Some(format!("pod-{version}")),
            ..Outcome::default()
        }
    }

    fn failed(id: u64, t: f64, latency: f64, f: Failure) -> Outcome {
        Outcome {
            id,
            t,
            latency,
            status: (f == Failure::Http5xx).then_some(502),
            failure: Some(f),
            ..Outcome::default()
        }
    }

    /// A v1 -> v2 switch with a 502 burst: counts, first/last seen, the gap, sent = ok + failed.
    #[test]
    fn switch_and_gap() {
        let mut r = Recorder::default();
        let mut outs = Vec::new();
        for i in 0..10 {
            outs.push(ok(i, i as f64 * 0.1, 0.01, "1.0.0"));
        }
        outs.push(failed(10, 1.0, 0.01, Failure::Http5xx));
        outs.push(failed(11, 1.1, 2.0, Failure::Timeout));
        for i in 12..20 {
            outs.push(ok(i, i as f64 * 0.1, 0.01, "2.0.0"));
        }
        for o in &outs {
            r.sent(o.t);
            r.record(o);
        }
        let s = r.summary(2.0, 2.0);
        assert_eq!((s.sent, s.ok, s.failed), (20, 18, 2));
        assert_eq!(s.sent, s.ok + s.failed);
        assert_eq!(s.versions[0].0, "1.0.0");
        assert_eq!(s.versions[0].1.count, 10);
        assert!((s.versions[0].1.last - 0.91).abs() < 1e-9);
        assert_eq!(s.versions[1].0, "2.0.0");
        assert!((s.versions[1].1.first - 1.21).abs() < 1e-9);
        assert_eq!(s.failures.len(), 2);
        assert_eq!(s.failures[0].0, Failure::Timeout);
        assert_eq!(s.failures[1].1.count, 1);
        // From the last 1.0.0 answer (0.91 s) to the first 2.0.0 answer (1.21 s) ...
        assert!(
            (s.longest_gap_ms - 300.0).abs() < 1e-6,
            "{}",
            s.longest_gap_ms
        );
        assert_eq!(
            s.pods,
            vec![("pod-1.0.0".into(), 10), ("pod-2.0.0".into(), 8)]
        );
        // ... unless the run ends long after the last success.
        let s = r.summary(2.0, 5.0);
        assert!((s.longest_gap_ms - (5.0 - 1.91) * 1000.0).abs() < 1e-6);
    }

    /// A server down from the start: all refused, the gap is the whole run.
    #[test]
    fn all_refused() {
        let mut r = Recorder::default();
        for i in 0..5 {
            r.sent(i as f64);
            r.record(&failed(i, i as f64, 0.001, Failure::Refused));
        }
        let s = r.summary(5.0, 5.0);
        assert_eq!((s.ok, s.failed), (0, 5));
        assert_eq!(s.longest_gap_ms, 5000.0);
        assert!(s.versions.is_empty());
    }

    /// Lines add up to the summary even when an answer arrives after its second was closed.
    #[test]
    fn seconds_add_up() {
        let mut r = Recorder::default();
        r.sent(0.2);
        r.sent(0.9);
        r.record(&ok(0, 0.2, 0.1, "v"));
        let first = r.close(0).clone();
        assert_eq!((first.sent, first.ok), (2, 1));
        // Completed at 0.95 s, but second 0 is already printed: counts in second 1.
        r.record(&failed(1, 0.9, 0.05, Failure::Reset));
        r.sent(1.5);
        r.record(&ok(2, 1.5, 0.2, "v"));
        let second = r.close(1).clone();
        assert_eq!((second.sent, second.ok, second.failed), (1, 1, 1));
        assert_eq!(second.failures[Failure::Reset.index()], 1);
        assert_eq!(second.versions["v"], 1);
        assert_eq!(second.p50_ms(), 200.0);
        let s = r.summary(2.0, 2.0);
        assert_eq!(first.sent + second.sent, s.sent);
        assert_eq!(first.ok + second.ok, s.ok);
        assert_eq!(first.failed + second.failed, s.failed);
    }

    /// Exact nearest-rank per second.
    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.5), 50.0);
        assert_eq!(nearest_rank(&v, 0.99), 99.0);
        assert_eq!(nearest_rank(&[], 0.5), 0.0);
    }

    /// Plot bins by scheduled time: successes by version index, failures by kind.
    #[test]
    fn bins() {
        let mut r = Recorder::default();
        r.record(&ok(0, 0.1, 0.01, "a"));
        r.record(&ok(1, 0.3, 0.01, "b"));
        r.record(&failed(2, 0.3, 0.01, Failure::Refused));
        assert_eq!(r.version_names, ["a", "b"]);
        assert_eq!(r.bins[0].ok, [1]);
        assert_eq!(r.bins[1].ok, [0, 1]);
        assert_eq!(r.bins[1].failed[Failure::Refused.index()], 1);
    }
}
