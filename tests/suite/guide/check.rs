//! The checks of one document: helm commands, examples run against a server, zsh quoting, files.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::compare::{lines_of, matches, run_shell};
use super::markdown::{blocks, commands, Cmd};
use super::shell::{first_command, tokens, Token};
use super::{repo, BIN, DOC_BIN, POD};

// ---------------------------------------------------------------------------------------
// Servers for the curl examples
// ---------------------------------------------------------------------------------------

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment a `check:` line asks for.
pub fn marker_env(marker: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let Some(marker) = marker else {
        return Ok(Vec::new());
    };
    let words = first_command(marker);
    match words.split_first() {
        Some((kind, args)) if kind == "env" => args
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect::<Option<_>>()
            .ok_or_else(|| format!("check: env needs K=V words: {marker}")),
        Some((kind, args)) if kind == "chart" => {
            let mut cmd = Command::new("helm");
            cmd.args([
                "template",
                "hello",
                "./helm/hello-world",
                "--show-only",
                "templates/configmap.yaml",
            ]);
            let out = cmd
                .args(args)
                .current_dir(repo())
                .output()
                .map_err(|e| format!("helm: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "check: {marker}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let cm: serde_norway::Value =
                serde_norway::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            let data = cm["data"].as_mapping().ok_or("the ConfigMap has no data")?;
            let mut env: Vec<(String, String)> = data
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().unwrap_or_default().to_string(),
                        v.as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            env.extend(POD.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Ok(env)
        }
        _ => Err(format!("unknown check line: {marker}")),
    }
}

pub fn start_server(env: &[(String, String)]) -> Server {
    let mut child = Command::new(BIN)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        // Keeps reading (and dropping) the log after `listening`, so the pipe never fills up.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("\"event\":\"listening\"") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server did not start listening");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addr = v["addr"].as_str().unwrap().parse().unwrap();
    Server { child, addr }
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

/// Checks one Markdown document; returns one message per problem.
pub fn check_doc(name: &str, text: &str, doc_dir: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    let mut servers: HashMap<String, Server> = HashMap::new();
    // (helm commands rendered, commands run against a server, outputs compared): printed so a
    // reader of the test log sees that the guide was actually exercised.
    let (mut helm, mut served, mut compared) = (0, 0, 0);
    for block in blocks(text) {
        let shell = matches!(
            block.lang.as_str(),
            "console" | "sh" | "bash" | "zsh" | "shell"
        );
        if !shell {
            continue;
        }
        for cmd in commands(&block) {
            let at = format!("{name}:{}", cmd.line);
            check_zsh_quoting(&at, &cmd.text, &mut errors);
            let words = first_command(&cmd.text);
            if words.first().map(String::as_str) == Some("helm") {
                helm += usize::from(matches!(
                    words.get(1).map(String::as_str),
                    Some("install" | "upgrade" | "template" | "lint")
                ));
                compared += usize::from(cmd.output.is_some());
                check_helm(&at, &words, &cmd, &mut errors);
            } else if block.lang == "console" {
                let uses_server =
                    cmd.text.contains("localhost:8080") || cmd.text.contains("http://hello.local");
                let is_curl = words.first().map(String::as_str) == Some("curl");
                let is_bin = cmd.text.contains(&format!("{DOC_BIN} ")) && cmd.output.is_some();
                if (is_curl && uses_server) || is_bin {
                    let key = block.marker.clone().unwrap_or_default();
                    if !servers.contains_key(&key) {
                        match marker_env(block.marker.as_deref()) {
                            Ok(env) => {
                                servers.insert(key.clone(), start_server(&env));
                            }
                            Err(e) => {
                                errors.push(format!("{at}: {e}"));
                                continue;
                            }
                        }
                    }
                    served += 1;
                    compared += usize::from(cmd.output.is_some());
                    check_against_server(&at, &cmd, servers[&key].addr, &mut errors);
                }
            }
        }
    }
    let files = check_files(name, text, doc_dir, &mut errors);
    eprintln!(
        "{name}: {helm} helm commands rendered with Helm 4 and 3, {served} commands run against {} server(s), \
         {compared} shown outputs compared, {files} file references checked",
        servers.len()
    );
    errors
}

pub fn check_zsh_quoting(at: &str, line: &str, errors: &mut Vec<String>) {
    for t in tokens(line) {
        if let Token::Word { text, glob: true } = t {
            if text.contains("://") || text.starts_with("localhost:") {
                errors.push(format!(
                    "{at}: quote `{text}`: zsh treats its unquoted ?, * or [ as a glob"
                ));
            }
        }
    }
}

pub fn check_helm(at: &str, words: &[String], cmd: &Cmd, errors: &mut Vec<String>) {
    let Some(verb) = words.get(1).map(String::as_str) else {
        return;
    };
    if !matches!(verb, "install" | "upgrade" | "template" | "lint") {
        return;
    }
    let expect_fail = cmd
        .output
        .as_ref()
        .is_some_and(|o| o.iter().any(|l| l.starts_with("Error:")));
    let dry_run = words.iter().any(|w| w == "--dry-run=client");
    for helm in ["helm", "helm3"] {
        let mut args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let helm4_as_written = helm == "helm" && verb == "install" && dry_run;
        if matches!(verb, "install" | "upgrade") && !helm4_as_written {
            args[0] = "template";
            args.retain(|a| *a != "--dry-run=client");
        }
        let out = Command::new(helm).args(&args).current_dir(repo()).output();
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                errors.push(format!(
                    "{at}: cannot run {helm} (install Helm 4 as `helm`, Helm 3 as `helm3`): {e}"
                ));
                continue;
            }
        };
        if out.status.success() == expect_fail {
            errors.push(format!(
                "{at}: `{helm} {}` {} but the guide shows it {}:\n{}",
                args.join(" "),
                if out.status.success() {
                    "succeeded"
                } else {
                    "failed"
                },
                if expect_fail { "failing" } else { "working" },
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let shown_output_is_ours =
        matches!(verb, "template" | "lint") || (verb == "install" && dry_run);
    if let (Some(expected), true) = (&cmd.output, shown_output_is_ours) {
        let (_, actual) = run_shell(&cmd.text, &[]);
        compare(at, &cmd.text, expected, &actual, errors);
    }
}

pub fn check_against_server(at: &str, cmd: &Cmd, addr: SocketAddr, errors: &mut Vec<String>) {
    let base = format!("http://{addr}");
    let script = cmd
        .text
        .replace("http://localhost:8080", &base)
        .replace("localhost:8080", &addr.to_string())
        .replace("http://hello.local", &base)
        .replace(DOC_BIN, BIN);
    let env = [("PORT".to_string(), addr.port().to_string())];
    let (_, actual) = run_shell(&script, &env);
    // Map the answer back to the names the guide uses: a URL the guide wrote as localhost
    // comes back as localhost, any other mention of the port (e.g. healthcheck's default
    // `http://127.0.0.1:PORT`) as 8080.
    let mut actual = actual;
    if cmd.text.contains("http://localhost:8080") {
        actual = actual.replace(&base, "http://localhost:8080");
    }
    let actual = actual.replace(&format!(":{}", addr.port()), ":8080");
    if let Some(expected) = &cmd.output {
        compare(at, &cmd.text, expected, &actual, errors);
    }
}

pub fn compare(
    at: &str,
    command: &str,
    expected: &[String],
    actual: &str,
    errors: &mut Vec<String>,
) {
    let expected: Vec<String> = lines_of(&expected.join("\n"));
    let actual = lines_of(actual);
    if !matches(&expected, &actual) {
        errors.push(format!(
            "{at}: `{command}` answers differently.\n--- the guide shows:\n{}\n--- it answers:\n{}",
            expected.join("\n"),
            actual.join("\n")
        ));
    }
}

/// Relative links and backticked repository paths must exist.
pub fn check_files(name: &str, text: &str, doc_dir: &Path, errors: &mut Vec<String>) -> usize {
    let mut checked = 0;
    let top_dirs: Vec<String> = std::fs::read_dir(repo())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|d| d != "target" && d != ".git")
        .collect();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", i + 1);
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        for link in line.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            let path = link.split('#').next().unwrap_or_default();
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            if !doc_dir.join(path).exists() {
                errors.push(format!("{at}: link target {path} does not exist"));
            }
        }
        for code in line.split('`').skip(1).step_by(2) {
            let path = code.trim_start_matches("./");
            let plain = !path.is_empty()
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
            let first = path.split('/').next().unwrap_or_default();
            let is_repo_path = plain
                && ((path.contains('/') && top_dirs.iter().any(|d| d == first))
                    || path.starts_with("Dockerfile")
                    || (path.starts_with("values-") && path.ends_with(".yaml"))
                    || path.starts_with("Cargo."));
            if is_repo_path && !path.starts_with("target/") {
                checked += 1;
                if !repo().join(path).exists() {
                    errors.push(format!("{at}: `{code}` is not a file of this repository"));
                }
            }
        }
    }
    checked
}
