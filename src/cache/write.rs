//! The backend writes of one cache, and the rule that keeps a clear from being undone
//! by them.
//!
//! A computed value is written to the backend in the background, after the call has
//! returned. A clear of its key (or of everything) may come in between: the value is
//! then *stale*, and must not be served to a call that starts after the clear returned.
//! [`Writes`] keeps the book:
//!
//! - Every write is registered ([`Writes::start`]) under the cache's state lock when its
//!   value is computed, so a clear (which marks the writes it outdates under the same
//!   lock, [`Writes::outdate`]) always finds it.
//! - A stale write that has not started is skipped; one that started (it may have
//!   landed, even if it reported a failure) is undone: its key is cleared in the
//!   backend if it still holds the stale value (compare-and-delete,
//!   [`Backend::clear_if`](super::Backend::clear_if); by default the key is cleared
//!   whatever it holds). A newer value written since the clear stays: the stale one is
//!   not there, and the undo has succeeded.
//! - Until that undo succeeds, the key is *suspect*: the backend may hold a value
//!   computed before a clear. A leader does not read a suspect key from the backend: it
//!   counts a miss and runs the function ([`Writes::is_suspect`]).
//! - An undo that fails, or is dropped, after its stale write returned leaves the key
//!   suspect (*tainted*) until a fresh write of the key or a clear of it succeeds. The
//!   key costs runs of the function until then (usually one: that run's own write lifts
//!   the taint), and is never blocked.
//! - A stale write dropped once it was attempted but before it returned (its scope was
//!   cancelled) may land at any time: a command already sent runs all the same, and on
//!   another connection it may land after a write sent later. A fresh write does not
//!   lift that taint by itself: the next fresh write of the key clears the key in the
//!   backend first (which the stale write cannot outlast), and that clear lifts it. The
//!   key costs one run of the function and one backend clear.
//! - A tainted key that is never called or cleared again stays in the book (one entry
//!   per key) until a `clear_cache` succeeds.
//!
//! What this cannot see: a backend that applies a write later than a clear it was sent
//! before (on another connection, or spawned away from the write's future). A
//! [`Backend`](super::Backend) must apply its operations in the order their futures
//! finish, or at least not apply a write after the clear that follows it. With that
//! order, an undo comes after its own write: if the backend holds another value then,
//! that value was written after the stale one, and the stale one is gone (if the newer
//! value is stale too, its own undo follows).

use std::collections::HashMap as StdHashMap;
use std::hash::Hash;
use std::sync::Arc;

use hashbrown::HashMap;

use super::backend::{BoxFut, DynBackend};
use crate::sync::Mutex;

/// The book of one cache's backend writes; see the [module docs](self).
pub(crate) struct Writes<K> {
    /// Shared with the pending writes, which outlive calls.
    book: Arc<Mutex<Book<K>>>,
}

/// The lock-protected part of [`Writes`].
struct Book<K> {
    /// The id of the next write.
    next: u64,
    /// Counts taints and clears, so a clear lifts only the taints it covers.
    epoch: u64,
    /// The writes not finished yet, by id.
    pending: StdHashMap<u64, Pending<K>>,
    /// Keys whose backend value may have been computed before a clear.
    suspects: HashMap<K, Suspect>,
}

/// One write not finished yet.
struct Pending<K> {
    /// Its key.
    key: K,
    /// Whether a clear since its value was computed made it stale.
    stale: bool,
}

/// Why a key is suspect.
#[derive(Default)]
struct Suspect {
    /// Stale writes of the key not finished yet.
    stale_writes: usize,
    /// Set when a stale value may have stayed in the backend (its write returned, and
    /// its undo failed or was dropped): the epoch it was set at. A write that starts
    /// later lands after it, and so does a clear.
    tainted: Option<u64>,
    /// Set when a stale write was dropped before it returned: its value may land at any
    /// time, even after a write that starts later (on another connection, say), but
    /// not after a clear that follows it. The epoch it was set at.
    unfinished: Option<u64>,
}

impl Suspect {
    fn is_clean(&self) -> bool {
        self.stale_writes == 0 && self.tainted.is_none() && self.unfinished.is_none()
    }
}

impl<K> Writes<K> {
    /// No writes.
    pub(crate) fn new() -> Self {
        Writes {
            book: Arc::new(Mutex::new(Book {
                next: 0,
                epoch: 0,
                pending: StdHashMap::new(),
                suspects: HashMap::new(),
            })),
        }
    }
}

impl<K: Hash + Eq + Clone> Writes<K> {
    /// Registers the write of `key`'s freshly computed value. Called under the cache's
    /// state lock, so a clear after this point finds it.
    pub(crate) fn start(&self, key: K) -> PendingWrite<K> {
        let mut book = self.book.lock();
        let id = book.next;
        book.next += 1;
        book.pending.insert(id, Pending { key, stale: false });
        PendingWrite {
            book: self.book.clone(),
            id,
            landed: false,
            returned: false,
            settled: false,
        }
    }

    /// Marks stale the writes a clear outdates: of `key`, or (`None`) all of them.
    /// Called under the cache's state lock, with the clear's changes to the state.
    pub(crate) fn outdate(&self, key: Option<&K>) {
        let mut book = self.book.lock();
        let Book {
            pending, suspects, ..
        } = &mut *book;
        for write in pending.values_mut() {
            if !write.stale && key.is_none_or(|key| *key == write.key) {
                // Counted before it is marked, so a panicking `Clone` (user code) leaves
                // neither: a stale write is always counted once. No key is dropped
                // here: one is cloned only for a key not suspect yet.
                match suspects.get_mut(&write.key) {
                    Some(suspect) => suspect.stale_writes += 1,
                    None => {
                        let suspect = Suspect {
                            stale_writes: 1,
                            ..Suspect::default()
                        };
                        suspects.insert(write.key.clone(), suspect);
                    }
                }
                write.stale = true;
            }
        }
    }

    /// Whether the backend may hold a value of `key` computed before a clear: then a
    /// leader runs the function instead of reading it.
    pub(crate) fn is_suspect(&self, key: &K) -> bool {
        let book = self.book.lock();
        !book.suspects.is_empty() && book.suspects.contains_key(key)
    }

    /// The epoch a clear starts at, taken before it clears the backend: if the backend
    /// clear succeeds, it covers every taint set before it ([`Writes::cleared`]).
    pub(crate) fn epoch(&self) -> u64 {
        let mut book = self.book.lock();
        book.epoch += 1;
        book.epoch
    }

    /// The backend cleared `key` (`None`: everything) successfully, in a clear that
    /// started at `since`: taints set before then are gone.
    pub(crate) fn cleared(&self, key: Option<&K>, since: u64) {
        lift_in(&self.book, key, since, Lift::Clear);
    }
}

/// [`lift`] in `book`, the keys no longer suspect dropped after the lock is released
/// (their `Drop` is user code).
fn lift_in<K: Hash + Eq + Clone>(book: &Mutex<Book<K>>, key: Option<&K>, since: u64, by: Lift) {
    let removed = lift(&mut book.lock().suspects, key, since, by);
    drop(removed);
}

/// What lifts a taint: a clear of the key, or a fresh write of it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lift {
    /// A backend clear that succeeded: it lifts every taint set before it.
    Clear,
    /// A fresh write that succeeded: it lifts the taints of stale writes that returned
    /// before it started, not of one that was dropped unfinished (that one may still
    /// land after it).
    Write,
}

/// Lifts the taints of `key` (`None`: of every key) set before `since` that `by`
/// covers; the keys no longer suspect are returned, to be dropped outside the lock.
fn lift<K: Hash + Eq + Clone>(
    suspects: &mut HashMap<K, Suspect>,
    key: Option<&K>,
    since: u64,
    by: Lift,
) -> Vec<K> {
    let covered = |suspect: &mut Suspect| {
        if suspect.tainted.is_some_and(|at| at < since) {
            suspect.tainted = None;
        }
        if by == Lift::Clear && suspect.unfinished.is_some_and(|at| at < since) {
            suspect.unfinished = None;
        }
        suspect.is_clean()
    };
    match key {
        Some(key) => match suspects.get_mut(key).map(covered) {
            Some(true) => suspects
                .remove_entry(key)
                .map(|(k, _)| k)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        },
        None => suspects
            .extract_if(|_, suspect| covered(suspect))
            .map(|(k, _)| k)
            .collect(),
    }
}

/// A write's entry in [`Writes`], forgotten when dropped (the write finished, was
/// cancelled, or never started). Bounded like its key, so its `Drop` can settle a
/// stale write among the suspects.
pub(crate) struct PendingWrite<K: Hash + Eq + Clone> {
    /// The cache's book of writes.
    book: Arc<Mutex<Book<K>>>,
    /// This write's id there.
    id: u64,
    /// Whether the backend write was attempted: its value may have landed (even when
    /// it reported a failure, a lost acknowledgement, or was dropped after sending).
    landed: bool,
    /// Whether the backend write returned: a value it left has landed by now, and a
    /// write that starts later lands after it.
    returned: bool,
    /// Whether the write is known to leave no stale value behind: it was not stale
    /// when it ended (a clear after that clears the backend after it), or it was
    /// undone.
    settled: bool,
}

impl<K: Hash + Eq + Clone> PendingWrite<K> {
    /// Whether a clear since the value was computed made this write stale.
    fn is_stale(&self) -> bool {
        self.book
            .lock()
            .pending
            .get(&self.id)
            .is_some_and(|write| write.stale)
    }

    /// The backend write is attempted: from now on its value may be there.
    fn landed(&mut self) {
        self.landed = true;
    }

    /// The backend write returned (see the field).
    fn returned(&mut self) {
        self.returned = true;
    }

    /// Nothing stale can remain of this write (see the field).
    fn settled(&mut self) {
        self.settled = true;
    }

    /// The epoch now: taints set before it are covered by a write that starts now.
    fn epoch(&self) -> u64 {
        let mut book = self.book.lock();
        book.epoch += 1;
        book.epoch
    }

    /// Whether a stale write of `key` was dropped unfinished (see
    /// [`Suspect::unfinished`]): only a clear lifts that.
    fn has_unfinished(&self, key: &K) -> bool {
        self.book
            .lock()
            .suspects
            .get(key)
            .is_some_and(|suspect| suspect.unfinished.is_some())
    }

    /// The backend cleared `key` successfully, in a clear that started at `since`.
    fn cleared(&self, key: &K, since: u64) {
        lift_in(&self.book, Some(key), since, Lift::Clear);
    }

    /// The write landed fresh (no clear outdated it): taints of its key set before it
    /// started (at `since`) are covered by the value it wrote.
    fn landed_fresh(&self, key: &K, since: u64) {
        lift_in(&self.book, Some(key), since, Lift::Write);
    }
}

impl<K: Hash + Eq + Clone> Drop for PendingWrite<K> {
    fn drop(&mut self) {
        let key = {
            let mut book = self.book.lock();
            let Book {
                pending,
                suspects,
                epoch,
                ..
            } = &mut *book;
            match pending.remove(&self.id) {
                Some(write) if write.stale => {
                    let key = write.key;
                    // A stale write was counted among its key's suspects (`outdate`).
                    let clean = match suspects.get_mut(&key) {
                        Some(suspect) => {
                            suspect.stale_writes -= 1;
                            if self.landed && !self.settled {
                                // The stale value may have stayed in the backend, or
                                // (dropped unfinished) may still land.
                                *epoch += 1;
                                match self.returned {
                                    true => suspect.tainted = Some(*epoch),
                                    false => suspect.unfinished = Some(*epoch),
                                }
                            }
                            suspect.is_clean()
                        }
                        None => false,
                    };
                    match clean {
                        true => suspects.remove_entry(&key).map(|(k, _)| k),
                        false => None,
                    }
                    .into_iter()
                    .chain(Some(key))
                    .collect()
                }
                Some(write) => vec![write.key],
                None => Vec::new(),
            }
        };
        // Keys are dropped after the lock is released: their `Drop` is user code.
        drop(key);
    }
}

/// The background write of `value` under `key`, registered as `pending`; see the
/// [module docs](self). Failures are recorded through `failed` (event name, error).
///
/// It keeps a clone of `value` while the write runs, for the compare-and-delete of an
/// undo: one clone per backend write, next to a round trip to the backend.
pub(crate) fn persist<K, V>(
    backend: Arc<dyn DynBackend<K, V>>,
    key: K,
    value: V,
    mut pending: PendingWrite<K>,
    failed: impl Fn(&'static str, &(dyn std::error::Error + 'static)) + Send + 'static,
) -> BoxFut<'static, ()>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Box::pin(async move {
        // Stale before it started: nothing to write, nothing landed.
        if pending.is_stale() {
            return;
        }
        let since = pending.epoch();
        if pending.has_unfinished(&key) {
            // A stale write of this key was dropped unfinished and may still land, even
            // after this one: clear the key first (the backend applies no write after
            // a clear that follows it), so this write is the last word and the key is
            // read again. A failed clear leaves the key unread; it is tried again by
            // the next fresh write.
            match backend.clear(Some(&key)).await {
                Ok(()) => pending.cleared(&key, since),
                Err(e) => failed("cache.stale_write", &*e),
            }
        }
        // From here on the value may land, even if this future is dropped before the
        // write returns (a command already sent runs all the same).
        pending.landed();
        let wrote = backend.clone().write(key.clone(), value.clone()).await;
        pending.returned();
        if let Err(e) = &wrote {
            failed("cache.write_failed", &**e);
        }
        if pending.is_stale() {
            // Cleared while it was written: undo it, even after a reported failure (it
            // may have landed all the same), leaving a newer value if the backend can
            // tell (compare-and-delete).
            match backend.clear_if(&key, &value).await {
                Ok(()) => pending.settled(),
                Err(e) => failed("cache.stale_write", &*e),
            }
            return;
        }
        // A clear from now on clears the backend after this write.
        pending.settled();
        if wrote.is_ok() {
            pending.landed_fresh(&key, since);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A key whose `Clone` panics while `ARMED` is set.
    #[derive(PartialEq, Eq, Hash, Debug)]
    struct Fragile(u32);

    static ARMED: AtomicBool = AtomicBool::new(false);

    impl Clone for Fragile {
        fn clone(&self) -> Self {
            assert!(!ARMED.load(Ordering::SeqCst), "clone refused");
            Fragile(self.0)
        }
    }

    /// Found in review: a write was marked stale before its key was counted among the
    /// suspects, so a panicking `Clone` left a stale write uncounted, and finishing it
    /// underflowed the count.
    #[test]
    fn a_panicking_clone_in_outdate_keeps_the_count_right() {
        let writes = Writes::new();
        let pending = writes.start(Fragile(1));
        ARMED.store(true, Ordering::SeqCst);
        let outdated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            writes.outdate(Some(&Fragile(1)));
        }));
        ARMED.store(false, Ordering::SeqCst);
        assert!(outdated.is_err(), "the clone panicked");
        assert!(!pending.is_stale(), "not counted, so not marked");
        assert!(!writes.is_suspect(&Fragile(1)));
        // Outdated again, it is counted and marked; finished, it leaves no suspect.
        writes.outdate(Some(&Fragile(1)));
        assert!(pending.is_stale());
        assert!(writes.is_suspect(&Fragile(1)));
        drop(pending);
        assert!(!writes.is_suspect(&Fragile(1)));
        assert!(writes.book.lock().suspects.is_empty());
    }
}
