//! Nested scopes: inheritance, overrides, ids, and restoring the outer context.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::Runtime;
use haiway::runtime::{BoxFuture, Spawn};
use haiway::{Ctx, Event, MemoryRecorder, Scope, ctx};

/// A spawner that counts what it spawns, delegating to the executor's spawner (or to a
/// thread pool when the executor has none).
fn counting_spawner<R: Runtime>(count: Arc<AtomicUsize>) -> impl Spawn {
    let inner: Arc<dyn Spawn> = match R::spawner() {
        Some(s) => s,
        None => {
            let pool = futures::executor::ThreadPool::builder()
                .pool_size(1)
                .create()
                .expect("thread pool");
            Arc::new(move |f: BoxFuture| pool.spawn_ok(f))
        }
    };
    move |f: BoxFuture| {
        count.fetch_add(1, Ordering::SeqCst);
        inner.spawn(f)
    }
}

fn nested_scope_inherits_spawner_and_recorder<R: Runtime>() {
    let spawned = Arc::new(AtomicUsize::new(0));
    let recorder = MemoryRecorder::new();
    let spawner = counting_spawner::<R>(spawned.clone());
    let rec = recorder.clone();
    let value = R::block_on(async move {
        Scope::new("outer")
            .spawner(spawner)
            .recorder(rec)
            .run(async {
                Scope::new("inner")
                    .run(async {
                        ctx::record_event(Event::info("inside"));
                        ctx::spawn(async { 7 }).await
                    })
                    .await
            })
            .await
    });
    assert_eq!(value, 7);
    assert_eq!(
        spawned.load(Ordering::SeqCst),
        1,
        "inner scope used the outer spawner"
    );
    let events = recorder.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].scope_name.as_ref(), "inner");
}

fn nested_scope_can_override_spawner_and_recorder<R: Runtime>() {
    let outer_spawns = Arc::new(AtomicUsize::new(0));
    let inner_spawns = Arc::new(AtomicUsize::new(0));
    let outer_rec = MemoryRecorder::new();
    let inner_rec = MemoryRecorder::new();
    let (os, is) = (
        counting_spawner::<R>(outer_spawns.clone()),
        counting_spawner::<R>(inner_spawns.clone()),
    );
    let (orec, irec) = (outer_rec.clone(), inner_rec.clone());
    R::block_on(async move {
        Scope::new("outer")
            .spawner(os)
            .recorder(orec)
            .run(async move {
                Scope::new("inner")
                    .spawner(is)
                    .recorder(irec)
                    .run(async {
                        ctx::record_event(Event::info("inner.event"));
                        ctx::spawn(async {}).await;
                    })
                    .await;
                ctx::record_event(Event::info("outer.event"));
                ctx::spawn(async {}).await;
            })
            .await
    });
    assert_eq!(outer_spawns.load(Ordering::SeqCst), 1);
    assert_eq!(inner_spawns.load(Ordering::SeqCst), 1);
    assert_eq!(outer_rec.names(), ["outer.event"]);
    assert_eq!(inner_rec.names(), ["inner.event"]);
}

fn nested_scope_shares_trace_and_knows_its_parent<R: Runtime>() {
    R::block_on(async {
        R::scope("outer")
            .run(async {
                let outer = Ctx::current();
                let inner = Scope::new("inner").run(async { Ctx::current() }).await;
                assert_eq!(inner.trace_id(), outer.trace_id());
                assert_eq!(inner.parent_id(), Some(outer.id()));
                assert_eq!(inner.parent().map(Ctx::name), Some("outer"));
                assert_ne!(inner.id(), outer.id());
                assert_eq!(outer.parent_id(), None);
                // The outer context is current again after the nested run.
                assert_eq!(Ctx::current().id(), outer.id());
            })
            .await
    });
}

fn separate_root_scopes_have_separate_traces<R: Runtime>() {
    let (a, b) = R::block_on(async {
        let a = R::scope("a").run(async { Ctx::current().trace_id() }).await;
        let b = R::scope("b").run(async { Ctx::current().trace_id() }).await;
        (a, b)
    });
    assert_ne!(a, b);
}

on_every_executor!(
    nested_scope_inherits_spawner_and_recorder,
    nested_scope_can_override_spawner_and_recorder,
    nested_scope_shares_trace_and_knows_its_parent,
    separate_root_scopes_have_separate_traces,
);
