//! The process lifecycle: the [`Phase`] it is in, why the drain began ([`DrainCause`]),
//! readiness, and the drain's clock. Depends on nothing else in the crate, so metrics, the
//! request path and the server loop can all read it without importing each other.
//!
//! # Invariants
//! - The phase only moves forward — `starting → ready → draining → closing → exited` — and
//!   readiness is `phase == ready && toggle && warm` (`warm`: `READY_DELAY_SECONDS` passed). Once a drain has begun nothing (in particular
//!   `POST /admin/toggle-ready`) makes `/health/ready` answer 200 again (`docs/drain.md` R5).
//! - The phase lives twice: an `AtomicU8` the request path reads on every response (one relaxed
//!   load to decide on `Connection: close`) and a `watch` channel that wakes every connection
//!   task (HTTP/2 GOAWAY, closing idle HTTP/1 connections). [`Lifecycle::advance`] changes both
//!   in one step, under the channel's lock, so two racing calls cannot leave them disagreeing.
//!
//! # The drain clock
//! Its zero point is the **shutdown signal** (SIGTERM/SIGINT): `DRAIN_TIMEOUT_SECONDS` counts
//! from it, and so does every `elapsed_ms` in the drain log lines and
//! `app_drain_duration_seconds`. An httpGet preStop hook may begin the announce phase earlier;
//! the announce then counts from that call (see [`DrainClock`]).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

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

/// What [`Lifecycle::begin_drain`] found: when the announce phase began, its first cause, and
/// whether this call began it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainStart {
    pub at: Instant,
    pub first: DrainCause,
    pub fresh: bool,
}

/// Phase, readiness toggle and the drain's first cause.
pub struct Lifecycle {
    /// The current [`Phase`] as `u8`. `Relaxed` is enough: it guards no other memory, and a
    /// request that races a phase change may see either value (both answers are correct).
    phase: AtomicU8,
    /// Wakes connection tasks on every phase change; its lock also orders [`Self::advance`].
    phase_tx: watch::Sender<Phase>,
    /// The `/admin/toggle-ready` switch; only meaningful while the phase is `Ready`.
    toggle: AtomicBool,
    /// When and why the announce phase began (first cause wins; later ones are no-ops).
    drain_started: Mutex<Option<(Instant, DrainCause)>>,
    /// `READY_DELAY_SECONDS` has passed (true from the start without a delay).
    warm: AtomicBool,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::new(true, true)
    }
}

impl Lifecycle {
    /// `toggle`: the readiness toggle at start (`START_READY`); `warm`: false while a
    /// `READY_DELAY_SECONDS` is to pass after the listener is up.
    pub fn new(toggle: bool, warm: bool) -> Lifecycle {
        Lifecycle {
            phase: AtomicU8::new(Phase::Starting as u8),
            phase_tx: watch::Sender::new(Phase::Starting),
            toggle: AtomicBool::new(toggle),
            drain_started: Mutex::new(None),
            warm: AtomicBool::new(warm),
        }
    }

    /// The start-up delay is over: readiness follows the phase and the toggle from now on.
    pub fn warm_up(&self) {
        self.warm.store(true, Ordering::Relaxed);
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    /// A receiver that observes every later phase change.
    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase_tx.subscribe()
    }

    /// Moves to `to` if that is forward; returns whether the phase changed. The atomic is
    /// written inside the channel's critical section: the last writer of one is the last
    /// writer of the other.
    pub fn advance(&self, to: Phase) -> bool {
        self.phase_tx.send_if_modified(|current| {
            if to > *current {
                *current = to;
                self.phase.store(to as u8, Ordering::Relaxed);
                true
            } else {
                false
            }
        })
    }

    /// `/health/ready`: ready only while serving normally and not toggled off.
    pub fn is_ready(&self) -> bool {
        self.phase() == Phase::Ready
            && self.toggle.load(Ordering::Relaxed)
            && self.warm.load(Ordering::Relaxed)
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

    /// Enters the announce phase (idempotent; the first cause wins).
    pub fn begin_drain(&self, cause: DrainCause) -> DrainStart {
        let mut started = self.drain_started.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, first)) = *started {
            return DrainStart {
                at,
                first,
                fresh: false,
            };
        }
        let at = Instant::now();
        *started = Some((at, cause));
        drop(started);
        self.advance(Phase::Draining);
        DrainStart {
            at,
            first: cause,
            fresh: true,
        }
    }
}

/// The drain's two instants, from the signal and the start of the announce phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainClock {
    /// The zero point: the shutdown signal.
    pub signal_at: Instant,
    /// End of the announce phase: `DRAIN_DELAY_SECONDS` after it began (a preStop call may
    /// have begun it before the signal), never before the signal.
    pub closing_at: Instant,
    /// `DRAIN_TIMEOUT_SECONDS` after the signal: what is still open is cut.
    pub deadline: Instant,
}

impl DrainClock {
    pub fn new(
        signal_at: Instant,
        announced_at: Instant,
        delay: Duration,
        timeout: Duration,
    ) -> Self {
        DrainClock {
            signal_at,
            closing_at: signal_at.max(announced_at + delay),
            deadline: signal_at + timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_until_serving() {
        let s = Lifecycle::default();
        assert_eq!(s.phase(), Phase::Starting);
        assert!(!s.is_ready());
        assert!(s.advance(Phase::Ready));
        assert!(s.is_ready());
    }

    #[test]
    fn toggle_flips_readiness_before_the_drain() {
        let s = Lifecycle::default();
        s.advance(Phase::Ready);
        assert_eq!(s.toggle_ready(), Some(false));
        assert!(!s.is_ready());
        assert_eq!(s.toggle_ready(), Some(true));
        assert!(s.is_ready());
    }

    /// R5: once draining, readiness is 503 for good and the toggle is refused.
    #[test]
    fn readiness_is_monotonic_after_drain_starts() {
        let s = Lifecycle::default();
        s.advance(Phase::Ready);
        s.toggle_ready(); // off
        let d = s.begin_drain(DrainCause::Sigterm);
        assert!(d.fresh && d.first == DrainCause::Sigterm);
        assert_eq!(s.toggle_ready(), None);
        assert!(!s.is_ready() && s.is_shutting_down());
        assert_eq!(s.phase(), Phase::Draining);
    }

    #[test]
    fn phases_only_move_forward_and_first_cause_wins() {
        let s = Lifecycle::default();
        let mut rx = s.subscribe();
        s.advance(Phase::Ready);
        let a = s.begin_drain(DrainCause::PreStop);
        let b = s.begin_drain(DrainCause::Sigterm);
        assert_eq!((a.at, b.first, b.fresh), (b.at, DrainCause::PreStop, false));
        assert!(s.advance(Phase::Closing));
        assert!(!s.advance(Phase::Ready));
        assert!(!s.advance(Phase::Draining));
        assert_eq!(s.phase(), Phase::Closing);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), Phase::Closing);
    }

    /// START_READY=false starts with the toggle off; READY_DELAY_SECONDS holds readiness
    /// until `warm_up`, whatever the toggle says.
    #[test]
    fn start_up_holds_readiness_back() {
        let s = Lifecycle::new(false, true);
        s.advance(Phase::Ready);
        assert!(!s.is_ready());
        assert_eq!(s.toggle_ready(), Some(true));
        assert!(s.is_ready());
        let s = Lifecycle::new(true, false);
        s.advance(Phase::Ready);
        assert!(!s.is_ready());
        s.warm_up();
        assert!(s.is_ready());
    }

    /// Racing `advance` calls leave the atomic and the watch channel at the same, highest
    /// phase (they once could disagree: `draining` in the channel, `closing` in the atomic).
    #[test]
    fn racing_advances_agree() {
        for _ in 0..200 {
            let s = std::sync::Arc::new(Lifecycle::default());
            let rx = s.subscribe();
            let hs: Vec<_> = [Phase::Draining, Phase::Closing, Phase::Ready]
                .into_iter()
                .map(|p| {
                    let s = std::sync::Arc::clone(&s);
                    std::thread::spawn(move || s.advance(p))
                })
                .collect();
            hs.into_iter().for_each(|h| drop(h.join()));
            assert_eq!(s.phase(), Phase::Closing);
            assert_eq!(*rx.borrow(), Phase::Closing);
        }
    }

    /// The drain deadline counts from the signal; the announce phase from its own start (a
    /// preStop call before the signal shortens what is left of it after the signal).
    #[tokio::test(start_paused = true)]
    async fn drain_clock_with_paused_time() {
        let (delay, timeout) = (Duration::from_secs(5), Duration::from_secs(10));
        let s = Lifecycle::default();
        s.advance(Phase::Ready);
        let t0 = Instant::now();
        let announced = s.begin_drain(DrainCause::PreStop).at;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let signal_at = Instant::now();
        assert_eq!(s.begin_drain(DrainCause::Sigterm).at, announced);
        let c = DrainClock::new(signal_at, announced, delay, timeout);
        tokio::time::sleep_until(c.closing_at).await;
        assert_eq!(Instant::now() - t0, Duration::from_secs(5));
        tokio::time::sleep_until(c.deadline).await;
        assert_eq!(Instant::now() - t0, Duration::from_secs(13));
        // A signal after the announce phase already ended: closing begins at once.
        let late = DrainClock::new(
            announced + Duration::from_secs(9),
            announced,
            delay,
            timeout,
        );
        assert_eq!(late.closing_at, late.signal_at);
        // Without a preStop call the announce begins at the signal.
        let plain = DrainClock::new(signal_at, signal_at, delay, timeout);
        assert_eq!(plain.closing_at - signal_at, delay);
    }
}
