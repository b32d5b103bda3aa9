//! The backend of the `cache_calls` model's backend mode: an in-memory map whose
//! operations fail, wait for the harness and complete out of order, as the input says.
//!
//! Each operation takes the next [`OpPlan`] of the input (cycling). A held operation
//! waits until the harness settles it ([`Fake::settle`], any held one, in any order);
//! the others finish on their first poll. A held operation takes effect when it is sent
//! (its reply is slow) or, `late`, when it is settled (the request is slow): a late
//! write lands after a clear sent while it was in flight, a late clear after a read
//! sent before it answered, a late read sees what landed meanwhile. The map keeps the
//! [`Backend`] contract the cache relies on, and no more: no write lands after a clear
//! sent after it finished; a failed write may have landed (a lost reply); a write
//! dropped once sent may still land, until the next clear or settle. Values expire
//! with the cache's expiration, from when they landed.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use haiway::cache::{Backend, BoxError, Clock, ManualClock};

use super::{KEYS, SharedWorld, lock as lock_world};

/// How one backend operation goes, chosen per operation from
/// [`BackendMode::plans`](super::BackendMode::plans).
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct OpPlan {
    /// Waits until the harness settles it; else it finishes on its first poll.
    pub held: bool,
    /// Reports a failure (a failed clear removes nothing).
    pub fails: bool,
    /// A failing write lands all the same (its reply was lost).
    pub lands: bool,
    /// Held, it takes effect when settled; else when sent.
    pub late: bool,
}

/// A value of the model: its key and the run that computed it.
pub(super) type Value = (u8, u32);

/// A value in the map.
#[derive(Debug, Clone, Copy)]
struct Stored {
    value: Value,
    /// When it landed.
    at: Instant,
}

/// A write sent that will land and has not yet.
#[derive(Debug)]
struct Unapplied {
    id: u64,
    key: u8,
    value: Value,
    /// Its future was dropped: it lands at the next clear or settle.
    dropped: bool,
}

/// An operation waiting for the harness.
#[derive(Debug)]
struct Held {
    id: u64,
    settled: bool,
    waker: Option<Waker>,
}

/// The state of [`Fake`].
#[derive(Debug, Default)]
struct State {
    map: [Option<Stored>; KEYS as usize],
    /// The cache's expiration, told when it is built.
    ttl: Option<Duration>,
    plans: Vec<OpPlan>,
    /// Operations so far (the next plan).
    ops: usize,
    next_id: u64,
    held: Vec<Held>,
    unapplied: Vec<Unapplied>,
    /// Draining: nothing waits any more.
    open: bool,
    /// `clear_if` compares; else it clears the key whatever it holds.
    compares: bool,
}

/// The model's backend; clones share it.
#[derive(Clone)]
pub(super) struct Fake {
    state: Arc<Mutex<State>>,
    world: SharedWorld,
    clock: ManualClock,
}

impl Fake {
    pub(super) fn new(
        plans: &[OpPlan],
        compares: bool,
        world: SharedWorld,
        clock: ManualClock,
    ) -> Self {
        let state = State {
            plans: plans.iter().take(64).copied().collect(),
            compares,
            ..State::default()
        };
        Fake {
            state: Arc::new(Mutex::new(state)),
            world,
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next operation's id and plan.
    fn start(&self) -> (u64, OpPlan) {
        let mut st = self.lock();
        let plan = match st.plans.len() {
            0 => OpPlan::default(),
            n => st.plans[st.ops % n],
        };
        st.ops += 1;
        st.next_id += 1;
        let id = st.next_id;
        if plan.held && !st.open {
            st.held.push(Held {
                id,
                settled: false,
                waker: None,
            });
        }
        (id, plan)
    }

    /// Waits until operation `id` is settled (at once if it was not held).
    async fn settled(&self, id: u64) {
        std::future::poll_fn(|cx| {
            let mut st = self.lock();
            let Some(i) = st.held.iter().position(|h| h.id == id) else {
                return Poll::Ready(());
            };
            if st.held[i].settled {
                st.held.remove(i);
                return Poll::Ready(());
            }
            st.held[i].waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }

    /// Settles the `n`th operation still held (modulo their number), if any. Writes
    /// dropped once sent land first.
    pub(super) fn settle(&self, n: u8) {
        let waker = {
            let mut st = self.lock();
            self.land_dropped(&mut st);
            let waiting: Vec<usize> = (0..st.held.len())
                .filter(|&i| !st.held[i].settled)
                .collect();
            if waiting.is_empty() {
                return;
            }
            let i = waiting[usize::from(n) % waiting.len()];
            st.held[i].settled = true;
            st.held[i].waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Settles everything, now and from now on (the drain at the end of a run).
    pub(super) fn open(&self) {
        let wakers: Vec<Waker> = {
            let mut st = self.lock();
            st.open = true;
            self.land_dropped(&mut st);
            st.held
                .iter_mut()
                .filter_map(|h| {
                    h.settled = true;
                    h.waker.take()
                })
                .collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Operations held and not settled.
    pub(super) fn held(&self) -> usize {
        self.lock().held.iter().filter(|h| !h.settled).count()
    }

    /// The value of `key`, unless it expired.
    fn look(&self, key: u8) -> Option<Value> {
        let st = self.lock();
        let now = self.clock.now();
        st.map[usize::from(key)]
            .filter(|s| st.ttl.is_none_or(|ttl| s.at + ttl > now))
            .map(|s| s.value)
    }

    /// Lands write `i` of the unapplied ones.
    fn land(&self, st: &mut State, i: usize) {
        let Unapplied { key, value, .. } = st.unapplied.remove(i);
        let at = self.clock.now();
        st.map[usize::from(key)] = Some(Stored { value, at });
        self.stored(value, at);
    }

    fn land_dropped(&self, st: &mut State) {
        while let Some(i) = st.unapplied.iter().position(|w| w.dropped) {
            self.land(st, i);
        }
    }

    /// Tells the model that run `value.1`'s value was stored (or read) at `at`: it does
    /// not expire before `at` plus the expiration.
    fn stored(&self, value: Value, at: Instant) {
        let mut w = lock_world(&self.world);
        let run = &mut w.runs[value.1 as usize];
        run.stored = run.stored.max(Some(at));
    }
}

/// Marks a sent write dropped if its future is dropped before it landed.
struct SentWrite<'a>(&'a Fake, u64);

impl Drop for SentWrite<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        if let Some(w) = st.unapplied.iter_mut().find(|w| w.id == self.1) {
            w.dropped = true;
        }
        st.held.retain(|h| h.id != self.1);
    }
}

/// Forgets a held operation if its future is dropped.
struct Waiting<'a>(&'a Fake, u64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().held.retain(|h| h.id != self.1);
    }
}

fn failure(what: &str) -> BoxError {
    format!("the model's backend failed a {what}").into()
}

impl Backend<u8, Value> for Fake {
    async fn read(&self, key: &u8) -> Result<Option<Value>, BoxError> {
        let key = *key;
        let (id, plan) = self.start();
        let early = (!plan.late).then(|| self.look(key));
        let waiting = Waiting(self, id);
        self.settled(id).await;
        drop(waiting);
        if plan.fails {
            return Err(failure("read"));
        }
        let found = early.unwrap_or_else(|| self.look(key));
        if let Some(value) = found {
            // Stored again in the memory tier, with a fresh expiration.
            self.stored(value, self.clock.now());
        }
        Ok(found)
    }

    async fn write(&self, key: u8, value: Value) -> Result<(), BoxError> {
        let (id, plan) = self.start();
        if !plan.fails || plan.lands {
            let mut st = self.lock();
            st.unapplied.push(Unapplied {
                id,
                key,
                value,
                dropped: false,
            });
            if !plan.late {
                let i = st.unapplied.len() - 1;
                self.land(&mut st, i);
            }
        }
        let sent = SentWrite(self, id);
        self.settled(id).await;
        {
            let mut st = self.lock();
            if let Some(i) = st.unapplied.iter().position(|w| w.id == id) {
                self.land(&mut st, i);
            }
        }
        drop(sent);
        if plan.fails {
            Err(failure("write"))
        } else {
            Ok(())
        }
    }

    async fn clear(&self, key: Option<&u8>) -> Result<(), BoxError> {
        let key = key.copied();
        let (id, plan) = self.start();
        let apply = || {
            let mut st = self.lock();
            self.land_dropped(&mut st);
            if !plan.fails {
                match key {
                    Some(key) => st.map[usize::from(key)] = None,
                    None => st.map = Default::default(),
                }
            }
        };
        if !plan.late {
            apply();
        }
        let waiting = Waiting(self, id);
        self.settled(id).await;
        drop(waiting);
        if plan.late {
            apply();
        }
        if plan.fails {
            Err(failure("clear"))
        } else {
            Ok(())
        }
    }

    async fn clear_if(&self, key: &u8, value: &Value) -> Result<(), BoxError> {
        let (key, value) = (*key, *value);
        let (id, plan) = self.start();
        let apply = || {
            let mut st = self.lock();
            self.land_dropped(&mut st);
            let holds = st.map[usize::from(key)].is_some_and(|s| s.value == value);
            if !plan.fails && (holds || !st.compares) {
                st.map[usize::from(key)] = None;
            }
        };
        if !plan.late {
            apply();
        }
        let waiting = Waiting(self, id);
        self.settled(id).await;
        drop(waiting);
        if plan.late {
            apply();
        }
        if plan.fails {
            Err(failure("clear_if"))
        } else {
            Ok(())
        }
    }

    fn set_expiration(&mut self, expiration: Option<Duration>) {
        self.lock().ttl = expiration;
    }
}
