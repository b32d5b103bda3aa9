//! Scope lifetime: `run` waits for every task (grandchildren too); dropping the scope
//! future cancels unfinished tasks.

mod common;

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{DropSignal, Runtime};
use futures::channel::oneshot;
use futures::poll;
use haiway::{Scope, ctx};

fn run_waits_for_grandchildren<R: Runtime>() {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    R::block_on(async move {
        let (open, gate) = oneshot::channel::<()>();
        let mut run = pin!(R::scope("s").run(async move {
            ctx::spawn(async move {
                ctx::spawn(async move {
                    gate.await.expect("gate");
                    flag.store(true, Ordering::SeqCst);
                })
                .detach();
            })
            .detach();
        }));
        for _ in 0..50 {
            assert!(
                poll!(run.as_mut()).is_pending(),
                "run finished before its grandchild"
            );
            futures_lite::future::yield_now().await;
        }
        open.send(()).expect("grandchild waits");
        run.await;
    });
    assert!(done.load(Ordering::SeqCst));
}

fn nested_scope_waits_for_its_own_tasks<R: Runtime>() {
    R::block_on(async {
        R::scope("outer")
            .run(async {
                let (open, gate) = oneshot::channel::<()>();
                let done = Arc::new(AtomicBool::new(false));
                let flag = done.clone();
                let mut inner = pin!(Scope::new("inner").run(async move {
                    ctx::spawn(async move {
                        gate.await.expect("gate");
                        flag.store(true, Ordering::SeqCst);
                    })
                    .detach();
                }));
                for _ in 0..50 {
                    assert!(poll!(inner.as_mut()).is_pending());
                    futures_lite::future::yield_now().await;
                }
                open.send(()).expect("task waits");
                inner.await;
                assert!(done.load(Ordering::SeqCst));
            })
            .await
    });
}

fn dropping_the_scope_future_drops_pending_tasks<R: Runtime>() {
    R::block_on(async {
        let (started_tx, started) = oneshot::channel::<()>();
        let (dropped_tx, dropped) = oneshot::channel::<()>();
        let (handle_tx, handle_rx) = oneshot::channel();
        {
            let mut run = pin!(R::scope("s").run(async move {
                let task = ctx::spawn(async move {
                    let _guard = DropSignal(Some(dropped_tx));
                    let _ = started_tx.send(());
                    std::future::pending::<()>().await;
                });
                let _ = handle_tx.send(task);
                std::future::pending::<()>().await;
            }));
            // Drive the scope until the task has started (it needs the scope's polls
            // when the scope drives its own tasks).
            let mut started = pin!(started);
            let mut polls = 0;
            loop {
                assert!(poll!(run.as_mut()).is_pending());
                if poll!(started.as_mut()).is_ready() {
                    break;
                }
                polls += 1;
                assert!(polls < 1_000_000, "the task never started");
                futures_lite::future::yield_now().await;
            }
        } // the scope future is dropped here
        dropped.await.expect("the task's guard was dropped");
        // Awaiting the cancelled task's handle says what happened.
        let task = handle_rx.await.expect("handle");
        let err = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(task))
            .await
            .expect_err("cancelled task");
        assert!(common::panic_text(&*err).contains("cancelled"));
    });
}

on_every_executor!(
    run_waits_for_grandchildren,
    nested_scope_waits_for_its_own_tasks,
    dropping_the_scope_future_drops_pending_tasks,
);
