//! Custom backends with an in-memory fake: reads, background writes, failures,
//! clearing, single-flight and the memory tier.

use crate::common;
use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{Calls, Gate};
use futures::poll;
use haiway::cache::{Backend, BoxError, CacheError, Cached};
use haiway::{MemoryRecorder, Scope, Value};

/// A backend over a shared map that counts what it is asked and can be made to fail
/// or to block writes at a gate.
#[derive(Clone, Default)]
struct Fake {
    map: Arc<Mutex<HashMap<String, String>>>,
    reads: Arc<AtomicUsize>,
    writes: Arc<AtomicUsize>,
    clears: Arc<Mutex<Vec<Option<String>>>>,
    fail_reads: Arc<AtomicBool>,
    fail_writes: Arc<AtomicBool>,
    write_gate: Option<Gate>,
}

#[derive(Debug)]
struct Broken(&'static str);

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "backend broken: {}", self.0)
    }
}

impl std::error::Error for Broken {}

impl Backend<String, String> for Fake {
    async fn read(&self, key: &String) -> Result<Option<String>, BoxError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(Box::new(Broken("read")));
        }
        Ok(self.map.lock().unwrap().get(key).cloned())
    }

    async fn write(&self, key: String, value: String) -> Result<(), BoxError> {
        if let Some(gate) = &self.write_gate {
            gate.wait().await;
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(Box::new(Broken("write")));
        }
        self.map.lock().unwrap().insert(key, value);
        Ok(())
    }

    async fn clear(&self, key: Option<&String>) -> Result<(), BoxError> {
        self.clears.lock().unwrap().push(key.cloned());
        let mut map = self.map.lock().unwrap();
        match key {
            Some(key) => drop(map.remove(key)),
            None => map.clear(),
        }
        Ok(())
    }
}

impl Fake {
    fn stored(&self, key: &str) -> Option<String> {
        self.map.lock().unwrap().get(key).cloned()
    }
}

/// The recorded events named `name`.
fn named(recorder: &MemoryRecorder, name: &str) -> Vec<haiway::RecordedEvent> {
    recorder
        .events()
        .into_iter()
        .filter(|e| e.event.name() == name)
        .collect()
}

/// `resolve_profile` over `backend`, keyed like haiway's example, counting its runs.
fn resolve_profile(backend: Fake) -> (Cached<String, String>, Calls) {
    let calls = Calls::default();
    let c = calls.clone();
    let cached = Cached::builder()
        .make_key(|user_id: &String| format!("profile:{user_id}"))
        .backend(backend)
        .build(move |user_id: String| {
            c.hit();
            async move { format!("profile of {user_id}") }
        });
    (cached, calls)
}

#[test]
fn first_call_computes_and_the_write_lands_by_the_end_of_the_scope() {
    let backend = Fake::default();
    let (cached, calls) = resolve_profile(backend.clone());
    let c = cached.clone();
    let first = futures_lite::future::block_on(
        Scope::new("request").run(async move { c.call("ada".into()).await }),
    );
    assert_eq!(first, "profile of ada");
    // The scope waited for the spawned write.
    assert_eq!(
        backend.stored("profile:ada").as_deref(),
        Some("profile of ada")
    );
    // A second call (a new scope, as another request would be) is served by `read`.
    let c = cached.clone();
    let again = futures_lite::future::block_on(
        Scope::new("request").run(async move { c.call("ada".into()).await }),
    );
    assert_eq!(again, "profile of ada");
    assert_eq!(calls.get(), 1);
    assert_eq!(backend.reads.load(Ordering::SeqCst), 2);
    assert_eq!(backend.writes.load(Ordering::SeqCst), 1);
}

#[test]
fn the_caller_does_not_wait_for_the_write() {
    let gate = Gate::default();
    let backend = Fake {
        write_gate: Some(gate.clone()),
        ..Fake::default()
    };
    let (cached, _) = resolve_profile(backend.clone());
    let b = backend.clone();
    futures_lite::future::block_on(Scope::new("request").run(async move {
        // The write is blocked at the gate, yet the call returns.
        assert_eq!(cached.call("ada".into()).await, "profile of ada");
        assert_eq!(
            b.writes.load(Ordering::SeqCst),
            0,
            "the write has not run yet"
        );
        gate.open();
    }));
    // ...and the scope did not end before the write landed.
    assert_eq!(backend.writes.load(Ordering::SeqCst), 1);
    assert!(backend.stored("profile:ada").is_some());
}

#[test]
fn outside_a_scope_the_write_is_awaited() {
    let gate = Gate::default();
    let backend = Fake {
        write_gate: Some(gate.clone()),
        ..Fake::default()
    };
    let (cached, calls) = resolve_profile(backend.clone());
    futures_lite::future::block_on(async {
        let mut call = pin!(cached.call("ada".into()));
        for _ in 0..10 {
            assert!(
                poll!(call.as_mut()).is_pending(),
                "returned before the write"
            );
        }
        assert_eq!(
            calls.get(),
            1,
            "the value was computed; only the write is pending"
        );
        gate.open();
        assert_eq!(call.await, "profile of ada");
    });
    assert_eq!(
        backend.stored("profile:ada").as_deref(),
        Some("profile of ada")
    );
}

#[test]
fn a_failing_read_falls_back_to_the_function_and_is_recorded() {
    let backend = Fake::default();
    backend.fail_reads.store(true, Ordering::SeqCst);
    let (cached, calls) = resolve_profile(backend.clone());
    let recorder = MemoryRecorder::new();
    let value = futures_lite::future::block_on(
        Scope::new("request")
            .recorder(recorder.clone())
            .run(async move { cached.call("ada".into()).await }),
    );
    assert_eq!(value, "profile of ada");
    assert_eq!(calls.get(), 1);
    let failed = named(&recorder, "cache.read_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].event.attribute("error"),
        Some(&Value::from("backend broken: read"))
    );
}

#[test]
fn a_failing_write_is_recorded_and_the_call_still_returns() {
    let backend = Fake::default();
    backend.fail_writes.store(true, Ordering::SeqCst);
    let (cached, _) = resolve_profile(backend.clone());
    let recorder = MemoryRecorder::new();
    let value = futures_lite::future::block_on(
        Scope::new("request")
            .recorder(recorder.clone())
            .run(async move { cached.call("ada".into()).await }),
    );
    assert_eq!(value, "profile of ada");
    let failed = named(&recorder, "cache.write_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].event.level(), haiway::Level::Warning);
    assert_eq!(
        failed[0].event.attribute("error"),
        Some(&Value::from("backend broken: write"))
    );
}

#[test]
fn clearing_passes_none_or_the_key() {
    let backend = Fake::default();
    let (cached, _) = resolve_profile(backend.clone());
    futures_lite::future::block_on(async {
        cached.call("ada".into()).await;
        cached.call("alan".into()).await;
        cached.clear_call_cache("ada").await.unwrap();
        assert!(backend.stored("profile:ada").is_none());
        assert!(backend.stored("profile:alan").is_some());
        cached.clear_cache().await.unwrap();
    });
    assert_eq!(
        *backend.clears.lock().unwrap(),
        [Some("profile:ada".to_owned()), None]
    );
    assert!(backend.map.lock().unwrap().is_empty());
}

#[test]
fn without_clear_clearing_is_a_clear_error() {
    // Closure form without `.clear(..)`.
    let cached = Cached::builder()
        .read(|_key: u32| async { Ok(None) })
        .write(|_key: u32, _value: u32| async { Ok(()) })
        .build(|x: u32| async move { x });
    // Trait form relying on the default `clear`.
    struct ReadOnly;
    impl Backend<u32, u32> for ReadOnly {
        async fn read(&self, _key: &u32) -> Result<Option<u32>, BoxError> {
            Ok(None)
        }
        async fn write(&self, _key: u32, _value: u32) -> Result<(), BoxError> {
            Ok(())
        }
    }
    let by_trait = Cached::builder()
        .backend(ReadOnly)
        .build(|x: u32| async move { x });
    futures_lite::future::block_on(async {
        for err in [
            cached.clear_cache().await.unwrap_err(),
            cached.clear_call_cache(&1).await.unwrap_err(),
            by_trait.clear_cache().await.unwrap_err(),
        ] {
            assert!(matches!(err, CacheError::Unsupported), "{err}");
            assert!(err.to_string().contains("not supported"), "{err}");
        }
    });
}

#[test]
fn concurrent_misses_run_the_function_once_and_write_once() {
    let gate = Gate::default();
    let backend = Fake::default();
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let cached = Cached::builder()
        .make_key(|id: &u32| format!("item:{id}"))
        .backend(backend.clone())
        .build(move |id: u32| {
            c.hit();
            let g = g.clone();
            async move {
                g.wait().await;
                format!("item {id}")
            }
        });
    let values = futures_lite::future::block_on(Scope::new("burst").run(async {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let cached = cached.clone();
                haiway::ctx::spawn(async move { cached.call(5).await })
            })
            .collect();
        // 19 callers wait on the leader (each counted as a miss); the leader's own hit
        // or miss is counted once its backend read is done, after the gate.
        common::yield_until(|| cached.stats().misses >= 19).await;
        gate.open();
        futures::future::join_all(tasks).await
    }));
    assert!(values.iter().all(|v| v == "item 5"));
    assert_eq!(calls.get(), 1);
    let stats = cached.stats();
    assert_eq!((stats.misses, stats.coalesced, stats.runs), (20, 19, 1));
    assert_eq!(backend.reads.load(Ordering::SeqCst), 1);
    assert_eq!(backend.writes.load(Ordering::SeqCst), 1);
}

#[test]
fn the_memory_tier_answers_before_the_backend() {
    let backend = Fake::default();
    backend
        .map
        .lock()
        .unwrap()
        .insert("profile:grace".into(), "from the backend".into());
    let calls = Calls::default();
    let c = calls.clone();
    let cached = Cached::builder()
        .limit(10)
        .make_key(|user_id: &String| format!("profile:{user_id}"))
        .backend(backend.clone())
        .build(move |user_id: String| {
            c.hit();
            async move { format!("profile of {user_id}") }
        });
    futures_lite::future::block_on(async {
        // A backend hit fills the memory tier...
        assert_eq!(cached.call("grace".into()).await, "from the backend");
        assert_eq!(cached.call("grace".into()).await, "from the backend");
        assert_eq!(
            backend.reads.load(Ordering::SeqCst),
            1,
            "second call served from memory"
        );
        // ...and so does a computed value.
        cached.call("ada".into()).await;
        cached.call("ada".into()).await;
        assert_eq!(backend.reads.load(Ordering::SeqCst), 2);
        assert_eq!(calls.get(), 1);
        // Clearing clears both tiers.
        cached.clear_cache().await.unwrap();
        assert_eq!(cached.stats().len, 0);
        assert!(backend.map.lock().unwrap().is_empty());
    });
}

#[test]
fn a_value_computed_before_a_clear_is_not_written_after_it() {
    let gate = Gate::default();
    let backend = Fake::default();
    let g = gate.clone();
    let cached = Cached::builder()
        .make_key(|user_id: &String| format!("profile:{user_id}"))
        .backend(backend.clone())
        .build(move |user_id: String| {
            let g = g.clone();
            async move {
                g.wait().await;
                format!("profile of {user_id}")
            }
        });
    futures_lite::future::block_on(async {
        let mut running = pin!(cached.call("ada".into()));
        assert!(poll!(running.as_mut()).is_pending()); // read missed; computing
        cached.clear_call_cache("ada").await.unwrap();
        gate.open();
        assert_eq!(running.await, "profile of ada"); // the caller still gets it...
    });
    // ...but the stale value was not written back to the shared store.
    assert_eq!(backend.writes.load(Ordering::SeqCst), 0);
    assert!(backend.stored("profile:ada").is_none());
}

#[test]
fn a_cancelled_lookup_counts_as_a_miss_with_a_backend_as_without() {
    let forever = |user_id: String| async move {
        std::future::pending::<()>().await;
        user_id
    };
    let memory = Cached::builder().limit(4).build(forever);
    let backed = Cached::builder()
        .limit(4)
        .backend(Fake::default())
        .build(forever);
    futures_lite::future::block_on(async {
        let mut a = Box::pin(memory.call("ada".into()));
        assert!(poll!(a.as_mut()).is_pending());
        let mut b = Box::pin(backed.call("ada".into()));
        assert!(poll!(b.as_mut()).is_pending()); // read missed; the function runs
    }); // both calls are dropped here, cancelled
    let (m, b) = (memory.stats(), backed.stats());
    assert_eq!((m.hits, m.misses), (0, 1));
    assert_eq!(
        (b.hits, b.misses),
        (0, 1),
        "the cancelled lookup was not counted"
    );
}

/// Backend closures written the obvious way: `Ok(..)` unannotated, `?` on any error.
mod obvious_closures {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use haiway::cache::Cached;

    #[test]
    fn unannotated_ok_and_question_mark_compile_and_work() {
        let store: Arc<Mutex<HashMap<u32, String>>> = Arc::default();
        let (r, w, c) = (store.clone(), store.clone(), store.clone());
        let cached = Cached::builder()
            .read(move |key: u32| {
                let value = r.lock().unwrap().get(&key).cloned();
                async move {
                    let _parsed: u32 = "7".parse()?; // a `ParseIntError`, converted
                    Ok(value)
                }
            })
            .write(move |key: u32, value: String| {
                w.lock().unwrap().insert(key, value);
                async { Ok(()) }
            })
            .clear(move |key: Option<u32>| {
                match key {
                    Some(key) => drop(c.lock().unwrap().remove(&key)),
                    None => c.lock().unwrap().clear(),
                }
                async { Ok(()) }
            })
            .build(|id: u32| async move { format!("item {id}") });
        futures_lite::future::block_on(async {
            assert_eq!(cached.call(1).await, "item 1");
            assert_eq!(store.lock().unwrap()[&1], "item 1");
            cached.clear_call_cache(&1).await.unwrap();
        });
        assert!(store.lock().unwrap().is_empty());
    }

    #[test]
    fn a_failing_read_closure_falls_back_to_the_function() {
        let cached = Cached::builder()
            .read(|_key: u32| async { Err("store down".into()) })
            .write(|_key: u32, _value: u32| async { Ok(()) })
            .build(|x: u32| async move { x + 1 });
        assert_eq!(futures_lite::future::block_on(cached.call(1)), 2);
    }
}

/// `insert` writes to the backend like a computed value; `get` reads only memory.
mod insert_with_a_backend {
    use haiway::Scope;
    use haiway::cache::Cached;

    use super::Fake;

    #[test]
    fn an_insert_outside_a_scope_is_written_before_it_returns() {
        let backend = Fake::default();
        let (cached, calls) = super::resolve_profile(backend.clone());
        futures_lite::future::block_on(cached.insert("ada".to_owned(), "primed".to_owned()));
        assert_eq!(backend.stored("profile:ada").as_deref(), Some("primed"));
        // No memory tier: `get` has nothing; a call reads the backend.
        assert_eq!(cached.get("ada"), None);
        assert_eq!(
            futures_lite::future::block_on(cached.call("ada".to_owned())),
            "primed"
        );
        assert_eq!(calls.get(), 0);
    }

    #[test]
    fn an_insert_in_a_scope_is_written_in_the_background_by_the_scope_end() {
        let gate = super::Gate::default();
        let backend = Fake {
            write_gate: Some(gate.clone()),
            ..Fake::default()
        };
        let cached = Cached::builder()
            .limit(4)
            .make_key(|user: &String| format!("profile:{user}"))
            .backend(backend.clone())
            .build(|user: String| async move { format!("profile of {user}") });
        let (b, c) = (backend.clone(), cached.clone());
        futures_lite::future::block_on(Scope::new("request").run(async move {
            c.insert("ada".to_owned(), "primed".to_owned()).await;
            // Returned before its write, which waits at the gate.
            assert_eq!(b.stored("profile:ada"), None);
            assert_eq!(c.get("ada").as_deref(), Some("primed"));
            gate.open();
        }));
        assert_eq!(backend.stored("profile:ada").as_deref(), Some("primed"));
    }
}
