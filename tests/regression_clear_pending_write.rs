//! Regression: a backend write still in flight when `clear_cache` runs lands after the
//! backend was cleared, and the next call reads the cleared value back.
//! Found by review of the fuzz models; fixed by counting clears in the cache core: a
//! write computed before a clear is skipped, or undone if it landed after the clear.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{Gate, yield_n};
use haiway::Scope;
use haiway::cache::{Backend, BoxError, Cached};

/// A map whose writes land only once `gate` opens (a slow network write).
#[derive(Clone, Default)]
struct SlowWrites {
    map: Arc<Mutex<HashMap<u32, u32>>>,
    gate: Gate,
}

impl Backend<u32, u32> for SlowWrites {
    async fn read(&self, key: &u32) -> Result<Option<u32>, BoxError> {
        Ok(self.map.lock().unwrap().get(key).copied())
    }
    async fn write(&self, key: u32, value: u32) -> Result<(), BoxError> {
        self.gate.wait().await;
        self.map.lock().unwrap().insert(key, value);
        Ok(())
    }
    async fn clear(&self, key: Option<&u32>) -> Result<(), BoxError> {
        let mut map = self.map.lock().unwrap();
        match key {
            Some(key) => drop(map.remove(key)),
            None => map.clear(),
        }
        Ok(())
    }
}

#[test]
fn a_write_in_flight_does_not_survive_clear_cache() {
    let backend = SlowWrites::default();
    let runs = common::Calls::default();
    let counter = runs.clone();
    let cached = Cached::builder()
        .backend(backend.clone())
        .build(move |_key: u32| {
            let run = counter.hit() as u32;
            async move { run }
        });
    let (first, after_clear) = futures_lite::future::block_on(Scope::new("request").run(async {
        // A miss: run 1 is computed and returned; its write is spawned and waits.
        let first = cached.call(7).await;
        // The caller clears the cache after the call returned.
        cached.clear_cache().await.expect("clearable");
        // Now the write lands (as a slow network write would).
        backend.gate.open();
        yield_n(10).await;
        // Everything was cleared, so this must compute again.
        (first, cached.call(7).await)
    }));
    assert_eq!(first, 1);
    assert_eq!(
        after_clear, 2,
        "the value cleared by clear_cache came back from the backend"
    );
}

/// Regression (found in review): the clear count was one for the whole cache, so
/// clearing any key made every write in flight stale; clearing key 8 lost key 7's
/// write (memory held 7, the shared store never got it).
#[test]
fn clearing_one_key_keeps_the_write_of_another_in_flight() {
    let backend = SlowWrites::default();
    let cached = Cached::builder()
        .limit(4)
        .backend(backend.clone())
        .build(|key: u32| async move { key * 10 });
    futures_lite::future::block_on(Scope::new("request").run(async {
        assert_eq!(cached.call(7).await, 70); // its write waits at the gate
        assert_eq!(cached.call(8).await, 80); // so does this one
        cached.clear_call_cache(&8).await.expect("clearable");
        backend.gate.open();
    }));
    // The scope waited for both writes: 7's landed, 8's (cleared) did not.
    let map = backend.map.lock().unwrap();
    assert_eq!(map.get(&7), Some(&70), "the write of 7 was lost");
    assert_eq!(map.get(&8), None, "the cleared 8 came back");
}
