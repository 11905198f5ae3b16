//! What each [`Command`] does, as a function returning the process exit code.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cli::Command;
use crate::config::Config;
use crate::http::AppState;
use crate::log::{self, Level, Value};
use crate::{cli, healthcheck, log_at, serve, signal};

/// Bad configuration or usage.
pub const EXIT_USAGE: i32 = 2;
/// The server could not start (the port is taken, say). Distinct from 1, which means the drain
/// deadline cut connections, so an orchestrator's exit code tells the two apart.
pub const EXIT_START_FAILED: i32 = 3;

/// Runs `cmd`; `signals` were installed first thing (see [`signal::install`]).
pub fn run(cmd: Command, signals: signal::Installed) -> i32 {
    match cmd {
        Command::Help => {
            print!("{}", cli::usage());
            0
        }
        Command::Version => {
            println!("hello-world {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Sleep(d) => sleep(d, &signals),
        Command::Healthcheck { url, timeout } => run_healthcheck(url, timeout),
        Command::Serve => run_server(signals),
    }
}

/// `hello-world sleep SECONDS`. Signal handlers are installed for every subcommand (they must
/// come first), which removes the default "terminate" action: so look for a signal while
/// sleeping and exit 128 + signal like a plain `sleep` would.
fn sleep(d: Duration, signals: &signal::Installed) -> i32 {
    let end = std::time::Instant::now() + d;
    loop {
        if let Some(code) = signals.received() {
            return code;
        }
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return 0;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

fn run_healthcheck(url: Option<String>, timeout: Duration) -> i32 {
    let url = match url {
        Some(u) => u,
        None => match Config::from_env() {
            Ok(c) => healthcheck::own_url(c.host, c.port),
            Err(e) => {
                eprintln!("hello-world healthcheck: {e}");
                return EXIT_USAGE;
            }
        },
    };
    if let Err(e) = healthcheck::parse_url(&url) {
        eprintln!("hello-world healthcheck: {e}");
        return EXIT_USAGE;
    }
    match healthcheck::check(&url, timeout) {
        Ok(code) if (200..300).contains(&code) => {
            println!("healthy: {url} answered {code}");
            0
        }
        Ok(code) => {
            eprintln!("unhealthy: {url} answered {code}");
            1
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            1
        }
    }
}

fn run_server(signals: signal::Installed) -> i32 {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            // The logger is not running yet (its level is part of what failed to parse): write
            // the one line directly.
            let mut line = String::new();
            log::write_record(
                &mut line,
                std::time::SystemTime::now(),
                Level::Critical,
                "config",
                &e.pod,
                &e.to_string(),
                &[
                    ("event", Value::Str("config_invalid")),
                    ("variable", Value::Str(e.variable)),
                    ("value", Value::Str(&e.value)),
                    ("allowed", Value::Str(&e.allowed)),
                ],
            );
            print!("{line}");
            return EXIT_USAGE;
        }
    };
    log::init(config.log_level, &config.pod_name);
    warn_unprotected_admin(&config);
    std::panic::set_hook(Box::new(|info| {
        log::log(
            Level::Error,
            "panic",
            &info.to_string(),
            &[("event", Value::Str("panic"))],
        );
    }));

    // A pod limited to 250m must not start a thread per host core: available_parallelism
    // honours cgroup CPU quotas. One CPU gets the current-thread runtime.
    let workers = config.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let (mut builder, flavour) = if workers == 1 {
        (
            tokio::runtime::Builder::new_current_thread(),
            "current_thread",
        )
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        (b, "multi_thread")
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            log_at!(
                Level::Critical,
                "server",
                format!("cannot start the runtime: {e}")
            );
            log::flush(Duration::from_secs(1));
            return EXIT_START_FAILED;
        }
    };
    let code = runtime.block_on(async {
        let addr = SocketAddr::new(config.host, config.port);
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                log_at!(Level::Critical, "server", format!("cannot listen on {addr}: {e}"),
                    "event" => "bind_failed", "addr" => addr.to_string().as_str());
                return EXIT_START_FAILED;
            }
        };
        log_at!(Level::Info, "app",
            format!("Application started: env={}, version={}, pod={}", config.app_env, config.app_version, config.pod_name),
            "event" => "started", "workers" => workers, "runtime" => flavour);
        let state = AppState::new(config.clone());
        serve(listener, state, signals.wait()).await.exit_code()
    });
    // Bounded: a blocked stdout must not keep the process past its drain deadline (R3).
    log::flush(Duration::from_millis(500));
    // Do not wait for the runtime's blocking pool; exit() below ends everything (R3).
    runtime.shutdown_background();
    code
}

/// With `APP_ENV=production` and no `ADMIN_TOKEN`, anyone who reaches the port can flip the
/// readiness (and, if enabled, start a drain): say so loudly, once, at start-up.
fn warn_unprotected_admin(config: &Config) {
    if config.admin_token.is_none() && config.app_env.eq_ignore_ascii_case("production") {
        let routes = crate::http::routes::admin_paths(config).join(", ");
        log_at!(Level::Warning, "config",
            format!("APP_ENV=production without ADMIN_TOKEN: {routes} answer anyone who can reach the port"),
            "event" => "admin_unprotected", "routes" => routes.as_str());
    }
}
