//! The tutorial's commands, verbatim: what the guides promise about the repository itself.

use std::process::Command;

use super::repo;

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
