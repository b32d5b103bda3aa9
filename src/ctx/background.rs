//! Background work: [`spawn_background`], the owners of background tasks
//! ([`Background`], [`Scope::background`](crate::Scope::background)) and their
//! graceful [`Shutdown`].
//!
//! A background task keeps the identity of the scope that spawned it (its name and
//! trace id, with the spawning scope as its parent; its recorder, span and state) but belongs to an *owner*: the nearest scope up
//! the tree marked [`Scope::background`](crate::Scope::background), or the
//! process-wide owner ([`Background::global`]). Its spawning scope does not wait for
//! it and does not cancel it when dropped (a client that disconnects drops its request
//! scope); its owner's scope waits for it before finishing, and its owner's
//! [`shutdown`](Background::shutdown) waits for it up to a timeout, then cuts it off.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use event_listener::{Event as Notify, EventListener};

use super::context::Ctx;
use super::owner::Owner;
use super::panics::FirstPanic;
use super::slot;
use super::task::{self, Task};
use crate::event::{Event, Level};
use crate::runtime::Spawn;

/// An owner of background tasks: a scope marked
/// [`Scope::background`](crate::Scope::background), or the process-wide owner. Cheap to
/// clone (one reference count).
///
/// Get the nearest one with [`ctx::background`](crate::ctx::background), spawn on it
/// with [`spawn`](Background::spawn) (or [`spawn_background`]), and end it
/// gracefully with [`shutdown`](Background::shutdown).
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
/// use std::time::Duration;
///
/// # futures_lite::future::block_on(async {
/// Scope::new("app")
///     .background()
///     .run(async {
///         Scope::new("request")
///             .run(async { ctx::spawn_background(async { /* audit */ }).detach() })
///             .await; // the request does not wait for the audit
///         let report = ctx::background().shutdown(Duration::from_secs(5)).await;
///         assert_eq!(report.cut_off, 0);
///     })
///     .await;
/// # });
/// ```
#[derive(Clone)]
pub struct Background {
    /// Shared by every clone.
    inner: Arc<Owner>,
}

impl Background {
    /// The owner behind this handle.
    pub(crate) fn owner(&self) -> &Arc<Owner> {
        &self.inner
    }

    /// The handle of `owner`.
    pub(crate) fn from_owner(owner: Arc<Owner>) -> Background {
        Background { inner: owner }
    }

    /// The process-wide owner: where background tasks go when no scope up the tree is
    /// marked [`Scope::background`](crate::Scope::background), and where
    /// [`ctx::spawn`](crate::ctx::spawn) runs a task outside any scope.
    ///
    /// Its tasks run on the spawner of the scope that spawned them, or, without one,
    /// on a thread the library starts the first time it is needed. Nothing waits for
    /// them at the end of the process: call [`shutdown`](Background::shutdown) on it
    /// before exiting (it records its report in the scope that awaits it).
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::ctx::{self, Background};
    /// use std::time::Duration;
    ///
    /// # futures_lite::future::block_on(async {
    /// let value = ctx::spawn_background(async { 7 }).await; // outside any scope
    /// assert_eq!(value, 7);
    /// let report = Background::global().shutdown(Duration::from_secs(1)).await;
    /// assert_eq!(report.cut_off, 0);
    /// # });
    /// ```
    pub fn global() -> Background {
        static GLOBAL: OnceLock<Background> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Background {
                inner: Arc::new(Owner::global()),
            })
            .clone()
    }

    /// How many of this owner's background tasks are alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// Scope::new("app")
    ///     .background()
    ///     .run(async { assert_eq!(ctx::background().running(), 0) })
    ///     .await;
    /// # });
    /// ```
    pub fn running(&self) -> usize {
        self.inner.tasks.live()
    }

    /// Spawns `future` as a background task of this owner, with the current scope's
    /// name, trace id, recorder, span and state (in a scope of its own whose parent is
    /// the current one); see
    /// [`spawn_background`].
    ///
    /// It runs on the owner's spawner, else the current scope's, else on the library's
    /// background thread. If the owner's scope has already finished, the task goes to
    /// the [process-wide owner](Background::global): background work is never refused.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// let out = Scope::new("app")
    ///     .background()
    ///     .run(async { ctx::background().spawn(async { 2 + 2 }).await })
    ///     .await;
    /// assert_eq!(out, 4);
    /// # });
    /// ```
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let origin = Ctx::try_current();
        let spawner = self
            .inner
            .spawner
            .clone()
            .or_else(|| origin.as_ref().and_then(|ctx| ctx.spawner().cloned()))
            .unwrap_or_else(library_spawner);
        let ctx = Ctx::for_background(
            origin.as_ref(),
            self.inner.tasks.clone(),
            spawner,
            Some(self.inner.clone()),
        );
        match task::spawn(&ctx, future) {
            Ok(task) => task,
            // Only an owner scope's set closes (when the scope ends); the
            // process-wide owner's never does.
            Err(future) => Background::global().spawn(future),
        }
    }

    /// Ends this owner's background work gracefully: waits until none of its tasks
    /// is alive, or `timeout` has passed; then cancels the tasks still alive (each is
    /// dropped the next time its executor polls it), records a
    /// `background.shutdown` event (info, or warning when tasks were cut off, with the
    /// attributes `owner`, `waited_for` and `cut_off`) in the owner's scope (or, for an
    /// owner without a recorder, in the scope that awaits the shutdown), and reports.
    ///
    /// Tasks spawned while it waits are waited for too. The owner still accepts tasks
    /// afterwards. No timer runtime is needed: the timeout is kept by a short-lived
    /// thread, started only if tasks are still alive when the shutdown is first polled.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    /// use std::time::Duration;
    ///
    /// # futures_lite::future::block_on(async {
    /// Scope::new("app")
    ///     .background()
    ///     .run(async {
    ///         ctx::spawn_background(std::future::pending::<()>()).detach();
    ///         let report = ctx::background().shutdown(Duration::ZERO).await;
    ///         assert_eq!((report.waited_for, report.cut_off), (1, 1));
    ///     })
    ///     .await;
    /// # });
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> Shutdown {
        Shutdown {
            owner: self.clone(),
            timeout,
            waited_for: None,
            deadline: None,
            idle: None,
            passed: None,
            done: false,
        }
    }

    /// Records `event` in the owner's scope, or else in the current one.
    fn record(&self, event: &Event) {
        match &self.inner.home {
            Some((info, recorder)) => {
                if slot::ask(|| recorder.get().enabled(event.level())) {
                    slot::lend(|_| recorder.record(info, event, None));
                }
            }
            None => {
                if let Some(ctx) = Ctx::try_current() {
                    ctx.record_event(event);
                }
            }
        }
    }
}

impl fmt::Debug for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Background")
            .field("owner", &self.inner.name)
            .field("running", &self.running())
            .finish_non_exhaustive()
    }
}

/// Spawns `future` as a background task: work that outlives the current scope, such as
/// an audit line sent after the response.
///
/// The task keeps the current scope's identity for its events (name and trace id; it
/// runs in a scope of its own whose parent is the current one), its recorder, span and
/// state, but belongs to the nearest scope up the tree marked
/// [`Scope::background`](crate::Scope::background), or to the
/// [process-wide owner](Background::global). The current scope neither waits for it
/// nor cancels it when dropped; its owner's scope waits for it before finishing, and
/// [`Background::shutdown`] waits for it up to a timeout. Outside any scope it runs on
/// the process-wide owner, as [`ctx::spawn`](crate::ctx::spawn) does there.
///
/// The returned handle can be awaited; dropping it (or
/// [`detach`](Task::detach)) lets the task run on.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Ctx, MemoryRecorder, Scope};
///
/// let recorder = MemoryRecorder::new();
/// # futures_lite::future::block_on(async {
/// Scope::new("app")
///     .background()
///     .run(async {
///         let audit = Scope::new("request")
///             .recorder(recorder.clone())
///             .run(async {
///                 ctx::spawn_background(async {
///                     ctx::record_event(haiway::Event::info("audit"));
///                     Ctx::current().name().to_owned()
///                 })
///             })
///             .await; // returns at once: the request does not wait for it
///         assert_eq!(audit.await, "request");
///     })
///     .await;
/// # });
/// assert_eq!(recorder.events()[0].scope(), "request");
/// ```
pub fn spawn_background<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    background().spawn(future)
}

/// The nearest background owner: the nearest scope up the tree marked
/// [`Scope::background`](crate::Scope::background), or the
/// [process-wide owner](Background::global) (also outside any scope).
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// Scope::new("app")
///     .background()
///     .run(async {
///         let owner = ctx::background();
///         assert_eq!(format!("{owner:?}"), r#"Background { owner: "app", running: 0, .. }"#);
///     })
///     .await;
/// # });
/// ```
pub fn background() -> Background {
    slot::with(|ctx| ctx.and_then(|ctx| ctx.background_owner().cloned()))
        .map_or_else(Background::global, Background::from_owner)
}

/// What a [`Background::shutdown`] found.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
/// use std::time::Duration;
///
/// # futures_lite::future::block_on(async {
/// let report = Scope::new("app")
///     .background()
///     .run(async { ctx::background().shutdown(Duration::from_secs(1)).await })
///     .await;
/// assert_eq!((report.waited_for, report.cut_off), (0, 0));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// How many tasks were alive when the shutdown started.
    pub waited_for: usize,
    /// How many tasks were still alive at the timeout, and were cancelled.
    pub cut_off: usize,
}

/// The future returned by [`Background::shutdown`]: completes with a
/// [`ShutdownReport`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # futures_lite::future::block_on(async {
/// let shutdown = haiway::Scope::new("app")
///     .background()
///     .run(async { haiway::ctx::background().shutdown(Duration::from_secs(1)) })
///     .await;
/// assert_eq!(shutdown.await.cut_off, 0);
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Shutdown {
    /// The owner being shut down.
    owner: Background,
    /// How long to wait for its tasks.
    timeout: Duration,
    /// Tasks alive at the first poll.
    waited_for: Option<usize>,
    /// The timeout's thread, started at the first poll that has tasks to wait for.
    deadline: Option<Deadline>,
    /// Notified when the owner's last task finishes.
    idle: Option<EventListener>,
    /// Notified when the timeout has passed.
    passed: Option<EventListener>,
    /// Returned its report.
    done: bool,
}

impl Future for Shutdown {
    type Output = ShutdownReport;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ShutdownReport> {
        let this = &mut *self;
        assert!(!this.done, "haiway: Shutdown polled after it completed");
        let tasks = this.owner.inner.tasks.clone();
        let waited_for = *this.waited_for.get_or_insert_with(|| tasks.live());
        loop {
            if tasks.live() == 0 {
                return Poll::Ready(this.finish(waited_for, 0));
            }
            if this.timeout.is_zero() || this.deadline.as_ref().is_some_and(Deadline::passed) {
                let mut panics = FirstPanic::default();
                let cut_off = tasks.cut_off(&mut panics);
                let report = this.finish(waited_for, cut_off);
                panics.raise();
                return Poll::Ready(report);
            }
            let deadline = this
                .deadline
                .get_or_insert_with(|| Deadline::start(this.timeout));
            // A listener first, then the condition again (above), then wait.
            let Some(idle) = &mut this.idle else {
                this.idle = Some(tasks.listen_idle());
                continue;
            };
            let Some(passed) = &mut this.passed else {
                this.passed = Some(deadline.listen());
                continue;
            };
            if Pin::new(idle).poll(cx).is_ready() {
                this.idle = None;
                continue;
            }
            if Pin::new(passed).poll(cx).is_ready() {
                this.passed = None;
                continue;
            }
            return Poll::Pending;
        }
    }
}

impl Shutdown {
    /// Records the report and returns it.
    fn finish(&mut self, waited_for: usize, cut_off: usize) -> ShutdownReport {
        self.done = true;
        self.deadline = None;
        let level = if cut_off == 0 {
            Level::Info
        } else {
            Level::Warning
        };
        let event = Event::new(level, "background.shutdown")
            .with_target("haiway::ctx")
            .with("owner", self.owner.inner.name.clone())
            .with("waited_for", waited_for)
            .with("cut_off", cut_off);
        self.owner.record(&event);
        ShutdownReport {
            waited_for,
            cut_off,
        }
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("owner", &self.owner)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A timeout kept by a thread of its own (no timer runtime needed): it notifies when
/// the time has passed, and ends early when the `Deadline` is dropped.
struct Deadline {
    /// Shared with the thread.
    state: Arc<DeadlineState>,
}

/// What a [`Deadline`] shares with its thread.
struct DeadlineState {
    /// (the time has passed, the deadline was dropped).
    flags: Mutex<(bool, bool)>,
    /// Wakes the thread when the deadline is dropped.
    dropped: Condvar,
    /// Notified when the time has passed.
    passed: Notify,
}

impl Deadline {
    /// Starts the thread. If no thread can be started, the time has passed at once.
    fn start(timeout: Duration) -> Deadline {
        let state = Arc::new(DeadlineState {
            flags: Mutex::new((false, false)),
            dropped: Condvar::new(),
            passed: Notify::new(),
        });
        let shared = state.clone();
        let started = std::thread::Builder::new()
            .name("haiway-shutdown-timeout".into())
            .spawn(move || {
                let end = Instant::now().checked_add(timeout);
                let mut flags = shared.flags.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    if flags.1 {
                        return;
                    }
                    let now = Instant::now();
                    let left = match end {
                        Some(end) if end > now => end - now,
                        Some(_) => break,
                        // Too far to represent: never passes.
                        None => Duration::from_secs(u32::MAX.into()),
                    };
                    flags = shared
                        .dropped
                        .wait_timeout(flags, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                flags.0 = true;
                drop(flags);
                shared.passed.notify(usize::MAX);
            });
        if started.is_err() {
            state.flags.lock().unwrap_or_else(PoisonError::into_inner).0 = true;
        }
        Deadline { state }
    }

    /// Whether the time has passed.
    fn passed(&self) -> bool {
        self.state
            .flags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// A listener notified when the time passes.
    fn listen(&self) -> EventListener {
        self.state.passed.listen()
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.state
            .flags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1 = true;
        self.state.dropped.notify_one();
    }
}

/// The spawner of the library's background thread: an `async_executor` run by one
/// thread, started the first time a background task has no spawner to run on.
fn library_spawner() -> Arc<dyn Spawn> {
    static SPAWNER: OnceLock<Arc<dyn Spawn>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let executor: &'static async_executor::Executor<'static> =
                Box::leak(Box::new(async_executor::Executor::new()));
            std::thread::Builder::new()
                .name("haiway-background".into())
                .spawn(move || block_on(executor.run(std::future::pending::<()>())))
                .expect(
                    "haiway: could not start the background thread for a task with no \
                     spawner; give the scope a spawner (`Scope::spawner`)",
                );
            Arc::new(executor)
        })
        .clone()
}

/// Runs `future` on this thread until it completes, parking while it waits.
fn block_on<F: Future>(future: F) -> F::Output {
    /// Unparks the blocked thread.
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// Spawns work that must not be lost when its scope is dropped (a cache's backend
/// write): on the nearest scope marked [`Scope::background`](crate::Scope::background)
/// if there is one, else in the current scope; outside any scope, or in a scope that
/// has ended, it hands `future` back for the caller to await.
pub(crate) fn spawn_kept<F>(future: F) -> Result<Task<F::Output>, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Ctx::try_current() {
        None => Err(future),
        Some(ctx) => match ctx.background_owner() {
            Some(owner) => Ok(Background::from_owner(owner.clone()).spawn(future)),
            None => ctx
                .try_spawn(future)
                .map_err(super::SpawnError::into_future),
        },
    }
}
