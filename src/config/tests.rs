use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::vars::{DefaultIs, VARIABLES};
use super::*;

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| m.get(k).cloned())
}

#[test]
fn defaults_are_the_tutorials() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.host.to_string(), "0.0.0.0");
    assert_eq!(c.port, 8080);
    assert_eq!(c.app_env, "local");
    assert_eq!(c.app_version, "1.0.0");
    assert_eq!(c.log_level, Level::Info);
    assert_eq!(c.pod_name, "unknown");
    assert_eq!(c.greeting, "Hello World");
    assert!(c.access_log);
    assert_eq!(c.drain_delay, Duration::ZERO);
    assert_eq!(c.drain_timeout, Duration::from_secs(30));
    assert!(c.admin_token.is_none() && !c.prestop_endpoint && c.workers.is_none());
    let l = &c.limits;
    assert_eq!(l.header_read_timeout, Duration::from_secs(75));
    assert_eq!(l.first_byte_timeout, Duration::from_secs(10));
    assert_eq!(l.request_timeout, Duration::from_secs(90));
    assert_eq!(l.send_timeout, Duration::from_secs(60));
    assert_eq!(
        (l.max_connections, l.max_body_bytes, l.max_header_bytes),
        (10_000, 65_536, 16_384)
    );
    assert_eq!((l.max_headers, l.h2_max_streams), (100, 100));
}

#[test]
fn good_values_are_taken() {
    let c = cfg(&[
        ("HOST", "::1"),
        ("PORT", "0"),
        ("LOG_LEVEL", "WARN"),
        ("DRAIN_DELAY_SECONDS", "1.5"),
        ("DRAIN_TIMEOUT_SECONDS", "2"),
        ("WORKERS", "1"),
        ("ACCESS_LOG", "FALSE"),
        ("POD_NAMESPACE", ""),
        ("SEND_TIMEOUT_SECONDS", "0.5"),
    ])
    .unwrap();
    assert_eq!(c.host.to_string(), "::1");
    assert_eq!(c.port, 0);
    assert_eq!(c.log_level, Level::Warning);
    assert_eq!(c.log_level_raw, "WARN");
    assert_eq!(c.drain_delay, Duration::from_millis(1500));
    assert_eq!(c.workers, Some(1));
    assert!(!c.access_log);
    assert_eq!(c.pod_namespace, None);
    assert_eq!(c.limits.send_timeout, Duration::from_millis(500));
}

#[test]
fn bad_values_name_variable_value_and_rule() {
    for (var, val, needle) in [
        ("PORT", "80a", "0 to 65535"),
        ("PORT", "65536", "0 to 65535"),
        ("HOST", "localhost", "IPv4 or IPv6"),
        ("LOG_LEVEL", "verbose", "debug, info"),
        ("ACCESS_LOG", "yes", "true or false"),
        ("WORKERS", "0", "1 to 1024"),
        ("DRAIN_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("DRAIN_TIMEOUT_SECONDS", "-1", "greater than 0"),
        ("DRAIN_TIMEOUT_SECONDS", "inf", "greater than 0"),
        ("DRAIN_DELAY_SECONDS", "1e3", "from 0 to"),
        ("SEND_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("SEND_TIMEOUT_SECONDS", "3601", "at most 3600"),
        ("APP_ENV", "", "1 to 256"),
        ("MAX_HEADER_BYTES", "100", "8192"),
    ] {
        let e = cfg(&[(var, val), ("POD_NAME", "p-1")]).unwrap_err();
        assert_eq!(e.variable, var);
        assert_eq!(e.value, val);
        assert_eq!(e.pod, "p-1");
        assert!(e.allowed.contains(needle), "{var}: {}", e.allowed);
    }
}

#[test]
fn delay_must_be_below_timeout() {
    let e = cfg(&[("DRAIN_DELAY_SECONDS", "5"), ("DRAIN_TIMEOUT_SECONDS", "5")]).unwrap_err();
    assert_eq!(e.variable, "DRAIN_DELAY_SECONDS");
    assert!(
        e.allowed.contains("less than DRAIN_TIMEOUT_SECONDS"),
        "{}",
        e.allowed
    );
}

#[test]
fn admin_token_is_never_echoed() {
    let e = cfg(&[("ADMIN_TOKEN", "short")]).unwrap_err();
    assert_eq!(e.value, "<redacted>");
    assert!(cfg(&[("ADMIN_TOKEN", "s3cret-token")]).is_ok());
}

#[test]
fn every_variable_is_listed_once_and_its_default_parses() {
    let mut names: Vec<_> = VARIABLES.iter().map(|v| v.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), VARIABLES.len());
    for v in VARIABLES {
        match v.default {
            DefaultIs::Value(d) => {
                assert!((v.parse)(&mut Config::unset(), d).is_ok(), "{}", v.name)
            }
            DefaultIs::Unset(t) => assert!(t.starts_with('(') && t.ends_with(')'), "{}", v.name),
        }
    }
}

fn read(rel: &str) -> String {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Rows of the markdown table whose header row starts with `header`: cells trimmed.
pub(crate) fn markdown_table(text: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(header));
    assert!(lines.next().is_some(), "no table starting {header:?}");
    let sep = lines.next().unwrap_or_default();
    assert!(
        sep.trim_start().starts_with("| ---"),
        "separator row expected, got {sep:?}"
    );
    lines
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(|l| {
            let l = l.trim().trim_start_matches('|').trim_end_matches('|');
            // `\|` is a literal bar inside a cell.
            let cells = l.replace("\\|", "\u{0}");
            cells
                .split('|')
                .map(|c| c.trim().replace('\u{0}', "|"))
                .collect()
        })
        .collect()
}

/// `docs/configuration.md`'s `| Variable | Default | Allowed | Meaning |` table has exactly
/// the table's variables, each with the same default (`` `value` `` or the `(…)` text).
#[test]
fn configuration_doc_matches_the_variable_table() {
    let doc = read("docs/configuration.md");
    let rows = markdown_table(&doc, "| Variable | Default | Allowed | Meaning |");
    let mut documented = BTreeMap::new();
    for r in &rows {
        assert_eq!(r.len(), 4, "4 cells: {r:?}");
        let name = r[0].strip_prefix('`').and_then(|n| n.strip_suffix('`'));
        let name = name.unwrap_or_else(|| panic!("name in backticks: {r:?}"));
        let default = match r[1].strip_prefix('`').and_then(|d| d.strip_suffix('`')) {
            Some(v) => DefaultIs::Value(Box::leak(v.to_owned().into_boxed_str())),
            None => DefaultIs::Unset(Box::leak(r[1].clone().into_boxed_str())),
        };
        assert!(
            documented.insert(name.to_owned(), default).is_none(),
            "{name} twice"
        );
    }
    let table: BTreeMap<_, _> = VARIABLES
        .iter()
        .map(|v| (v.name.to_owned(), v.default))
        .collect();
    assert_eq!(documented, table);
}

/// Every variable the chart sets exists, and where the chart's value is the app's default
/// in spirit it is the same value. Deliberate differences are listed with their reason.
#[test]
fn chart_sets_known_variables_with_the_apps_defaults() {
    const CHART_DIFFERS: &[(&str, &str)] = &[
        (
            "APP_ENV",
            "a chart install is a deployment, not a laptop: `production`",
        ),
        (
            "DRAIN_DELAY_SECONDS",
            "behind a Service the endpoints need time to update",
        ),
    ];
    let values: serde_norway::Value =
        serde_norway::from_str(&read("helm/hello-world/values.yaml")).expect("values.yaml is YAML");
    let mut set = Vec::new();
    for file in ["configmap.yaml", "deployment.yaml"] {
        let text = read(&format!("helm/hello-world/templates/{file}"));
        set.extend(chart_env(&text));
    }
    assert!(set.len() >= 8, "found the chart's variables: {set:?}");
    for (name, path) in set {
        let var = VARIABLES.iter().find(|v| v.name == name);
        let var =
            var.unwrap_or_else(|| panic!("the chart sets {name}, which the app does not read"));
        let Some(path) = path else { continue };
        let mut node = &values;
        for key in path.split('.') {
            node = &node[key];
        }
        let chart = match node {
            serde_norway::Value::Null => None,
            serde_norway::Value::String(s) => Some(s.clone()),
            serde_norway::Value::Bool(b) => Some(b.to_string()),
            serde_norway::Value::Number(n) => Some(n.to_string()),
            other => panic!("{name}: .Values.{path} is {other:?}"),
        };
        let app = match var.default {
            DefaultIs::Value(v) => Some(v.to_owned()),
            DefaultIs::Unset(_) => None,
        };
        if CHART_DIFFERS.iter().any(|(n, _)| *n == name) {
            assert_ne!(chart, app, "{name} is listed as differing but does not");
        } else {
            assert_eq!(chart, app, "{name}: .Values.{path} vs the app's default");
        }
    }
}

/// `(NAME, Some(values path))` for every env entry a template sets from `.Values`
/// (`NAME: {{ .Values.x | quote }}` in a ConfigMap, `- name: NAME` + `value: {{ … }}` in a
/// Deployment, `{{- with .Values.x }}` around a key); `None` when it comes from elsewhere.
fn chart_env(text: &str) -> Vec<(String, Option<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let values_path = |expr: &str, with: &Option<String>| -> Option<String> {
        let inner = expr
            .split("{{")
            .nth(1)?
            .split("}}")
            .next()?
            .trim()
            .trim_start_matches('-');
        let first = inner.split_whitespace().next()?;
        if first == "." {
            return with.clone();
        }
        let p = first
            .strip_prefix(".Values.")
            .map(str::to_owned)
            .or_else(|| {
                first
                    .strip_prefix("$g.")
                    .map(|p| format!("gracefulShutdown.{p}"))
            });
        p
    };
    let mut with = None;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        if let Some(rest) = t.strip_prefix("{{- with .Values.") {
            with = rest.split_whitespace().next().map(str::to_owned);
        } else if t.starts_with("{{- end") {
            with = None;
        } else if let Some(name) = t.strip_prefix("- name: ") {
            if is_env_name(name) {
                let next = lines.get(i + 1).map_or("", |n| n.trim());
                let path = next
                    .strip_prefix("value: ")
                    .and_then(|v| values_path(v, &with));
                out.push((name.to_owned(), path));
            }
        } else if let Some((k, v)) = t.split_once(": ") {
            if is_env_name(k) && v.contains("{{") {
                out.push((k.to_owned(), values_path(v, &with)));
            }
        }
    }
    out
}

fn is_env_name(s: &str) -> bool {
    s.len() > 2
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
}
