//! The smol adapter.

use super::spawn::{BoxFuture, Spawn};

/// Spawns on smol's global executor (`smol::spawn`).
///
/// # Examples
///
/// ```
/// use haiway::{ctx, runtime::Smol, Scope};
///
/// smol::block_on(async {
///     let out = Scope::new("job")
///         .spawner(Smol)
///         .run(async { ctx::spawn(async { 7 }).await })
///         .await;
///     assert_eq!(out, 7);
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

impl Spawn for Smol {
    fn spawn(&self, future: BoxFuture) {
        ::smol::spawn(future).detach();
    }
}
