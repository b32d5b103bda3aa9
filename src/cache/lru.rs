//! The untyped, single-threaded store behind the memoizer: an LRU map with
//! optional per-entry expiry, whose entries may also be *pending* (a value being
//! computed).
//!
//! Entries live in an arena of [`Node`]s ([`Nodes`]). Live nodes are linked by index into a
//! doubly linked recency list (head = most recently used, tail = least recently
//! used), and a [`HashTable`] of node indices finds a node by key. Each node keeps
//! its key's 64-bit hash, so growing the table never rehashes a key, and the key is
//! stored once, in its node. Links are indices rather than pointers, so the whole
//! structure is safe code; `validate` checks every invariant under test and fuzzing.
//!
//! A pending node (quick_cache's *placeholder*) holds a payload `P` instead of a value:
//! the cache keeps its single-flight there, so a miss probes one table, and the value
//! lands in the node the miss reserved without a second probe. Pending nodes are in the
//! table but not in the recency list, and neither count towards the limit nor are ever
//! evicted.
//!
//! The API is `pub` so that fuzzing builds (`cfg(fuzzing)`) can re-export it, hidden,
//! for the `lru_ops` target; everywhere else the module is crate-private, and the
//! `pub` items unreachable on purpose.
#![cfg_attr(not(fuzzing), allow(unreachable_pub))]

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroUsize;
use std::time::Instant;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

/// The "no node" link: the `prev` of the head, the `next` of the tail, and both
/// ends of an empty list. The arena can never hand out this index.
const NIL: usize = usize::MAX;

/// One entry of the store, with its place in the recency list.
struct Node<K, V, P> {
    /// The entry's key; the only copy the store keeps.
    key: K,
    /// The value, or what waits for it.
    slot: Slot<V, P>,
    /// `hash_one(&key)`, kept so the table can be resized without rehashing keys.
    hash: u64,
    /// The next more recently used node, or `NIL` for the head (unused while pending).
    prev: usize,
    /// The next less recently used node, or `NIL` for the tail (unused while pending).
    next: usize,
}

/// What a node holds.
#[derive(Debug)]
pub enum Slot<V, P> {
    /// A value, in the recency list.
    Live {
        /// The value.
        value: V,
        /// The instant from which it counts as expired, if it ever does.
        expires_at: Option<Instant>,
    },
    /// A value being computed: not in the recency list.
    Pending(P),
}

/// An LRU map with an optional entry limit and optional per-entry expiry, and pending
/// entries of payload `P` (none unless [`reserve`](Self::reserve)d).
///
/// Every operation except [`clear`](Self::clear) is O(1). Only
/// [`get`](Self::get) hits and [`insert`](Self::insert) count as a use.
pub struct Lru<K, V, P = ()> {
    /// The entries; their indices are the list links and table values.
    nodes: Nodes<Node<K, V, P>>,
    /// Node indices, found by the hash stored in each node.
    table: HashTable<usize>,
    /// The entry the last [`Lookup::Expired`] removed, until taken.
    expired: Option<(K, V)>,
    /// Hashes keys (foldhash, randomly seeded per store).
    hasher: DefaultHashBuilder,
    /// The most recently used node, or `NIL` when empty.
    head: usize,
    /// The least recently used node, or `NIL` when empty.
    tail: usize,
    /// Live entries (the list's length).
    live: usize,
    /// The maximum number of live entries, `None` for unbounded.
    limit: Option<NonZeroUsize>,
}

/// The outcome of [`Lru::get`].
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a, V> {
    /// The key was live; it is now the most recently used.
    Hit(&'a V),
    /// The key was absent (or pending).
    Miss,
    /// The key had expired; it has been removed. Its entry waits in
    /// [`take_expired`](Lru::take_expired), for the caller to drop (a cache drops it
    /// after releasing its lock: `Drop` is user code).
    Expired,
}

/// The outcome of [`Lru::insert`].
#[derive(Debug, PartialEq, Eq)]
pub enum Insert<K, V> {
    /// The key was new and the store had room.
    Inserted,
    /// The key was present; this is its previous value.
    Replaced(V),
    /// The key was new and the store was full; this least recently used entry made room.
    Evicted(K, V),
}

/// What a failed [`Lru::hit`] saw of its key. Handed to [`Lru::reserve`] under the
/// same lock (the store unchanged in between), it spares the miss a second probe of the
/// table. One word, so that carrying it from the hit to the miss costs the hit nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen(usize);

impl Seen {
    /// The key is not in the store.
    pub const ABSENT: Seen = Seen(NIL);
    /// Not known: the store was unlocked since, or never looked at. (An arena of
    /// nodes, each several words, can never hand out this index, nor `NIL`.)
    pub const UNKNOWN: Seen = Seen(NIL - 1);

    /// The key's node (pending, or live but expired) is at `idx`.
    #[inline(always)]
    fn at(idx: usize) -> Seen {
        Seen(idx)
    }
}

/// The outcome of [`Lru::reserve`].
#[derive(Debug)]
pub enum Reserve<'a, V, P> {
    /// The key is live: the store was not changed (not counted as a use).
    Live(&'a V),
    /// The key is pending already at this index: its payload.
    Pending(usize, &'a P),
    /// A pending node was made at this index, with the payload given; the value of an
    /// expired entry it replaced, for the caller to drop.
    Reserved(usize, Option<V>),
}

impl<K: Hash + Eq, V> Lru<K, V> {
    /// Creates an empty store holding at most `limit` entries (`None` = unbounded).
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn new(limit: Option<NonZeroUsize>) -> Self {
        Self::with_hasher(limit, DefaultHashBuilder::default())
    }
}

impl<K, V, P> Lru<K, V, P> {
    /// Creates an empty store hashing keys with `hasher`, so a caller holding a clone
    /// of it can hash a key once for this store and for tables of its own.
    pub fn with_hasher(limit: Option<NonZeroUsize>, hasher: DefaultHashBuilder) -> Self {
        Self {
            nodes: Nodes::new(),
            expired: None,
            table: HashTable::new(),
            hasher,
            head: NIL,
            tail: NIL,
            live: 0,
            limit,
        }
    }

    /// The maximum number of entries, `None` for unbounded.
    pub fn limit(&self) -> Option<NonZeroUsize> {
        self.limit
    }

    /// The number of live entries, expired ones not yet removed included (pending
    /// ones not).
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether the store holds no live entries.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The payload of the pending node at `idx`, if that slot holds one.
    #[inline]
    pub fn pending(&self, idx: usize) -> Option<&P> {
        match self.nodes.get(idx) {
            Some(Node {
                slot: Slot::Pending(payload),
                ..
            }) => Some(payload),
            _ => None,
        }
    }

    /// Turns the pending node at `idx` live with `value`, as the most recently used
    /// entry: returns its payload, and the least recently used entry if that took the
    /// store over its limit. `idx` must hold a pending node.
    #[inline(always)]
    pub fn fulfil(
        &mut self,
        idx: usize,
        value: V,
        expires_at: Option<Instant>,
    ) -> (P, Option<(K, V)>) {
        let old_head = self.head;
        let node = &mut self.nodes[idx];
        let live = Slot::Live { value, expires_at };
        let payload = match std::mem::replace(&mut node.slot, live) {
            Slot::Pending(payload) => payload,
            Slot::Live { .. } => unreachable!("fulfil: node {idx} is not pending"),
        };
        // `push_front`, with the node at hand.
        node.prev = NIL;
        node.next = old_head;
        self.put_head(idx, old_head);
        (payload, self.count_new())
    }

    /// Links the unlinked node at `idx` (just made live) in as the most recently used
    /// entry; returns the least recently used entry if that took the store over its
    /// limit.
    #[inline(always)]
    fn link_new(&mut self, idx: usize) -> Option<(K, V)> {
        self.push_front(idx);
        self.count_new()
    }

    /// Counts a node just linked in as live; returns the least recently used entry if
    /// that took the store over its limit.
    #[inline(always)]
    fn count_new(&mut self) -> Option<(K, V)> {
        self.live += 1;
        match self.limit {
            Some(limit) if self.live > limit.get() => Some(self.evict()),
            _ => None,
        }
    }

    /// The key of the node at `idx`, which must hold one.
    pub fn key(&self, idx: usize) -> &K {
        &self.nodes[idx].key
    }

    /// Removes the node at `idx` (live or pending), found by its stored hash, and
    /// returns its key and slot. `idx` must hold a node.
    #[inline(always)]
    fn remove_at(&mut self, idx: usize) -> Node<K, V, P> {
        let node = self.nodes.remove(idx);
        self.unindex(node.hash, idx);
        if let Slot::Live { .. } = node.slot {
            self.unlink_node(&node);
            self.live -= 1;
        }
        node
    }

    /// Removes the pending node at `idx`; its key and payload are returned, for the
    /// caller to drop. `idx` must hold a pending node.
    pub fn remove_pending(&mut self, idx: usize) -> (K, P) {
        let node = self.remove_at(idx);
        match node.slot {
            Slot::Pending(payload) => (node.key, payload),
            Slot::Live { .. } => unreachable!("remove_pending: node {idx} is live"),
        }
    }

    /// The entry the last [`Lookup::Expired`] removed from the store, for the caller to
    /// drop where it chooses.
    #[cfg_attr(not(fuzzing), allow(dead_code))]
    pub fn take_expired(&mut self) -> Option<(K, V)> {
        self.expired.take()
    }

    /// Removes every entry in O(n), keeping the allocated capacity.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn clear(&mut self) {
        self.head = NIL;
        self.tail = NIL;
        self.live = 0;
        self.table.clear();
        // Dropping a value may panic: the arena is left empty and valid then too.
        self.nodes.clear();
    }

    /// The keys from most to least recently used.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn keys_mru(&self) -> impl Iterator<Item = &K> {
        let mut cur = self.head;
        std::iter::from_fn(move || {
            let node = self.nodes.get(cur)?;
            cur = node.next;
            Some(&node.key)
        })
    }

    /// Removes the least recently used entry and returns it; the store is not empty.
    #[inline(always)]
    fn evict(&mut self) -> (K, V) {
        let idx = self.tail;
        debug_assert_ne!(idx, NIL, "evicting from an empty store");
        let node = self.remove_at(idx);
        Self::live_entry(node)
    }

    /// A removed live node's key and value.
    #[inline(always)]
    fn live_entry(node: Node<K, V, P>) -> (K, V) {
        match node.slot {
            Slot::Live { value, .. } => (node.key, value),
            Slot::Pending(_) => unreachable!("a pending node is not in the list"),
        }
    }

    /// Removes the table's index of the node at `idx`, found by the node's stored
    /// `hash`.
    #[inline(always)]
    fn unindex(&mut self, hash: u64, idx: usize) {
        match self.table.find_entry(hash, |&i| i == idx) {
            Ok(entry) => drop(entry.remove()),
            Err(_) => unreachable!("node {idx} is missing from the hash table"),
        }
    }
}

impl<K: Hash + Eq, V, P> Lru<K, V, P> {
    /// The hash the `*_hashed` methods take for `key`.
    #[inline]
    pub fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The hit path of the cache: a clone of `key`'s live, unexpired value (which is
    /// now the most recently used), or, for anything else, what the probe saw, for the
    /// caller to sort out with [`reserve`](Self::reserve) under the same lock. `now` as
    /// for [`get`](Self::get).
    #[inline(always)]
    pub fn hit<Q>(&mut self, hash: u64, key: &Q, now: Option<Instant>) -> Result<V, Seen>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        V: Clone,
    {
        let nodes = &self.nodes;
        // The node the probe found, kept so it is not looked up again.
        let mut found = None;
        let probed = self.table.find(hash, |&i| match nodes.get(i) {
            Some(node) if node.key.borrow() == key => {
                found = Some(node);
                true
            }
            _ => false,
        });
        let (Some(&idx), Some(node)) = (probed, found) else {
            return Err(Seen::ABSENT);
        };
        let Slot::Live { value, expires_at } = &node.slot else {
            return Err(Seen::at(idx));
        };
        if now.is_some_and(|now| expires_at.is_some_and(|at| at <= now)) {
            return Err(Seen::at(idx));
        }
        // Cloned before the touch, so the node is looked up once.
        let value = value.clone();
        self.touch(idx);
        Ok(value)
    }

    /// The miss path of the cache: finds `key`, or reserves a pending node for it
    /// holding `payload()` (made only then; `key()` gives the owned key, called only
    /// for a new node). An expired entry becomes the pending node in place, its value
    /// handed back. A live entry is left alone and not touched. `seen`: what a
    /// [`hit`](Self::hit) of the same key saw, the store unchanged since (else
    /// [`Seen::UNKNOWN`]); it must be true.
    #[inline(always)]
    pub fn reserve<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: Option<Instant>,
        seen: Seen,
        owned: impl FnOnce() -> K,
        payload: impl FnOnce() -> P,
    ) -> Reserve<'_, V, P>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let idx = match seen {
            Seen::ABSENT => {
                return Reserve::Reserved(self.reserve_absent(hash, owned(), payload()), None);
            }
            Seen::UNKNOWN => {
                let nodes = &self.nodes;
                let entry =
                    self.table
                        .entry(hash, |&i| nodes[i].key.borrow() == key, |&i| nodes[i].hash);
                match entry {
                    Entry::Occupied(occupied) => *occupied.get(),
                    Entry::Vacant(vacant) => {
                        let idx = self
                            .nodes
                            .insert(Self::pending_node(hash, owned(), payload()));
                        vacant.insert(idx);
                        return Reserve::Reserved(idx, None);
                    }
                }
            }
            Seen(idx) => idx,
        };
        debug_assert_eq!(
            self.find(hash, key),
            Some(idx),
            "seen at a node of another key"
        );
        let expired = match &self.nodes[idx].slot {
            Slot::Live { expires_at, .. } => {
                let expired = now.is_some_and(|now| expires_at.is_some_and(|at| at <= now));
                if !expired {
                    return match &self.nodes[idx].slot {
                        Slot::Live { value, .. } => Reserve::Live(value),
                        Slot::Pending(_) => unreachable!("checked live above"),
                    };
                }
                true
            }
            Slot::Pending(_) => false,
        };
        if !expired {
            return match &self.nodes[idx].slot {
                Slot::Pending(payload) => Reserve::Pending(idx, payload),
                Slot::Live { .. } => unreachable!("checked pending above"),
            };
        }
        // Expired: the node turns pending where it is.
        self.unlink(idx);
        self.live -= 1;
        let pending = Slot::Pending(payload());
        match std::mem::replace(&mut self.nodes[idx].slot, pending) {
            Slot::Live { value, .. } => Reserve::Reserved(idx, Some(value)),
            Slot::Pending(_) => unreachable!("checked live above"),
        }
    }

    /// Makes a pending node for `key`, with `payload`, and returns its index: the
    /// [`reserve`](Self::reserve) of a key a [`hit`](Self::hit) saw
    /// [absent](Seen::ABSENT), the store unchanged since (checked only in debug builds:
    /// the caller knows it).
    #[inline(always)]
    pub fn reserve_absent(&mut self, hash: u64, key: K, payload: P) -> usize {
        debug_assert!(self.find(hash, &key).is_none(), "seen absent, but present");
        let idx = self.nodes.insert(Self::pending_node(hash, key, payload));
        let nodes = &self.nodes;
        // Resizing reads the stored hashes; keys are never rehashed.
        self.table.insert_unique(hash, idx, |&i| nodes[i].hash);
        idx
    }

    /// The index of `key`'s node, for the debug checks of [`reserve`](Self::reserve).
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let nodes = &self.nodes;
        self.table
            .find(hash, |&i| nodes[i].key.borrow() == key)
            .copied()
    }

    /// A pending node for `key`, to put in the arena.
    #[inline(always)]
    fn pending_node(hash: u64, key: K, payload: P) -> Node<K, V, P> {
        Node {
            key,
            slot: Slot::Pending(payload),
            hash,
            prev: NIL,
            next: NIL,
        }
    }

    /// Removes `key` (live or pending), found by `hash` (which must be
    /// [`self.hash(key)`](Self::hash)); its key and slot are returned, for the caller
    /// to drop.
    pub fn take<Q>(&mut self, hash: u64, key: &Q) -> Option<(K, Slot<V, P>)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let nodes = &self.nodes;
        let found = self
            .table
            .find_entry(hash, |&i| nodes[i].key.borrow() == key);
        let (idx, _) = found.ok()?.remove();
        let node = self.nodes.remove(idx);
        if let Slot::Live { .. } = node.slot {
            self.unlink_node(&node);
            self.live -= 1;
        }
        Some((node.key, node.slot))
    }
}

impl<K, V, P> fmt::Debug for Lru<K, V, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lru")
            .field("len", &self.live)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

mod list;
mod map;
mod nodes;
use nodes::Nodes;
#[cfg(test)]
mod tests;
