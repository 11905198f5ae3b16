//! A connection task's wait for a phase, polled only when the phase channel has woken it.
//!
//! A connection task's select polls every branch at every wake-up, about once per request.
//! Polling the phase channel's wait takes the channel's read lock and a version check each
//! time, ~140 instructions of a ~9,000-instruction `GET /`. Yet only the channel can make
//! the wait ready, and it says so by waking the waker the wait registered. So the wait is
//! polled with a waker of its own, which raises a flag before it wakes the task: the gate
//! polls the wait only when the flag is up (and once at the start), and otherwise answers
//! Pending with the registration left in place.
//!
//! The flag is the only sound trigger. An earlier gate keyed on the phase atomic instead (poll
//! when it differs from the last poll's) and lost wake-ups: a task polled between the atomic's
//! store and the channel's notification registered a wait that the notification then
//! completed; woken, the task saw an unchanged atomic and skipped the poll that re-registers,
//! so the next change reached nobody and an idle HTTP/1 connection stayed open until the
//! drain deadline. tokio's budget did the same: a wait polled with the task's budget spent
//! answers Pending without registering. With the flag, both wake the flag's waker, so both
//! lead to a poll.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio::sync::watch;

use crate::lifecycle::Phase;

/// The channel's wait for `at` (or a later phase).
pub(super) fn until(
    rx: &mut watch::Receiver<Phase>,
    at: Phase,
) -> impl Future<Output = Result<watch::Ref<'_, Phase>, watch::error::RecvError>> + '_ {
    rx.wait_for(move |p| *p >= at)
}

/// The wait's waker: raises `woken`, then wakes the task.
struct Flag {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = &*task {
            task.wake_by_ref();
        }
    }
}

/// Polls `wait` only after it asked to be (see the module's comment).
pub(super) struct PhaseGate<'a, F> {
    wait: Pin<&'a mut F>,
    flag: Arc<Flag>,
    waker: Waker,
    /// The task's waker as last given to `flag` (`None` before the first poll).
    task: Option<Waker>,
}

impl<'a, F: Future> PhaseGate<'a, F> {
    pub(super) fn new(wait: Pin<&'a mut F>) -> Self {
        let flag = Arc::new(Flag {
            // Up at the start: the first poll registers.
            woken: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        PhaseGate {
            wait,
            waker: Waker::from(Arc::clone(&flag)),
            flag,
            task: None,
        }
    }

    /// Ready once the wait is: the phase has reached its target (or the channel closed).
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // A task's waker may change between polls (a tokio task's does not); the flag must
        // wake the latest one.
        if !self.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            self.task = Some(cx.waker().clone());
            *self.flag.task.lock().unwrap_or_else(|e| e.into_inner()) = self.task.clone();
        }
        if !self.flag.woken.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        // Lowered before the poll, so a wake-up during or after it raises it again.
        self.flag.woken.store(false, Ordering::Release);
        // What the wait yields may hold the channel's read lock: dropped at once.
        let mut wait_cx = Context::from_waker(&self.waker);
        self.wait.as_mut().poll(&mut wait_cx).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::lifecycle::Lifecycle;

    /// A task waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counted() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (Arc::clone(&count), Waker::from(count))
    }

    /// The lost wake-up the phase-atomic gate had: a change completes the registered wait;
    /// the gate must poll it again so the next change still wakes the task.
    #[test]
    fn every_change_wakes_the_task_even_when_the_one_before_was_already_seen() {
        let life = Lifecycle::default();
        let mut rx = life.subscribe();
        let wait = until(&mut rx, Phase::Closing);
        let wait = std::pin::pin!(wait);
        let mut gate = PhaseGate::new(wait);
        let (count, task) = counted();
        let mut cx = Context::from_waker(&task);

        assert!(gate.poll(&mut cx).is_pending());
        for (phase, wakes) in [(Phase::Ready, 1), (Phase::Draining, 2)] {
            life.advance(phase);
            assert_eq!(
                count.0.load(Ordering::SeqCst),
                wakes,
                "{phase:?} woke the task"
            );
            assert!(gate.poll(&mut cx).is_pending());
            // Woken for nothing new (another branch, say): nothing to do, still registered.
            assert!(gate.poll(&mut cx).is_pending());
        }
        life.advance(Phase::Closing);
        assert_eq!(count.0.load(Ordering::SeqCst), 3, "closing woke the task");
        assert!(gate.poll(&mut cx).is_ready());
    }

    /// Between its wake-ups the wait is not polled at all; after one it is, even when the
    /// wake-up brings nothing new (the notification of a change the last poll already saw):
    /// that poll is what registers again.
    #[test]
    fn polls_the_wait_only_when_it_asked() {
        let polls = Cell::new(0);
        let stored = Arc::new(Mutex::new(None::<Waker>));
        let wait = std::future::poll_fn(|cx| {
            polls.set(polls.get() + 1);
            *stored.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        });
        let wait = std::pin::pin!(wait);
        let mut gate = PhaseGate::new(wait);
        let (count, task) = counted();
        let mut cx = Context::from_waker(&task);
        for _ in 0..3 {
            assert!(gate.poll(&mut cx).is_pending());
        }
        assert_eq!(polls.get(), 1);
        stored.lock().unwrap().take().unwrap().wake();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "the wait's wake reaches the task"
        );
        assert!(gate.poll(&mut cx).is_pending());
        assert!(gate.poll(&mut cx).is_pending());
        assert_eq!(polls.get(), 2);
    }

    /// A wait polled with the task's cooperative budget spent answers Pending without
    /// registering, and wakes the waker it was given: the gate's flag, so it is polled again.
    #[tokio::test]
    async fn a_poll_refused_for_budget_is_retried() {
        tokio::spawn(async {
            let life = Lifecycle::default();
            let mut rx = life.subscribe();
            let wait = until(&mut rx, Phase::Closing);
            let wait = std::pin::pin!(wait);
            let mut gate = PhaseGate::new(wait);
            std::future::poll_fn(|cx| {
                while let Poll::Ready(progress) = tokio::task::coop::poll_proceed(cx) {
                    progress.made_progress();
                }
                assert!(gate.poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            tokio::task::yield_now().await;
            let (count, task) = counted();
            let mut cx = Context::from_waker(&task);
            assert!(gate.poll(&mut cx).is_pending());
            life.advance(Phase::Closing);
            assert_eq!(count.0.load(Ordering::SeqCst), 1, "closing woke the task");
            assert!(gate.poll(&mut cx).is_ready());
        })
        .await
        .unwrap();
    }
}
