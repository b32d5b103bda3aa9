//! State: typed values a scope provides and every task below it reads.
//!
//! A [`Scope`](crate::Scope) is given values with [`Scope::state`](crate::Scope::state),
//! keyed by their exact type (the last one given for a type wins). Code running in the
//! scope, in scopes nested in it and in tasks spawned there reads them with [`state`],
//! [`with_state`] or [`require_state`]. A nested scope sees its parent's values and may
//! replace one for itself only; [`updating`] does the same for one future, without a new
//! scope.
//!
//! The values sit in a [`StateMap`](super::state_map::StateMap), an immutable array
//! shared by every context that adds nothing to it.

use std::any::{Any, type_name};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::context::Ctx;
use super::panics::FirstPanic;
use super::slot;
use super::state_map::Added;

impl Ctx {
    /// This scope's value of type `T`, if it (or a scope around it) provides one.
    ///
    /// Values are keyed by their exact type: a `Arc<Client>` given to
    /// [`Scope::state`](crate::Scope::state) is read as `state::<Arc<Client>>()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Scope};
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct Config { retries: u32 }
    ///
    /// # futures_lite::future::block_on(async {
    /// let ctx = Scope::new("request")
    ///     .state(Config { retries: 3 })
    ///     .run(async { Ctx::current() })
    ///     .await;
    /// // The handle still reads the scope's state after the scope has finished.
    /// assert_eq!(ctx.state::<Config>().unwrap().retries, 3);
    /// assert!(ctx.state::<String>().is_none());
    /// # });
    /// ```
    #[inline]
    pub fn state<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.state_set().get_arc::<T>()
    }
}

/// The current scope's value of type `T`, or `None` when no scope up the tree provides
/// one, or outside any scope.
///
/// Values are keyed by their exact type: a `Arc<dyn Client>` given to
/// [`Scope::state`](crate::Scope::state) is read as `state::<Arc<dyn Client>>()`. To read
/// without touching a reference count, use [`with_state`].
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
///
/// struct Config { retries: u32 }
///
/// assert!(ctx::state::<Config>().is_none()); // no scope
/// # futures_lite::future::block_on(async {
/// Scope::new("request")
///     .state(Config { retries: 3 })
///     .run(async {
///         assert_eq!(ctx::state::<Config>().unwrap().retries, 3);
///         assert!(ctx::state::<u32>().is_none());
///     })
///     .await;
/// # });
/// ```
#[inline]
pub fn state<T: Any + Send + Sync>() -> Option<Arc<T>> {
    slot::with(|ctx| ctx.and_then(Ctx::state::<T>))
}

/// Whether the current scope has a value of type `T` (`false` outside any scope).
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// let has = Scope::new("job").state(7u8).run(async { ctx::contains_state::<u8>() });
/// assert!(has.await);
/// # });
/// assert!(!ctx::contains_state::<u8>());
/// ```
#[inline]
pub fn contains_state<T: Any + Send + Sync>() -> bool {
    slot::with(|ctx| ctx.is_some_and(|ctx| ctx.state_set().get::<T>().is_some()))
}

/// Runs `f` with a reference to the current scope's value of type `T` (`None` when
/// there is none, or outside any scope) and returns what `f` returns: a read that
/// touches no reference count.
///
/// `f` runs while the current context is borrowed: keep it short. Inside it, reading
/// the context ([`state`], [`Ctx::current`], [`with_state`] again), spawning and
/// recording events work (an event recorded there costs a reference count); polling a
/// scope's future (a `block_on` of one) panics. To keep a value for longer, clone what
/// you need out of it, or use [`state`].
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
///
/// struct Config { retries: u32 }
///
/// # futures_lite::future::block_on(async {
/// Scope::new("request")
///     .state(Config { retries: 3 })
///     .run(async {
///         let retries = ctx::with_state(|config: Option<&Config>| config.map_or(1, |c| c.retries));
///         assert_eq!(retries, 3);
///     })
///     .await;
/// # });
/// assert!(ctx::with_state(|config: Option<&Config>| config.is_none()));
/// ```
#[inline]
pub fn with_state<T: Any + Send + Sync, R>(f: impl FnOnce(Option<&T>) -> R) -> R {
    slot::with(|ctx| f(ctx.and_then(|ctx| ctx.state_set().get::<T>())))
}

/// The current scope's value of type `T`.
///
/// # Panics
///
/// When no scope up the tree provides a `T`, with a message naming the type and the
/// scope, and outside any scope, with a message saying so. Use [`state`] where that can
/// happen.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
///
/// struct Config { retries: u32 }
///
/// # futures_lite::future::block_on(async {
/// Scope::new("request")
///     .state(Config { retries: 3 })
///     .run(async { assert_eq!(ctx::require_state::<Config>().retries, 3) })
///     .await;
/// # });
/// ```
///
/// ```should_panic
/// # futures_lite::future::block_on(async {
/// // panics: "haiway: no state of type `u32` in scope \"request\" ..."
/// haiway::Scope::new("request").run(async { haiway::ctx::require_state::<u32>() }).await;
/// # });
/// ```
#[inline]
#[track_caller]
pub fn require_state<T: Any + Send + Sync>() -> Arc<T> {
    match state::<T>() {
        Some(value) => value,
        None => missing_state::<T>(),
    }
}

#[cold]
#[track_caller]
fn missing_state<T>() -> ! {
    let ty = type_name::<T>();
    match Ctx::try_current() {
        Some(ctx) => panic!(
            "haiway: no state of type `{ty}` in scope \"{}\" (nor in the scopes around it). \
             Provide it with `Scope::new(..).state(value)`, or `ctx::updating(value).run(..)`",
            ctx.name()
        ),
        None if slot::lending() => {
            panic!("haiway: no state of type `{ty}`: no scope is current inside a `Recorder`")
        }
        None => panic!(
            "haiway: no state of type `{ty}`: no scope is current. Wrap this code in \
             `haiway::Scope::new(\"name\").state(value).run(async {{ .. }})`, or use \
             `ctx::state` where running without it is expected"
        ),
    }
}

/// Runs a future in the current scope with `value` added to the scope's state (or
/// replacing the value of its type), without opening a new scope: haiway's
/// `ctx.updating`. Chain [`Updating::state`] for more values, then [`Updating::run`].
///
/// The future keeps the scope's name, id, recorder and task set: tasks it spawns are
/// the scope's tasks, and see the updated state too.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Ctx, Scope};
///
/// #[derive(Debug, PartialEq)]
/// struct Mode(&'static str);
///
/// # futures_lite::future::block_on(async {
/// Scope::new("request")
///     .state(Mode("normal"))
///     .run(async {
///         let id = Ctx::current().id();
///         let (mode, same_scope) = ctx::updating(Mode("dry-run"))
///             .state(5u32)
///             .run(async { (ctx::require_state::<Mode>(), Ctx::current().id() == id) })
///             .await;
///         assert_eq!(*mode, Mode("dry-run"));
///         assert!(same_scope);
///         // Back to what the scope provides.
///         assert_eq!(*ctx::require_state::<Mode>(), Mode("normal"));
///     })
///     .await;
/// # });
/// ```
pub fn updating<T: Any + Send + Sync>(value: T) -> Updating {
    Updating {
        added: Added::default(),
    }
    .state(value)
}

/// Values to run a future with in the current scope: built by [`updating`], run by
/// [`Updating::run`].
///
/// # Examples
///
/// ```
/// let _updating = haiway::ctx::updating(1u8).state("two");
/// ```
#[must_use = "an Updating does nothing until you call `.run(future)` and await it"]
pub struct Updating {
    /// The values, in the order given.
    added: Added,
}

impl Updating {
    /// Adds `value` as well (replacing a value of its type given before).
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    ///
    /// # futures_lite::future::block_on(Scope::new("job").run(async {
    /// let both = ctx::updating(1u8).state(2u16).run(async {
    ///     (*ctx::require_state::<u8>(), *ctx::require_state::<u16>())
    /// });
    /// assert_eq!(both.await, (1, 2));
    /// # }));
    /// ```
    pub fn state<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.added.push(value);
        self
    }

    /// Runs `future` in the current scope with these values over the scope's state.
    ///
    /// # Panics
    ///
    /// Outside any scope: open one with [`Scope::state`](crate::Scope::state) instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    ///
    /// # futures_lite::future::block_on(Scope::new("job").run(async {
    /// let n = ctx::updating(41u32).run(async { *ctx::require_state::<u32>() + 1 });
    /// assert_eq!(n.await, 42);
    /// # }));
    /// ```
    #[track_caller]
    pub fn run<F: Future>(self, future: F) -> Updated<F> {
        let Some(ctx) = Ctx::try_current() else {
            updating_outside_scope()
        };
        let state = ctx.state_set().merged(self.added);
        Updated {
            future: Some(future),
            ctx: Some(ctx.updated(state)),
        }
    }
}

#[cold]
#[track_caller]
fn updating_outside_scope() -> ! {
    panic!(
        "haiway: `ctx::updating(..).run(..)` outside any scope: it updates the current \
         scope's state. Open a scope with `haiway::Scope::new(\"name\").state(value)` instead"
    )
}

impl fmt::Debug for Updating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Updating")
            .field("values", &self.added.len())
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`Updating::run`]: the future, polled with the updated
    /// context current.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, Scope};
    ///
    /// # futures_lite::future::block_on(Scope::new("job").run(async {
    /// let updated: ctx::Updated<_> = ctx::updating(1u8).run(async { 2 });
    /// assert_eq!(updated.await, 2);
    /// # }));
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Updated<F> {
        // The future; `None` once it has finished.
        #[pin]
        future: Option<F>,
        // The updated context; moved into the slot for each poll.
        ctx: Option<Ctx>,
    }

    impl<F> PinnedDrop for Updated<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // An unfinished future is dropped with its context current, as a scope's
            // body is.
            let mut future = this.future;
            if future.is_some() {
                let mut panics = FirstPanic::default();
                slot::drop_in(this.ctx, &mut panics, || future.set(None));
                panics.raise();
            }
        }
    }
}

impl<F: Future> Future for Updated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("haiway: ctx::Updated polled after it completed");
        let _entered = slot::enter(this.ctx);
        let output = std::task::ready!(future.poll(cx));
        // Drop the finished future with the context current, like any other poll.
        this.future.set(None);
        Poll::Ready(output)
    }
}

impl<F> fmt::Debug for Updated<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Updated")
            .field("ctx", &self.ctx)
            .field("finished", &self.future.is_none())
            .finish()
    }
}
