//! A deterministic, single-threaded executor for the model tests, and the small
//! futures their cached bodies await.
//!
//! Unlike a "poll everything until done" loop, a task is polled only after its waker
//! was called, as on a real executor: a lost wake-up leaves the task pending and
//! un-woken, and [`Task::poll`] reports that as [`Polled::Idle`] instead of hiding it.
//! Std only: the property tests in `tests/` and the fuzz crate include this file by path.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// A task's "woken since the last poll" flag; its waker sets it.
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What one [`Task::poll`] did.
#[derive(Debug)]
pub enum Polled<T> {
    /// Not polled: nothing woke the task since its last poll.
    Idle,
    /// Polled, still pending.
    Pending,
    /// Polled to completion.
    Ready(T),
    /// The poll panicked with this payload (the task is finished).
    Panicked(Box<dyn Any + Send>),
}

/// A boxed future with its own waker.
pub struct Task<'a, T> {
    /// The future.
    future: Pin<Box<dyn Future<Output = T> + 'a>>,
    /// Set by `waker`; starts set, so the first poll happens.
    woken: Arc<Woken>,
    /// Wakes this task.
    waker: Waker,
    /// How many times it was polled.
    pub polls: u32,
}

impl<'a, T> Task<'a, T> {
    /// A task for `future`, ready for its first poll.
    pub fn new(future: impl Future<Output = T> + 'a) -> Self {
        let woken = Arc::new(Woken(AtomicBool::new(true)));
        Task {
            future: Box::pin(future),
            waker: Waker::from(woken.clone()),
            woken,
            polls: 0,
        }
    }

    /// Whether it was woken since its last poll.
    pub fn is_woken(&self) -> bool {
        self.woken.0.load(Ordering::SeqCst)
    }

    /// Polls it once if it was woken, catching a panic. Do not poll a finished task.
    pub fn poll(&mut self) -> Polled<T> {
        if !self.woken.0.swap(false, Ordering::SeqCst) {
            return Polled::Idle;
        }
        self.polls += 1;
        let mut cx = Context::from_waker(&self.waker);
        match catch_unwind(AssertUnwindSafe(|| self.future.as_mut().poll(&mut cx))) {
            Ok(Poll::Pending) => Polled::Pending,
            Ok(Poll::Ready(value)) => Polled::Ready(value),
            Err(payload) => Polled::Panicked(payload),
        }
    }
}

/// Runs `future` to completion on this thread, failing (instead of hanging) if it
/// stays pending with nobody to wake it.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    let mut task = Task::new(future);
    loop {
        match task.poll() {
            Polled::Ready(value) => return value,
            Polled::Pending => {}
            Polled::Idle => panic!("block_on: pending and never woken (a lost wake-up)"),
            Polled::Panicked(payload) => std::panic::resume_unwind(payload),
        }
    }
}

/// Pending once (waking itself), then ready: lets other tasks run.
#[derive(Debug, Default)]
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Gates that bodies wait at, one per key: a body passes when the gate of its key is
/// released after it arrived (or when every gate is opened for good).
#[derive(Clone, Default)]
pub struct Gates(Arc<Mutex<GatesState>>);

/// The state of [`Gates`].
#[derive(Default)]
struct GatesState {
    /// Releases per key so far.
    released: Vec<u64>,
    /// Waiters' wakers, by key.
    waiting: Vec<(u8, Waker)>,
    /// Every gate open for good (draining at the end of a run).
    all_open: bool,
}

impl Gates {
    fn lock(&self) -> std::sync::MutexGuard<'_, GatesState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `key`'s gate is released after this call.
    pub fn wait(&self, key: u8) -> impl Future<Output = ()> + Send + 'static {
        let gates = self.clone();
        let ticket = gates.released(key);
        std::future::poll_fn(move |cx| {
            let mut st = gates.lock();
            if st.all_open || st.released.get(usize::from(key)).copied().unwrap_or(0) > ticket {
                return Poll::Ready(());
            }
            st.waiting.push((key, cx.waker().clone()));
            Poll::Pending
        })
    }

    fn released(&self, key: u8) -> u64 {
        self.lock()
            .released
            .get(usize::from(key))
            .copied()
            .unwrap_or(0)
    }

    /// Lets every body now waiting at `key`'s gate through.
    pub fn release(&self, key: u8) {
        let wakers = {
            let mut st = self.lock();
            let i = usize::from(key);
            if st.released.len() <= i {
                st.released.resize(i + 1, 0);
            }
            st.released[i] += 1;
            let (now, later) = std::mem::take(&mut st.waiting)
                .into_iter()
                .partition(|(k, _)| *k == key);
            st.waiting = later;
            now
        };
        // Wake outside the lock.
        wakers.into_iter().for_each(|(_, w)| w.wake());
    }

    /// Opens every gate for good.
    pub fn open_all(&self) {
        let wakers = {
            let mut st = self.lock();
            st.all_open = true;
            std::mem::take(&mut st.waiting)
        };
        wakers.into_iter().for_each(|(_, w)| w.wake());
    }
}

/// The payload of a body's planned panic: the run that panicked.
#[derive(Debug)]
pub struct BodyPanic(pub u32);

/// Keeps planned [`BodyPanic`]s quiet: the panic hook skips them and passes every
/// other panic to the hook installed before (libFuzzer's aborts, so a failed check is
/// still a crash, while a planned panic unwinds to the test's `catch_unwind`).
pub fn quiet_body_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<BodyPanic>().is_none() {
                previous(info);
            }
        }));
    });
}
