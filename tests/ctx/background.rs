//! Background tasks (`ctx::spawn_background`, `Scope::background`): they outlive the
//! request scope that spawned them, keep its identity, and are waited for, or cut
//! off and reported, by their owner's shutdown. On every executor.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{DropSignal, Gate, Runtime};
use futures::channel::oneshot;
use futures_lite::future::poll_once;
use haiway::ctx::{self, Background};
use haiway::{Ctx, Event, Level, MemoryRecorder, Scope, Value};

/// What the background task saw: its scope's name and trace id.
type Seen = (String, haiway::TraceId);

fn background_task_outlives_a_dropped_request_scope_with_its_trace_id<R: Runtime>() {
    let recorder = MemoryRecorder::new();
    let rec = recorder.clone();
    let (seen, request_trace) = R::block_on(async move {
        R::scope("app")
            .background()
            .run(async move {
                let gate = Gate::default();
                let (tx, rx) = oneshot::channel();
                let g = gate.clone();
                // A request that hands work to the background, then never finishes.
                let request = Scope::new("request").recorder(rec).run(async move {
                    let task = ctx::spawn_background(async move {
                        g.wait().await;
                        ctx::record_event(Event::info("audit"));
                        let ctx = Ctx::current();
                        (ctx.name().to_owned(), ctx.trace_id())
                    });
                    let _ = tx.send((Ctx::current().trace_id(), task));
                    std::future::pending::<()>().await
                });
                let mut request = Box::pin(request);
                assert!(poll_once(&mut request).await.is_none());
                // The client disconnects: the request scope is dropped.
                drop(request);
                let (trace, task) = rx.await.expect("the request spawned its task");
                gate.open();
                let seen: Seen = task.await;
                (seen, trace)
            })
            .await
    });
    assert_eq!(seen.0, "request");
    assert_eq!(seen.1, request_trace);
    let events = recorder.events();
    assert_eq!(recorder.names(), ["audit"]);
    assert_eq!(events[0].scope(), "request");
    assert_eq!(events[0].trace_id, request_trace);
}

fn a_plain_spawn_is_cancelled_with_its_dropped_scope<R: Runtime>() {
    // The contrast: the same request with `ctx::spawn` loses its task.
    let cancelled = R::block_on(async {
        R::scope("app")
            .background()
            .run(async {
                let (dropped_tx, dropped_rx) = oneshot::channel();
                let request = Scope::new("request").run(async move {
                    let signal = DropSignal(Some(dropped_tx));
                    ctx::spawn(async move {
                        let _signal = signal;
                        std::future::pending::<()>().await
                    })
                    .detach();
                    std::future::pending::<()>().await
                });
                let mut request = Box::pin(request);
                assert!(poll_once(&mut request).await.is_none());
                drop(request);
                dropped_rx.await.is_ok()
            })
            .await
    });
    assert!(cancelled);
}

fn the_owner_scope_waits_for_its_background_tasks<R: Runtime>() {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    R::block_on(async move {
        let gate = Gate::default();
        let g = gate.clone();
        let app = R::scope("app").background().run(async move {
            Scope::new("request")
                .run(async move {
                    ctx::spawn_background(async move {
                        g.wait().await;
                        d.store(true, Ordering::SeqCst);
                    })
                    .detach();
                })
                .await;
            // The request is over; its background task is not.
            assert_eq!(ctx::background().running(), 1);
        });
        let mut app = pin!(app);
        // The body has finished; the scope waits for the background task.
        assert!(poll_once(&mut app).await.is_none());
        gate.open();
        app.await;
    });
    assert!(done.load(Ordering::SeqCst));
}

fn dropping_the_owner_scope_cancels_its_background_tasks<R: Runtime>() {
    R::block_on(async {
        let (dropped_tx, dropped_rx) = oneshot::channel();
        let app = R::scope("app").background().run(async move {
            let signal = DropSignal(Some(dropped_tx));
            ctx::spawn_background(async move {
                let _signal = signal;
                std::future::pending::<()>().await
            })
            .detach();
        });
        let mut app = Box::pin(app);
        assert!(poll_once(&mut app).await.is_none());
        drop(app);
        dropped_rx.await.expect("the background task was dropped");
    });
}

fn shutdown_waits_for_the_tasks_and_reports_none_cut_off<R: Runtime>() {
    let recorder = MemoryRecorder::new();
    let report = R::block_on({
        let recorder = recorder.clone();
        async move {
            R::scope("app")
                .background()
                .recorder(recorder)
                .run(async {
                    let gate = Gate::default();
                    let g = gate.clone();
                    ctx::spawn_background(async move { g.wait().await }).detach();
                    // Long enough never to pass in this test.
                    let shutdown = ctx::background().shutdown(Duration::from_secs(3600));
                    let mut shutdown = pin!(shutdown);
                    assert!(poll_once(&mut shutdown).await.is_none(), "it waits");
                    gate.open();
                    shutdown.await
                })
                .await
        }
    });
    assert_eq!((report.waited_for, report.cut_off), (1, 0));
    let events = recorder.events();
    assert_eq!(recorder.names(), ["background.shutdown"]);
    let event = &events[0].event;
    assert_eq!(event.level(), Level::Info);
    assert!(event.attribute("cut_off").is_some_and(|v| v == 0));
    assert!(event.attribute("waited_for").is_some_and(|v| v == 1));
    assert!(event.attribute("owner").is_some_and(|v| v == "app"));
}

fn shutdown_cuts_off_what_outlives_its_timeout_and_records_it<R: Runtime>() {
    let recorder = MemoryRecorder::new();
    let report = R::block_on({
        let recorder = recorder.clone();
        async move {
            R::scope("app")
                .background()
                .recorder(recorder)
                .run(async {
                    let (dropped_tx, dropped_rx) = oneshot::channel();
                    let signal = DropSignal(Some(dropped_tx));
                    let finished = ctx::spawn_background(async move {
                        let _signal = signal;
                        std::future::pending::<()>().await
                    });
                    let report = ctx::background().shutdown(Duration::from_millis(10)).await;
                    // Cut off: its future is dropped, its handle told.
                    dropped_rx.await.expect("the task was dropped");
                    let cancelled = std::panic::AssertUnwindSafe(finished);
                    let outcome = futures::FutureExt::catch_unwind(cancelled).await;
                    assert!(outcome.is_err(), "awaiting a cut-off task panics");
                    report
                })
                .await
        }
    });
    assert_eq!((report.waited_for, report.cut_off), (1, 1));
    let events = recorder.events();
    let shutdown = events
        .iter()
        .find(|e| e.event.name() == "background.shutdown")
        .expect("the shutdown was recorded");
    assert_eq!(shutdown.event.level(), Level::Warning);
    assert_eq!(
        shutdown.event.attribute("cut_off"),
        Some(&Value::from(1_usize))
    );
}

fn background_tasks_without_a_marked_scope_go_to_the_process_wide_owner<R: Runtime>() {
    let name = R::block_on(async {
        let gate = Gate::default();
        let g = gate.clone();
        // The request scope finishes while its background task still waits at the
        // gate (were it the scope's task, the scope would wait: a hang).
        // The body hands the task's handle out, to be awaited after the scope.
        #[allow(clippy::async_yields_async)]
        let task = R::scope("request")
            .run(async move {
                ctx::spawn_background(async move {
                    g.wait().await;
                    (
                        Ctx::current().name().to_owned(),
                        ctx::background().running(),
                    )
                })
            })
            .await;
        gate.open();
        task.await
    });
    assert_eq!(name.0, "request");
    // Counted by the process-wide owner (other tests may have tasks there too).
    assert!(name.1 >= 1);
    assert!(format!("{:?}", Background::global()).contains("global"));
}

fn a_background_task_runs_in_a_child_scope_of_its_spawner<R: Runtime>() {
    let (request, parent, own, name) = R::block_on(async {
        R::scope("request")
            .run(async {
                let id = Ctx::current().id();
                let (parent, own, name) = ctx::spawn_background(async {
                    let ctx = Ctx::current();
                    (ctx.parent_id(), ctx.id(), ctx.name().to_owned())
                })
                .await;
                (id, parent, own, name)
            })
            .await
    });
    assert_eq!(parent, Some(request));
    assert_ne!(own, request, "a scope id of its own");
    assert_eq!(name, "request");
}

fn a_finished_owner_hands_late_background_work_to_the_process_wide_owner<R: Runtime>() {
    let out = R::block_on(async {
        let owner = R::scope("app")
            .background()
            .run(async { ctx::background() })
            .await;
        // Its scope has ended: the task still runs, on the process-wide owner.
        owner.spawn(async { 5 }).await
    });
    assert_eq!(out, 5);
}

/// The rule outside a scope (see the `ctx` module docs): `ctx::spawn` runs the task on
/// the process-wide background owner, as haiway's `ctx.spawn` does; `record_event`,
/// with no recorder to reach, does nothing. Neither fails.
fn spawn_outside_a_scope_runs_on_the_process_wide_owner<R: Runtime>() {
    let (plain, tried, name, trace_differs) = R::block_on(async {
        let plain = ctx::spawn(async { 1 }).await;
        let tried = ctx::try_spawn(async { 2 })
            .expect("no error outside a scope")
            .await;
        let (name, a) =
            ctx::spawn(async { (Ctx::current().name().to_owned(), Ctx::current().trace_id()) })
                .await;
        let b = ctx::spawn(async { Ctx::current().trace_id() }).await;
        (plain, tried, name, a != b)
    });
    assert_eq!((plain, tried), (1, 2));
    assert_eq!(name, "background");
    assert!(
        trace_differs,
        "each task outside a scope is a root of its own"
    );
    assert!(Ctx::try_current().is_none());
}

on_every_executor!(
    spawn_outside_a_scope_runs_on_the_process_wide_owner,
    a_background_task_runs_in_a_child_scope_of_its_spawner,
    a_finished_owner_hands_late_background_work_to_the_process_wide_owner,
    background_task_outlives_a_dropped_request_scope_with_its_trace_id,
    a_plain_spawn_is_cancelled_with_its_dropped_scope,
    the_owner_scope_waits_for_its_background_tasks,
    dropping_the_owner_scope_cancels_its_background_tasks,
    shutdown_waits_for_the_tasks_and_reports_none_cut_off,
    shutdown_cuts_off_what_outlives_its_timeout_and_records_it,
    background_tasks_without_a_marked_scope_go_to_the_process_wide_owner,
);
