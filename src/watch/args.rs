//! `hello-world watch` arguments: a pure parse of the argument list. Every error names the
//! argument it is about, and the caller exits 2 with it.

use std::path::PathBuf;
use std::time::Duration;

/// Highest `--rate`: beyond a few thousand requests a second the watcher, not the rollout,
/// becomes what is measured (docs/watch.md has its overhead at 1,000 req/s).
pub const MAX_RATE: f64 = 5000.0;
pub const MAX_CONNECTIONS: usize = 1024;
const MAX_TIMEOUT_S: f64 = 300.0;

/// Where to send the requests: `http://host[:port][/path][?query]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP literal to connect to (an IPv6 literal without brackets).
    pub host: String,
    pub port: u16,
    /// The `Host` header / `:authority`, as written in the URL.
    pub authority: String,
    pub path: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    pub target: Target,
    pub rate: f64,
    /// `None`: until SIGINT/SIGTERM.
    pub duration: Option<Duration>,
    pub timeout: Duration,
    pub connections: usize,
    pub http2: bool,
    pub output: Output,
    pub svg: Option<PathBuf>,
}

pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut url = None;
    let mut a = Args {
        target: Target {
            host: String::new(),
            port: 80,
            authority: String::new(),
            path: "/".into(),
        },
        rate: 20.0,
        duration: None,
        timeout: Duration::from_secs(2),
        connections: 4,
        http2: false,
        output: Output::Text,
        svg: None,
    };
    let mut it = args.iter().map(String::as_str);
    while let Some(arg) = it.next() {
        // `--flag=value` and `--flag value` both work.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg, None),
        };
        let mut value = |what: &str| {
            inline
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs {what}"))
        };
        match flag {
            "--rate" => {
                let v = value("REQUESTS_PER_SECOND")?;
                a.rate = number(v)
                    .filter(|r| *r > 0.0 && *r <= MAX_RATE)
                    .ok_or_else(|| {
                        format!(
                            "--rate {v:?}: requests per second, more than 0 and at most {MAX_RATE}"
                        )
                    })?;
            }
            "--duration" => {
                let v = value("a DURATION")?;
                let d = seconds(v).filter(|d| *d > 0.0).ok_or_else(|| {
                    format!("--duration {v:?}: a duration greater than 0 (seconds, or with s/m/h: 90, 1.5m, 1h)")
                })?;
                a.duration = Some(Duration::from_secs_f64(d));
            }
            "--timeout" => {
                let v = value("a DURATION")?;
                let d = seconds(v)
                    .filter(|d| *d > 0.0 && *d <= MAX_TIMEOUT_S)
                    .ok_or_else(|| {
                        format!("--timeout {v:?}: a duration greater than 0 and at most {MAX_TIMEOUT_S} s")
                    })?;
                a.timeout = Duration::from_secs_f64(d);
            }
            "--connections" => {
                let v = value("a COUNT")?;
                a.connections = v
                    .parse::<usize>()
                    .ok()
                    .filter(|c| (1..=MAX_CONNECTIONS).contains(c))
                    .ok_or_else(|| {
                        format!("--connections {v:?}: a whole number from 1 to {MAX_CONNECTIONS}")
                    })?;
            }
            "--http2" if inline.is_none() => a.http2 = true,
            "--output" => {
                let v = value("text or json")?;
                a.output = match v {
                    "text" => Output::Text,
                    "json" => Output::Json,
                    _ => return Err(format!("--output {v:?}: text or json")),
                };
            }
            "--svg" => {
                let v = value("a FILE")?;
                if v.is_empty() {
                    return Err("--svg needs a FILE".into());
                }
                a.svg = Some(PathBuf::from(v));
            }
            u if url.is_none() && !u.starts_with('-') => url = Some(u.to_owned()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let url = url.ok_or("URL missing: hello-world watch http://HOST[:PORT][/PATH]")?;
    a.target = parse_url(&url)?;
    Ok(a)
}

/// `http://host[:port][/path][?query]`; a `#fragment` is dropped (it is never sent).
pub fn parse_url(url: &str) -> Result<Target, String> {
    let bad = |why: &str| format!("URL {url:?}: {why}");
    if url.len() > 5 && url[..5].eq_ignore_ascii_case("https") {
        return Err(bad("https is not supported: watch speaks plain HTTP/1.1 or h2c (--http2); use the http:// address of the ingress or service"));
    }
    let rest = match url.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("http://") => &url[7..],
        _ => return Err(bad("must start with http://")),
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    if authority.contains('@') {
        return Err(bad("user information (user@host) is not supported"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in the host"))?;
        match after {
            "" => (h, None),
            p => (
                h,
                Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host
        .bytes()
        .any(|b| b <= b' ' || b == 0x7f || b"/\\\"<>".contains(&b))
    {
        return Err(bad("bad character in the host"));
    }
    let port = match port {
        None => 80,
        // Digits only: `u16::from_str` would also take "+80".
        Some(p) => p
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse::<u16>().ok())
            .flatten()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(&format!("bad port {p:?} (1-65535)")))?,
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("spaces or control characters in the path"));
    }
    // What the engine will build from these must be a valid URI (h2 sends it absolute).
    if format!("http://{authority}{path}")
        .parse::<hyper::Uri>()
        .is_err()
        || path.parse::<hyper::Uri>().is_err()
    {
        return Err(bad("not a valid URI"));
    }
    Ok(Target {
        host: host.to_owned(),
        port,
        authority: authority.to_owned(),
        path,
    })
}

/// A plain decimal number (no sign, exponent, `inf` or `nan`).
fn number(s: &str) -> Option<f64> {
    let plain = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|&b| b == b'.').count() <= 1
        && s.bytes().any(|b| b.is_ascii_digit());
    plain.then(|| s.parse().ok()).flatten()
}

/// Seconds, with an optional `s`, `m` or `h` suffix. A negative value is not a number here.
fn seconds(s: &str) -> Option<f64> {
    let (num, unit) = match s.as_bytes().last()? {
        b's' => (&s[..s.len() - 1], 1.0),
        b'm' => (&s[..s.len() - 1], 60.0),
        b'h' => (&s[..s.len() - 1], 3600.0),
        _ => (s, 1.0),
    };
    number(num).map(|v| v * unit).filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// The defaults of the issue: 20 req/s, 2 s timeout, until a signal, text, HTTP/1.1.
    #[test]
    fn defaults() {
        let a = p(&["http://hello.local/"]).unwrap();
        assert_eq!(a.rate, 20.0);
        assert_eq!(a.timeout, Duration::from_secs(2));
        assert_eq!(a.duration, None);
        assert_eq!(a.connections, 4);
        assert!(!a.http2);
        assert_eq!(a.output, Output::Text);
        assert_eq!(a.svg, None);
        assert_eq!(
            a.target,
            Target {
                host: "hello.local".into(),
                port: 80,
                authority: "hello.local".into(),
                path: "/".into()
            }
        );
    }

    #[test]
    fn every_flag() {
        let a = p(&[
            "--rate",
            "50",
            "http://127.0.0.1:8080/x?y=1",
            "--duration=1.5m",
            "--timeout",
            "500ms",
        ]);
        assert!(a.unwrap_err().contains("--timeout"), "ms is not a unit");
        let a = p(&[
            "--rate",
            "50",
            "http://127.0.0.1:8080/x?y=1",
            "--duration=1.5m",
            "--timeout",
            "0.5",
            "--connections",
            "8",
            "--http2",
            "--output",
            "json",
            "--svg",
            "run.svg",
        ])
        .unwrap();
        assert_eq!(a.rate, 50.0);
        assert_eq!(a.duration, Some(Duration::from_secs(90)));
        assert_eq!(a.timeout, Duration::from_millis(500));
        assert_eq!(a.connections, 8);
        assert!(a.http2);
        assert_eq!(a.output, Output::Json);
        assert_eq!(a.svg, Some(PathBuf::from("run.svg")));
        assert_eq!(a.target.port, 8080);
        assert_eq!(a.target.path, "/x?y=1");
    }

    #[test]
    fn urls() {
        let t = parse_url("http://[::1]:9000").unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.authority.as_str(),
                t.path.as_str()
            ),
            ("::1", 9000, "[::1]:9000", "/")
        );
        assert_eq!(parse_url("HTTP://a?q#frag").unwrap().path, "/?q");
        assert_eq!(parse_url("http://a/p#frag").unwrap().path, "/p");
        assert_eq!(parse_url("http://[::1]/").unwrap().port, 80);
    }

    /// Each error names the argument it is about.
    #[test]
    fn errors_name_the_argument() {
        let cases: &[(&[&str], &str)] = &[
            (&["https://hello.local/"], "https"),
            (&["ftp://x/"], "http://"),
            (&["http:///path"], "no host"),
            (&["http://:80/"], "no host"),
            (&["http://h:0/"], "port"),
            (&["http://h:65536/"], "port"),
            (&["http://h:+80/"], "port"),
            (&["http://h:x/"], "port"),
            (&["http://[::1/"], "["),
            (&["http://u@h/"], "user"),
            (&["http://h/a b"], "path"),
            (&["http://h/", "--rate", "0"], "--rate"),
            (&["http://h/", "--rate", "5001"], "--rate"),
            (&["http://h/", "--rate", "-5"], "--rate"),
            (&["http://h/", "--rate", "nan"], "--rate"),
            (&["http://h/", "--rate"], "--rate"),
            (&["http://h/", "--duration", "-1"], "--duration"),
            (&["http://h/", "--duration", "0"], "--duration"),
            (&["http://h/", "--timeout", "0"], "--timeout"),
            (&["http://h/", "--timeout", "301"], "--timeout"),
            (&["http://h/", "--connections", "0"], "--connections"),
            (&["http://h/", "--connections", "1025"], "--connections"),
            (&["http://h/", "--output", "xml"], "--output"),
            (&["http://h/", "--svg", ""], "--svg"),
            (&["http://h/", "--http2=yes"], "--http2"),
            (&["http://h/", "--bogus"], "--bogus"),
            (&["http://h/", "http://other/"], "http://other/"),
            (&[], "URL"),
        ];
        for (args, needle) in cases {
            let e = p(args).expect_err(&format!("{args:?}"));
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }
}
