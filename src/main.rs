//! The `hello-world` binary: install signal handlers, parse the command line, run the
//! command, exit with the code it returns. Everything else is in the library.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

use std::process::exit;

use hello_world::{cli, run, signal};

fn main() {
    // First of all, before anything can fail or take time: as PID 1 the process would ignore a
    // SIGTERM that arrives before a handler exists (`docs/drain.md` R1).
    let signals = match signal::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hello-world: cannot install signal handlers: {e}");
            exit(run::EXIT_START_FAILED);
        }
    };
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = match cli::parse(&args) {
        Ok(cmd) => run::run(cmd, signals),
        Err(e) => {
            eprintln!("hello-world: {}\n\n{}", e.0, cli::usage());
            run::EXIT_USAGE
        }
    };
    exit(code);
}
