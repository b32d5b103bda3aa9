//! [`Spawn`]: what a scope needs from an executor, and the executors that have it
//! without an adapter (closures, async-executor's `Executor`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, `Send` future with no output: what a [`Spawn`] receives.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs futures in the background: the one thing a scope needs from an executor.
///
/// The spawner must poll the future to completion (or drop it when the executor shuts
/// down). It does not need to return a handle: the scope tracks its tasks itself.
///
/// # Examples
///
/// A closure is a spawner:
///
/// ```
/// use haiway::{ctx, Scope};
/// use std::sync::Arc;
///
/// let ex = Arc::new(async_executor::Executor::new());
/// let spawner = {
///     let ex = ex.clone();
///     move |future: haiway::runtime::BoxFuture| ex.spawn(future).detach()
/// };
/// # futures_lite::future::block_on(ex.run(async {
/// let out = Scope::new("job")
///     .spawner(spawner)
///     .run(async { ctx::spawn(async { 21 * 2 }).await })
///     .await;
/// assert_eq!(out, 42);
/// # }));
/// ```
pub trait Spawn: Send + Sync + 'static {
    /// Starts running `future` in the background.
    fn spawn(&self, future: BoxFuture);
}

impl<F> Spawn for F
where
    F: Fn(BoxFuture) + Send + Sync + 'static,
{
    fn spawn(&self, future: BoxFuture) {
        self(future)
    }
}

/// A shared spawner is a spawner: hand one `Arc<dyn Spawn>` to every scope (say, per
/// request) and none of them allocates for it.
///
/// # Examples
///
/// ```
/// use haiway::runtime::{BoxFuture, Spawn};
/// use haiway::{ctx, Scope};
/// use std::sync::Arc;
///
/// let ex = Arc::new(async_executor::Executor::new());
/// let shared: Arc<dyn Spawn> = Arc::new(ex.clone());
/// # futures_lite::future::block_on(ex.run(async {
/// for _ in 0..3 {
///     let out = Scope::new("request")
///         .spawner(shared.clone()) // kept as it is: no allocation
///         .run(async { ctx::spawn(async { 1 }).await })
///         .await;
///     assert_eq!(out, 1);
/// }
/// # }));
/// ```
impl Spawn for Arc<dyn Spawn> {
    fn spawn(&self, future: BoxFuture) {
        (**self).spawn(future);
    }
}

impl Spawn for Arc<async_executor::Executor<'static>> {
    fn spawn(&self, future: BoxFuture) {
        async_executor::Executor::spawn(self, future).detach();
    }
}

impl Spawn for &'static async_executor::Executor<'static> {
    fn spawn(&self, future: BoxFuture) {
        async_executor::Executor::spawn(self, future).detach();
    }
}
