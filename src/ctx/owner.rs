//! [`Owner`]: what an owner of background tasks holds (behind
//! [`Background`](super::Background), and in the contexts below it).

use std::sync::Arc;

use super::task_set::TaskSet;
use crate::event::{ScopeInfo, SharedRecorder};
use crate::runtime::Spawn;

/// An owner of background tasks: a scope marked
/// [`Scope::background`](crate::Scope::background), or the process-wide owner.
pub(crate) struct Owner {
    /// The background tasks alive.
    pub(crate) tasks: Arc<TaskSet>,
    /// Where its tasks run; `None`: on the spawning scope's spawner, or else on the
    /// library's background thread.
    pub(crate) spawner: Option<Arc<dyn Spawn>>,
    /// The owning scope and its recorder, where the shutdown is recorded; `None` (the
    /// process-wide owner, or a scope with no recorder): in the scope that awaits the
    /// shutdown, if any.
    pub(crate) home: Option<(ScopeInfo, SharedRecorder)>,
    /// The owning scope's name, or `"global"`.
    pub(crate) name: Arc<str>,
}

/// Which owner a new scope's background tasks go to.
pub(crate) enum OwnerChoice {
    /// Its parent's (or the process-wide one).
    Inherit,
    /// Its own: it was marked [`Scope::background`](crate::Scope::background).
    Own,
    /// This one, given with [`Scope::background_owner`](crate::Scope::background_owner).
    Given(Arc<Owner>),
}

impl Owner {
    /// The owner a scope marked [`Scope::background`](crate::Scope::background) makes.
    pub(crate) fn owned_by(
        info: &ScopeInfo,
        spawner: Option<Arc<dyn Spawn>>,
        recorder: Option<SharedRecorder>,
    ) -> Arc<Owner> {
        Arc::new(Owner {
            tasks: Arc::new(TaskSet::new()),
            spawner,
            home: recorder.map(|recorder| (info.clone(), recorder)),
            name: Arc::from(info.name()),
        })
    }

    /// The process-wide owner (made once, by `Background::global`).
    pub(crate) fn global() -> Owner {
        Owner {
            tasks: Arc::new(TaskSet::new()),
            spawner: None,
            home: None,
            name: Arc::from("global"),
        }
    }
}
