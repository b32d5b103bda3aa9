//! [`TaskSet`]: the tasks of one scope, how many are alive, how to cancel them, and
//! the queue of tasks a scope without a spawner drives itself.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Waker;

use event_listener::Event;
use slab::Slab;

use super::panics::{FirstPanic, drop_each};
use crate::runtime::{BoxFuture, Spawn};
use crate::sync::{AtomicU64, Mutex, MutexGuard};

/// The tasks of one scope: how many are alive, how to cancel them, and (for a scope
/// without a spawner) the queue of tasks the scope has yet to start driving.
pub(crate) struct TaskSet {
    /// Everything, under one lock: spawning and finishing each take it once.
    state: Mutex<SetState>,
    /// How many tasks were ever spawned in this set (from any thread): written under
    /// the lock, read without it (see [`TaskSet::spawned`]).
    spawned: AtomicU64,
    /// Notified each time the last live task finishes: what a background owner's
    /// shutdown waits on (the scope itself waits through `waker`).
    idle: Event,
}

/// The lock-protected part of a [`TaskSet`].
struct SetState {
    /// The scope has ended (or its future was dropped): no more spawning.
    closed: bool,
    /// The scope's future is being dropped: tasks spawned now (by its body's
    /// destructors) are cancelled from the start.
    aborting: bool,
    /// Tasks spawned and not yet finished or dropped.
    live: usize,
    /// One cancel handle per live task, removed when the task finishes.
    aborts: Slab<Arc<dyn Abort>>,
    /// For a scope that drives its own tasks: spawned, not yet picked up by the scope.
    queue: Vec<BoxFuture>,
    /// The scope's waker: woken when a task is queued or the last task finishes.
    waker: Option<Waker>,
}

impl TaskSet {
    /// An empty, open set.
    pub(crate) fn new() -> Self {
        TaskSet {
            spawned: AtomicU64::new(0),
            idle: Event::new(),
            state: Mutex::new(SetState {
                closed: false,
                aborting: false,
                live: 0,
                aborts: Slab::new(),
                queue: Vec::new(),
                waker: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SetState> {
        self.state.lock()
    }

    /// Adds a task to the set, with `abort` to cancel it: `runner` makes the task's
    /// runner from `future` and the task's key, and the runner goes to `spawner`, or,
    /// without one, to the queue the scope drives. Hands `future` back if the set is
    /// closed (the scope has ended).
    pub(crate) fn add<F>(
        &self,
        abort: Arc<dyn Abort>,
        future: F,
        runner: impl FnOnce(F, usize) -> BoxFuture,
        spawner: Option<&Arc<dyn Spawn>>,
    ) -> Result<(), F> {
        let mut st = self.lock();
        if st.closed {
            return Err(future);
        }
        if st.aborting {
            abort.flag();
        }
        let key = st.aborts.insert(abort);
        st.live += 1;
        // Only ever written under the lock: a load and a store, no read-modify-write.
        self.spawned.store(
            self.spawned.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        let runner = runner(future, key);
        match spawner {
            Some(spawner) => {
                drop(st);
                spawner.spawn(runner);
            }
            None => {
                // The scope drives this task itself: queue it and wake the scope.
                st.queue.push(runner);
                let waker = st.waker.clone();
                drop(st);
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
        Ok(())
    }

    /// Unregisters a finished (or dropped) task: called once per task, from its
    /// runner's drop, whether it finished, was cancelled, or its executor dropped it.
    pub(crate) fn unregister(&self, key: usize) {
        let (idle, waker) = {
            let mut st = self.lock();
            st.aborts.try_remove(key);
            st.live -= 1;
            if st.live == 0 {
                (true, st.waker.take())
            } else {
                (false, None)
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        if idle {
            // No listener (the usual case): one atomic load.
            self.idle.notify(usize::MAX);
        }
    }

    /// How many tasks are alive (spawned, not yet finished or dropped).
    pub(crate) fn live(&self) -> usize {
        self.lock().live
    }

    /// A listener notified when the last live task finishes: create it, then look at
    /// [`live`](Self::live) again, then await it.
    pub(crate) fn listen_idle(&self) -> event_listener::EventListener {
        self.idle.listen()
    }

    /// Cancels every task alive now, without closing the set or cancelling tasks
    /// spawned later (a background owner's shutdown, past its deadline). Each is
    /// dropped the next time its executor polls it. Returns how many there were.
    pub(crate) fn cut_off(&self, panics: &mut FirstPanic) -> usize {
        let aborts: Vec<Arc<dyn Abort>> = {
            let st = self.lock();
            st.aborts.iter().map(|(_, abort)| abort.clone()).collect()
        };
        let count = aborts.len();
        abort_each(panics, aborts, false);
        count
    }

    /// How many tasks were ever spawned in this set. Two readings tell whether code
    /// spawned into the scope in between, from whatever thread, as long as the spawn
    /// happened before the second reading.
    pub(crate) fn spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// Takes the tasks queued for a scope that drives its own tasks, and registers the
    /// scope's waker for new ones.
    pub(crate) fn take_queued(&self, waker: &Waker, out: &mut Vec<BoxFuture>) {
        let mut st = self.lock();
        out.append(&mut st.queue);
        register(&mut st.waker, waker);
    }

    /// Whether every task has finished. If so, closes the set for good; if not,
    /// registers `waker` to be woken when the last one finishes.
    pub(crate) fn try_close(&self, waker: &Waker) -> bool {
        let mut st = self.lock();
        if st.live == 0 && st.queue.is_empty() {
            st.closed = true;
            st.waker = None;
            true
        } else {
            register(&mut st.waker, waker);
            false
        }
    }

    /// Cancels every unfinished task, and every task spawned from now on, but leaves
    /// the set open: the scope's future is being dropped, and its body's destructors,
    /// which run next, may still spawn (what they spawn never runs).
    ///
    /// `settle`: also report them cancelled to their handles at once. Right only when
    /// the scope drives its tasks itself, so none can be polled any more; a task on a
    /// spawner may still be mid-poll elsewhere (or have child scopes running), and
    /// its handle learns it was cancelled when its executor drops it.
    pub(crate) fn abort_all(&self, panics: &mut FirstPanic, settle: bool) {
        let aborts: Vec<Arc<dyn Abort>> = {
            let mut st = self.lock();
            st.aborting = true;
            // Nobody polls a scope that is being dropped.
            st.waker = None;
            st.aborts.iter().map(|(_, abort)| abort.clone()).collect()
        };
        // Outside the lock: aborting wakes handles and runners, which is executor code.
        abort_each(panics, aborts, settle);
    }

    /// Closes the set and cancels every unfinished task (the scope future was dropped).
    ///
    /// Runners queued and never started are dropped first, while the set is open, so
    /// their futures' destructors may spawn as the body's do. Every step runs even if
    /// one panics (destructors and wakers are user code); `panics` keeps the first.
    pub(crate) fn cancel_all(&self, panics: &mut FirstPanic) {
        // Their destructors may queue more: a few rounds, then the set closes anyway.
        for _ in 0..NEVER_STARTED_ROUNDS {
            let never_started = std::mem::take(&mut self.lock().queue);
            if never_started.is_empty() {
                break;
            }
            drop_each(panics, never_started);
        }
        let (aborts, queue) = {
            let mut st = self.lock();
            st.closed = true;
            st.waker = None;
            (
                std::mem::take(&mut st.aborts),
                std::mem::take(&mut st.queue),
            )
        };
        // Outside the lock: aborting wakes handles and runners, and dropping a queued
        // runner takes the lock to unregister.
        abort_each(panics, aborts.into_iter().map(|(_, abort)| abort), false);
        drop_each(panics, queue);
    }
}

impl fmt::Debug for TaskSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("TaskSet")
            .field("live", &st.live)
            .field("closed", &st.closed)
            .finish()
    }
}

/// Type-erased cancellation of one task, kept by the scope.
pub(crate) trait Abort: Send + Sync {
    /// Marks the task cancelled: its runner never polls its future again. Runs no
    /// user code.
    fn flag(&self);
    /// Tells the task's handle it was cancelled, if it had no outcome yet (so code
    /// awaiting it, even a destructor of the scope's body, does not wait for the
    /// runner). Wakes the handle: executor code.
    fn settle(&self);
    /// Wakes the runner, so its executor drops it soon. Executor code.
    fn wake_runner(&self);
}

/// How many rounds of queued, never-started tasks a cancelled scope drops while tasks
/// can still be spawned (by the destructors of the round before).
const NEVER_STARTED_ROUNDS: usize = 8;

/// Cancels every task of `aborts`: all are flagged first (no user code), then (with
/// `settle`) each handle is told, and each runner woken, each even if a waker before
/// it panicked.
fn abort_each(
    panics: &mut FirstPanic,
    aborts: impl IntoIterator<Item = Arc<dyn Abort>>,
    settle: bool,
) {
    let aborts: Vec<Arc<dyn Abort>> = aborts.into_iter().collect();
    for abort in &aborts {
        abort.flag();
    }
    for abort in &aborts {
        if settle {
            panics.run(|| abort.settle());
        }
        panics.run(|| abort.wake_runner());
    }
}

/// Stores `waker` unless an equivalent one is already there.
pub(crate) fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
