//! Errors and panics reach the caller and are never stored.

use crate::common;
use std::panic::AssertUnwindSafe;

use crate::common::Calls;
use futures::FutureExt;
use haiway::cache::{Cached, try_cache};

#[test]
fn errors_reach_the_caller_and_are_not_stored() {
    let calls = Calls::default();
    let c = calls.clone();
    let f = try_cache(move |x: i32| {
        let n = c.hit();
        async move {
            if n == 1 {
                Err(format!("attempt {n} failed"))
            } else {
                Ok(x * 10)
            }
        }
    });
    futures_lite::future::block_on(async {
        // The function's own error type, not an `Arc` of it.
        let err: String = f.call(4).await.unwrap_err();
        assert_eq!(err, "attempt 1 failed");
        assert_eq!(f.call(4).await, Ok(40)); // recomputed
        assert_eq!(f.call(4).await, Ok(40)); // now stored
    });
    assert_eq!(calls.get(), 2);
    assert_eq!(f.stats().len, 1);
}

#[test]
fn a_panic_reaches_the_caller_and_is_not_stored() {
    let calls = Calls::default();
    let c = calls.clone();
    let f = Cached::builder().limit(4).build(move |x: u32| {
        let n = c.hit();
        async move {
            assert!(n != 1, "first run panics");
            x
        }
    });
    futures_lite::future::block_on(async {
        let payload = AssertUnwindSafe(f.call(7))
            .catch_unwind()
            .await
            .expect_err("the body panicked");
        assert!(common::panic_text(&*payload).contains("first run panics"));
        assert_eq!(f.stats().len, 0);
        assert_eq!(f.call(7).await, 7); // the cache still works
        assert_eq!(f.call(7).await, 7);
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn try_build_stores_only_ok() {
    let f = Cached::builder()
        .limit(8)
        .try_build(|s: &'static str| async move { s.parse::<u8>() });
    futures_lite::future::block_on(async {
        assert!(f.call("x").await.is_err());
        assert_eq!(f.call("5").await.unwrap(), 5);
    });
    assert_eq!(f.stats().len, 1);
}

/// A value whose clones count `countdown` down: the clone that takes it from 1 to 0
/// panics (0: disarmed).
#[derive(Debug)]
struct Fragile {
    n: u32,
    countdown: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        use std::sync::atomic::Ordering;
        let left = self.countdown.load(Ordering::SeqCst);
        if left > 0 {
            self.countdown.store(left - 1, Ordering::SeqCst);
            if left == 1 {
                panic!("clone failed");
            }
        }
        Fragile {
            n: self.n,
            countdown: self.countdown.clone(),
        }
    }
}

/// Polls `future` once with a no-op waker.
fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// A cache (limit 4) whose function waits at the returned gate, then returns a
/// [`Fragile`] counting down the returned countdown.
fn fragile_cache() -> (
    Cached<u32, Fragile>,
    common::Gate,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let gate = common::Gate::default();
    let countdown = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (g, c) = (gate.clone(), countdown.clone());
    let cached = Cached::builder().limit(4).build(move |n: u32| {
        let (g, countdown) = (g.clone(), c.clone());
        async move {
            g.wait().await;
            Fragile { n, countdown }
        }
    });
    (cached, gate, countdown)
}

/// A leader and a waiter on key 1; the gate opens and the leader's `nth` clone of its
/// value panics. The waiter must not be left waiting: it takes over (or finds the
/// stored value) and gets the value.
fn leader_panics_at_its_clone(nth: usize) {
    use std::sync::atomic::Ordering;
    let (cached, gate, countdown) = fragile_cache();
    let mut leader = Box::pin(cached.call(1));
    let mut waiter = Box::pin(cached.call(1));
    assert!(
        poll_once(&mut leader).is_pending(),
        "the leader waits at the gate"
    );
    assert!(
        poll_once(&mut waiter).is_pending(),
        "the waiter waits on the leader"
    );
    gate.open();
    countdown.store(nth, Ordering::SeqCst);
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(&mut leader)));
    let payload = panicked.expect_err("the leader's clone panicked");
    assert_eq!(common::panic_text(&*payload), "clone failed");
    match poll_once(&mut waiter) {
        std::task::Poll::Ready(value) => assert_eq!(value.n, 1),
        std::task::Poll::Pending => panic!("the waiter hangs after the leader panicked"),
    }
}

#[test]
fn a_panic_while_the_leader_stores_its_value_hands_over_to_the_waiters() {
    // The first clone is the one the store keeps.
    leader_panics_at_its_clone(1);
}

#[test]
fn a_panic_while_the_leader_clones_its_value_for_the_waiters_still_settles_them() {
    // The second clone is the waiters' share.
    leader_panics_at_its_clone(2);
}

#[test]
fn waiters_are_not_woken_under_the_cache_lock_when_the_leader_panics() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};
    /// A waker that checks, when woken, whether the cache's lock is free: another
    /// thread asks for `stats()` and must answer within 5 s.
    struct Probe {
        cache: Cached<u32, Fragile>,
        under_lock: AtomicBool,
    }
    impl std::task::Wake for Probe {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            let (tx, rx) = mpsc::channel();
            let cache = self.cache.clone();
            std::thread::spawn(move || {
                cache.stats();
                let _ = tx.send(());
            });
            if rx.recv_timeout(std::time::Duration::from_secs(5)).is_err() {
                self.under_lock.store(true, Ordering::SeqCst);
            }
        }
    }
    let (cached, gate, countdown) = fragile_cache();
    let probe = Arc::new(Probe {
        cache: cached.clone(),
        under_lock: AtomicBool::new(false),
    });
    let waker = std::task::Waker::from(probe.clone());
    let mut leader = Box::pin(cached.call(1));
    let mut waiter = Box::pin(cached.call(1));
    assert!(poll_once(&mut leader).is_pending());
    // The waiter waits with the probe as its waker (registered at the second poll).
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    gate.open();
    countdown.store(1, Ordering::SeqCst); // the store's clone panics, under the lock
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(&mut leader)));
    assert!(panicked.is_err());
    assert!(
        !probe.under_lock.load(Ordering::SeqCst),
        "a waiter was woken while the cache's lock was held"
    );
}

/// A value whose drop panics once [`BOMB_ARMED`] is set.
#[derive(Debug)]
struct BombValue(u32);

static BOMB_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Clone for BombValue {
    fn clone(&self) -> Self {
        BombValue(self.0)
    }
}

impl Drop for BombValue {
    fn drop(&mut self) {
        if BOMB_ARMED.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("drop failed");
        }
    }
}

#[test]
fn a_panic_dropping_an_expired_value_does_not_leave_its_key_stuck() {
    use std::time::Duration;
    let clock = haiway::cache::ManualClock::new();
    let cached = Cached::builder()
        .limit(4)
        .expiration(Duration::from_secs(1))
        .clock(clock.clone())
        .build(|n: u32| async move { BombValue(n) });
    futures_lite::future::block_on(cached.call(1));
    clock.advance(Duration::from_secs(2));
    BOMB_ARMED.store(true, std::sync::atomic::Ordering::SeqCst);
    // The expired value is dropped by this call, and its drop panics.
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        futures_lite::future::block_on(cached.call(1))
    }));
    assert_eq!(common::panic_text(&*panicked.unwrap_err()), "drop failed");
    let mut next = Box::pin(cached.call(1));
    match poll_once(&mut next) {
        std::task::Poll::Ready(value) => assert_eq!(value.0, 1),
        std::task::Poll::Pending => panic!("the next call waits on a flight nobody leads"),
    }
}

#[test]
fn a_recorder_panicking_on_cache_miss_does_not_leave_the_key_stuck() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let cached = Cached::builder().limit(4).build(|n: u32| async move { n });
    let armed = std::sync::Arc::new(AtomicBool::new(true));
    let recorder = move |_: &haiway::ScopeInfo, event: &haiway::Event| {
        if event.name() == "cache.miss" && armed.swap(false, Ordering::SeqCst) {
            panic!("recorder failed");
        }
    };
    let out =
        futures_lite::future::block_on(haiway::Scope::new("s").recorder(recorder).run(async {
            let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                poll_once(&mut Box::pin(cached.call(1)))
            }));
            assert_eq!(
                common::panic_text(&*panicked.unwrap_err()),
                "recorder failed"
            );
            poll_once(&mut Box::pin(cached.call(1)))
        }));
    assert!(
        matches!(out, std::task::Poll::Ready(1)),
        "the next call waits on a flight nobody leads"
    );
}

/// A clock whose `countdown`-th reading from now panics (0: never).
struct CountdownClock {
    countdown: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    start: std::time::Instant,
}

impl haiway::cache::Clock for CountdownClock {
    fn now(&self) -> std::time::Instant {
        use std::sync::atomic::Ordering;
        let left = self.countdown.load(Ordering::SeqCst);
        if left > 0 {
            self.countdown.store(left - 1, Ordering::SeqCst);
            if left == 1 {
                panic!("clock failed");
            }
        }
        self.start
    }
}

/// A [`CountdownClock`], and its countdown (0: it never panics).
fn countdown_clock() -> (
    CountdownClock,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let countdown = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clock = CountdownClock {
        countdown: countdown.clone(),
        start: std::time::Instant::now(),
    };
    (clock, countdown)
}

#[test]
fn a_panic_before_the_leader_stores_its_value_frees_the_key() {
    use std::sync::atomic::Ordering;
    let gate = common::Gate::default();
    let (clock, countdown) = countdown_clock();
    let g = gate.clone();
    let cached = Cached::builder()
        .limit(4)
        .expiration(std::time::Duration::from_secs(60))
        .clock(clock)
        .build(move |n: u32| {
            let g = g.clone();
            async move {
                g.wait().await;
                n * 10
            }
        });
    let mut leader = Box::pin(cached.call(1));
    let mut waiter = Box::pin(cached.call(1));
    assert!(poll_once(&mut leader).is_pending());
    assert!(poll_once(&mut waiter).is_pending());
    gate.open();
    // The leader reads the clock to stamp its value's expiry: that reading panics.
    countdown.store(1, Ordering::SeqCst);
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(&mut leader)));
    assert_eq!(common::panic_text(&*panicked.unwrap_err()), "clock failed");
    match poll_once(&mut waiter) {
        std::task::Poll::Ready(value) => assert_eq!(value, 10),
        std::task::Poll::Pending => panic!("the waiter hangs after the leader panicked"),
    }
    // And the key is free: a new call computes instead of waiting on a dead flight.
    let mut next = Box::pin(cached.call(2));
    assert!(matches!(poll_once(&mut next), std::task::Poll::Ready(20)));
}

/// A cache whose function returns at once (the miss takes the lean lead path: the run
/// finishes in its first poll), reading a [`CountdownClock`] counting down the returned
/// countdown. `hold`, when given, is run by the function (before it returns) the first
/// time it runs.
fn clocked_cache(
    hold: Option<Box<dyn Fn() + Send + Sync>>,
) -> (
    Cached<u32, u32>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let (clock, countdown) = countdown_clock();
    let first = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let hold = std::sync::Arc::new(hold);
    let cached = Cached::builder()
        .limit(4)
        .expiration(std::time::Duration::from_secs(60))
        .clock(clock)
        .build(move |n: u32| {
            if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                if let Some(hold) = &*hold {
                    hold();
                }
            }
            async move { n * 10 }
        });
    (cached, countdown)
}

#[test]
fn on_the_lean_path_a_clock_panic_at_the_store_frees_the_key() {
    use std::sync::atomic::Ordering;
    let (cached, countdown) = clocked_cache(None);
    // The lookup reads the clock, then the store: the second reading panics.
    countdown.store(2, Ordering::SeqCst);
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        poll_once(&mut Box::pin(cached.call(1)))
    }));
    assert_eq!(common::panic_text(&*panicked.unwrap_err()), "clock failed");
    assert_eq!(cached.stats().len, 0, "nothing was stored");
    let mut next = Box::pin(cached.call(1));
    assert!(
        matches!(poll_once(&mut next), std::task::Poll::Ready(10)),
        "the next call waits on a flight nobody leads"
    );
    assert_eq!(cached.stats().len, 1);
}

#[test]
fn on_the_lean_path_a_panic_cloning_the_value_to_store_frees_the_key() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let countdown = std::sync::Arc::new(AtomicUsize::new(0));
    let c = countdown.clone();
    let cached = Cached::builder().limit(4).build(move |n: u32| {
        let countdown = c.clone();
        async move { Fragile { n, countdown } }
    });
    // The run finishes in its first poll; the clone the store keeps (made under the
    // cache's lock) panics.
    countdown.store(1, Ordering::SeqCst);
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        poll_once(&mut Box::pin(cached.call(1)))
    }));
    assert_eq!(common::panic_text(&*panicked.unwrap_err()), "clone failed");
    match poll_once(&mut Box::pin(cached.call(1))) {
        std::task::Poll::Ready(value) => assert_eq!(value.n, 1),
        std::task::Poll::Pending => panic!("the next call waits on a flight nobody leads"),
    }
    assert_eq!(cached.stats().len, 1);
}

/// A computation that finishes (at once, or after one `Pending`) and whose `Drop` then
/// panics, once its bomb is armed.
struct FinishedBomb {
    n: u32,
    pending_first: bool,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::future::Future for FinishedBomb {
    type Output = u32;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u32> {
        if std::mem::take(&mut self.pending_first) {
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(self.n)
    }
}

impl Drop for FinishedBomb {
    fn drop(&mut self) {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("future's drop failed");
        }
    }
}

#[test]
fn a_finished_future_whose_drop_panics_frees_the_key() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    // Finished in the first poll (the lean lead path), or in a later one (the general
    // path): the finished future is dropped before the value is stored, and its
    // panic reaches the call; nothing is stored, and the next call runs again.
    for pending_first in [false, true] {
        let armed = std::sync::Arc::new(AtomicBool::new(true));
        let runs = std::sync::Arc::new(AtomicUsize::new(0));
        let cached = Cached::builder().limit(4).build({
            let (armed, runs) = (armed.clone(), runs.clone());
            move |n: u32| {
                runs.fetch_add(1, Ordering::SeqCst);
                FinishedBomb {
                    n,
                    pending_first,
                    armed: armed.clone(),
                }
            }
        });
        let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut call = Box::pin(cached.call(1));
            (0..2).find_map(|_| poll_once(&mut call).is_ready().then_some(()))
        }));
        assert_eq!(
            common::panic_text(&*panicked.unwrap_err()),
            "future's drop failed",
            "pending first: {pending_first}"
        );
        assert_eq!(cached.stats().len, 0, "nothing was stored");
        let mut next = Box::pin(cached.call(1));
        let got = (0..2).find_map(|_| match poll_once(&mut next) {
            std::task::Poll::Ready(value) => Some(value),
            std::task::Poll::Pending => None,
        });
        assert_eq!(got, Some(1), "the next call waits on a flight nobody leads");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(futures_lite::future::block_on(cached.call(1)), 1, "a hit");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}

#[test]
fn on_the_lean_path_a_panic_at_the_store_restarts_the_run_for_a_caller_that_joined() {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;
    // The leader's function, on another thread, tells this thread it is running, and
    // returns only once this thread's call has joined its flight.
    let (started_tx, started) = mpsc::channel::<()>();
    let (joined, joined_rx) = mpsc::channel::<()>();
    let (started_tx, joined_rx) = (
        std::sync::Mutex::new(started_tx),
        std::sync::Mutex::new(joined_rx),
    );
    let hold: Box<dyn Fn() + Send + Sync> = Box::new(move || {
        started_tx.lock().unwrap().send(()).unwrap();
        // Not forever: a failure on this thread must not hang the test.
        let _ = joined_rx
            .lock()
            .unwrap()
            .recv_timeout(std::time::Duration::from_secs(10));
    });
    let (cached, countdown) = clocked_cache(Some(hold));
    // The clock is read by the leader's lookup, the waiter's, then the leader's store:
    // that third reading panics.
    countdown.store(3, Ordering::SeqCst);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                poll_once(&mut Box::pin(cached.call(1)))
            }))
        });
        started.recv().unwrap();
        let mut waiter = Box::pin(cached.call(1));
        assert!(
            poll_once(&mut waiter).is_pending(),
            "joins the leader's flight"
        );
        joined.send(()).unwrap();
        let payload = leader.join().unwrap().unwrap_err();
        assert_eq!(common::panic_text(&*payload), "clock failed");
        // The run starts again for the caller left, with its arguments.
        match poll_once(&mut waiter) {
            std::task::Poll::Ready(value) => assert_eq!(value, 10),
            std::task::Poll::Pending => panic!("the waiter hangs after the leader panicked"),
        }
    });
    assert_eq!(cached.stats().len, 1);
}

/// The try form returns the function's own `Result<V, E>`.
mod own_errors {
    use haiway::cache::{TryCached, try_cache};

    #[derive(Debug, Clone, PartialEq)]
    enum FetchError {
        NotFound(u32),
    }

    impl std::fmt::Display for FetchError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl std::error::Error for FetchError {}

    async fn fetch_item(id: u32) -> Result<String, FetchError> {
        if id == 0 {
            Err(FetchError::NotFound(id))
        } else {
            Ok(format!("item {id}"))
        }
    }

    async fn title(
        items: &TryCached<u32, String, FetchError>,
        id: u32,
    ) -> Result<usize, FetchError> {
        Ok(items.call(id).await?.len())
    }

    async fn boxed(
        items: &TryCached<u32, String, FetchError>,
        id: u32,
    ) -> Result<usize, Box<dyn std::error::Error>> {
        Ok(items.call(id).await?.len())
    }

    #[test]
    fn question_mark_works_on_a_call_and_errors_compare() {
        let items = try_cache(fetch_item);
        futures_lite::future::block_on(async {
            assert_eq!(title(&items, 1).await, Ok(6));
            assert_eq!(title(&items, 0).await, Err(FetchError::NotFound(0)));
            assert_eq!(items.call(0).await, Err(FetchError::NotFound(0)));
            assert!(boxed(&items, 0).await.is_err());
        });
    }

    #[test]
    fn an_error_that_is_not_clone_goes_in_an_arc() {
        // `std::io::Error` is not `Clone`; it is built here rather than read
        // off the file system so that the test also runs under Miri.
        let read = try_cache(|path: String| async move {
            Err::<String, _>(std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{path}: no such file"),
            )))
        });
        let err = futures_lite::future::block_on(read.call("/nonexistent/haiway".into()));
        assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }
}
