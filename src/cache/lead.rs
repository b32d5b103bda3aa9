//! The lean lead path of a miss: the common miss (no node for the key, no backend)
//! straight through, in one inlined run of code, with every other case handed to the
//! general path ([`Core::miss`], [`Core::drive`], [`Core::complete`]) at the point where
//! it arises.
//!
//! It takes the steps the general path takes (reserve a pending node holding a flight,
//! count and record the miss, start the function and poll it with the flight's waker,
//! store the value, keep the flight and runner for the shard's next miss), in the same
//! order and under the same locks, with the same guard for a panic. What it leaves out
//! are the general path's branches and hand-offs: no probe result to look at (the
//! lookup saw no node), no backend, no restart, and no reset of the kept flight (only
//! a flight no call joined is kept: see [`flight`](super::flight)).

use std::hash::Hash;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::attached::{Attached, Held};
use super::core::{Core, Locked};
use super::drive::Driven;
use super::flight::{Flight, Shared, Work};
use super::lru::Seen;
use super::run::Runner;
use super::shard::{Pending, ShardState};
use crate::ctx;

impl<A, K, V, E> Core<A, K, V, E>
where
    A: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// Whether a miss whose lookup left `locked` takes the lean lead path: the lookup
    /// saw no node for the key, and the cache has no backend.
    #[inline(always)]
    pub(crate) fn leads_new(&self, locked: &Locked<'_, A, K, V, E>) -> bool {
        locked.3 == Seen::ABSENT && self.backend.is_none()
    }

    /// The lead path of a miss that [`leads_new`](Self::leads_new), with the lock its
    /// lookup took: puts a pending node for the key with the shard's kept flight (or a
    /// new one) and counts the miss; then, as the call holding the run, records the
    /// miss, starts the function and polls it once. A run that finishes is stored
    /// ([`store_led`](Self::store_led)); one that does not goes into its flight
    /// ([`lead_pending`](Self::lead_pending)), and the call goes on as any caller of a
    /// flight does.
    #[inline(always)]
    pub(crate) fn lead_new<'s>(
        &'s self,
        (mut st, hash, _, seen): Locked<'s, A, K, V, E>,
        args: A,
        made: Option<K>,
    ) -> Driven<'s, A, K, V, E> {
        debug_assert!(seen == Seen::ABSENT && self.backend.is_none());
        // The key the lookup made goes into the node; else the arguments' is cloned
        // (user code, first: if it panics, nothing has changed).
        let owned = self.key_or_made(made, &args).into_owned();
        let ShardState {
            store,
            spare,
            spare_runner,
            counts,
        } = &mut *st;
        let flight = spare.take().unwrap_or_else(|| Arc::new(Flight::new(false)));
        let slot = store.reserve_absent(hash, owned, Pending(flight.clone()));
        let runner = spare_runner.take();
        counts.miss();
        drop(st);
        let mut attached = Attached::new(self, hash, slot, flight);
        // User code from here (a recorder, the function), while this call holds the
        // run: a panic drops the run (and frees the key if no other call joined).
        let held = Held::new(&mut attached);
        self.record_miss();
        let mut runner = self.runner(runner, args);
        let flight = &held.attached().flight;
        let wakes_before = flight.wakes();
        let polled = runner
            .as_mut()
            .poll_run(&mut Context::from_waker(flight.waker()));
        let Poll::Ready(result) = polled else {
            held.disarm();
            return self.lead_pending(attached, Work::Function(runner), wakes_before);
        };
        // The finished future is dropped (user code) before any lock.
        runner.as_mut().clear();
        held.disarm();
        self.store_led(attached, result, runner)
    }

    /// Stores the result of a run [`lead_new`](Self::lead_new) led, finished in its
    /// first poll. The common case inline: a value, its pending node still there, no
    /// other call in the flight and none ever joined, and no flight kept yet: the value
    /// goes into the node, and the flight and runner are kept for the shard's next
    /// miss. Anything else goes through [`complete`](Self::complete).
    #[inline(always)]
    fn store_led<'a>(
        &'a self,
        mut attached: Attached<'a, A, K, V, E>,
        result: Shared<V, E>,
        runner: Runner<A, V, E>,
    ) -> Driven<'a, A, K, V, E> {
        // Declared before the lock, so they are dropped after it is released (their
        // `Drop` is user code), also on a panic under it (a value's `Clone`).
        let mut evicted = None;
        let mut runner = Some(runner);
        // A panic from here on drops the run, as in `complete`.
        let held = Held::new(&mut attached);
        let now = self.now();
        let stored = {
            let attached = held.attached();
            let flight = &attached.flight;
            let mut st = self.shard(attached.hash).lock();
            match &result {
                // Kept: nobody but the node and this call hold the flight.
                Ok(value)
                    if self.memory && st.keeps(flight, 2) && st.holds(attached.slot, flight) =>
                {
                    let expires = now.zip(self.expiration).map(|(now, ttl)| now + ttl);
                    let (Pending(kept), e) = st.store.fulfil(attached.slot, value.clone(), expires);
                    if e.is_some() {
                        st.counts.evicted();
                    }
                    evicted = e;
                    st.spare = Some(kept);
                    if st.spare_runner.is_none() {
                        st.spare_runner = runner.take();
                    }
                    true
                }
                _ => false,
            }
        };
        held.disarm();
        if !stored {
            return self.complete(attached, result, true, runner);
        }
        attached.detach();
        // A runner not kept (the shard had one) is freed here, outside the lock.
        drop(runner);
        if evicted.is_some() {
            ctx::record_event(&self.events.evict);
        }
        drop(evicted);
        Driven::Finished(result, None)
    }
}
