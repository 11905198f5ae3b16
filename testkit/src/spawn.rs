//! The one way the suite, the benches and the fuzz helpers start `hello-world serve`: a
//! [`Spawn`] builder (environment, arguments, a wrapper such as `unshare` or `prlimit`, how
//! stdout is read, an early signal) that yields a running [`Server`].
//!
//! A server starts from a cleared environment plus `HOST=127.0.0.1 PORT=0`, so it binds an
//! ephemeral loopback port and no variable of the test's own environment leaks in. Every wait
//! is bounded: a hang fails the test with what was logged.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::capture::{self, AfterListening, Stdout};
use crate::procfs;
use crate::server::{send, Server};

/// How to start the binary; [`Spawn::start`] runs it.
#[must_use]
pub struct Spawn {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    after_listening: AfterListening,
    early_signal: Option<(String, Duration)>,
    wait: bool,
    keep: usize,
}

impl Spawn {
    /// `bin` with a cleared environment plus `HOST=127.0.0.1 PORT=0`.
    pub fn new(bin: &str) -> Spawn {
        Spawn {
            argv: vec![bin.to_owned()],
            env: Vec::new(),
            after_listening: AfterListening::Read,
            early_signal: None,
            wait: true,
            keep: usize::MAX,
        }
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
    }

    /// Sets a variable (a later value for the same name wins).
    pub fn env(mut self, name: &str, value: &str) -> Spawn {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn envs(self, vars: &[(&str, &str)]) -> Spawn {
        vars.iter().fold(self, |s, (n, v)| s.env(n, v))
    }

    pub fn args(mut self, args: &[&str]) -> Spawn {
        self.argv.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Runs the binary behind `wrapper` (e.g. `unshare --pid --fork`), which execs it.
    pub fn wrapper(mut self, wrapper: &[&str]) -> Spawn {
        let tail = std::mem::take(&mut self.argv);
        self.argv = wrapper
            .iter()
            .map(|a| (*a).to_owned())
            .chain(tail)
            .collect();
        self
    }

    /// Stop reading stdout after `listening` until [`Server::resume_stdout`] (a full pipe).
    pub fn pause_stdout(mut self) -> Spawn {
        self.after_listening = AfterListening::Pause;
        self
    }

    /// Close the read end of stdout after `listening` (a log collector that went away).
    pub fn close_stdout(mut self) -> Spawn {
        self.after_listening = AfterListening::Close;
        self
    }

    /// Sends `sig` once the child has run `after` (see [`procfs::wait_run_time`]), before it
    /// could listen; implies [`Spawn::no_wait`].
    pub fn early_signal(mut self, sig: &str, after: Duration) -> Spawn {
        self.early_signal = Some((sig.to_owned(), after));
        self.no_wait()
    }

    /// Do not wait for `listening` (a start expected to fail, a server that does not log it).
    pub fn no_wait(mut self) -> Spawn {
        self.wait = false;
        self
    }

    /// Keep only about the last `n` stdout lines in memory (each is still checked and counted).
    pub fn keep_lines(mut self, n: usize) -> Spawn {
        self.keep = n;
        self
    }

    /// Spawns the process and (unless told not to) waits for `listening`.
    pub fn start(self) -> Server {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .env_clear()
            .envs(self.env.iter().cloned());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {:?} (is it installed?): {e}", self.argv));
        let spawned_at = Instant::now();
        let early_cpu = self.early_signal.as_ref().map(|(sig, after)| {
            let cpu = procfs::wait_run_time(child.id(), spawned_at, *after);
            send(child.id(), sig);
            cpu
        });
        let stdout = Stdout::default();
        let resume = stdout.read(
            child.stdout.take().unwrap(),
            self.after_listening,
            self.keep,
        );
        let stderr = capture::collect(child.stderr.take().unwrap());
        let mut s = Server {
            child,
            stdout,
            addr: None,
            spawned_at,
            early_cpu,
            resume: Some(resume),
            exit: None,
            stderr,
        };
        if self.wait {
            s.wait_listening();
        }
        s
    }
}

/// `Spawn::new(bin).envs(env).start()`: the common case.
pub fn start(bin: &str, env: &[(&str, &str)]) -> Server {
    Spawn::new(bin).envs(env).start()
}
