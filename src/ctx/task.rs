//! Spawned tasks: the runner that wraps each spawned future, and the [`Task`] handle
//! that awaits its outcome.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;

use super::context::Ctx;
use super::panics::FirstPanic;
use super::record::record_event_with;
use super::slot;
use super::task_set::{Abort, register};
use crate::event::{Event, Level};
use crate::runtime::BoxFuture;
use crate::sync::{AtomicBool, Mutex, MutexGuard};

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
        self.state.lock()
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
                panics.run(|| ctx.tasks().unregister(*this.key));
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
    record_event_with(Level::Error, || {
        Event::error("task.panicked")
            .with_target("haiway::ctx")
            .with("message", panic_message(payload))
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

/// Spawns `future` in the scope of `ctx`; hands it back if the scope has ended.
pub(crate) fn spawn<F>(ctx: &Ctx, future: F) -> Result<Task<F::Output>, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let shared = Arc::new(Shared {
        aborted: AtomicBool::new(false),
        runner: AtomicWaker::new(),
        state: Mutex::new((Output::Pending, None)),
    });
    let runner = |future, key| -> BoxFuture {
        Box::pin(Runner {
            future: Some(future),
            ctx: Some(ctx.clone()),
            shared: shared.clone(),
            key,
            reported: false,
        })
    };
    ctx.tasks()
        .add(shared.clone(), future, runner, ctx.spawner())?;
    Ok(Task { shared })
}

/// A handle to a spawned task: a future of the task's output.
///
/// Dropping the handle detaches the task: it keeps running, and its scope still waits
/// for it. This is the convention of tokio's `JoinHandle` (and of haiway's
/// `ctx.spawn`), not of smol's `Task`, which cancels on drop: work spawned in a scope
/// belongs to the scope, which waits for it, so `ctx::spawn(work);` as a statement is
/// the fire-and-forget form and compiles without a warning. To stop a task, call
/// [`cancel`](Task::cancel).
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

    /// Cancels the task and waits until it has stopped: its future is dropped (inside
    /// its scope) the next time its executor polls it, or at once if it waits. Returns
    /// the task's output if it finished before the cancellation reached it, and `None`
    /// if it was cancelled (here, or earlier by its scope or executor).
    ///
    /// Dropping the returned future does not undo the cancellation.
    ///
    /// # Panics
    ///
    /// Re-raises the task's panic if it panicked before the cancellation reached it.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// Scope::new("job")
    ///     .run(async {
    ///         let forever = ctx::spawn(std::future::pending::<()>());
    ///         assert_eq!(forever.cancel().await, None);
    ///     })
    ///     .await; // the scope does not wait for the cancelled task
    /// # });
    /// ```
    pub async fn cancel(self) -> Option<T> {
        self.shared.aborted.store(true, Ordering::Release);
        self.shared.runner.wake();
        std::future::poll_fn(|cx| {
            let mut st = self.shared.lock();
            match std::mem::replace(&mut st.0, Output::Taken) {
                Output::Pending => {
                    st.0 = Output::Pending;
                    register(&mut st.1, cx.waker());
                    Poll::Pending
                }
                Output::Ready(value) => Poll::Ready(Some(value)),
                Output::Cancelled | Output::Taken => Poll::Ready(None),
                Output::Panicked(payload) => {
                    drop(st);
                    resume_unwind(payload)
                }
            }
        })
        .await
    }
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
