//! The fuzz targets `cache_calls` and `cache_backend` as property tests, so `cargo test`
//! runs their model on stable: callers of one cache interleaved on a deterministic
//! executor, with cancellations, panicking and failing bodies, expiry on a manual clock
//! and clears; and the same in front of a backend whose operations fail, wait and
//! complete out of order.
//! The model and its checks live in `tests/model/cache_calls.rs` (included by path);
//! see there for what is checked.

use crate::cache_calls::{BackendMode, Body, Input, KEYS, Op, OpPlan, Spawning, replay};
use proptest::prelude::*;

fn body() -> impl Strategy<Value = Body> {
    (
        0..4u8,
        prop::bool::weighted(0.5),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(yields, gated, panics, fails)| Body {
            yields,
            gated,
            panics,
            fails,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS;
    prop_oneof![
        4 => (key.clone(), prop::option::weighted(0.2, 0..4u8))
            .prop_map(|(key, cancel_after)| Op::Call { key, cancel_after }),
        4 => any::<u8>().prop_map(|caller| Op::Poll { caller }),
        2 => Just(Op::PollAll),
        1 => any::<u8>().prop_map(|caller| Op::Cancel { caller }),
        2 => key.clone().prop_map(|key| Op::Release { key }),
        1 => Just(Op::Clear),
        1 => key.prop_map(|key| Op::ClearKey { key }),
        1 => (0..20u8).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// Ops of the backend mode: the others, and settling backend operations and polling
/// the spawned writes.
fn backend_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => op(),
        3 => any::<u8>().prop_map(|op| Op::Settle { op }),
        1 => any::<u8>().prop_map(|task| Op::Spawned { task }),
    ]
}

fn plan() -> impl Strategy<Value = OpPlan> {
    (
        prop::bool::weighted(0.4),
        prop::bool::weighted(0.2),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(held, fails, lands, late)| OpPlan {
            held,
            fails,
            lands,
            late,
        })
}

fn backend_mode() -> impl Strategy<Value = BackendMode> {
    let spawning = prop_oneof![
        Just(Spawning::Inline),
        Just(Spawning::ScopeDrives),
        Just(Spawning::Spawner),
    ];
    (
        any::<bool>(),
        spawning,
        prop::bool::weighted(0.8),
        prop::collection::vec(plan(), 0..8),
    )
        .prop_map(|(memory, spawning, compares, plans)| BackendMode {
            memory,
            spawning,
            compares,
            plans,
        })
}

/// An input with the backend mode if `backend` is some strategy.
fn input_with(
    backend: impl Strategy<Value = Option<BackendMode>>,
    op: impl Strategy<Value = Op>,
) -> impl Strategy<Value = Input> {
    (
        0..4u8,
        prop::option::of(0..30u8),
        any::<bool>(),
        prop::collection::vec(body(), 0..8),
        backend,
        prop::collection::vec(op, 0..if cfg!(miri) { 24 } else { 160 }),
    )
        .prop_map(|(limit, ttl_ms, fallible, bodies, backend, ops)| Input {
            limit,
            ttl_ms,
            fallible,
            bodies,
            backend,
            ops,
        })
}

fn input() -> impl Strategy<Value = Input> {
    input_with(Just(None), op())
}

fn backend_input() -> impl Strategy<Value = Input> {
    input_with(backend_mode().prop_map(Some), backend_op())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        // Miri cannot write regression files (isolation); elsewhere keep the default.
        failure_persistence: if cfg!(miri) { None } else { Default::default() },
        ..Default::default()
    })]

    #[test]
    fn calls_match_the_model(input in input()) {
        replay(&input);
    }

    #[test]
    fn calls_with_a_backend_match_the_model(input in backend_input()) {
        replay(&input);
    }
}

/// A scenario worth keeping fixed: a gated leader with a waiter, the key cleared, the
/// leader cancelled, a new caller; then the waiter must take over and nothing stale
/// may be served.
#[test]
fn cleared_then_cancelled_leader_hands_over() {
    let gated = Body {
        gated: true,
        ..Body::default()
    };
    replay(&Input {
        limit: 1,
        ttl_ms: None,
        fallible: false,
        bodies: vec![gated],
        backend: None,
        ops: vec![
            Op::Call {
                key: 0,
                cancel_after: None,
            },
            Op::Call {
                key: 0,
                cancel_after: None,
            },
            Op::PollAll,
            Op::ClearKey { key: 0 },
            Op::Cancel { caller: 0 },
            Op::Call {
                key: 0,
                cancel_after: None,
            },
            Op::PollAll,
            Op::Release { key: 0 },
            Op::PollAll,
        ],
    });
}

/// The backend mode on issue 21's sequence: a write held past a clear lands, its undo
/// is held, and a call that starts then must not read the cleared value back.
#[test]
fn a_stale_write_landing_after_a_clear_is_not_read_back() {
    let (free, held) = (
        OpPlan::default(),
        OpPlan {
            held: true,
            late: true,
            ..OpPlan::default()
        },
    );
    let call = Op::Call {
        key: 0,
        cancel_after: None,
    };
    replay(&Input {
        limit: 0,
        ttl_ms: None,
        fallible: false,
        bodies: vec![],
        backend: Some(BackendMode {
            memory: false,
            spawning: Spawning::Inline,
            compares: true,
            // The read, the write (held), the clear, the undo (held), then free.
            plans: vec![free, held, free, held, free, free, free, free],
        }),
        ops: vec![
            call,
            Op::Poll { caller: 0 }, // run 0; its write is held
            Op::ClearKey { key: 0 },
            Op::Settle { op: 0 },
            Op::Poll { caller: 0 }, // the write lands; its undo is held
            call,
            Op::Poll { caller: 1 }, // must compute, not read run 0
            Op::PollAll,
        ],
    });
}

/// Found by the `cache_calls` fuzz target (minimized): a key cleared (in memory and in
/// the backend) while its first run is in flight; a call after the clear must not get
/// that run's value.
#[test]
fn fuzz_a_call_after_a_clear_does_not_get_the_run_from_before_it() {
    use crate::cache_calls::Spawning;
    let plan = |held, fails| OpPlan {
        held,
        fails,
        lands: true,
        late: true,
    };
    let input = Input {
        limit: 38,
        ttl_ms: None,
        fallible: false,
        bodies: vec![],
        backend: Some(BackendMode {
            memory: true,
            spawning: Spawning::ScopeDrives,
            compares: true,
            plans: vec![
                plan(false, false),
                plan(true, true),
                plan(false, false),
                plan(true, true),
                plan(false, true),
                plan(true, true),
                plan(true, true),
            ],
        }),
        ops: vec![
            Op::Call {
                key: 17,
                cancel_after: Some(17),
            },
            Op::PollAll,
            Op::ClearKey { key: 157 },
            Op::ClearKey { key: 157 },
            Op::ClearKey { key: 157 },
            Op::ClearKey { key: 157 },
            Op::Cancel { caller: 121 },
            Op::ClearKey { key: 19 },
            Op::Call {
                key: 17,
                cancel_after: Some(17),
            },
            Op::Call {
                key: 69,
                cancel_after: Some(17),
            },
            Op::PollAll,
        ],
    };
    replay(&input);
}
