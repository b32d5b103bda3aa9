//! `Ctx::current` / `try_current` inside and outside a scope, on every executor.

use crate::common;
use std::panic::catch_unwind;

use crate::common::Runtime;
use haiway::ctx;
use haiway::{Ctx, Event, Level};

fn current_inside_a_scope<R: Runtime>() {
    let (name, id_matches) = R::block_on(async {
        R::scope("request")
            .run(async {
                let ctx = Ctx::current();
                let again = Ctx::try_current().expect("inside a scope");
                (ctx.name().to_owned(), ctx.id() == again.id())
            })
            .await
    });
    assert_eq!(name, "request");
    assert!(id_matches);
}

fn nothing_current_outside_a_scope<R: Runtime>() {
    let outside = R::block_on(async {
        let before = Ctx::try_current().is_none();
        R::scope("s").run(async {}).await;
        let after = Ctx::try_current().is_none();
        (before, after)
    });
    assert_eq!(outside, (true, true));
    assert!(Ctx::try_current().is_none());
}

fn current_outside_a_scope_panics_with_advice<R: Runtime>() {
    let message = R::block_on(async {
        let err = catch_unwind(Ctx::current).expect_err("must panic outside a scope");
        common::panic_text(&*err)
    });
    assert!(message.contains("no scope is current"), "{message}");
    assert!(message.contains("Scope::new"), "{message}");
}

/// The rule outside a scope (see the `ctx` module docs): `record_event`, with no
/// recorder to reach, does nothing; `ctx::spawn` runs the task on the process-wide
/// background owner (tested in `background`, which needs threads Miri is not given).
fn record_event_outside_a_scope_does_nothing<R: Runtime>() {
    let recording = R::block_on(async {
        ctx::record_event(Event::error("nowhere"));
        ctx::record_event_with(Level::Error, || unreachable!("never built outside a scope"));
        ctx::is_recording()
    });
    assert!(!recording);
}

on_every_executor!(
    current_inside_a_scope,
    nothing_current_outside_a_scope,
    current_outside_a_scope_panics_with_advice,
    record_event_outside_a_scope_does_nothing,
);
