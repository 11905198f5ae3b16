//! One connection: protocol sniffing, hyper's connection builders, and driving the
//! connection through the drain phases.
//!
//! The protocol is chosen by peeking at the first bytes rather than with hyper-util's auto
//! builder: that gives a first-byte timeout for silent connections (the auto builder has none,
//! `docs/drain.md` R19) and tells each task which protocol it serves, which the phase rules
//! need: graceful shutdown at `draining` for HTTP/2 (GOAWAY is retry-safe), at `closing` for
//! HTTP/1 (closing an idle HTTP/1 connection races a request the client may be writing,
//! `docs/drain.md` §2.3, so HTTP/1 connections instead end one by one after an answer marked
//! `Connection: close`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::acceptor::Slot;
use super::head_timeout::{HeadTimer, Watch};
use super::io::JsonRejects;
use super::phase_gate::{self, PhaseGate};
use super::send_timeout::SendTimeout;
use crate::config::Limits;
use crate::http::observe::{Conn, Observed};
use crate::http::Handler;
use crate::lifecycle::Phase;
use crate::log::Level;
use crate::log_at;

/// hyper's connection builders, configured once and shared by every connection.
pub(crate) struct Protocols {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    pub fn new(limits: &Limits) -> Protocols {
        let mut h1 = http1::Builder::new();
        // The same timeout is hyper's keep-alive idle timeout, hence above proxies' 60 s (R18).
        // Each connection gives its copy of the builder a timer of its own (`head_timeout`):
        // without one hyper would ignore a default timeout (`docs/drain.md` §2.3) and refuses
        // to serve with a configured one.
        h1.header_read_timeout(limits.header_read_timeout)
            .keep_alive(true)
            // One buffer per answer, head and body copied together, one `write(2)`: our bodies
            // are small (the largest a few KiB), and a vectored write of two pieces cost more
            // than the copy (both builds on one CPU at once: +3.3% requests per CPU-second with
            // the access log off, all 8 rounds +2.3% to +5.9%; docs/logging.md).
            .writev(false)
            .max_buf_size(limits.max_header_bytes)
            .max_headers(limits.max_headers);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(limits.h2_max_streams)
            // The h2 codec answers an over-limit header list itself, with an empty-bodied 431.
            // Its hard limit sits at twice ours so that the service's own check (JSON 431 at
            // MAX_HEADER_BYTES, `http::reject::oversized_head`) answers first; the codec's limit
            // still bounds what one stream may make us decode and hold.
            .max_header_list_size((limits.max_header_bytes as u32).saturating_mul(2))
            // Rapid-reset (CVE-2023-44487) bound: refused streams that may be pending at once.
            .max_pending_accept_reset_streams(Some(20))
            .max_local_error_reset_streams(Some(256))
            // Pings find dead peers; a peer that never answers is closed after the timeout.
            .keep_alive_interval(Some(Duration::from_secs(20)))
            .keep_alive_timeout(Duration::from_secs(20));
        Protocols { h1, h2 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Http1,
    Http2,
}

const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits for the first bytes and tells HTTP/2 prior knowledge from HTTP/1. `None` if the peer
/// closed without sending anything.
async fn sniff(stream: &TcpStream) -> io::Result<Option<Proto>> {
    let mut buf = [0u8; 24];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(Some(Proto::Http1));
        }
        if n == H2_PREFACE.len() {
            return Ok(Some(Proto::Http2));
        }
        // A strict prefix of the preface: peek would return the same bytes at once, so wait a
        // little for the rest (bounded by the caller's first-byte timeout).
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Drives a hyper connection, asking for its graceful shutdown once the phase reaches `at`,
/// and closing it when a request head is late (`head_timeout`; HTTP/1 only records deadlines).
macro_rules! drive {
    ($conn:expr, $phase:ident, $at:expr, $head:expr) => {{
        let conn = $conn;
        tokio::pin!(conn);
        let mut head = Watch::new($head);
        // Polled only when the channel woke it (`phase_gate`: ~140 instructions a wake-up).
        let wait = phase_gate::until(&mut $phase, $at);
        tokio::pin!(wait);
        let mut gate = PhaseGate::new(wait);
        let mut told = false;
        loop {
            tokio::select! {
                // The connection first: a head deadline it records is armed in the same pass.
                biased;
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        // Peers hang up mid-request all the time; not the server's fault.
                        log_at!(Level::Debug, "server", format!("connection ended: {e}"),
                            "event" => "connection_error");
                    }
                    break;
                }
                _ = std::future::poll_fn(|cx| gate.poll(cx)), if !told => {
                    told = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = &mut head => {
                    // As hyper would on its own timer: the connection is closed, no answer.
                    log_at!(Level::Debug, "server", "request head not received in time; connection closed",
                        "event" => "header_read_timeout");
                    break;
                }
            }
        }
    }};
}

pub(crate) async fn connection<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: H,
    protocols: Arc<Protocols>,
    mut phase: watch::Receiver<Phase>,
    _slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let first_byte = handler.state().config.limits.first_byte_timeout;
    let proto = tokio::select! {
        biased;
        // R12: a connection that has sent nothing when closing begins is closed at once.
        _ = phase.wait_for(|p| *p >= Phase::Closing) => return,
        res = tokio::time::timeout(first_byte, sniff(&stream)) => match res {
            Ok(Ok(Some(p))) => p,
            Ok(Ok(None)) | Ok(Err(_)) => return,
            Err(_) => {
                // R19: silent connections do not hold a slot forever.
                log_at!(Level::Debug, "server", "closing a connection that sent nothing",
                    "event" => "first_byte_timeout");
                return;
            }
        },
    };
    let send_timeout = handler.state().config.limits.send_timeout;
    let io = SendTimeout::new(TokioIo::new(stream), send_timeout);
    let state = Arc::clone(handler.state());
    let shared = Conn::new(peer);
    let svc = Observed::new(handler, Arc::clone(&shared));
    match proto {
        Proto::Http1 => {
            let head = Arc::clone(&shared.head);
            let mut h1 = protocols.h1.clone();
            h1.timer(HeadTimer(Arc::clone(&head)));
            drive!(
                h1.serve_connection(JsonRejects::new(io, state, shared), svc),
                phase,
                Phase::Closing,
                head
            )
        }
        // hyper's HTTP/2 times no heads (its pings use the builder's tokio timer): the watch
        // never arms.
        Proto::Http2 => {
            let head = Arc::clone(&shared.head);
            drive!(
                protocols.h2.serve_connection(io, svc),
                phase,
                Phase::Draining,
                head
            )
        }
    }
}
