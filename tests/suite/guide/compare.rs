//! Comparing a shown output with a real one: normalised lines, `...` as a wildcard, and the
//! shell that runs a command line as written.

use std::process::Command;

use super::repo;

fn normalise(line: &str) -> String {
    let line = line.trim_end();
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("date:") {
        return "date: <date>".into();
    }
    if lower.starts_with("x-request-id:") {
        return "x-request-id: <id>".into();
    }
    match line.find("\"timestamp\":\"") {
        Some(at) => {
            let start = at + "\"timestamp\":\"".len();
            let end = line[start..].find('"').map_or(line.len(), |e| start + e);
            format!("{}<ts>{}", &line[..start], &line[end..])
        }
        None => line.to_string(),
    }
}

pub fn lines_of(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(normalise).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Whether `actual` matches `expected`, where an expected line `...` stands for any lines.
pub fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| a == e && matches(rest, more)),
    }
}

pub fn run_shell(script: &str, env: &[(String, String)]) -> (bool, String) {
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", &format!("{script} 2>&1")])
        .current_dir(repo())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `...` in an expected output stands for any number of lines, and only there.
    #[test]
    fn ellipsis_matches_any_lines() {
        let v = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        assert!(matches(&v(&["...", "b"]), &v(&["a", "x", "b"])));
        assert!(matches(&v(&["a", "...", "c"]), &v(&["a", "c"])));
        assert!(!matches(&v(&["a", "c"]), &v(&["a", "b", "c"])));
        assert!(!matches(&v(&["...", "b"]), &v(&["b", "c"])));
    }
}
