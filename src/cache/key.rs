//! The keys of a cache with a key function, with their type erased: [`ErasedKey`].
//!
//! A handle names its arguments and values only (`Cached<A, V>`), whatever its key
//! function returns, so a cache with a key function keeps its keys as [`ErasedKey`]s:
//! a box of the key, hashed and compared through [`DynKey`]. A lookup does not box:
//! it hashes and compares the key where it lies, as a `&dyn DynKey` (the store's keys
//! borrow as one); a key is boxed only when a node is made for it. A cache keyed by its
//! arguments does none of this: its keys are its arguments.
//!
//! [`ErasedBackend`] gives a [`Backend`](super::Backend) of the key function's own key
//! type the erased keys back in that type.

use std::any::{Any, TypeId};
use std::borrow::Borrow;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::backend::{Backend, BoxError, DynBackend};

/// A key of some type, behind a `dyn` pointer: hashed as that type hashes, equal only
/// to an equal key of the same type.
pub(crate) trait DynKey: Any + Send + Sync {
    /// Feeds the key to `state` as its own `Hash` does.
    fn dyn_hash(&self, state: &mut dyn Hasher);
    /// Whether `other` is a key of the same type, equal to this one.
    fn dyn_eq(&self, other: &dyn DynKey) -> bool;
    /// A boxed copy.
    fn boxed(&self) -> ErasedKey;
    /// The key, to downcast.
    fn as_any(&self) -> &dyn Any;
    /// The boxed key, to downcast.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> DynKey for K {
    fn dyn_hash(&self, mut state: &mut dyn Hasher) {
        self.hash(&mut state);
    }

    fn dyn_eq(&self, other: &dyn DynKey) -> bool {
        other.as_any().downcast_ref::<K>() == Some(self)
    }

    fn boxed(&self) -> ErasedKey {
        ErasedKey(Box::new(self.clone()))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

impl Hash for dyn DynKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.dyn_hash(state);
    }
}

impl PartialEq for dyn DynKey {
    fn eq(&self, other: &dyn DynKey) -> bool {
        self.dyn_eq(other)
    }
}

impl Eq for dyn DynKey {}

/// A boxed key of a cache with a key function (see the [module docs](self)). It
/// hashes and compares as the `dyn DynKey` it borrows as, so a lookup by a key on the
/// stack finds it.
pub(crate) struct ErasedKey(Box<dyn DynKey>);

impl ErasedKey {
    /// `key`, boxed.
    pub(crate) fn new<K: Hash + Eq + Clone + Send + Sync + 'static>(key: K) -> Self {
        ErasedKey(Box::new(key))
    }

    /// The key, if it is a `K`.
    fn downcast<K: 'static>(self) -> Option<K> {
        self.0.into_any().downcast().ok().map(|key| *key)
    }
}

impl Borrow<dyn DynKey> for ErasedKey {
    fn borrow(&self) -> &dyn DynKey {
        &*self.0
    }
}

impl Hash for ErasedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.dyn_hash(state);
    }
}

impl PartialEq for ErasedKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.dyn_eq(&*other.0)
    }
}

impl Eq for ErasedKey {}

impl Clone for ErasedKey {
    fn clone(&self) -> Self {
        self.0.boxed()
    }
}

/// The type of a key function's keys, to check a key handed to `clear_key`.
#[derive(Clone, Copy)]
pub(crate) struct KeyType {
    /// Its id.
    pub(crate) id: TypeId,
    /// Its name, for the error.
    pub(crate) name: &'static str,
}

impl KeyType {
    /// The type `K`.
    pub(crate) fn of<K: ?Sized + 'static>() -> Self {
        KeyType {
            id: TypeId::of::<K>(),
            name: std::any::type_name::<K>(),
        }
    }
}

/// A backend of keys of type `K`, serving a cache whose keys are erased `K`s.
pub(crate) struct ErasedBackend<K, V> {
    /// The backend, in its own key type.
    inner: Arc<dyn DynBackend<K, V>>,
}

impl<K, V> ErasedBackend<K, V> {
    /// Serves `inner` with erased keys.
    pub(crate) fn new(inner: Arc<dyn DynBackend<K, V>>) -> Self {
        ErasedBackend { inner }
    }
}

/// An erased key back in the type its cache's key function makes.
fn typed<K: 'static>(key: ErasedKey) -> K {
    key.downcast()
        .expect("a cache's keys are made by its key function")
}

/// An erased key, borrowed in the type its cache's key function makes.
fn typed_ref<K: 'static>(key: &ErasedKey) -> &K {
    key.0
        .as_any()
        .downcast_ref()
        .expect("a cache's keys are made by its key function")
}

impl<K, V> Backend<ErasedKey, V> for ErasedBackend<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Send + 'static,
{
    fn read(&self, key: &ErasedKey) -> impl Future<Output = Result<Option<V>, BoxError>> + Send {
        self.inner.clone().read_owned(typed_ref::<K>(key).clone())
    }

    fn write(&self, key: ErasedKey, value: V) -> impl Future<Output = Result<(), BoxError>> + Send {
        self.inner.clone().write(typed(key), value)
    }

    fn clear(&self, key: Option<&ErasedKey>) -> impl Future<Output = Result<(), BoxError>> + Send {
        let key = key.map(typed_ref::<K>);
        async move { self.inner.clear(key).await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn an_erased_key_hashes_and_compares_as_the_key_it_borrows_as() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let key = ErasedKey::new("profile:ada".to_owned());
        let probe = "profile:ada".to_owned();
        let probe: &dyn DynKey = &probe;
        assert_eq!(hasher.hash_one(&key), hasher.hash_one(probe));
        assert!(Borrow::<dyn DynKey>::borrow(&key) == probe);
        assert!(key == key.clone());
        // Another type never equals, even with an equal-looking value.
        assert!(ErasedKey::new(1_u32) != ErasedKey::new(1_u64));
        assert_eq!(typed::<String>(key), "profile:ada");
    }
}
