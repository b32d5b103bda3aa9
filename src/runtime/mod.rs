//! Executors: the [`Spawn`] trait and adapters for common runtimes.
//!
//! A scope with a spawner runs the tasks spawned in it on that executor, in parallel
//! with its body. A scope with no spawner anywhere up its tree drives its tasks itself,
//! on whatever executor polls it, so a spawner is an optimisation, never a requirement.
//!
//! Built in:
//! - `Arc<async_executor::Executor<'static>>` and `&'static Executor<'static>`;
//! - any closure `Fn(BoxFuture)`, so every other executor is one line away;
//! - with the `smol` feature, [`Smol`]; with `async-std`, [`AsyncStd`]; with `tokio`,
//!   [`Tokio`] and `tokio::runtime::Handle`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

#[cfg(feature = "async-std")]
mod async_std;
#[cfg(feature = "smol")]
mod smol;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "async-std")]
pub use self::async_std::AsyncStd;
#[cfg(feature = "smol")]
pub use self::smol::Smol;
#[cfg(feature = "tokio")]
pub use self::tokio::Tokio;

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
