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
                // Built for INFO but made at DEBUG: the recorder is asked again.
                ctx::record_event_with(Level::Info, || Event::debug("made at debug"));
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

fn inside_a_recorder_ctx_current_says_to_use_the_scope_argument<R: Runtime>() {
    let message = Arc::new(std::sync::Mutex::new(String::new()));
    let seen = message.clone();
    let recorder = move |_: &Ctx, _: &Event| {
        let payload = catch_unwind(Ctx::current).expect_err("no scope is current here");
        *seen.lock().unwrap() = common::panic_text(&*payload);
    };
    R::block_on(async move {
        R::scope("root")
            .recorder(recorder)
            .run(async { ctx::record_event(Event::info("x")) })
            .await;
    });
    let message = message.lock().unwrap().clone();
    assert!(message.contains("inside a `Recorder`"), "{message}");
    assert!(message.contains("scope: &Ctx"), "{message}");
}

fn a_recorder_may_run_a_scope_of_its_own<R: Runtime>() {
    let inner = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = inner.clone();
    let recorder = move |scope: &Ctx, event: &Event| {
        // No scope is current, so this one is a root: its own trace.
        let (name, parent) = futures_lite::future::block_on(
            haiway::Scope::new("shipping")
                .run(async { (Ctx::current().name().to_owned(), Ctx::current().parent_id()) }),
        );
        seen.lock().unwrap().push((
            event.name().to_owned(),
            scope.name().to_owned(),
            name,
            parent,
        ));
    };
    let after = R::block_on(async move {
        R::scope("root")
            .recorder(recorder)
            .run(async {
                ctx::record_event(Event::info("a"));
                Ctx::current().record_event(Event::info("b"));
                Ctx::current().name().to_owned()
            })
            .await
    });
    assert_eq!(after, "root");
    let inner = inner.lock().unwrap().clone();
    let expected =
        ["a", "b"].map(|e| (e.to_owned(), "root".to_owned(), "shipping".to_owned(), None));
    assert_eq!(inner, expected);
}

fn polling_a_scope_in_enabled_panics_with_a_clear_message<R: Runtime>() {
    struct Misbehaving;
    impl Recorder for Misbehaving {
        fn record(&self, _: &Ctx, _: &Event) {}
        fn enabled(&self, _: Level) -> bool {
            futures_lite::future::block_on(haiway::Scope::new("inside").run(async {}));
            true
        }
    }
    let message = R::block_on(async {
        R::scope("root")
            .recorder(Misbehaving)
            .run(async {
                let payload = catch_unwind(|| ctx::record_event(Event::info("x")))
                    .expect_err("polling a scope in `enabled` panics");
                // The scope is still current after the panic.
                assert_eq!(Ctx::current().name(), "root");
                common::panic_text(&*payload)
            })
            .await
    });
    assert!(message.contains("Recorder::enabled"), "{message}");
}

fn events_recorded_while_a_recorder_runs_are_dropped_even_in_its_own_scopes<R: Runtime>() {
    /// Ships each event in a scope of its own that records with this same recorder:
    /// without the rule, every event would record another, without end.
    #[derive(Clone, Default)]
    struct Shipper(Arc<std::sync::Mutex<Vec<String>>>);
    impl Recorder for Shipper {
        fn record(&self, scope: &Ctx, event: &Event) {
            self.0.lock().unwrap().push(event.name().to_owned());
            futures_lite::future::block_on(haiway::Scope::new("ship").recorder(self.clone()).run(
                async {
                    ctx::record_event(Event::debug("shipped"));
                    Ctx::current().record_event(Event::debug("shipped, by its Ctx"));
                },
            ));
            // The scope argument too: recording there would call this recorder back.
            scope.record_event(Event::debug("again"));
        }
    }
    let shipper = Shipper::default();
    let recorder = shipper.clone();
    R::block_on(async move {
        R::scope("app")
            .recorder(recorder)
            .run(async {
                ctx::record_event(Event::info("hello"));
                Ctx::current().record_event(Event::info("world"));
            })
            .await
    });
    assert_eq!(*shipper.0.lock().unwrap(), ["hello", "world"]);
}

on_every_executor!(
    events_recorded_while_a_recorder_runs_are_dropped_even_in_its_own_scopes,
    inside_a_recorder_ctx_current_says_to_use_the_scope_argument,
    a_recorder_may_run_a_scope_of_its_own,
    polling_a_scope_in_enabled_panics_with_a_clear_message,
    events_reach_the_recorder_with_the_right_scope,
    recording_outside_a_scope_or_without_recorder_is_a_no_op,
    a_recorder_gets_only_the_levels_it_enables,
    no_scope_is_current_while_a_recorder_runs,
    a_panicking_recorder_leaves_its_scope_current,
);

#[test]
fn a_held_ctx_records_from_a_thread_local_destructor() {
    // A `Ctx` kept in a thread-local and used in its destructor, when the slot may
    // already be gone: the event still reaches the recorder, nothing panics.
    struct RecordOnDrop(Option<Ctx>);
    impl Drop for RecordOnDrop {
        fn drop(&mut self) {
            if let Some(ctx) = self.0.take() {
                ctx.record_event(Event::info("thread.exit"));
            }
        }
    }
    thread_local!(static HELD: std::cell::RefCell<RecordOnDrop> = const {
        std::cell::RefCell::new(RecordOnDrop(None))
    });
    let recorder = MemoryRecorder::new();
    let scope_recorder = recorder.clone();
    std::thread::spawn(move || {
        futures_lite::future::block_on(haiway::Scope::new("worker").recorder(scope_recorder).run(
            async {
                HELD.with(|held| held.borrow_mut().0 = Some(Ctx::current()));
            },
        ));
    })
    .join()
    .expect("the thread exits cleanly");
    assert_eq!(recorder.names(), ["thread.exit"]);
}
