//! The named futures of a handle besides its calls: [`ClearCache`], [`Insert`] and
//! [`CallOwned`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::backend::{BoxFut, CacheError};

/// The future returned by `clear_cache`, `clear_call_cache` and `clear_key`. Nothing
/// is cleared until it is awaited.
///
/// # Examples
///
/// ```
/// let c = haiway::cache::cache(|x: u8| async move { x });
/// # futures_lite::future::block_on(async {
/// let clear: haiway::cache::ClearCache<'_> = c.clear_cache();
/// clear.await.unwrap();
/// # });
/// ```
#[must_use = "nothing is cleared until the future is awaited"]
pub struct ClearCache<'a> {
    /// Clears memory, then the backend.
    inner: BoxFut<'a, Result<(), CacheError>>,
}

impl<'a> ClearCache<'a> {
    pub(crate) fn new(inner: BoxFut<'a, Result<(), CacheError>>) -> Self {
        ClearCache { inner }
    }
}

impl Future for ClearCache<'_> {
    type Output = Result<(), CacheError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ClearCache<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClearCache").finish_non_exhaustive()
    }
}

/// The future returned by `insert`. Nothing is stored until it is awaited; it
/// finishes once the value is stored in memory and its backend write is spawned (in a
/// scope) or done (outside any).
///
/// # Examples
///
/// ```
/// let c = haiway::cache::cache(|x: u8| async move { x });
/// # futures_lite::future::block_on(async {
/// let insert: haiway::cache::Insert<'_> = c.insert(1, 10);
/// insert.await;
/// assert_eq!(c.get(&1), Some(10));
/// # });
/// ```
#[must_use = "nothing is stored until the future is awaited"]
pub struct Insert<'a> {
    /// Stores, then writes.
    inner: BoxFut<'a, ()>,
}

impl<'a> Insert<'a> {
    pub(crate) fn new(inner: BoxFut<'a, ()>) -> Self {
        Insert { inner }
    }
}

impl Future for Insert<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for Insert<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Insert").finish_non_exhaustive()
    }
}

/// The future returned by `call_owned`: a call that owns its handle, so it is
/// `'static` and can be spawned. Its output is the call's (`V`, or `Result<V, E>` for
/// a [`TryCached`](super::TryCached)).
///
/// # Examples
///
/// ```
/// let c = haiway::cache::cache(|x: u8| async move { x * 2 });
/// let call: haiway::cache::CallOwned<u8> = c.clone().call_owned(4);
/// # futures_lite::future::block_on(async {
/// assert_eq!(call.await, 8);
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CallOwned<T> {
    /// The handle and its call, boxed together.
    inner: BoxFut<'static, T>,
}

impl<T> CallOwned<T> {
    pub(crate) fn new(inner: BoxFut<'static, T>) -> Self {
        CallOwned { inner }
    }
}

impl<T> Future for CallOwned<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for CallOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOwned").finish_non_exhaustive()
    }
}
