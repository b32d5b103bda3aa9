//! The untyped, single-threaded store behind the memoizer: an LRU map with
//! optional per-entry expiry.
//!
//! Entries live in a [`Slab`] of [`Node`]s. Nodes are linked by slab index into a
//! doubly linked recency list (head = most recently used, tail = least recently
//! used), and a [`HashTable`] of slab indices finds a node by key. Each node keeps
//! its key's 64-bit hash, so growing the table never rehashes a key, and the key is
//! stored once, in its node. Links are indices rather than pointers, so the whole
//! structure is safe code; `validate` checks every invariant under test and fuzzing.
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
use slab::Slab;

/// The "no node" link: the `prev` of the head, the `next` of the tail, and both
/// ends of an empty list. A slab can never hand out this index.
const NIL: usize = usize::MAX;

/// One entry of the store, with its place in the recency list.
struct Node<K, V> {
    /// The entry's key; the only copy the store keeps.
    key: K,
    /// The entry's value.
    value: V,
    /// The instant from which the entry counts as expired, if it ever does.
    expires_at: Option<Instant>,
    /// `hash_one(&key)`, kept so the table can be resized without rehashing keys.
    hash: u64,
    /// The next more recently used node, or `NIL` for the head.
    prev: usize,
    /// The next less recently used node, or `NIL` for the tail.
    next: usize,
}

/// An LRU map with an optional entry limit and optional per-entry expiry.
///
/// Every operation except [`clear`](Self::clear) is O(1). Only
/// [`get`](Self::get) hits and [`insert`](Self::insert) count as a use.
pub struct Lru<K, V> {
    /// The entries; their slab indices are the list links and table values.
    slab: Slab<Node<K, V>>,
    /// Slab indices, found by the hash stored in each node.
    table: HashTable<usize>,
    /// The entry the last [`Lookup::Expired`] removed, until taken.
    expired: Option<(K, V)>,
    /// Hashes keys (foldhash, randomly seeded per store).
    hasher: DefaultHashBuilder,
    /// The most recently used node, or `NIL` when empty.
    head: usize,
    /// The least recently used node, or `NIL` when empty.
    tail: usize,
    /// The maximum number of entries, `None` for unbounded.
    limit: Option<NonZeroUsize>,
}

/// The outcome of [`Lru::get`].
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a, V> {
    /// The key was live; it is now the most recently used.
    Hit(&'a V),
    /// The key was absent.
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

impl<K: Hash + Eq, V> Lru<K, V> {
    /// Creates an empty store holding at most `limit` entries (`None` = unbounded).
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn new(limit: Option<NonZeroUsize>) -> Self {
        Self::with_hasher(limit, DefaultHashBuilder::default())
    }

    /// Creates an empty store hashing keys with `hasher`, so a caller holding a clone
    /// of it can hash a key once for this store and for tables of its own.
    pub fn with_hasher(limit: Option<NonZeroUsize>, hasher: DefaultHashBuilder) -> Self {
        Self {
            slab: Slab::new(),
            expired: None,
            table: HashTable::new(),
            hasher,
            head: NIL,
            tail: NIL,
            limit,
        }
    }

    /// The hash the `*_hashed` methods take for `key`.
    #[inline]
    pub fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The maximum number of entries, `None` for unbounded.
    pub fn limit(&self) -> Option<NonZeroUsize> {
        self.limit
    }

    /// The number of entries, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether the store holds no entries.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Looks `key` up; a live entry becomes the most recently used.
    ///
    /// With `now == None` expiry is not checked at all (no time work is done). With
    /// `Some(t)`, an entry whose `expires_at <= t` is removed and reported as
    /// [`Lookup::Expired`].
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
        let slab = &self.slab;
        let Some(&idx) = self.table.find(hash, |&i| slab[i].key.borrow() == key) else {
            return Lookup::Miss;
        };
        // Only a caller with expiry configured passes a clock reading.
        if let Some(now) = now {
            if self.slab[idx].expires_at.is_some_and(|at| at <= now) {
                self.expired = Some(self.expire(idx));
                return Lookup::Expired;
            }
        }
        self.touch(idx);
        Lookup::Hit(&self.slab[idx].value)
    }

    /// Inserts `key` as the most recently used entry, expiring at `expires_at`.
    ///
    /// A present key (expired or not) keeps its stored key but takes the new value and
    /// expiry and moves to the head: [`Insert::Replaced`]. A new key that takes the store over its limit
    /// evicts the least recently used entry: [`Insert::Evicted`]. As each insert adds at
    /// most one entry, at most one is evicted and the limit is never exceeded.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn insert(&mut self, key: K, value: V, expires_at: Option<Instant>) -> Insert<K, V> {
        self.insert_hashed(self.hash(&key), key, value, expires_at)
    }

    /// [`insert`](Self::insert) with `key`'s hash already known: `hash` must be
    /// [`self.hash(&key)`](Self::hash) (the store's own checks in `validate` catch a
    /// wrong one).
    pub fn insert_hashed(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        expires_at: Option<Instant>,
    ) -> Insert<K, V> {
        debug_assert_eq!(hash, self.hash(&key), "insert_hashed: not the key's hash");
        let slab = &self.slab;
        // One probe serves both outcomes: `entry` finds the key or the slot for it.
        let entry = self.table.entry(
            hash,
            |&i| slab[i].key == key,
            // Resizing reads the stored hashes; keys are never rehashed.
            |&i| slab[i].hash,
        );
        match entry {
            Entry::Occupied(occupied) => {
                let idx = *occupied.get();
                let node = &mut self.slab[idx];
                node.expires_at = expires_at;
                let old = std::mem::replace(&mut node.value, value);
                self.touch(idx);
                Insert::Replaced(old)
            }
            Entry::Vacant(vacant) => {
                let idx = self.slab.insert(Node {
                    key,
                    value,
                    expires_at,
                    hash,
                    prev: NIL,
                    next: NIL,
                });
                vacant.insert(idx);
                self.push_front(idx);
                match self.limit {
                    Some(limit) if self.slab.len() > limit.get() => self.evict(),
                    _ => Insert::Inserted,
                }
            }
        }
    }

    /// The entry the last [`Lookup::Expired`] removed from the store, for the caller to
    /// drop where it chooses.
    pub fn take_expired(&mut self) -> Option<(K, V)> {
        self.expired.take()
    }

    /// Removes `key`, returning its entry (expired or not): the stored key and its
    /// value, for the caller to drop. Does not count as a use.
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
    pub fn remove_hashed<Q>(&mut self, hash: u64, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        debug_assert_eq!(hash, self.hash(key), "remove_hashed: not the key's hash");
        let slab = &self.slab;
        let found = self
            .table
            .find_entry(hash, |&i| slab[i].key.borrow() == key);
        let (idx, _) = found.ok()?.remove();
        let node = self.detach(idx);
        Some((node.key, node.value))
    }

    /// Removes every entry in O(n), keeping the allocated capacity.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn clear(&mut self) {
        self.head = NIL;
        self.tail = NIL;
        self.table.clear();
        // Dropping a value may panic, and `Slab::clear` would then keep a stale
        // length. Clearing a slab moved out of `self` leaves `self` empty and
        // valid either way; on success the cleared slab, capacity intact, returns.
        let mut slab = std::mem::take(&mut self.slab);
        slab.clear();
        self.slab = slab;
    }

    /// The keys from most to least recently used.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub fn keys_mru(&self) -> impl Iterator<Item = &K> {
        let mut cur = self.head;
        std::iter::from_fn(move || {
            let node = self.slab.get(cur)?;
            cur = node.next;
            Some(&node.key)
        })
    }

    /// Removes the expired entry at `idx` and returns it.
    #[cold]
    #[inline(never)]
    fn expire(&mut self, idx: usize) -> (K, V) {
        self.unindex(idx);
        let node = self.detach(idx);
        (node.key, node.value)
    }

    /// Removes the least recently used entry and returns it; the store is not empty.
    #[cold]
    #[inline(never)]
    fn evict(&mut self) -> Insert<K, V> {
        let idx = self.tail;
        debug_assert_ne!(idx, NIL, "evicting from an empty store");
        self.unindex(idx);
        let node = self.detach(idx);
        Insert::Evicted(node.key, node.value)
    }

    /// Removes the table's index of the node at `idx`, found by its stored hash.
    fn unindex(&mut self, idx: usize) {
        let hash = self.slab[idx].hash;
        match self.table.find_entry(hash, |&i| i == idx) {
            Ok(entry) => drop(entry.remove()),
            Err(_) => unreachable!("node {idx} is missing from the hash table"),
        }
    }

    /// Unlinks the node at `idx` and takes it out of the slab; the caller has
    /// already removed it from the table.
    fn detach(&mut self, idx: usize) -> Node<K, V> {
        self.unlink(idx);
        self.slab.remove(idx)
    }

    /// Makes the node at `idx` the most recently used.
    ///
    /// `unlink` + `push_front` fused for the `get` hit path: one slab lookup reads and
    /// rewrites the node's links, and a node behind the head needs no empty-list checks.
    #[inline]
    fn touch(&mut self, idx: usize) {
        let old_head = self.head;
        // The common case for hot keys: already the head, nothing to write.
        if old_head == idx {
            return;
        }
        let node = &mut self.slab[idx];
        let (prev, next) = (node.prev, node.next);
        node.prev = NIL;
        node.next = old_head;
        // Not the head, so `prev` is a live node; `next` is NIL for the tail.
        debug_assert_ne!(prev, NIL, "a node behind the head has no prev");
        self.slab[prev].next = next;
        if next == NIL {
            debug_assert_eq!(self.tail, idx, "a node without next must be the tail");
            self.tail = prev;
        } else {
            self.slab[next].prev = prev;
        }
        self.slab[old_head].prev = idx;
        self.head = idx;
    }

    /// Takes the node at `idx` out of the list, joining its neighbours; its own
    /// links are left stale for `push_front` or removal to overwrite.
    #[inline]
    fn unlink(&mut self, idx: usize) {
        let Node { prev, next, .. } = self.slab[idx];
        if prev == NIL {
            debug_assert_eq!(self.head, idx, "a node without prev must be the head");
            self.head = next;
        } else {
            debug_assert_eq!(self.slab[prev].next, idx, "broken next link");
            self.slab[prev].next = next;
        }
        if next == NIL {
            debug_assert_eq!(self.tail, idx, "a node without next must be the tail");
            self.tail = prev;
        } else {
            debug_assert_eq!(self.slab[next].prev, idx, "broken prev link");
            self.slab[next].prev = prev;
        }
    }

    /// Links the (unlinked) node at `idx` in as the head.
    #[inline]
    fn push_front(&mut self, idx: usize) {
        let old_head = self.head;
        let node = &mut self.slab[idx];
        node.prev = NIL;
        node.next = old_head;
        if old_head == NIL {
            // The list was empty: the node is also the tail.
            debug_assert_eq!(self.tail, NIL, "an empty list has no tail");
            self.tail = idx;
        } else {
            debug_assert_eq!(self.slab[old_head].prev, NIL, "the head has a prev");
            self.slab[old_head].prev = idx;
        }
        self.head = idx;
    }

    /// Checks every invariant, panicking with a description of the first broken one.
    #[cfg(any(test, fuzzing))]
    pub fn validate(&self) {
        let len = self.slab.len();
        if let Some(limit) = self.limit {
            assert!(len <= limit.get(), "len {len} exceeds limit {limit}");
        }
        assert_eq!(self.table.len(), len, "table and slab lengths differ");

        // Walk head to tail, checking each back link (so the head's prev is NIL) and
        // that the walk ends at the tail (so its next is NIL). Marking visits
        // catches cycles; the count then shows every slab entry is on the list.
        let mut in_list = vec![false; self.slab.capacity()];
        let (mut prev, mut cur, mut steps) = (NIL, self.head, 0);
        while cur != NIL {
            assert!(self.slab.contains(cur), "link to vacant slot {cur}");
            assert!(!in_list[cur], "cycle through node {cur}");
            in_list[cur] = true;
            let node = &self.slab[cur];
            assert_eq!(node.prev, prev, "node {cur}: prev is not the node before");
            (prev, cur, steps) = (cur, node.next, steps + 1);
        }
        assert_eq!(prev, self.tail, "the list does not end at the tail");
        assert_eq!(steps, len, "the list visits {steps} of {len} nodes");

        // Each node's stored hash is its key's, and its key finds it. So the table
        // holds every node's index, and as its length is the slab's, nothing else.
        for (idx, node) in &self.slab {
            let hash = self.hasher.hash_one(&node.key);
            assert_eq!(node.hash, hash, "node {idx}: stored hash is not its key's");
            let found = self.table.find(hash, |&i| {
                self.slab.get(i).is_some_and(|n| n.key == node.key)
            });
            assert_eq!(found, Some(&idx), "node {idx}: its key does not find it");
        }
    }
}

impl<K, V> fmt::Debug for Lru<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lru")
            .field("len", &self.slab.len())
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::time::Duration;

    /// An owned [`Lookup`], so a test can validate the store before comparing.
    #[derive(Debug, PartialEq)]
    enum Got {
        Hit(u32),
        Miss,
        Expired,
    }
    use Got::{Expired, Hit, Miss};

    /// `store.get`, then `validate`.
    fn get<K: Hash + Eq + Borrow<Q>, Q: Hash + Eq + ?Sized>(
        store: &mut Lru<K, u32>,
        key: &Q,
        now: Option<Instant>,
    ) -> Got {
        let got = match store.get(key, now) {
            Lookup::Hit(&v) => Hit(v),
            Lookup::Miss => Miss,
            Lookup::Expired => Expired,
        };
        store.validate();
        got
    }

    /// `store.insert` without expiry, then `validate`.
    fn put<K: Hash + Eq>(store: &mut Lru<K, u32>, key: K, value: u32) -> Insert<K, u32> {
        let outcome = store.insert(key, value, None);
        store.validate();
        outcome
    }

    /// A store with `limit` holding `keys` (inserted in order, valued 1, 2, ...).
    fn filled(limit: usize, keys: &[&'static str]) -> Lru<&'static str, u32> {
        let mut store = Lru::new(NonZeroUsize::new(limit));
        for (value, &key) in (1..).zip(keys) {
            put(&mut store, key, value);
        }
        store
    }

    fn keys(store: &Lru<&'static str, u32>) -> Vec<&'static str> {
        store.keys_mru().copied().collect()
    }

    #[test]
    fn empty_then_insert_and_get() {
        let mut store = filled(4, &[]);
        assert_eq!(get(&mut store, "a", None), Miss);
        assert_eq!(get(&mut store, "a", Some(Instant::now())), Miss);
        assert!(store.is_empty());
        assert_eq!(format!("{store:?}"), "Lru { len: 0, limit: Some(4), .. }");
        assert_eq!(put(&mut store, "a", 1), Insert::Inserted);
        assert_eq!(put(&mut store, "b", 2), Insert::Inserted);
        assert_eq!(get(&mut store, "a", None), Hit(1));
        assert_eq!(get(&mut store, "b", None), Hit(2));
        assert_eq!(get(&mut store, "c", None), Miss);
        assert_eq!((store.len(), store.limit()), (2, NonZeroUsize::new(4)));
    }

    #[test]
    fn replace_moves_to_head_and_returns_old() {
        let mut store = filled(3, &["a", "b", "c"]);
        assert_eq!(keys(&store), ["c", "b", "a"]);
        assert_eq!(put(&mut store, "a", 10), Insert::Replaced(1));
        assert_eq!(keys(&store), ["a", "c", "b"]);
        assert_eq!(put(&mut store, "b", 20), Insert::Replaced(2));
        assert_eq!(keys(&store), ["b", "a", "c"]);
        assert_eq!(get(&mut store, "a", None), Hit(10));
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn eviction_order() {
        let names = ["a", "b", "c", "d", "e"];
        for limit in 1..=3 {
            let mut store = filled(limit, &[]);
            for (value, name) in (0_u32..).zip(names) {
                // Insertion order is recency order, so the oldest goes first.
                let expected = match value.checked_sub(limit as u32) {
                    None => Insert::Inserted,
                    Some(old) => Insert::Evicted(names[old as usize], old),
                };
                assert_eq!(put(&mut store, name, value), expected, "limit {limit}");
            }
            assert!(store.keys_mru().eq(names[5 - limit..].iter().rev()));
        }
        // A miss, a remove and keys_mru are not uses; a hit is.
        let mut store = filled(3, &["a", "b", "c"]);
        assert_eq!(get(&mut store, "x", None), Miss);
        assert_eq!(store.remove("x").map(|(_, v)| v), None);
        assert_eq!(get(&mut store, "a", None), Hit(1));
        assert_eq!(put(&mut store, "d", 4), Insert::Evicted("b", 2));
        assert_eq!(keys(&store), ["d", "a", "c"]);
    }

    #[test]
    fn haiway_sequence() {
        let mut store = filled(2, &["a", "b"]);
        assert_eq!(get(&mut store, "a", None), Hit(1));
        assert_eq!(put(&mut store, "c", 3), Insert::Evicted("b", 2));
        assert_eq!(get(&mut store, "a", None), Hit(1));
        assert_eq!(put(&mut store, "d", 4), Insert::Evicted("c", 3));
        assert_eq!(get(&mut store, "a", None), Hit(1));
        assert_eq!(keys(&store), ["a", "d"]);
    }

    #[test]
    fn expiry() {
        let t0 = Instant::now();
        let at = |ms| Some(t0 + Duration::from_millis(ms));
        let mut store = filled(4, &[]);
        store.insert("a", 1, at(10));
        put(&mut store, "b", 2);
        assert_eq!(get(&mut store, "a", at(5)), Hit(1));
        // Without a clock the deadline is not looked at.
        assert_eq!(get(&mut store, "a", None), Hit(1));
        assert_eq!(get(&mut store, "b", at(1_000)), Hit(2));
        assert_eq!(store.len(), 2);
        // The deadline itself counts as expired.
        assert_eq!(get(&mut store, "a", at(10)), Expired);
        assert_eq!(store.len(), 1);
        assert_eq!(get(&mut store, "a", None), Miss);
        assert_eq!(keys(&store), ["b"]);
        // Replacing sets a new deadline.
        assert_eq!(store.insert("b", 3, at(20)), Insert::Replaced(2));
        assert_eq!(get(&mut store, "b", at(19)), Hit(3));
        assert_eq!(get(&mut store, "b", at(21)), Expired);
        assert!(store.is_empty());
    }

    #[test]
    fn remove_head_middle_tail() {
        let cases = [
            (3, "c", ["b", "a"]),
            (2, "b", ["c", "a"]),
            (1, "a", ["c", "b"]),
        ];
        for (value, key, rest) in cases {
            let mut store = filled(3, &["a", "b", "c"]);
            assert_eq!(store.remove(key).map(|(_, v)| v), Some(value));
            store.validate();
            assert_eq!(keys(&store), rest);
            assert_eq!(store.remove(key).map(|(_, v)| v), None);
        }
    }

    #[test]
    fn clear_then_reuse() {
        let mut store = filled(3, &["a", "b", "c"]);
        store.clear();
        store.validate();
        assert!(store.is_empty());
        assert_eq!(get(&mut store, "a", None), Miss);
        for (key, value) in [("d", 4), ("e", 5), ("f", 6)] {
            assert_eq!(put(&mut store, key, value), Insert::Inserted);
        }
        assert_eq!(put(&mut store, "g", 7), Insert::Evicted("d", 4));
        assert_eq!(keys(&store), ["g", "f", "e"]);
    }

    #[test]
    fn clear_survives_panicking_drop() {
        /// Panics on drop when armed.
        struct Bomb(bool);
        impl Drop for Bomb {
            fn drop(&mut self) {
                assert!(!self.0, "boom");
            }
        }
        let mut store = Lru::new(None);
        for (key, armed) in [(1, false), (2, true), (3, false)] {
            store.insert(key, Bomb(armed), None);
        }
        let cleared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.clear()));
        assert!(cleared.is_err());
        store.validate();
        assert!(store.is_empty());
        store.insert(4, Bomb(false), None);
        store.validate();
        assert!(store.keys_mru().eq([&4]));
    }

    #[test]
    fn unbounded_many() {
        const N: u32 = if cfg!(miri) { 500 } else { 10_000 };
        let mut store = Lru::new(None);
        for i in 0..N {
            assert_eq!(store.insert(i, i * 2, None), Insert::Inserted);
            // Validation is O(n); running it on every insert would make this O(n^2).
            if i % 97 == 0 {
                store.validate();
            }
        }
        assert_eq!(get(&mut store, &0, None), Hit(0));
        assert_eq!(get(&mut store, &(N - 1), None), Hit(2 * (N - 1)));
        assert!(store.keys_mru().take(2).eq([&(N - 1), &0]));
        assert_eq!(store.keys_mru().count(), N as usize);
    }

    #[test]
    fn hashed_forms_match_plain_ones() {
        // Two stores sharing a hasher agree on hashes, so a caller can hash once for
        // both (as the cache core does for its store and its flights).
        let hasher = DefaultHashBuilder::default();
        let mut store = Lru::with_hasher(NonZeroUsize::new(2), hasher.clone());
        let other: Lru<&str, u32> = Lru::with_hasher(None, hasher);
        let h = |k: &str| store.hash(k);
        let (ha, hb, hc) = (h("a"), h("b"), h("c"));
        assert_eq!(other.hash("a"), ha);
        assert_eq!(store.insert_hashed(ha, "a", 1, None), Insert::Inserted);
        assert_eq!(store.insert_hashed(hb, "b", 2, None), Insert::Inserted);
        store.validate();
        assert_eq!(store.get_hashed(ha, "a", None), Lookup::Hit(&1));
        assert_eq!(store.get_hashed(hc, "c", None), Lookup::Miss);
        assert_eq!(store.insert_hashed(ha, "a", 10, None), Insert::Replaced(1));
        assert_eq!(
            store.insert_hashed(hc, "c", 3, None),
            Insert::Evicted("b", 2)
        );
        store.validate();
        // The plain forms see what the hashed ones stored, and the other way round.
        assert_eq!(get(&mut store, "c", None), Hit(3));
        assert_eq!(store.remove_hashed(ha, "a").map(|(_, v)| v), Some(10));
        assert_eq!(store.remove_hashed(ha, "a").map(|(_, v)| v), None);
        assert_eq!(store.remove("c").map(|(_, v)| v), Some(3));
        store.validate();
        assert!(store.is_empty());
    }

    #[test]
    fn borrowed_keys() {
        let mut store = Lru::new(None);
        store.insert(String::from("a"), 1, None);
        assert_eq!(get(&mut store, "a", None), Hit(1));
        assert_eq!(store.remove("a").map(|(_, v)| v), Some(1));
    }

    /// One step of the model-based tests. `Via` picks the plain or the `*_hashed` form.
    #[derive(Clone, Debug)]
    enum Op {
        /// Insert, expiring that many ms after the fake clock's time if `Some`.
        Insert(u8, u32, Option<u64>, Via),
        /// Get, checking expiry against the fake clock if `true`.
        Get(u8, bool, Via),
        Remove(u8, Via),
        Clear,
        /// Move the fake clock forward by that many ms.
        Advance(u64),
    }

    /// Which form of an operation a step uses.
    #[derive(Clone, Copy, Debug)]
    enum Via {
        /// `get` / `insert` / `remove`: the store hashes the key.
        Plain,
        /// `get_hashed` / `insert_hashed` / `remove_hashed` with `store.hash(&key)`.
        Hashed,
    }

    fn via() -> impl Strategy<Value = Via> {
        prop_oneof![Just(Via::Plain), Just(Via::Hashed)]
    }

    /// Replays `ops` on a store and on a `VecDeque` model in MRU order, asserting
    /// they agree (outcomes, evictions, order) and the store is valid after each step.
    fn replay(limit: Option<usize>, ops: &[Op]) {
        type Entry = (u8, u32, Option<Instant>);
        let take = |model: &mut VecDeque<Entry>, k| {
            let i = model.iter().position(|e: &Entry| e.0 == k)?;
            model.remove(i)
        };
        let mut store = Lru::new(limit.and_then(NonZeroUsize::new));
        let mut model: VecDeque<Entry> = VecDeque::new();
        let mut now = Instant::now();
        for op in ops {
            match *op {
                Op::Insert(k, v, ttl, via) => {
                    let at = ttl.map(|ms| now + Duration::from_millis(ms));
                    let old = take(&mut model, k);
                    model.push_front((k, v, at));
                    let expected = if let Some((_, old, _)) = old {
                        Insert::Replaced(old)
                    } else if model.len() > limit.unwrap_or(usize::MAX) {
                        let (k, v, _) = model.pop_back().unwrap();
                        Insert::Evicted(k, v)
                    } else {
                        Insert::Inserted
                    };
                    let got = match via {
                        Via::Plain => store.insert(k, v, at),
                        Via::Hashed => store.insert_hashed(store.hash(&k), k, v, at),
                    };
                    assert_eq!(got, expected, "{op:?}");
                }
                Op::Get(k, check, via) => {
                    let clock = check.then_some(now);
                    let expected = match take(&mut model, k) {
                        None => Miss,
                        Some((_, _, Some(at))) if clock.is_some_and(|t| at <= t) => Expired,
                        Some(entry) => {
                            model.push_front(entry);
                            Hit(entry.1)
                        }
                    };
                    let got = match via {
                        Via::Plain => get(&mut store, &k, clock),
                        Via::Hashed => match store.get_hashed(store.hash(&k), &k, clock) {
                            Lookup::Hit(&v) => Hit(v),
                            Lookup::Miss => Miss,
                            Lookup::Expired => Expired,
                        },
                    };
                    assert_eq!(got, expected, "{op:?}");
                }
                Op::Remove(k, via) => {
                    let expected = take(&mut model, k).map(|e| e.1);
                    let got = match via {
                        Via::Plain => store.remove(&k),
                        Via::Hashed => store.remove_hashed(store.hash(&k), &k),
                    }
                    .map(|(_, v)| v);
                    assert_eq!(got, expected, "{op:?}");
                }
                Op::Clear => {
                    model.clear();
                    store.clear();
                }
                Op::Advance(ms) => now += Duration::from_millis(ms),
            }
            store.validate();
            assert!(store.keys_mru().eq(model.iter().map(|e| &e.0)), "{op:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 8 } else { 512 },
            // Miri cannot write regression files (isolation); elsewhere keep the default.
            failure_persistence: if cfg!(miri) { None } else { Default::default() },
            ..Default::default()
        })]

        #[test]
        fn matches_model(
            limit in prop::option::of(1..8usize),
            ops in prop::collection::vec(prop_oneof![
                4 => (0..16u8, 0..1_000u32, prop::option::of(0..40u64), via())
                    .prop_map(|(k, v, ttl, via)| Op::Insert(k, v, ttl, via)),
                4 => (0..16u8, any::<bool>(), via())
                    .prop_map(|(k, check, via)| Op::Get(k, check, via)),
                2 => (0..16u8, via()).prop_map(|(k, via)| Op::Remove(k, via)),
                1 => Just(Op::Clear),
                2 => (0..15u64).prop_map(Op::Advance),
            ], 0..if cfg!(miri) { 32 } else { 200 }),
        ) {
            replay(limit, &ops);
        }
    }
}
