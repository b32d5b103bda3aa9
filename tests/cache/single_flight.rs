//! Concurrent calls of one key share one run; different keys never wait for each
//! other; a cancelled leader hands its run over to a waiter (the run is cancelled only
//! when no caller is left), and a panicking leader's waiters start over.

use crate::common;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;

use crate::common::{Calls, Gate, gated};
use futures::{FutureExt, poll};
use haiway::cache::Cached;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures_lite::future::block_on(f)
}

#[test]
fn a_hundred_concurrent_calls_of_one_key_run_the_body_once() {
    let gate = Gate::default();
    let (f, calls) = gated(&gate);
    let ex = Arc::new(async_executor::Executor::new());
    let results = block_on(ex.run(async {
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let f = f.clone();
                ex.spawn(async move { f.call(9).await })
            })
            .collect();
        // Let every call start and find the key in flight, then release the body.
        common::yield_until(|| f.stats().misses >= 100).await;
        gate.open();
        futures::future::join_all(tasks).await
    }));
    assert!(results.iter().all(|r| *r == (9, 1)));
    assert_eq!(calls.get(), 1);
    // Issue 20: the stats show single-flight; no call found a value.
    let stats = f.stats();
    assert_eq!((stats.misses, stats.coalesced, stats.runs), (100, 99, 1));
    assert_eq!(stats.hits + stats.coalesced + stats.runs, 100);
}

#[test]
fn different_keys_compute_at_the_same_time() {
    // Key a's body waits for a signal that only key b's body sends: if b waited for a,
    // this would never finish.
    let b_ran = Gate::default();
    let g = b_ran.clone();
    let f = Cached::builder().limit(4).build(move |key: char| {
        let g = g.clone();
        async move {
            match key {
                'a' => g.wait().await,
                _ => g.open(),
            }
            key
        }
    });
    block_on(async {
        let mut a = pin!(f.call('a'));
        assert!(poll!(a.as_mut()).is_pending());
        assert_eq!(f.call('b').await, 'b');
        assert_eq!(a.await, 'a');
    });
}

/// A cache like [`gated`]'s whose runs also count how many of them were dropped
/// before they finished (cancelled).
fn gated_counting_cancels(gate: &Gate) -> (Cached<u32, (u32, usize)>, Calls, Calls) {
    /// Counts a cancel when dropped armed.
    struct Cancel(Calls, bool);
    impl Drop for Cancel {
        fn drop(&mut self) {
            if self.1 {
                self.0.hit();
            }
        }
    }
    let (calls, cancels) = (Calls::default(), Calls::default());
    let (c, d, g) = (calls.clone(), cancels.clone(), gate.clone());
    let f = Cached::builder().limit(4).build(move |x: u32| {
        let n = c.hit();
        let cancel = Cancel(d.clone(), true);
        let g = g.clone();
        async move {
            let mut cancel = cancel; // the whole guard, not just its flag
            g.wait().await;
            cancel.1 = false;
            (x, n)
        }
    });
    (f, calls, cancels)
}

/// A call of [`gated_counting_cancels`]'s cache, pinned.
type Pending<'a> = std::pin::Pin<Box<haiway::cache::Call<'a, u32, (u32, usize)>>>;

/// A call of key 1 leading (blocked at the gate) and `n` calls waiting on it, each
/// polled once.
async fn leader_and_waiters(
    f: &Cached<u32, (u32, usize)>,
    n: usize,
) -> (Pending<'_>, Vec<Pending<'_>>) {
    let mut leader = Box::pin(f.call(1));
    assert!(
        poll!(leader.as_mut()).is_pending(),
        "the leader is at the gate"
    );
    let mut waiters = Vec::new();
    for _ in 0..n {
        let mut waiter = Box::pin(f.call(1));
        assert!(
            poll!(waiter.as_mut()).is_pending(),
            "a caller waits on the leader"
        );
        waiters.push(waiter);
    }
    (leader, waiters)
}

#[test]
fn cancelling_the_leader_hands_its_run_over_to_a_waiter() {
    let gate = Gate::default();
    let (f, calls, cancels) = gated_counting_cancels(&gate);
    block_on(async {
        let (leader, mut waiters) = leader_and_waiters(&f, 1).await;
        let waiter = waiters.pop().expect("one waiter");
        drop(leader); // cancelled: its run goes on, for the waiter
        assert_eq!(
            cancels.get(),
            0,
            "the run was cancelled with a caller waiting"
        );
        gate.open();
        // The waiter takes the run over and gets its value: the body ran once.
        assert_eq!(waiter.await, (1, 1));
        assert_eq!(f.call(1).await, (1, 1)); // and stored it
    });
    assert_eq!((calls.get(), cancels.get()), (1, 0));
    assert_eq!(f.stats().misses, 2);
}

#[test]
fn a_cancelled_leader_with_nobody_waiting_cancels_its_run() {
    let gate = Gate::default();
    let (f, calls, cancels) = gated_counting_cancels(&gate);
    block_on(async {
        let (leader, _) = leader_and_waiters(&f, 0).await;
        drop(leader);
        assert_eq!(cancels.get(), 1, "the run outlived its only caller");
        gate.open();
        assert_eq!(f.call(1).await, (1, 2)); // the key is free: a new run
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn a_handed_over_run_is_cancelled_when_its_last_waiter_leaves() {
    let gate = Gate::default();
    let (f, calls, cancels) = gated_counting_cancels(&gate);
    block_on(async {
        let (leader, mut waiters) = leader_and_waiters(&f, 2).await;
        let (w2, w1) = (waiters.pop(), waiters.pop());
        drop(leader);
        drop(w1);
        assert_eq!(cancels.get(), 0, "cancelled while a caller still waits");
        drop(w2);
        assert_eq!(cancels.get(), 1, "the run outlived every caller");
        gate.open();
        assert_eq!(f.call(1).await, (1, 2)); // the key is free: a new run
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn a_run_handed_over_twice_still_runs_once() {
    let gate = Gate::default();
    let (f, calls, cancels) = gated_counting_cancels(&gate);
    block_on(async {
        let (leader, mut waiters) = leader_and_waiters(&f, 2).await;
        let w2 = waiters.pop().expect("two waiters");
        let mut w1 = waiters.pop().expect("two waiters");
        drop(leader);
        // w1 takes the run over and drives it (still at the gate), then goes too.
        assert!(poll!(w1.as_mut()).is_pending());
        drop(w1);
        gate.open();
        assert_eq!(w2.await, (1, 1));
    });
    assert_eq!((calls.get(), cancels.get()), (1, 0));
}

#[test]
fn a_handed_over_run_whose_key_was_cleared_is_not_stored() {
    let gate = Gate::default();
    let (f, calls, _) = gated_counting_cancels(&gate);
    block_on(async {
        let (leader, mut waiters) = leader_and_waiters(&f, 1).await;
        let waiter = waiters.pop().expect("one waiter");
        drop(leader);
        f.clear_cache().await.expect("no backend to fail");
        gate.open();
        // The waiter still gets the run's value, but the cleared key stays empty.
        assert_eq!(waiter.await, (1, 1));
        assert_eq!(f.call(1).await, (1, 2));
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn a_panicking_leader_does_not_hang_the_waiters() {
    let gate = Gate::default();
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let f = Cached::builder().limit(4).build(move |x: u32| {
        let n = c.hit();
        let g = g.clone();
        async move {
            g.wait().await;
            assert!(n != 1, "leader panics");
            (x, n)
        }
    });
    block_on(async {
        let mut leader = pin!(AssertUnwindSafe(f.call(5)).catch_unwind());
        assert!(poll!(leader.as_mut()).is_pending());
        let mut w1 = pin!(f.call(5));
        let mut w2 = pin!(f.call(5));
        assert!(poll!(w1.as_mut()).is_pending());
        assert!(poll!(w2.as_mut()).is_pending());
        gate.open();
        let payload = leader
            .await
            .expect_err("the leader's panic reaches the leader");
        assert!(common::panic_text(&*payload).contains("leader panics"));
        // One waiter takes over; the other joins it: one more run, same value for both.
        let (a, b) = futures::join!(w1, w2);
        assert_eq!(a, (5, 2));
        assert_eq!(b, (5, 2));
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn waiters_share_the_leaders_error_without_storing_it() {
    let gate = Gate::default();
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let f = Cached::builder().limit(4).try_build(move |x: u32| {
        let n = c.hit();
        let g = g.clone();
        async move {
            g.wait().await;
            if n == 1 {
                Err(format!("run {n} failed"))
            } else {
                Ok(x)
            }
        }
    });
    block_on(async {
        let mut leader = pin!(f.call(3));
        let mut waiter = pin!(f.call(3));
        assert!(poll!(leader.as_mut()).is_pending());
        assert!(poll!(waiter.as_mut()).is_pending());
        gate.open();
        let (a, b) = futures::join!(leader, waiter);
        // One run's error, a clone for each caller.
        assert_eq!(
            (a.unwrap_err(), b.unwrap_err()),
            ("run 1 failed".to_owned(), "run 1 failed".to_owned())
        );
        assert_eq!(f.stats().len, 0);
        assert_eq!(f.call(3).await.unwrap(), 3);
    });
    assert_eq!(calls.get(), 2);
}

#[test]
fn a_leader_cancelled_while_a_caller_joins_hands_its_run_over() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use haiway::cache::Call;
    use haiway::{Event, Scope, ScopeInfo};

    type Leader = std::pin::Pin<Box<Call<'static, u32, (u32, usize)>>>;
    let gate = Gate::default();
    let (f, calls, cancels) = gated_counting_cancels(&gate);
    // In a static (not leaked: Miri checks for leaks), so the leader can be 'static.
    static CACHE: std::sync::OnceLock<Cached<u32, (u32, usize)>> = std::sync::OnceLock::new();
    let f: &'static Cached<u32, (u32, usize)> = CACHE.get_or_init(|| f);
    // The recorder drops the leader when the second caller records its miss: that
    // caller has found the leader's flight, and waits on it from then on. The leader
    // runs outside any scope, as the recorder does (no scope is current in a
    // recorder), so its run is not held back for having changed scope.
    let slot: Arc<Mutex<Option<Leader>>> = Arc::default();
    let misses = Arc::new(AtomicUsize::new(0));
    let (s, m) = (slot.clone(), misses.clone());
    let recorder = move |_: &ScopeInfo, event: &Event| {
        if event.name() == "cache.miss" && m.fetch_add(1, Ordering::SeqCst) == 0 {
            let leader = s.lock().unwrap().take();
            drop(leader); // cancelled while a caller waits on its run
        }
    };
    let (gate2, cancels2) = (gate.clone(), cancels.clone());
    let mut leader: Leader = Box::pin(f.call(1));
    assert!(block_on(async { poll!(leader.as_mut()) }).is_pending()); // leads, at the gate
    *slot.lock().unwrap() = Some(leader);
    block_on(Scope::new("test").recorder(recorder).run(async move {
        let mut waiter = pin!(f.call(1));
        assert!(poll!(waiter.as_mut()).is_pending());
        assert!(
            slot.lock().unwrap().is_none(),
            "the recorder dropped the leader"
        );
        assert_eq!(
            cancels2.get(),
            0,
            "the run was cancelled with a caller waiting on it"
        );
        gate2.open();
        assert_eq!(waiter.await, (1, 1));
    }));
    assert_eq!((calls.get(), cancels.get()), (1, 0));
}

/// Leads a call of key 1 in a scope of its own, waits on it from another, drops the
/// leader's scope, opens `gate`: the waiter must start over (the run spawned into the
/// leader's scope, so it was not handed over) and get run 2's value.
fn the_waiter_starts_over(f: &Cached<u32, (u32, usize)>, gate: &Gate, calls: &Calls) {
    use haiway::Scope;

    block_on(Scope::new("outer").run(async {
        let mut leader = Box::pin(Scope::new("leader").run(f.call(1)));
        assert!(poll!(leader.as_mut()).is_pending());
        let mut waiter = pin!(f.call(1));
        assert!(poll!(waiter.as_mut()).is_pending());
        drop(leader); // the leader's scope, and the task the run spawned in it, go
        gate.open();
        let got = AssertUnwindSafe(waiter).catch_unwind().await;
        assert_eq!(got.ok(), Some((1, 2)), "the waiter got the handed-over run");
    }));
    assert_eq!(calls.get(), 2);
}

#[test]
fn a_run_that_spawned_tasks_dies_with_its_leader_and_the_waiter_starts_over() {
    // Handed over, the run would await a task its cancelled scope took down.
    let gate = Gate::default();
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let f = Cached::builder().limit(4).build(move |x: u32| {
        let n = c.hit();
        let g = g.clone();
        async move {
            let task = haiway::ctx::spawn(async move {
                g.wait().await;
                x
            });
            (task.await, n)
        }
    });
    the_waiter_starts_over(&f, &gate, &calls);
}

#[test]
fn a_run_that_spawned_in_the_functions_body_is_not_handed_over() {
    let gate = Gate::default();
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let f = Cached::builder().limit(4).build(move |x: u32| {
        let n = c.hit();
        let g = g.clone();
        // Spawned before the function's future exists.
        let task = haiway::ctx::spawn(async move {
            g.wait().await;
            x
        });
        async move { (task.await, n) }
    });
    the_waiter_starts_over(&f, &gate, &calls);
}

#[test]
fn a_run_that_spawned_from_another_thread_is_not_handed_over() {
    let gate = Gate::default();
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let f = Cached::builder().limit(4).build(move |x: u32| {
        let n = c.hit();
        let g = g.clone();
        async move {
            let ctx = haiway::Ctx::current();
            let task = std::thread::spawn(move || {
                ctx.spawn(async move {
                    g.wait().await;
                    x
                })
            })
            .join()
            .expect("the spawning thread");
            (task.await, n)
        }
    });
    the_waiter_starts_over(&f, &gate, &calls);
}

/// Issue 12: a leader that stays alive but is never polled again (a `select!` branch
/// that lost, a future after `poll_immediate`) stalls nobody: a caller waiting on
/// another thread drives the run itself and gets the value; the function started once.
#[test]
#[cfg_attr(miri, ignore = "a second OS thread blocking on a channel")]
fn a_leader_alive_but_never_polled_again_stalls_no_waiter() {
    let gate = Gate::default();
    let (f, calls) = common::gated(&gate);
    let f = std::sync::Arc::new(f);
    // The leader is polled once (it starts the run, which waits at the gate), then
    // held, alive, for the rest of the test.
    let mut leader = Box::pin(f.call(1));
    assert!(block_on(async { poll!(leader.as_mut()) }).is_pending());
    let (done, finished) = std::sync::mpsc::channel();
    let waiter = {
        let f = f.clone();
        std::thread::spawn(move || {
            let value = futures_lite::future::block_on(f.call(1));
            done.send(value).expect("the test waits");
        })
    };
    // The waiter joins, and waits at the gate with the run.
    common::wait_until(|| f.stats().misses == 2);
    gate.open();
    let value = finished
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the waiter stalled behind a leader nobody polls");
    assert_eq!(value, (1, 1), "the leader's run, driven by the waiter");
    waiter.join().expect("waiter thread");
    assert_eq!(calls.get(), 1, "the function started once");
    // The leader, polled at last, gets the same value.
    assert_eq!(block_on(leader), (1, 1));
}

/// A waker that raises a flag, for tests that poll by hand.
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Flag {
    fn new() -> Arc<Flag> {
        Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)))
    }
    /// Whether it was woken since the last look (and lowers it).
    fn take(&self) -> bool {
        self.0.swap(false, std::sync::atomic::Ordering::SeqCst)
    }
}

/// Polls `future` once with `flag`'s waker.
fn poll_with<F: std::future::Future + ?Sized>(
    future: std::pin::Pin<&mut F>,
    flag: &Arc<Flag>,
) -> std::task::Poll<F::Output> {
    let waker = std::task::Waker::from(flag.clone());
    future.poll(&mut std::task::Context::from_waker(&waker))
}

type Call = std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>>;

/// A hook run inside the function's poll.
type Hook = Arc<std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>>;

/// A leader whose run woke itself during its first poll, and a waiter that joined
/// during that poll (after the wake-up), saw the run taken out, and waits for the next
/// one: (leader, its flag, waiter, its flag, the function's runs).
fn woken_during_the_leaders_poll() -> (Call, Arc<Flag>, Call, Arc<Flag>, Calls) {
    let waiter: Arc<std::sync::Mutex<Option<Call>>> = Arc::default();
    let waiter_flag = Flag::new();
    // Run by the function's first poll, after it woke itself: the waiter joins while
    // the run is out of its flight.
    let hook: Hook = Arc::default();
    let calls = Calls::default();
    let f = {
        let (hook, calls) = (hook.clone(), calls.clone());
        Cached::builder().limit(4).build(move |x: u32| {
            calls.hit();
            let hook = hook.clone();
            let mut polls = 0;
            std::future::poll_fn(move |cx| {
                polls += 1;
                if polls > 1 {
                    return std::task::Poll::Ready(x * 10);
                }
                cx.waker().wake_by_ref();
                if let Some(hook) = hook.lock().unwrap().take() {
                    hook();
                }
                std::task::Poll::Pending
            })
        })
    };
    {
        let (f, waiter, waiter_flag) = (f.clone(), waiter.clone(), waiter_flag.clone());
        *hook.lock().unwrap() = Some(Box::new(move || {
            let mut w: Call = Box::pin(f.call_owned(1));
            assert!(poll_with(w.as_mut(), &waiter_flag).is_pending());
            assert!(!waiter_flag.take(), "the run was out: the waiter waits");
            *waiter.lock().unwrap() = Some(w);
        }));
    }
    let leader_flag = Flag::new();
    let mut leader: Call = Box::pin(f.clone().call_owned(1));
    assert!(poll_with(leader.as_mut(), &leader_flag).is_pending());
    assert!(leader_flag.take(), "the leader is to poll again");
    let w = waiter.lock().unwrap().take().expect("the waiter joined");
    (leader, leader_flag, w, waiter_flag, calls)
}

/// Found under load by `stress_cancel` (a scope that never ended): the run wakes itself
/// while its leader polls it, and a caller joins meanwhile, sees the run taken out, and
/// waits for its next wake-up. The leader is dropped before it polls again: the waiter
/// must have been told, or nobody polls the run again.
#[test]
fn a_run_woken_during_its_poll_wakes_the_callers_who_joined_meanwhile() {
    let (leader, _, mut waiter, waiter_flag, calls) = woken_during_the_leaders_poll();
    assert!(waiter_flag.take(), "the waiter was not told of the wake-up");
    drop(leader);
    assert_eq!(
        poll_with(waiter.as_mut(), &waiter_flag),
        std::task::Poll::Ready(10)
    );
    assert_eq!(calls.get(), 1, "the function started once");
}

/// The same, with the leader alive but never polled again (a `select!` branch that
/// lost): the waiter drives the run.
#[test]
fn a_run_woken_during_its_poll_is_driven_on_by_a_waiter_while_its_leader_idles() {
    let (mut leader, leader_flag, mut waiter, waiter_flag, calls) = woken_during_the_leaders_poll();
    assert!(waiter_flag.take(), "the waiter was not told of the wake-up");
    assert_eq!(
        poll_with(waiter.as_mut(), &waiter_flag),
        std::task::Poll::Ready(10)
    );
    assert_eq!(
        poll_with(leader.as_mut(), &leader_flag),
        std::task::Poll::Ready(10)
    );
    assert_eq!(calls.get(), 1, "the function started once");
}

/// A call future kept where a cached function's body can reach it (and drop it).
type Kept =
    Arc<std::sync::Mutex<Option<std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>>>>>;

/// A flight a call joined is not kept for the next miss of another key: a caller that
/// drove the run and left from another scope while it was being polled doomed it, and
/// left its arguments with it. Kept, the next key's run would find it doomed and start
/// over on those arguments, and store the first key's value under the second key.
#[test]
fn a_flight_a_caller_joined_and_left_is_not_kept_for_another_key() {
    let (first, second) = (Gate::default(), Gate::default());
    let kept: Kept = Arc::default();
    let (g1, g2, slot) = (first.clone(), second.clone(), kept.clone());
    let f: Cached<u32, u32> = Cached::builder().limit(4).build(move |x: u32| {
        let (g1, g2, slot) = (g1.clone(), g2.clone(), slot.clone());
        async move {
            if x == 1 {
                g1.wait().await;
                // Spawned in the scope of the call driving the run (the waiter's): the
                // waiter leaving dooms the run.
                haiway::ctx::spawn(async {}).detach();
                g2.wait().await;
                // The waiter goes, while this run is being polled by the leader.
                drop(slot.lock().unwrap().take());
            } else {
                // Not finished in its first poll: the leader puts it in its flight.
                futures_lite::future::yield_now().await;
            }
            x * 10
        }
    });
    block_on(async {
        let mut leader = pin!(f.call(1));
        assert!(poll!(leader.as_mut()).is_pending(), "at the first gate");
        let waiter_cache = f.clone();
        let mut waiter =
            Box::pin(haiway::Scope::new("waiter").run(async move { waiter_cache.call(1).await }));
        assert!(poll!(waiter.as_mut()).is_pending(), "waits on the leader");
        first.open();
        // The waiter drives the run (from its scope) to the second gate.
        assert!(poll!(waiter.as_mut()).is_pending(), "at the second gate");
        *kept.lock().unwrap() = Some(waiter);
        second.open();
        assert_eq!(leader.await, 10);
        assert!(kept.lock().unwrap().is_none(), "the run dropped the waiter");
        assert_eq!(f.call(2).await, 20, "the second key's own value");
        assert_eq!(f.call(1).await, 10);
    });
    assert_eq!(f.stats().runs, 2);
}

/// Arguments that count their drops (equal by their number alone).
#[derive(Clone)]
struct Counted(u32, Arc<std::sync::atomic::AtomicUsize>);

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Counted {}

impl std::hash::Hash for Counted {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A call that joins a run during its leader's first poll and leaves hands its
/// arguments to the flight (for restarts); when the run finishes in that poll, the
/// flight is not kept for the next miss with them still in it: they are dropped once
/// the leader has its value.
#[test]
fn arguments_left_in_a_flight_finished_in_its_first_poll_are_dropped_with_it() {
    // The cache, for its own function to call (taken out at the end: a cycle).
    let handle: Arc<std::sync::Mutex<Option<Cached<Counted, u32>>>> = Arc::default();
    let waiter_drops = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (h, w) = (handle.clone(), waiter_drops.clone());
    let f = Cached::builder().limit(4).build(move |x: Counted| {
        let (h, w) = (h.clone(), w.clone());
        async move {
            if x.0 == 1 {
                // Another call of the key joins this run, and leaves at once.
                let cache = h
                    .lock()
                    .unwrap()
                    .clone()
                    .expect("set before the first call");
                let mut waiter = Box::pin(cache.call(Counted(1, w)));
                assert!(poll!(waiter.as_mut()).is_pending(), "joined");
            }
            x.0 * 10
        }
    });
    *handle.lock().unwrap() = Some(f.clone());
    let others = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    block_on(async {
        assert_eq!(f.call(Counted(1, others.clone())).await, 10);
        assert_eq!(
            waiter_drops.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the waiter's arguments outlived the run"
        );
        assert_eq!(f.call(Counted(2, others.clone())).await, 20);
    });
    assert_eq!(f.stats().runs, 2);
    handle.lock().unwrap().take();
}
