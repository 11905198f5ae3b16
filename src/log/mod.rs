//! Our JSON log: one object per line on stdout, written in batches by one thread.
//!
//! - [`record`]: the line format — one writer function for every record shape.
//! - [`value`]: levels and field values.
//! - [`time`]: timestamps (RFC 3339, UTC, microseconds) and digits.
//! - [`writer`]: the shared buffer, the writer thread, the drop-and-count policy, [`flush`].
//!
//! A line goes from a call here into the shared buffer (formatted in place, under its lock) and
//! from there to stdout with the next batch; `docs/logging.md` walks through it with numbers.

mod record;
mod time;
mod value;
mod writer;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

pub use record::{write_record, Access};
pub use time::push_timestamp;
pub use value::{Level, Value};
pub use writer::{dropped_total, FLUSH_AT, FLUSH_INTERVAL, MAX_BUFFERED};

use writer::Batcher;

/// The process-wide logger: threshold, pod name, the shared buffer.
struct Logger {
    level: Level,
    pod: String,
    batcher: Batcher,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the logger and starts its writer thread. Later calls are ignored (tests and the
/// binary's subcommands may race to initialise; the first configuration wins).
pub fn init(level: Level, pod: &str) {
    let mut fresh = false;
    let logger = LOGGER.get_or_init(|| {
        fresh = true;
        Logger {
            level,
            pod: pod.to_owned(),
            batcher: Batcher::new(),
        }
    });
    if fresh {
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || logger.batcher.run(&logger.pod, std::io::stdout()))
            .expect("spawning the log writer thread");
    }
}

/// True when a record at `level` would be written. Lets callers skip building expensive fields.
pub fn enabled(level: Level) -> bool {
    LOGGER.get().is_some_and(|l| level >= l.level)
}

/// The logger, if it is installed and lets `level` through.
fn active(level: Level) -> Option<&'static Logger> {
    LOGGER.get().filter(|l| level >= l.level)
}

/// Formats and enqueues one record. Never blocks on stdout.
pub fn log(level: Level, logger: &str, message: &str, fields: &[(&str, Value<'_>)]) {
    let Some(l) = active(level) else { return };
    // The clock is read under the buffer's lock, so the lines are in timestamp order.
    l.batcher.append(|out, scratch| {
        scratch.write(
            out,
            SystemTime::now(),
            level,
            logger,
            &l.pod,
            message,
            fields,
        );
    });
}

/// [`log`] for a field-less record with a literal logger and message (`log_at!` picks it).
pub fn log_static(level: Level, logger: &'static str, message: &'static str) {
    let Some(l) = active(level) else { return };
    l.batcher.append(|out, scratch| {
        scratch.write_static(out, SystemTime::now(), level, logger, &l.pod, message);
    });
}

/// Formats and enqueues one access-log record (level INFO, logger `access`).
pub fn log_access(a: &Access<'_>) {
    let Some(l) = active(Level::Info) else { return };
    l.batcher
        .append(|out, scratch| a.write(out, &mut scratch.clock, SystemTime::now(), &l.pod));
}

/// Waits until everything logged so far is written, or `timeout` passes. Returns whether it
/// was. Call before exiting: the writer thread does not outlive `exit`.
pub fn flush(timeout: Duration) -> bool {
    LOGGER.get().is_none_or(|l| l.batcher.flush(timeout))
}

/// `info!`-style helpers keep call sites to one line.
#[macro_export]
macro_rules! log_at {
    ($level:expr, $logger:literal, $msg:literal $(,)?) => {
        if $crate::log::enabled($level) {
            $crate::log::log_static($level, $logger, $msg);
        }
    };
    ($level:expr, $logger:expr, $msg:expr $(, $k:literal => $v:expr)* $(,)?) => {
        if $crate::log::enabled($level) {
            $crate::log::log($level, $logger, &$msg, &[$(($k, $crate::log::Value::from($v))),*]);
        }
    };
}
