//! `cargo bench --bench drain -- [flags]`: the drain benchmark (docs/drain.md §8).
//!
//! Drives the real release binary through a kubelet/endpoints/ingress-nginx simulation and
//! counts every lost request. See `benches/results/RESULTS.md` for the latest numbers and
//! `docs/benchmarks.md` for how to read them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use harness::scenario::{self, Options};
use testkit::drain as harness;

const HELP: &str = "\
cargo bench --bench drain -- [flags]

  --quick            one short scenario (chart-default rolling update), results under target/
  --only SUBSTR      run scenarios whose name contains SUBSTR (repeatable)
  --list             list scenario names and exit
  --scale F          divide every cluster duration by F (default 5; --quick: 10)
  --rate N           offered load, requests per wall second (default 150)
  --seed N           jitter seed (default 1)
  --chart DIR        chart to render with `helm template` (default: helm/hello-world)
  --no-chart         ignore the chart, use the tutorial defaults
  --bin PATH         server binary (default: the release build of this package)
  --out DIR          results directory (default benches/results; --quick: target/drain-bench/quick)
";

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let (mut quick, mut list, mut no_chart) = (false, false, false);
    let (mut scale, mut rate, mut seed) = (None, 150.0, 1u64);
    let (mut chart, mut bin, mut out) = (None::<PathBuf>, None::<PathBuf>, None::<PathBuf>);
    let mut only: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("{name} needs a value\n{HELP}");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            // cargo passes `--bench` to harness = false targets.
            "--bench" => {}
            "--quick" => quick = true,
            "--list" => list = true,
            "--no-chart" => no_chart = true,
            "--only" => only.push(val("--only")),
            "--scale" => scale = val("--scale").parse().ok(),
            "--rate" => rate = val("--rate").parse().unwrap_or(rate),
            "--seed" => seed = val("--seed").parse().unwrap_or(seed),
            "--chart" => chart = Some(PathBuf::from(val("--chart"))),
            "--bin" => bin = Some(PathBuf::from(val("--bin"))),
            "--out" => out = Some(PathBuf::from(val("--out"))),
            "-h" | "--help" => {
                print!("{HELP}");
                return 0;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{HELP}");
                return 2;
            }
        }
    }
    let bin = bin.unwrap_or_else(|| {
        option_env!("CARGO_BIN_EXE_hello-world")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("target/release/hello-world"))
    });
    let chart = if no_chart {
        None
    } else {
        chart.or_else(|| scenario::default_chart(manifest))
    };
    let out = out.unwrap_or_else(|| {
        if quick {
            manifest.join("target/drain-bench/quick")
        } else {
            manifest.join("benches/results")
        }
    });
    let opts = Options {
        bin,
        chart,
        scale: scale.unwrap_or(if quick { 10.0 } else { 5.0 }),
        rate,
        seed,
        work: manifest.join("target/drain-bench/work"),
    };
    let scenarios = match if quick {
        scenario::quick(&opts)
    } else {
        scenario::matrix(&opts)
    } {
        Ok(s) => s,
        Err(e) => {
            eprintln!("drain-bench: {e}");
            return 2;
        }
    };
    let scenarios: Vec<_> = scenarios
        .into_iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| s.name.contains(o.as_str())))
        .collect();
    if list {
        for s in &scenarios {
            println!("{:40} {:?}  {}", s.name, s.expect, s.title);
        }
        return 0;
    }
    if !opts.bin.exists() {
        eprintln!(
            "drain-bench: server binary {} not found: run `cargo build --release` first",
            opts.bin.display()
        );
        return 2;
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("drain-bench: {}: {e}", out.display());
        return 2;
    }
    let chart_note = match &opts.chart {
        Some(c) => format!("chart {}{}", c.display(), git_describe(c)),
        None => "no chart: tutorial defaults".to_string(),
    };
    eprintln!(
        "drain-bench: {} scenario(s), times ÷{}, {} req/s, {chart_note}, binary {}",
        scenarios.len(),
        opts.scale,
        opts.rate,
        opts.bin.display()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let mut results = Vec::new();
    for sc in &scenarios {
        eprint!("  {:40} ", sc.name);
        let t = Instant::now();
        match rt.block_on(scenario::run(sc, &opts)) {
            Ok(r) => {
                let s = r.summary();
                eprintln!(
                    "{:>5.1}s  {}  (lost {}, upstream errors {}, artifacts {})",
                    t.elapsed().as_secs_f64(),
                    s.verdict,
                    s.lost,
                    s.upstream_errors,
                    s.reload_artifacts
                );
                let svg = harness::svg::render(&r, &s);
                if let Err(e) = std::fs::write(out.join(format!("{}.svg", sc.name)), svg) {
                    eprintln!("drain-bench: writing svg: {e}");
                }
                results.push((r, s));
            }
            Err(e) => {
                eprintln!("ERROR: {e}");
                return 1;
            }
        }
    }
    let rows: Vec<_> = results.iter().map(|(r, s)| (r, s.clone())).collect();
    let table = harness::report::table(&rows);
    println!("{table}");
    let json = serde_json::json!({
        "command": command_line(),
        "scale": opts.scale,
        "rate_per_second": opts.rate,
        "seed": opts.seed,
        "chart": chart_note,
        "nginx": nginx_version(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "wall_seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "scenarios": results.iter().map(|(r, s)| r.to_json(s)).collect::<Vec<_>>(),
    });
    let write = |name: &str, text: String| {
        if let Err(e) = std::fs::write(out.join(name), text) {
            eprintln!("drain-bench: writing {name}: {e}");
        }
    };
    write(
        "drain-bench.json",
        serde_json::to_string_pretty(&json).unwrap_or_default() + "\n",
    );
    write(
        "RESULTS.md",
        results_md(&table, &results, &opts, &chart_note, started),
    );
    let failed: Vec<_> = results.iter().filter(|(_, s)| !s.passed).collect();
    eprintln!(
        "drain-bench: {} of {} scenario(s) as expected, {:.0} s, results in {}",
        results.len() - failed.len(),
        results.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    i32::from(!failed.is_empty())
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.is_empty() {
        "cargo bench --bench drain".into()
    } else {
        format!("cargo bench --bench drain -- {}", args.join(" "))
    }
}

/// " (git <commit>[, uncommitted changes])" for a chart inside a git work tree, else "".
fn git_describe(dir: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => {
            let dirty = git(&["status", "--porcelain", "--", "."]).is_some_and(|s| !s.is_empty());
            format!(
                " (git {head}{})",
                if dirty { ", uncommitted changes" } else { "" }
            )
        }
        None => String::new(),
    }
}

fn nginx_version() -> String {
    std::process::Command::new(harness::ingress::NGINX)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_default()
}

fn results_md(
    table: &str,
    results: &[(harness::report::ScenarioResult, harness::report::Summary)],
    opts: &Options,
    chart_note: &str,
    started: Instant,
) -> String {
    let mut md = String::from("# Drain benchmark results\n\n");
    md.push_str(&format!(
        "Produced by `{}` (after `cargo build --release`) in {:.0} s on {} CPU(s), {}; times ÷{}, {} req/s offered, seed {}; {chart_note}.\n\n",
        command_line(),
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        nginx_version(),
        opts.scale,
        opts.rate,
        opts.seed
    ));
    md.push_str("Columns are explained in `docs/benchmarks.md`. Raw data: `drain-bench.json`; one timeline per scenario: `<scenario>.svg`.\n\n");
    md.push_str(table);
    md.push_str("\n## Deployment values per scenario\n\n");
    for (r, _) in results {
        let d = &r.scenario.spec;
        md.push_str(&format!(
            "- `{}`: replicas {}, maxSurge {}, maxUnavailable {}, minReadySeconds {}, grace {} s, preStop {}, DRAIN_DELAY_SECONDS {}, DRAIN_TIMEOUT_SECONDS {}, readiness period {} s × failureThreshold {}, propagation {} s ±{:.0}% — source: `{}`\n",
            r.scenario.name,
            d.replicas,
            d.max_surge,
            d.max_unavailable,
            d.min_ready_seconds,
            d.grace_seconds,
            d.pre_stop.label(),
            d.drain_delay(),
            d.drain_timeout(),
            d.readiness.period,
            d.readiness.failure_threshold,
            r.scenario.propagation,
            r.scenario.jitter * 100.0,
            d.source
        ));
    }
    let with_checks: Vec<_> = results
        .iter()
        .filter(|(r, _)| !r.checks.is_empty() || !r.notes.is_empty())
        .collect();
    if !with_checks.is_empty() {
        md.push_str("\n## Scenario checks and notes\n\n");
        for (r, _) in with_checks {
            md.push_str(&format!("- `{}`:\n", r.scenario.name));
            for (c, ok) in &r.checks {
                md.push_str(&format!("  - [{}] {c}\n", if *ok { "x" } else { " " }));
            }
            for n in &r.notes {
                md.push_str(&format!("  - {n}\n"));
            }
        }
    }
    md
}
