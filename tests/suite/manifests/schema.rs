//! Strict schema validation of manifests with the upstream `kubernetes-validate` (PyPI), one
//! run per Kubernetes version. Strict: a field the schema does not know is an error.
//!
//! The plain CLI only warns, and exits 0, when it has no schema for a kind (an API removed in
//! that version, a typo in `apiVersion`, a CRD); here that is an error too, except for the CRD
//! kinds the caller names. Every document must be reported as passed for every version, so a
//! document the tool silently skipped cannot pass either.

use std::path::Path;
use std::process::Command;

/// The Kubernetes versions the chart supports (`kubeVersion: >=1.29.0-0`, tested up to 1.35).
pub const KUBERNETES: [&str; 7] = [
    "1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0", "1.35.0",
];

const TOOL: &str = "kubernetes-validate";
const HINT: &str = "run scripts/test (it installs kubernetes-validate into target/tools and \
    puts target/tools/bin on PATH), or `pip install kubernetes-validate==1.37.0`";

/// Validates every document of `files` against each of `versions`. Returns the number of
/// (document, version) pairs that passed, or every problem found, one line each.
pub fn validate(
    files: &[&Path],
    versions: &[&str],
    crd_kinds: &[&str],
) -> Result<usize, Vec<String>> {
    let documents: usize = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            super::documents(&text).len()
        })
        .sum();
    let mut passed = 0;
    let mut problems = Vec::new();
    for version in versions {
        let out = Command::new(TOOL)
            .args(["--strict", "-k", version])
            .args(files)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{TOOL}` ({e}): {HINT}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let before = problems.len();
        let mut accounted = 0;
        for line in text.lines() {
            match classify(line, crd_kinds) {
                Line::Passed => accounted += 1,
                Line::AllowedCrd => accounted += 1,
                Line::Problem => problems.push(format!("k8s {version}: {line}")),
                Line::Other => {}
            }
        }
        if accounted != documents {
            problems.push(format!(
                "k8s {version}: {accounted} of {documents} documents reported as validated"
            ));
        }
        if !out.status.success() && problems.len() == before {
            problems.push(format!(
                "k8s {version}: {TOOL} exited {}:\n{text}",
                out.status
            ));
        }
        passed += accounted;
    }
    if problems.is_empty() {
        Ok(passed)
    } else {
        Err(problems)
    }
}

/// What one output line of `kubernetes-validate` means.
#[derive(Debug, PartialEq)]
enum Line {
    /// `INFO <file> passed for resource <kind>/<name> against version <v>`
    Passed,
    /// `WARN <file> Couldn't find schema for kind <K> ...` for a CRD the caller allows.
    AllowedCrd,
    /// ERROR, FATAL, and any other warning (a missing schema for a built-in kind included).
    Problem,
    Other,
}

fn classify(line: &str, crd_kinds: &[&str]) -> Line {
    if line.starts_with("INFO ") && line.contains(" passed for resource ") {
        return Line::Passed;
    }
    if line.starts_with("WARN ") {
        let crd = line
            .split("Couldn't find schema for kind ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .is_some_and(|kind| crd_kinds.contains(&kind));
        return if crd { Line::AllowedCrd } else { Line::Problem };
    }
    if line.starts_with("ERROR ") || line.starts_with("FATAL ") {
        return Line::Problem;
    }
    Line::Other
}
