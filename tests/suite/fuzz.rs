//! The bounded coverage-guided fuzz run, as part of the suite: `fuzz/run.sh` runs
//! each cargo-fuzz target (the query parser, the JSON string escaper) for `FUZZ_SECONDS`
//! (default 60) over the committed corpus, and fails on any crash or property violation.
//!
//! Needs the nightly toolchain and cargo-fuzz (`scripts/test` installs both when missing). The
//! same properties also run on stable in the `props` module.

use std::process::Command;

/// Every cargo-fuzz target runs FUZZ_SECONDS over the committed corpus without a crash or a
/// property violation.
#[test]
fn fuzz_targets_run_clean_for_a_bounded_time() {
    let root = env!("CARGO_MANIFEST_DIR");
    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .output();
    assert!(
        nightly.is_ok_and(|o| o.status.success()),
        "the nightly Rust toolchain is missing: rustup toolchain install nightly"
    );
    let fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output();
    assert!(
        fuzz.is_ok_and(|o| o.status.success()),
        "cargo-fuzz is missing: cargo install cargo-fuzz"
    );
    let secs = std::env::var("FUZZ_SECONDS").unwrap_or_else(|_| "60".into());
    let out = Command::new("bash")
        .arg(format!("{root}/fuzz/run.sh"))
        .arg(&secs)
        .output()
        .expect("bash runs fuzz/run.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "fuzz/run.sh {secs} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        &stderr[stderr.len().saturating_sub(6000)..]
    );
    // Both targets really ran: libFuzzer's final stats name the executed units.
    let runs = stderr.matches("stat::number_of_executed_units").count();
    assert_eq!(runs, 2, "expected final stats of 2 targets:\n{stderr}");
}
