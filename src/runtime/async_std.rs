//! The async-std adapter.

use super::spawn::{BoxFuture, Spawn};

/// Spawns on async-std's global executor (`async_std::task::spawn`).
///
/// # Examples
///
/// ```
/// use haiway::{ctx, runtime::AsyncStd, Scope};
///
/// async_std::task::block_on(async {
///     let out = Scope::new("job")
///         .spawner(AsyncStd)
///         .run(async { ctx::spawn(async { 7 }).await })
///         .await;
///     assert_eq!(out, 7);
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl Spawn for AsyncStd {
    fn spawn(&self, future: BoxFuture) {
        // The JoinHandle detaches on drop.
        drop(::async_std::task::spawn(future));
    }
}
