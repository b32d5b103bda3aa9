//! [`StateMap`]: the typed values a context carries, and [`Added`]: values being given.
//!
//! The values sit in an immutable array sorted by [`TypeId`], shared by every context
//! that adds nothing to it: a scope with no state of its own copies nothing, and a
//! scope with no state anywhere carries an empty pointer. Reading one of a few values
//! is a short scan of that array; past [`SCAN`] values, a search by halves.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

/// One value: its type, and the value behind a shared pointer.
type Entry = (TypeId, Arc<dyn Any + Send + Sync>);

/// Up to this many values, a read scans the array; past it, it searches by halves.
const SCAN: usize = 8;

/// The values a context carries, sorted by type, each type once.
#[derive(Clone, Default)]
pub(crate) struct StateMap(Option<Arc<[Entry]>>);

impl StateMap {
    /// The value of type `T`, if there is one.
    #[inline]
    pub(crate) fn get<T: Any>(&self) -> Option<&T> {
        self.entry(TypeId::of::<T>())?.downcast_ref::<T>()
    }

    /// The value of type `T`, if there is one, as a new reference.
    #[inline]
    pub(crate) fn get_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.entry(TypeId::of::<T>())?.clone().downcast::<T>().ok()
    }

    /// The entry of type `id`.
    #[inline]
    fn entry(&self, id: TypeId) -> Option<&Arc<dyn Any + Send + Sync>> {
        let entries = self.0.as_deref()?;
        let found = if entries.len() <= SCAN {
            entries.iter().find(|(key, _)| *key == id)
        } else {
            let at = entries.binary_search_by(|(key, _)| key.cmp(&id)).ok()?;
            entries.get(at)
        };
        found.map(|(_, value)| value)
    }

    /// `self` with `added` over it: a value in `added` replaces one of the same type.
    /// Shares `self` when nothing is added.
    pub(crate) fn merged(&self, added: Added) -> StateMap {
        if added.0.is_empty() {
            return self.clone();
        }
        let mut entries: Vec<Entry> = self.0.as_deref().map_or_else(Vec::new, <[_]>::to_vec);
        for (id, value) in added.0 {
            match entries.binary_search_by(|(key, _)| key.cmp(&id)) {
                Ok(at) => entries[at].1 = value,
                Err(at) => entries.insert(at, (id, value)),
            }
        }
        StateMap(Some(entries.into()))
    }

    /// How many values there are.
    fn len(&self) -> usize {
        self.0.as_deref().map_or(0, <[_]>::len)
    }
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The values need not be `Debug`: how many there are.
        write!(f, "{} value(s)", self.len())
    }
}

/// Values being given to a scope or an [`Updating`](super::Updating), in the order given, each type
/// once (a later value for a type replaced the earlier one).
#[derive(Default)]
pub(crate) struct Added(Vec<Entry>);

impl Added {
    /// Adds `value`, replacing a value of the same type.
    pub(crate) fn push<T: Any + Send + Sync>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        match self.0.iter_mut().find(|(key, _)| *key == id) {
            Some(entry) => entry.1 = value,
            None => self.0.push((id, value)),
        }
    }

    /// How many values there are.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}
