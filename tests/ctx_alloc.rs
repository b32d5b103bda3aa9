//! With no recorder set, recording an event allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use haiway::{Event, Scope, ctx};

/// Counts allocations made by the current thread while counting is on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; the counters are thread-locals with const
// initialisers, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded unchanged from our caller.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged from our caller.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

#[test]
fn recording_without_a_recorder_does_not_allocate() {
    // Outside any scope.
    let outside = allocations_in(|| {
        for _ in 0..100 {
            ctx::record_event(Event::debug("cache.hit"));
            ctx::record_event_with(|| Event::debug("cache.hit").with("cache", "users"));
        }
    });
    assert_eq!(outside, 0);
    // Inside a scope with no recorder.
    let inside = futures_lite::future::block_on(Scope::new("quiet").run(async {
        allocations_in(|| {
            for _ in 0..100 {
                ctx::record_event(Event::debug("cache.hit"));
                ctx::record_event_with(|| Event::debug("cache.hit").with("cache", "users"));
            }
        })
    }));
    assert_eq!(inside, 0);
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert!(n >= 1);
}
