//! Events reach the recorder with the recording scope's identity.

mod common;

use common::Runtime;
use haiway::{Ctx, Event, Level, MemoryRecorder, Value, ctx};

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
                        ctx::record_event_with(|| Event::debug("second").with("x", 1.5));
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
        ctx::record_event_with(|| panic!("must not be built outside a scope"));
        assert!(!ctx::is_recording());
        R::scope("quiet")
            .run(async {
                assert!(!ctx::is_recording());
                ctx::record_event_with(|| panic!("must not be built without a recorder"));
            })
            .await;
    });
}

on_every_executor!(
    events_reach_the_recorder_with_the_right_scope,
    recording_outside_a_scope_or_without_recorder_is_a_no_op,
);
