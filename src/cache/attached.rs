//! A call's place in a flight ([`Attached`]), the guard of a call holding its flight's
//! run ([`Held`]), and the miss path that gives a call its place ([`Core::miss`]): join
//! the key's flight, or reserve a pending node and lead a new one. Apart from
//! [`core`](super::core) and [`flight`](super::flight) because it names both, and
//! neither names it: the store does not know the calls.

use std::hash::Hash;
use std::sync::Arc;

use event_listener::EventListener;

use super::core::{Core, KeyRef, Locked};
use super::flight::{Flight, Follow, Inner, Run, Work};
use super::lru::{Reserve, Seen};
use super::run::Runner;
use super::shard::{Pending, ShardState};
use crate::ctx;

/// What [`Core::miss`] found.
pub(crate) enum Missed<'a, A, K, V, E> {
    /// A live value after all (a retry found it): counted as a hit.
    Hit(V),
    /// Another call leads this key's flight: this call joined it.
    Join(Attached<'a, A, K, V, E>),
    /// This call leads a new flight, holding its run: it starts it.
    Lead {
        /// The call's place in the flight.
        attached: Attached<'a, A, K, V, E>,
        /// With a backend, a copy of the key to read.
        key: Option<K>,
        /// The arguments to start the run with.
        args: A,
        /// The kept flight's empty runner, if the flight was a kept one.
        runner: Option<Runner<A, V, E>>,
        /// The value of an expired entry the pending node replaced, to drop once the
        /// lock is released.
        expired: Option<V>,
        /// Whether to record `cache.miss` (counted already), once the call holds the run.
        record_miss: bool,
    },
}

impl<A, K, V, E> Core<A, K, V, E>
where
    A: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// [`miss`](Self::miss), out of line: for a run started again after its flight was
    /// cleared (the lead path of a call has its own copy, inlined).
    #[cold]
    #[inline(never)]
    pub(crate) fn miss_again<'s>(
        &'s self,
        locked: Locked<'s, A, K, V, E>,
        args: A,
        made: Option<K>,
        count: bool,
    ) -> Missed<'s, A, K, V, E> {
        self.miss(locked, args, made, count)
    }

    /// The miss path, with the shard's lock `st` from [`hit`](Self::hit): join the
    /// key's flight, or lead a new one. Counts and records a miss when `count`. `made`:
    /// the key, made before the lock was taken, in a cache with a key function (the
    /// key function is user code, never run under the lock); `None`: the arguments are
    /// the key. A key made is dropped once the lock is released.
    #[inline(always)]
    pub(crate) fn miss<'s>(
        &'s self,
        (mut st, hash, now, mut seen): Locked<'s, A, K, V, E>,
        args: A,
        made: Option<K>,
        count: bool,
    ) -> Missed<'s, A, K, V, E> {
        let mut args = args;
        let mut key = self.key_or_made(made, &args);
        // With a backend a leader's hit or miss is known only once it has read.
        let uncounted = count && self.backend.is_some();
        loop {
            let ShardState {
                store,
                spare,
                spare_runner,
                ..
            } = &mut *st;
            // The flight of a new pending node: the shard's kept one if nobody holds
            // it any more, else a new one.
            let mut led = None;
            let mut runner = None;
            let mut left_behind = Vec::new();
            let found = store.reserve(
                hash,
                &*key,
                now,
                seen,
                || (*key).clone(),
                #[inline(always)]
                || {
                    runner = spare_runner.take();
                    let kept = spare.take().and_then(
                        #[inline(always)]
                        |mut kept| {
                            left_behind = Arc::get_mut(&mut kept)?.reuse(uncounted);
                            Some(kept)
                        },
                    );
                    let flight = kept.unwrap_or_else(|| Arc::new(Flight::new(uncounted)));
                    led = Some(flight.clone());
                    Pending(flight)
                },
            );
            match found {
                Reserve::Live(value) => {
                    let value = value.clone();
                    if count {
                        st.counts.hit();
                    }
                    // Before the key made, if any, is dropped.
                    drop(st);
                    if count {
                        ctx::record_debug(&self.events.hit);
                    }
                    return Missed::Hit(value);
                }
                Reserve::Pending(slot, Pending(flight)) => {
                    let flight = flight.clone();
                    // `args` is handed over below: a key borrowed from them goes now, a
                    // key made (user code to drop) once the lock is released.
                    let made = match key {
                        KeyRef::Owned(made) => Some(made),
                        KeyRef::Borrowed(_) => None,
                    };
                    if let Err(back) = flight.join(args) {
                        // Its last caller is on the way out, freeing the key: free it
                        // here, and lead a new flight.
                        args = back;
                        let stale = st.store.remove_pending(slot);
                        drop(st);
                        drop((stale, flight));
                        key = self.key_or_made(made, &args);
                        st = self.shard(hash).lock();
                        // What the hit saw held only while its lock was.
                        seen = Seen::UNKNOWN;
                        continue;
                    }
                    if count {
                        st.counts.joined();
                    }
                    drop(st);
                    drop(made);
                    // A recorder is user code: if it panics, this call leaves.
                    let attached = Attached::new(self, hash, slot, flight);
                    if count {
                        ctx::record_debug(&self.events.miss);
                    }
                    return Missed::Join(attached);
                }
                Reserve::Reserved(slot, expired) => {
                    let flight = led.expect("a reserved node has a new flight");
                    let record_miss = count && !uncounted;
                    if record_miss {
                        st.counts.miss();
                    }
                    drop(st);
                    let mut attached = Attached::new(self, hash, slot, flight);
                    // User code from here (the `Drop` of arguments left in a kept flight
                    // and of a key made, a borrowed key's `Clone`), while this call
                    // holds the run: a panic drops the run, and frees the key.
                    let held = Held::new(&mut attached);
                    drop(left_behind);
                    let key = self.backend.as_ref().map(|_| key.into_owned());
                    held.disarm();
                    return Missed::Lead {
                        attached,
                        key,
                        args,
                        runner,
                        expired,
                        record_miss,
                    };
                }
            }
        }
    }
}

impl<A, K, V, E> Core<A, K, V, E> {
    /// Frees the pending node `slot` of the key with hash `hash` if it still holds
    /// `flight` (whose run was dropped); `uncounted`: a backend lookup that never told
    /// a hit from a miss, counted as a miss. Needs no bounds: a call's `Drop` reaches it.
    pub(crate) fn release(
        &self,
        hash: u64,
        slot: usize,
        flight: &Flight<A, V, E>,
        uncounted: bool,
    ) {
        let removed = {
            let mut st = self.shard(hash).lock();
            if uncounted {
                st.counts.miss();
            }
            st.release(slot, flight)
        };
        // The key and the node's hold on the flight (maybe its last, and so the run's
        // runner) are dropped outside the lock.
        drop(removed);
        // Not while unwinding: a recorder that panicked now would abort the process.
        if uncounted && !std::thread::panicking() {
            ctx::record_debug(&self.events.miss);
        }
    }
}

/// A call's place in a flight: counted among its callers until it leaves, which it does
/// when dropped (see the [flight docs](super::flight) for what leaving does to the run).
pub(crate) struct Attached<'a, A, K, V, E> {
    /// The cache.
    pub(crate) core: &'a Core<A, K, V, E>,
    /// The key's hash (finds the shard).
    pub(crate) hash: u64,
    /// The flight's pending node in the shard's store.
    pub(crate) slot: usize,
    /// The flight.
    pub(crate) flight: Arc<Flight<A, V, E>>,
    /// Registered interest in the flight's next wake-up.
    pub(crate) listener: Option<EventListener>,
    /// [`ctx::spawn_mark`] when this call first drove the run: a different mark when it
    /// leaves means the run may have spawned tasks into this call's scope, which may
    /// end with the call; then the run is dropped (spawns from other threads count
    /// too).
    pub(crate) mark: Option<u64>,
    /// Whether this call still counts among the flight's callers.
    joined: bool,
}

impl<'a, A, K, V, E> Attached<'a, A, K, V, E> {
    /// A call that joined `flight` (already counted by [`Flight::join`]).
    pub(crate) fn new(
        core: &'a Core<A, K, V, E>,
        hash: u64,
        slot: usize,
        flight: Arc<Flight<A, V, E>>,
    ) -> Self {
        Attached {
            core,
            hash,
            slot,
            flight,
            listener: None,
            mark: None,
            joined: true,
        }
    }

    /// This call no longer counts among the callers (the flight's count was settled
    /// by whoever detached it).
    pub(crate) fn detach(mut self) {
        self.joined = false;
    }

    /// This membership, put to rest in a follower's run (see [`Follow`]).
    pub(crate) fn into_follow(mut self, listener: Option<EventListener>) -> Follow<A, V, E> {
        self.joined = false;
        Follow {
            flight: self.flight.clone(),
            slot: self.slot,
            listener,
        }
    }

    /// The membership a follower's run rested (see [`Follow`]), woken up again.
    pub(crate) fn from_follow(
        core: &'a Core<A, K, V, E>,
        hash: u64,
        follow: Follow<A, V, E>,
    ) -> (Self, Option<EventListener>) {
        let attached = Attached::new(core, hash, follow.slot, follow.flight);
        (attached, follow.listener)
    }

    /// The run this call held (took out to poll or start) was dropped, by a panic:
    /// this call leaves, and the run starts again for the callers left (none left:
    /// the key is freed).
    #[cold]
    #[inline(never)]
    pub(crate) fn dropped_while_held(&mut self) {
        self.joined = false;
        let mut inner = self.flight.lock();
        inner.callers -= 1;
        self.drop_run(inner, None);
    }

    /// Leaves the flight. The run is dropped if this was its last caller, and started
    /// again if this call drove it and spawned into its scope since, or is unwinding.
    /// Out of line: waiting is the rare path.
    #[cold]
    #[inline(never)]
    fn leave(&mut self) {
        self.joined = false;
        let doom = std::thread::panicking() || self.mark.is_some_and(|m| ctx::spawn_mark() != m);
        let mut inner = self.flight.lock();
        inner.callers -= 1;
        match inner.run {
            Run::Idle(_) if inner.callers == 0 || doom => {
                let Run::Idle(work) = std::mem::replace(&mut inner.run, Run::Polling) else {
                    unreachable!("matched above")
                };
                self.drop_run(inner, Some(work));
            }
            Run::Restart if inner.callers == 0 => self.drop_run(inner, None),
            // Whoever polls it starts it again when its poll returns.
            Run::Polling if doom => inner.doomed = true,
            _ => {}
        }
    }

    /// Drops the run (`work`, if this call has it; the flight's run is not `Idle`):
    /// with callers left it starts again, else the flight is abandoned and the key
    /// freed. What is dropped (user code) is dropped after every lock is released.
    fn drop_run(
        &self,
        mut inner: crate::sync::MutexGuard<'_, Inner<A, V, E>>,
        work: Option<Work<A, V, E>>,
    ) {
        if inner.callers > 0 {
            inner.run = Run::Restart;
            drop(inner);
            self.flight.notify();
            if let Some(Work::Follow(follow)) = work {
                drop(Attached::from_follow(self.core, self.hash, follow));
            } else {
                drop(work);
            }
            return;
        }
        inner.run = Run::Abandoned;
        let uncounted = std::mem::take(&mut inner.uncounted);
        let donations = std::mem::take(&mut inner.donations);
        drop(inner);
        self.core
            .release(self.hash, self.slot, &self.flight, uncounted);
        // A followed flight is left as its other callers leave (this `Attached`'s drop).
        let followed = match work {
            Some(Work::Follow(follow)) => Some(Attached::from_follow(self.core, self.hash, follow)),
            other => {
                drop(other);
                None
            }
        };
        drop((followed, donations));
    }
}

impl<A, K, V, E> Drop for Attached<'_, A, K, V, E> {
    #[inline]
    fn drop(&mut self) {
        if self.joined {
            self.leave();
        }
    }
}

/// A call holding its flight's run (taken out to poll it): dropped armed (a panic in
/// the poll), it drops the run and the callers start over.
pub(crate) struct Held<'x, 'a, A, K, V, E>(Option<&'x mut Attached<'a, A, K, V, E>>);

impl<'x, 'a, A, K, V, E> Held<'x, 'a, A, K, V, E> {
    /// `attached` holds its flight's run. Its spawn mark is taken now, if it has none
    /// yet: before the run (the function's synchronous part included) can spawn.
    #[inline(always)]
    pub(crate) fn new(attached: &'x mut Attached<'a, A, K, V, E>) -> Self {
        attached.mark.get_or_insert_with(ctx::spawn_mark);
        Held(Some(attached))
    }

    pub(crate) fn attached(&self) -> &Attached<'a, A, K, V, E> {
        self.0.as_deref().expect("held while driving")
    }

    /// The run is back in the flight, or finished: nothing to drop.
    #[inline(always)]
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl<A, K, V, E> Drop for Held<'_, '_, A, K, V, E> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(attached) = self.0.take() {
            attached.dropped_while_held();
        }
    }
}
