//! Events reach the recorder with the recording scope's identity.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Runtime;
use haiway::{Ctx, Event, Level, MemoryRecorder, Recorder, Value, ctx};

fn events_reach_the_recorder_with_the_right_scope<R: Runtime>() {
    let recorder = MemoryRecorder::new();
    let rec = recorder.clone();
    let (root, nested) = R::block_on(async move {
        R::scope("root")
            .recorder(rec)
            .run(async {
                ctx::record_event(Event::info("first").with("n", 1).with("ok", true));
                let nested = haiway::Scope::new("nested")
                    .run(async {
                        ctx::record_event_with(Level::Debug, || {
                            Event::debug("second").with("x", 1.5)
                        });
                        Ctx::current()
                    })
                    .await;
                ctx::spawn(async { ctx::record_event(Event::warning("third")) }).await;
                Ctx::current().record_event(Event::error("fourth").with("why", "test"));
                (Ctx::current(), nested)
            })
            .await
    });
    let events = recorder.events();
    let names: Vec<&str> = events.iter().map(|e| e.event.name()).collect();
    assert_eq!(names, ["first", "second", "third", "fourth"]);
    assert_eq!(events[0].scope_id, root.id());
    assert_eq!(events[0].event.attribute("n"), Some(&Value::Int(1)));
    assert_eq!(events[0].event.attribute("ok"), Some(&Value::Bool(true)));
    assert_eq!(events[1].scope_id, nested.id());
    assert_eq!(events[1].scope_name.as_ref(), "nested");
    assert_eq!(events[1].event.level(), Level::Debug);
    assert_eq!(events[1].trace_id, root.trace_id());
    assert_eq!(events[2].scope_id, root.id());
    assert_eq!(events[3].event.level(), Level::Error);
}

fn recording_outside_a_scope_or_without_recorder_is_a_no_op<R: Runtime>() {
    R::block_on(async {
        ctx::record_event(Event::info("nowhere"));
        ctx::record_event_with(Level::Debug, || panic!("must not be built outside a scope"));
        assert!(!ctx::is_recording());
        R::scope("quiet")
            .run(async {
                assert!(!ctx::is_recording());
                ctx::record_event_with(Level::Debug, || {
                    panic!("must not be built without a recorder")
                });
            })
            .await;
    });
}

/// Keeps the events at `min` and above in a `MemoryRecorder`.
struct AtLeast {
    min: Level,
    kept: MemoryRecorder,
}

impl Recorder for AtLeast {
    fn record(&self, scope: &Ctx, event: &Event) {
        assert!(
            event.level() >= self.min,
            "{} reached the recorder",
            event.name()
        );
        self.kept.record(scope, event);
    }
    fn enabled(&self, level: Level) -> bool {
        level >= self.min
    }
}

fn a_recorder_gets_only_the_levels_it_enables<R: Runtime>() {
    let kept = MemoryRecorder::new();
    let built = Arc::new(AtomicUsize::new(0));
    let recorder = AtLeast {
        min: Level::Info,
        kept: kept.clone(),
    };
    let counted = built.clone();
    let by_reference = Event::debug("dropped by reference");
    let kept_by_reference = Event::error("kept too");
    R::block_on(async move {
        R::scope("job")
            .recorder(recorder)
            .run(async move {
                ctx::record_event(Event::debug("dropped"));
                ctx::record_event(&by_reference);
                Ctx::current().record_event(Event::debug("dropped by the method"));
                ctx::record_event_with(Level::Debug, || unreachable!("a debug event is not built"));
                ctx::record_event_with(Level::Info, || {
                    counted.fetch_add(1, Ordering::Relaxed);
                    Event::info("built")
                });
                ctx::record_event(Event::warning("kept"));
                Ctx::current().record_event(&kept_by_reference);
            })
            .await;
    });
    assert_eq!(kept.names(), ["built", "kept", "kept too"]);
    assert_eq!(built.load(Ordering::Relaxed), 1);
}

fn no_scope_is_current_while_a_recorder_runs<R: Runtime>() {
    let kept = MemoryRecorder::new();
    let inside = Arc::new(AtomicUsize::new(0));
    let (seen, after) = (kept.clone(), inside.clone());
    let recorder = move |scope: &Ctx, event: &Event| {
        assert!(
            Ctx::try_current().is_none(),
            "no scope is current in a recorder"
        );
        assert!(!ctx::is_recording());
        // Recording from inside the recorder goes nowhere: no recursion.
        ctx::record_event(Event::info("echo"));
        inside.fetch_add(1, Ordering::Relaxed);
        seen.record(scope, event);
    };
    let name = R::block_on(async move {
        R::scope("root")
            .recorder(recorder)
            .run(async {
                ctx::record_event(Event::info("first"));
                ctx::record_event_with(Level::Info, || {
                    // `make` runs with the scope current.
                    Event::info("second").with("scope", Ctx::current().name().to_owned())
                });
                Ctx::current().record_event(Event::info("third"));
                // The scope is current again after each recording.
                Ctx::current().name().to_owned()
            })
            .await
    });
    assert_eq!(name, "root");
    assert_eq!(kept.names(), ["first", "second", "third"]);
    assert!(
        kept.events()
            .iter()
            .all(|e| e.scope_name.as_ref() == "root")
    );
    assert_eq!(
        kept.events()[1].event.attribute("scope"),
        Some(&Value::from("root"))
    );
    assert_eq!(after.load(Ordering::Relaxed), 3);
}

fn a_panicking_recorder_leaves_its_scope_current<R: Runtime>() {
    let recorder = |_: &Ctx, event: &Event| panic!("recorder failed on {}", event.name());
    let name = R::block_on(async move {
        R::scope("root")
            .recorder(recorder)
            .run(async {
                let panicked = catch_unwind(AssertUnwindSafe(|| {
                    ctx::record_event(Event::info("boom"));
                }));
                assert!(panicked.is_err());
                let panicked = catch_unwind(AssertUnwindSafe(|| {
                    Ctx::current().record_event(Event::info("boom again"));
                }));
                assert!(panicked.is_err());
                Ctx::current().name().to_owned()
            })
            .await
    });
    assert_eq!(name, "root");
}

on_every_executor!(
    events_reach_the_recorder_with_the_right_scope,
    recording_outside_a_scope_or_without_recorder_is_a_no_op,
    a_recorder_gets_only_the_levels_it_enables,
    no_scope_is_current_while_a_recorder_runs,
    a_panicking_recorder_leaves_its_scope_current,
);
