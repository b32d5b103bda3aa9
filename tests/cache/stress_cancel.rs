//! Stress: thousands of cached calls from tasks on two worker threads inside one
//! `Scope`, with seeded random cancellations, panicking bodies, clears and expiry.
//! Afterwards every value belonged to its key, every call is accounted for, the store
//! kept its limit, and the scope ended with no task and no computation left behind.
//! The choices are deterministic in the seed; the whole run is bounded in time.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use haiway::cache::{Cached, ManualClock};
use haiway::runtime::BoxFuture;
use haiway::{Scope, ctx};

use crate::common::yield_n;

/// Tasks, and the steps each takes (under Miri: a taste of it).
#[cfg(not(miri))]
const TASKS: usize = 200;
#[cfg(not(miri))]
const STEPS: usize = 25;
#[cfg(miri)]
const TASKS: usize = 6;
#[cfg(miri)]
const STEPS: usize = 5;

/// Distinct keys, and the cache's limit.
const KEYS: u64 = 16;
const LIMIT: usize = 6;

/// A generous bound on the whole run: past it the test fails as a hang.
const DEADLINE: Duration = Duration::from_secs(if cfg!(miri) { 900 } else { 60 });

/// SplitMix64: a tiny deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// True with probability `percent`%.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The arguments of one call: only `key` is the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Args {
    key: u64,
    /// The body panics if this call runs it.
    panic: bool,
    /// Yields in the body.
    yields: usize,
}

/// The payload of a planned panic: the key whose body panicked.
#[derive(Debug)]
struct Planned(u64);

/// One step of a task.
#[derive(Debug, Clone)]
enum Step {
    /// Call; give up (drop the call) after that many yields if `Some`.
    Call(Args, Option<usize>),
    ClearKey(u64),
    Clear,
    /// Moves the cache's clock past some expirations.
    Advance,
}

/// Counts itself alive in a counter while it exists.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Alive(count.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the tasks saw.
#[derive(Debug, Default)]
struct Tally {
    ok: AtomicUsize,
    cancelled: AtomicUsize,
    panicked: AtomicUsize,
    finished_tasks: AtomicUsize,
}

fn plan(seed: u64) -> Vec<Vec<Step>> {
    let mut rng = Rng(seed);
    (0..TASKS)
        .map(|_| {
            (0..STEPS)
                .map(|_| match rng.below(100) {
                    0 => Step::Clear,
                    1..=3 => Step::ClearKey(rng.below(KEYS)),
                    4..=6 => Step::Advance,
                    _ => {
                        let args = Args {
                            key: rng.below(KEYS),
                            panic: rng.chance(8),
                            yields: rng.below(3) as usize,
                        };
                        let cancel = rng.chance(15).then(|| rng.below(4) as usize);
                        Step::Call(args, cancel)
                    }
                })
                .collect()
        })
        .collect()
}

/// Keeps planned panics quiet (there are hundreds); others reach the default hook.
fn quiet_planned_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<Planned>().is_none() {
            previous(info);
        }
    }));
}

fn run(seed: u64) {
    let live_tasks = Arc::new(AtomicUsize::new(0));
    let live_bodies = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Tally::default());
    let clock = ManualClock::new();

    let cache: Cached<Args, (u64, u64)> = {
        let (live_bodies, runs) = (live_bodies.clone(), runs.clone());
        Cached::builder()
            .limit(LIMIT)
            .expiration(Duration::from_millis(5))
            .clock(clock.clone())
            .make_key(|args: &Args| args.key)
            .build(move |args: Args| {
                let alive = Alive::new(&live_bodies);
                let run = runs.fetch_add(1, Ordering::SeqCst);
                async move {
                    let _alive = alive;
                    yield_n(args.yields).await;
                    if args.panic {
                        std::panic::panic_any(Planned(args.key));
                    }
                    (args.key, run)
                }
            })
    };

    // Two worker threads, stopped at the end.
    let ex = Arc::new(async_executor::Executor::new());
    let (stops, workers): (Vec<_>, Vec<_>) = (0..2)
        .map(|i| {
            let (stop, stopped) = futures::channel::oneshot::channel::<()>();
            let ex = ex.clone();
            let worker = std::thread::Builder::new()
                .name(format!("stress-worker-{i}"))
                .spawn(move || futures_lite::future::block_on(ex.run(stopped)))
                .expect("spawn a worker");
            (stop, worker)
        })
        .unzip();

    let total_calls: usize = plan(seed)
        .iter()
        .flatten()
        .filter(|s| matches!(s, Step::Call(..)))
        .count();
    let spawner = ex.clone();
    let scope = Scope::new("stress").spawner(move |f: BoxFuture| spawner.spawn(f).detach());
    let body = {
        let (cache, clock, tally, live_tasks) = (
            cache.clone(),
            clock.clone(),
            tally.clone(),
            live_tasks.clone(),
        );
        async move {
            let mut awaited = Vec::new();
            for (i, steps) in plan(seed).into_iter().enumerate() {
                let (cache, clock, tally) = (cache.clone(), clock.clone(), tally.clone());
                let alive = Alive::new(&live_tasks);
                let task = ctx::spawn(async move {
                    let _alive = alive;
                    for step in steps {
                        match step {
                            Step::Call(args, cancel) => {
                                let key = args.key;
                                let call = AssertUnwindSafe(cache.call(args)).catch_unwind();
                                let give_up = async {
                                    match cancel {
                                        Some(n) => yield_n(n).await,
                                        None => std::future::pending().await,
                                    }
                                };
                                let outcome = futures_lite::future::or(
                                    call.map(Some),
                                    give_up.map(|()| None),
                                )
                                .await;
                                match outcome {
                                    Some(Ok((k, _run))) => {
                                        assert_eq!(k, key, "a call of {key} got {k}'s value");
                                        tally.ok.fetch_add(1, Ordering::SeqCst);
                                    }
                                    Some(Err(payload)) => {
                                        let Some(Planned(k)) = payload.downcast_ref::<Planned>()
                                        else {
                                            std::panic::resume_unwind(payload);
                                        };
                                        assert_eq!(*k, key, "a call of {key} got {k}'s panic");
                                        tally.panicked.fetch_add(1, Ordering::SeqCst);
                                    }
                                    None => {
                                        tally.cancelled.fetch_add(1, Ordering::SeqCst);
                                    }
                                }
                            }
                            // By the arguments, or by the key itself.
                            Step::ClearKey(key) if key % 2 == 0 => {
                                let args = Args {
                                    key,
                                    panic: false,
                                    yields: 0,
                                };
                                cache.clear_call_cache(&args).await.expect("in memory");
                            }
                            Step::ClearKey(key) => {
                                cache.clear_key(&key).await.expect("in memory");
                            }
                            Step::Clear => cache.clear_cache().await.expect("in memory"),
                            Step::Advance => clock.advance(Duration::from_millis(3)),
                        }
                        assert!(cache.stats().len <= LIMIT, "over the limit");
                    }
                    tally.finished_tasks.fetch_add(1, Ordering::SeqCst);
                });
                // Half the tasks are awaited, half detached: the scope waits for both.
                if i % 2 == 0 {
                    awaited.push(task);
                } else {
                    task.detach();
                }
            }
            for task in awaited {
                task.await;
            }
        }
    };

    // Run the scope on its own thread, so a hang fails the test instead of stalling it.
    let (done, finished) = std::sync::mpsc::channel();
    let driver = std::thread::spawn(move || {
        futures_lite::future::block_on(scope.run(body));
        done.send(()).expect("the test waits");
    });
    match finished.recv_timeout(DEADLINE) {
        Ok(()) => driver.join().expect("driver thread"),
        Err(e) => panic!(
            "the stress scope did not finish within {DEADLINE:?} ({e}): a hang (seed {seed:#x}; \
             {} of {total_calls} calls ended: {} ok, {} cancelled, {} panicked; {} of {TASKS} \
             tasks finished, {} alive; {} computations alive; {})",
            tally.ok.load(Ordering::SeqCst)
                + tally.cancelled.load(Ordering::SeqCst)
                + tally.panicked.load(Ordering::SeqCst),
            tally.ok.load(Ordering::SeqCst),
            tally.cancelled.load(Ordering::SeqCst),
            tally.panicked.load(Ordering::SeqCst),
            tally.finished_tasks.load(Ordering::SeqCst),
            live_tasks.load(Ordering::SeqCst),
            live_bodies.load(Ordering::SeqCst),
            cache.stats(),
        ),
    }
    for stop in stops {
        let _ = stop.send(());
    }
    for worker in workers {
        let _stopped = worker.join().expect("worker thread");
    }

    // The scope ended with everything it spawned finished and dropped.
    assert_eq!(tally.finished_tasks.load(Ordering::SeqCst), TASKS);
    assert_eq!(live_tasks.load(Ordering::SeqCst), 0, "tasks left behind");
    assert_eq!(
        live_bodies.load(Ordering::SeqCst),
        0,
        "computations left behind"
    );

    // Every call is accounted for, once.
    let (ok, cancelled, panicked) = (
        tally.ok.load(Ordering::SeqCst),
        tally.cancelled.load(Ordering::SeqCst),
        tally.panicked.load(Ordering::SeqCst),
    );
    assert_eq!(ok + cancelled + panicked, total_calls);
    let stats = cache.stats();
    assert!(stats.len <= LIMIT);
    assert_eq!(
        stats.hits + stats.misses,
        total_calls as u64,
        "each call is one hit or one miss"
    );
    assert_eq!(
        stats.runs,
        runs.load(Ordering::SeqCst),
        "the stats count every start of the function"
    );
    // The faults did happen (the seed is fixed, so this cannot flake).
    if !cfg!(miri) {
        assert!(ok > 0 && cancelled > 0 && panicked > 0, "{tally:?}");
    }
    eprintln!(
        "seed {seed:#x}: {total_calls} calls: {ok} ok, {cancelled} cancelled, {panicked} \
         panicked; {} runs; {stats:?}",
        runs.load(Ordering::SeqCst)
    );
}

#[test]
fn thousands_of_calls_with_cancellations_and_panics() {
    quiet_planned_panics();
    let seeds: &[u64] = if cfg!(miri) {
        &[1]
    } else {
        &[1, 2, 3, 0x5EED_CA11]
    };
    for &seed in seeds {
        run(seed);
    }
}
