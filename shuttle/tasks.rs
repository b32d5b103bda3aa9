//! Model checking (issue 18) of a scope's task set, as `flights.rs` does for the
//! cache: spawning from several threads, tasks finishing while the scope closes, and
//! cancelling a task as it finishes. A scope that never ends, or ends before a task it
//! owns, fails. Run by `.ci/run`:
//!
//! `RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle cargo test --release -p haiway-shuttle`

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use haiway::runtime::BoxFuture;
use haiway::{Ctx, Scope, ctx};
use shuttle::future::block_on;
use shuttle::thread;
use support::check;

/// A scope whose tasks run as shuttle's tasks.
fn scope(name: &str) -> Scope {
    Scope::new(name).spawner(|future: BoxFuture| drop(shuttle::future::spawn(future)))
}

/// Counts a task's end when dropped: finished or cancelled, its future is gone.
struct Ends(Arc<AtomicUsize>);

impl Drop for Ends {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Tasks spawned by the scope's body, by a task (a nested spawn) and from another
/// thread through a `Ctx` handle: the scope ends after all three finished.
#[test]
fn a_scope_ends_after_every_task_spawned_from_any_thread() {
    check(|| {
        let finished = Arc::new(AtomicUsize::new(0));
        let f = finished.clone();
        block_on(scope("s").run(async move {
            let (f1, f2) = (f.clone(), f.clone());
            ctx::spawn(async move {
                let f3 = f1.clone();
                ctx::spawn(async move {
                    f3.fetch_add(1, Ordering::SeqCst);
                });
                f1.fetch_add(1, Ordering::SeqCst);
            });
            let handle = Ctx::current();
            thread::spawn(move || {
                handle.spawn(async move {
                    f2.fetch_add(1, Ordering::SeqCst);
                });
            })
            .join()
            .expect("the spawning thread");
        }));
        assert_eq!(finished.load(Ordering::SeqCst), 3);
    });
}

/// A task cancelled as it may be finishing: `cancel` returns its output if it
/// finished, else nothing, and never hangs; either way the task's future is gone by
/// the time it returns (a task not polled yet included).
#[test]
fn cancelling_a_task_as_it_finishes_returns_its_output_or_nothing() {
    check(|| {
        let ends = Arc::new(AtomicUsize::new(0));
        let e = ends.clone();
        let e2 = ends.clone();
        block_on(scope("s").run(async move {
            // Made here: a task cancelled before its first poll drops it too.
            let end = Ends(e);
            let task = ctx::spawn(async move {
                let _end = end;
                thread::yield_now();
                7
            });
            let out = task.cancel().await;
            assert!(matches!(out, Some(7) | None), "{out:?}");
            // `cancel` returned: the task has stopped, its future is gone.
            assert_eq!(
                e2.load(Ordering::SeqCst),
                1,
                "cancel returned {out:?} first"
            );
        }));
    });
}
