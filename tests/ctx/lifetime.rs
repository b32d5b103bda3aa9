//! Scope lifetime: `run` waits for every task (grandchildren too); dropping the scope
//! future cancels unfinished tasks.

use crate::common;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::{DropSignal, Runtime};
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

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("boom in drop");
    }
}

/// Spawns a task that holds `held` and never finishes, from scope `s` on a spawner
/// that queues tasks (with `recorder`, if any); then drops the queued task as an
/// executor shutting down would, with `arm(true)` called before and `arm(false)`
/// after. Checks that the drop panicked with `expected`, and that the task's handle
/// then reports it cancelled, so the scope does not wait for it forever.
fn an_executor_drops_the_task<H: Send + 'static>(
    held: H,
    recorder: Option<EnterPanics>,
    arm: impl Fn(bool),
    expected: &str,
) {
    let (queued, queue) = queue_spawner();
    futures_lite::future::block_on(async {
        let scope = Scope::new("s").spawner(queue);
        let scope = match recorder {
            Some(recorder) => scope.recorder(recorder),
            None => scope,
        };
        let mut run = pin!(scope.run(async move {
            let task = ctx::spawn(async move {
                let _held = held;
                std::future::pending::<()>().await;
            });
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(task))
                .await
                .map_err(|payload| common::panic_text(&*payload))
        }));
        assert!(poll!(run.as_mut()).is_pending(), "the body awaits its task");
        let task = queued.lock().unwrap().pop().expect("the task was spawned");
        arm(true);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(task)));
        arm(false);
        let payload = dropped.expect_err("dropping the task panicked");
        assert_eq!(common::panic_text(&*payload), expected);
        // The handle learned the task is gone, and the scope no longer waits for it.
        match poll!(run.as_mut()) {
            std::task::Poll::Ready(Err(message)) => assert!(message.contains("cancelled")),
            other => panic!("the scope is stuck on its dropped task: {other:?}"),
        }
    });
}

#[test]
fn an_executor_dropping_a_task_whose_destructor_panics_does_not_strand_the_scope() {
    an_executor_drops_the_task(PanicOnDrop, None, |_| {}, "boom in drop");
}

#[test]
fn a_cancelled_scope_drops_its_body_with_its_own_ctx_current() {
    /// Notes the scope current when it is dropped.
    struct SeesScope(Arc<std::sync::Mutex<Vec<String>>>, &'static str);
    impl Drop for SeesScope {
        fn drop(&mut self) {
            let current = haiway::Ctx::try_current().map(|c| c.name().to_owned());
            let current = current.unwrap_or_default();
            self.0
                .lock()
                .unwrap()
                .push(format!("{} in {current}", self.1));
        }
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    futures_lite::future::block_on(Scope::new("outer").run(async move {
        let mut inner = Box::pin(Scope::new("inner").run(async move {
            let _body = SeesScope(s.clone(), "body");
            ctx::spawn(async move {
                let _task = SeesScope(s, "task");
                std::future::pending::<()>().await
            })
            .detach();
            std::future::pending::<()>().await
        }));
        assert!(poll!(inner.as_mut()).is_pending());
        drop(inner); // cancelled, as a timeout or a select would
    }));
    // The body goes first (what its destructors spawn is cancelled with the scope).
    assert_eq!(*seen.lock().unwrap(), ["body in inner", "task in inner"]);
}

thread_local! {
    /// Futures kept by a thread-local, dropped when the thread ends.
    static KEPT: std::cell::RefCell<Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn a_scope_still_running_when_its_thread_ends_is_dropped_cleanly() {
    let (dropped_tx, dropped) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        // Touched first, so it is destroyed after haiway's own thread-local.
        KEPT.with(|_| {});
        let mut run = Box::pin(Scope::new("s").run(async move {
            ctx::spawn(async move {
                let _signal = DropSignal(Some(dropped_tx));
                std::future::pending::<()>().await
            })
            .detach();
            std::future::pending::<()>().await
        }));
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(run.as_mut().poll(&mut cx).is_pending());
        // As a thread-local executor would: the scope is still running at thread exit.
        KEPT.with(|kept| kept.borrow_mut().push(run));
    })
    .join()
    .expect("the thread ends without a panic");
    futures_lite::future::block_on(dropped).expect("the scope's task was dropped");
}

#[test]
fn asking_for_the_current_ctx_in_a_late_thread_local_destructor_finds_none() {
    struct Asks(std::sync::mpsc::Sender<Option<String>>);
    impl Drop for Asks {
        fn drop(&mut self) {
            let current = haiway::Ctx::try_current().map(|c| c.name().to_owned());
            let _ = self.0.send(current);
        }
    }
    thread_local! {
        static ASKS: std::cell::RefCell<Option<Asks>> = const { std::cell::RefCell::new(None) };
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        ASKS.with(|asks| *asks.borrow_mut() = Some(Asks(tx)));
        // haiway's thread-local comes to life after, so it is destroyed first.
        futures_lite::future::block_on(Scope::new("s").run(async {}));
    })
    .join()
    .expect("the thread ends without a panic");
    assert_eq!(rx.recv().expect("the destructor ran"), None);
}

/// Polls a scope with `spans` as recorder running `body` once (it must be pending),
/// then drops it, cancelled, with the spans' `enter` panicking if `arm`. Checks that the
/// drop panicked with `expected` and that the scope's span was still ended.
fn drop_a_cancelled_scope(
    spans: &EnterPanics,
    body: impl std::future::Future<Output = ()> + Send + 'static,
    arm: bool,
    expected: &str,
) {
    let mut run = Box::pin(Scope::new("s").recorder(spans.clone()).run(body));
    assert!(poll_noop(run.as_mut()).is_pending());
    spans.panicking.store(arm, Ordering::SeqCst);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(run)));
    spans.panicking.store(false, Ordering::SeqCst);
    let payload = dropped.expect_err("dropping the scope panicked");
    assert_eq!(common::panic_text(&*payload), expected);
    assert_eq!(
        spans.ends.load(Ordering::SeqCst),
        1,
        "the scope's span was not ended"
    );
}

#[test]
fn a_cancelled_scope_ends_its_span_even_if_dropping_its_body_panics() {
    let body = async {
        let _bomb = PanicOnDrop;
        std::future::pending::<()>().await
    };
    drop_a_cancelled_scope(&EnterPanics::default(), body, false, "boom in drop");
}

#[test]
fn a_cancelled_scope_ends_its_span_even_if_dropping_a_task_panics() {
    let body_dropped_in_scope = Arc::new(AtomicBool::new(false));
    let seen = body_dropped_in_scope.clone();
    /// Notes whether it is dropped with scope `s` current.
    struct InScope(Arc<AtomicBool>);
    impl Drop for InScope {
        fn drop(&mut self) {
            let current = haiway::Ctx::try_current().map(|c| c.name().to_owned());
            self.0
                .store(current.as_deref() == Some("s"), Ordering::SeqCst);
        }
    }
    let body = async move {
        let _body = InScope(seen);
        let bomb = PanicOnDrop;
        ctx::spawn(async move {
            let _bomb = bomb;
            std::future::pending::<()>().await
        })
        .detach();
        std::future::pending::<()>().await
    };
    drop_a_cancelled_scope(&EnterPanics::default(), body, false, "boom in drop");
    assert!(body_dropped_in_scope.load(Ordering::SeqCst));
}

#[test]
fn a_cancelled_bodys_destructor_may_spawn_and_the_task_is_cancelled_with_the_scope() {
    let ran = Arc::new(AtomicBool::new(false));
    let spawned = Arc::new(AtomicBool::new(false));
    /// Spawns a task in its scope when dropped.
    struct SpawnOnDrop(Arc<AtomicBool>, Arc<AtomicBool>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let ran = self.0.clone();
            let task = ctx::try_spawn(async move { ran.store(true, Ordering::SeqCst) });
            self.1.store(task.is_ok(), Ordering::SeqCst);
        }
    }
    let (r, s) = (ran.clone(), spawned.clone());
    futures_lite::future::block_on(Scope::new("outer").run(async move {
        let mut inner = Box::pin(Scope::new("inner").run(async move {
            let _cleanup = SpawnOnDrop(r, s);
            std::future::pending::<()>().await
        }));
        assert!(poll!(inner.as_mut()).is_pending());
        drop(inner);
    }));
    assert!(spawned.load(Ordering::SeqCst), "the destructor could spawn");
    assert!(
        !ran.load(Ordering::SeqCst),
        "the task outlived its cancelled scope"
    );
}

#[test]
fn a_task_panicking_when_dropped_does_not_keep_the_scopes_other_tasks_alive() {
    let other_dropped = Arc::new(AtomicBool::new(false));
    let handle: Arc<std::sync::Mutex<Option<haiway::ctx::Task<()>>>> = Arc::default();
    let (d, h) = (other_dropped.clone(), handle.clone());
    // The scope drives its own tasks: dropping it drops them.
    let mut run = Box::pin(Scope::new("s").run(async move {
        *h.lock().unwrap() = Some(ctx::spawn(async move {
            let _signal = SetOnDrop(d);
            std::future::pending::<()>().await
        }));
        ctx::spawn(async move {
            let _bomb = PanicOnDrop;
            std::future::pending::<()>().await
        })
        .detach();
        std::future::pending::<()>().await
    }));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert!(run.as_mut().poll(&mut cx).is_pending()); // both tasks started
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(run)));
    assert_eq!(common::panic_text(&*dropped.unwrap_err()), "boom in drop");
    assert!(
        other_dropped.load(Ordering::SeqCst),
        "the other task was leaked"
    );
    let mut task = handle.lock().unwrap().take().expect("spawned");
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        std::pin::Pin::new(&mut task).poll(&mut cx)
    }));
    let message = common::panic_text(&*polled.expect_err("its handle says it was cancelled"));
    assert!(message.contains("cancelled"), "{message}");
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_task_spawned_by_a_cancelled_bodys_destructor_never_runs_even_on_a_worker_thread() {
    // A spawner whose "worker" is the test: it polls what was spawned, here from inside
    // the destructor, as a worker thread could at that very moment.
    let (queued, queue) = queue_spawner();
    let ran = Arc::new(AtomicBool::new(false));
    /// Spawns a task when dropped, then lets the "worker" poll it at once.
    struct SpawnOnDrop {
        ran: Arc<AtomicBool>,
        queued: Queued,
    }
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let ran = self.ran.clone();
            ctx::spawn(async move { ran.store(true, Ordering::SeqCst) }).detach();
            let task = self.queued.lock().unwrap().pop();
            let mut task = task.expect("spawned");
            let waker = std::task::Waker::noop();
            let _ = task
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker));
        }
    }
    let cleanup = SpawnOnDrop {
        ran: ran.clone(),
        queued: queued.clone(),
    };
    let mut run = Box::pin(Scope::new("s").spawner(queue).run(async move {
        let _cleanup = cleanup;
        std::future::pending::<()>().await
    }));
    assert!(poll_noop(run.as_mut()).is_pending());
    drop(run);
    assert!(
        !ran.load(Ordering::SeqCst),
        "a task spawned while its scope was being cancelled ran"
    );
}

#[test]
fn a_waker_panicking_while_a_scope_is_dropped_does_not_skip_the_rest_of_the_drop() {
    /// Panics when woken, once armed.
    struct ArmedWaker(Arc<AtomicBool>);
    impl std::task::Wake for ArmedWaker {
        fn wake(self: Arc<Self>) {
            if self.0.swap(false, Ordering::SeqCst) {
                panic!("waker panicked");
            }
        }
    }
    /// Notes the scope current when it is dropped.
    struct SeesScope(Arc<std::sync::Mutex<Option<String>>>);
    impl Drop for SeesScope {
        fn drop(&mut self) {
            let current = haiway::Ctx::try_current().map(|c| c.name().to_owned());
            *self.0.lock().unwrap() = Some(current.unwrap_or_default());
        }
    }
    let armed = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(std::sync::Mutex::new(None));
    let waker = std::task::Waker::from(Arc::new(ArmedWaker(armed.clone())));
    let s = seen.clone();
    // The scope drives its task: cancelling it wakes the scope's own waker.
    let mut run = Box::pin(Scope::new("s").run(async move {
        let _sees = SeesScope(s);
        ctx::spawn(std::future::pending::<()>()).detach();
        std::future::pending::<()>().await
    }));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert!(run.as_mut().poll(&mut cx).is_pending());
    armed.store(true, Ordering::SeqCst);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(run)));
    assert_eq!(common::panic_text(&*dropped.unwrap_err()), "waker panicked");
    assert_eq!(seen.lock().unwrap().as_deref(), Some("s"));
}

#[test]
fn a_cancelled_tasks_destructor_may_spawn_like_the_bodys() {
    let spawns = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (body, task) = (spawns.clone(), spawns.clone());
    let mut run = Box::pin(Scope::new("s").run(async move {
        let _guard = SpawnsOnDrop(body, 1);
        ctx::spawn(async move {
            let _guard = SpawnsOnDrop(task, 1);
            std::future::pending::<()>().await
        })
        .detach();
        std::future::pending::<()>().await
    }));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert!(run.as_mut().poll(&mut cx).is_pending()); // the task started
    drop(run);
    assert_eq!(*spawns.lock().unwrap(), [true, true]);
}

#[test]
fn a_bodys_destructor_finds_the_scopes_tasks_cancelled_without_waiting() {
    /// Looks at a task's handle when dropped.
    struct LooksOnDrop(Option<haiway::ctx::Task<()>>, Arc<std::sync::Mutex<String>>);
    impl Drop for LooksOnDrop {
        fn drop(&mut self) {
            let mut task = self.0.take().expect("set");
            let waker = std::task::Waker::noop();
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                std::pin::Pin::new(&mut task).poll(&mut std::task::Context::from_waker(waker))
            }));
            *self.1.lock().unwrap() = match polled {
                Ok(std::task::Poll::Pending) => "pending".to_owned(),
                Ok(std::task::Poll::Ready(())) => "finished".to_owned(),
                Err(payload) => common::panic_text(&*payload),
            };
        }
    }
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let s = seen.clone();
    // The scope drives its task, so only dropping the scope can drop it.
    let mut run = Box::pin(Scope::new("s").run(async move {
        let task = ctx::spawn(std::future::pending::<()>());
        let _looks = LooksOnDrop(Some(task), s);
        std::future::pending::<()>().await
    }));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert!(run.as_mut().poll(&mut cx).is_pending());
    drop(run);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains("cancelled"), "the handle was {seen}");
}

/// A waker that panics whenever it is woken.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("waker panicked");
    }
}

#[test]
fn panicking_runner_wakers_do_not_leave_other_tasks_of_a_dropped_scope_running() {
    let (queued, queue) = queue_spawner();
    let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let p = polls.clone();
    let mut run = Box::pin(Scope::new("s").spawner(queue).run(async move {
        ctx::spawn(std::future::pending::<()>()).detach();
        ctx::spawn(std::future::pending::<()>()).detach();
        ctx::spawn(std::future::poll_fn(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
            std::task::Poll::<()>::Pending
        }))
        .detach();
        std::future::pending::<()>().await
    }));
    let noop = std::task::Waker::noop();
    assert!(
        run.as_mut()
            .poll(&mut std::task::Context::from_waker(noop))
            .is_pending()
    );
    let mut tasks = std::mem::take(&mut *queued.lock().unwrap());
    assert_eq!(tasks.len(), 3);
    // The executor polled the first two with wakers that panic, the third normally.
    let panicking = std::task::Waker::from(Arc::new(PanickingWaker));
    for task in &mut tasks[..2] {
        let _ = task
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&panicking));
    }
    let _ = tasks[2]
        .as_mut()
        .poll(&mut std::task::Context::from_waker(noop));
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(run)));
    assert_eq!(common::panic_text(&*dropped.unwrap_err()), "waker panicked");
    // The scope is gone: its third task must not run its future again.
    let _ = tasks[2]
        .as_mut()
        .poll(&mut std::task::Context::from_waker(noop));
    assert_eq!(
        polls.load(Ordering::SeqCst),
        1,
        "a task of a dropped scope ran its future"
    );
}

#[test]
fn a_handle_waker_panicking_as_an_executor_drops_a_task_does_not_strand_the_scope() {
    let (queued, queue) = queue_spawner();
    let panicking = std::task::Waker::from(Arc::new(PanickingWaker));
    futures_lite::future::block_on(async {
        let mut run = pin!(Scope::new("s").spawner(queue).run(async {
            let mut task = ctx::spawn(std::future::pending::<()>());
            // Someone waits on the handle with a waker that panics.
            let _ =
                std::pin::Pin::new(&mut task).poll(&mut std::task::Context::from_waker(&panicking));
            task.detach();
        }));
        assert!(
            poll!(run.as_mut()).is_pending(),
            "the scope waits for its task"
        );
        let task = queued.lock().unwrap().pop().expect("spawned");
        // The executor drops the task: telling the handle panics in its waker.
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(task)));
        assert_eq!(common::panic_text(&*dropped.unwrap_err()), "waker panicked");
        assert!(
            poll!(run.as_mut()).is_ready(),
            "the scope still counts its dropped task"
        );
    });
}

#[test]
fn a_never_started_tasks_destructor_may_spawn_like_the_bodys() {
    assert_eq!(never_started_guard_spawns(1), [true]);
}

#[test]
fn a_task_on_a_spawner_is_reported_cancelled_only_once_its_work_has_stopped() {
    let (queued, queue) = queue_spawner();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let mut run = Box::pin(Scope::new("parent").spawner(queue).run(async move {
        let task = ctx::spawn(async move {
            // A child scope whose own task the executor has not run yet.
            Scope::new("child")
                .run(
                    async move { ctx::spawn(async move { r.store(true, Ordering::SeqCst) }).await },
                )
                .await
        });
        handle_tx.send(task).unwrap();
        std::future::pending::<()>().await
    }));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(run.as_mut().poll(&mut cx).is_pending());
    let mut outer = queued.lock().unwrap().pop().expect("the task was spawned");
    assert!(outer.as_mut().poll(&mut cx).is_pending()); // its child task is queued
    drop(run);
    let mut handle = handle_rx.recv().unwrap();
    let cancelled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        std::pin::Pin::new(&mut handle).poll(&mut cx)
    }))
    .is_err();
    // The executor gets to the child's task.
    let mut inner = queued
        .lock()
        .unwrap()
        .pop()
        .expect("the child's task was spawned");
    let _ = inner.as_mut().poll(&mut cx);
    let ran = ran.load(Ordering::SeqCst);
    assert!(
        !(cancelled && ran),
        "the handle said cancelled, and the task's work ran afterwards"
    );
}

#[test]
fn never_started_tasks_spawned_by_never_started_tasks_destructors_may_spawn_too() {
    assert_eq!(never_started_guard_spawns(3), [true, true, true]);
}

/// Drops a scope with one task queued and never started, holding a
/// [`SpawnsOnDrop`] of `depth`: whether each of its spawns was accepted.
fn never_started_guard_spawns(depth: u32) -> Vec<bool> {
    let spawns = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (ctx_tx, ctx_rx) = std::sync::mpsc::channel();
    let mut run = Box::pin(Scope::new("s").run(async move {
        ctx_tx.send(haiway::Ctx::current()).unwrap();
        std::future::pending::<()>().await
    }));
    assert!(poll_noop(run.as_mut()).is_pending());
    // Spawned between polls: queued, and never started before the scope is dropped.
    let guard = SpawnsOnDrop(spawns.clone(), depth);
    ctx_rx
        .recv()
        .unwrap()
        .spawn(async move {
            let _guard = guard;
        })
        .detach();
    drop(run);
    spawns.lock().unwrap().clone()
}

#[test]
fn a_finished_bodys_output_panicking_on_drop_with_a_task_that_does_too_does_not_abort() {
    /// The body's output; panics when dropped.
    struct OutputBomb;
    impl Drop for OutputBomb {
        fn drop(&mut self) {
            panic!("output boom");
        }
    }
    let mut run = Box::pin(Scope::new("s").run(async {
        let bomb = PanicOnDrop;
        ctx::spawn(async move {
            let _bomb = bomb;
            std::future::pending::<()>().await
        })
        .detach();
        OutputBomb
    }));
    let waker = std::task::Waker::noop();
    // The body finished; the scope waits for its task, holding the output.
    assert!(
        run.as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_pending()
    );
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(run)));
    assert!(dropped.is_err(), "the destructors' panic is raised again");
}

/// Polls `future` once with a no-op waker.
fn poll_noop<F: std::future::Future + ?Sized>(
    future: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// When dropped, spawns a task in its scope that holds another of depth - 1 (none at
/// depth 0), and notes whether each spawn was accepted.
struct SpawnsOnDrop(Arc<std::sync::Mutex<Vec<bool>>>, u32);

impl Drop for SpawnsOnDrop {
    fn drop(&mut self) {
        if self.1 == 0 {
            return;
        }
        let next = SpawnsOnDrop(self.0.clone(), self.1 - 1);
        let spawned = ctx::try_spawn(async move {
            let _next = next;
        })
        .is_ok();
        self.0.lock().unwrap().push(spawned);
    }
}

/// The runners an executor was handed, for a test to poll or drop.
type Queued = Arc<std::sync::Mutex<Vec<haiway::runtime::BoxFuture>>>;

/// A spawner that queues what it is handed, and that queue: the test plays executor.
fn queue_spawner() -> (
    Queued,
    impl Fn(haiway::runtime::BoxFuture) + Send + Sync + 'static,
) {
    let queued = Queued::default();
    let queue = queued.clone();
    (queued, move |task| queue.lock().unwrap().push(task))
}

/// A recorder whose scope spans panic on `enter` while `panicking` is set, and count
/// their `end`s.
#[derive(Clone, Default)]
struct EnterPanics {
    panicking: Arc<AtomicBool>,
    ends: Arc<std::sync::atomic::AtomicUsize>,
}

impl haiway::ScopeSpan for EnterPanics {
    fn enter(&self) {
        if self.panicking.load(Ordering::SeqCst) {
            panic!("span enter failed");
        }
    }
    fn exit(&self) {}
    fn end(&self) {
        self.ends.fetch_add(1, Ordering::SeqCst);
    }
}

impl haiway::Recorder for EnterPanics {
    fn record(&self, _: &haiway::ScopeInfo, _: &haiway::Event) {}
    fn open_scope(&self, _: &haiway::ScopeInfo) -> Option<Box<dyn haiway::ScopeSpan>> {
        Some(Box::new(self.clone()))
    }
}

/// Notes that it was dropped.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn an_executor_dropping_a_task_whose_span_panics_on_enter_does_not_strand_the_scope() {
    let spans = EnterPanics::default();
    let dropped = Arc::new(AtomicBool::new(false));
    let panicking = spans.panicking.clone();
    an_executor_drops_the_task(
        Dropped(dropped.clone()),
        Some(spans),
        |on| panicking.store(on, Ordering::SeqCst),
        "span enter failed",
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the task's future was not dropped"
    );
}

#[test]
fn a_cancelled_scope_whose_span_panics_on_enter_still_drops_its_body_and_ends_its_span() {
    let dropped = Arc::new(AtomicBool::new(false));
    let body = Dropped(dropped.clone());
    let body = async move {
        let _body = body;
        std::future::pending::<()>().await
    };
    drop_a_cancelled_scope(&EnterPanics::default(), body, true, "span enter failed");
    assert!(dropped.load(Ordering::SeqCst), "the body was not dropped");
}
