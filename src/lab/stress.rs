//! CPU and memory stress, bounded and off the request path.
//!
//! CPU: T plain OS threads (never tokio workers, which must keep answering, including the
//! probes) spin for S seconds and exit on their own; one run at a time. Memory: M MiB
//! allocated and written through (so the pages are really resident and charged to
//! the cgroup, not just reserved address space), held until released, the total bounded by
//! `STRESS_MAX_MIB`. Allocation runs on a blocking thread too: touching a GiB takes a while.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::prng;

/// Memory is held in chunks of at most this size: large enough that the allocator maps each
/// with its own mmap (so a release returns it to the kernel at once), small enough that a
/// request is not one giant allocation.
const CHUNK_MIB: u64 = 64;
const MIB: usize = 1 << 20;

#[derive(Default)]
pub struct Cpu {
    /// Spinning threads right now; each decrements it when its time is up.
    running: Arc<AtomicUsize>,
}

/// Why a CPU run did not start.
#[derive(Debug, PartialEq, Eq)]
pub enum CpuRefused {
    /// Another run is still going (its thread count).
    Busy(usize),
    /// The OS refused a thread (the ones started still run to their end).
    Spawn(String),
}

impl Cpu {
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Starts `threads` spinning threads for `seconds`; returns at once.
    pub fn start(&self, seconds: Duration, threads: usize) -> Result<(), CpuRefused> {
        // Claim the slot atomically, so two requests cannot both start.
        if let Err(n) =
            self.running
                .compare_exchange(0, threads, Ordering::AcqRel, Ordering::Relaxed)
        {
            return Err(CpuRefused::Busy(n));
        }
        let until = Instant::now() + seconds;
        for i in 0..threads {
            let running = Arc::clone(&self.running);
            let spawned = std::thread::Builder::new()
                .name(format!("stress-cpu-{i}"))
                .spawn(move || {
                    spin_until(until, i as u64);
                    running.fetch_sub(1, Ordering::AcqRel);
                });
            if let Err(e) = spawned {
                self.running.fetch_sub(threads - i, Ordering::AcqRel);
                return Err(CpuRefused::Spawn(e.to_string()));
            }
        }
        Ok(())
    }
}

/// Busy work the optimiser cannot remove, checking the clock every ~50 µs.
fn spin_until(until: Instant, seed: u64) {
    let mut x = seed;
    while Instant::now() < until {
        for _ in 0..20_000 {
            x = prng::mix(x);
        }
        std::hint::black_box(x);
    }
}

#[derive(Default)]
pub struct Memory {
    chunks: Mutex<Vec<Box<[u8]>>>,
    /// MiB held or being allocated; checked against the cap before allocating.
    reserved: AtomicU64,
}

impl Memory {
    pub fn held_mib(&self) -> u64 {
        self.reserved.load(Ordering::Relaxed)
    }

    /// Reserves `mib` under `cap`; `Err(remaining)` when it does not fit.
    pub fn reserve(&self, mib: u64, cap: u64) -> Result<(), u64> {
        self.reserved
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |held| {
                held.checked_add(mib).filter(|t| *t <= cap)
            })
            .map(|_| ())
            .map_err(|held| cap.saturating_sub(held))
    }

    /// Allocates and touches a reserved `mib` (blocking); returns the total held.
    pub fn fill(&self, mib: u64) -> u64 {
        let mut left = mib;
        let mut mine = Vec::new();
        while left > 0 {
            let n = left.min(CHUNK_MIB);
            // A non-zero fill is a real write of every page (a zeroed allocation would be
            // mapped lazily and cost nothing until read).
            mine.push(vec![0xA5u8; n as usize * MIB].into_boxed_slice());
            left -= n;
        }
        self.lock().append(&mut mine);
        self.held_mib()
    }

    /// Frees everything held; returns the MiB released.
    pub fn release(&self) -> u64 {
        let taken = std::mem::take(&mut *self.lock());
        let mib: u64 = taken.iter().map(|c| (c.len() / MIB) as u64).sum();
        drop(taken);
        self.reserved.fetch_sub(mib, Ordering::AcqRel);
        mib
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Box<[u8]>>> {
        // A panic cannot leave a Vec of chunks half-updated in a way that matters here.
        self.chunks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cpu_run_at_a_time_and_threads_end_on_time() {
        let cpu = Cpu::default();
        let t0 = Instant::now();
        cpu.start(Duration::from_millis(200), 2).unwrap();
        assert_eq!(cpu.running(), 2);
        assert_eq!(
            cpu.start(Duration::from_secs(1), 1),
            Err(CpuRefused::Busy(2))
        );
        while cpu.running() > 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "stress threads did not stop"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(t0.elapsed() >= Duration::from_millis(200));
        cpu.start(Duration::from_millis(1), 1).unwrap();
    }

    #[test]
    fn memory_is_capped_held_and_released() {
        let m = Memory::default();
        m.reserve(3, 4).unwrap();
        assert_eq!(m.reserve(2, 4), Err(1));
        assert_eq!(m.fill(3), 3);
        assert_eq!(m.lock().iter().map(|c| c.len()).sum::<usize>(), 3 * MIB);
        assert!(m.lock()[0].iter().step_by(4096).all(|&b| b == 0xA5));
        m.reserve(1, 4).unwrap();
        assert_eq!(m.fill(1), 4);
        assert_eq!(m.release(), 4);
        assert_eq!(m.held_mib(), 0);
        assert_eq!(m.reserve(5, 4), Err(4));
        // Large requests are split into chunks.
        m.reserve(130, 200).unwrap();
        m.fill(130);
        let sizes: Vec<usize> = m.lock().iter().map(|c| c.len() / MIB).collect();
        assert_eq!(sizes, [64, 64, 2]);
        assert_eq!(m.release(), 130);
    }
}
