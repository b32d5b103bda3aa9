//! The `cache_calls` model: callers of one cache interleaved on the deterministic
//! executor of [`exec`](crate::exec), with cancellations, panicking and failing bodies,
//! expiry on a manual clock, `clear_cache` and `clear_call_cache`.
//!
//! Each run of the cached function records its key, its *epoch* (how many clears had
//! started before it) and when it finished; it returns `(key, run)`. The checks, after
//! every step:
//!
//! - a caller gets a value (or error) of its own key;
//! - never a run that started before a clear of its key that had returned `Ok` when
//!   the caller looked (nothing cleared is resurrected: the clear rule; a run that
//!   started while the clear was under way may be kept), nor a value that had expired
//!   when the caller looked;
//! - an error is never stored: it reaches only callers that were there before it;
//! - at most one run per key is alive at a time between two clears (single-flight);
//! - the store never holds more than its limit, and every caller is counted once as a
//!   hit or a miss;
//! - once the gates open, every caller finishes and every run is dropped (nothing
//!   hangs, nothing leaks), and the store's links are valid (fuzzing builds).
//!
//! In the backend mode ([`BackendMode`]) the cache sits in front of the in-memory
//! backend of [`backend`] (with or without a memory tier), whose reads, writes and
//! clears fail, wait for the harness and complete out of order. Callers run outside
//! any scope (writes awaited by the call), in a scope that drives its own tasks, or in
//! a scope whose spawner hands the writes to the harness as tasks of their own.
//! Clears are tasks too, and may fail. Values read from the backend are checked as
//! any other, and after the drain each key is called once more, so a stale value left
//! in the backend is caught.
//!
//! Shared by `tests/cache/prop_cache_calls.rs` and the fuzz targets (both include this file
//! by path; it lives in the package so the published crate's tests build), so it uses
//! haiway's public API and std only.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use haiway::cache::{CacheError, Cached, Clock, ManualClock, TryCached};

use self::harness::Harness;
use crate::exec::{BodyPanic, Gates, Task, YieldNow};

#[path = "cache_calls/backend.rs"]
mod backend;
#[path = "cache_calls/harness.rs"]
mod harness;

pub use self::backend::OpPlan;

/// Distinct keys (a key byte is taken modulo this).
pub const KEYS: u8 = 5;
/// Most callers alive at once (more `Call`s are ignored).
pub const MAX_CALLERS: usize = 24;
/// Most ops replayed from one input.
pub const MAX_OPS: usize = 400;
/// Most clears running at once (more are ignored).
pub const MAX_CLEARS: usize = 4;

/// What one run of the cached function does, chosen per run from [`Input::bodies`].
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Body {
    /// Yields before the gate (taken modulo 4).
    pub yields: u8,
    /// Waits at its key's gate until released.
    pub gated: bool,
    /// Panics at the end instead of returning.
    pub panics: bool,
    /// Returns an error (in fallible caches) instead of a value.
    pub fails: bool,
}

/// One step of the model.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Op {
    /// A new caller of `key`, dropped after `cancel_after` polls if still pending.
    Call { key: u8, cancel_after: Option<u8> },
    /// Polls one caller (by position among the live ones) if it was woken.
    Poll { caller: u8 },
    /// Polls every woken caller once.
    PollAll,
    /// Drops one caller.
    Cancel { caller: u8 },
    /// Releases the bodies waiting at `key`'s gate.
    Release { key: u8 },
    /// `clear_cache`.
    Clear,
    /// `clear_call_cache(&key)`.
    ClearKey { key: u8 },
    /// Moves the manual clock forward.
    Advance { ms: u8 },
    /// Backend mode: settles one held backend operation (by position among them).
    Settle { op: u8 },
    /// Backend mode: polls one task the scopes spawned (a write), if it was woken.
    Spawned { task: u8 },
}

/// Where callers run, in the backend mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Spawning {
    /// Outside any scope: a call awaits its backend write before it returns.
    #[default]
    Inline,
    /// In a scope of their own with no spawner: the scope drives the writes.
    ScopeDrives,
    /// In a scope whose spawner hands the writes to the harness, as tasks.
    Spawner,
}

/// The backend mode: the cache in front of a backend.
#[derive(Debug, Clone, Default)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct BackendMode {
    /// A memory tier (of the cache's limit) in front of the backend; else none.
    pub memory: bool,
    /// Where callers run.
    pub spawning: Spawning,
    /// The backend's `clear_if` compares (compare-and-delete); else it clears the key
    /// whatever it holds, as the trait's default does.
    pub compares: bool,
    /// Backend operation `n` goes as `plans[n % len]` (at once and fine when empty).
    pub plans: Vec<OpPlan>,
}

/// A whole scenario.
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Input {
    /// The cache's limit (taken modulo 4, plus 1).
    pub limit: u8,
    /// The expiration in ms (plus 1), if any.
    pub ttl_ms: Option<u8>,
    /// A `TryCached`, whose bodies may fail, instead of a `Cached`.
    pub fallible: bool,
    /// Run `r` behaves as `bodies[r % len]` (a plain body when empty).
    pub bodies: Vec<Body>,
    /// The backend mode, if any.
    pub backend: Option<BackendMode>,
    /// The steps.
    pub ops: Vec<Op>,
}

/// A body's error: the run that failed (each caller of that run gets a clone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed(pub u32);

/// What a caller gets.
type Outcome = Result<(u8, u32), Failed>;

/// The cache under test, either kind.
enum Handle {
    Plain(Cached<u8, (u8, u32)>),
    Fallible(TryCached<u8, (u8, u32), Failed>),
}

impl Handle {
    fn call(&self, key: u8) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
        match self {
            Handle::Plain(c) => {
                let call = c.call(key);
                Box::pin(async move { Ok(call.await) })
            }
            Handle::Fallible(c) => Box::pin(c.call(key)),
        }
    }

    /// Clears one key or everything.
    fn clear(&self, key: Option<u8>) -> Task<'_, Result<(), CacheError>> {
        Task::new(async move {
            match (self, key) {
                (Handle::Plain(c), None) => c.clear_cache().await,
                (Handle::Plain(c), Some(k)) => c.clear_call_cache(&k).await,
                (Handle::Fallible(c), None) => c.clear_cache().await,
                (Handle::Fallible(c), Some(k)) => c.clear_call_cache(&k).await,
            }
        })
    }

    fn stats(&self) -> haiway::cache::Stats {
        match self {
            Handle::Plain(c) => c.stats(),
            Handle::Fallible(c) => c.stats(),
        }
    }

    /// The store's own invariants (fuzzing builds only).
    fn validate(&self) {
        #[cfg(fuzzing)]
        match self {
            Handle::Plain(c) => c.validate(),
            Handle::Fallible(c) => c.validate(),
        }
    }
}

/// One run of the cached function, as the model saw it.
#[derive(Debug)]
struct Run {
    key: u8,
    /// Clears started before the run started.
    epoch: u64,
    /// The key's flight epoch when the caller that drove its start looked it up (the
    /// epoch its flight was born in).
    flight_epoch: u64,
    body: Body,
    /// The step and clock reading when it finished (returned or failed).
    finished: Option<(u64, Instant)>,
    /// The last time its value was stored: in memory when it finished, in the backend
    /// when a write landed, in memory again when a read returned it.
    stored: Option<Instant>,
    /// Its future still exists.
    alive: bool,
}

/// What the bodies and the checks share.
#[derive(Default)]
struct World {
    runs: Vec<Run>,
    /// Clears started so far.
    clears: u64,
    /// Per key, the epoch of the latest clear of it that returned `Ok` (its position
    /// among the clears started): a caller that looks now must get a run of at least
    /// that epoch.
    floors: [u64; KEYS as usize],
    /// Bumped whenever a clear empties the memory tier (when it starts and when it
    /// returns, `Ok` or not): a run started since does not share a flight with one
    /// started before.
    flight_epochs: [u64; KEYS as usize],
    /// The flight epoch of the caller being polled, at its first lookup.
    driver: Option<u64>,
    /// Logical time: one tick per executor poll or op.
    step: u64,
    bodies: Vec<Body>,
}

type SharedWorld = Arc<Mutex<World>>;

fn lock(world: &SharedWorld) -> std::sync::MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks its run dead when the body's future is dropped (finished, cancelled or
/// unwound).
struct Alive(SharedWorld, u32);

impl Drop for Alive {
    fn drop(&mut self) {
        lock(&self.0).runs[self.1 as usize].alive = false;
    }
}

/// Starts run of `key` (the function was called: its caller leads a computation).
fn start_run(world: &SharedWorld, key: u8) -> (u32, Body) {
    let mut w = lock(world);
    let epoch = w.clears;
    let flight_epoch = w.driver.expect("runs start in a caller's poll");
    // Single-flight: no other computation of this key may be running in a flight born
    // since the last clear (a clear forgets the flights before it: their runs go on for
    // the callers that were waiting on them).
    if let Some(other) = w
        .runs
        .iter()
        .position(|r| r.alive && r.key == key && r.flight_epoch == flight_epoch)
    {
        panic!(
            "run {other} of key {key} (flight epoch {flight_epoch}) is still running: two leaders"
        );
    }
    let run = u32::try_from(w.runs.len()).expect("few runs");
    let body = match w.bodies.len() {
        0 => Body::default(),
        n => w.bodies[run as usize % n],
    };
    w.runs.push(Run {
        key,
        epoch,
        flight_epoch,
        body,
        finished: None,
        stored: None,
        alive: true,
    });
    (run, body)
}

/// The cached function's body for run `run`.
async fn body(
    world: SharedWorld,
    gates: Gates,
    clock: ManualClock,
    key: u8,
    fallible: bool,
) -> Result<(u8, u32), Failed> {
    let (run, plan) = start_run(&world, key);
    let alive = Alive(world.clone(), run);
    for _ in 0..plan.yields % 4 {
        YieldNow::default().await;
    }
    if plan.gated {
        gates.wait(key).await;
    }
    if plan.panics {
        std::panic::panic_any(BodyPanic(run));
    }
    {
        let mut w = lock(&world);
        let (step, now) = (w.step, clock.now());
        let r = &mut w.runs[run as usize];
        r.finished = Some((step, now));
        r.stored = Some(now);
    }
    drop(alive);
    if fallible && plan.fails {
        Err(Failed(run))
    } else {
        Ok((key, run))
    }
}

/// Replays `input`, panicking on the first broken invariant.
pub fn replay(input: &Input) {
    crate::exec::quiet_body_panics();
    let limit = usize::from(input.limit % 4) + 1;
    let ttl = input
        .ttl_ms
        .map(|ms| Duration::from_millis(u64::from(ms) + 1));
    let clock = ManualClock::new();
    let gates = Gates::default();
    let world: SharedWorld = Arc::new(Mutex::new(World {
        bodies: input.bodies.iter().take(64).copied().collect(),
        ..World::default()
    }));
    let mode = input.backend.clone();
    let fake = mode
        .as_ref()
        .map(|m| backend::Fake::new(&m.plans, m.compares, world.clone(), clock.clone()));
    // Without a backend the memory tier is the cache; with one, it is optional.
    let memory = mode.as_ref().is_none_or(|m| m.memory);

    let mut builder = Cached::builder().clock(clock.clone());
    if memory {
        builder = builder.limit(limit);
    }
    if let Some(ttl) = ttl {
        builder = builder.expiration(ttl);
    }
    let make = {
        let (world, gates, clock) = (world.clone(), gates.clone(), clock.clone());
        move |key: u8, fallible: bool| {
            body(world.clone(), gates.clone(), clock.clone(), key, fallible)
        }
    };
    let handle = match (fake.clone(), input.fallible) {
        (None, false) => Handle::Plain(builder.build(move |key: u8| {
            let run = make(key, false);
            async move { run.await.expect("plain bodies do not fail") }
        })),
        (None, true) => Handle::Fallible(builder.try_build(move |key: u8| make(key, true))),
        (Some(fake), false) => Handle::Plain(builder.backend(fake).build(move |key: u8| {
            let run = make(key, false);
            async move { run.await.expect("plain bodies do not fail") }
        })),
        (Some(fake), true) => Handle::Fallible(
            builder
                .backend(fake)
                .try_build(move |key: u8| make(key, true)),
        ),
    };

    let spawning = mode.as_ref().map_or(Spawning::Inline, |m| m.spawning);
    let limit = if memory { limit } else { 0 };
    let mut h = Harness::new(&handle, &world, &clock, ttl, limit, fake.as_ref(), spawning);
    for op in input.ops.iter().take(MAX_OPS) {
        lock(&world).step += 1;
        match *op {
            Op::Call { key, cancel_after } => h.call(key % KEYS, cancel_after),
            Op::Poll { caller } => h.poll_nth(caller),
            Op::PollAll => {
                h.poll_all();
            }
            Op::Cancel { caller } => h.cancel_nth(caller),
            Op::Release { key } => gates.release(key % KEYS),
            Op::Clear => h.clear(None),
            Op::ClearKey { key } => h.clear(Some(key % KEYS)),
            Op::Advance { ms } => clock.advance(Duration::from_millis(u64::from(ms))),
            Op::Settle { op } => {
                if let Some(fake) = &fake {
                    fake.settle(op);
                }
            }
            Op::Spawned { task } => h.poll_spawned_nth(task),
        }
        h.check_store();
    }

    // Drain: open every gate and settle every backend operation, then poll until
    // nobody is woken any more.
    gates.open_all();
    if let Some(fake) = &fake {
        fake.open();
    }
    h.drain();
    // Each key once more: nothing cleared may come back, from memory or the backend.
    for key in 0..KEYS {
        h.call(key, None);
    }
    h.drain();
    h.check_store();
    let stats = handle.stats();
    assert_eq!(
        stats.hits + stats.misses,
        h.looked_up,
        "each caller counts once, as a hit or a miss"
    );
    drop(h);
    let w = lock(&world);
    assert_eq!(
        stats.runs,
        w.runs.len() as u64,
        "the stats count every start of the function"
    );
    let alive: Vec<_> = (0..w.runs.len()).filter(|&r| w.runs[r].alive).collect();
    assert!(alive.is_empty(), "runs {alive:?} were never dropped");
}
