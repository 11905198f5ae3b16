//! The experiments of the tutorial's Part 3 ("make it production-like"), as state the routes
//! read and change: liveness, the fault switch, random faults, CPU and memory stress, the
//! crash, and the start-up variables.
//!
//! # The hot path
//! Application routes ask [`Lab::fault`] on every request. With no fault configured or
//! switched on, that is one relaxed load of [`Lab::faults`] and a compare — the PRNG and the
//! settings are only touched when some fault is active. Probes, `/metrics`, `/admin/*` and
//! the docs never ask, so they keep answering whatever is injected.
//!
//! # State transitions (each logged as one JSON line by the route that causes it)
//! - liveness: `alive ⇄ not alive` (`POST /admin/toggle-live`)
//! - fault mode: `off ⇄ error` (`POST /admin/fault?mode=`)
//! - CPU stress: `idle → running(T threads, S s) → idle`
//! - memory stress: `held += M` (`POST`), `held → 0` (`DELETE`)
//! - crash: `serving → exiting(N)`, no way back

pub mod answers;
pub mod echo;
pub mod params;
pub mod prng;
pub mod stress;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use crate::config::lab::Settings;
pub use params::FaultMode;

/// Bits of [`Lab::faults`].
const MODE_ERROR: u8 = 1;
const RANDOM_ERROR: u8 = 2;
const RANDOM_DELAY: u8 = 4;

/// What to do to one application request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Injected {
    /// Wait this long first.
    pub delay: Option<Duration>,
    /// Then answer 500 `{"detail":"fault injected"}` instead of the route.
    pub error: bool,
}

impl Injected {
    /// The access log's `fault` value.
    pub fn label(&self) -> &'static str {
        match (self.delay.is_some(), self.error) {
            (true, true) => "delay+error",
            (true, false) => "delay",
            _ => "error",
        }
    }
}

/// What `/metrics` shows of the experiments (read at scrape time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    pub live: bool,
    pub fault_error: bool,
    pub cpu_threads: u64,
    pub memory_bytes: u64,
    /// `app_faults_injected_total` by kind.
    pub injected: [(&'static str, u64); 2],
}

/// Kinds of `app_faults_injected_total{kind}`.
pub const FAULT_KINDS: [&str; 2] = ["error", "delay"];

pub struct Lab {
    pub settings: Settings,
    live: AtomicBool,
    /// Which faults are active (bits above); zero is the fast path.
    faults: AtomicU8,
    rng: prng::Prng,
    /// `app_faults_injected_total`, indexed like [`FAULT_KINDS`].
    injected: [AtomicU64; 2],
    pub cpu: stress::Cpu,
    /// Shared with the blocking thread that fills it.
    pub memory: Arc<stress::Memory>,
    /// Bumped on every liveness change (the gRPC `Watch` streams listen).
    changes: watch::Sender<()>,
}

impl Lab {
    pub fn new(settings: Settings) -> Lab {
        let mut faults = 0;
        if settings.error_rate > 0.0 {
            faults |= RANDOM_ERROR;
        }
        if settings.delay.is_some() {
            faults |= RANDOM_DELAY;
        }
        Lab {
            settings,
            live: AtomicBool::new(true),
            faults: AtomicU8::new(faults),
            rng: prng::Prng::from_entropy(),
            injected: Default::default(),
            cpu: stress::Cpu::default(),
            memory: Arc::default(),
            changes: watch::Sender::new(()),
        }
    }

    /// Whether application requests may be delayed (their timeout timer is then needed).
    pub fn may_delay(&self) -> bool {
        self.settings.delay.is_some()
    }

    /// The experiments' values for `/metrics`.
    pub fn report(&self) -> Report {
        Report {
            live: self.is_live(),
            fault_error: self.fault_mode() == FaultMode::Error,
            cpu_threads: self.cpu.running() as u64,
            memory_bytes: self.memory.held_mib() << 20,
            injected: self.injected(),
        }
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }

    /// `alive ⇄ not alive`; returns the new value.
    pub fn toggle_live(&self) -> bool {
        let now = !self.live.fetch_xor(true, Ordering::Relaxed);
        self.bump();
        now
    }

    /// Wakes every `Watch` stream (also called by readiness changes).
    pub fn bump(&self) {
        self.changes.send_replace(());
    }

    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.changes.subscribe()
    }

    pub fn fault_mode(&self) -> FaultMode {
        if self.faults.load(Ordering::Relaxed) & MODE_ERROR != 0 {
            FaultMode::Error
        } else {
            FaultMode::Off
        }
    }

    pub fn set_fault_mode(&self, mode: FaultMode) {
        match mode {
            FaultMode::Error => self.faults.fetch_or(MODE_ERROR, Ordering::Relaxed),
            FaultMode::Off => self.faults.fetch_and(!MODE_ERROR, Ordering::Relaxed),
        };
    }

    /// The fault for one application request, if any (counted here).
    #[inline]
    pub fn fault(&self) -> Option<Injected> {
        // Relaxed: a request racing a mode switch may see either mode; both are correct.
        let active = self.faults.load(Ordering::Relaxed);
        if active == 0 {
            return None;
        }
        self.draw(active)
    }

    #[cold]
    fn draw(&self, active: u8) -> Option<Injected> {
        let delay = match self.settings.delay {
            Some(range) if active & RANDOM_DELAY != 0 => Some(range.at(self.rng.unit())),
            _ => None,
        };
        let error = active & MODE_ERROR != 0
            || (active & RANDOM_ERROR != 0 && self.rng.chance(self.settings.error_rate));
        if error {
            self.injected[0].fetch_add(1, Ordering::Relaxed);
        }
        if delay.is_some() {
            self.injected[1].fetch_add(1, Ordering::Relaxed);
        }
        (error || delay.is_some()).then_some(Injected { delay, error })
    }

    /// `app_faults_injected_total` by kind.
    pub fn injected(&self) -> [(&'static str, u64); 2] {
        [0, 1].map(|i| (FAULT_KINDS[i], self.injected[i].load(Ordering::Relaxed)))
    }

    /// Answers then exits with `code` within 100 ms, without draining (a crash, on purpose:
    /// Kubernetes sees the exit code and restarts the container). The caller has logged the
    /// request at ERROR; the log is flushed so that line survives the exit.
    pub fn crash(code: u8) {
        let _ = std::thread::Builder::new()
            .name("crash".into())
            .spawn(move || {
                // Time for the 202 to be written; the flush is bounded so the exit stays
                // within 100 ms of the answer even when stdout is slow.
                std::thread::sleep(Duration::from_millis(30));
                crate::log::flush(Duration::from_millis(50));
                std::process::exit(i32::from(code));
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(s: Settings) -> Lab {
        Lab::new(s)
    }

    #[test]
    fn no_fault_by_default() {
        let l = lab(Settings::default());
        assert!((0..1000).all(|_| l.fault().is_none()));
        assert_eq!(l.injected(), [("error", 0), ("delay", 0)]);
    }

    #[test]
    fn error_mode_fails_every_request_until_off() {
        let l = lab(Settings::default());
        l.set_fault_mode(FaultMode::Error);
        assert_eq!(l.fault_mode(), FaultMode::Error);
        let f = l.fault().unwrap();
        assert!(f.error && f.delay.is_none());
        assert_eq!(f.label(), "error");
        l.set_fault_mode(FaultMode::Off);
        assert!(l.fault().is_none());
        assert_eq!(l.injected()[0], ("error", 1));
    }

    /// A 30% rate fails about 30% (draws are random; 10 000 of them keep the share within
    /// ±3 points with overwhelming probability).
    #[test]
    fn random_errors_follow_the_rate() {
        let l = lab(Settings {
            error_rate: 0.3,
            ..Settings::default()
        });
        let n = (0..10_000).filter(|_| l.fault().is_some()).count();
        assert!((2_700..=3_300).contains(&n), "{n}");
        assert_eq!(l.injected()[0].1, n as u64);
    }

    #[test]
    fn delays_stay_in_range_and_combine_with_errors() {
        let range = crate::config::lab::fault_delay("0.1-0.2").unwrap();
        let l = lab(Settings {
            delay: range,
            ..Settings::default()
        });
        for _ in 0..1000 {
            let d = l.fault().unwrap().delay.unwrap();
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&d));
        }
        l.set_fault_mode(FaultMode::Error);
        assert_eq!(l.fault().unwrap().label(), "delay+error");
        l.set_fault_mode(FaultMode::Off);
        assert_eq!(l.fault().unwrap().label(), "delay");
    }

    #[test]
    fn report_shows_every_experiment() {
        let l = lab(Settings::default());
        l.set_fault_mode(FaultMode::Error);
        l.fault();
        l.toggle_live();
        let r = l.report();
        assert!(!r.live && r.fault_error);
        assert_eq!(r.injected, [("error", 1), ("delay", 0)]);
        assert_eq!((r.cpu_threads, r.memory_bytes), (0, 0));
    }

    #[test]
    fn liveness_toggles_and_wakes_watchers() {
        let l = lab(Settings::default());
        let mut rx = l.subscribe();
        assert!(l.is_live());
        assert!(!l.toggle_live());
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        assert!(l.toggle_live() && l.is_live());
        assert!(rx.has_changed().unwrap());
    }
}
