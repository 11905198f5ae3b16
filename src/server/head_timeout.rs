//! The header read timeout (`HEADER_READ_TIMEOUT_SECONDS`, `docs/drain.md` R18) with one timer
//! per connection instead of one per request.
//!
//! hyper times the read of each HTTP/1 request head with the timer it is given, and with
//! tokio's that is, for every request, a `Sleep` boxed, registered in the timer wheel and
//! dropped once the head has arrived (callgrind, `docs/logging.md`: a keep-alive `GET /` went
//! from 9,713 to 9,122 instructions when this module replaced it). Here the work is split
//! three ways:
//!
//! - hyper's timer ([`HeadTimer`]) only records the deadline of the head being read, in the
//!   connection's [`HeadDeadline`], and hands hyper a future that never fires on its own;
//! - the service clears the deadline when it is called, that is when the head has arrived;
//! - one tokio `Sleep` per connection ([`Watch`], polled beside the connection) is armed at a
//!   recorded deadline and, when it fires, moved on to the deadline recorded now, if any. A
//!   connection answering a request every millisecond moves it once per timeout.
//!
//! The rule is hyper's own: a connection whose head has not fully arrived within the timeout of
//! hyper starting to read it is closed. hyper starts reading a head when the connection opens
//! and after each answer is written, so the same timeout is the idle keep-alive timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// The deadline of the request head being read on one connection, if one is being read, and
/// the instant the connection's last answer was made, for [`HeadTimer::now`].
#[derive(Debug, Default)]
pub(crate) struct HeadDeadline {
    /// Nanoseconds after [`epoch`]; 0 when no head is being read.
    deadline: AtomicU64,
    /// When the last answer was made (nanoseconds after [`epoch`]), until hyper asks the time
    /// to start timing the next head; 0 when taken.
    answered: AtomicU64,
}

/// `at` as nanoseconds after [`epoch`], at least 1 (0 means "none"). Saturating: a u64 of
/// nanoseconds lasts 584 years.
fn to_nanos(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(epoch()).as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
}

impl HeadDeadline {
    /// hyper began reading a head that must have arrived by `at`.
    fn set(&self, at: Instant) {
        self.deadline.store(to_nanos(at), Ordering::Relaxed);
    }

    /// The head has arrived (the service was called): nothing to time until hyper reads the
    /// next one.
    pub fn clear(&self) {
        self.deadline.store(0, Ordering::Relaxed);
    }

    fn get(&self) -> Option<Instant> {
        match self.deadline.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(epoch() + Duration::from_nanos(nanos)),
        }
    }

    /// The service made an answer at `at` (it read the clock for the request's duration).
    /// hyper starts timing the next head right after it has put that answer in its write
    /// buffer, in the same poll of the connection, and asks [`HeadTimer::now`] for the time:
    /// this reading serves, and saves a clock read per request (in a VM ~35 ns, about 1% of
    /// a keep-alive `GET /`; docs/logging.md).
    pub fn answered(&self, at: Instant) {
        self.answered.store(to_nanos(at), Ordering::Relaxed);
    }

    /// The answer's instant, once; later asks read the clock. Only the connection's own task
    /// touches these fields, so plain loads and stores suffice.
    fn take_answered(&self) -> Option<Instant> {
        match self.answered.load(Ordering::Relaxed) {
            0 => None,
            nanos => {
                self.answered.store(0, Ordering::Relaxed);
                Some(epoch() + Duration::from_nanos(nanos))
            }
        }
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(now)
}

/// tokio's clock, so that tests with a paused clock see the same time as the `Sleep`s.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The timer given to hyper's HTTP/1 connection: it records deadlines, [`Watch`] enforces them.
pub(crate) struct HeadTimer(pub Arc<HeadDeadline>);

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.0.set(deadline);
        // A unit struct: boxing it allocates nothing.
        Box::pin(Recorded)
    }

    fn now(&self) -> Instant {
        self.0.take_answered().unwrap_or_else(now)
    }
}

/// What hyper polls in place of a sleep: never ready; the connection's [`Watch`] closes the
/// connection when the recorded deadline passes.
struct Recorded;

impl Future for Recorded {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl hyper::rt::Sleep for Recorded {}

/// Resolves when a head has been read for longer than its deadline. Poll it after the
/// connection, in the same task: a deadline the connection recorded is then armed in the
/// same pass.
pub(crate) struct Watch {
    deadline: Arc<HeadDeadline>,
    /// Allocated at the first deadline and reused.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The sleep is registered for a deadline and has not fired yet.
    armed: bool,
}

impl Watch {
    pub fn new(deadline: Arc<HeadDeadline>) -> Watch {
        Watch {
            deadline,
            sleep: None,
            armed: false,
        }
    }
}

impl Future for Watch {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.armed {
            // The common case, once per wake-up of the connection: a flag read. The sleep
            // keeps the task's waker from its last poll; a task's waker does not change.
            if this.sleep.as_ref().is_some_and(|s| !s.is_elapsed()) {
                return Poll::Pending;
            }
            this.armed = false;
        }
        // Unarmed, or the armed deadline passed: look at the deadline recorded now.
        let Some(at) = this.deadline.get() else {
            return Poll::Pending;
        };
        if at <= now() {
            return Poll::Ready(());
        }
        let at = tokio::time::Instant::from_std(at);
        let sleep = match &mut this.sleep {
            Some(s) => {
                s.as_mut().reset(at);
                s
            }
            None => this.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        // Registers the task's waker; ready only if `at` passed meanwhile.
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        this.armed = true;
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer as _;

    const LIMIT: Duration = Duration::from_secs(10);

    /// Polls `watch` once, as the connection's task would after a wake-up.
    fn fired(watch: &mut Pin<Box<Watch>>) -> bool {
        let waker = std::task::Waker::noop();
        watch
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_ready()
    }

    /// Lets the paused clock run `d` and the timer driver fire what is due.
    async fn pass(d: Duration) {
        tokio::time::sleep(d).await;
    }

    /// The answer's clock reading times the next head, once: a second ask reads the clock.
    #[tokio::test(start_paused = true)]
    async fn the_next_head_is_timed_from_the_answer_and_only_once() {
        let deadline = Arc::new(HeadDeadline::default());
        let timer = HeadTimer(Arc::clone(&deadline));
        let answered = now();
        pass(Duration::from_secs(5)).await;
        deadline.answered(answered);
        assert_eq!(timer.now(), answered, "the answer's instant serves once");
        assert_eq!(timer.now(), now(), "then the clock is read");
        // A head timed from the answer fires a timeout after the answer, not after the ask.
        let mut watch = Box::pin(Watch::new(Arc::clone(&deadline)));
        deadline.answered(now());
        let _sleep = timer.sleep_until(timer.now() + LIMIT);
        pass(LIMIT - Duration::from_millis(10)).await;
        assert!(!fired(&mut watch));
        pass(Duration::from_millis(20)).await;
        assert!(fired(&mut watch));
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_not_arrived_by_its_deadline_fires_the_watch() {
        let deadline = Arc::new(HeadDeadline::default());
        let timer = HeadTimer(Arc::clone(&deadline));
        let mut watch = Box::pin(Watch::new(Arc::clone(&deadline)));
        assert!(
            !fired(&mut watch),
            "nothing is timed before hyper reads a head"
        );
        let _sleep = timer.sleep_until(timer.now() + LIMIT);
        assert!(!fired(&mut watch));
        pass(LIMIT - Duration::from_millis(10)).await;
        assert!(!fired(&mut watch), "fired before the deadline");
        pass(Duration::from_millis(20)).await;
        assert!(fired(&mut watch), "not fired after the deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn heads_that_arrive_in_time_never_fire_it_and_the_last_deadline_counts() {
        let deadline = Arc::new(HeadDeadline::default());
        let timer = HeadTimer(Arc::clone(&deadline));
        let mut watch = Box::pin(Watch::new(Arc::clone(&deadline)));
        // Requests every second for 30 s, each head arriving 1 ms after hyper began reading:
        // the watch, armed at the first deadline, is moved on, never fired.
        for _ in 0..30 {
            let _sleep = timer.sleep(LIMIT);
            assert!(!fired(&mut watch));
            pass(Duration::from_millis(1)).await;
            deadline.clear();
            assert!(!fired(&mut watch));
            pass(Duration::from_millis(999)).await;
            assert!(!fired(&mut watch), "fired though every head arrived");
        }
        // Then a head that never arrives: the timeout counts from when hyper began reading it.
        let _sleep = timer.sleep(LIMIT);
        assert!(!fired(&mut watch));
        pass(LIMIT - Duration::from_millis(10)).await;
        assert!(!fired(&mut watch), "fired before the last head's deadline");
        pass(Duration::from_millis(20)).await;
        assert!(
            fired(&mut watch),
            "not fired after the last head's deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_still_in_progress_at_the_armed_deadline_is_not_cut() {
        let deadline = Arc::new(HeadDeadline::default());
        let timer = HeadTimer(Arc::clone(&deadline));
        let mut watch = Box::pin(Watch::new(Arc::clone(&deadline)));
        let _sleep = timer.sleep(LIMIT);
        assert!(!fired(&mut watch));
        deadline.clear();
        // A long request: the watch's sleep fires at the first deadline and finds no head
        // being read.
        pass(LIMIT * 3).await;
        assert!(
            !fired(&mut watch),
            "cut a connection that was not reading a head"
        );
        // Its answer written, hyper reads the next head: timed afresh.
        let _sleep = timer.sleep(LIMIT);
        assert!(!fired(&mut watch));
        pass(LIMIT - Duration::from_millis(10)).await;
        assert!(!fired(&mut watch));
        pass(Duration::from_millis(20)).await;
        assert!(fired(&mut watch));
    }
}
