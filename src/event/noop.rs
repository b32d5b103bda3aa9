//! [`NoopRecorder`]: a recorder that wants nothing.

use super::data::Event;
use super::recorder::Recorder;
use super::scope::ScopeInfo;
use super::value::Level;

/// A recorder that drops every event.
///
/// Setting it on a scope stops the events of that scope (and the scopes nested in it)
/// from reaching a recorder set further out. It wants no level at all
/// ([`Recorder::min_level`] is `None`), so recording in its scopes costs what it
/// costs with no recorder: a thread-local read and a comparison.
///
/// # Examples
///
/// ```
/// use haiway::{MemoryRecorder, NoopRecorder, Scope};
///
/// let outer = MemoryRecorder::new();
/// # futures_lite::future::block_on(async {
/// Scope::new("app")
///     .recorder(outer.clone())
///     .run(async {
///         Scope::new("quiet")
///             .recorder(NoopRecorder)
///             .run(async { haiway::ctx::record_event(haiway::Event::info("ignored")) })
///             .await;
///     })
///     .await;
/// # });
/// assert!(outer.events().is_empty());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopRecorder;

impl Recorder for NoopRecorder {
    #[inline]
    fn record(&self, _scope: &ScopeInfo, _event: &Event) {}

    #[inline]
    fn enabled(&self, _level: Level) -> bool {
        false
    }

    #[inline]
    fn min_level(&self) -> Option<Level> {
        None
    }
}
