//! The tokio adapter.

use super::spawn::{BoxFuture, Spawn};

/// Spawns on a tokio runtime, through the [`Handle`](::tokio::runtime::Handle) it holds.
///
/// `tokio::runtime::Handle` is itself a [`Spawn`]; `Tokio` is the short way to take
/// the current one.
///
/// # Examples
///
/// ```
/// use haiway::{ctx, runtime::Tokio, Scope};
///
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// rt.block_on(async {
///     let out = Scope::new("job")
///         .spawner(Tokio::current())
///         .run(async { ctx::spawn(async { 7 }).await })
///         .await;
///     assert_eq!(out, 7);
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Tokio(::tokio::runtime::Handle);

impl Tokio {
    /// The spawner of the runtime this is called from.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, with tokio's own message. Use [`Tokio::try_current`]
    /// or [`Tokio::from_handle`] where that can happen.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let _spawner = rt.block_on(async { haiway::runtime::Tokio::current() });
    /// ```
    #[track_caller]
    pub fn current() -> Self {
        Tokio(::tokio::runtime::Handle::current())
    }

    /// The spawner of the runtime this is called from, or `None` outside a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(haiway::runtime::Tokio::try_current().is_none());
    /// ```
    pub fn try_current() -> Option<Self> {
        ::tokio::runtime::Handle::try_current().ok().map(Tokio)
    }

    /// A spawner for the runtime behind `handle`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let _spawner = haiway::runtime::Tokio::from_handle(rt.handle().clone());
    /// ```
    pub fn from_handle(handle: ::tokio::runtime::Handle) -> Self {
        Tokio(handle)
    }
}

impl Spawn for Tokio {
    fn spawn(&self, future: BoxFuture) {
        drop(self.0.spawn(future));
    }
}

impl Spawn for ::tokio::runtime::Handle {
    fn spawn(&self, future: BoxFuture) {
        drop(::tokio::runtime::Handle::spawn(self, future));
    }
}
