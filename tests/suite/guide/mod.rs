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
//! Needs `helm`, `helm3`, `curl`, `bash`; the `kubectl debug` profile test uses the suite's own Pod Security check (`manifests::pss`).

mod check;
mod compare;
mod markdown;
mod promises;
mod shell;

use std::path::Path;

use check::check_doc;

/// The documents checked. Paths are relative to the repository root.
const DOCS: &[&str] = &[
    "README.md",
    "docs/ko/README.md",
    "docs/tutorial.md",
    "docs/arm64.md",
    "docs/experiments.md",
];
/// The binary of this test run (debug or release, whichever the test was built with).
const BIN: &str = crate::BIN;
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
