//! Events reach the recorder with the recording scope's identity.

use crate::common;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::Runtime;
use haiway::{Ctx, Event, Level, MemoryRecorder, Recorder, ScopeInfo, Value, ctx};

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
    // The short forms compare the same values.
    assert!(events[0].event.attribute("n").is_some_and(|n| n == 1));
    assert!(events[0].event.attribute("ok").is_some_and(|ok| ok == true));
    assert_eq!(
        events[0].event.attribute("n").and_then(Value::as_i64),
        Some(1)
    );
    assert_eq!(events[1].scope_id, nested.id());
    assert_eq!(events[1].scope_name.as_ref(), "nested");
    assert_eq!(events[1].scope(), "nested");
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
    fn record(&self, scope: &ScopeInfo, event: &Event) {
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
    let recorder = move |scope: &ScopeInfo, event: &Event| {
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
    let recorder = |_: &ScopeInfo, event: &Event| panic!("recorder failed on {}", event.name());
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
    let recorder = move |_: &ScopeInfo, _: &Event| {
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
    assert!(message.contains("scope: &ScopeInfo"), "{message}");
}

fn a_recorder_may_run_a_scope_of_its_own<R: Runtime>() {
    let inner = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = inner.clone();
    let recorder = move |scope: &ScopeInfo, event: &Event| {
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
        fn record(&self, _: &ScopeInfo, _: &Event) {}
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

fn events_recorded_from_enabled_are_dropped_not_recursed_into<R: Runtime>() {
    /// Records from `enabled`, each way there is: without the rule that events recorded
    /// while a recorder is asked are dropped, every `enabled` would ask `enabled` again,
    /// without end (a stack overflow).
    struct Chatty(MemoryRecorder);
    impl Recorder for Chatty {
        fn record(&self, scope: &ScopeInfo, event: &Event) {
            self.0.record(scope, event);
        }
        fn enabled(&self, _: Level) -> bool {
            ctx::record_event(Event::info("from enabled"));
            ctx::record_event_with(Level::Info, || Event::info("from enabled, lazily"));
            if let Some(ctx) = Ctx::try_current() {
                ctx.record_event(Event::info("from enabled, through the handle"));
                ctx.record_event_with(Level::Info, || Event::info("lazily, the handle"));
            }
            true
        }
    }
    let kept = MemoryRecorder::new();
    let recorder = Chatty(kept.clone());
    R::block_on(async move {
        R::scope("root")
            .recorder(recorder)
            .run(async {
                ctx::record_event(Event::info("a"));
                ctx::record_event_with(Level::Info, || Event::info("b"));
                Ctx::current().record_event(Event::info("c"));
                Ctx::current().record_event_with(Level::Info, || Event::info("d"));
            })
            .await
    });
    assert_eq!(kept.names(), ["a", "b", "c", "d"]);
}

fn events_recorded_while_a_recorder_runs_are_dropped_even_in_its_own_scopes<R: Runtime>() {
    /// Ships each event in a scope of its own that records with this same recorder:
    /// without the rule, every event would record another, without end. Holds the
    /// recording scope's `Ctx` too (the recorder's argument is only its identity).
    #[derive(Clone, Default)]
    struct Shipper(
        Arc<std::sync::Mutex<Vec<String>>>,
        Arc<std::sync::Mutex<Option<Ctx>>>,
    );
    impl Recorder for Shipper {
        fn record(&self, _scope: &ScopeInfo, event: &Event) {
            self.0.lock().unwrap().push(event.name().to_owned());
            futures_lite::future::block_on(haiway::Scope::new("ship").recorder(self.clone()).run(
                async {
                    ctx::record_event(Event::debug("shipped"));
                    Ctx::current().record_event(Event::debug("shipped, by its Ctx"));
                },
            ));
            // The recording scope's `Ctx` too: recording there would call this recorder
            // back.
            let held = self.1.lock().unwrap().clone();
            held.expect("the body holds it")
                .record_event(Event::debug("again"));
        }
    }
    let shipper = Shipper::default();
    let recorder = shipper.clone();
    let held = shipper.1.clone();
    R::block_on(async move {
        R::scope("app")
            .recorder(recorder)
            .run(async move {
                *held.lock().unwrap() = Some(Ctx::current());
                ctx::record_event(Event::info("hello"));
                Ctx::current().record_event(Event::info("world"));
                // No cycle left behind (the recorder holds the scope's `Ctx`).
                held.lock().unwrap().take();
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
    events_recorded_from_enabled_are_dropped_not_recursed_into,
    events_reach_the_recorder_with_the_right_scope,
    recording_outside_a_scope_or_without_recorder_is_a_no_op,
    a_recorder_gets_only_the_levels_it_enables,
    no_scope_is_current_while_a_recorder_runs,
    a_panicking_recorder_leaves_its_scope_current,
    below_min_level_nothing_is_asked_built_or_recorded,
    a_noop_recorder_in_a_nested_scope_silences_the_outer_one,
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

/// Wants the levels from an adjustable one up, and counts how often it is asked.
#[derive(Clone, Default)]
struct Adjustable {
    /// The least severe level wanted, as `Level as u8`.
    min: Arc<std::sync::atomic::AtomicU8>,
    /// How many times `enabled` was asked.
    asked: Arc<AtomicUsize>,
    kept: MemoryRecorder,
}

impl Adjustable {
    fn level(&self) -> Level {
        [Level::Debug, Level::Info, Level::Warning, Level::Error]
            [usize::from(self.min.load(Ordering::SeqCst))]
    }
}

impl Recorder for Adjustable {
    fn record(&self, scope: &ScopeInfo, event: &Event) {
        self.kept.record(scope, event);
    }
    fn enabled(&self, level: Level) -> bool {
        self.asked.fetch_add(1, Ordering::SeqCst);
        level >= self.level()
    }
    fn min_level(&self) -> Option<Level> {
        Some(self.level())
    }
}

fn below_min_level_nothing_is_asked_built_or_recorded<R: Runtime>() {
    let recorder = Adjustable::default();
    recorder.min.store(Level::Info as u8, Ordering::SeqCst);
    let (asked, kept, min) = (
        recorder.asked.clone(),
        recorder.kept.clone(),
        recorder.min.clone(),
    );
    let tick = haiway::event::PreparedEvent::new(Event::debug("tick"));
    R::block_on(async move {
        R::scope("job")
            .recorder(recorder)
            .run(async move {
                ctx::record_event(Event::debug("dropped"));
                ctx::record_event(&tick);
                ctx::record_event_with(Level::Debug, || unreachable!("below min_level"));
                assert_eq!(asked.load(Ordering::SeqCst), 0, "enabled is not asked");
                ctx::record_event(Event::info("kept"));
                assert_eq!(asked.load(Ordering::SeqCst), 1);
                // `min_level` is asked as each poll starts: lowered now, it shows at
                // the next poll.
                min.store(Level::Debug as u8, Ordering::SeqCst);
                ctx::record_event(Event::debug("still dropped"));
                futures_lite::future::yield_now().await;
                ctx::record_event(&tick);
            })
            .await;
    });
    assert_eq!(kept.names(), ["kept", "tick"]);
}

fn a_noop_recorder_in_a_nested_scope_silences_the_outer_one<R: Runtime>() {
    let outer = MemoryRecorder::new();
    let seen = outer.clone();
    R::block_on(async move {
        R::scope("app")
            .recorder(seen)
            .run(async {
                haiway::Scope::new("quiet")
                    .recorder(haiway::NoopRecorder)
                    .run(async {
                        ctx::record_event(Event::error("silenced"));
                        ctx::record_event_with(Level::Error, || unreachable!("not built"));
                        Ctx::current().record_event(Event::error("silenced too"));
                    })
                    .await;
                ctx::record_event(Event::info("heard"));
            })
            .await;
    });
    assert_eq!(outer.names(), ["heard"]);
}

/// A recorder defined here, outside haiway, that uses the preparation hook: it
/// numbers each event it prepares, and records prepared events by that number.
mod third_party {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use futures_lite::future::block_on;
    use haiway::cache::Cached;
    use haiway::event::{Prepared, PreparedEvent};
    use haiway::{Event, Recorder, Scope, ScopeInfo};

    /// What `Numbering` prepares: the event's number and its name, formatted once.
    struct Numbered(usize, String);

    /// How `Numbering` saw each event: `(number, text)` for a prepared one, `(0, name)`
    /// for one recorded plainly.
    #[derive(Clone, Default)]
    struct Numbering {
        prepared: Arc<AtomicUsize>,
        seen: Arc<Mutex<Vec<(usize, String)>>>,
    }

    impl Recorder for Numbering {
        fn record(&self, _: &ScopeInfo, event: &Event) {
            self.seen.lock().unwrap().push((0, event.name().to_owned()));
        }
        fn prepare(&self, event: &Event) -> Option<Prepared> {
            let number = self.prepared.fetch_add(1, Ordering::SeqCst) + 1;
            Some(Prepared::new(Numbered(
                number,
                format!("#{number} {}", event.name()),
            )))
        }
        fn record_prepared(&self, scope: &ScopeInfo, event: &Event, prepared: &Prepared) {
            match prepared.downcast_ref::<Numbered>() {
                Some(Numbered(number, text)) => {
                    self.seen.lock().unwrap().push((*number, text.clone()));
                }
                None => self.record(scope, event),
            }
        }
    }

    #[test]
    fn a_third_party_recorder_prepares_each_prepared_event_once() {
        let recorder = Numbering::default();
        let cached = Cached::builder()
            .limit(4)
            .name("profiles")
            .build(|k: u32| async move { k });
        let tick = PreparedEvent::new(Event::info("tick"));
        block_on(Scope::new("job").recorder(recorder.clone()).run(async {
            cached.call(1).await; // cache.miss, prepared: #1
            cached.call(1).await; // cache.hit, prepared: #2
            cached.call(1).await; // cache.hit again: #2, not prepared again
            haiway::ctx::record_event(&tick); // #3
            haiway::ctx::record_event(&tick);
            haiway::ctx::record_event(Event::info("plain")); // not prepared
        }));
        let seen = recorder.seen.lock().unwrap().clone();
        let expected = [
            (1, "#1 cache.miss"),
            (2, "#2 cache.hit"),
            (2, "#2 cache.hit"),
            (3, "#3 tick"),
            (3, "#3 tick"),
            (0, "plain"),
        ]
        .map(|(n, text)| (n, text.to_owned()));
        assert_eq!(seen, expected);
        assert_eq!(recorder.prepared.load(Ordering::SeqCst), 3);
        let kept = tick
            .prepared_by::<Numbering>()
            .expect("kept under its type");
        assert!(kept.downcast_ref::<Numbered>().is_some());

        // A recorder of another type keeps a preparation of its own, beside the first:
        // each type records with its own from then on, and neither prepares again.
        let other = haiway::MemoryRecorder::new();
        block_on(Scope::new("other").recorder(other.clone()).run(async {
            cached.call(1).await;
            haiway::ctx::record_event(&tick);
        }));
        assert!(tick.prepared_by::<haiway::MemoryRecorder>().is_some());
        block_on(Scope::new("again").recorder(recorder.clone()).run(async {
            cached.call(1).await;
            haiway::ctx::record_event(&tick);
        }));
        let seen = recorder.seen.lock().unwrap().clone();
        assert_eq!(
            seen[6..],
            [(2, "#2 cache.hit".to_owned()), (3, "#3 tick".to_owned())]
        );
        assert_eq!(other.names(), ["cache.hit", "tick"]);
        assert_eq!(recorder.prepared.load(Ordering::SeqCst), 3);
    }
}

#[test]
fn values_compare_with_plain_values_and_convert_only_to_their_own_kind() {
    let event = Event::info("x")
        .with("cache", "users")
        .with("n", 3_u32)
        .with("ratio", 0.5)
        .with("ok", true);
    assert_eq!(event.attribute_str("cache"), Some("users"));
    assert_eq!(event.attribute_str("n"), None);
    let value = |key| event.attribute(key).expect("present");
    assert!(value("cache") == "users" && value("cache") != "user");
    assert!(value("n") == 3 && value("n") != 4);
    assert!(value("ratio") == 0.5);
    assert!(value("ok") == true);
    // A value of another kind is never equal, whatever its text.
    assert!(Value::from("3") != 3 && Value::from(3) != "3" && Value::from(1) != true);
    assert_eq!(value("n").as_str(), None);
    assert_eq!(value("cache").as_i64(), None);
    assert_eq!(value("n").as_f64(), Some(3.0));
    assert_eq!(value("ok").as_bool(), Some(true));
}

#[test]
fn a_handle_records_a_built_event_only_when_its_scope_wants_it() {
    let kept = MemoryRecorder::new();
    let recorder = AtLeast {
        min: Level::Info,
        kept: kept.clone(),
    };
    let job = futures_lite::future::block_on(
        haiway::Scope::new("job")
            .recorder(recorder)
            .run(async { Ctx::current() }),
    );
    // Outside the scope, through the handle: below the recorder's level, `make` is not
    // called; at its level it is, and the event is recorded in the handle's scope.
    job.record_event_with(Level::Debug, || unreachable!("below the recorder's level"));
    job.record_event_with(Level::Info, || Event::info("late").with("step", 3));
    // An event built at another level than announced is asked about again.
    job.record_event_with(Level::Warning, || Event::debug("demoted"));
    let events = kept.events();
    assert_eq!(kept.names(), ["late"]);
    assert_eq!(events[0].scope(), "job");
    assert_eq!(events[0].scope_id, job.id());
    // A scope with no recorder never builds it.
    let quiet =
        futures_lite::future::block_on(haiway::Scope::new("quiet").run(async { Ctx::current() }));
    quiet.record_event_with(Level::Error, || unreachable!("no recorder"));
}
