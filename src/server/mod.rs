//! The server: the phase loops of [`serve`] and how the drain ended ([`Outcome`]); the
//! acceptor (connection cap, accept errors); one connection's protocol and drive; its I/O
//! (JSON rejections, lingering close) and the send timeout.
//!
//! [`serve`] is a function of a bound listener, the shared state and a shutdown future; the
//! binary passes the signal future, tests pass their own trigger. Its life, named as in
//! [`Phase`]:
//!
//! ```text
//! ready     accept and serve until the shutdown future resolves (SIGTERM/SIGINT)
//! draining  announce, DRAIN_DELAY_SECONDS long: keep accepting and serving; readiness 503;
//!           HTTP/1 answers carry `Connection: close`; HTTP/2 connections get GOAWAY
//!           (may begin earlier, at GET /internal/prestop)
//! closing   listener dropped (new connects are refused); idle and silent connections close
//!           at once; in-flight requests finish, with `Connection: close`
//! exited    all connections gone → `drained`, exit 0; or the deadline (DRAIN_TIMEOUT_SECONDS
//!           after the signal) passed → remaining connections aborted → `deadline_forced`, exit 1
//! ```
//!
//! Connections are tracked in a `JoinSet` so the deadline can abort them; each connection task
//! watches the phase and asks hyper for its graceful shutdown at the right moment (`conn`).

mod acceptor;
mod conn;
mod head_timeout;
mod io;
mod phase_gate;
mod send_timeout;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use crate::http::state::ms;
use crate::http::{App, AppState, Handler};
use crate::lifecycle::{DrainCause, DrainClock, Phase};
use crate::log::Level;
use crate::log_at;
use acceptor::Acceptor;
use conn::Protocols;
pub(crate) use head_timeout::HeadDeadline;

/// How the drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Connections still open at the deadline, aborted.
    pub forced: usize,
    /// From the shutdown signal (the drain clock's zero point) to the end.
    pub elapsed: Duration,
}

impl Outcome {
    /// 0 when everything finished in time, 1 when the deadline cut connections (R3).
    pub fn exit_code(&self) -> i32 {
        if self.forced == 0 {
            0
        } else {
            1
        }
    }
}

/// Serves the application on `listener` until `shutdown` resolves, then drains.
pub async fn serve<F>(listener: TcpListener, state: Arc<AppState>, shutdown: F) -> Outcome
where
    F: std::future::Future<Output = DrainCause>,
{
    serve_with(listener, App::new(state), shutdown).await
}

/// [`serve`] with any [`Handler`]: the seam for tests that inject misbehaving handlers.
pub async fn serve_with<H, F>(listener: TcpListener, handler: H, shutdown: F) -> Outcome
where
    H: Handler,
    F: std::future::Future<Output = DrainCause>,
{
    let state = Arc::clone(handler.state());
    let protocols = Arc::new(Protocols::new(&state.config.limits));
    let mut conns: JoinSet<()> = JoinSet::new();
    let mut accept = Acceptor::default();
    tokio::pin!(shutdown);

    state.advance(Phase::Ready);
    let delay = state.config.lab.ready_delay;
    if !delay.is_zero() {
        // READY_DELAY_SECONDS counts from the listener being up.
        let s = Arc::clone(&state);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            s.warm_up();
        });
    }
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    log_at!(Level::Info, "server", format!("Listening on http://{addr}"),
        "event" => "listening", "addr" => &addr, "phase" => Phase::Ready.as_str());

    // ready: serve until the first signal.
    let cause = loop {
        tokio::select! {
            biased;
            cause = &mut shutdown => break cause,
            Some(done) = conns.join_next(), if !conns.is_empty() => reap(done),
            () = accept.resumed(), if accept.paused() => {}
            res = listener.accept(), if !accept.paused() => {
                accept.handle(res, &handler, &protocols, &mut conns);
            }
        }
    };

    // draining: the announce phase. Keep accepting until it has lasted DRAIN_DELAY_SECONDS.
    let signal_at = Instant::now();
    let announced_at = state.begin_drain(cause);
    let c = &state.config;
    let clock = DrainClock::new(signal_at, announced_at, c.drain_delay, c.drain_timeout);
    loop {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(clock.closing_at) => break,
            Some(done) = conns.join_next(), if !conns.is_empty() => reap(done),
            () = accept.resumed(), if accept.paused() => {}
            res = listener.accept(), if !accept.paused() => {
                accept.handle(res, &handler, &protocols, &mut conns);
            }
        }
    }

    // closing: refuse new connections; every connection task is told to shut down gracefully.
    drop(listener);
    state.advance(Phase::Closing);
    log_at!(Level::Info, "server", "Listener closed; finishing in-flight requests",
        "event" => "listener_closed", "phase" => Phase::Closing.as_str(),
        "elapsed_ms" => ms(signal_at.elapsed()), "connections_open" => conns.len(),
        "in_flight" => state.metrics.in_flight());
    let drained = loop {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(clock.deadline) => break false,
            done = conns.join_next() => match done {
                Some(done) => reap(done),
                None => break true,
            },
        }
    };

    // exited: cut what is left at the deadline.
    let forced = conns.len();
    if !drained {
        conns.abort_all();
        // Aborted tasks end at their next poll; bounded anyway so nothing can hold the exit.
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            while conns.join_next().await.is_some() {}
        })
        .await;
    }
    let elapsed = signal_at.elapsed();
    state.metrics.drain_finished(forced, elapsed);
    state.advance(Phase::Exited);
    let served = state.metrics.drain_requests();
    if forced == 0 {
        log_at!(Level::Info, "server", "Shutdown complete: every connection drained",
            "event" => "drained", "phase" => Phase::Exited.as_str(),
            "elapsed_ms" => ms(elapsed), "requests_while_draining" => served, "forced" => 0u64);
    } else {
        log_at!(Level::Warning, "server",
            format!("Drain deadline reached: cut {forced} open connection(s)"),
            "event" => "deadline_forced", "phase" => Phase::Exited.as_str(),
            "elapsed_ms" => ms(elapsed), "requests_while_draining" => served, "forced" => forced);
    }
    Outcome { forced, elapsed }
}

fn reap(done: Result<(), JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            log_at!(Level::Error, "server", "connection task panicked", "event" => "connection_panic");
        }
    }
}
