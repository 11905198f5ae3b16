//! What became of one request: an answer attributed to a version and a pod, or a failure of
//! one named kind. The kinds are part of the stable JSON interface (docs/watch.md).

use std::error::Error as _;
use std::io::ErrorKind;

/// Why a request did not count as a success. `name()` is what the text and JSON output show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// The TCP connect was refused: nothing listens (a pod gone, a port closed).
    Refused,
    /// The connection broke: reset, or closed before a complete answer arrived.
    Reset,
    /// No complete answer within the request's deadline (`--timeout`).
    Timeout,
    /// An answer with a 5xx status (502 from an ingress whose backend vanished, 503, ...).
    Http5xx,
    /// An answer with a 4xx status.
    Http4xx,
    /// Anything else: a name that does not resolve, a protocol error, a 1xx/3xx answer.
    Other,
}

impl Failure {
    pub const ALL: [Failure; 6] = [
        Failure::Refused,
        Failure::Reset,
        Failure::Timeout,
        Failure::Http5xx,
        Failure::Http4xx,
        Failure::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Failure::Refused => "refused",
            Failure::Reset => "reset",
            Failure::Timeout => "timeout",
            Failure::Http5xx => "http_5xx",
            Failure::Http4xx => "http_4xx",
            Failure::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One request's outcome as the engine reports it. Times are seconds on the run's own axis
/// (0 = the first scheduled request).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Sequence number: request `id` was scheduled at `id / rate`.
    pub id: u64,
    /// Scheduled start.
    pub t: f64,
    /// How late the request actually started behind its schedule (the engine's own error).
    pub late: f64,
    /// Scheduled start to complete answer (or failure): includes waiting for a pooled
    /// connection and the engine's lateness, so a stall can not hide (no coordinated omission).
    pub latency: f64,
    /// The HTTP status, when an answer's head arrived (even if the body then failed).
    pub status: Option<u16>,
    /// `None` = success.
    pub failure: Option<Failure>,
    /// Transport error detail (`connect`, `timeout`, `closed_before_response`, `io:...`).
    pub detail: Option<String>,
    /// `version` and `message` of a JSON answer (`GET /` of the service).
    pub version: Option<String>,
    pub message: Option<String>,
    /// The pod header's value (`x-served-by` for `watch`): the last entry of a comma list.
    pub pod: Option<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    /// Completion time on the run's axis.
    pub fn done(&self) -> f64 {
        self.t + self.latency
    }
}

/// The verdict on an answer's status: 2xx, or exactly `expected` when the plan names one (the
/// drain bench's `POST /` probe expects 405), is a success.
pub fn status_failure(status: u16, expected: Option<u16>) -> Option<Failure> {
    match status {
        s if Some(s) == expected => None,
        200..=299 => None,
        500..=599 => Some(Failure::Http5xx),
        400..=499 => Some(Failure::Http4xx),
        _ => Some(Failure::Other),
    }
}

/// Kind of an I/O error (connect or read/write).
pub fn io_failure(kind: ErrorKind) -> Failure {
    match kind {
        ErrorKind::ConnectionRefused => Failure::Refused,
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => Failure::Reset,
        ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Other,
    }
}

/// Kind and detail of a hyper error on an established connection. "Closed before a complete
/// answer" (the peer closed or reset mid-exchange) is a reset from the client's point of view.
pub fn hyper_failure(e: &hyper::Error) -> (Failure, String) {
    if e.is_incomplete_message() {
        return (Failure::Reset, "closed_before_response".into());
    }
    if e.is_canceled() || e.is_closed() {
        return (Failure::Reset, "closed".into());
    }
    if e.is_timeout() {
        return (Failure::Timeout, "timeout".into());
    }
    let mut src = e.source();
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return (io_failure(io.kind()), format!("io:{:?}", io.kind()));
        }
        src = s.source();
    }
    (Failure::Other, format!("hyper:{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stable names of the JSON interface.
    #[test]
    fn names_are_stable() {
        let names: Vec<_> = Failure::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            ["refused", "reset", "timeout", "http_5xx", "http_4xx", "other"]
        );
        for (i, f) in Failure::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
    }

    /// Anything but a 2xx fails, unless the plan expects exactly that status.
    #[test]
    fn statuses() {
        assert_eq!(status_failure(200, None), None);
        assert_eq!(status_failure(204, None), None);
        assert_eq!(status_failure(502, None), Some(Failure::Http5xx));
        assert_eq!(status_failure(404, None), Some(Failure::Http4xx));
        assert_eq!(status_failure(301, None), Some(Failure::Other));
        assert_eq!(status_failure(101, None), Some(Failure::Other));
        assert_eq!(status_failure(405, Some(405)), None);
        assert_eq!(status_failure(200, Some(405)), None);
        assert_eq!(status_failure(404, Some(405)), Some(Failure::Http4xx));
    }

    #[test]
    fn io_kinds() {
        assert_eq!(io_failure(ErrorKind::ConnectionRefused), Failure::Refused);
        assert_eq!(io_failure(ErrorKind::ConnectionReset), Failure::Reset);
        assert_eq!(io_failure(ErrorKind::BrokenPipe), Failure::Reset);
        assert_eq!(io_failure(ErrorKind::TimedOut), Failure::Timeout);
        assert_eq!(io_failure(ErrorKind::NotFound), Failure::Other);
    }
}
