//! The store's plain map API, beside the cache's own (`hit`, `reserve`, `fulfil`):
//! `get`, `insert` and `remove` of values, and `validate`, which checks every
//! invariant. The model tests and the `lru_ops` fuzz target drive the store through it.

use std::borrow::Borrow;
#[cfg(any(test, fuzzing))]
use std::hash::BuildHasher;
use std::hash::Hash;
use std::time::Instant;

use hashbrown::hash_table::Entry;

use super::{Insert, Lookup, Lru, NIL, Node, Slot};

impl<K: Hash + Eq, V, P> Lru<K, V, P> {
    /// Looks `key` up; a live entry becomes the most recently used.
    ///
    /// With `now == None` expiry is not checked at all (no time work is done). With
    /// `Some(t)`, an entry whose `expires_at <= t` is removed and reported as
    /// [`Lookup::Expired`]. A pending entry is a [`Lookup::Miss`].
    #[inline]
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn get<Q>(&mut self, key: &Q, now: Option<Instant>) -> Lookup<'_, V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_hashed(self.hash(key), key, now)
    }

    /// [`get`](Self::get) with `key`'s hash already known: `hash` must be
    /// [`self.hash(key)`](Self::hash) (with another hash the key is not found).
    #[inline]
    pub fn get_hashed<Q>(&mut self, hash: u64, key: &Q, now: Option<Instant>) -> Lookup<'_, V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        debug_assert_eq!(hash, self.hash(key), "get_hashed: not the key's hash");
        let nodes = &self.nodes;
        let Some(&idx) = self.table.find(hash, |&i| nodes[i].key.borrow() == key) else {
            return Lookup::Miss;
        };
        let Slot::Live { expires_at, .. } = &self.nodes[idx].slot else {
            return Lookup::Miss;
        };
        // Only a caller with expiry configured passes a clock reading.
        if let Some(now) = now {
            if expires_at.is_some_and(|at| at <= now) {
                let node = self.remove_at(idx);
                self.expired = Some(Self::live_entry(node));
                return Lookup::Expired;
            }
        }
        self.touch(idx);
        match &self.nodes[idx].slot {
            Slot::Live { value, .. } => Lookup::Hit(value),
            Slot::Pending(_) => unreachable!("checked live above"),
        }
    }

    /// Inserts `key` as the most recently used entry, expiring at `expires_at`.
    ///
    /// A present key (expired, or pending, or not) keeps its stored key but takes the
    /// new value and expiry and moves to the head: [`Insert::Replaced`] (a pending
    /// node's payload is dropped). A new key that takes the store over its limit evicts
    /// the least recently used entry: [`Insert::Evicted`]. As each insert adds at most
    /// one entry, at most one is evicted and the limit is never exceeded.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn insert(&mut self, key: K, value: V, expires_at: Option<Instant>) -> Insert<K, V> {
        self.insert_hashed(self.hash(&key), key, value, expires_at)
    }

    /// [`insert`](Self::insert) with `key`'s hash already known: `hash` must be
    /// [`self.hash(&key)`](Self::hash) (the store's own checks in `validate` catch a
    /// wrong one).
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn insert_hashed(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        expires_at: Option<Instant>,
    ) -> Insert<K, V> {
        debug_assert_eq!(hash, self.hash(&key), "insert_hashed: not the key's hash");
        let nodes = &self.nodes;
        // One probe serves both outcomes: `entry` finds the key or the slot for it.
        let entry = self
            .table
            .entry(hash, |&i| nodes[i].key == key, |&i| nodes[i].hash);
        match entry {
            Entry::Occupied(occupied) => {
                let idx = *occupied.get();
                let live = Slot::Live { value, expires_at };
                match std::mem::replace(&mut self.nodes[idx].slot, live) {
                    Slot::Live { value: old, .. } => {
                        self.touch(idx);
                        Insert::Replaced(old)
                    }
                    Slot::Pending(_) => match self.link_new(idx) {
                        Some((k, v)) => Insert::Evicted(k, v),
                        None => Insert::Inserted,
                    },
                }
            }
            Entry::Vacant(vacant) => {
                let idx = self.nodes.insert(Node {
                    key,
                    slot: Slot::Live { value, expires_at },
                    hash,
                    prev: NIL,
                    next: NIL,
                });
                vacant.insert(idx);
                match self.link_new(idx) {
                    Some((k, v)) => Insert::Evicted(k, v),
                    None => Insert::Inserted,
                }
            }
        }
    }

    /// Removes `key`, returning its entry (expired or not): the stored key and its
    /// value, for the caller to drop. Does not count as a use. A pending entry is
    /// removed too, and reported as `None` (its payload dropped).
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn remove<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_hashed(self.hash(key), key)
    }

    /// [`remove`](Self::remove) with `key`'s hash already known: `hash` must be
    /// [`self.hash(key)`](Self::hash) (with another hash the key is not found).
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn remove_hashed<Q>(&mut self, hash: u64, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.take(hash, key)? {
            (key, Slot::Live { value, .. }) => Some((key, value)),
            (_, Slot::Pending(_)) => None,
        }
    }

    /// Checks every invariant, panicking with a description of the first broken one.
    #[cfg(any(test, fuzzing))]
    pub fn validate(&self) {
        self.nodes.validate();
        let len = self.live;
        if let Some(limit) = self.limit {
            assert!(len <= limit.get(), "len {len} exceeds limit {limit}");
        }
        assert_eq!(
            self.table.len(),
            self.nodes.len(),
            "table and arena lengths differ"
        );
        let pending = self
            .nodes
            .iter()
            .filter(|(_, node)| matches!(node.slot, Slot::Pending(_)))
            .count();
        assert_eq!(self.nodes.len() - pending, len, "live count is off");

        // Walk head to tail, checking each back link (so the head's prev is NIL) and
        // that the walk ends at the tail (so its next is NIL). Marking visits
        // catches cycles; the count then shows every live node is on the list.
        let mut in_list = vec![false; self.nodes.capacity()];
        let (mut prev, mut cur, mut steps) = (NIL, self.head, 0);
        while cur != NIL {
            assert!(self.nodes.contains(cur), "link to vacant slot {cur}");
            assert!(!in_list[cur], "cycle through node {cur}");
            in_list[cur] = true;
            let node = &self.nodes[cur];
            assert!(
                matches!(node.slot, Slot::Live { .. }),
                "pending node {cur} in the list"
            );
            assert_eq!(node.prev, prev, "node {cur}: prev is not the node before");
            (prev, cur, steps) = (cur, node.next, steps + 1);
        }
        assert_eq!(prev, self.tail, "the list does not end at the tail");
        assert_eq!(steps, len, "the list visits {steps} of {len} nodes");

        // Each node's stored hash is its key's, and its key finds it. So the table
        // holds every node's index, and as its length is the arena's, nothing else.
        for (idx, node) in self.nodes.iter() {
            let hash = self.hasher.hash_one(&node.key);
            assert_eq!(node.hash, hash, "node {idx}: stored hash is not its key's");
            let found = self.table.find(hash, |&i| {
                self.nodes.get(i).is_some_and(|n| n.key == node.key)
            });
            assert_eq!(found, Some(&idx), "node {idx}: its key does not find it");
        }
    }
}
