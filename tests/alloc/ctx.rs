//! With no recorder set, recording an event allocates nothing.

use crate::common::counting_alloc::allocations_in;
use haiway::{Event, Level, Scope, ctx};

#[test]
fn recording_without_a_recorder_does_not_allocate() {
    // Outside any scope.
    let (outside, ()) = allocations_in(|| {
        for _ in 0..100 {
            ctx::record_event(Event::debug("cache.hit"));
            ctx::record_event_with(Level::Debug, || {
                Event::debug("cache.hit").with("cache", "users")
            });
        }
    });
    assert_eq!(outside, 0);
    // Inside a scope with no recorder.
    let (inside, ()) = futures_lite::future::block_on(Scope::new("quiet").run(async {
        allocations_in(|| {
            for _ in 0..100 {
                ctx::record_event(Event::debug("cache.hit"));
                ctx::record_event_with(Level::Debug, || {
                    Event::debug("cache.hit").with("cache", "users")
                });
            }
        })
    }));
    assert_eq!(inside, 0);
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    let (n, ()) = allocations_in(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert!(n >= 1);
}
