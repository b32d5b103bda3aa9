//! The fuzz target `make_key` as a property test, so `cargo test` runs its model on
//! stable: caches keyed by `make_key`, by argument tuples, and a fallible one, with
//! keys whose `Hash` collides on purpose, against an exact LRU model. The model and its
//! checks live in `tests/model/make_key.rs` (included by path).

use crate::make_key::{IDS, Input, Op, Which, replay};
use proptest::prelude::*;

fn which() -> impl Strategy<Value = Which> {
    prop_oneof![
        Just(Which::Keyed),
        Just(Which::Tuple),
        Just(Which::Fallible)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    prop_oneof![
        8 => (which(), id.clone(), 0..3u8, prop::bool::weighted(0.2))
            .prop_map(|(which, id, b, fail)| Op::Call { which, id, b, fail }),
        1 => (which(), prop::collection::vec((id.clone(), 0..3u8), 0..8))
            .prop_map(|(which, calls)| Op::Batch { which, calls }),
        1 => (which(), id, 0..3u8, any::<bool>()).prop_map(|(which, id, b, by_key)| Op::ClearKey { which, id, b, by_key }),
        1 => which().prop_map(|which| Op::Clear { which }),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    (
        any::<u8>(),
        any::<u8>(),
        0..3u8,
        prop::collection::vec(op(), 0..if cfg!(miri) { 24 } else { 200 }),
    )
        .prop_map(|(limit, mask, yields, ops)| Input {
            limit,
            mask,
            yields,
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
    fn keys_match_the_model(input in input()) {
        replay(&input);
    }
}

/// Every key hashing alike (mask 0): the store tells them apart by `Eq` alone.
#[test]
fn all_hashes_equal() {
    let mut ops = Vec::new();
    for round in 0..3 {
        for id in 0..IDS {
            for which in [Which::Keyed, Which::Tuple, Which::Fallible] {
                ops.push(Op::Call {
                    which,
                    id: id.wrapping_mul(7).wrapping_add(round),
                    b: id % 3,
                    fail: id % 5 == 0,
                });
            }
        }
    }
    replay(&Input {
        limit: 4,
        mask: 0,
        yields: 1,
        ops,
    });
}
