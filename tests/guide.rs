//! The tutorial guides stay true: every example in them is re-run against this repository.
//!
//! For each file in [`DOCS`] (add more there), the fenced code blocks are read:
//!
//! * **helm**: every `helm install|upgrade|template|lint` command renders (or lints) with Helm 4
//!   (`helm`) and Helm 3 (`helm3`); `install`/`upgrade` become `template`, which needs no
//!   cluster (Helm 4 runs `install --dry-run=client` as written). It must succeed, unless its
//!   shown output has an `Error:` line: then it must fail. Shown output of `template`, `lint` and
//!   `install --dry-run=client` must equal Helm 4's (the whole command line, pipes included).
//! * **curl**: in `console` blocks, every `curl` to `localhost:8080` or `http://hello.local`
//!   runs, in document order, against the binary of this test run on a free port (host
//!   rewritten); shown output must equal the answer. A `<!-- check: chart ARGS -->` line right
//!   above a block configures that binary like a pod of `helm template hello ./helm/hello-world
//!   ARGS` (its ConfigMap, plus [`POD`] for the Downward API); `<!-- check: env K=V ... -->` sets
//!   variables directly. Blocks with the same line share one server (state such as the readiness
//!   toggle carries over, as for a reader).
//! * **binary**: `$ ./target/release/hello-world ARGS` lines with shown output run with this
//!   test run's binary, `PORT` pointing at the block's server (port mapped back to 8080).
//! * **zsh**: a URL word with an unquoted `?`, `*` or `[` is an error (zsh globs it:
//!   "no matches found").
//! * **files**: relative Markdown links, and backticked paths whose first directory exists in the
//!   repository (or `Dockerfile*`, `values-*.yaml`, `Cargo.*`), must exist.
//!
//! Lines compare after normalising what changes run to run (`date:` and `x-request-id:` headers,
//! `"timestamp"` values); an output line `...` matches any number of lines.
//! Needs `helm`, `helm3`, `curl`, `bash`; `pss-check` for the `kubectl debug` profile test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The documents checked. Paths are relative to the repository root.
const DOCS: &[&str] = &["docs/ko/README.md", "docs/tutorial.md", "docs/arm64.md"];
/// The binary of this test run (debug or release, whichever the test was built with).
const BIN: &str = env!("CARGO_BIN_EXE_hello-world");
/// How the guides spell the binary.
const DOC_BIN: &str = "./target/release/hello-world";
/// Downward API values of the example pod the `chart` blocks show.
const POD: [(&str, &str); 3] = [
    ("POD_NAME", "hello-hello-world-5f7b9c8d4-abc12"),
    ("POD_NAMESPACE", "hello"),
    ("NODE_NAME", "minikube"),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------
// Markdown: fenced blocks and the commands in them
// ---------------------------------------------------------------------------------------

/// One fenced code block: its info string, the `check:` line above it, its lines.
struct Block {
    line: usize,
    lang: String,
    marker: Option<String>,
    body: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut prev = "";
    for (i, line) in text.lines().enumerate() {
        match open.as_mut() {
            Some(_) if line.trim_start().starts_with("```") => out.push(open.take().unwrap()),
            Some(b) => b.body.push(line.to_string()),
            None => {
                if let Some(lang) = line.trim_start().strip_prefix("```") {
                    let marker = prev
                        .trim()
                        .strip_prefix("<!-- check:")
                        .and_then(|m| m.strip_suffix("-->"))
                        .map(|m| m.trim().to_string());
                    open = Some(Block {
                        line: i + 1,
                        lang: lang.trim().to_string(),
                        marker,
                        body: Vec::new(),
                    });
                }
            }
        }
        prev = line;
    }
    out
}

/// A command line (continuations joined) and, in `console` blocks, the output shown under it.
struct Cmd {
    line: usize,
    text: String,
    output: Option<Vec<String>>,
}

fn commands(block: &Block) -> Vec<Cmd> {
    let console = block.lang == "console";
    let mut out: Vec<Cmd> = Vec::new();
    let mut continuing = false;
    for (i, raw) in block.body.iter().enumerate() {
        let line = block.line + 1 + i;
        if continuing {
            let cmd = out.last_mut().unwrap();
            cmd.text.push_str(raw.trim_end_matches('\\'));
            continuing = raw.ends_with('\\');
            continue;
        }
        let text = if console {
            match raw.strip_prefix("$ ") {
                Some(t) => t,
                None => {
                    if let Some(cmd) = out.last_mut() {
                        cmd.output.get_or_insert_with(Vec::new).push(raw.clone());
                    }
                    continue;
                }
            }
        } else {
            raw.as_str()
        };
        if text.trim().is_empty() || text.trim_start().starts_with('#') {
            continue;
        }
        continuing = text.ends_with('\\');
        out.push(Cmd {
            line,
            text: text.trim_end_matches('\\').to_string(),
            output: None,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// A small POSIX-shell word splitter (enough for documentation examples)
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Token {
    /// A word after quote removal; `glob` is true when `?`, `*` or `[` appeared unquoted.
    Word { text: String, glob: bool },
    /// `|`, `||`, `&`, `&&`, `;`, `>`, `<` and the like: ends a simple command.
    Op,
}

fn tokens(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let (mut word, mut glob, mut in_word) = (String::new(), false, false);
    let mut chars = line.chars().peekable();
    let flush = |out: &mut Vec<Token>, word: &mut String, glob: &mut bool, in_word: &mut bool| {
        if *in_word {
            out.push(Token::Word {
                text: std::mem::take(word),
                glob: *glob,
            });
        }
        (*glob, *in_word) = (false, false);
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => flush(&mut out, &mut word, &mut glob, &mut in_word),
            '#' if !in_word => break,
            '|' | '&' | ';' | '<' | '>' => {
                flush(&mut out, &mut word, &mut glob, &mut in_word);
                out.push(Token::Op);
            }
            '\'' => {
                in_word = true;
                word.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '$' if chars.peek() == Some(&'(') => {
                // Command substitution: kept verbatim as part of the word.
                in_word = true;
                word.push('$');
                let mut depth = 0;
                for c in chars.by_ref() {
                    word.push(c);
                    depth += (c == '(') as i32 - (c == ')') as i32;
                    if depth == 0 {
                        break;
                    }
                }
            }
            c => {
                in_word = true;
                glob |= matches!(c, '?' | '*' | '[');
                word.push(c);
            }
        }
    }
    flush(&mut out, &mut word, &mut glob, &mut in_word);
    out
}

/// The words of the first simple command of a line.
fn first_command(line: &str) -> Vec<String> {
    tokens(line)
        .into_iter()
        .map_while(|t| match t {
            Token::Word { text, .. } => Some(text),
            Token::Op => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Comparing outputs
// ---------------------------------------------------------------------------------------

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

fn lines_of(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(normalise).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Whether `actual` matches `expected`, where an expected line `...` stands for any lines.
fn matches(expected: &[String], actual: &[String]) -> bool {
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

fn run_shell(script: &str, env: &[(String, String)]) -> (bool, String) {
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

// ---------------------------------------------------------------------------------------
// Servers for the curl examples
// ---------------------------------------------------------------------------------------

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment a `check:` line asks for.
fn marker_env(marker: Option<&str>) -> Result<Vec<(String, String)>, String> {
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

fn start_server(env: &[(String, String)]) -> Server {
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
fn check_doc(name: &str, text: &str, doc_dir: &Path) -> Vec<String> {
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

fn check_zsh_quoting(at: &str, line: &str, errors: &mut Vec<String>) {
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

fn check_helm(at: &str, words: &[String], cmd: &Cmd, errors: &mut Vec<String>) {
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

fn check_against_server(at: &str, cmd: &Cmd, addr: SocketAddr, errors: &mut Vec<String>) {
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

fn compare(at: &str, command: &str, expected: &[String], actual: &str, errors: &mut Vec<String>) {
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
fn check_files(name: &str, text: &str, doc_dir: &Path, errors: &mut Vec<String>) -> usize {
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

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// Every example in every guide of [`DOCS`] answers as shown (see the module docs).
#[test]
fn the_guides_examples_are_true() {
    let mut errors = Vec::new();
    for doc in DOCS {
        let path = repo().join(doc);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
        errors.extend(check_doc(doc, &text, path.parent().unwrap()));
    }
    assert!(
        errors.is_empty(),
        "{} problem(s):\n\n{}",
        errors.len(),
        errors.join("\n\n")
    );
}

/// The checker itself fails on wrong examples: a wrong curl output, a helm command the chart
/// refuses, a failure shown for a command that works, an unquoted URL, a missing file.
#[test]
fn the_checker_rejects_wrong_examples() {
    let doc = r#"
```console
$ curl -s 'http://localhost:8080/'
{"message":"Hello Wrld","version":"1.0.0"}
$ curl -s http://localhost:8080/slow?seconds=0
{"message":"Responded after 0 seconds","requested_seconds":0,"actual_seconds":0}
$ helm lint --strict ./helm/hello-world
Error: 1 chart(s) linted, 1 chart(s) failed
```

```sh
helm upgrade hello ./helm/hello-world --set replicaCount=abc
```

See `helm/hello-world/no-such-file.yaml` and [the guide](no-such.md).
"#;
    let errors = check_doc("inline", doc, &repo().join("docs"));
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(
        has("inline:3: `curl -s 'http://localhost:8080/'` answers differently"),
        "{errors:#?}"
    );
    assert!(
        has("inline:5: quote `http://localhost:8080/slow?seconds=0`"),
        "{errors:#?}"
    );
    assert!(has("inline:7: `helm lint --strict ./helm/hello-world` succeeded but the guide shows it failing"), "{errors:#?}");
    assert!(has("inline:7: `helm3 lint"), "{errors:#?}");
    assert!(
        has("inline:7: `helm lint --strict ./helm/hello-world` answers differently"),
        "{errors:#?}"
    );
    assert!(
        has("inline:12: `helm template hello ./helm/hello-world --set replicaCount=abc` failed"),
        "{errors:#?}"
    );
    assert!(has("inline:12: `helm3 template"), "{errors:#?}");
    assert!(
        has("`helm/hello-world/no-such-file.yaml` is not a file"),
        "{errors:#?}"
    );
    assert!(has("link target no-such.md does not exist"), "{errors:#?}");
    assert_eq!(errors.len(), 9, "{errors:#?}");
}

/// The word splitter keeps quoted globs, command substitutions and operators apart.
#[test]
fn tokens_follow_shell_quoting() {
    let w = |t: &str, glob| Token::Word {
        text: t.into(),
        glob,
    };
    assert_eq!(
        tokens(r#"curl -s 'http://x/a?b=1' "$(minikube ip) x" http://y/?z | grep -A3 "a b" # c"#),
        vec![
            w("curl", false),
            w("-s", false),
            w("http://x/a?b=1", false),
            w("$(minikube ip) x", false),
            w("http://y/?z", true),
            Token::Op,
            w("grep", false),
            w("-A3", false),
            w("a b", false),
        ]
    );
    assert_eq!(
        first_command("helm template hello ./c --set a='b c' | grep x"),
        ["helm", "template", "hello", "./c", "--set", "a=b c"]
    );
}

/// `...` in an expected output stands for any number of lines, and only there.
#[test]
fn ellipsis_matches_any_lines() {
    let v = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(matches(&v(&["...", "b"]), &v(&["a", "x", "b"])));
    assert!(matches(&v(&["a", "...", "c"]), &v(&["a", "c"])));
    assert!(!matches(&v(&["a", "c"]), &v(&["a", "b", "c"])));
    assert!(!matches(&v(&["...", "b"]), &v(&["b", "c"])));
}

// ---------------------------------------------------------------------------------------
// The tutorial's commands, verbatim: what the guides promise about the repository
// ---------------------------------------------------------------------------------------

/// `Dockerfile` (for the tutorial's `docker build -t hello-world:1.0.0 .`) is the distroless
/// one, byte for byte, and both take the musl linker settings from `.cargo/config.toml`.
#[test]
fn dockerfile_is_the_distroless_one() {
    let read = |p: &str| std::fs::read(repo().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert!(
        read("Dockerfile") == read("Dockerfile.distroless"),
        "Dockerfile and Dockerfile.distroless differ: copy one onto the other"
    );
    let meta = std::fs::symlink_metadata(repo().join("Dockerfile")).unwrap();
    assert!(
        meta.file_type().is_file(),
        "Dockerfile must be a regular file (BuildKit may not follow a symlink)"
    );
    let text = String::from_utf8(read("Dockerfile")).unwrap();
    assert!(
        !text.contains("CARGO_TARGET_"),
        "the Dockerfile must not carry its own linker flags"
    );
    let config = String::from_utf8(read(".cargo/config.toml")).unwrap();
    for triple in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        let section = config
            .split(&format!("[target.{triple}]"))
            .nth(1)
            .unwrap_or_else(|| panic!("no [target.{triple}]"));
        let section = section.split("\n[").next().unwrap();
        assert!(
            section.contains("linker = \"rust-lld\""),
            "{triple}: {section}"
        );
        assert!(
            section.contains("link-self-contained=yes"),
            "{triple}: {section}"
        );
    }
    let ignore = String::from_utf8(read(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "!.cargo/config.toml"),
        ".dockerignore must let .cargo/config.toml into the build"
    );
}

/// `values-prod.yaml` without a token source: `helm lint --strict` fails exactly when
/// `helm install` does, with Helm 4 and Helm 3, naming the missing value; with a Secret named,
/// both pass.
#[test]
fn prod_values_without_a_token_fail_lint_like_install() {
    for helm in ["helm", "helm3"] {
        let run = |args: &[&str]| {
            Command::new(helm)
                .args(args)
                .current_dir(repo())
                .output()
                .unwrap()
        };
        let lint = run(&[
            "lint",
            "--strict",
            "./helm/hello-world",
            "-f",
            "values-prod.yaml",
        ]);
        let render = run(&[
            "template",
            "hello",
            "./helm/hello-world",
            "-f",
            "values-prod.yaml",
        ]);
        for (what, out) in [("lint --strict", &lint), ("template", &render)] {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !out.status.success(),
                "{helm} {what} -f values-prod.yaml must fail:\n{text}"
            );
            assert!(
                text.contains("existingSecret"),
                "{helm} {what}: the message must name existingSecret:\n{text}"
            );
        }
        let token = ["--set", "adminToken.existingSecret=hello-world-admin"];
        assert!(run(&[
            &[
                "lint",
                "--strict",
                "./helm/hello-world",
                "-f",
                "values-prod.yaml"
            ][..],
            &token
        ]
        .concat())
        .status
        .success());
        assert!(run(&[
            &[
                "template",
                "hello",
                "./helm/hello-world",
                "-f",
                "values-prod.yaml"
            ][..],
            &token
        ]
        .concat())
        .status
        .success());
    }
    let install = Command::new("helm")
        .args([
            "install",
            "hello",
            "./helm/hello-world",
            "-f",
            "values-prod.yaml",
            "--dry-run=client",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        !install.status.success(),
        "helm install -f values-prod.yaml must fail without a token"
    );
    assert!(String::from_utf8_lossy(&install.stderr).contains("existingSecret"));
}

/// NOTES.txt: how to get a registry-less image into minikube (and only for such an image),
/// and the macOS `minikube tunnel` / `127.0.0.1 hello.local` hint.
#[test]
fn notes_say_how_to_get_the_image_into_minikube() {
    let notes = |extra: &[&str]| {
        let out = Command::new("helm")
            .args(["install", "hello", "./helm/hello-world", "--dry-run=client"])
            .args(extra)
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_once("NOTES:")
            .map(|(_, n)| n.to_string())
            .expect("no NOTES")
    };
    let default = notes(&[]);
    for needle in [
        "eval $(minikube docker-env)",
        "docker build -t hello-world:1.0.0 .",
        "minikube image load hello-world:1.0.0",
        "minikube tunnel",
        "echo \"127.0.0.1 hello.local\" | sudo tee -a /etc/hosts",
    ] {
        assert!(
            default.contains(needle),
            "NOTES lack {needle:?}:\n{default}"
        );
    }
    let v2 = notes(&["--set", "image.tag=2.0.0"]);
    assert!(v2.contains("minikube image load hello-world:2.0.0"), "{v2}");
    let registry = notes(&["--set", "image.repository=ghcr.io/acme/hello-world"]);
    assert!(
        !registry.contains("minikube image load"),
        "an image from a registry needs no loading:\n{registry}"
    );
}

/// `kubectl debug --profile=P` on a chart pod, as kubectl 1.35 builds the ephemeral container
/// (pkg/cmd/debug/profiles.go): only `restricted` passes the namespace's `restricted` Pod
/// Security level, which is why the guides use it.
#[test]
fn only_the_restricted_debug_profile_passes_pod_security() {
    let rendered = Command::new("helm")
        .args([
            "template",
            "hello",
            "./helm/hello-world",
            "--show-only",
            "templates/deployment.yaml",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    let deployment: serde_norway::Value = serde_norway::from_slice(&rendered.stdout).unwrap();
    let template = &deployment["spec"]["template"];
    let restricted = serde_norway::from_str(
        "{runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}",
    )
    .unwrap();
    let profiles: [(&str, Option<serde_norway::Value>, bool); 4] = [
        ("legacy", None, false),
        ("baseline", None, false),
        (
            "general",
            Some(serde_norway::from_str("{capabilities: {add: [SYS_PTRACE]}}").unwrap()),
            false,
        ),
        ("restricted", Some(restricted), true),
    ];
    let dir = std::env::temp_dir().join(format!("guide-pss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (profile, security, passes) in profiles {
        let mut debugger = serde_norway::Mapping::new();
        debugger.insert("name".into(), "debugger-x7k2p".into());
        debugger.insert("image".into(), "busybox:1.36".into());
        debugger.insert("targetContainerName".into(), "hello-world".into());
        if let Some(s) = security {
            debugger.insert("securityContext".into(), s);
        }
        let mut spec = template["spec"].clone();
        spec.as_mapping_mut().unwrap().insert(
            "ephemeralContainers".into(),
            serde_norway::Value::Sequence(vec![debugger.into()]),
        );
        let pod = serde_norway::to_string(&serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "hello-hello-world-5f7b9c8d4-abc12", "namespace": "hello"},
            "spec": serde_json::to_value(&spec).unwrap(),
        }))
        .unwrap();
        let file = dir.join(format!("{profile}.yaml"));
        std::fs::write(&file, pod).unwrap();
        let out = Command::new("pss-check")
            .args(["--level", "restricted"])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("cannot run pss-check (the team's tooling kit): {e}"));
        let report = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.success(),
            passes,
            "--profile={profile}: expected {}:\n{report}",
            if passes { "a pass" } else { "violations" }
        );
        if !passes {
            assert!(
                report.contains("ephemeral container debugger-x7k2p"),
                "{profile}: {report}"
            );
        }
        eprintln!("--profile={profile}:\n{report}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
