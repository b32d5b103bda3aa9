//! [`Scope`]: the builder of a context, and [`Run`]: the future that runs a body in it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::background::Background;
use super::context::Ctx;
use super::owner::OwnerChoice;
use super::panics::{FirstPanic, drop_each};
use super::slot;
use super::state_map::{Added, StateMap};
use super::task_set::TaskSet;
use crate::event::{Recorder, SharedRecorder};
use crate::runtime::{BoxFuture, Spawn};

/// Builds a scope: a name, and optionally a spawner, a recorder and state.
///
/// [`Scope::run`] runs a future with the scope's [`Ctx`] current. A scope opened
/// while another is current is nested in it: it shares its trace id, knows its parent,
/// and inherits the parent's spawner and recorder unless it sets its own, and the
/// parent's [state](Scope::state) under its own.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Ctx, MemoryRecorder, Scope};
///
/// let recorder = MemoryRecorder::new();
/// # futures_lite::future::block_on(async {
/// Scope::new("request")
///     .recorder(recorder.clone())
///     .run(async {
///         Scope::new("db")
///             .run(async {
///                 assert_eq!(Ctx::current().parent().unwrap().name(), "request");
///                 ctx::record_event(haiway::Event::debug("query"));
///             })
///             .await;
///     })
///     .await;
/// # });
/// assert_eq!(recorder.events()[0].scope(), "db");
/// ```
#[must_use = "a Scope does nothing until you call `.run(future)` and await it"]
pub struct Scope {
    /// The scope's name.
    name: Arc<str>,
    /// Set explicitly; otherwise inherited.
    spawner: Option<Arc<dyn Spawn>>,
    /// Set explicitly; otherwise inherited.
    recorder: Option<SharedRecorder>,
    /// Typed values given to this scope, over the parent's.
    state: Added,
    /// Owns the background tasks spawned below it.
    background: bool,
    /// Hands the background tasks spawned below it to this owner.
    owner: Option<Background>,
}

impl Scope {
    /// A scope named `name`, inheriting everything from the scope it opens in.
    ///
    /// # Examples
    ///
    /// ```
    /// let _scope = haiway::Scope::new("request");
    /// ```
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Scope {
            name: name.into(),
            spawner: None,
            recorder: None,
            state: Added::default(),
            background: false,
            owner: None,
        }
    }

    /// Makes this scope a background owner (typically the application's scope): the
    /// tasks spawned below it with [`ctx::spawn_background`](crate::ctx::spawn_background)
    /// belong to it, not to the scope that spawned them. It runs them on its spawner
    /// (if it has one), waits for them before finishing, and cancels them if its
    /// future is dropped; [`ctx::background`](crate::ctx::background) returns its
    /// handle, whose [`shutdown`](crate::ctx::Background::shutdown) ends them
    /// gracefully. Without a marked scope up the tree, background tasks go to the
    /// [process-wide owner](crate::ctx::Background::global).
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let sent = Arc::new(AtomicBool::new(false));
    /// # futures_lite::future::block_on(async {
    /// let flag = sent.clone();
    /// Scope::new("app")
    ///     .background()
    ///     .run(async move {
    ///         Scope::new("request")
    ///             .run(async move {
    ///                 ctx::spawn_background(async move { flag.store(true, Ordering::SeqCst) });
    ///             })
    ///             .await;
    ///     })
    ///     .await; // the app scope waits for its background tasks
    /// # });
    /// assert!(sent.load(Ordering::SeqCst));
    /// ```
    pub fn background(mut self) -> Self {
        self.background = true;
        self.owner = None;
        self
    }

    /// Hands the background tasks spawned below this scope to `owner` (and not to the
    /// owner of the scope it opens in): for a scope that runs outside the owner's,
    /// such as a request scope that a server's connection task opens while the
    /// application's scope, marked [`Scope::background`], holds the owner. The scope
    /// keeps a trace id of its own. The last of `background` and `background_owner`
    /// wins.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let done = Arc::new(AtomicBool::new(false));
    /// let d = done.clone();
    /// # futures_lite::future::block_on(async {
    /// Scope::new("app")
    ///     .background()
    ///     .run(async move {
    ///         let owner = ctx::background();
    ///         // A request scope opened outside the app's (here, on another thread).
    ///         let request = Scope::new("request").background_owner(owner).run(async move {
    ///             ctx::spawn_background(async move { d.store(true, Ordering::SeqCst) });
    ///         });
    ///         std::thread::spawn(move || futures_lite::future::block_on(request))
    ///             .join()
    ///             .unwrap();
    ///     })
    ///     .await; // the app scope waits for the request's background task
    /// # });
    /// assert!(done.load(Ordering::SeqCst));
    /// ```
    pub fn background_owner(mut self, owner: Background) -> Self {
        self.background = false;
        self.owner = Some(owner);
        self
    }

    /// Runs the tasks spawned in this scope (and in scopes nested in it that do not set
    /// their own) on `spawner`.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    /// use std::sync::Arc;
    ///
    /// let ex = Arc::new(async_executor::Executor::new());
    /// # futures_lite::future::block_on(ex.run(async {
    /// let out = Scope::new("job")
    ///     .spawner(ex.clone())
    ///     .run(async { ctx::spawn(async { 5 }).await })
    ///     .await;
    /// assert_eq!(out, 5);
    /// # }));
    /// ```
    ///
    /// An `Arc<dyn Spawn>` is kept as it is (no allocation): share one among many
    /// scopes, a scope per request say, that way.
    pub fn spawner(mut self, spawner: impl Spawn) -> Self {
        self.spawner = Some(share_spawner(spawner));
        self
    }

    /// Sends the events recorded in this scope (and in scopes nested in it that do not
    /// set their own) to `recorder`.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{MemoryRecorder, Scope};
    ///
    /// let recorder = MemoryRecorder::new();
    /// let _scope = Scope::new("job").recorder(recorder.clone());
    /// ```
    ///
    /// An `Arc<dyn Recorder>` is kept as it is (no allocation): share one among many
    /// scopes, a scope per request say, that way. (A [`PreparedEvent`](crate::event::PreparedEvent)
    /// keeps what such a recorder prepares under the type `Arc<dyn Recorder>`.)
    pub fn recorder(mut self, recorder: impl Recorder) -> Self {
        self.recorder = Some(SharedRecorder::new(recorder));
        self
    }

    /// Provides `value` to the code of this scope, of scopes nested in it and of the
    /// tasks spawned there, keyed by its exact type `T`: they read it with
    /// [`ctx::state`](crate::ctx::state), [`ctx::with_state`](crate::ctx::with_state),
    /// [`ctx::require_state`](crate::ctx::require_state) or [`Ctx::state`].
    ///
    /// The last value given for a type wins, and a value replaces the parent scope's
    /// value of its type for this scope only. Any `Send + Sync + 'static` type will do:
    /// configuration, a client, or a trait object behind an `Arc` (read back as
    /// `state::<Arc<dyn Trait>>()`), which is how a test scopes in a fake.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    /// use std::sync::Arc;
    ///
    /// trait Clock: Send + Sync {
    ///     fn now(&self) -> u64;
    /// }
    /// struct Fixed(u64);
    /// impl Clock for Fixed {
    ///     fn now(&self) -> u64 { self.0 }
    /// }
    ///
    /// # futures_lite::future::block_on(async {
    /// Scope::new("request")
    ///     .state(Arc::new(Fixed(5)) as Arc<dyn Clock>)
    ///     .state("first")
    ///     .state("second") // the same type: replaces "first"
    ///     .run(async {
    ///         assert_eq!(ctx::require_state::<Arc<dyn Clock>>().now(), 5);
    ///         assert_eq!(*ctx::require_state::<&str>(), "second");
    ///         Scope::new("nested")
    ///             .state("nested")
    ///             .run(async { assert_eq!(*ctx::require_state::<&str>(), "nested") })
    ///             .await;
    ///         assert_eq!(*ctx::require_state::<&str>(), "second");
    ///     })
    ///     .await;
    /// # });
    /// ```
    pub fn state<T: std::any::Any + Send + Sync>(mut self, value: T) -> Self {
        self.state.push(value);
        self
    }

    /// Runs `future` with this scope's [`Ctx`] current.
    ///
    /// The scope is nested in the scope current when `run` is called, if any. The
    /// returned future completes with the body's output once the body **and every task
    /// spawned in the scope** (including tasks spawned by those tasks) have finished.
    /// Dropping it before then cancels the unfinished tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let done = Arc::new(AtomicUsize::new(0));
    /// # futures_lite::future::block_on(async {
    /// let d = done.clone();
    /// Scope::new("job")
    ///     .run(async move {
    ///         for _ in 0..3 {
    ///             let d = d.clone();
    ///             ctx::spawn(async move { d.fetch_add(1, Ordering::SeqCst); }).detach();
    ///         }
    ///     })
    ///     .await;
    /// # });
    /// assert_eq!(done.load(Ordering::SeqCst), 3);
    /// ```
    pub fn run<F: Future>(self, future: F) -> Run<F> {
        let parent = Ctx::try_current();
        let spawner = self
            .spawner
            .or_else(|| parent.as_ref().and_then(|p| p.spawner().cloned()));
        let recorder = self
            .recorder
            .or_else(|| parent.as_ref().and_then(|p| p.recorder().cloned()));
        // The parent's state, shared as it is when this scope adds nothing.
        let state = match &parent {
            Some(p) => p.state_set().merged(self.state),
            None => StateMap::default().merged(self.state),
        };
        let owner = match (self.background, self.owner) {
            (true, _) => OwnerChoice::Own,
            (false, Some(owner)) => OwnerChoice::Given(owner.owner().clone()),
            (false, None) => OwnerChoice::Inherit,
        };
        let ctx = Ctx::new(self.name, parent, spawner, recorder, state, owner);
        ctx.open_span();
        let drives_tasks = ctx.spawner().is_none();
        let owned = if self.background {
            ctx.background_owner().map(|owner| owner.tasks.clone())
        } else {
            None
        };
        Run {
            owned,
            tasks: ctx.tasks().clone(),
            ctx: Some(ctx),
            body: Some(future),
            output: None,
            local: None,
            drives_tasks,
            scratch: Vec::new(),
            finished: false,
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("name", &self.name)
            .field("spawner", &self.spawner.is_some())
            .field("recorder", &self.recorder.is_some())
            .field("state", &self.state.len())
            .field("background", &self.background)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`Scope::run`].
    ///
    /// Completes with the body's output once the body and all the scope's tasks have
    /// finished. Dropping it cancels the scope's unfinished tasks.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Run<F: Future> {
        // The body; `None` once it has finished.
        #[pin]
        body: Option<F>,
        // The body's output, kept until the tasks are done.
        output: Option<F::Output>,
        // The scope's context; moved into the slot for each poll.
        ctx: Option<Ctx>,
        // The scope's task set (also reachable through `ctx`, kept here so it is
        // available while `ctx` sits in the slot).
        tasks: Arc<TaskSet>,
        // For a background owner: its background tasks, waited for at the end.
        owned: Option<Arc<TaskSet>>,
        // Tasks this scope drives itself (no spawner anywhere up the tree).
        // (made when the first one is: a scope with a spawner never allocates it).
        local: Option<FuturesUnordered<BoxFuture>>,
        // Whether this scope drives its own tasks.
        drives_tasks: bool,
        // Reused buffer for taking queued tasks.
        scratch: Vec<BoxFuture>,
        // Returned its output: polling again is a bug.
        finished: bool,
    }

    impl<F: Future> PinnedDrop for Run<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let finished = *this.finished;
            // Every step runs even if one before it panics (destructors and wakers are
            // user code); the first panic is raised again at the end.
            let mut panics = FirstPanic::default();
            // The tasks are cancelled first, then a cancelled body is dropped with its
            // own Ctx current, as a finished one is: its destructors record and spawn
            // in their scope, and what they spawn is cancelled from the start.
            if !finished {
                this.tasks.abort_all(&mut panics, *this.drives_tasks);
            }
            let mut body = this.body;
            if body.is_some() {
                slot::drop_in(this.ctx, &mut panics, || body.set(None));
            }
            // A finished body's output not yet returned (its tasks were running): in
            // its scope too, and inside the drop's catch.
            if this.output.is_some() {
                let output = this.output;
                slot::drop_in(this.ctx, &mut panics, || drop(output.take()));
            }
            // Drop the tasks this scope drove (each runner enters its own Ctx), so
            // nothing outlives the scope: each one, even if dropping another panics.
            // Before the set closes, so their destructors may spawn as the body's do.
            if let Some(local) = this.local.take() {
                drop_each(&mut panics, local);
            }
            if !finished {
                this.tasks.cancel_all(&mut panics);
                if let Some(owned) = this.owned.as_ref() {
                    owned.cancel_all(&mut panics);
                }
                panics.run(|| end_span(this.ctx));
            }
            panics.raise();
        }
    }
}

impl<F: Future> Future for Run<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        assert!(
            !*this.finished,
            "haiway: Scope::run future polled after it completed"
        );

        // 1. The body, with the scope's Ctx current.
        if let Some(body) = this.body.as_mut().as_pin_mut() {
            let polled = {
                let _entered = slot::enter(this.ctx);
                body.poll(cx)
            };
            if let Poll::Ready(output) = polled {
                *this.output = Some(output);
                // Drop the finished body with the Ctx current, like any other poll.
                let _entered = slot::enter(this.ctx);
                this.body.set(None);
            }
        }

        // 2. The tasks this scope drives itself, concurrently with the body.
        if *this.drives_tasks {
            // Tasks may spawn tasks while polled: pick those up too, but a bounded
            // number of rounds, then yield so one scope cannot starve its executor.
            for round in 0.. {
                this.tasks.take_queued(cx.waker(), this.scratch);
                let picked_up = !this.scratch.is_empty();
                if picked_up {
                    let local = this.local.get_or_insert_with(FuturesUnordered::new);
                    local.extend(this.scratch.drain(..));
                }
                if let Some(local) = this.local.as_mut() {
                    while let Poll::Ready(Some(())) = local.poll_next_unpin(cx) {}
                }
                if !picked_up {
                    break;
                }
                if round == 16 {
                    cx.waker().wake_by_ref();
                    break;
                }
            }
        }

        // 3. Done when the body is done and no task is left (for a background owner,
        // no background task either).
        if this.output.is_some()
            && this.tasks.try_close(cx.waker())
            && this
                .owned
                .as_ref()
                .is_none_or(|owned| owned.try_close(cx.waker()))
        {
            *this.finished = true;
            end_span(this.ctx);
            return Poll::Ready(this.output.take().expect("checked above"));
        }
        Poll::Pending
    }
}

/// `spawner` behind an `Arc`: as it is when it already is an `Arc<dyn Spawn>`.
fn share_spawner<S: Spawn>(spawner: S) -> Arc<dyn Spawn> {
    let mut spawner = Some(spawner);
    match (&mut spawner as &mut dyn Any).downcast_mut::<Option<Arc<dyn Spawn>>>() {
        Some(shared) => shared.take().expect("set above"),
        None => Arc::new(spawner.take().expect("set above")),
    }
}

/// Tells the scope's span, if any, that the scope is over.
fn end_span(ctx: &Option<Ctx>) {
    if let Some(span) = ctx.as_ref().and_then(Ctx::span) {
        span.end();
    }
}

impl<F: Future> fmt::Debug for Run<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("ctx", &self.ctx)
            .field("body_finished", &self.body.is_none())
            .field("tasks", &self.tasks)
            .finish_non_exhaustive()
    }
}
