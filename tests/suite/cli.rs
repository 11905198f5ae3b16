//! The binary's command line and start-up as an operator and the kubelet see them: every bad
//! configuration value exits 2 with exactly one JSON line naming the variable, the value and
//! what is allowed (secrets redacted); a taken port exits 3; `--version`, `--help`, unknown
//! arguments (exit 2 with usage), `sleep`, `healthcheck` and its exit codes.

use std::io::BufReader;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use testkit::child;
use testkit::logged::{
    command, free_port, http, parse_line, read_lines, run, sigterm, wait_exit, Server,
};

use crate::BIN;

// ---------------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------------

/// Each bad value: exit 2 before serving, and stdout is exactly one JSON line (CRITICAL,
/// event `config_invalid`) naming the variable, the value as given and what is allowed.
#[test]
fn bad_configuration_exits_2_with_one_json_line() {
    for (env, var, value, allowed) in [
        (&[("PORT", "abc")][..], "PORT", "abc", "0 to 65535"),
        (&[("PORT", "65536")], "PORT", "65536", "0 to 65535"),
        (
            &[("HOST", "localhost")],
            "HOST",
            "localhost",
            "IPv4 or IPv6",
        ),
        (&[("LOG_LEVEL", "verbose")], "LOG_LEVEL", "verbose", "debug"),
        (
            &[("ACCESS_LOG", "yes")],
            "ACCESS_LOG",
            "yes",
            "true or false",
        ),
        (&[("WORKERS", "0")], "WORKERS", "0", "1 to 1024"),
        (
            &[("DRAIN_TIMEOUT_SECONDS", "0")],
            "DRAIN_TIMEOUT_SECONDS",
            "0",
            "greater than 0",
        ),
        (
            &[("DRAIN_DELAY_SECONDS", "5"), ("DRAIN_TIMEOUT_SECONDS", "5")],
            "DRAIN_DELAY_SECONDS",
            "5",
            "less than DRAIN_TIMEOUT_SECONDS",
        ),
        (
            &[("PRESTOP_ENDPOINT", "1")],
            "PRESTOP_ENDPOINT",
            "1",
            "true or false",
        ),
        // A control character: refused, and escaped in the JSON line that names it.
        (
            &[("APP_ENV", "a\u{1}\"b")],
            "APP_ENV",
            "a\u{1}\"b",
            "control",
        ),
        (&[("GREETING", "")], "GREETING", "", "1 to 256"),
        // A token is never echoed, not even a rejected one.
        (
            &[("ADMIN_TOKEN", "short")],
            "ADMIN_TOKEN",
            "<redacted>",
            "at least 8",
        ),
    ] {
        // A value that were wrongly accepted must not bind the real port 8080.
        let mut all = vec![("HOST", "127.0.0.1"), ("PORT", "0")];
        all.extend_from_slice(env);
        let r = run(BIN, &[], &all);
        assert_eq!(r.code, 2, "{var}={value}: exit code; stdout {:?}", r.stdout);
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{var}: exactly one line: {:?}", r.stdout);
        assert!(r.stdout.ends_with('\n'));
        let v = parse_line(lines[0].as_bytes());
        assert_eq!(v["level"], "CRITICAL", "{var}");
        assert_eq!(v["event"], "config_invalid");
        assert_eq!(v["variable"], var);
        assert_eq!(v["value"], value, "{var}");
        let a = v["allowed"].as_str().unwrap();
        assert!(a.contains(allowed), "{var}: allowed = {a:?}");
        assert!(v["message"].as_str().unwrap().contains(var));
        assert!(!r.stdout.contains("short"), "the token is not echoed");
    }
}

/// A port that is taken is not a configuration error, nor a drain cut short: exit 3 with a
/// `bind_failed` line.
#[test]
fn a_taken_port_exits_3() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let r = run(BIN, &[], &[("HOST", "127.0.0.1"), ("PORT", &port)]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    let last = r.stdout.lines().last().expect("a log line");
    let v = parse_line(last.as_bytes());
    assert_eq!(
        (v["level"].as_str(), v["event"].as_str()),
        (Some("CRITICAL"), Some("bind_failed"))
    );
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

/// `--version`/`-V` print `hello-world 1.0.0` and exit 0; `--help` exits 0 and lists every
/// configuration variable with its default.
#[test]
fn version_and_help() {
    let r = run(BIN, &["--version"], &[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "hello-world 1.0.0\n"));
    let r = run(BIN, &["-V"], &[]);
    assert_eq!(r.code, 0);
    let r = run(BIN, &["--help"], &[]);
    assert_eq!(r.code, 0);
    for (name, default) in hello_world::internals::variables() {
        let row = r
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("--help lists {name}"));
        assert!(
            row.contains(default),
            "{name}'s default {default:?} in {row:?}"
        );
    }
    for sub in ["serve", "healthcheck", "sleep", "--version", "--help"] {
        assert!(r.stdout.contains(sub), "--help mentions {sub}");
    }
}

/// Unknown arguments are usage errors: exit 2, the reason and the usage on stderr.
#[test]
fn unknown_arguments_exit_2_with_usage() {
    for args in [
        &["--bogus"][..],
        &["serve", "extra"],
        &["sleep"],
        &["sleep", "abc"],
        &["sleep", "-1"],
        &["healthcheck", "a", "b"],
    ] {
        let r = run(BIN, args, &[]);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains("USAGE"), "{args:?}: {:?}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}");
    }
}

/// `sleep 0.2` (the distroless preStop exec) sleeps that long and exits 0.
#[test]
fn sleep_sleeps_then_exits_0() {
    let r = run(BIN, &["sleep", "0.2"], &[]);
    assert_eq!(r.code, 0);
    assert!(
        r.took >= Duration::from_millis(200) && r.took < Duration::from_secs(2),
        "{:?}",
        r.took
    );
    assert_eq!(run(BIN, &["sleep", "0"], &[]).code, 0);
}

/// `healthcheck`: 0 for a 2xx, 1 for a 503, a closed port or a silent server, 2 for a URL it
/// cannot use; without a URL it checks `/health/live` on `$PORT`.
#[test]
fn healthcheck_exit_codes() {
    let mut srv = Server::start(BIN, &[]);
    let base = format!("http://{}", srv.addr);
    let r = run(BIN, &["healthcheck", &format!("{base}/health/live")], &[]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let port = srv.addr.port().to_string();
    assert_eq!(
        run(BIN, &["healthcheck"], &[("PORT", &port)]).code,
        0,
        "default URL"
    );

    let (status, _, _) = http(srv.addr, "POST", "/admin/toggle-ready", &[]);
    assert_eq!(status, 200);
    let r = run(BIN, &["healthcheck", &format!("{base}/health/ready")], &[]);
    assert_eq!(r.code, 1, "503 is unhealthy");
    assert!(r.stderr.contains("503"), "{}", r.stderr);
    assert_eq!(
        run(BIN, &["healthcheck", &format!("{base}/nope")], &[]).code,
        1,
        "404"
    );

    let closed = format!("http://127.0.0.1:{}/health/live", free_port());
    assert_eq!(
        run(BIN, &["healthcheck", &closed], &[]).code,
        1,
        "closed port"
    );

    // Accepts (the kernel does, via the backlog) but never answers: the timeout applies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health/live", silent.local_addr().unwrap());
    let r = run(BIN, &["healthcheck", "--timeout", "0.3", &url], &[]);
    assert_eq!(r.code, 1);
    assert!(r.took < Duration::from_secs(2), "{:?}", r.took);

    let r = run(
        BIN,
        &["healthcheck", &format!("https://{}/health/live", srv.addr)],
        &[],
    );
    assert_eq!(r.code, 2, "https is not supported: {}", r.stderr);
    assert_eq!(run(BIN, &["healthcheck", "ftp://x/"], &[]).code, 2);
    assert_eq!(srv.terminate().code(), Some(0));
}

/// Without a URL, `healthcheck` asks the address the server itself listens on: with
/// `HOST=::1` that is `[::1]`, not IPv4 loopback.
#[test]
fn healthcheck_default_url_follows_host() {
    let port = free_port().to_string();
    let mut child = command(BIN, &[], &[("HOST", "::1"), ("PORT", &port)])
        .spawn()
        .unwrap();
    let lines = read_lines(BufReader::new(child.stdout.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let v = lines
            .recv_timeout(left)
            .expect("a listening line within 10 s");
        if v["event"] == "listening" {
            break;
        }
    }
    let env = [("HOST", "::1"), ("PORT", port.as_str())];
    let r = run(BIN, &["healthcheck"], &env);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("http://[::1]:"), "{}", r.stdout);
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(5)).code(),
        Some(0)
    );
}

/// A bad ADMIN_TOKEN exits 2 with one JSON line naming the variable and `<redacted>` as the value:
/// the rejected secret appears on neither stdout nor stderr.
#[test]
fn a_rejected_token_is_not_echoed_by_the_config_error() {
    for bad in ["short", "has a space in it", "tab\there-long-enough"] {
        let out = std::process::Command::new(BIN)
            .env_clear()
            .env("ADMIN_TOKEN", bad)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
        assert_eq!(v["variable"], "ADMIN_TOKEN");
        assert_eq!(v["value"], "<redacted>");
        assert!(!stdout.contains(bad) && !String::from_utf8_lossy(&out.stderr).contains(bad));
    }
}

/// R4: DRAIN_DELAY_SECONDS ≥ DRAIN_TIMEOUT_SECONDS is refused: exit 2 and one JSON line naming
/// the variable, its value and what is allowed.
#[test]
fn drain_delay_not_below_timeout_exits_2() {
    for (delay, timeout) in [("2", "2"), ("3", "2.5")] {
        let opts = child::Opts {
            env: &[
                ("DRAIN_DELAY_SECONDS", delay),
                ("DRAIN_TIMEOUT_SECONDS", timeout),
            ],
            no_wait: true,
            ..child::Opts::default()
        };
        let mut s = child::Server::start(BIN, opts);
        let (st, _) = s.wait_exit(Duration::from_secs(5));
        assert_eq!(st.code(), Some(2), "{st:?}");
        let lines = s.json_lines();
        assert_eq!(lines.len(), 1, "one line: {lines:?}");
        let v = &lines[0];
        assert_eq!(v["variable"], "DRAIN_DELAY_SECONDS");
        assert_eq!(v["value"], delay);
        assert!(v["allowed"]
            .as_str()
            .unwrap()
            .contains("DRAIN_TIMEOUT_SECONDS"));
        assert!(!lines.iter().any(|v| v["event"] == "listening"));
    }
}
