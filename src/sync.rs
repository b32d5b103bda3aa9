//! The locks, atomics and thread-locals whose interleavings matter (the cache's
//! flights, shards and book of backend writes; a scope's task set and tasks; the
//! context's slot): std's, or, in the model-checking build (`RUSTFLAGS="--cfg
//! shuttle"`, the package in `shuttle/`), shuttle's, so that shuttle chooses which
//! thread runs at each of them (its threads share one OS thread: the slot must be
//! shuttle's too).
//!
//! The lock is a [`Mutex`] that never poisons: every lock in the crate leaves its data
//! valid when a panic unwinds through it, and so takes it as it is. It is std's (the
//! poisoning skipped), or, with the feature `parking_lot`, parking_lot's, which keeps
//! no poison flag: a lock and unlock then cost about 12 instructions less, on every
//! cache hit and twice on a miss.

#[cfg(not(shuttle))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(shuttle))]
pub(crate) use std::thread_local;

#[cfg(shuttle)]
pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(shuttle)]
pub(crate) use shuttle::thread_local;

#[cfg(all(not(shuttle), feature = "parking_lot"))]
pub(crate) use parking_lot::{Mutex, MutexGuard};

#[cfg(not(any(shuttle, feature = "parking_lot")))]
use std::sync as base;

#[cfg(shuttle)]
use shuttle::sync as base;

/// A guard of a [`Mutex`].
#[cfg(any(shuttle, not(feature = "parking_lot")))]
pub(crate) type MutexGuard<'a, T> = base::MutexGuard<'a, T>;

/// A mutual-exclusion lock that never poisons (see the [module docs](self)).
#[cfg(any(shuttle, not(feature = "parking_lot")))]
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(base::Mutex<T>);

#[cfg(any(shuttle, not(feature = "parking_lot")))]
impl<T> Mutex<T> {
    /// A lock holding `value`.
    pub(crate) fn new(value: T) -> Self {
        Mutex(base::Mutex::new(value))
    }

    /// Locks, blocking the thread until the lock is free; a panic while it was held
    /// is ignored.
    #[inline(always)]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The data, when nothing else can hold the lock.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(all(test, not(shuttle)))]
mod tests {
    use super::Mutex;

    #[test]
    fn a_panic_while_the_lock_is_held_leaves_it_usable_with_its_data() {
        let lock = Mutex::new(vec![1]);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut data = lock.lock();
            data.push(2);
            panic!("while held");
        }));
        assert!(panicked.is_err());
        assert_eq!(
            *lock.lock(),
            [1, 2],
            "not poisoned: the data as the panic left it"
        );
        let mut lock = lock;
        lock.get_mut().push(3);
        assert_eq!(*lock.lock(), [1, 2, 3]);
    }

    #[test]
    fn the_feature_picks_the_lock() {
        let name = std::any::type_name::<Mutex<u8>>();
        if cfg!(feature = "parking_lot") {
            assert!(name.starts_with("lock_api::"), "{name}");
        } else {
            assert!(name.starts_with("haiway::sync::"), "{name}");
        }
    }
}
