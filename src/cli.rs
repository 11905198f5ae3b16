//! Command line: `serve` (the default), `healthcheck`, `sleep`, `--version`, `--help`.
//! Parsing is a pure function of the argument list; the `run` module acts on the result.

use std::time::Duration;

use crate::config::{self, rules};

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Serve,
    /// GET `url` (default: this server's `/health/live`); exit 0 on 2xx.
    Healthcheck {
        url: Option<String>,
        timeout: Duration,
    },
    /// Sleep, then exit 0: a preStop `exec` that works in distroless (no `/bin/sh`, no `sleep`).
    Sleep(Duration),
    Version,
    Help,
}

/// A usage error: the message, printed with the usage text, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let mut it = args.iter().map(String::as_str);
    let cmd = match it.next() {
        None | Some("serve") => Command::Serve,
        Some("-h" | "--help" | "help") => Command::Help,
        Some("-V" | "--version" | "version") => Command::Version,
        Some("sleep") => {
            let secs = it
                .next()
                .ok_or_else(|| UsageError("sleep needs SECONDS".into()))?;
            Command::Sleep(parse_seconds(secs)?)
        }
        Some("healthcheck") => {
            let mut url = None;
            let mut timeout = Duration::from_secs(2);
            while let Some(a) = it.next() {
                match a {
                    "--timeout" => {
                        let v = it
                            .next()
                            .ok_or_else(|| UsageError("--timeout needs SECONDS".into()))?;
                        timeout = parse_seconds(v)?;
                        if timeout.is_zero() {
                            return Err(UsageError("--timeout must be greater than 0".into()));
                        }
                    }
                    u if url.is_none() && !u.starts_with('-') => url = Some(u.to_owned()),
                    other => return Err(UsageError(format!("unexpected argument {other:?}"))),
                }
            }
            Command::Healthcheck { url, timeout }
        }
        Some(other) => return Err(UsageError(format!("unknown command or option {other:?}"))),
    };
    if let Some(extra) = it.next() {
        return Err(UsageError(format!("unexpected argument {extra:?}")));
    }
    Ok(cmd)
}

/// Decimal seconds, 0 to 3600 (the rule of every seconds variable).
fn parse_seconds(s: &str) -> Result<Duration, UsageError> {
    rules::decimal_seconds(s, rules::MAX_SECONDS)
        .ok_or_else(|| UsageError(format!("{s:?} is not a number of seconds from 0 to 3600")))
}

pub fn usage() -> String {
    let mut s = format!(
        "hello-world {} — the reference hello-world service for Kubernetes\n\n\
         USAGE:\n\
         \x20   hello-world [serve]                        serve HTTP (the default)\n\
         \x20   hello-world healthcheck [--timeout S] [URL]\n\
         \x20                                              GET URL (default: this server's /health/live, from HOST and PORT);\n\
         \x20                                              exit 0 on 2xx, 1 otherwise; timeout 2 s\n\
         \x20   hello-world sleep SECONDS                  sleep, exit 0 (a preStop exec for distroless)\n\
         \x20   hello-world --version | --help\n\n\
         ENVIRONMENT (name, default, meaning):\n",
        env!("CARGO_PKG_VERSION")
    );
    s.push_str(&config::help_rows());
    s.push_str(
        "\nEXIT CODES:\n    0 drained in time   1 drain deadline cut connections (or a failed healthcheck)\n    \
         2 bad configuration or usage   3 could not start (e.g. the port is taken)\n    \
         130/143 second SIGINT/SIGTERM during the drain\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, UsageError> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn commands() {
        assert_eq!(p(&[]), Ok(Command::Serve));
        assert_eq!(p(&["serve"]), Ok(Command::Serve));
        assert_eq!(p(&["--version"]), Ok(Command::Version));
        assert_eq!(p(&["-h"]), Ok(Command::Help));
        assert_eq!(
            p(&["sleep", "1.5"]),
            Ok(Command::Sleep(Duration::from_millis(1500)))
        );
        assert_eq!(
            p(&["healthcheck"]),
            Ok(Command::Healthcheck {
                url: None,
                timeout: Duration::from_secs(2)
            })
        );
        assert_eq!(
            p(&["healthcheck", "--timeout", "5", "http://x:1/y"]),
            Ok(Command::Healthcheck {
                url: Some("http://x:1/y".into()),
                timeout: Duration::from_secs(5)
            })
        );
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["--bogus"][..],
            &["serve", "x"],
            &["sleep"],
            &["sleep", "-1"],
            &["sleep", "abc"],
            &["healthcheck", "a", "b"],
            &["healthcheck", "--timeout"],
            &["healthcheck", "--timeout", "0"],
            &["--version", "x"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    /// `--help` lists every variable with its default, from the same table.
    #[test]
    fn help_lists_every_variable_with_its_default() {
        let help = usage();
        for v in crate::config::vars::VARIABLES {
            let row = help
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{} ", v.name)))
                .unwrap_or_else(|| panic!("--help lists {}", v.name));
            let mut cols = row.split_whitespace();
            assert_eq!(cols.next(), Some(v.name));
            let rest = row.trim_start()[v.name.len()..].trim_start();
            assert!(rest.starts_with(v.default_text()), "{}: {row:?}", v.name);
        }
    }
}
