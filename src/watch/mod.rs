//! `hello-world watch URL`: the tutorial's rolling-update check (`while true; do curl ...;
//! sleep 0.5; done`) done right. Open-loop requests at a fixed rate over pooled keep-alive
//! connections, every answer attributed (status, latency, `version` of `GET /`, the pod from
//! `x-served-by`), every failure counted by kind, one line per second, a summary and an exit
//! code for CI: 0 nothing failed, 1 something failed, 2 bad usage. docs/watch.md is the manual
//! and documents the JSON output as a stable interface.
//!
//! Modules:
//! - [`args`]: the command line (pure; errors name the argument).
//! - [`engine`]: the open-loop scheduler; [`pool`]: at most C connections.
//! - [`outcome`]: failure kinds; [`extract`]: `version`/`message` from a JSON body.
//! - [`stats`]: per-second and summary aggregation (pure); [`report`]: text and JSON.
//! - [`svg`]: the SVG renderer (shared with the drain benchmark's plots); [`timeline`]: the
//!   `--svg` plot of a run; [`hist`]: the run-long latency histogram.
//!
//! The engine, the recorder and the plot are public because the drain benchmark
//! (`benches/drain`) drives its simulated rollouts with them: the benchmark's numbers and
//! `watch`'s are the same code's.

pub mod args;
pub mod engine;
pub mod extract;
pub mod hist;
pub mod outcome;
pub mod pool;
pub mod report;
pub mod stats;
pub mod svg;
pub mod timeline;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use hyper::header::HeaderName;
use tokio::sync::mpsc;
use tokio::time::Instant;

use args::{Args, Output};
use engine::{Event, Planned, Spec};
use stats::Recorder;

/// The header that names the pod which answered: the one this service sends.
pub const POD_HEADER: &str = crate::http::state::SERVED_BY;
/// A second's line is printed this long after the second ends, so answers completing just
/// before the boundary are in it.
const LINE_GRACE: Duration = Duration::from_millis(50);

pub const USAGE: &str = "\
USAGE:
    hello-world watch URL [--rate R] [--duration D] [--timeout T] [--connections C] [--http2]
                          [--output text|json] [--svg FILE]

    Sends GET URL R times a second (default 20, at most 5000) on a fixed schedule, each with a
    deadline of T (default 2 s), over at most C keep-alive connections (default 4; --http2: h2c
    prior knowledge), until D has passed (seconds or 90s/5m/1h; default: until Ctrl-C/SIGTERM),
    then waits for the requests in flight (at most T). Prints one line per second and a summary
    (--output json: one JSON object per line); --svg writes a timeline.
    Exit 0: nothing failed; 1: something failed (refused, reset, timeout, 5xx, 4xx, other); 2: bad usage.
";

/// Runs the command; `stop` ends an open-ended run (the binary passes its SIGINT/SIGTERM wait).
/// Returns the exit code.
pub fn run<S: Future>(argv: &[String], stop: S) -> i32 {
    if argv.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return 0;
    }
    let a = match args::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hello-world watch: {e}\n\n{USAGE}");
            return 2;
        }
    };
    // Fail before the run, not after it, when the plot cannot be written.
    if let Some(path) = &a.svg {
        if let Err(e) = std::fs::File::create(path) {
            eprintln!("hello-world watch: --svg {}: {e}", path.display());
            return 2;
        }
    }
    // One thread: the watcher should cost its target as little CPU as possible
    // (docs/watch.md has the measurement at 1,000 req/s).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hello-world watch: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(watch(a, stop))
}

async fn watch<S: Future>(a: Args, stop: S) -> i32 {
    let url = format!("http://{}{}", a.target.authority, a.target.path);
    let spec = Spec {
        host: a.target.host.clone(),
        port: a.target.port,
        authority: a.target.authority.clone(),
        rate: a.rate,
        duration: a.duration,
        connections: a.connections,
        http2: a.http2,
        pod_header: HeaderName::from_static(POD_HEADER),
    };
    let mut out = std::io::stdout();
    if a.output == Output::Text {
        let _ = writeln!(
            out,
            "watching {url}: {} req/s, timeout {:?}, {} connection(s) {}, {}",
            a.rate,
            a.timeout,
            a.connections,
            if a.http2 { "h2c" } else { "HTTP/1.1" },
            match a.duration {
                Some(d) => format!("for {d:?}"),
                None => "until Ctrl-C".into(),
            }
        );
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (path, timeout) = (a.target.path.clone(), a.timeout);
    let engine = engine::run(spec, move |_| Planned::get(&path, timeout), stop, tx);
    let mut engine = std::pin::pin!(engine);
    let mut finished = None;
    let mut rec = Recorder::default();
    let start = Instant::now();
    let mut next = 0usize;
    let line = |rec: &mut Recorder, k: usize, out: &mut std::io::Stdout| {
        let s = rec.close(k);
        let text = match a.output {
            Output::Text => report::text_line(k, s),
            Output::Json => report::json_line(k, s),
        };
        let _ = writeln!(out, "{text}");
    };
    loop {
        let tick = start + Duration::from_secs(next as u64 + 1) + LINE_GRACE;
        tokio::select! {
            f = &mut engine, if finished.is_none() => finished = Some(f),
            ev = rx.recv() => match ev {
                Some(Event::Sent { t, .. }) => rec.sent(t),
                Some(Event::Done(o)) => rec.record(&o),
                None => break,
            },
            _ = tokio::time::sleep_until(tick) => {
                line(&mut rec, next, &mut out);
                next += 1;
            }
        }
    }
    // The channel closes once the engine and all its requests are done.
    let f = match finished {
        Some(f) => f,
        None => engine.await,
    };
    while next < rec.len() {
        line(&mut rec, next, &mut out);
        next += 1;
    }
    let mut s = rec.summary(f.sending, f.ended);
    s.connections_opened = f.connections_opened;
    s.rate = a.rate;
    let _ = match a.output {
        Output::Text => write!(out, "{}", report::text_summary(&s)),
        Output::Json => writeln!(out, "{}", report::json_summary(&s)),
    };
    let _ = out.flush();
    if let Some(path) = &a.svg {
        if let Err(e) = std::fs::write(path, svg::render(&timeline::timeline(&rec, &s, &url))) {
            eprintln!("hello-world watch: --svg {}: {e}", path.display());
        }
    }
    i32::from(s.failed > 0)
}
