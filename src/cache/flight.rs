//! Single-flight: one run of the function per key, shared by every call that wants it,
//! driven by whichever of them is polled.
//!
//! A miss reserves a pending node for its key in the store and puts a [`Flight`] there;
//! calls that miss the same key meanwhile find the node and join the flight. The run
//! (the function's future, or a backend read followed by the function) lives in the
//! flight, not in any one call, so it works like `futures::future::Shared`:
//!
//! - Any caller that is polled drives the run: it takes the run out of the flight, polls
//!   it with the flight's own waker, and puts it back. That waker wakes *every* caller,
//!   so the next one polled drives it on. A caller that stays alive but is never polled
//!   again (a `select!` branch that lost) stalls nobody.
//! - A run is polled once per wake-up, not once per caller: the flight counts its
//!   wake-ups and remembers the count it was last polled at.
//! - The caller whose poll finishes the run completes it (stores the value, writes it to
//!   the backend) and settles the flight; the others take a clone of the result.
//! - A caller that is dropped leaves the flight. The last one to leave an unfinished run
//!   cancels it (drops it) and frees the key.
//! - A run is dropped and started again, in the same flight, when it panicked (the
//!   caller whose poll panicked gets the panic), or when a caller that drove it leaves
//!   after tasks were spawned in its scope (they may be the run's, and end with that
//!   scope) or while unwinding. Each call that joins a flight hands it its arguments for
//!   this ([`Flight::join`]): a restart takes one call's arguments, and removes at least
//!   one caller, so arguments are there for as long as callers are.
//!
//! A flight with nobody left waiting is kept, with its runner, for the next miss of its
//! shard: an uncontended miss allocates nothing. Only a flight no call ever joined is
//! kept ([`Flight::was_joined`]), so a kept one is as good as new (but for its
//! `polled_at`, set when its run is first put in): the lean lead path of a miss
//! ([`Core::lead_new`](super::core::Core::lead_new)) takes it as it is.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Wake, Waker};

use event_listener::{Event as Notify, EventListener};

use super::backend::{BoxError, BoxFut};
use super::run::Runner;
use crate::sync::{AtomicBool, AtomicU64, Mutex, MutexGuard};

/// A result shared by a run with the callers waiting on it (each takes a clone).
pub(crate) type Shared<V, E> = Result<V, E>;

/// A backend read, owned by the flight.
pub(crate) type Read<V> = BoxFut<'static, Result<Option<V>, BoxError>>;

/// One run of one key, shared with the calls waiting on it; see the
/// [module docs](self).
pub(crate) struct Flight<A, V, E> {
    /// The run and its callers.
    inner: Mutex<Inner<A, V, E>>,
    /// Counts and announces the run's wake-ups.
    notifier: Arc<Notifier>,
    /// The run's waker: wakes every caller (made once, from `notifier`).
    waker: Waker,
    /// Whether a call joined the flight since it was made or reused (set under the
    /// shard's lock, where calls join, and read under it).
    joined: AtomicBool,
}

/// The lock-protected part of a [`Flight`].
pub(crate) struct Inner<A, V, E> {
    /// Where the run is.
    pub(crate) run: Run<A, V, E>,
    /// Calls attached to the flight (the one that made it included) and not gone.
    pub(crate) callers: usize,
    /// The wake-up count when the run was last polled.
    pub(crate) polled_at: u64,
    /// Set when a caller left while another was polling, in a way that drops the run
    /// (see the module docs): the poller drops it when its poll returns.
    pub(crate) doomed: bool,
    /// With a backend: the lookup is not counted yet (see `Core::count_load`).
    pub(crate) uncounted: bool,
    /// The arguments of the calls that joined, one run's worth each, for restarts.
    pub(crate) donations: Vec<A>,
}

/// Where a flight's run is.
pub(crate) enum Run<A, V, E> {
    /// Waiting for a caller to poll it.
    Idle(Work<A, V, E>),
    /// Taken out by the caller polling it (or, at first, by the caller starting it).
    Polling,
    /// Dropped (it panicked, or may depend on a scope that is ending): the next caller
    /// polled starts it again with donated arguments.
    Restart,
    /// Finished: callers take a clone, made after the flight's lock is released (a
    /// value's `Clone` is user code).
    Done(Arc<Shared<V, E>>),
    /// Dropped with no caller left.
    Abandoned,
}

/// The work of a run.
pub(crate) enum Work<A, V, E> {
    /// Finished already: complete it with this result.
    Done(Shared<V, E>),
    /// A run restarted after its flight was cleared: it went through the store as a
    /// new call would (so single-flight holds across the clear), and follows the key's
    /// current flight as one of its callers, its result being this run's.
    Follow(Follow<A, V, E>),
    /// The function, running in a (reused) runner.
    Function(Runner<A, V, E>),
    /// With a backend: the read, and the arguments to run the function with if it
    /// finds nothing.
    Read {
        /// The backend read.
        read: Read<V>,
        /// For the function, on a miss.
        args: A,
    },
}

/// A flight's place among the callers of another one ([`Work::Follow`]): the parts
/// of its [`Attached`](super::attached::Attached) while the run rests in its flight (the membership is left by
/// [`Attached::drop_run`](super::attached::Attached::drop_run), which has the cache at hand).
pub(crate) struct Follow<A, V, E> {
    /// The flight followed.
    pub(crate) flight: Arc<Flight<A, V, E>>,
    /// Its pending node.
    pub(crate) slot: usize,
    /// Registered interest in its wake-ups, polled with the follower's waker.
    pub(crate) listener: Option<EventListener>,
}

/// A flight's wake-ups: the waker the run is polled with counts them and wakes every
/// caller listening.
struct Notifier {
    /// Wake-ups so far.
    wakes: AtomicU64,
    /// The callers listening.
    event: Notify,
}

impl Wake for Notifier {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }
}

impl<A, V, E> Flight<A, V, E> {
    /// A new flight, started by one caller (the run is `Polling`: the caller holds it
    /// until it puts it in).
    pub(crate) fn new(uncounted: bool) -> Self {
        let notifier = Arc::new(Notifier {
            wakes: AtomicU64::new(0),
            event: Notify::new(),
        });
        Flight {
            inner: Mutex::new(Inner {
                run: Run::Polling,
                callers: 1,
                polled_at: 0,
                doomed: false,
                uncounted,
                donations: Vec::new(),
            }),
            waker: Waker::from(notifier.clone()),
            notifier,
            joined: AtomicBool::new(false),
        }
    }

    /// Makes a kept flight (nobody else holds it) a new one. Arguments that callers who
    /// left had donated are handed out, to be dropped after the shard's lock.
    #[inline(always)]
    pub(crate) fn reuse(&mut self, uncounted: bool) -> Vec<A> {
        let wakes = self.wakes();
        let inner = self.inner_mut();
        inner.run = Run::Polling;
        inner.callers = 1;
        inner.polled_at = wakes;
        inner.doomed = false;
        inner.uncounted = uncounted;
        let left_behind = std::mem::take(&mut inner.donations);
        self.joined.store(false, Ordering::Relaxed);
        left_behind
    }

    /// Whether a call joined the flight since it was made or reused: then it is not kept
    /// for another key (it may hold their arguments, or a mark of their leaving). Read
    /// under the shard's lock.
    #[inline(always)]
    pub(crate) fn was_joined(&self) -> bool {
        self.joined.load(Ordering::Relaxed)
    }

    /// The flight's inner state, when nobody else holds the flight.
    #[inline(always)]
    pub(crate) fn inner_mut(&mut self) -> &mut Inner<A, V, E> {
        self.inner.get_mut()
    }

    /// Locks the flight, never panicking on poison.
    #[inline(always)]
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner<A, V, E>> {
        self.inner.lock()
    }

    /// The wake-ups so far.
    #[inline(always)]
    pub(crate) fn wakes(&self) -> u64 {
        self.notifier.wakes.load(Ordering::SeqCst)
    }

    /// The waker to poll the run with: it wakes every caller.
    #[inline(always)]
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Whether a caller that just drove the run has something to look at without
    /// waiting: the run finished, is to start again, or was woken since it was last
    /// polled.
    pub(crate) fn has_news(&self) -> bool {
        let wakes = self.wakes();
        let inner = self.lock();
        match inner.run {
            Run::Idle(_) => wakes != inner.polled_at,
            Run::Polling => false,
            Run::Restart | Run::Done(_) | Run::Abandoned => true,
        }
    }

    /// A listener for the next wake-up or outcome. Look at the flight again after
    /// making one.
    pub(crate) fn listen(&self) -> EventListener {
        self.notifier.event.listen()
    }

    /// Wakes every caller (an outcome is in, or the run was dropped).
    pub(crate) fn notify(&self) {
        self.notifier.event.notify(usize::MAX);
    }

    /// Counts one more caller, which hands over its arguments for restarts; unless the
    /// flight has no callers left (its run was dropped): then the arguments come back,
    /// and the caller must not join. Called under the shard's lock, where the caller
    /// found the flight in the store.
    pub(crate) fn join(&self, args: A) -> Result<(), A> {
        let mut inner = self.lock();
        if matches!(inner.run, Run::Abandoned) {
            return Err(args);
        }
        inner.callers += 1;
        inner.donations.push(args);
        self.joined.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Puts `work` in as the run, due to be polled by the next caller that looks (the
    /// caller that started it holds it until then).
    pub(crate) fn put_due(&self, work: Work<A, V, E>) {
        let wakes = self.wakes();
        let mut inner = self.lock();
        inner.run = Run::Idle(work);
        inner.polled_at = wakes.wrapping_sub(1);
    }

    /// Settles the flight with `result` and wakes the callers; the caller settling it
    /// leaves.
    pub(crate) fn settle(&self, result: Arc<Shared<V, E>>) {
        let mut inner = self.lock();
        inner.run = Run::Done(result);
        inner.callers -= 1;
        drop(inner);
        self.notify();
    }
}
