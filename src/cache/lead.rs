//! The lean lead path of a miss: the common miss (no node for the key, no backend)
//! straight through, in one inlined run of code, with every other case handed to the
//! general path ([`Core::miss`], [`Core::drive`], [`Core::complete`]) at the point where
//! it arises.
//!
//! It takes the steps the general path takes (reserve a pending node holding a flight,
//! count and record the miss, start the function and poll it with the flight's waker,
//! store the value, keep the flight and runner for the shard's next miss), in the same
//! order and under the same locks, and a panic does what it does there. What it leaves
//! out are the general path's branches and hand-offs: no probe result to look at (the
//! lookup saw no node), no backend, no restart, and no reset of the kept flight (only
//! a flight no call joined is kept: see [`flight`](super::flight)). Nor does it make the
//! call an [`Attached`] until the general path takes over: a [`Leading`] call has its
//! parts and no `Drop`, and its guard ([`Holding`]) does what [`Held`] does. A stored
//! run so leaves nothing to settle.
//!
//! [`Held`]: super::attached::Held

use std::hash::Hash;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::attached::Attached;
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
    /// flight does. `Ok`: the result, stored, with no backend write (the common case,
    /// returned as is); `Err`: where the general path took over.
    #[inline(always)]
    pub(crate) fn lead_new<'s>(
        &'s self,
        (mut st, hash, _, seen): Locked<'s, A, K, V, E>,
        args: A,
        made: Option<K>,
    ) -> Result<Shared<V, E>, Driven<'s, A, K, V, E>> {
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
        // User code from here (a recorder, the function), while this call holds the
        // run: a panic drops the run (and frees the key if no other call joined). The
        // spawn mark is taken first, before the run can spawn.
        let lead = Leading {
            core: self,
            hash,
            slot,
            flight,
            mark: ctx::spawn_mark(),
        };
        let holding = Holding(Some(&lead));
        self.record_miss();
        let mut runner = self.runner_for_a_run(runner);
        let wakes_before = lead.flight.wakes();
        // The wake count is read before the function's synchronous part runs: a wake
        // meanwhile (from a waker a kept flight's earlier run left somewhere) counts as
        // one during the poll, and costs at most one more poll; none is lost, as the
        // count only grows.
        let polled = runner
            .as_mut()
            .start_poll(args, &mut Context::from_waker(lead.flight.waker()));
        let Poll::Ready(result) = polled else {
            holding.disarm();
            let attached = lead.into_attached();
            return Err(self.lead_pending(attached, Work::Function(runner), wakes_before));
        };
        // The finished future was dropped (user code) in the poll, before any lock.
        holding.disarm();
        // `lead` stays here, lent: moved, it would be copied.
        match self.store_led(&lead, result, runner) {
            Ok(result) => Ok(result),
            Err((result, runner)) => Err(self.complete(lead.into_attached(), result, true, runner)),
        }
    }

    /// Stores the result of a run [`lead_new`](Self::lead_new) led, finished in its
    /// first poll. The common case inline: a value, its pending node still there, no
    /// other call in the flight and none ever joined, and no flight kept yet: the value
    /// goes into the node, and the flight and runner are kept for the shard's next
    /// miss. Anything else is handed back (`Err`), for [`complete`](Self::complete).
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    fn store_led(
        &self,
        lead: &Leading<'_, A, K, V, E>,
        result: Shared<V, E>,
        runner: Runner<A, V, E>,
    ) -> Result<Shared<V, E>, (Shared<V, E>, Option<Runner<A, V, E>>)> {
        // Declared before the lock, so they are dropped after it is released (their
        // `Drop` is user code), also on a panic under it (a value's `Clone`).
        let mut evicted = None;
        let mut runner = Some(runner);
        // A panic from here on drops the run, as in `complete`.
        let holding = Holding(Some(lead));
        let (shard, now) = self.shard_now(lead.hash);
        let stored = {
            let flight = &lead.flight;
            let mut st = shard.lock();
            match &result {
                // Kept: nobody but the node and this call hold the flight.
                Ok(value) if self.memory && st.keeps(flight, 2) && st.holds(lead.slot, flight) => {
                    let expires = now.zip(self.expiration).map(|(now, ttl)| now + ttl);
                    let (Pending(kept), e) = st.store.fulfil(lead.slot, value.clone(), expires);
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
        holding.disarm();
        if !stored {
            return Err((result, runner));
        }
        // A runner not kept (the shard had one): freed here, outside the lock. (This
        // call's hold on the flight, `lead`'s, is dropped by the caller; the node's is
        // kept.)
        drop(runner);
        if evicted.is_some() {
            ctx::record_debug(&self.events.evict);
        }
        drop(evicted);
        Ok(result)
    }
}

/// The call leading a run on the lean path: the parts of an [`Attached`], without its
/// `Drop` (a run finished and stored leaves nothing to settle). It becomes an
/// `Attached` where the general path takes over.
struct Leading<'a, A, K, V, E> {
    /// The cache.
    core: &'a Core<A, K, V, E>,
    /// The key's hash (finds the shard).
    hash: u64,
    /// The flight's pending node.
    slot: usize,
    /// The flight (the node holds it too).
    flight: Arc<Flight<A, V, E>>,
    /// [`ctx::spawn_mark`] before the run started (see [`Attached`]'s `mark`).
    mark: u64,
}

impl<'a, A, K, V, E> Leading<'a, A, K, V, E> {
    /// This call's place in the flight, as the general path keeps it.
    #[cold]
    #[inline(never)]
    fn into_attached(self) -> Attached<'a, A, K, V, E> {
        let mut attached = Attached::new(self.core, self.hash, self.slot, self.flight);
        attached.mark = Some(self.mark);
        attached
    }

    /// The run this call held was dropped by a panic: the call leaves the flight, as
    /// [`Held`](super::attached::Held) makes an `Attached` leave.
    #[cold]
    #[inline(never)]
    fn dropped_while_held(&self) {
        let mut attached = Attached::new(self.core, self.hash, self.slot, self.flight.clone());
        attached.mark = Some(self.mark);
        attached.dropped_while_held();
    }
}

/// The lean path's call holding its run: dropped armed (a panic), the call leaves the
/// flight, and the run is dropped (the key freed if no other call joined).
struct Holding<'x, 'a, A, K, V, E>(Option<&'x Leading<'a, A, K, V, E>>);

impl<A, K, V, E> Holding<'_, '_, A, K, V, E> {
    /// The run is finished, or handed to the general path: nothing to drop.
    #[inline(always)]
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl<A, K, V, E> Drop for Holding<'_, '_, A, K, V, E> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(lead) = self.0.take() {
            lead.dropped_while_held();
        }
    }
}
