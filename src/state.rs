//! Shared application state: the drain phase and readiness, kept in atomics.
//!
//! # Invariant
//! The phase only moves forward — `starting → ready → draining → closing → exited` — and
//! readiness is `phase == ready && toggle`. So once a drain has begun, nothing (in particular
//! `POST /admin/toggle-ready`) can make `/health/ready` answer 200 again (drain.md R5).
//!
//! The phase lives twice: in an `AtomicU8` that the request path reads on every response (one
//! relaxed load to decide on `Connection: close`), and in a `watch` channel that wakes every
//! connection task when it changes (to send HTTP/2 GOAWAY or close idle HTTP/1 connections).
//! [`AppState::advance`] is the only writer of both.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::Metrics;

/// Where the process is in its life. Ordered: later phases compare greater.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Configured, not yet accepting connections. Readiness 503.
    Starting = 0,
    /// Accepting and serving. Readiness follows the admin toggle.
    Ready = 1,
    /// Drain announce (`DRAIN_DELAY_SECONDS`): still accepting and serving, readiness 503 for
    /// good, HTTP/1 responses carry `Connection: close`, HTTP/2 connections got GOAWAY.
    Draining = 2,
    /// Listener closed; idle connections closed; in-flight requests finishing.
    Closing = 3,
    /// Every connection is gone (drained or cut at the deadline).
    Exited = 4,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Starting,
        Phase::Ready,
        Phase::Draining,
        Phase::Closing,
        Phase::Exited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
            Phase::Closing => "closing",
            Phase::Exited => "exited",
        }
    }

    fn from_u8(v: u8) -> Phase {
        Phase::ALL[usize::from(v).min(4)]
    }
}

/// Why the drain began: a signal, or the kubelet's httpGet preStop hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainCause {
    Sigterm,
    Sigint,
    PreStop,
}

impl DrainCause {
    pub fn as_str(self) -> &'static str {
        match self {
            DrainCause::Sigterm => "SIGTERM",
            DrainCause::Sigint => "SIGINT",
            DrainCause::PreStop => "prestop",
        }
    }
}

/// Everything the request path and the server loop share. Cheap to clone through an `Arc`.
pub struct AppState {
    pub config: Config,
    pub metrics: Metrics,
    /// The current [`Phase`] as `u8`. `Relaxed` is enough: it guards no other memory, and a
    /// request that races a phase change may see either value (both answers are correct).
    phase: AtomicU8,
    /// Wakes connection tasks on every phase change.
    phase_tx: watch::Sender<Phase>,
    /// The `/admin/toggle-ready` switch; only meaningful while the phase is `Ready`.
    toggle: AtomicBool,
    /// When and why the announce phase began (first cause wins; later ones are no-ops).
    drain_started: Mutex<Option<(Instant, DrainCause)>>,
}

impl AppState {
    pub fn new(config: Config) -> Arc<AppState> {
        let metrics = Metrics::new(&config.app_version);
        Arc::new(AppState {
            config,
            metrics,
            phase: AtomicU8::new(Phase::Starting as u8),
            phase_tx: watch::Sender::new(Phase::Starting),
            toggle: AtomicBool::new(true),
            drain_started: Mutex::new(None),
        })
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    /// A receiver that observes every later phase change.
    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase_tx.subscribe()
    }

    /// Moves to `to` if that is forward; returns whether the phase changed.
    pub fn advance(&self, to: Phase) -> bool {
        let prev = self.phase.fetch_max(to as u8, Ordering::Relaxed);
        if prev < to as u8 {
            self.phase_tx.send_replace(to);
            true
        } else {
            false
        }
    }

    /// `/health/ready`: ready only while serving normally and not toggled off.
    pub fn is_ready(&self) -> bool {
        self.phase() == Phase::Ready && self.toggle.load(Ordering::Relaxed)
    }

    /// True from the first drain cause on.
    pub fn is_shutting_down(&self) -> bool {
        self.phase() >= Phase::Draining
    }

    /// Flips the admin toggle. `None` while draining: readiness stays off for good (R5).
    pub fn toggle_ready(&self) -> Option<bool> {
        if self.is_shutting_down() {
            return None;
        }
        // fetch_xor returns the old value; the new one is its negation.
        Some(!self.toggle.fetch_xor(true, Ordering::Relaxed))
    }

    /// Enters the announce phase (idempotent). Returns when the drain started and whether this
    /// call started it.
    pub fn begin_drain(&self, cause: DrainCause) -> (Instant, DrainCause, bool) {
        let mut started = self.drain_started.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, first)) = *started {
            return (at, first, false);
        }
        let now = Instant::now();
        *started = Some((now, cause));
        drop(started);
        self.advance(Phase::Draining);
        (now, cause, true)
    }

    /// When the announce phase began, if it has.
    pub fn drain_started(&self) -> Option<(Instant, DrainCause)> {
        *self.drain_started.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Arc<AppState> {
        AppState::new(Config::default())
    }

    #[test]
    fn not_ready_until_serving() {
        let s = state();
        assert_eq!(s.phase(), Phase::Starting);
        assert!(!s.is_ready());
        assert!(s.advance(Phase::Ready));
        assert!(s.is_ready());
    }

    #[test]
    fn toggle_flips_readiness_before_the_drain() {
        let s = state();
        s.advance(Phase::Ready);
        assert_eq!(s.toggle_ready(), Some(false));
        assert!(!s.is_ready());
        assert_eq!(s.toggle_ready(), Some(true));
        assert!(s.is_ready());
    }

    /// R5: once draining, readiness is 503 for good and the toggle is refused.
    #[test]
    fn readiness_is_monotonic_after_drain_starts() {
        let s = state();
        s.advance(Phase::Ready);
        s.toggle_ready(); // off
        let (_, cause, first) = s.begin_drain(DrainCause::Sigterm);
        assert!(first && cause == DrainCause::Sigterm);
        assert_eq!(s.toggle_ready(), None);
        assert!(!s.is_ready() && s.is_shutting_down());
        assert_eq!(s.phase(), Phase::Draining);
    }

    #[test]
    fn phases_only_move_forward_and_first_cause_wins() {
        let s = state();
        let mut rx = s.subscribe();
        s.advance(Phase::Ready);
        let (t0, _, _) = s.begin_drain(DrainCause::PreStop);
        let (t1, cause, first) = s.begin_drain(DrainCause::Sigterm);
        assert_eq!((t0, cause, first), (t1, DrainCause::PreStop, false));
        assert!(s.advance(Phase::Closing));
        assert!(!s.advance(Phase::Ready));
        assert!(!s.advance(Phase::Draining));
        assert_eq!(s.phase(), Phase::Closing);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), Phase::Closing);
    }
}
