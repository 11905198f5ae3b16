//! Signals: SIGTERM (Kubernetes, `docker stop`, `podman stop`) and SIGINT (Ctrl-C) both start
//! the same graceful drain; a second one of either exits at once.
//!
//! [`install`] must run first thing in `main`: as PID 1 in a container the process ignores any
//! signal it has no handler for, so a SIGTERM arriving before registration would be lost and the
//! pod would wait out its whole grace period (`docs/drain.md` §1.7, R1).
//!
//! The second-signal exit happens *inside the signal handler* (signal-hook's conditional
//! shutdown calls `_exit`): signals coalesce, so counting items of the async stream cannot tell
//! "two signals" from "one" (`docs/drain.md` §3.2, R2). Exit codes follow the shell convention,
//! 128 + signal number: 143 for SIGTERM, 130 for SIGINT.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_core::Stream;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

use crate::lifecycle::DrainCause;

/// Handlers registered by [`install`]; turns into the drain trigger with [`Installed::wait`].
pub struct Installed {
    /// The first termination signal seen, 0 until one arrives. Set by the handler itself, so a
    /// signal that lands before the async stream exists is still noticed.
    first: Arc<AtomicUsize>,
}

/// Registers the handlers. No runtime is needed (and none exists yet when `main` calls this).
pub fn install() -> io::Result<Installed> {
    let armed = Arc::new(AtomicBool::new(false));
    let first = Arc::new(AtomicUsize::new(0));
    for (sig, code) in [(SIGTERM, 128 + SIGTERM), (SIGINT, 128 + SIGINT)] {
        // Order matters: the exit check runs before the arming, so the first signal only arms.
        flag::register_conditional_shutdown(sig, code, Arc::clone(&armed))?;
        flag::register(sig, Arc::clone(&armed))?;
        flag::register_usize(sig, Arc::clone(&first), sig as usize)?;
    }
    Ok(Installed { first })
}

impl Installed {
    /// The exit code a signal received so far calls for (128 + its number), if any. For the
    /// subcommands that do not drain: with handlers installed the default action is gone, so
    /// they must look for themselves.
    pub fn received(&self) -> Option<i32> {
        match self.first.load(Ordering::SeqCst) {
            0 => None,
            s => Some(128 + s as i32),
        }
    }

    /// Resolves at the first SIGTERM/SIGINT, including one that arrived before this call.
    /// Must be called inside the tokio runtime (the stream registers with its reactor).
    pub async fn wait(self) -> DrainCause {
        let mut stream = match signal_hook_tokio::Signals::new([SIGTERM, SIGINT]) {
            Ok(s) => Some(s),
            Err(e) => {
                crate::log_at!(
                    crate::log::Level::Error,
                    "server",
                    format!(
                        "cannot create the signal stream, polling the signal flag instead: {e}"
                    )
                );
                None
            }
        };
        loop {
            // Checked after the stream exists, so no signal can fall between the two.
            match self.first.load(Ordering::SeqCst) {
                0 => {}
                s if s == SIGINT as usize => return DrainCause::Sigint,
                _ => return DrainCause::Sigterm,
            }
            let closed = match stream.as_mut() {
                Some(s) => poll_fn(|cx| Pin::new(&mut *s).poll_next(cx))
                    .await
                    .is_none(),
                None => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    false
                }
            };
            if closed {
                stream = None;
            }
        }
    }
}
