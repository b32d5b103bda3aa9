//! The `make_key` model: caches keyed by a custom `make_key`, by argument tuples, and
//! a fallible one, all with keys whose `Hash` collides on purpose (every key hashing
//! alike, or only a few bits of it), never return another key's value.
//!
//! Calls one at a time are checked against an exact LRU model (a `VecDeque` of key and
//! run, most recent first): a hit returns the very run the model holds and runs
//! nothing, a miss runs the function once, errors are not stored, and the limit
//! evicts the least recently used key. Batches of concurrent calls (on the executor
//! of [`exec`](crate::exec)) check that each value is its own key's, then clear.
//!
//! Shared by `tests/cache/prop_make_key.rs` and the fuzz target (both include this file by
//! path; it lives in the package so the published crate's tests build), so it uses
//! haiway's public API and std only.

use std::collections::VecDeque;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use haiway::cache::{Cached, TryCached};

use crate::exec::{Polled, Task, YieldNow};

/// Distinct ids (an id byte is taken modulo this).
pub const IDS: u8 = 24;
/// Most ops replayed from one input; most calls in a batch.
pub const MAX_OPS: usize = 300;
pub const MAX_BATCH: usize = 12;

/// A key whose hash keeps only the bits of `id` in `mask`: with a mask of 0 every key
/// hashes alike, so only `Eq` tells keys apart.
#[derive(Debug, Clone, Copy)]
pub struct Collide {
    pub id: u8,
    pub mask: u8,
}

impl PartialEq for Collide {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Collide {}

impl Hash for Collide {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.id & self.mask).hash(state);
    }
}

/// Arguments of which `make_key` keeps only the id: requests that differ in their
/// other fields share a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    pub id: u8,
    /// Not part of the key.
    pub note: String,
    /// The fallible cache's function fails for this request.
    pub fail: bool,
}

/// Which cache an op goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Which {
    /// `make_key(|r: &Request| Collide { .. })`.
    Keyed,
    /// Keyed by the `(Collide, u8)` argument tuple itself.
    Tuple,
    /// A `try_build` with `make_key`.
    Fallible,
}

/// One step of the model.
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Op {
    /// One call, awaited before the next op. `b` is the tuple's second element (taken
    /// modulo 3); `fail` makes the fallible cache's function fail.
    Call {
        which: Which,
        id: u8,
        b: u8,
        fail: bool,
    },
    /// Calls made concurrently (`(id, b)` each), then the cache is cleared.
    Batch { which: Which, calls: Vec<(u8, u8)> },
    /// `clear_call_cache` for one key (the keyed caches: `clear_key` by the key itself
    /// when `by_key`).
    ClearKey {
        which: Which,
        id: u8,
        b: u8,
        by_key: bool,
    },
    /// `clear_cache`.
    Clear { which: Which },
}

/// A whole scenario.
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Input {
    /// The caches' limit (taken modulo 6, plus 1).
    pub limit: u8,
    /// The hash mask of every key: 0 (all collide), 1, 3 or all bits, by this modulo 4.
    pub mask: u8,
    /// Bodies yield this many times (modulo 3) before returning.
    pub yields: u8,
    /// The steps.
    pub ops: Vec<Op>,
}

/// The key every cache of the model uses, in model form: `(id, b)` (`b` is 0 except
/// for the tuple cache).
type Key = (u8, u8);

/// What a body returns: its key and its run number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub key: Key,
    pub run: u32,
}

/// A call of any of the caches: `Err` is the fallible cache's error (a clone for each
/// caller of the run).
type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, Reply>> + 'a>>;

/// The caches under test, with one LRU model each.
struct Caches {
    keyed: Cached<Request, Reply>,
    tuple: Cached<(Collide, u8), Reply>,
    fallible: TryCached<Request, Reply, Reply>,
    /// The next run number (shared by every body).
    runs: Arc<AtomicU32>,
    mask: u8,
    limit: usize,
    /// Per cache (by `Which as usize`): keys and runs, most recently used first.
    models: [VecDeque<(Key, u32)>; 3],
}

/// A body: yields, then replies with its key and a fresh run number.
async fn body(runs: Arc<AtomicU32>, key: Key, yields: u8) -> Reply {
    let run = runs.fetch_add(1, Ordering::SeqCst);
    for _ in 0..yields {
        YieldNow::default().await;
    }
    Reply { key, run }
}

impl Caches {
    fn new(input: &Input) -> Self {
        let limit = usize::from(input.limit % 6) + 1;
        let mask = [0, 1, 3, u8::MAX][usize::from(input.mask % 4)];
        let yields = input.yields % 3;
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let keyed = Cached::builder()
            .limit(limit)
            .make_key(move |req: &Request| Collide { id: req.id, mask })
            .build(move |req: Request| body(r.clone(), (req.id, 0), yields));
        let r = runs.clone();
        let tuple = Cached::builder()
            .limit(limit)
            .build(move |(c, b): (Collide, u8)| body(r.clone(), (c.id, b), yields));
        let r = runs.clone();
        let fallible = Cached::builder()
            .limit(limit)
            .make_key(move |req: &Request| Collide { id: req.id, mask })
            .try_build(move |req: Request| {
                let reply = body(r.clone(), (req.id, 0), yields);
                async move {
                    let reply = reply.await;
                    if req.fail { Err(reply) } else { Ok(reply) }
                }
            });
        Caches {
            keyed,
            tuple,
            fallible,
            runs,
            mask,
            limit,
            models: Default::default(),
        }
    }

    fn key(&self, which: Which, id: u8, b: u8) -> Key {
        (id % IDS, if which == Which::Tuple { b % 3 } else { 0 })
    }

    /// One call, as a future: `Err` is the fallible cache's (shared) error.
    fn call(&self, which: Which, (id, b): Key, fail: bool) -> CallFuture<'_> {
        let request = Request {
            id,
            note: format!("request {id}"),
            fail,
        };
        match which {
            Which::Keyed => {
                let call = self.keyed.call(request);
                Box::pin(async move { Ok(call.await) })
            }
            Which::Tuple => {
                let call = self.tuple.call((
                    Collide {
                        id,
                        mask: self.mask,
                    },
                    b,
                ));
                Box::pin(async move { Ok(call.await) })
            }
            Which::Fallible => Box::pin(self.fallible.call(request)),
        }
    }

    fn clear(&mut self, which: Which, key: Option<Key>, by_key: bool) {
        let mask = self.mask;
        let request = |id| Request {
            id,
            note: String::new(),
            fail: false,
        };
        let collide = |id| Collide { id, mask };
        let cleared = crate::exec::block_on(async {
            match (which, key) {
                (Which::Keyed, None) => self.keyed.clear_cache().await,
                (Which::Keyed, Some((id, _))) if by_key => self.keyed.clear_key(&collide(id)).await,
                (Which::Keyed, Some((id, _))) => self.keyed.clear_call_cache(&request(id)).await,
                (Which::Tuple, None) => self.tuple.clear_cache().await,
                (Which::Tuple, Some((id, b))) if by_key => {
                    self.tuple.clear_key(&(collide(id), b)).await
                }
                (Which::Tuple, Some((id, b))) => {
                    self.tuple
                        .clear_call_cache(&(Collide { id, mask }, b))
                        .await
                }
                (Which::Fallible, None) => self.fallible.clear_cache().await,
                (Which::Fallible, Some((id, _))) if by_key => {
                    self.fallible.clear_key(&collide(id)).await
                }
                (Which::Fallible, Some((id, _))) => {
                    self.fallible.clear_call_cache(&request(id)).await
                }
            }
        });
        cleared.expect("an in-memory clear cannot fail");
        let model = &mut self.models[which as usize];
        match key {
            None => model.clear(),
            Some(key) => model.retain(|(k, _)| *k != key),
        }
    }

    /// One call checked against the model.
    fn call_one(&mut self, which: Which, key: Key, fail: bool) {
        let next_run = self.runs.load(Ordering::SeqCst);
        let got = crate::exec::block_on(self.call(which, key, fail));
        let limit = self.limit;
        let model = &mut self.models[which as usize];
        let expected = match model.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                // A hit: the stored run, now the most recently used.
                let entry = model.remove(i).expect("found");
                model.push_front(entry);
                Ok(Reply { key, run: entry.1 })
            }
            None => {
                let reply = Reply { key, run: next_run };
                if which == Which::Fallible && fail {
                    Err(reply)
                } else {
                    model.push_front((key, next_run));
                    model.truncate(limit);
                    Ok(reply)
                }
            }
        };
        let model_len = model.len();
        assert_eq!(got, expected, "{which:?} call of {key:?}");
        assert_eq!(self.len(which), model_len, "{which:?}: stored values");
    }

    /// Concurrent calls: each gets its own key's value; afterwards the cache is cleared.
    fn batch(&mut self, which: Which, calls: &[(u8, u8)]) {
        let keys: Vec<Key> = calls
            .iter()
            .take(MAX_BATCH)
            .map(|&(id, b)| self.key(which, id, b))
            .collect();
        let mut tasks: Vec<_> = keys
            .iter()
            .map(|&key| (key, Task::new(self.call(which, key, false))))
            .collect();
        for _ in 0..10_000 {
            let mut woken = false;
            tasks.retain_mut(|(key, task)| {
                woken |= task.is_woken();
                match task.poll() {
                    Polled::Idle | Polled::Pending => true,
                    Polled::Ready(Ok(reply)) => {
                        assert_eq!(reply.key, *key, "{which:?}: another key's value");
                        false
                    }
                    Polled::Ready(Err(e)) => panic!("{which:?}: unexpected error {e:?}"),
                    Polled::Panicked(p) => std::panic::resume_unwind(p),
                }
            });
            if !woken {
                break;
            }
        }
        let stuck: Vec<_> = tasks.iter().map(|(k, _)| *k).collect();
        assert!(
            stuck.is_empty(),
            "{which:?}: calls of {stuck:?} never finished"
        );
        drop(tasks);
        assert!(self.len(which) <= self.limit);
        self.clear(which, None, false);
    }

    fn len(&self, which: Which) -> usize {
        match which {
            Which::Keyed => self.keyed.stats().len,
            Which::Tuple => self.tuple.stats().len,
            Which::Fallible => self.fallible.stats().len,
        }
    }

    /// The stores' own invariants (fuzzing builds only).
    fn validate(&self) {
        #[cfg(fuzzing)]
        {
            self.keyed.validate();
            self.tuple.validate();
            self.fallible.validate();
        }
    }
}

/// Replays `input`, panicking on the first broken invariant.
pub fn replay(input: &Input) {
    let mut caches = Caches::new(input);
    for op in input.ops.iter().take(MAX_OPS) {
        match op {
            &Op::Call { which, id, b, fail } => {
                let key = caches.key(which, id, b);
                caches.call_one(which, key, fail);
            }
            Op::Batch { which, calls } => caches.batch(*which, calls),
            &Op::ClearKey {
                which,
                id,
                b,
                by_key,
            } => {
                let key = caches.key(which, id, b);
                caches.clear(which, Some(key), by_key);
            }
            &Op::Clear { which } => caches.clear(which, None, false),
        }
        caches.validate();
    }
}
