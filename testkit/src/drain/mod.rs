//! The drain benchmark harness (design: docs/drain.md §8).
//!
//! It replays, on one machine, what happens to our pods in a cluster: a kubelet per pod
//! (preStop hook, SIGTERM with the kubelet's grace arithmetic, SIGKILL), the kubelet's
//! readiness prober, an EndpointSlice/ingress controller that applies endpoint changes to a
//! real nginx after a propagation delay, a Deployment controller doing rolling updates, and an
//! open-loop load generator that records every request's outcome.
//!
//! Layout:
//! - [`settings`]: the rendered Deployment (from `helm template`, or tutorial defaults).
//! - [`pod`]: one server process, the kubelet emulator (`delete`) and the readiness prober.
//! - [`ingress`]: nginx configured like ingress-nginx, plus the endpoint controller.
//! - [`load`]: the request mix on `hello-world watch`'s open-loop engine (`hello_world::watch`).
//! - [`scenario`]: scenario definitions and the Deployment controller (rollouts, toggles).
//! - [`report`]: per-scenario summary, stdout table, JSON.
//! - [`svg`]: the timeline plot, drawn by `hello_world::watch::svg`.
//!
//! The bench target (`benches/drain/main.rs`) and the suite's quick variant
//! (`tests/suite/drain_bench.rs`) both run this code, so the test exercises what the bench
//! measures.

pub mod ingress;
pub mod load;
pub mod pod;
pub mod report;
pub mod scenario;
pub mod settings;
pub mod svg;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Scenario time base. Everything the cluster would measure in seconds ("cluster seconds":
/// grace periods, probe periods, propagation) is divided by `scale` to get wall time, so the
/// whole matrix fits in a few minutes. Timeline values are wall seconds since `t0`.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    t0: Instant,
    /// Unix time of `t0`, to place nginx's `$msec` log stamps on the same axis.
    unix0: f64,
    pub scale: f64,
}

impl Clock {
    pub fn new(scale: f64) -> Self {
        let unix0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Clock {
            t0: Instant::now(),
            unix0,
            scale,
        }
    }

    /// Timeline position of an instant (the load engine's start).
    pub fn at(&self, i: Instant) -> f64 {
        i.saturating_duration_since(self.t0).as_secs_f64()
    }

    /// Wall seconds since the scenario started.
    pub fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    /// Wall duration of `cluster` cluster seconds.
    pub fn real(&self, cluster: f64) -> Duration {
        Duration::from_secs_f64((cluster / self.scale).max(0.0))
    }

    /// Cluster seconds corresponding to a wall duration.
    pub fn cluster(&self, wall: f64) -> f64 {
        wall * self.scale
    }

    /// Timeline position of a Unix timestamp (nginx `$msec`).
    pub fn at_unix(&self, unix: f64) -> f64 {
        unix - self.unix0
    }

    pub async fn sleep_cluster(&self, cluster: f64) {
        tokio::time::sleep(self.real(cluster)).await;
    }
}

/// Tiny deterministic PRNG (xorshift64*) for propagation jitter and the request mix; a
/// dependency is not worth it and a fixed seed makes runs comparable.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Sends `sig` to `pid`. The kubelet emulator owns these processes (it spawned them), so this
/// is the one place the harness needs `unsafe`: `kill(2)` has no safe wrapper in std.
pub fn send_signal(pid: u32, sig: i32) -> std::io::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
