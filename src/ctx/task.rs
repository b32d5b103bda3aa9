//! Spawned tasks: the per-scope task set, the runner that wraps each spawned future,
//! and the [`Task`] handle.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;
use slab::Slab;

use super::{Ctx, slot};
use crate::event::{Event, Level};
use crate::runtime::BoxFuture;

/// The tasks of one scope: how many are alive, how to cancel them, and (for a scope
/// without a spawner) the queue of tasks the scope has yet to start driving.
pub(crate) struct TaskSet {
    /// Everything, under one lock: spawning and finishing each take it once.
    state: Mutex<SetState>,
    /// How many tasks were ever spawned in this set (from any thread): written under
    /// the lock, read without it (see [`TaskSet::spawned`]).
    spawned: AtomicU64,
}

/// The lock-protected part of a [`TaskSet`].
struct SetState {
    /// The scope has ended (or its future was dropped): no more spawning.
    closed: bool,
    /// The scope's future is being dropped: tasks spawned now (by its body's
    /// destructors) are cancelled from the start.
    aborting: bool,
    /// Tasks spawned and not yet finished or dropped.
    live: usize,
    /// One cancel handle per live task, removed when the task finishes.
    aborts: Slab<Arc<dyn Abort>>,
    /// For a scope that drives its own tasks: spawned, not yet picked up by the scope.
    queue: Vec<BoxFuture>,
    /// The scope's waker: woken when a task is queued or the last task finishes.
    waker: Option<Waker>,
}

impl TaskSet {
    pub(crate) fn new() -> Self {
        TaskSet {
            spawned: AtomicU64::new(0),
            state: Mutex::new(SetState {
                closed: false,
                aborting: false,
                live: 0,
                aborts: Slab::new(),
                queue: Vec::new(),
                waker: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SetState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many tasks were ever spawned in this set. Two readings tell whether code
    /// spawned into the scope in between, from whatever thread, as long as the spawn
    /// happened before the second reading.
    pub(crate) fn spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// Takes the tasks queued for a scope that drives its own tasks, and registers the
    /// scope's waker for new ones.
    pub(crate) fn take_queued(&self, waker: &Waker, out: &mut Vec<BoxFuture>) {
        let mut st = self.lock();
        out.append(&mut st.queue);
        register(&mut st.waker, waker);
    }

    /// Whether every task has finished. If so, closes the set for good; if not,
    /// registers `waker` to be woken when the last one finishes.
    pub(crate) fn try_close(&self, waker: &Waker) -> bool {
        let mut st = self.lock();
        if st.live == 0 && st.queue.is_empty() {
            st.closed = true;
            st.waker = None;
            true
        } else {
            register(&mut st.waker, waker);
            false
        }
    }

    /// Cancels every unfinished task, and every task spawned from now on, but leaves
    /// the set open: the scope's future is being dropped, and its body's destructors,
    /// which run next, may still spawn (what they spawn never runs).
    ///
    /// `settle`: also report them cancelled to their handles at once. Right only when
    /// the scope drives its tasks itself, so none can be polled any more; a task on a
    /// spawner may still be mid-poll elsewhere (or have child scopes running), and
    /// its handle learns it was cancelled when its executor drops it.
    pub(crate) fn abort_all(&self, panics: &mut FirstPanic, settle: bool) {
        let aborts: Vec<Arc<dyn Abort>> = {
            let mut st = self.lock();
            st.aborting = true;
            // Nobody polls a scope that is being dropped.
            st.waker = None;
            st.aborts.iter().map(|(_, abort)| abort.clone()).collect()
        };
        // Outside the lock: aborting wakes handles and runners, which is executor code.
        abort_each(panics, aborts, settle);
    }

    /// Closes the set and cancels every unfinished task (the scope future was dropped).
    ///
    /// Runners queued and never started are dropped first, while the set is open, so
    /// their futures' destructors may spawn as the body's do. Every step runs even if
    /// one panics (destructors and wakers are user code); `panics` keeps the first.
    pub(crate) fn cancel_all(&self, panics: &mut FirstPanic) {
        // Their destructors may queue more: a few rounds, then the set closes anyway.
        for _ in 0..NEVER_STARTED_ROUNDS {
            let never_started = std::mem::take(&mut self.lock().queue);
            if never_started.is_empty() {
                break;
            }
            drop_each(panics, never_started);
        }
        let (aborts, queue) = {
            let mut st = self.lock();
            st.closed = true;
            st.waker = None;
            (
                std::mem::take(&mut st.aborts),
                std::mem::take(&mut st.queue),
            )
        };
        // Outside the lock: aborting wakes handles and runners, and dropping a queued
        // runner takes the lock to unregister.
        abort_each(panics, aborts.into_iter().map(|(_, abort)| abort), false);
        drop_each(panics, queue);
    }
}

impl fmt::Debug for TaskSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("TaskSet")
            .field("live", &st.live)
            .field("closed", &st.closed)
            .finish()
    }
}

/// The first panic of several steps that must all run, as a drop's must: each step
/// runs under `catch_unwind`, and the first panic is raised again at the end.
#[derive(Default)]
pub(crate) struct FirstPanic(Option<Box<dyn Any + Send>>);

impl FirstPanic {
    /// Runs `step`, keeping its panic if it is the first; `false` if it panicked.
    pub(crate) fn run(&mut self, step: impl FnOnce()) -> bool {
        match catch_unwind(AssertUnwindSafe(step)) {
            Ok(()) => true,
            Err(payload) => {
                self.0.get_or_insert(payload);
                false
            }
        }
    }

    /// Raises the first panic again, unless one is already unwinding through here (a
    /// second would abort the process; the first is then dropped).
    pub(crate) fn raise(self) {
        if let Some(payload) = self.0 {
            if !std::thread::panicking() {
                resume_unwind(payload);
            }
        }
    }
}

/// Drops every future of `futures`, each even if dropping one before it panicked.
pub(crate) fn drop_each(panics: &mut FirstPanic, futures: impl IntoIterator<Item = BoxFuture>) {
    for future in futures {
        panics.run(|| drop(future));
    }
}

/// How many rounds of queued, never-started tasks a cancelled scope drops while tasks
/// can still be spawned (by the destructors of the round before).
const NEVER_STARTED_ROUNDS: usize = 8;

/// Cancels every task of `aborts`: all are flagged first (no user code), then (with
/// `settle`) each handle is told, and each runner woken, each even if a waker before
/// it panicked.
fn abort_each(
    panics: &mut FirstPanic,
    aborts: impl IntoIterator<Item = Arc<dyn Abort>>,
    settle: bool,
) {
    let aborts: Vec<Arc<dyn Abort>> = aborts.into_iter().collect();
    for abort in &aborts {
        abort.flag();
    }
    for abort in &aborts {
        if settle {
            panics.run(|| abort.settle());
        }
        panics.run(|| abort.wake_runner());
    }
}

/// Stores `waker` unless an equivalent one is already there.
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// Why a spawn was refused. Hands the future back.
///
/// # Examples
///
/// ```
/// use haiway::ctx::{self, SpawnErrorKind};
///
/// let err = ctx::try_spawn(async { 1 }).unwrap_err();
/// assert_eq!(err.kind(), SpawnErrorKind::NoScope);
/// let _future = err.into_future();
/// ```
pub struct SpawnError<F> {
    /// Why.
    kind: SpawnErrorKind,
    /// The future that was not spawned.
    future: F,
}

/// The reason a [`SpawnError`] was returned.
///
/// # Examples
///
/// ```
/// use haiway::ctx::SpawnErrorKind;
///
/// assert_ne!(SpawnErrorKind::NoScope, SpawnErrorKind::ScopeEnded);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnErrorKind {
    /// There is no current scope to spawn in.
    NoScope,
    /// The scope of this `Ctx` has already finished (or its future was dropped).
    ScopeEnded,
}

impl<F> SpawnError<F> {
    pub(crate) fn new(kind: SpawnErrorKind, future: F) -> Self {
        SpawnError { kind, future }
    }

    /// Why the spawn was refused.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = haiway::ctx::try_spawn(async {}).unwrap_err();
    /// assert_eq!(err.kind(), haiway::ctx::SpawnErrorKind::NoScope);
    /// ```
    pub fn kind(&self) -> SpawnErrorKind {
        self.kind
    }

    /// Gives back the future that was not spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let future = haiway::ctx::try_spawn(async { 5 }).unwrap_err().into_future();
    /// assert_eq!(future.await, 5);
    /// # });
    /// ```
    pub fn into_future(self) -> F {
        self.future
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SpawnErrorKind::NoScope => f.write_str(
                "cannot spawn: no haiway scope is current; run this code inside `Scope::new(..).run(..)`",
            ),
            SpawnErrorKind::ScopeEnded => f.write_str(
                "cannot spawn: this Ctx's scope has already finished; spawn from a scope that is still running",
            ),
        }
    }
}

impl<F> std::error::Error for SpawnError<F> {}

/// Type-erased cancellation of one task, kept by the scope.
trait Abort: Send + Sync {
    /// Marks the task cancelled: its runner never polls its future again. Runs no
    /// user code.
    fn flag(&self);
    /// Tells the task's handle it was cancelled, if it had no outcome yet (so code
    /// awaiting it, even a destructor of the scope's body, does not wait for the
    /// runner). Wakes the handle: executor code.
    fn settle(&self);
    /// Wakes the runner, so its executor drops it soon. Executor code.
    fn wake_runner(&self);
}

/// What a task has produced so far.
enum Output<T> {
    /// Still running.
    Pending,
    /// Finished with this value (not yet taken by the handle).
    Ready(T),
    /// Panicked with this payload.
    Panicked(Box<dyn Any + Send>),
    /// Dropped before finishing: its scope was dropped, or the executor shut down.
    Cancelled,
    /// The handle has taken the outcome.
    Taken,
}

/// State shared by a running task and its [`Task`] handle.
struct Shared<T> {
    /// Set once when the scope cancels the task.
    aborted: AtomicBool,
    /// The runner's waker, so an abort gets it polled (and finished) promptly.
    runner: AtomicWaker,
    /// The outcome and the handle's waker.
    state: Mutex<(Output<T>, Option<Waker>)>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, (Output<T>, Option<Waker>)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the outcome and wakes the handle, unless the task was already reported
    /// cancelled (its scope was dropped while it finished).
    fn finish(&self, output: Output<T>) {
        let waker = {
            let mut st = self.lock();
            if !matches!(st.0, Output::Pending) {
                return;
            }
            st.0 = output;
            st.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Reports the task cancelled, unless it already has an outcome: the last word of a
    /// runner that is dropped, however it got there.
    fn cancel_if_pending(&self) {
        let waker = {
            let mut st = self.lock();
            if !matches!(st.0, Output::Pending) {
                return;
            }
            st.0 = Output::Cancelled;
            st.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T: Send> Abort for Shared<T> {
    fn flag(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    fn settle(&self) {
        self.cancel_if_pending();
    }

    fn wake_runner(&self) {
        self.runner.wake();
    }
}

impl TaskSet {
    /// Unregisters a finished (or dropped) task: called once per task, from its
    /// runner's drop, whether it finished, was cancelled, or its executor dropped it.
    fn unregister(&self, key: usize) {
        let waker = {
            let mut st = self.lock();
            st.aborts.try_remove(key);
            st.live -= 1;
            if st.live == 0 { st.waker.take() } else { None }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// The future actually handed to the executor: polls the user's future with its
    /// `Ctx` current, catches panics, and reports the outcome to the handle.
    struct Runner<F: Future> {
        #[pin]
        future: Option<F>,
        ctx: Option<Ctx>,
        shared: Arc<Shared<F::Output>>,
        // The task's key in its scope's set (unregistered in drop).
        key: usize,
        // Whether the outcome was handed to `shared` (else drop reports a cancel).
        reported: bool,
    }

    impl<F: Future> PinnedDrop for Runner<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Dropped before finishing: drop the future first (with its Ctx current, so
            // its destructors see their scope). A panic there, or from a waker, is held
            // until the handle was told and the task unregistered, so neither waits
            // forever; then it is raised again for whoever dropped the task (an
            // executor catches it).
            let mut panics = FirstPanic::default();
            if this.future.is_some() {
                let mut future = this.future;
                slot::drop_in(this.ctx, &mut panics, || future.set(None));
            }
            if !*this.reported {
                panics.run(|| this.shared.cancel_if_pending());
            }
            // Keep the task counted until here: its scope finishes only after this.
            if let Some(ctx) = this.ctx.take() {
                panics.run(|| ctx.inner.tasks.unregister(*this.key));
            }
            panics.raise();
        }
    }
}

impl<F: Future> Future for Runner<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let mut future = this.future;
        if future.is_none() {
            return Poll::Ready(());
        }
        if this.shared.aborted.load(Ordering::Acquire) {
            // The scope was dropped: finish now; PinnedDrop reports the cancellation.
            return Poll::Ready(());
        }
        // One entry into the slot covers the poll and, when the task is done, dropping
        // its future (so its destructors see their scope too).
        let output = {
            let _entered = slot::enter(this.ctx);
            // A finished future is dropped inside the same catch: a panic in its
            // destructor is the task's panic, reported to the handle like any other.
            let polled = catch_unwind(AssertUnwindSafe(|| {
                let inner = future.as_mut().as_pin_mut().expect("checked above");
                let value = match inner.poll(cx) {
                    Poll::Pending => return None,
                    Poll::Ready(value) => value,
                };
                future.set(None);
                Some(value)
            }));
            match polled {
                Ok(None) => None,
                Ok(Some(value)) => Some(Output::Ready(value)),
                Err(payload) => {
                    // The panicked future goes now; a second panic from its destructor
                    // is dropped, the first one is what the handle re-raises.
                    if future.is_some() {
                        drop(catch_unwind(AssertUnwindSafe(|| future.set(None))));
                    }
                    // Recorded inside the task's scope (its span too, if any), like
                    // every other event of the task. A recorder that panics here does
                    // not replace the task's own panic.
                    drop(catch_unwind(AssertUnwindSafe(|| record_panic(&*payload))));
                    Some(Output::Panicked(payload))
                }
            }
        };
        let Some(output) = output else {
            // Register for aborts only once the task waits: most tasks finish at their
            // first poll and never need it. Then look again, so an abort between the
            // check above and the registration is not missed.
            this.shared.runner.register(cx.waker());
            if this.shared.aborted.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            return Poll::Pending;
        };
        this.shared.finish(output);
        *this.reported = true;
        Poll::Ready(())
    }
}

/// Records a task's panic as `task.panicked` in the current scope. Out of line, so the
/// event is not part of every task poll's stack frame.
#[cold]
#[inline(never)]
fn record_panic(payload: &(dyn Any + Send)) {
    super::record_event_with(Level::Error, || {
        Event::error("task.panicked").with("message", panic_message(payload))
    });
}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Spawns `future` in the scope of `ctx`.
pub(crate) fn spawn<F>(ctx: &Ctx, future: F) -> Result<Task<F::Output>, SpawnError<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let set = &ctx.inner.tasks;
    let shared = Arc::new(Shared {
        aborted: AtomicBool::new(false),
        runner: AtomicWaker::new(),
        state: Mutex::new((Output::Pending, None)),
    });
    let mut st = set.lock();
    if st.closed {
        return Err(SpawnError::new(SpawnErrorKind::ScopeEnded, future));
    }
    if st.aborting {
        shared.aborted.store(true, Ordering::Release);
    }
    let key = st.aborts.insert(shared.clone());
    st.live += 1;
    // Only ever written under the lock: a load and a store, no read-modify-write.
    let spawned = &ctx.inner.tasks.spawned;
    spawned.store(
        spawned.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
    let runner: BoxFuture = Box::pin(Runner {
        future: Some(future),
        ctx: Some(ctx.clone()),
        shared: shared.clone(),
        key,
        reported: false,
    });
    match &ctx.inner.spawner {
        Some(spawner) => {
            drop(st);
            spawner.spawn(runner);
        }
        None => {
            // The scope drives this task itself: queue it and wake the scope.
            st.queue.push(runner);
            let waker = st.waker.clone();
            drop(st);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
    Ok(Task { shared })
}

/// A handle to a spawned task: a future of the task's output.
///
/// Dropping the handle detaches the task: it keeps running, and its scope still waits
/// for it.
///
/// # Panics
///
/// Awaiting the handle re-raises the task's panic, with the original payload. If the
/// task was cancelled before it finished (its scope future was dropped, or its
/// executor shut down), awaiting the handle panics with a message saying so.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// Scope::new("job")
///     .run(async {
///         let task = ctx::spawn(async { "done" });
///         assert_eq!(task.await, "done");
///     })
///     .await;
/// # });
/// ```
#[must_use = "a Task does nothing when dropped except detach; await it to get its output"]
pub struct Task<T> {
    /// Shared with the runner.
    shared: Arc<Shared<T>>,
}

impl<T> Task<T> {
    /// Whether the task has finished (with a value, a panic, or by cancellation).
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// Scope::new("job")
    ///     .run(async {
    ///         let task = ctx::spawn(async {});
    ///         let _ = task.is_finished();
    ///     })
    ///     .await;
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        !matches!(self.shared.lock().0, Output::Pending)
    }

    /// Lets the task run on without a handle; the same as dropping it.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let ran = Arc::new(AtomicBool::new(false));
    /// # futures_lite::future::block_on(async {
    /// let flag = ran.clone();
    /// Scope::new("job")
    ///     .run(async move { ctx::spawn(async move { flag.store(true, Ordering::SeqCst) }).detach() })
    ///     .await;
    /// # });
    /// assert!(ran.load(Ordering::SeqCst)); // the scope waited for it
    /// ```
    pub fn detach(self) {}
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut st = self.shared.lock();
        match std::mem::replace(&mut st.0, Output::Taken) {
            Output::Pending => {
                st.0 = Output::Pending;
                register(&mut st.1, cx.waker());
                Poll::Pending
            }
            Output::Ready(value) => Poll::Ready(value),
            Output::Panicked(payload) => {
                drop(st);
                resume_unwind(payload)
            }
            Output::Cancelled => {
                drop(st);
                panic!(
                    "haiway task was cancelled before it finished: its scope future was dropped \
                     or its executor shut down"
                )
            }
            Output::Taken => {
                drop(st);
                panic!("haiway Task polled after it returned its output")
            }
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}
