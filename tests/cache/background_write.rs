//! Where a backend write goes (issue 20): to the nearest background owner when a scope
//! up the tree is marked `Scope::background`, so a request that ends or is dropped
//! (a client that disconnects) neither waits for it nor cancels it, and the write
//! keeps the request's trace id for its events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::common::Gate;
use futures_lite::future::{block_on, poll_once};
use haiway::cache::{Backend, BoxError, Cached};
use haiway::{Ctx, MemoryRecorder, Scope};

/// A map whose writes wait at a gate, and fail after it (to be recorded).
#[derive(Clone, Default)]
struct Gated {
    map: Arc<Mutex<HashMap<u32, u32>>>,
    gate: Gate,
    fail: bool,
}

impl Backend<u32, u32> for Gated {
    async fn read(&self, key: &u32) -> Result<Option<u32>, BoxError> {
        Ok(self.map.lock().unwrap().get(key).copied())
    }

    async fn write(&self, key: u32, value: u32) -> Result<(), BoxError> {
        self.gate.wait().await;
        if self.fail {
            return Err("the store is down".into());
        }
        self.map.lock().unwrap().insert(key, value);
        Ok(())
    }
}

fn doubled(backend: Gated) -> Cached<u32, u32> {
    Cached::builder()
        .backend(backend)
        .build(|n: u32| async move { n * 2 })
}

#[test]
fn under_a_background_owner_a_dropped_request_does_not_lose_the_write() {
    let backend = Gated::default();
    let cached = doubled(backend.clone());
    block_on(Scope::new("app").background().run(async {
        let c = cached.clone();
        let request = Scope::new("request").run(async move {
            let value = c.call(21).await;
            // The client is gone before the response: the scope is never finished.
            std::future::pending::<()>().await;
            value
        });
        let mut request = Box::pin(request);
        assert!(poll_once(&mut request).await.is_none());
        drop(request);
        backend.gate.open();
        // The app scope ends once the write has landed.
    }));
    assert_eq!(backend.map.lock().unwrap().get(&21), Some(&42));
}

#[test]
fn under_a_background_owner_the_request_does_not_wait_for_the_write() {
    let backend = Gated::default();
    let cached = doubled(backend.clone());
    block_on(Scope::new("app").background().run(async {
        let c = cached.clone();
        let request = Scope::new("request").run(async move { c.call(1).await });
        // Finished while the write still waits at the gate.
        let mut request = Box::pin(request);
        assert_eq!(poll_once(&mut request).await, Some(2));
        assert!(backend.map.lock().unwrap().is_empty());
        backend.gate.open();
    }));
    assert_eq!(backend.map.lock().unwrap().get(&1), Some(&2));
}

#[test]
fn without_an_owner_the_request_scope_still_waits_for_its_write() {
    let backend = Gated::default();
    let cached = doubled(backend.clone());
    block_on(async {
        let c = cached.clone();
        let request = Scope::new("request").run(async move { c.call(1).await });
        let mut request = Box::pin(request);
        assert_eq!(
            poll_once(&mut request).await,
            None,
            "it waits for the write"
        );
        backend.gate.open();
        assert_eq!(request.await, 2);
    });
    assert_eq!(backend.map.lock().unwrap().get(&1), Some(&2));
}

#[test]
fn a_background_write_records_its_failure_under_the_requests_trace_id() {
    let backend = Gated {
        fail: true,
        ..Gated::default()
    };
    backend.gate.open();
    let cached = doubled(backend.clone());
    let recorder = MemoryRecorder::new();
    let trace = block_on(Scope::new("app").background().run(async {
        let c = cached.clone();
        Scope::new("request")
            .recorder(recorder.clone())
            .run(async move {
                c.call(1).await;
                Ctx::current().trace_id()
            })
            .await
    }));
    let failed: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.event.name() == "cache.write_failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].scope(), "request");
    assert_eq!(failed[0].trace_id, trace);
}
