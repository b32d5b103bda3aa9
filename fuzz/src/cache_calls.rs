//! The `cache_calls` model: callers of one cache interleaved on the deterministic
//! executor of [`exec`](crate::exec), with cancellations, panicking and failing bodies,
//! expiry on a manual clock, `clear_cache` and `clear_call_cache`.
//!
//! Each run of the cached function records its key, the key's *epoch* (how many
//! clears of that key came before it) and when it finished; it returns
//! `(key, run)`. The checks, after every step:
//!
//! - a caller gets a value (or error) of its own key;
//! - never a run that started before a clear the caller came after (nothing cleared
//!   is resurrected), nor a value that had expired when the caller looked;
//! - an error is never stored: it reaches only callers that were there before it;
//! - at most one run per key and epoch is alive at a time (single-flight);
//! - the store never holds more than its limit, and every caller is counted once as a
//!   hit or a miss;
//! - once the gates open, every caller finishes and every run is dropped (nothing
//!   hangs, nothing leaks), and the store's links are valid (fuzzing builds).
//!
//! Shared by the fuzz target and by `tests/prop_cache_calls.rs` (which includes this
//! file by path), so it uses haiway's public API and std only.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use haiway::cache::{Cached, Clock, ManualClock, TryCached};

use crate::exec::{BodyPanic, Gates, Polled, Task, YieldNow};

/// Distinct keys (a key byte is taken modulo this).
pub const KEYS: u8 = 5;
/// Most callers alive at once (more `Call`s are ignored).
pub const MAX_CALLERS: usize = 24;
/// Most ops replayed from one input.
pub const MAX_OPS: usize = 400;

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

    /// Clears one key or everything; an in-memory clear finishes on its first poll.
    fn clear(&self, key: Option<u8>) {
        let cleared = crate::exec::block_on(async {
            match (self, key) {
                (Handle::Plain(c), None) => c.clear_cache().await,
                (Handle::Plain(c), Some(k)) => c.clear_call_cache(&k).await,
                (Handle::Fallible(c), None) => c.clear_cache().await,
                (Handle::Fallible(c), Some(k)) => c.clear_call_cache(&k).await,
            }
        });
        cleared.expect("an in-memory clear cannot fail");
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
    /// The key's epoch when the run started.
    epoch: u64,
    body: Body,
    /// The step and clock reading when it finished (returned or failed).
    finished: Option<(u64, Instant)>,
    /// Its future still exists.
    alive: bool,
}

/// What the bodies and the checks share.
#[derive(Default)]
struct World {
    runs: Vec<Run>,
    /// Clears per key so far.
    epochs: [u64; KEYS as usize],
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
    let epoch = w.epochs[usize::from(key)];
    // Single-flight: no other computation of this key and epoch may be running.
    if let Some(other) = w
        .runs
        .iter()
        .position(|r| r.alive && r.key == key && r.epoch == epoch)
    {
        panic!("run {other} of key {key} (epoch {epoch}) is still running: two leaders");
    }
    let run = u32::try_from(w.runs.len()).expect("few runs");
    let body = match w.bodies.len() {
        0 => Body::default(),
        n => w.bodies[run as usize % n],
    };
    w.runs.push(Run {
        key,
        epoch,
        body,
        finished: None,
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
        let step = w.step;
        w.runs[run as usize].finished = Some((step, clock.now()));
    }
    drop(alive);
    if fallible && plan.fails {
        Err(Failed(run))
    } else {
        Ok((key, run))
    }
}

/// Names a caller and the run it got, in a failed check's message.
struct Who<'a>(u8, u32, &'a Run);

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "caller of key {} got run {} {:?}",
            self.0, self.1, self.2
        )
    }
}

/// A caller: a task calling the cache for `key`.
struct Caller<'c> {
    key: u8,
    task: Task<'c, Outcome>,
    /// Epoch of its key, step and clock reading at its first poll (its first lookup).
    first: Option<(u64, u64, Instant)>,
    cancel_after: Option<u8>,
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

    let mut builder = Cached::builder().limit(limit).clock(clock.clone());
    if let Some(ttl) = ttl {
        builder = builder.expiration(ttl);
    }
    let handle = {
        let (world, gates, clock) = (world.clone(), gates.clone(), clock.clone());
        let make = move |key: u8, fallible: bool| {
            body(world.clone(), gates.clone(), clock.clone(), key, fallible)
        };
        if input.fallible {
            Handle::Fallible(builder.try_build(move |key: u8| make(key, true)))
        } else {
            Handle::Plain(builder.build(move |key: u8| {
                let run = make(key, false);
                async move { run.await.expect("plain bodies do not fail") }
            }))
        }
    };

    let mut h = Harness {
        handle: &handle,
        world: &world,
        clock: &clock,
        ttl,
        limit,
        callers: Vec::new(),
        looked_up: 0,
    };
    for op in input.ops.iter().take(MAX_OPS) {
        lock(&world).step += 1;
        match *op {
            Op::Call { key, cancel_after } => {
                if h.callers.len() < MAX_CALLERS {
                    let key = key % KEYS;
                    h.callers.push(Caller {
                        key,
                        task: Task::new(handle.call(key)),
                        first: None,
                        cancel_after,
                    });
                }
            }
            Op::Poll { caller } => {
                if !h.callers.is_empty() {
                    let i = usize::from(caller) % h.callers.len();
                    h.poll(i);
                }
            }
            Op::PollAll => {
                h.poll_all();
            }
            Op::Cancel { caller } => {
                if !h.callers.is_empty() {
                    let i = usize::from(caller) % h.callers.len();
                    drop(h.callers.remove(i));
                }
            }
            Op::Release { key } => gates.release(key % KEYS),
            Op::Clear => {
                handle.clear(None);
                let mut w = lock(&world);
                w.epochs.iter_mut().for_each(|e| *e += 1);
                drop(w);
                assert_eq!(handle.stats().len, 0, "clear_cache left values");
            }
            Op::ClearKey { key } => {
                let key = key % KEYS;
                handle.clear(Some(key));
                lock(&world).epochs[usize::from(key)] += 1;
            }
            Op::Advance { ms } => clock.advance(Duration::from_millis(u64::from(ms))),
        }
        h.check_store();
    }

    // Drain: open every gate, then poll until nobody is woken any more.
    gates.open_all();
    for _ in 0..100_000 {
        if !h.poll_all() {
            break;
        }
    }
    let stuck: Vec<_> = h.callers.iter().map(|c| (c.key, c.task.polls)).collect();
    assert!(
        stuck.is_empty(),
        "callers (key, polls) {stuck:?} never finished: pending with nobody to wake them"
    );
    h.check_store();
    drop(h);
    let w = lock(&world);
    let alive: Vec<_> = (0..w.runs.len()).filter(|&r| w.runs[r].alive).collect();
    assert!(alive.is_empty(), "runs {alive:?} were never dropped");
}

/// The callers and what the checks need.
struct Harness<'c> {
    handle: &'c Handle,
    world: &'c SharedWorld,
    clock: &'c ManualClock,
    ttl: Option<Duration>,
    limit: usize,
    callers: Vec<Caller<'c>>,
    /// Callers that made their first lookup.
    looked_up: u64,
}

impl Harness<'_> {
    /// Polls every woken caller once; whether any was.
    fn poll_all(&mut self) -> bool {
        let mut any = false;
        let mut i = 0;
        while i < self.callers.len() {
            if self.callers[i].task.is_woken() {
                any = true;
                if self.poll(i) {
                    continue; // removed: the next caller is now at `i`
                }
            }
            i += 1;
        }
        any
    }

    /// Polls caller `i` if it was woken; whether it is gone (finished or cancelled).
    fn poll(&mut self, i: usize) -> bool {
        let polled = {
            let caller = &mut self.callers[i];
            if caller.first.is_none() && caller.task.is_woken() {
                let w = lock(self.world);
                let epoch = w.epochs[usize::from(caller.key)];
                caller.first = Some((epoch, w.step, self.clock.now()));
                self.looked_up += 1;
            }
            lock(self.world).step += 1;
            caller.task.poll()
        };
        self.check_store();
        let caller = &self.callers[i];
        match polled {
            Polled::Idle => false,
            Polled::Pending => {
                let polls = caller.task.polls;
                if caller.cancel_after.is_some_and(|n| polls >= u32::from(n)) {
                    drop(self.callers.remove(i));
                    return true;
                }
                false
            }
            Polled::Ready(outcome) => {
                self.check_outcome(caller, &outcome);
                self.callers.remove(i);
                true
            }
            Polled::Panicked(payload) => {
                let Some(&BodyPanic(run)) = payload.downcast_ref::<BodyPanic>() else {
                    std::panic::resume_unwind(payload);
                };
                let w = lock(self.world);
                let r = &w.runs[run as usize];
                assert!(r.body.panics, "run {run} panicked unplanned");
                assert_eq!(
                    r.key, caller.key,
                    "caller of {} got run {run}'s panic",
                    caller.key
                );
                drop(w);
                self.callers.remove(i);
                true
            }
        }
    }

    /// What a finished caller got is of its key, not cleared before it looked, not
    /// expired when it looked.
    fn check_outcome(&self, caller: &Caller<'_>, outcome: &Outcome) {
        let (epoch, first_step, first_at) = caller.first.expect("polled");
        let w = lock(self.world);
        let run = match outcome {
            Ok((key, run)) => {
                assert_eq!(
                    *key, caller.key,
                    "caller of {} got key {key}'s value",
                    caller.key
                );
                *run
            }
            Err(failed) => failed.0,
        };
        let r = &w.runs[run as usize];
        // Formatted only when a check fails.
        let who = Who(caller.key, run, r);
        assert_eq!(r.key, caller.key, "{who}: another key's run");
        assert!(
            r.epoch >= epoch,
            "{who}: computed before a clear this caller came after (epoch {epoch})"
        );
        let (done_step, done_at) = r.finished.expect("an outcome comes from a finished run");
        assert_eq!(
            outcome.is_err(),
            r.body.fails && matches!(self.handle, Handle::Fallible(_))
        );
        if outcome.is_err() {
            // Errors are shared with waiters, never stored.
            assert!(
                done_step >= first_step,
                "{who}: an error served from the store"
            );
        }
        if let Some(ttl) = self.ttl {
            assert!(
                done_at + ttl > first_at,
                "{who}: expired when the caller looked ({:?} after it was stored)",
                first_at - done_at
            );
        }
    }

    fn check_store(&self) {
        self.handle.validate();
        let stats = self.handle.stats();
        assert!(
            stats.len <= self.limit,
            "{} values over the limit {}",
            stats.len,
            self.limit
        );
        assert_eq!(
            stats.hits + stats.misses,
            self.looked_up,
            "each caller counts once, as a hit or a miss"
        );
    }
}
