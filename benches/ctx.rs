//! Measures the cost of reaching the current `Ctx` (against tokio's `task_local!`) and of
//! spawning and awaiting a task in a scope (against a raw `async_executor` spawn).
//!
//! Run with `cargo bench -p haiway-benches --bench ctx`. Every comparison sits in one
//! criterion group, so the report shows the lines side by side:
//!
//! - `current`: `Ctx::current()` (a clone) and `ctx::is_recording()` (a borrow) inside a
//!   scope, tokio's `KEY.with` (borrow) and `KEY.get()` (clone) inside `KEY.scope`,
//!   `Ctx::try_current()` outside any scope, and `ctx::record_event` with no recorder
//!   (inside a scope and outside any).
//! - `spawn`: `ctx::spawn(..).await` in a scope whose spawner is an `async_executor`
//!   executor, the raw `ex.spawn(..).await` on the same executor (bare, and inside a
//!   scope, to separate the scope's poll wrapper from `ctx::spawn` itself), and
//!   `ctx::spawn` in a scope that drives its own tasks (no spawner).
//!
//! - `state`: reading a value a scope provides, `ctx::with_state` (a borrow) and
//!   `ctx::state` (an `Arc` clone), in a scope with one value and in one with eight,
//!   against tokio's `task_local!` `CONFIG.with` (borrow) and `CONFIG_ARC.get()` (an
//!   `Arc` clone) on the same value inside `scope`.
//!
//! Everything runs on the bench thread (`futures_lite::future::block_on`, the executor
//! driven by `ex.run`), so no line pays for cross-thread wake-ups the others do not.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::Executor;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_lite::future::block_on;
use haiway::{Ctx, Event, Scope, ctx};

/// Stands in for `haiway::Ctx` on the tokio side: one `Arc` to a struct of about the
/// same size (name, ids, parent, spawner, recorder, task set).
#[derive(Clone)]
struct CtxLike {
    /// Shared by every clone, like `Ctx`'s inner `Arc`.
    _inner: Arc<CtxLikeInner>,
}

/// The fields behind a [`CtxLike`]; never read, only there for the shape.
struct CtxLikeInner {
    _name: Arc<str>,
    _id: u64,
    _trace_id: u128,
    _parent: Option<CtxLike>,
    _spawner: Option<Arc<dyn Send + Sync>>,
    _recorder: Option<Arc<dyn Send + Sync>>,
    _tasks: Arc<()>,
}

impl CtxLike {
    fn new() -> Self {
        CtxLike {
            _inner: Arc::new(CtxLikeInner {
                _name: "bench".into(),
                _id: 1,
                _trace_id: 1,
                _parent: None,
                _spawner: None,
                _recorder: None,
                _tasks: Arc::new(()),
            }),
        }
    }
}

tokio::task_local! {
    static KEY: CtxLike;
    static CONFIG: Config;
    static CONFIG_ARC: Arc<Config>;
}

/// The value the `state` lines read.
struct Config(u64);

/// Seven more state types, for the scope with eight values.
macro_rules! others {
    ($($name:ident),*) => {
        $(struct $name(#[allow(dead_code)] u64);)*
        /// A scope with [`Config`] and seven other values.
        fn scope8() -> Scope {
            Scope::new("bench").state(Config(1))$(.state($name(1)))*
        }
    };
}
others!(O1, O2, O3, O4, O5, O6, O7);

fn current(c: &mut Criterion) {
    let mut group = c.benchmark_group("current");

    // The bench loop runs inside the scope's body, so every iteration sees the scope's
    // Ctx in the slot; `current()` clones it (one reference count up and down).
    group.bench_function("haiway Ctx::current (clone)", |b| {
        block_on(Scope::new("bench").run(async {
            b.iter(|| black_box(Ctx::current()));
        }));
    });

    // The closest public borrow-only read of the slot, the analogue of `KEY.with`.
    group.bench_function("haiway ctx::is_recording (borrow)", |b| {
        block_on(Scope::new("bench").run(async {
            b.iter(|| black_box(ctx::is_recording()));
        }));
    });

    group.bench_function("tokio task_local KEY.with (borrow)", |b| {
        block_on(KEY.scope(CtxLike::new(), async {
            b.iter(|| {
                KEY.with(|c| {
                    black_box(c);
                });
            });
        }));
    });

    group.bench_function("tokio task_local KEY.get (clone)", |b| {
        block_on(KEY.scope(CtxLike::new(), async {
            b.iter(|| black_box(KEY.get()));
        }));
    });

    group.bench_function("haiway Ctx::try_current (no scope)", |b| {
        b.iter(|| black_box(Ctx::try_current()));
    });

    group.bench_function("haiway ctx::record_event (scope, no recorder)", |b| {
        block_on(Scope::new("bench").run(async {
            b.iter(|| ctx::record_event(Event::debug(black_box("x"))));
        }));
    });

    group.bench_function("haiway ctx::record_event (no scope)", |b| {
        b.iter(|| ctx::record_event(Event::debug(black_box("x"))));
    });

    group.finish();
}

fn spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn");

    // Each side times only its `for` loop of spawn + await, inside one async body driven
    // by `block_on`; building the executor and the scope is left out of the timing.
    group.bench_function("haiway ctx::spawn+await (async-executor spawner)", |b| {
        b.iter_custom(|iters| {
            let ex = Arc::new(Executor::new());
            let scope = Scope::new("bench").spawner(ex.clone());
            block_on(ex.run(scope.run(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(ctx::spawn(async { black_box(1) }).await);
                }
                start.elapsed()
            })))
        });
    });

    group.bench_function("raw Executor::spawn+await", |b| {
        b.iter_custom(|iters| {
            let ex = Arc::new(Executor::new());
            block_on(ex.run(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(ex.spawn(async { black_box(1) }).await);
                }
                start.elapsed()
            }))
        });
    });

    // The raw spawn again, but awaited inside a scope: the difference from the line
    // above is what the scope's own poll wrapper costs (two polls per spawn + await),
    // the difference from the first line is what `ctx::spawn` itself adds.
    group.bench_function("raw Executor::spawn+await (inside a Scope)", |b| {
        b.iter_custom(|iters| {
            let ex = Arc::new(Executor::new());
            let scope = Scope::new("bench").spawner(ex.clone());
            block_on(ex.run(scope.run(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(ex.spawn(async { black_box(1) }).await);
                }
                start.elapsed()
            })))
        });
    });

    // No spawner anywhere: the scope's own future polls its tasks alongside the body.
    group.bench_function("haiway ctx::spawn+await (no spawner, scope drives)", |b| {
        b.iter_custom(|iters| {
            block_on(Scope::new("bench").run(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(ctx::spawn(async { black_box(1) }).await);
                }
                start.elapsed()
            }))
        });
    });

    group.finish();
}

/// Short runs, no plots (plotting doubles the run time): the whole file takes about 45 s
/// on two cores. Criterion still keeps each run as the baseline for the next.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .without_plots()
}

fn state(c: &mut Criterion) {
    let mut group = c.benchmark_group("state");

    group.bench_function("tokio task_local CONFIG.with (borrow)", |b| {
        block_on(CONFIG.scope(Config(1), async {
            b.iter(|| CONFIG.with(|c| black_box(c.0)));
        }));
    });

    group.bench_function("haiway ctx::with_state (borrow, 1 value)", |b| {
        block_on(Scope::new("bench").state(Config(1)).run(async {
            b.iter(|| ctx::with_state(|c: Option<&Config>| black_box(c.map_or(0, |c| c.0))));
        }));
    });

    group.bench_function("haiway ctx::with_state (borrow, 1 of 8 values)", |b| {
        block_on(scope8().run(async {
            b.iter(|| ctx::with_state(|c: Option<&Config>| black_box(c.map_or(0, |c| c.0))));
        }));
    });

    group.bench_function("tokio task_local CONFIG_ARC.get (Arc clone)", |b| {
        block_on(CONFIG_ARC.scope(Arc::new(Config(1)), async {
            b.iter(|| black_box(CONFIG_ARC.get()));
        }));
    });

    group.bench_function("haiway ctx::state (Arc clone, 1 of 8 values)", |b| {
        block_on(scope8().run(async {
            b.iter(|| black_box(ctx::state::<Config>()));
        }));
    });

    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = current, spawn, state
}
criterion_main!(benches);
