//! Testing with scopes: run the code under test in a scope with a `MemoryRecorder`,
//! then assert on the events it recorded.
//!
//! Run with `cargo run --example testing_with_scopes`. In a real crate the body of
//! `main` sits in a `#[test]` function.

use haiway::{Event, Level, MemoryRecorder, Scope, Value, ctx};

/// The code under test: charges a card and reports what happened.
async fn charge(amount_cents: u64) -> Result<(), String> {
    if amount_cents == 0 {
        ctx::record_event(Event::warning("charge.rejected").with("reason", "zero amount"));
        return Err("nothing to charge".into());
    }
    // Background work inherits the scope, and the scope waits for it.
    ctx::spawn(async move {
        ctx::record_event(Event::info("receipt.sent").with("amount", amount_cents));
    })
    .detach();
    ctx::record_event(Event::info("charge.accepted").with("amount", amount_cents));
    Ok(())
}

fn main() {
    let recorder = MemoryRecorder::new();
    futures_lite::future::block_on(Scope::new("test").recorder(recorder.clone()).run(async {
        assert!(charge(1_250).await.is_ok());
        assert!(charge(0).await.is_err());
    }));

    // The scope has finished, so the background receipt task has too.
    let events = recorder.events();
    assert_eq!(recorder.count("charge.accepted"), 1);
    assert_eq!(recorder.count("receipt.sent"), 1);
    let rejected = events
        .iter()
        .find(|e| e.event.name() == "charge.rejected")
        .expect("a rejection was recorded");
    assert_eq!(rejected.event.level(), Level::Warning);
    assert_eq!(
        rejected.event.attribute("reason"),
        Some(&Value::from("zero amount"))
    );
    assert!(events.iter().all(|e| e.scope_name.as_ref() == "test"));
    println!("all {} events asserted", events.len());
}
