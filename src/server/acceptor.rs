//! The accept side: the connection cap (`MAX_CONNECTIONS`) and backing off after accept
//! errors (EMFILE and friends) without ever ending the loop.
//!
//! The cap is enforced with the acceptor's own admission count ([`Slot`]s), not with the
//! `http_connections_open` gauge: a metric is an observation, never a control variable.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::conn::{connection, Protocols};
use crate::http::{AppState, Handler};
use crate::log::Level;
use crate::log_at;

#[derive(Default)]
pub(crate) struct Acceptor {
    paused_until: Option<Instant>,
    backoff: Duration,
    /// Connections admitted and not yet ended.
    admitted: Arc<AtomicUsize>,
}

impl Acceptor {
    const FIRST_BACKOFF: Duration = Duration::from_millis(10);
    const MAX_BACKOFF: Duration = Duration::from_secs(1);

    pub fn paused(&self) -> bool {
        self.paused_until.is_some()
    }

    /// Resolves when the pause ends (only polled while paused).
    pub async fn resumed(&mut self) {
        if let Some(t) = self.paused_until {
            tokio::time::sleep_until(t).await;
        }
        self.paused_until = None;
    }

    pub fn handle<H: Handler>(
        &mut self,
        res: io::Result<(TcpStream, SocketAddr)>,
        handler: &H,
        protocols: &Arc<Protocols>,
        conns: &mut JoinSet<()>,
    ) {
        let state = handler.state();
        match res {
            Ok((stream, peer)) => {
                self.backoff = Duration::ZERO;
                let Some(slot) = Slot::take(&self.admitted, state) else {
                    // Closing at once keeps existing connections unaffected.
                    state.metrics.connection_rejected();
                    drop(stream);
                    return;
                };
                conns.spawn(connection(
                    stream,
                    peer,
                    handler.clone(),
                    Arc::clone(protocols),
                    state.subscribe(),
                    slot,
                ));
            }
            Err(e) => {
                self.backoff = (self.backoff * 2).clamp(Self::FIRST_BACKOFF, Self::MAX_BACKOFF);
                self.paused_until = Some(Instant::now() + self.backoff);
                log_at!(Level::Warning, "server", format!("accept failed: {e}"),
                    "event" => "accept_error", "backoff_ms" => crate::http::state::ms(self.backoff));
            }
        }
    }
}

/// One admitted connection: holds its place in the admission count and in the
/// `http_connections_open` gauge until the connection task ends or is aborted.
pub(crate) struct Slot {
    admitted: Arc<AtomicUsize>,
    state: Arc<AppState>,
}

impl Slot {
    /// `None` when `MAX_CONNECTIONS` connections are already admitted. Only the accept loop
    /// takes slots, so a load and an add cannot race another taker.
    fn take(admitted: &Arc<AtomicUsize>, state: &Arc<AppState>) -> Option<Slot> {
        if admitted.load(Ordering::Relaxed) >= state.config.limits.max_connections {
            return None;
        }
        admitted.fetch_add(1, Ordering::Relaxed);
        state.metrics.connection_opened();
        Some(Slot {
            admitted: Arc::clone(admitted),
            state: Arc::clone(state),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::Relaxed);
        self.state.metrics.connection_closed();
    }
}
