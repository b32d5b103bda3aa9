//! Model checking (issue 18): built with `RUSTFLAGS="--cfg shuttle"`, haiway's cache
//! locks and counts with shuttle's primitives in its flights, shards and book of
//! backend writes (`src/sync.rs`), so shuttle chooses which thread runs at each of
//! them: randomly, and with PCT (which favours the rare orders). A caller left waiting
//! with nobody to wake it shows as a deadlock: every thread blocked. Run by `.ci/run`,
//! in a target folder of its own (the cfg rebuilds every crate):
//!
//! `RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle cargo test --release -p haiway-shuttle`
//!
//! `HAIWAY_SHUTTLE_ITERATIONS` sets the schedules tried per test and scheduler.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use haiway::cache::{Backend, BoxError, Cached};
use shuttle::future::block_on;
use shuttle::thread;
use support::check;

/// Polls `future` once, with a waker that does nothing.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// A function whose every run wakes itself once, in its first poll, before it is
/// ready: (the cache, a counter of its runs). It returns its argument times 10.
fn yielding() -> (Cached<u32, u32>, Arc<AtomicU64>) {
    waking(4, |_| false)
}

/// A cache of `limit` values whose function returns its argument times 10: in its
/// first poll for the arguments `at_once` holds for, else after waking itself once;
/// with the counter of its runs.
fn waking(limit: usize, at_once: fn(u32) -> bool) -> (Cached<u32, u32>, Arc<AtomicU64>) {
    let runs = Arc::new(AtomicU64::new(0));
    let r = runs.clone();
    let f = Cached::builder().limit(limit).build(move |x: u32| {
        r.fetch_add(1, Ordering::SeqCst);
        let mut polled = at_once(x);
        std::future::poll_fn(move |cx| {
            if polled {
                return Poll::Ready(x * 10);
            }
            polled = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    });
    (f, runs)
}

/// A caller polled once and then dropped (a request cancelled), while another awaits
/// the same key: the one awaiting gets the value. With the wake-up lost (the fix of
/// `a_run_woken_during_its_poll_wakes_the_callers_who_joined_meanwhile` reverted), a
/// schedule where it joins during the other's poll leaves it waiting forever.
#[test]
fn a_caller_dropped_after_one_poll_never_strands_the_one_awaiting() {
    check(|| {
        let (f, _) = yielding();
        let g = f.clone();
        let waiter = thread::spawn(move || block_on(g.call(1)));
        {
            let call = pin!(f.call(1));
            let _ = poll_once(call);
        }
        assert_eq!(waiter.join().expect("the waiter"), 10);
    });
}

/// The same with the first caller alive but never polled again (a `select!` branch
/// that lost), and a third caller: both that await get the value, from one run or
/// (when the first caller's run was not there to join) two.
#[test]
fn callers_awaiting_are_never_stranded_by_one_that_stopped_polling() {
    check(|| {
        let (f, runs) = yielding();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let g = f.clone();
                thread::spawn(move || block_on(g.call(1)))
            })
            .collect();
        let mut idle = Box::pin(f.call(1));
        let _ = poll_once(idle.as_mut());
        for waiter in waiters {
            assert_eq!(waiter.join().expect("a waiter"), 10);
        }
        assert!(runs.load(Ordering::SeqCst) <= 2);
        drop(idle);
    });
}

/// Two callers cancelled after one poll each, at any moment, and one awaiting: the
/// run is handed over (or started again), never abandoned under a caller that joined
/// as the last one left (`Flight::join` refusing an abandoned flight), and the key is
/// not left pending: a later call returns.
#[test]
fn cancelled_callers_hand_the_run_over_and_free_the_key() {
    check(|| {
        let (f, _) = yielding();
        let cancelled: Vec<_> = (0..2)
            .map(|_| {
                let g = f.clone();
                thread::spawn(move || {
                    let call = pin!(g.call(1));
                    let _ = poll_once(call);
                })
            })
            .collect();
        let g = f.clone();
        let waiter = thread::spawn(move || block_on(g.call(1)));
        for t in cancelled {
            t.join().expect("a cancelled caller");
        }
        assert_eq!(waiter.join().expect("the waiter"), 10);
        assert_eq!(block_on(f.call(1)), 10);
        assert_eq!(f.stats().len, 1, "one value stored, no pending node left");
    });
}

/// An in-memory backend whose every operation is a scheduling point (shuttle's lock).
#[derive(Default)]
struct Memory(shuttle::sync::Mutex<std::collections::HashMap<u32, u64>>);

impl Backend<u32, u64> for Memory {
    async fn read(&self, key: &u32) -> Result<Option<u64>, BoxError> {
        Ok(self.0.lock().unwrap().get(key).copied())
    }
    async fn write(&self, key: u32, value: u64) -> Result<(), BoxError> {
        thread::yield_now();
        self.0.lock().unwrap().insert(key, value);
        Ok(())
    }
    async fn clear(&self, key: Option<&u32>) -> Result<(), BoxError> {
        let mut map = self.0.lock().unwrap();
        match key {
            Some(key) => drop(map.remove(key)),
            None => map.clear(),
        }
        Ok(())
    }
    async fn clear_if(&self, key: &u32, value: &u64) -> Result<(), BoxError> {
        let mut map = self.0.lock().unwrap();
        if map.get(key) == Some(value) {
            map.remove(key);
        }
        Ok(())
    }
}

/// A run's value (its number) written to the backend while a clear of its key runs on
/// another thread: a call that starts after the clear returned never gets a run that
/// started before the clear did, from memory or from the backend (the book of backend
/// writes keeps the key unread until the stale write is undone).
#[test]
fn a_call_after_a_clear_never_reads_a_write_from_before_it() {
    check(|| {
        let runs = Arc::new(AtomicU64::new(0));
        let r = runs.clone();
        let f = Cached::builder()
            .limit(4)
            .backend(Memory::default())
            .build(move |_: u32| {
                let run = r.fetch_add(1, Ordering::SeqCst) + 1;
                async move { run }
            });
        let g = f.clone();
        let writer = thread::spawn(move || block_on(g.call(1)));
        // The writer's run has started: it is from before the clear.
        while runs.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        let before = runs.load(Ordering::SeqCst);
        block_on(f.clear_call_cache(&1)).expect("the clear");
        let after = block_on(f.call(1));
        assert!(
            after > before,
            "run {after} started before the clear, and was read after it"
        );
        writer.join().expect("the writer");
    });
}

/// The shard's kept flight goes from key to key (a flight is kept only if no call ever
/// joined it, and then taken as it is): two workers call keys that finish at once and
/// keys that wake themselves first, while a third thread joins and cancels calls and
/// clears the cache. Every call gets its own key's value, and the counts add up.
#[test]
fn kept_flights_move_between_keys_with_joins_cancels_and_clears() {
    check(|| {
        // Even keys finish in their first poll, odd ones wake themselves first.
        let (f, _) = waking(2, |x| x.is_multiple_of(2));
        let calls = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..2u32)
            .map(|t| {
                let g = f.clone();
                let calls = calls.clone();
                thread::spawn(move || {
                    for k in [2, 1 + 2 * t, 4, 2, 3] {
                        calls.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(block_on(g.call(k)), k * 10, "key {k}");
                    }
                })
            })
            .collect();
        let g = f.clone();
        let c = calls.clone();
        let other = thread::spawn(move || {
            c.fetch_add(1, Ordering::SeqCst);
            {
                let call = pin!(g.call(2));
                let _ = poll_once(call);
            }
            drop(block_on(g.clear_cache()));
            c.fetch_add(1, Ordering::SeqCst);
            {
                let call = pin!(g.call(1));
                let _ = poll_once(call);
            }
        });
        for w in workers {
            w.join().expect("a worker");
        }
        other.join().expect("the other");
        for k in 1..=4 {
            assert_eq!(block_on(f.call(k)), k * 10, "key {k} after");
        }
        let n = calls.load(Ordering::SeqCst) + 4;
        let s = f.stats();
        assert_eq!(s.hits + s.misses, n, "{s}");
        assert_eq!(s.hits + s.coalesced + s.runs, n, "{s}");
        assert!(s.len <= 2, "{s}");
    });
}
