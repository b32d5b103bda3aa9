//! The arena-backed LRU against a `VecDeque` model (most recently used first): insert,
//! get (with or without the clock), remove, clear and clock advances, with random
//! limits and expirations and keys whose hashes may collide. Same hits, same evicted
//! keys in the same order, same expiry; `validate` after every op. A key byte's top bit
//! picks the `*_hashed` form of insert, get and remove (the key is the byte modulo
//! [`KEYS`], so the bit is otherwise unused and old corpus entries still decode).
#![no_main]

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use haiway::__fuzz::{Insert, Lookup, Lru};
use libfuzzer_sys::fuzz_target;

/// Distinct keys (a key byte is taken modulo this).
const KEYS: u8 = 32;

/// Whether an op on this key byte uses the `*_hashed` form.
fn hashed(key: u8) -> bool {
    key & 0x80 != 0
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Insert, expiring `ttl_ms` after the clock's time if `Some`.
    Insert {
        key: u8,
        value: u16,
        ttl_ms: Option<u8>,
    },
    /// Get, checking expiry against the clock if `check_expiry`.
    Get {
        key: u8,
        check_expiry: bool,
    },
    Remove {
        key: u8,
    },
    Clear,
    /// Moves the clock forward.
    Advance {
        ms: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// `None`: unbounded; else taken modulo 16, plus 1.
    limit: Option<u8>,
    /// Every key hashes to one of two values.
    collide: bool,
    ops: Vec<Op>,
}

/// A key whose hash is its id, or (colliding) only the id's lowest bit.
#[derive(Debug, Clone, Copy)]
struct Key {
    id: u8,
    collide: bool,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.collide {
            (self.id & 1).hash(state);
        } else {
            self.id.hash(state);
        }
    }
}

/// An owned [`Lookup`].
#[derive(Debug, PartialEq)]
enum Got {
    Hit(u16),
    Miss,
    Expired,
}

/// A model entry: key id, value, expiry.
type Entry = (u8, u16, Option<Instant>);

fn take(model: &mut VecDeque<Entry>, id: u8) -> Option<Entry> {
    let i = model.iter().position(|e| e.0 == id)?;
    model.remove(i)
}

fuzz_target!(|input: Input| {
    let limit = input.limit.map(|l| usize::from(l % 16) + 1);
    let mut store: Lru<Key, u16> = Lru::new(limit.and_then(NonZeroUsize::new));
    let mut model: VecDeque<Entry> = VecDeque::new();
    let mut now = Instant::now();
    let key = |id: u8| Key {
        id: id % KEYS,
        collide: input.collide,
    };
    for op in input.ops.iter().take(2_000) {
        match *op {
            Op::Insert {
                key: k,
                value,
                ttl_ms,
            } => {
                let via_hash = hashed(k);
                let k = key(k);
                let at = ttl_ms.map(|ms| now + Duration::from_millis(u64::from(ms)));
                let old = take(&mut model, k.id);
                model.push_front((k.id, value, at));
                let expected = match old {
                    Some((_, old, _)) => Some((None, old)),
                    None if model.len() > limit.unwrap_or(usize::MAX) => {
                        let (id, v, _) = model.pop_back().expect("over the limit");
                        Some((Some(id), v))
                    }
                    None => None,
                };
                let inserted = if via_hash {
                    store.insert_hashed(store.hash(&k), k, value, at)
                } else {
                    store.insert(k, value, at)
                };
                let got = match inserted {
                    Insert::Inserted => None,
                    Insert::Replaced(old) => Some((None, old)),
                    Insert::Evicted(k, v) => Some((Some(k.id), v)),
                };
                assert_eq!(got, expected, "{op:?}");
            }
            Op::Get {
                key: k,
                check_expiry,
            } => {
                let via_hash = hashed(k);
                let k = key(k);
                let clock = check_expiry.then_some(now);
                let expected = match take(&mut model, k.id) {
                    None => Got::Miss,
                    Some((_, _, Some(at))) if clock.is_some_and(|t| at <= t) => Got::Expired,
                    Some(entry) => {
                        model.push_front(entry);
                        Got::Hit(entry.1)
                    }
                };
                let looked_up = if via_hash {
                    store.get_hashed(store.hash(&k), &k, clock)
                } else {
                    store.get(&k, clock)
                };
                let got = match looked_up {
                    Lookup::Hit(&v) => Got::Hit(v),
                    Lookup::Miss => Got::Miss,
                    Lookup::Expired => Got::Expired,
                };
                assert_eq!(got, expected, "{op:?}");
            }
            Op::Remove { key: k } => {
                let via_hash = hashed(k);
                let k = key(k);
                let expected = take(&mut model, k.id).map(|e| e.1);
                let removed = if via_hash {
                    store.remove_hashed(store.hash(&k), &k)
                } else {
                    store.remove(&k)
                }
                .map(|(_, v)| v);
                assert_eq!(removed, expected, "{op:?}");
            }
            Op::Clear => {
                model.clear();
                store.clear();
                assert!(store.is_empty());
            }
            Op::Advance { ms } => now += Duration::from_millis(u64::from(ms)),
        }
        store.validate();
        assert_eq!(store.len(), model.len(), "{op:?}");
        assert!(
            store.keys_mru().map(|k| k.id).eq(model.iter().map(|e| e.0)),
            "{op:?}: recency order differs"
        );
    }
});
