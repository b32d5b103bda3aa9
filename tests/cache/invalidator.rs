//! `Backend::set_invalidator`: a backend tells the memory tier that a key changed
//! elsewhere, and only the memory tier forgets it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{Calls, Gate};
use haiway::cache::{Backend, BoxError, Cached, Invalidator};

/// A map shared like a remote store, that keeps the invalidator it is given.
#[derive(Clone, Default)]
struct Remote {
    map: Arc<Mutex<HashMap<String, String>>>,
    invalidator: Arc<Mutex<Option<Invalidator<String>>>>,
    writes: Arc<AtomicUsize>,
    clears: Arc<AtomicUsize>,
}

impl Remote {
    fn invalidator(&self) -> Invalidator<String> {
        self.invalidator
            .lock()
            .unwrap()
            .clone()
            .expect("the cache gave its backend an invalidator")
    }
}

impl Backend<String, String> for Remote {
    async fn read(&self, key: &String) -> Result<Option<String>, BoxError> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }
    async fn write(&self, key: String, value: String) -> Result<(), BoxError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.map.lock().unwrap().insert(key, value);
        Ok(())
    }
    async fn clear(&self, key: Option<&String>) -> Result<(), BoxError> {
        self.clears.fetch_add(1, Ordering::SeqCst);
        match key {
            Some(key) => drop(self.map.lock().unwrap().remove(key)),
            None => self.map.lock().unwrap().clear(),
        }
        Ok(())
    }
    fn set_invalidator(&mut self, invalidator: Invalidator<String>) {
        *self.invalidator.lock().unwrap() = Some(invalidator);
    }
}

#[test]
fn a_backend_without_memory_tier_gets_no_invalidator() {
    let remote = Remote::default();
    let _cached = Cached::builder()
        .backend(remote.clone())
        .build(|s: String| async move { s });
    assert!(remote.invalidator.lock().unwrap().is_none());
}

#[test]
fn an_invalidated_key_is_read_again_from_the_backend() {
    futures_lite::future::block_on(async {
        let remote = Remote::default();
        let calls = Calls::default();
        let c = calls.clone();
        let cached = Cached::builder()
            .limit(10)
            .backend(remote.clone())
            .build(move |s: String| {
                c.hit();
                async move { format!("computed {s}") }
            });
        cached.call("a".into()).await;
        cached.call("b".into()).await;
        // Another process writes a newer value, and says so.
        remote
            .map
            .lock()
            .unwrap()
            .insert("a".into(), "newer".into());
        assert_eq!(
            cached.call("a".into()).await,
            "computed a",
            "still in memory"
        );
        remote.invalidator().invalidate(&"a".to_owned());
        assert_eq!(cached.get("a"), None);
        assert_eq!(
            cached.get("b").as_deref(),
            Some("computed b"),
            "others stay"
        );
        assert_eq!(cached.call("a".into()).await, "newer");
        assert_eq!(calls.get(), 2);
        assert_eq!(
            remote.clears.load(Ordering::SeqCst),
            0,
            "the backend is not cleared"
        );
        remote.invalidator().invalidate_all();
        assert_eq!(cached.stats().len, 0);
    });
}

#[test]
fn a_keyed_cache_is_invalidated_by_its_key() {
    futures_lite::future::block_on(async {
        let remote = Remote::default();
        let cached = Cached::builder()
            .limit(10)
            .make_key(|(id, _trace): &(u32, &'static str)| id.to_string())
            .backend(remote.clone())
            .build(|(id, trace): (u32, &'static str)| async move { format!("{id} {trace}") });
        assert_eq!(cached.call((1, "x")).await, "1 x");
        assert_eq!(cached.get(&(1, "y")).as_deref(), Some("1 x"));
        remote.invalidator().invalidate(&"1".to_owned());
        assert_eq!(cached.get(&(1, "y")), None);
    });
}

/// A computation running when its key is invalidated returns its value to its callers,
/// but stores it nowhere: the backend's value (the one another process wrote) stays.
#[test]
fn a_running_computation_is_not_stored() {
    futures_lite::future::block_on(async {
        let remote = Remote::default();
        let (started, go) = (Gate::default(), Gate::default());
        let cached = Cached::builder().limit(10).backend(remote.clone()).build({
            let (started, go) = (started.clone(), go.clone());
            move |s: String| {
                let (started, go) = (started.clone(), go.clone());
                async move {
                    started.open();
                    go.wait().await;
                    format!("computed {s}")
                }
            }
        });
        let call = cached.call("a".into());
        let invalidate = async {
            started.wait().await;
            remote.invalidator().invalidate(&"a".to_owned());
            go.open();
        };
        let (value, ()) = futures_lite::future::zip(call, invalidate).await;
        assert_eq!(value, "computed a");
        assert_eq!(
            cached.get("a"),
            None,
            "stored in memory after an invalidation"
        );
        assert_eq!(
            remote.writes.load(Ordering::SeqCst),
            0,
            "written after an invalidation"
        );
        assert_eq!(
            remote.clears.load(Ordering::SeqCst),
            0,
            "the backend was cleared"
        );
    });
}

#[test]
fn an_invalidator_outliving_its_cache_does_nothing() {
    let remote = Remote::default();
    let cached = Cached::builder()
        .limit(10)
        .backend(remote.clone())
        .build(|s: String| async move { s });
    let invalidator = remote.invalidator();
    drop(cached);
    invalidator.invalidate(&"a".to_owned());
    invalidator.invalidate_all();
}
