//! The generated results: `benches/results/speed.json` and `benches/results/SPEED.md`.

use std::fmt::Write as _;
use std::path::Path;

use hello_world::json::{self, Obj};

use crate::machine::{Machine, QUIET_LOAD};

/// Below this share of the CPUs' time taken by other work during every wrk run, the machine
/// counts as quiet.
const QUIET_OTHER: f64 = 0.05;
use crate::memory::Rss;
use crate::report::{render_runs, render_table, verdict};
use crate::throughput::med;
use crate::{callgrind, Kind, Row, Run, CONNECTIONS};

pub(crate) const COMMAND: &str = "cargo bench --bench speed";

#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    dir: &Path,
    other_ours: Option<&Path>,
    m: &Machine,
    load_end: f64,
    rows: &[Row],
    runs: &[Run],
    instructions: &[(Kind, f64)],
    rss: &[Rss],
    startup: &[f64],
    size: u64,
) {
    std::fs::create_dir_all(dir).expect("creating the results directory");

    let f = |x: f64| format!("{x:.3}");
    let arr = |items: Vec<String>| format!("[{}]", items.join(","));
    let machine = Obj::new()
        .u64("nproc", m.nproc as u64)
        .str("cpu_model", &m.cpu_model)
        .str("kernel", &m.kernel)
        .raw("load1_at_start", &f(m.load_start))
        .raw("load1_after_wait", &f(m.load_after_wait))
        .raw("waited_seconds", &f(m.waited.as_secs_f64()))
        .raw("load1_at_end", &f(load_end))
        .str("rustc", &m.rustc)
        .str("commit", &m.commit)
        .str("date", &m.date);
    let ours_bin = other_ours.map(|p| p.display().to_string());
    let machine = match &ours_bin {
        Some(p) => machine.str("ours_binary", p),
        None => machine,
    }
    .finish();
    let table = arr(rows
        .iter()
        .map(|r| {
            Obj::new()
                .str("metric", &r.metric)
                .str("target", &r.target)
                .str("measured", &r.measured)
                .str("result", verdict(r.pass))
                .finish()
        })
        .collect());
    let run_list = arr(runs
        .iter()
        .map(|r| {
            let mut o = Obj::new()
                .str("server", r.kind.key())
                .u64("round", r.round as u64)
                .raw("requests_per_second", &f(r.report.rps))
                .u64("requests", r.report.requests)
                .raw("p50_us", &f(r.report.p50_us))
                .raw("p99_us", &f(r.report.p99_us))
                .raw("server_cpu_us_per_request", &f(r.cpu_us_per_req))
                .u64("socket_errors", r.report.socket_errors)
                .raw("load1", &f(r.load))
                .raw("other_cpu_share", &f(r.other));
            if let Some((answered, hello, access)) = r.lines {
                o = o
                    .u64("answered", answered)
                    .u64("hello_lines", hello)
                    .u64("access_lines", access);
            }
            o.finish()
        })
        .collect());
    let mut medians = Obj::new();
    for kind in Kind::ALL {
        let mut o = Obj::new();
        if !runs.is_empty() {
            o = o
                .raw("requests_per_second", &f(med(runs, kind, |r| r.report.rps)))
                .raw("p99_us", &f(med(runs, kind, |r| r.report.p99_us)))
                .raw(
                    "server_cpu_us_per_request",
                    &f(med(runs, kind, |r| r.cpu_us_per_req)),
                );
        }
        if let Some((_, n)) = instructions.iter().find(|(k, _)| *k == kind) {
            o = o.raw("callgrind_instructions_per_request", &f(*n));
        }
        medians = medians.raw(kind.key(), &o.finish());
    }
    let rss_list = arr(rss
        .iter()
        .map(|r| {
            Obj::new()
                .str("setup", r.key)
                .u64("threads", r.threads)
                .u64("idle_kib", r.idle_kib)
                .u64("after_kib", r.after_kib)
                .u64("peak_kib", r.peak_kib)
                .u64("requests", r.requests)
                .finish()
        })
        .collect());
    let mut cmd_json = String::new();
    json::push_str(&mut cmd_json, COMMAND);
    let doc = Obj::new()
        .raw("command", &cmd_json)
        .raw("machine", &machine)
        .raw("table", &table)
        .raw("medians", &medians.finish())
        .raw("runs", &run_list)
        .raw("rss", &rss_list)
        .raw("startup_ms", &arr(startup.iter().map(|t| f(*t)).collect()))
        .u64("musl_stripped_bytes", size)
        .finish();
    // The previous run's results, for [`disagreement`].
    let _ = std::fs::rename(dir.join("speed.json"), dir.join("speed.json.previous"));
    std::fs::write(dir.join("speed.json"), doc + "\n").expect("writing speed.json");

    let mut md = String::new();
    let _ = writeln!(md, "# Speed and memory — measured\n");
    let _ = writeln!(
        md,
        "Produced by `{COMMAND}` (benches/speed/main.rs); do not edit by hand.\n"
    );
    // Quiet means: in every wrk run, other work took less than QUIET_OTHER of the CPUs. The load
    // average at the end cannot say it: the bench itself keeps both CPUs busy.
    let busiest = runs.iter().map(|r| r.other).fold(0.0, f64::max);
    let quiet = busiest < QUIET_OTHER;
    let _ = writeln!(
        md,
        "- Machine: {} CPUs, {}, Linux {}; {}; commit {}; measured {}.\n\
         - Load average (1 min): {:.2} at start, {:.2} when measuring began (after waiting {:.0} s \
         for it to drop below {QUIET_LOAD}), {:.2} at the end.\n\
         - Throughput: each server pinned to CPU 0, `taskset -c 1 wrk -t1 -c{CONNECTIONS} -d<N>s \
         --latency http://127.0.0.1:<port>/`; {} rounds of the four servers, interleaved (compared \
         pairs back to back, every other round reversed); each ratio is the median of the \
         per-round ratios, with a distribution-free 95% interval for it (order statistics).\n\
         - At once (cross-check, benches/speed/at_once.rs): the two servers of a pair pinned to \
         CPU 0 together, each in a cpu cgroup with equal shares and loaded by its own wrk on \
         CPU 1; the ratio of their requests per CPU-second cancels the machine's speed.\n\
         - callgrind: each server under `valgrind --tool=callgrind` with `WORKERS=1`, {} and {} \
         requests over 16 keep-alive connections; instructions per request = the difference of \
         the two totals / {} (all threads). Deterministic: unaffected by the load.\n",
        m.nproc,
        m.cpu_model,
        m.kernel,
        m.rustc,
        m.commit,
        m.date,
        m.load_start,
        m.load_after_wait,
        m.waited.as_secs_f64(),
        load_end,
        runs.iter().map(|r| r.round).max().unwrap_or(0),
        callgrind::FEW,
        callgrind::MANY,
        callgrind::MANY - callgrind::FEW,
    );
    if let Some(p) = &ours_bin {
        let _ = writeln!(
            md,
            "**Ours is another build:** `{p}` (`SPEED_OURS_BIN`) was measured as \"ours\" \
             (throughput and callgrind); the baselines, the musl build (memory, start-up, size) \
             and the bench are from commit {}.\n",
            m.commit
        );
    }
    if quiet {
        let _ = writeln!(
            md,
            "The machine was quiet for this run: in every wrk run, work other than the server \
             and wrk took at most {:.1}% of the CPUs' time (the `other CPU` column).\n",
            busiest * 100.0
        );
    } else {
        let _ = writeln!(
            md,
            "**The machine was loaded for this run**: in at least one wrk run, work other than \
             the server and wrk took {:.1}% of the CPUs' time (the `other CPU` column; quiet is \
             below {:.0}%): the wrk numbers and their verdicts are not to be trusted; rerun on a \
             quiet machine. The callgrind counts hold.\n",
            busiest * 100.0,
            QUIET_OTHER * 100.0
        );
    }
    if let Some(note) = disagreement(&dir.join("speed.json.previous"), m, rows) {
        let _ = writeln!(md, "{note}\n");
    }
    let _ = writeln!(md, "{}", render_table(rows));
    let _ = writeln!(md, "Every run:\n\n{}", render_runs(runs));
    std::fs::write(dir.join("SPEED.md"), md).expect("writing SPEED.md");
    println!(
        "speed: wrote {} and {}",
        dir.join("speed.json").display(),
        dir.join("SPEED.md").display()
    );
}

/// If the previous results are from the same commit and some verdict differs, a paragraph
/// saying which, with both runs' load averages (the usual reason on a shared machine).
pub(crate) fn disagreement(previous: &Path, m: &Machine, rows: &[Row]) -> Option<String> {
    let text = std::fs::read_to_string(previous).ok()?;
    let _ = std::fs::remove_file(previous);
    let old: serde_json::Value = serde_json::from_str(&text).ok()?;
    if old["machine"]["commit"].as_str()? != m.commit {
        return None;
    }
    let mut changed = Vec::new();
    for r in rows.iter().filter(|r| r.pass.is_some()) {
        let Some(was) = old["table"]
            .as_array()?
            .iter()
            .find(|o| o["metric"] == r.metric.as_str())
        else {
            continue;
        };
        if was["result"] != verdict(r.pass) {
            changed.push(format!(
                "{} was {} ({}), is {} ({})",
                r.metric,
                was["result"].as_str().unwrap_or("?"),
                was["measured"].as_str().unwrap_or("?"),
                verdict(r.pass),
                r.measured
            ));
        }
    }
    if changed.is_empty() {
        return None;
    }
    Some(format!(
        "**The previous run at this commit ({}, load average {} to {}) disagrees:** {}. The code \
         was the same; what differed was the machine's load (this run: {:.2} when measuring \
         began). A verdict that flips between runs is within the noise, not met for sure.",
        old["machine"]["date"].as_str().unwrap_or("date unknown"),
        old["machine"]["load1_after_wait"],
        old["machine"]["load1_at_end"],
        changed.join("; "),
        m.load_after_wait
    ))
}
