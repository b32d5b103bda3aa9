//! `#[haiway::cache]`: every argument, recursion through the static, single-flight
//! across threads, the try form and `store_errors`. Each test has functions of its
//! own: a cached function's handle is one `static`, shared by the whole binary.
//! The compile errors are in `tests/ui/`, checked by `compile_errors` (trybuild).
#![cfg(feature = "macros")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use crate::common::{Gate, wait_until};
use futures_lite::future::block_on;
use haiway::cache::{Backend, BoxError, CacheError, Cached, ManualClock, TryCached};

/// How many times each body ran, by function.
fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

mod call_sites_and_clearing {
    use super::*;

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[haiway::cache(limit = 10)]
    async fn greet(name: String) -> String {
        RUNS.fetch_add(1, Ordering::SeqCst);
        format!("hello, {name}")
    }

    #[test]
    fn the_body_runs_on_a_miss_and_clears_reach_the_handle() {
        block_on(async {
            assert_eq!(greet("ada".to_owned()).await, "hello, ada");
            assert_eq!(greet("ada".to_owned()).await, "hello, ada");
            assert_eq!(runs(&RUNS), 1, "the second call is a hit");
            let handle: &'static Cached<String, String> = greet::cached();
            assert_eq!(handle.stats().hits, 1);
            assert_eq!(handle.name(), "greet", "named after the function");

            greet("grace".to_owned()).await;
            greet::clear_call_cache(&"ada".to_owned()).await.unwrap();
            assert_eq!(handle.stats().len, 1, "only ada's value went");
            greet("ada".to_owned()).await;
            assert_eq!(runs(&RUNS), 3, "ada ran again after its clear");

            greet::clear_cache().await.unwrap();
            assert_eq!(handle.stats().len, 0);
            greet("grace".to_owned()).await;
            assert_eq!(runs(&RUNS), 4);
        });
    }
}

mod arguments {
    use super::*;

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    /// Several arguments, a `mut` one and a `_` one: keyed together as a tuple.
    #[haiway::cache(limit = 10)]
    async fn label(mut id: u32, prefix: String, _: bool) -> String {
        RUNS.fetch_add(1, Ordering::SeqCst);
        id += 1;
        format!("{prefix}{id}")
    }

    #[haiway::cache]
    async fn answer() -> u32 {
        RUNS.fetch_add(100, Ordering::SeqCst);
        42
    }

    #[test]
    fn several_arguments_are_one_key_and_are_cleared_by_reference() {
        block_on(async {
            assert_eq!(label(1, "#".into(), true).await, "#2");
            assert_eq!(label(1, "#".into(), true).await, "#2");
            assert_eq!(label(1, "#".into(), false).await, "#2");
            assert_eq!(label(1, "@".into(), true).await, "@2");
            assert_eq!(runs(&RUNS), 3, "every argument is part of the key");
            let _: &Cached<(u32, String, bool), String> = label::cached();
            label::clear_call_cache(&1, &"#".to_owned(), &true)
                .await
                .unwrap();
            assert_eq!(label::cached().stats().len, 2);

            assert_eq!(answer().await, 42);
            assert_eq!(answer().await, 42);
            assert_eq!(runs(&RUNS), 103, "no arguments: one key, `()`");
            answer::clear_call_cache().await.unwrap();
            assert_eq!(answer::cached().stats().len, 0);
        });
    }

    #[test]
    fn a_function_declared_in_a_body_sees_its_items() {
        #[derive(Clone, Debug, PartialEq)]
        struct Local(u32);
        const STEP: u32 = 3;

        #[haiway::cache(limit = STEP as usize, name = format!("local{STEP}"))]
        async fn local(x: u32) -> Local {
            Local(x * STEP)
        }

        block_on(async {
            assert_eq!(local(2).await, Local(6));
            assert_eq!(local::cached().name(), "local3");
        });
    }
}

mod visibility {
    pub(crate) mod inner {
        #[haiway::cache]
        pub(crate) async fn double(x: u64) -> u64 {
            x * 2
        }
    }

    #[test]
    fn the_cache_is_as_visible_as_the_function() {
        futures_lite::future::block_on(async {
            assert_eq!(inner::double(4).await, 8);
            inner::double::clear_cache().await.unwrap();
            assert_eq!(inner::double::cached().stats().misses, 1);
        });
    }
}

mod limit_and_unbounded {
    use super::*;

    #[haiway::cache]
    async fn default_limit(x: u32) -> u32 {
        x
    }

    #[haiway::cache(limit = 2)]
    async fn two(x: u32) -> u32 {
        x
    }

    static FIB_RUNS: AtomicUsize = AtomicUsize::new(0);

    #[haiway::cache(unbounded)]
    async fn fib(n: u64) -> u64 {
        FIB_RUNS.fetch_add(1, Ordering::SeqCst);
        if n < 2 {
            n
        } else {
            fib(n - 1).await + fib(n - 2).await
        }
    }

    #[test]
    fn the_default_limit_is_one_and_limit_sets_it() {
        block_on(async {
            for x in 0..3 {
                default_limit(x).await;
                two(x).await;
            }
            assert_eq!(default_limit::cached().stats().len, 1);
            assert_eq!(default_limit::cached().stats().evictions, 2);
            assert_eq!(two::cached().stats().len, 2);
            assert_eq!(two::cached().stats().evictions, 1);
        });
    }

    #[test]
    fn recursion_goes_through_the_static_and_unbounded_keeps_everything() {
        block_on(async {
            assert_eq!(fib(90).await, 2_880_067_194_370_816_120);
            assert_eq!(runs(&FIB_RUNS), 91, "the body ran once per n");
            assert_eq!(fib::cached().stats().len, 91);
        });
    }
}

mod expiration_clock_shards {
    use super::*;

    static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[haiway::cache(limit = 4, expiration = Duration::from_secs(60), clock = CLOCK.clone())]
    async fn expiring(x: u32) -> u32 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x
    }

    #[haiway::cache(limit = 16, shards = 16, name = "sharded")]
    async fn sharded(x: u64) -> u64 {
        x / 2
    }

    #[test]
    fn expiration_is_measured_on_the_clock() {
        block_on(async {
            expiring(1).await;
            CLOCK.advance(Duration::from_secs(59));
            expiring(1).await;
            assert_eq!(runs(&RUNS), 1, "still fresh");
            CLOCK.advance(Duration::from_secs(1));
            expiring(1).await;
            assert_eq!(runs(&RUNS), 2, "expired after 60 s on the manual clock");
        });
    }

    #[test]
    fn shards_and_name_reach_the_builder() {
        block_on(async {
            // 16 values fit one store of 16. Split in 16 shards of one value each,
            // 16 keys spread at random (splitmix64, not consecutive integers, which a
            // hash may spread evenly) all but certainly share a shard somewhere
            // (1 - 16!/16^16), and one is evicted.
            let mut state = 0x5EED_u64;
            for _ in 0..16 {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let key = z ^ (z >> 31);
                assert_eq!(sharded(key).await, key / 2);
            }
            let stats = sharded::cached().stats();
            assert_eq!(sharded::cached().name(), "sharded");
            assert!(stats.evictions > 0, "{stats}");
        });
    }
}

mod make_key_and_backend {
    use super::*;

    /// A backend over a shared map, counting its reads.
    #[derive(Clone, Default)]
    struct MapBackend {
        map: Arc<Mutex<HashMap<String, String>>>,
        reads: Arc<AtomicUsize>,
    }

    impl Backend<String, String> for MapBackend {
        async fn read(&self, key: &String) -> Result<Option<String>, BoxError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.map.lock().unwrap().get(key).cloned())
        }
        async fn write(&self, key: String, value: String) -> Result<(), BoxError> {
            self.map.lock().unwrap().insert(key, value);
            Ok(())
        }
        async fn clear(&self, key: Option<&String>) -> Result<(), BoxError> {
            let mut map = self.map.lock().unwrap();
            match key {
                Some(key) => drop(map.remove(key)),
                None => map.clear(),
            }
            Ok(())
        }
    }

    static STORE: LazyLock<MapBackend> = LazyLock::new(MapBackend::default);
    static BUILT: AtomicUsize = AtomicUsize::new(0);
    static RUNS: AtomicUsize = AtomicUsize::new(0);

    /// Keyed by the user only; the backend expression is evaluated once.
    #[haiway::cache(
        make_key = |(user, _trace): &(u64, String)| format!("profile:{user}"),
        backend = { BUILT.fetch_add(1, Ordering::SeqCst); STORE.clone() },
    )]
    async fn profile(user: u64, trace: String) -> String {
        RUNS.fetch_add(1, Ordering::SeqCst);
        format!("user {user} ({trace})")
    }

    fn key_of(args: &u64) -> u64 {
        args / 10
    }

    #[haiway::cache(limit = 10, make_key = key_of)]
    async fn decade(x: u64) -> u64 {
        x / 10 * 10
    }

    #[test]
    fn make_key_and_backend_reach_the_builder() {
        block_on(async {
            assert_eq!(profile(1, "a".into()).await, "user 1 (a)");
            // Another trace, the same key: read from the backend (no memory tier).
            assert_eq!(profile(1, "b".into()).await, "user 1 (a)");
            assert_eq!(runs(&RUNS), 1);
            assert_eq!(runs(&STORE.reads), 2);
            assert_eq!(STORE.map.lock().unwrap()["profile:1"], "user 1 (a)");
            profile::clear_call_cache(&1, &"z".to_owned())
                .await
                .unwrap();
            assert!(STORE.map.lock().unwrap().is_empty(), "cleared by its key");
            profile::cached()
                .clear_key(&"profile:2".to_owned())
                .await
                .unwrap();
            assert_eq!(runs(&BUILT), 1, "the backend expression ran once");

            decade(11).await;
            decade(19).await;
            assert_eq!(decade::cached().stats().hits, 1, "a path as make_key");
        });
    }
}

mod async_backend {
    use super::*;

    static CONNECTS: AtomicUsize = AtomicUsize::new(0);
    static GATE: LazyLock<Gate> = LazyLock::new(Gate::default);

    /// Stands for connecting to a server: waits at the gate.
    async fn connect() -> MapStore {
        CONNECTS.fetch_add(1, Ordering::SeqCst);
        GATE.wait().await;
        MapStore::default()
    }

    #[derive(Clone, Default)]
    struct MapStore(Arc<Mutex<HashMap<u32, u32>>>);

    impl Backend<u32, u32> for MapStore {
        async fn read(&self, key: &u32) -> Result<Option<u32>, BoxError> {
            Ok(self.0.lock().unwrap().get(key).copied())
        }
        async fn write(&self, key: u32, value: u32) -> Result<(), BoxError> {
            self.0.lock().unwrap().insert(key, value);
            Ok(())
        }
    }

    #[haiway::cache(limit = 8, backend = async { connect().await })]
    async fn square(x: u32) -> u32 {
        x * x
    }

    #[test]
    fn an_async_backend_is_awaited_once_by_the_first_caller() {
        // Three calls at once while the backend connects: one connection.
        let calls: Vec<_> = (0..3)
            .map(|x| std::thread::spawn(move || block_on(square(x))))
            .collect();
        wait_until(|| runs(&CONNECTS) == 1);
        GATE.open();
        let squares: Vec<_> = calls.into_iter().map(|c| c.join().unwrap()).collect();
        assert_eq!(squares, [0, 1, 4]);
        block_on(async {
            let handle: &Cached<u32, u32> = square::cached().await;
            assert_eq!(handle.stats().len, 3, "the memory tier in front");
            // Clearing without `clear` in the backend is an error, not a silent no-op.
            assert!(matches!(
                square::clear_cache().await,
                Err(CacheError::Unsupported)
            ));
        });
        assert_eq!(runs(&CONNECTS), 1);
    }
}

mod threads {
    use super::*;

    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static GATE: LazyLock<Gate> = LazyLock::new(Gate::default);

    #[haiway::cache(limit = 4)]
    async fn slow(x: u32) -> (u32, usize) {
        let run = RUNS.fetch_add(1, Ordering::SeqCst) + 1;
        GATE.wait().await;
        (x, run)
    }

    #[test]
    fn four_threads_at_once_run_the_body_once() {
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let calls: Vec<_> = (0..4)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    block_on(slow(7))
                })
            })
            .collect();
        // Every call has missed and joined the one run before the body may finish.
        wait_until(|| slow::cached().stats().misses == 4);
        GATE.open();
        for call in calls {
            assert_eq!(call.join().unwrap(), (7, 1));
        }
        assert_eq!(runs(&RUNS), 1);
    }
}

mod fallible {
    use super::*;

    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static STORED_RUNS: AtomicUsize = AtomicUsize::new(0);
    static IO_RUNS: AtomicUsize = AtomicUsize::new(0);

    #[haiway::cache(limit = 4)]
    async fn parse(s: String) -> Result<u32, String> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        s.parse().map_err(|_| format!("not a number: {s}"))
    }

    #[haiway::cache(limit = 4, store_errors)]
    async fn parse_stored(s: String) -> Result<u32, String> {
        STORED_RUNS.fetch_add(1, Ordering::SeqCst);
        s.parse().map_err(|_| format!("not a number: {s}"))
    }

    mod io {
        /// An alias of one argument, as `std::io::Result`, with an error that clones.
        pub(super) type Result<T> = std::result::Result<T, std::sync::Arc<std::io::Error>>;
    }

    #[haiway::cache(limit = 4)]
    async fn read_len(s: String) -> io::Result<usize> {
        IO_RUNS.fetch_add(1, Ordering::SeqCst);
        if s.is_empty() {
            Err(Arc::new(std::io::ErrorKind::NotFound.into()))
        } else {
            Ok(s.len())
        }
    }

    #[test]
    fn a_result_stores_only_ok_values() {
        block_on(async {
            let _: &TryCached<String, u32, String> = parse::cached();
            assert_eq!(parse("7".into()).await, Ok(7));
            assert_eq!(parse("7".into()).await, Ok(7));
            assert_eq!(runs(&RUNS), 1);
            assert!(parse("x".into()).await.is_err());
            assert!(parse("x".into()).await.is_err());
            assert_eq!(runs(&RUNS), 3, "errors are not stored");
            assert_eq!(parse::cached().get("7"), Some(7));
        });
    }

    #[test]
    fn store_errors_stores_the_whole_result() {
        block_on(async {
            let _: &Cached<String, Result<u32, String>> = parse_stored::cached();
            assert!(parse_stored("x".into()).await.is_err());
            assert!(parse_stored("x".into()).await.is_err());
            assert_eq!(runs(&STORED_RUNS), 1, "the error was stored");
        });
    }

    #[test]
    fn a_result_alias_is_the_try_form_too() {
        block_on(async {
            let _: &TryCached<String, usize, Arc<std::io::Error>> = read_len::cached();
            assert!(read_len(String::new()).await.is_err());
            assert_eq!(read_len("abc".into()).await.unwrap(), 3);
            assert_eq!(read_len("abc".into()).await.unwrap(), 3);
            assert!(read_len(String::new()).await.is_err());
            assert_eq!(runs(&IO_RUNS), 3, "only the Ok value was stored");
        });
    }
}

/// The compile errors, each in `tests/ui/` with the message it gives (`.stderr`),
/// checked with trybuild. Only on stable: rustc's messages change between channels.
/// Rewrite the `.stderr` files with `TRYBUILD=overwrite`.
mod compile_errors {
    use std::process::Command;

    /// Whether `rustc` (the one cargo would run) is a stable release.
    fn stable() -> bool {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let version = Command::new(rustc)
            .arg("--version")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default();
        !version.is_empty()
            && !["nightly", "beta", "dev"]
                .iter()
                .any(|c| version.contains(c))
    }

    #[test]
    #[cfg_attr(miri, ignore = "runs rustc")]
    fn each_gives_its_message() {
        if !stable() {
            eprintln!("skipped: the .stderr files are written for stable rustc");
            return;
        }
        let t = trybuild::TestCases::new();
        t.compile_fail("tests/ui/*.rs");
    }
}
