//! Spawning: [`Ctx::spawn`], [`spawn`] and their `try_` forms, and [`SpawnError`].

use std::fmt;
use std::future::Future;

use super::background::Background;
use super::context::Ctx;
use super::slot;
use super::task::{self, Task};

impl Ctx {
    /// Spawns `future` as a task of this scope and returns its handle.
    ///
    /// The task runs with this `Ctx` current, on the scope's spawner, or, when no scope
    /// up the tree has one, driven by the scope itself alongside its body. The scope
    /// does not finish before the task does.
    ///
    /// # Panics
    ///
    /// If this `Ctx`'s scope has already finished. Use [`Ctx::try_spawn`] where that can
    /// happen.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// let out = Scope::new("job")
    ///     .run(async { Ctx::current().spawn(async { 1 + 1 }).await })
    ///     .await;
    /// assert_eq!(out, 2);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.try_spawn(future) {
            Ok(task) => task,
            Err(err) => spawn_failed(&err),
        }
    }

    /// Spawns `future` as a task of this scope, or hands it back in an error if the
    /// scope has already finished.
    ///
    /// # Errors
    ///
    /// [`SpawnErrorKind::ScopeEnded`] when the scope has finished or its future was
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx::SpawnErrorKind, Ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// let ctx = Scope::new("job").run(async { Ctx::current() }).await;
    /// let err = ctx.try_spawn(async {}).unwrap_err();
    /// assert_eq!(err.kind(), SpawnErrorKind::ScopeEnded);
    /// # });
    /// ```
    pub fn try_spawn<F>(&self, future: F) -> Result<Task<F::Output>, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        task::spawn(self, future)
            .map_err(|future| SpawnError::new(SpawnErrorKind::ScopeEnded, future))
    }
}

#[cold]
#[track_caller]
fn spawn_failed<F>(err: &SpawnError<F>) -> ! {
    panic!("haiway: {err}. Use `try_spawn` to handle this case")
}

/// Spawns `future` in the current scope; see [`Ctx::spawn`].
///
/// Outside any scope, the task runs on the
/// [process-wide background owner](crate::ctx::Background::global), as haiway's
/// `ctx.spawn` falls back to its background group: see
/// [the module docs](crate::ctx#outside-a-scope).
///
/// # Panics
///
/// If the current `Ctx`'s scope has already finished (a `Ctx` kept past its scope and
/// made current again). Use [`try_spawn`] where that can happen.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// let out = Scope::new("job").run(async { ctx::spawn(async { 3 }).await }).await;
/// assert_eq!(out, 3);
/// // Outside any scope: on the process-wide background owner.
/// assert_eq!(ctx::spawn(async { 4 }).await, 4);
/// # });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match try_spawn(future) {
        Ok(task) => task,
        Err(err) => spawn_failed(&err),
    }
}

/// Spawns `future` in the current scope, or hands it back in an error when the
/// current scope has already finished. Outside any scope, like [`spawn`], the task
/// runs on the [process-wide background owner](crate::ctx::Background::global).
///
/// # Errors
///
/// [`SpawnErrorKind::ScopeEnded`] when the current `Ctx`'s scope has finished.
///
/// # Examples
///
/// ```
/// use haiway::ctx;
///
/// # futures_lite::future::block_on(async {
/// let task = ctx::try_spawn(async { 1 }).expect("outside a scope too");
/// assert_eq!(task.await, 1);
/// # });
/// ```
pub fn try_spawn<F>(future: F) -> Result<Task<F::Output>, SpawnError<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Ctx::try_current() {
        Some(ctx) => ctx.try_spawn(future),
        None => Ok(Background::global().spawn(future)),
    }
}

/// Why a spawn was refused. Hands the future back.
///
/// # Examples
///
/// ```
/// use haiway::{ctx::SpawnErrorKind, Ctx, Scope};
///
/// # futures_lite::future::block_on(async {
/// let ended = Scope::new("job").run(async { Ctx::current() }).await;
/// let err = ended.try_spawn(async { 1 }).unwrap_err();
/// assert_eq!(err.kind(), SpawnErrorKind::ScopeEnded);
/// let _future = err.into_future();
/// # });
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
/// assert_eq!(format!("{:?}", SpawnErrorKind::ScopeEnded), "ScopeEnded");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnErrorKind {
    /// The scope of this `Ctx` has already finished (or its future was dropped).
    ScopeEnded,
}

impl<F> SpawnError<F> {
    /// Refused for `kind`, handing `future` back.
    pub(crate) fn new(kind: SpawnErrorKind, future: F) -> Self {
        SpawnError { kind, future }
    }

    /// Why the spawn was refused.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let ended = haiway::Scope::new("job").run(async { haiway::Ctx::current() }).await;
    /// let err = ended.try_spawn(async {}).unwrap_err();
    /// assert_eq!(err.kind(), haiway::ctx::SpawnErrorKind::ScopeEnded);
    /// # });
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
    /// let ended = haiway::Scope::new("job").run(async { haiway::Ctx::current() }).await;
    /// let future = ended.try_spawn(async { 5 }).unwrap_err().into_future();
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
            SpawnErrorKind::ScopeEnded => f.write_str(
                "cannot spawn: this Ctx's scope has already finished; spawn from a scope that is still running",
            ),
        }
    }
}

impl<F> std::error::Error for SpawnError<F> {}

/// A mark of where spawning stands in the current scope: its id XOR how many tasks
/// were spawned in it so far (0 outside any scope). Two different marks taken by one
/// computation mean it may have spawned into the scope it started in (or moved to
/// another scope) in between. Within one scope the mark changes with every spawn;
/// two scopes (ids are random) give equal marks with probability 2^-64. One word, so
/// a call's lead stays small.
#[inline]
pub(crate) fn spawn_mark() -> u64 {
    slot::with(|ctx| ctx.map_or(0, |ctx| ctx.id().get() ^ ctx.tasks().spawned()))
}
