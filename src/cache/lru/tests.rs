//! The store against a model, and its edge cases.

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

/// A store of pending payloads `u8` holding "live" (live), "old" (expired at
/// `t0 + 10 ms`) and "run" (pending, payload 7); "new" is absent. Its hasher is
/// `hasher`, so two such stores agree on every index.
fn miss_cases(hasher: &DefaultHashBuilder, t0: Instant) -> Lru<&'static str, u32, u8> {
    let mut store = Lru::with_hasher(NonZeroUsize::new(8), hasher.clone());
    let h = store.hash("old");
    store.insert_hashed(h, "old", 1, Some(t0 + Duration::from_millis(10)));
    let h = store.hash("live");
    store.insert_hashed(h, "live", 2, None);
    let h = store.hash("run");
    let now = Some(t0);
    assert!(matches!(
        store.reserve(h, "run", now, Seen::UNKNOWN, || "run", || 7),
        Reserve::Reserved(_, None)
    ));
    store.validate();
    store
}

/// An owned [`Reserve`], to compare two stores' answers.
fn reserved(found: Reserve<'_, u32, u8>) -> (char, usize, Option<u32>) {
    match found {
        Reserve::Live(&v) => ('L', 0, Some(v)),
        Reserve::Pending(idx, &p) => ('P', idx, Some(u32::from(p))),
        Reserve::Reserved(idx, expired) => ('R', idx, expired),
    }
}

#[test]
fn reserve_told_what_the_hit_saw_ends_where_a_fresh_probe_does() {
    // The miss path hands `reserve` what the failed `hit` saw, under the same lock,
    // instead of probing the table again: each case must end as the probing form does.
    let hasher = DefaultHashBuilder::default();
    let t0 = Instant::now();
    let now = Some(t0 + Duration::from_millis(20));
    let cases = [
        ("live", Ok(2), ('L', 0, Some(2))),
        ("old", Err("at"), ('R', 0, Some(1))),
        ("run", Err("at"), ('P', 2, Some(7))),
        ("new", Err("absent"), ('R', 3, None)),
    ];
    for (key, hit, outcome) in cases {
        let (mut told, mut probed) = (miss_cases(&hasher, t0), miss_cases(&hasher, t0));
        let hash = told.hash(key);
        let seen = match told.hit(hash, key, now) {
            Ok(value) => {
                assert_eq!(Ok(value), hit, "{key}");
                continue;
            }
            Err(seen) => seen,
        };
        let kind = match seen {
            Seen::ABSENT => "absent",
            Seen::UNKNOWN => "unknown",
            Seen(_) => "at",
        };
        assert_eq!(Err(kind), hit, "{key}");
        let a = reserved(told.reserve(hash, key, now, seen, || key, || 9));
        let b = reserved(probed.reserve(hash, key, now, Seen::UNKNOWN, || key, || 9));
        assert_eq!((a, b), (outcome, outcome), "{key}");
        told.validate();
        probed.validate();
        assert_eq!(
            told.keys_mru().collect::<Vec<_>>(),
            probed.keys_mru().collect::<Vec<_>>()
        );
        assert_eq!(
            (told.len(), told.pending(a.1)),
            (probed.len(), probed.pending(b.1))
        );
    }
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "seen absent, but present")]
fn reserve_told_absent_for_a_present_key_panics_in_debug_builds() {
    let mut store = miss_cases(&DefaultHashBuilder::default(), Instant::now());
    let hash = store.hash("live");
    let _ = store.reserve(hash, "live", None, Seen::ABSENT, || "live", || 9);
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
