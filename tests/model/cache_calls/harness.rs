//! The harness of the `cache_calls` model: the callers, clears and spawned tasks of
//! one replay, polled as the ops say, and the checks made after every step.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use haiway::Scope;
use haiway::cache::{CacheError, Clock, ManualClock};
use haiway::runtime::BoxFuture;

use super::backend::Fake;
use super::{Handle, KEYS, MAX_CALLERS, MAX_CLEARS, Outcome, Run, SharedWorld, Spawning, lock};
use crate::exec::{BodyPanic, Polled, Task};

/// Names a caller and the run it got, in a failed check's message.
struct Who<'a>(u8, u32, &'a Run);

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "caller of key {} got run {} {:?}",
            self.0, self.1, self.2
        )
    }
}

/// A caller: a task calling the cache for `key`.
struct Caller<'c> {
    key: u8,
    task: Task<'c, Outcome>,
    /// Its key's floor, step and clock reading at its first poll (its first lookup).
    first: Option<(u64, u64, Instant)>,
    /// Its key's flight epoch at its first poll.
    flight_epoch: u64,
    cancel_after: Option<u8>,
}

/// A clear running as a task.
struct Clear<'c> {
    /// The key cleared; `None`: everything.
    key: Option<u8>,
    /// Clears started before it, itself included.
    epoch: u64,
    task: Task<'c, Result<(), CacheError>>,
}

/// The callers, clears and spawned tasks, and what the checks need.
pub(super) struct Harness<'c> {
    handle: &'c Handle,
    world: &'c SharedWorld,
    clock: &'c ManualClock,
    ttl: Option<Duration>,
    /// The memory tier's limit (0: no memory tier).
    limit: usize,
    /// The backend, in the backend mode.
    backend: Option<&'c Fake>,
    spawning: Spawning,
    /// What the callers' scopes spawned and the harness has not taken yet.
    queue: Arc<Mutex<Vec<BoxFuture>>>,
    callers: Vec<Caller<'c>>,
    clears: Vec<Clear<'c>>,
    /// The tasks the scopes spawned (their backend writes), in the `Spawner` mode.
    spawned: Vec<Task<'static, ()>>,
    /// Callers that made their first lookup.
    pub(super) looked_up: u64,
}

impl<'c> Harness<'c> {
    /// No callers yet.
    pub(super) fn new(
        handle: &'c Handle,
        world: &'c SharedWorld,
        clock: &'c ManualClock,
        ttl: Option<Duration>,
        limit: usize,
        backend: Option<&'c Fake>,
        spawning: Spawning,
    ) -> Self {
        Harness {
            handle,
            world,
            clock,
            ttl,
            limit,
            backend,
            spawning,
            queue: Arc::default(),
            callers: Vec::new(),
            clears: Vec::new(),
            spawned: Vec::new(),
            looked_up: 0,
        }
    }

    /// A new caller of `key`, unless there are too many already.
    pub(super) fn call(&mut self, key: u8, cancel_after: Option<u8>) {
        if self.callers.len() >= MAX_CALLERS {
            return;
        }
        let call = self.handle.call(key);
        let task = match self.spawning {
            Spawning::Inline => Task::new(call),
            Spawning::ScopeDrives => Task::new(Scope::new("caller").run(call)),
            Spawning::Spawner => {
                let queue = self.queue.clone();
                let spawner = move |task: BoxFuture| {
                    queue
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(task);
                };
                Task::new(Scope::new("caller").spawner(spawner).run(call))
            }
        };
        self.callers.push(Caller {
            key,
            task,
            first: None,
            flight_epoch: 0,
            cancel_after,
        });
    }

    /// Polls caller `n` (modulo their number), if any, if it was woken.
    pub(super) fn poll_nth(&mut self, n: u8) {
        if !self.callers.is_empty() {
            self.poll(usize::from(n) % self.callers.len());
        }
    }

    /// Drops caller `n` (modulo their number), if any.
    pub(super) fn cancel_nth(&mut self, n: u8) {
        if !self.callers.is_empty() {
            let i = usize::from(n) % self.callers.len();
            drop(self.callers.remove(i));
        }
    }

    /// Polls spawned task `n` (modulo their number), if any, if it was woken.
    pub(super) fn poll_spawned_nth(&mut self, n: u8) {
        if !self.spawned.is_empty() {
            self.poll_spawned(usize::from(n) % self.spawned.len());
        }
    }

    /// Starts a clear and polls it once, unless too many are running.
    pub(super) fn clear(&mut self, key: Option<u8>) {
        if self.clears.len() >= MAX_CLEARS {
            return;
        }
        let epoch = {
            let mut w = lock(self.world);
            w.clears += 1;
            w.clears
        };
        self.clears.push(Clear {
            key,
            epoch,
            task: self.handle.clear(key),
        });
        self.poll_clear(self.clears.len() - 1);
    }

    /// Polls clear `i` if it was woken; whether it is gone (finished).
    fn poll_clear(&mut self, i: usize) -> bool {
        lock(self.world).step += 1;
        let polled = self.clears[i].task.poll();
        self.take_spawned();
        let clear = &self.clears[i];
        let keys = match clear.key {
            Some(key) => usize::from(key)..usize::from(key) + 1,
            None => 0..usize::from(KEYS),
        };
        // A clear empties the memory tier on its first poll, and again when it returns.
        let emptied = matches!(polled, Polled::Ready(_)) as u64
            + u64::from(clear.task.polls == 1 && !matches!(polled, Polled::Idle));
        lock(self.world).flight_epochs[keys.clone()]
            .iter_mut()
            .for_each(|e| *e += emptied);
        match polled {
            Polled::Idle => false,
            Polled::Pending => {
                assert!(
                    self.backend.is_some(),
                    "an in-memory clear finishes at once"
                );
                false
            }
            Polled::Ready(cleared) => {
                let clear = self.clears.remove(i);
                match cleared {
                    Ok(()) => lock(self.world).floors[keys]
                        .iter_mut()
                        .for_each(|f| *f = (*f).max(clear.epoch)),
                    Err(e) => assert!(self.backend.is_some(), "an in-memory clear failed: {e}"),
                }
                if clear.key.is_none() {
                    assert_eq!(self.handle.stats().len, 0, "clear_cache left values");
                }
                true
            }
            Polled::Panicked(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Polls spawned task `i` if it was woken; whether it is gone (finished).
    fn poll_spawned(&mut self, i: usize) -> bool {
        lock(self.world).step += 1;
        let polled = self.spawned[i].poll();
        self.take_spawned();
        self.check_store();
        match polled {
            Polled::Idle | Polled::Pending => false,
            Polled::Ready(()) => {
                self.spawned.remove(i);
                true
            }
            Polled::Panicked(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Takes what the scopes spawned since the last look.
    fn take_spawned(&mut self) {
        let new = std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        self.spawned.extend(new.into_iter().map(Task::new));
    }

    /// Polls every woken caller, clear and spawned task once; whether any was.
    pub(super) fn poll_all(&mut self) -> bool {
        let mut any = false;
        let mut i = 0;
        while i < self.callers.len() {
            if self.callers[i].task.is_woken() {
                any = true;
                if self.poll(i) {
                    continue; // removed: the next caller is now at `i`
                }
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.clears.len() {
            if self.clears[i].task.is_woken() {
                any = true;
                if self.poll_clear(i) {
                    continue;
                }
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.spawned.len() {
            if self.spawned[i].is_woken() {
                any = true;
                if self.poll_spawned(i) {
                    continue;
                }
            }
            i += 1;
        }
        any
    }

    /// Polls until nobody is woken any more; then everything must have finished.
    pub(super) fn drain(&mut self) {
        for _ in 0..100_000 {
            if !self.poll_all() {
                break;
            }
        }
        let stuck: Vec<_> = self.callers.iter().map(|c| (c.key, c.task.polls)).collect();
        assert!(
            stuck.is_empty(),
            "callers (key, polls) {stuck:?} never finished: pending with nobody to wake them"
        );
        let clears: Vec<_> = self.clears.iter().map(|c| c.key).collect();
        assert!(clears.is_empty(), "clears of {clears:?} never finished");
        assert!(
            self.spawned.is_empty(),
            "{} spawned tasks never finished",
            self.spawned.len()
        );
        if let Some(backend) = self.backend {
            assert_eq!(backend.held(), 0, "backend operations still held");
        }
    }

    /// Polls caller `i` if it was woken; whether it is gone (finished or cancelled).
    fn poll(&mut self, i: usize) -> bool {
        let polled = {
            let caller = &mut self.callers[i];
            if caller.first.is_none() && caller.task.is_woken() {
                let w = lock(self.world);
                let floor = w.floors[usize::from(caller.key)];
                caller.first = Some((floor, w.step, self.clock.now()));
                caller.flight_epoch = w.flight_epochs[usize::from(caller.key)];
                self.looked_up += 1;
            }
            {
                let mut w = lock(self.world);
                w.step += 1;
                w.driver = Some(caller.flight_epoch);
            }
            let polled = caller.task.poll();
            lock(self.world).driver = None;
            polled
        };
        self.take_spawned();
        self.check_store();
        let caller = &self.callers[i];
        match polled {
            Polled::Idle => false,
            Polled::Pending => {
                let polls = caller.task.polls;
                if caller.cancel_after.is_some_and(|n| polls >= u32::from(n)) {
                    drop(self.callers.remove(i));
                    return true;
                }
                false
            }
            Polled::Ready(outcome) => {
                self.check_outcome(caller, &outcome);
                self.callers.remove(i);
                true
            }
            Polled::Panicked(payload) => {
                let Some(&BodyPanic(run)) = payload.downcast_ref::<BodyPanic>() else {
                    std::panic::resume_unwind(payload);
                };
                let w = lock(self.world);
                let r = &w.runs[run as usize];
                assert!(r.body.panics, "run {run} panicked unplanned");
                assert_eq!(
                    r.key, caller.key,
                    "caller of {} got run {run}'s panic",
                    caller.key
                );
                drop(w);
                self.callers.remove(i);
                true
            }
        }
    }

    /// What a finished caller got is of its key, not cleared before it looked, not
    /// expired when it looked.
    fn check_outcome(&self, caller: &Caller<'_>, outcome: &Outcome) {
        let (floor, first_step, first_at) = caller.first.expect("polled");
        let w = lock(self.world);
        let run = match outcome {
            Ok((key, run)) => {
                assert_eq!(
                    *key, caller.key,
                    "caller of {} got key {key}'s value",
                    caller.key
                );
                *run
            }
            Err(failed) => failed.0,
        };
        let r = &w.runs[run as usize];
        // Formatted only when a check fails.
        let who = Who(caller.key, run, r);
        assert_eq!(r.key, caller.key, "{who}: another key's run");
        assert!(
            r.epoch >= floor,
            "{who}: computed before a clear this caller came after (epoch {floor})"
        );
        let (done_step, _) = r.finished.expect("an outcome comes from a finished run");
        assert_eq!(
            outcome.is_err(),
            r.body.fails && matches!(self.handle, Handle::Fallible(_))
        );
        if outcome.is_err() {
            // Errors are shared with waiters, never stored.
            assert!(
                done_step >= first_step,
                "{who}: an error served from the store"
            );
        }
        if let Some(ttl) = self.ttl {
            let stored = r.stored.expect("a finished run's value was stored");
            assert!(
                stored + ttl > first_at,
                "{who}: expired when the caller looked ({:?} after it was stored)",
                first_at - stored
            );
        }
    }

    pub(super) fn check_store(&self) {
        self.handle.validate();
        let stats = self.handle.stats();
        assert!(
            stats.len <= self.limit,
            "{} values over the limit {}",
            stats.len,
            self.limit
        );
        // With a backend, a lookup counts once the backend answered.
        let counted = stats.hits + stats.misses;
        assert!(
            counted == self.looked_up || (self.backend.is_some() && counted < self.looked_up),
            "each caller counts once, as a hit or a miss: {counted} counted, {} looked up",
            self.looked_up
        );
    }
}
