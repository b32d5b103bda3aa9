//! What every model test shares: the schedules to try, and the schedulers.

use std::sync::Arc;

/// Schedules tried per test, by each of the two schedulers:
/// `HAIWAY_SHUTTLE_ITERATIONS`, or 20,000 (about a second a test).
fn iterations() -> usize {
    std::env::var("HAIWAY_SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

/// Runs `test` under random schedules, then under PCT schedules (depth 3).
///
/// # Panics
///
/// Built without `--cfg shuttle`: haiway then locks with std's primitives, which
/// shuttle cannot schedule, and the test would check nothing.
pub fn check(test: impl Fn() + Send + Sync + 'static) {
    if !cfg!(shuttle) {
        panic!(
            "built without `--cfg shuttle`, haiway uses std's locks and shuttle schedules \
             nothing: run `RUSTFLAGS=\"--cfg shuttle\" CARGO_TARGET_DIR=target/shuttle \
             cargo test --release -p haiway-shuttle`"
        );
    }
    let test = Arc::new(test);
    let t = test.clone();
    shuttle::check_random(move || t(), iterations());
    shuttle::check_pct(move || test(), iterations(), 3);
}
