//! The fuzz target `cache_calls` as a property test, so `cargo test` runs its model on
//! stable: callers of one cache interleaved on a deterministic executor, with
//! cancellations, panicking and failing bodies, expiry on a manual clock and clears.
//! The model and its checks live in `tests/model/cache_calls.rs` (included by path);
//! see there for what is checked.

#[allow(dead_code)]
#[path = "model/exec.rs"]
mod exec;

#[allow(dead_code)]
#[path = "model/cache_calls.rs"]
mod cache_calls;

use cache_calls::{Body, Input, KEYS, Op, replay};
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

fn input() -> impl Strategy<Value = Input> {
    (
        0..4u8,
        prop::option::of(0..30u8),
        any::<bool>(),
        prop::collection::vec(body(), 0..8),
        prop::collection::vec(op(), 0..if cfg!(miri) { 24 } else { 160 }),
    )
        .prop_map(|(limit, ttl_ms, fallible, bodies, ops)| Input {
            limit,
            ttl_ms,
            fallible,
            bodies,
            ops,
        })
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
