//! A cache's store split by key hash: each [`Shard`] holds its own LRU, flights and
//! counters under its own lock, so calls of keys in different shards never contend.
//!
//! The default is one shard: one exact LRU over every key, so `limit(1)` keeps exactly
//! the last value. [`CacheBuilder::shards`](super::CacheBuilder::shards) opts into more:
//! the limit is split across them (each an exact LRU of its part).

use std::num::NonZeroUsize;
use std::sync::Arc;

use hashbrown::DefaultHashBuilder;

use super::flight::Flight;
use super::lru::Lru;
use super::run::Runner;
use crate::sync::{Mutex, MutexGuard};

/// The most shards a cache can have.
pub(crate) const MAX_SHARDS: usize = 1024;

/// One shard, alone on its cache lines so that two shards' locks do not share one.
#[repr(align(128))]
pub(crate) struct Shard<A, K, V, E> {
    /// Everything of the shard, under its lock (never held across an `.await`, and never
    /// while user code runs, but for `Hash`, `Eq` and `Clone` of keys and values).
    state: Mutex<ShardState<A, K, V, E>>,
}

/// The lock-protected part of a [`Shard`].
pub(crate) struct ShardState<A, K, V, E> {
    /// Stored values, and a pending node (holding its flight) per key being computed.
    pub(crate) store: Lru<K, V, Pending<A, V, E>>,
    /// A flight nobody holds any more, kept for the next miss.
    pub(crate) spare: Option<Arc<Flight<A, V, E>>>,
    /// An empty runner of the function, kept for the next miss.
    pub(crate) spare_runner: Option<Runner<A, V, E>>,
    /// The shard's counters.
    pub(crate) counts: Counts,
}

/// What a pending node of the store holds: its flight.
pub(crate) struct Pending<A, V, E>(pub(crate) Arc<Flight<A, V, E>>);

/// A shard's counters, counted in one place: [`Counts::hit`], [`Counts::miss`],
/// [`Counts::joined`] and [`Counts::evicted`], under the shard's lock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    /// Calls answered from the store (the memory tier, or the backend).
    pub(crate) hits: u64,
    /// Calls that found no stored value.
    pub(crate) misses: u64,
    /// Of the misses, the calls that joined a run another call had started.
    pub(crate) coalesced: u64,
    /// Values pushed out by the limit.
    pub(crate) evictions: u64,
}

impl Counts {
    /// One call answered from the store.
    #[inline]
    pub(crate) fn hit(&mut self) {
        self.hits += 1;
    }

    /// One call that found no stored value.
    #[inline]
    pub(crate) fn miss(&mut self) {
        self.misses += 1;
    }

    /// One call that found no stored value and joined the run in flight for its key.
    #[inline]
    pub(crate) fn joined(&mut self) {
        self.misses += 1;
        self.coalesced += 1;
    }

    /// One value pushed out by the limit.
    #[inline]
    pub(crate) fn evicted(&mut self) {
        self.evictions += 1;
    }

    /// These counters and `other` added up.
    pub(crate) fn add(self, other: Counts) -> Counts {
        Counts {
            hits: self.hits + other.hits,
            misses: self.misses + other.misses,
            coalesced: self.coalesced + other.coalesced,
            evictions: self.evictions + other.evictions,
        }
    }
}

impl<A, K, V, E> Shard<A, K, V, E> {
    /// An empty shard keeping at most `limit` values (`None`: unbounded).
    pub(crate) fn new(limit: Option<NonZeroUsize>, hasher: DefaultHashBuilder) -> Self {
        Shard {
            state: Mutex::new(ShardState {
                store: Lru::with_hasher(limit, hasher),
                spare: None,
                spare_runner: None,
                counts: Counts::default(),
            }),
        }
    }

    /// Locks the shard, never panicking on poison.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, ShardState<A, K, V, E>> {
        self.state.lock()
    }
}

impl<A, K, V, E> ShardState<A, K, V, E> {
    /// Whether the pending node at `slot` holds flight `flight`.
    #[inline]
    pub(crate) fn holds(&self, slot: usize, flight: &Flight<A, V, E>) -> bool {
        self.store
            .pending(slot)
            .is_some_and(|Pending(f)| std::ptr::eq(&**f, flight))
    }

    /// Whether `flight`, finishing with no holds on it but `holds` (its pending node's, if
    /// the node is still there, and the finishing call's), is kept for the shard's next
    /// miss: no flight is kept yet, nobody else is in it, and no call ever joined it (so
    /// it is as good as new: see `Flight::was_joined`).
    #[inline(always)]
    pub(crate) fn keeps(&self, flight: &Arc<Flight<A, V, E>>, holds: usize) -> bool {
        self.spare.is_none() && Arc::strong_count(flight) == holds && !flight.was_joined()
    }

    /// Takes the pending node at `slot` out of the store if it holds `flight` (a flight
    /// that gives up frees its key); its key and payload are returned, to be dropped
    /// after the lock is released.
    pub(crate) fn release(
        &mut self,
        slot: usize,
        flight: &Flight<A, V, E>,
    ) -> Option<(K, Pending<A, V, E>)> {
        if self.holds(slot, flight) {
            Some(self.store.remove_pending(slot))
        } else {
            None
        }
    }
}

/// The split of `limit` values over `shards` shards: as even as can be, adding up to
/// `limit` (`None`: unbounded for each). The shard count is a power of two, at most
/// [`MAX_SHARDS`], and no more than `limit`, so every shard keeps at least one value.
pub(crate) fn split(shards: usize, limit: Option<NonZeroUsize>) -> Vec<Option<NonZeroUsize>> {
    let mut count = shards.clamp(1, MAX_SHARDS).next_power_of_two();
    if count > MAX_SHARDS {
        count = MAX_SHARDS;
    }
    if let Some(limit) = limit {
        while count > limit.get() {
            count /= 2;
        }
    }
    (0..count)
        .map(|i| {
            limit.map(|limit| {
                let (base, extra) = (limit.get() / count, limit.get() % count);
                NonZeroUsize::new(base + usize::from(i < extra)).expect("count <= limit")
            })
        })
        .collect()
}

/// The shard of a key with hash `hash`, among `mask + 1` shards: middle bits of the
/// hash multiplied by an odd constant (Fibonacci hashing), so every bit of the hash
/// below them counts. The hash's own middle bits are not enough: with some of the
/// process-wide seeds of hashbrown's default hasher, one of them stays the same for
/// every small integer key, and half the shards stayed empty (one process in 40).
#[inline]
pub(crate) fn index(hash: u64, mask: usize) -> usize {
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_gets_keys_even_when_the_hash_has_constant_middle_bits() {
        // Hashes whose bits 32 to 34 never change (as some seeds of the default hasher
        // give small integer keys): every one of 8 shards still gets its share.
        let mut counts = [0_usize; 8];
        for i in 0..1_000_u64 {
            counts[index(i << 35 | i, 7)] += 1;
        }
        assert!(counts.iter().all(|&n| n > 60), "{counts:?}");
    }

    fn limits(shards: usize, limit: Option<usize>) -> Vec<Option<usize>> {
        split(shards, limit.and_then(NonZeroUsize::new))
            .into_iter()
            .map(|l| l.map(NonZeroUsize::get))
            .collect()
    }

    #[test]
    fn the_limit_is_split_exactly() {
        assert_eq!(limits(1, Some(1)), [Some(1)]);
        assert_eq!(limits(4, Some(10)), [Some(3), Some(3), Some(2), Some(2)]);
        assert_eq!(
            limits(3, Some(100)).len(),
            4,
            "rounded up to a power of two"
        );
        assert_eq!(
            limits(8, Some(3)),
            [Some(2), Some(1)],
            "never more shards than values"
        );
        assert_eq!(limits(4, None), [None; 4]);
        assert_eq!(limits(0, None).len(), 1);
        assert_eq!(limits(1 << 20, None).len(), MAX_SHARDS);
        let total: usize = limits(8, Some(10_000))
            .into_iter()
            .map(Option::unwrap)
            .sum();
        assert_eq!(total, 10_000);
    }
}
