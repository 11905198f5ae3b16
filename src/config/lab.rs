//! The experiment variables (`EXPERIMENTS`, `START_READY`, `READY_DELAY_SECONDS`,
//! `FAULT_ERROR_RATE`, `FAULT_DELAY_SECONDS`, `STRESS_MAX_MIB`): their settings and parsers.
//! They live in the config, not in `lab`, so that `config` depends on nothing above it and
//! `lab` (the experiments' run-time state) reads its settings from here.

use std::time::Duration;

use super::rules;

/// The experiment variables, parsed by the config.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `EXPERIMENTS`: false hides every experiment route (404).
    pub enabled: bool,
    /// `START_READY`: false starts with the readiness toggle off.
    pub start_ready: bool,
    /// `READY_DELAY_SECONDS`: readiness stays 503 this long after the listener is up.
    pub ready_delay: Duration,
    /// `FAULT_ERROR_RATE`: the share of application requests answered 500.
    pub error_rate: f64,
    /// `FAULT_DELAY_SECONDS`: latency added to every application request.
    pub delay: Option<DelayRange>,
    /// `STRESS_MAX_MIB`: the most memory stress may hold.
    pub stress_max_mib: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            enabled: true,
            start_ready: true,
            ready_delay: Duration::ZERO,
            error_rate: 0.0,
            delay: None,
            stress_max_mib: 4096,
        }
    }
}

/// The rule across variables: fault injection only with the experiments on (a production
/// values file that turns them off cannot keep a chaos setting by accident).
pub fn check(s: &Settings) -> Result<(), (&'static str, String)> {
    use super::vars::{FAULT_DELAY_SECONDS, FAULT_ERROR_RATE};
    let why = "0 (unset) while EXPERIMENTS=false: fault injection needs the experiments on";
    if !s.enabled && s.error_rate > 0.0 {
        return Err((FAULT_ERROR_RATE, why.to_owned()));
    }
    if !s.enabled && s.delay.is_some() {
        return Err((FAULT_DELAY_SECONDS, why.to_owned()));
    }
    Ok(())
}

/// A plain decimal (`0.25`, `2`, `.5`), through the one seconds validator of the config.
fn decimal(s: &str, max: f64) -> Option<f64> {
    rules::decimal_seconds(s, max).map(|d| d.as_secs_f64())
}

/// `FAULT_ERROR_RATE`: a share from 0 to 1.
pub fn error_rate(s: &str) -> Result<f64, &'static str> {
    decimal(s, 1.0).ok_or("a decimal from 0 to 1")
}

/// Added latency, uniform in `lo..=hi`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DelayRange {
    pub lo: Duration,
    pub hi: Duration,
}

impl DelayRange {
    /// A point of the range for `u` uniform in `[0, 1)`.
    pub fn at(&self, u: f64) -> Duration {
        self.lo + (self.hi - self.lo).mul_f64(u)
    }
}

pub const MAX_FAULT_DELAY_SECONDS: f64 = 60.0;

/// `FAULT_DELAY_SECONDS`: `X` or `X-Y` decimal seconds, `X <= Y <= 60`; `0` is none.
pub fn fault_delay(s: &str) -> Result<Option<DelayRange>, String> {
    const ALLOWED: &str = "seconds X or a range X-Y (decimal, X <= Y <= 60)";
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    match (
        decimal(lo, MAX_FAULT_DELAY_SECONDS),
        decimal(hi, MAX_FAULT_DELAY_SECONDS),
    ) {
        (Some(lo), Some(hi)) if lo <= hi => Ok((hi > 0.0).then(|| DelayRange {
            lo: Duration::from_secs_f64(lo),
            hi: Duration::from_secs_f64(hi),
        })),
        _ => Err(ALLOWED.into()),
    }
}

/// `READY_DELAY_SECONDS`: decimal seconds, 0 to 3600.
pub fn ready_delay(s: &str) -> Result<Duration, String> {
    rules::decimal_seconds(s, 3600.0).ok_or_else(|| "decimal seconds from 0 to 3600".into())
}

/// `STRESS_MAX_MIB`: 0 (memory stress refused) to 1048576 (1 TiB).
pub fn stress_max_mib(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .ok()
        .filter(|m| *m <= 1 << 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| "an integer number of MiB from 0 to 1048576".into())
}
