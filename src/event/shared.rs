//! [`SharedRecorder`]: a recorder as a scope holds it, and how an event reaches it.

use std::any::{Any, TypeId};
use std::sync::Arc;

use super::data::Event;
use super::prepared::PreparedEvent;
use super::recorder::Recorder;
use super::scope::ScopeInfo;

/// A recorder as a scope holds it: shared by the scope and its nested scopes, with its
/// type, under which [`PreparedEvent`]s keep its preparations.
#[derive(Clone)]
pub(crate) struct SharedRecorder {
    /// The recorder.
    recorder: Arc<dyn Recorder>,
    /// Its type.
    kind: TypeId,
}

impl SharedRecorder {
    /// Shares `recorder`: as it is when it already is an `Arc<dyn Recorder>` (no
    /// allocation).
    pub(crate) fn new<R: Recorder>(recorder: R) -> Self {
        let mut recorder = Some(recorder);
        let recorder =
            match (&mut recorder as &mut dyn Any).downcast_mut::<Option<Arc<dyn Recorder>>>() {
                Some(shared) => shared.take().expect("set above"),
                None => Arc::new(recorder.take().expect("set above")),
            };
        SharedRecorder {
            recorder,
            kind: TypeId::of::<R>(),
        }
    }

    /// The recorder.
    #[inline]
    pub(crate) fn get(&self) -> &dyn Recorder {
        &*self.recorder
    }

    /// Hands `event` to the recorder, recorded in `scope`: with the recorder's
    /// preparation when the event is `prepared`.
    #[inline]
    pub(crate) fn record(
        &self,
        scope: &ScopeInfo,
        event: &Event,
        prepared: Option<&PreparedEvent>,
    ) {
        match prepared {
            Some(prepared) => prepared.record_to(&*self.recorder, self.kind, scope),
            None => self.recorder.record(scope, event),
        }
    }
}
