//! Spawned tasks: inherited context, handles, detaching, panics, spawning too late.

use crate::common;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::Runtime;
use futures::FutureExt;
use haiway::ctx::{self, SpawnErrorKind};
use haiway::runtime::BoxFuture;
use haiway::{Ctx, MemoryRecorder, Scope, Value};

fn tasks_and_their_children_see_the_spawning_scope<R: Runtime>() {
    R::block_on(async {
        R::scope("parent")
            .run(async {
                let id = Ctx::current().id();
                let (child, grandchild) = ctx::spawn(async {
                    let child = Ctx::current().id();
                    let grandchild = ctx::spawn(async { Ctx::current().id() }).await;
                    (child, grandchild)
                })
                .await;
                assert_eq!(child, id);
                assert_eq!(grandchild, id);
                // A task spawned from a nested scope sees the nested scope.
                let nested = Scope::new("nested")
                    .run(async {
                        let nested_id = Ctx::current().id();
                        (nested_id, ctx::spawn(async { Ctx::current().id() }).await)
                    })
                    .await;
                assert_eq!(nested.0, nested.1);
            })
            .await
    });
}

fn tasks_on_another_thread_see_the_spawning_scope<R: Runtime>() {
    let pool = futures::executor::ThreadPool::builder()
        .pool_size(1)
        .create()
        .expect("thread pool");
    R::block_on(async move {
        Scope::new("threaded")
            .spawner(move |f: BoxFuture| pool.spawn_ok(f))
            .run(async {
                let here = std::thread::current().id();
                let id = Ctx::current().id();
                let (thread, seen) =
                    ctx::spawn(async { (std::thread::current().id(), Ctx::current().id()) }).await;
                assert_ne!(thread, here, "the task ran on the pool's thread");
                assert_eq!(seen, id);
            })
            .await
    });
}

fn task_returns_its_value<R: Runtime>() {
    let out = R::block_on(async {
        R::scope("s")
            .run(async {
                let tasks: Vec<_> = (0..10u64)
                    .map(|i| ctx::spawn(async move { i * i }))
                    .collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await;
                }
                sum
            })
            .await
    });
    assert_eq!(out, (0..10u64).map(|i| i * i).sum::<u64>());
}

fn dropping_the_handle_detaches_the_task<R: Runtime>() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    R::block_on(async move {
        R::scope("s")
            .run(async move {
                let (tx, rx) = futures::channel::oneshot::channel::<()>();
                let task = ctx::spawn(async move {
                    rx.await.expect("gate");
                    flag.store(true, Ordering::SeqCst);
                });
                drop(task);
                // The task is still alive: it can still be released.
                tx.send(()).expect("task still holds the receiver");
            })
            .await
    });
    assert!(
        ran.load(Ordering::SeqCst),
        "the detached task ran and the scope waited"
    );
}

fn panic_in_task_reaches_its_handle_and_is_recorded<R: Runtime>() {
    let recorder = MemoryRecorder::new();
    let rec = recorder.clone();
    let (payload, sibling) = R::block_on(async move {
        R::scope("s")
            .recorder(rec)
            .run(async {
                let sibling = ctx::spawn(async {
                    common::yield_n(5).await;
                    "still fine"
                });
                let failing = ctx::spawn(async {
                    common::yield_n(2).await;
                    panic!("boom");
                });
                let payload = AssertUnwindSafe(failing)
                    .catch_unwind()
                    .await
                    .expect_err("the task panicked");
                (common::panic_text(&*payload), sibling.await)
            })
            .await
    });
    assert_eq!(payload, "boom");
    assert_eq!(sibling, "still fine");
    let events = recorder.events();
    let panicked: Vec<_> = events
        .iter()
        .filter(|e| e.event.name() == "task.panicked")
        .collect();
    assert_eq!(panicked.len(), 1);
    assert_eq!(panicked[0].event.level(), haiway::Level::Error);
    assert_eq!(
        panicked[0].event.attribute("message"),
        Some(&Value::from("boom"))
    );
    assert_eq!(panicked[0].scope_name.as_ref(), "s");
}

fn detached_panicking_task_does_not_tear_down_the_scope<R: Runtime>() {
    let recorder = MemoryRecorder::new();
    let rec = recorder.clone();
    let out = R::block_on(async move {
        R::scope("s")
            .recorder(rec)
            .run(async {
                ctx::spawn(async { panic!("detached boom") }).detach();
                common::yield_n(3).await;
                ctx::spawn(async { 5 }).await
            })
            .await
    });
    assert_eq!(out, 5);
    assert_eq!(recorder.count("task.panicked"), 1);
}

fn spawning_after_the_scope_ended_is_a_clear_error<R: Runtime>() {
    let ctx = R::block_on(async { R::scope("gone").run(async { Ctx::current() }).await });
    let err = ctx.try_spawn(async { 1 }).unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::ScopeEnded);
    assert!(err.to_string().contains("already finished"));
    let panic = catch_unwind(AssertUnwindSafe(|| ctx.spawn(async {}))).expect_err("must panic");
    let message = common::panic_text(&*panic);
    assert!(message.contains("already finished"), "{message}");
    assert!(message.contains("try_spawn"), "{message}");
}

/// A future that is ready at once and whose destructor panics.
struct ReadyThenPanicOnDrop;

impl std::future::Future for ReadyThenPanicOnDrop {
    type Output = u32;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u32> {
        std::task::Poll::Ready(1)
    }
}

impl Drop for ReadyThenPanicOnDrop {
    fn drop(&mut self) {
        panic!("boom in drop");
    }
}

fn a_task_whose_finished_future_panics_on_drop_reports_that_panic<R: Runtime>() {
    let recorder = MemoryRecorder::new();
    let rec = recorder.clone();
    let payload = R::block_on(async move {
        R::scope("s")
            .recorder(rec)
            .run(async {
                let task = ctx::spawn(ReadyThenPanicOnDrop);
                AssertUnwindSafe(task)
                    .catch_unwind()
                    .await
                    .map_err(|payload| common::panic_text(&*payload))
            })
            .await
    });
    assert_eq!(payload, Err("boom in drop".to_owned()));
    assert_eq!(recorder.count("task.panicked"), 1);
}

fn a_recorder_panicking_on_task_panicked_keeps_the_tasks_own_panic<R: Runtime>() {
    let payload = R::block_on(async move {
        R::scope("s")
            .recorder(|_: &haiway::ScopeInfo, event: &haiway::Event| {
                if event.name() == "task.panicked" {
                    panic!("the recorder failed");
                }
            })
            .run(async {
                let task = ctx::spawn(async { panic!("the task failed") });
                AssertUnwindSafe(task)
                    .catch_unwind()
                    .await
                    .map_err(|payload| common::panic_text(&*payload))
            })
            .await
    });
    assert_eq!(payload, Err("the task failed".to_owned()));
}

/// Sends on drop: tells the test the task's future was dropped.
struct DropSignal(Option<futures::channel::oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

fn cancel_stops_a_waiting_task_and_the_scope_does_not_wait_for_it<R: Runtime>() {
    let (dropped_tx, mut dropped_rx) = futures::channel::oneshot::channel::<()>();
    let out = R::block_on(async move {
        R::scope("s")
            .run(async move {
                let task = ctx::spawn(async move {
                    let _signal = DropSignal(Some(dropped_tx));
                    std::future::pending::<u32>().await
                });
                let out = task.cancel().await;
                // The task's future was dropped by the time `cancel` returned: the
                // sender it held is gone (sent on drop, or dropped unsent if the task
                // was cancelled before its first poll).
                assert!(
                    !matches!(dropped_rx.try_recv(), Ok(None)),
                    "the cancelled task's future is still alive"
                );
                out
            })
            .await
    });
    assert_eq!(out, None);
}

fn cancel_of_a_finished_task_returns_its_output<R: Runtime>() {
    let out = R::block_on(async {
        R::scope("s")
            .run(async {
                let task = ctx::spawn(async { 7_u32 });
                // Wait for it to finish without taking its output: yield (waking
                // ourselves) until it has, so an executor on this thread runs it.
                futures::future::poll_fn(|cx| {
                    if task.is_finished() {
                        std::task::Poll::Ready(())
                    } else {
                        cx.waker().wake_by_ref();
                        std::task::Poll::Pending
                    }
                })
                .await;
                task.cancel().await
            })
            .await
    });
    assert_eq!(out, Some(7));
}

// `ctx::spawn(..);` as a statement detaches the task: no `unused_must_use` warning
// (this function fails to compile if `Task` is `#[must_use]` again).
#[deny(unused_must_use)]
fn a_spawn_statement_compiles_without_a_warning_and_runs<R: Runtime>() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    R::block_on(async move {
        R::scope("s")
            .run(async move {
                ctx::spawn(async move { flag.store(true, Ordering::SeqCst) });
            })
            .await
    });
    assert!(ran.load(Ordering::SeqCst));
}

on_every_executor!(
    a_task_whose_finished_future_panics_on_drop_reports_that_panic,
    a_recorder_panicking_on_task_panicked_keeps_the_tasks_own_panic,
    tasks_and_their_children_see_the_spawning_scope,
    tasks_on_another_thread_see_the_spawning_scope,
    task_returns_its_value,
    dropping_the_handle_detaches_the_task,
    panic_in_task_reaches_its_handle_and_is_recorded,
    detached_panicking_task_does_not_tear_down_the_scope,
    spawning_after_the_scope_ended_is_a_clear_error,
    cancel_stops_a_waiting_task_and_the_scope_does_not_wait_for_it,
    cancel_of_a_finished_task_returns_its_output,
    a_spawn_statement_compiles_without_a_warning_and_runs,
);
