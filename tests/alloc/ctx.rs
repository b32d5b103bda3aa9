//! With no recorder set, recording an event allocates nothing; reading state allocates
//! nothing, and a scope that adds no state copies none of its parent's.

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

/// Allocations of opening, running and finishing a scope that adds no state, in the
/// current scope (polled once: its body finishes at once).
fn child_scope_allocations() -> usize {
    let waker = std::task::Waker::noop();
    let (n, ready) = allocations_in(|| {
        let mut child = std::pin::pin!(Scope::new("child").run(async {}));
        child
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_ready()
    });
    assert!(ready);
    n
}

#[test]
fn state_reads_do_not_allocate_and_a_child_adding_none_copies_none() {
    struct Config(u64);
    struct Other;
    let (stateless, stateful) = futures_lite::future::block_on(async {
        let stateless = Scope::new("plain")
            .run(async { child_scope_allocations() })
            .await;
        let stateful = Scope::new("with-state")
            .state(Config(1))
            .state(Other)
            .run(async {
                let (reads, sum) = allocations_in(|| {
                    let mut sum = 0;
                    for _ in 0..100 {
                        sum += ctx::with_state(|c: Option<&Config>| c.map_or(0, |c| c.0));
                        sum += ctx::state::<Config>().map_or(0, |c| c.0);
                        sum += u64::from(ctx::contains_state::<Other>());
                    }
                    sum
                });
                assert_eq!((reads, sum), (0, 300));
                child_scope_allocations()
            })
            .await;
        (stateless, stateful)
    });
    // A child of a scope with state shares the parent's values: no allocation more.
    assert_eq!(stateful, stateless);
}

/// Allocations of opening, running (one poll: its body finishes at once) and finishing
/// the scope `make` builds.
fn scope_allocations(make: impl FnOnce() -> Scope) -> usize {
    let waker = std::task::Waker::noop();
    let (n, ready) = allocations_in(|| {
        let mut scope = std::pin::pin!(make().run(async {}));
        scope
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_ready()
    });
    assert!(ready);
    n
}

#[test]
fn a_shared_spawner_and_recorder_cost_a_scope_no_allocation() {
    use haiway::Recorder;
    use haiway::runtime::{BoxFuture, Spawn};
    use std::sync::Arc;

    let spawner: Arc<dyn Spawn> = Arc::new(|future: BoxFuture| drop(future));
    let recorder: Arc<dyn Recorder> = Arc::new(haiway::MemoryRecorder::new());
    let bare = scope_allocations(|| Scope::new("request"));
    let shared = scope_allocations(|| {
        Scope::new("request")
            .spawner(spawner.clone())
            .recorder(recorder.clone())
    });
    assert_eq!(
        shared, bare,
        "a shared spawner and recorder are not wrapped again"
    );
    // The guard: a recorder that is not an `Arc<dyn Recorder>` is put behind one.
    let memory = haiway::MemoryRecorder::new();
    let wrapped = scope_allocations(|| Scope::new("request").recorder(memory.clone()));
    assert!(wrapped > bare);
}
