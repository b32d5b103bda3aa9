//! The named futures of a cached call: [`Call`] and [`TryCall`].
//!
//! Both drive one state machine, [`Calling`]: look the key up; on a hit return the
//! stored value; on a miss either lead (run the function, store an `Ok`, wake the
//! waiters) or wait for the leader. If the leader is dropped (cancelled) while callers
//! wait, its computation is handed over ([`Leading`]): the first waiter to look takes
//! it and drives it on, and the last waiter to leave an untaken one cancels it. If the
//! leader panics, or its computation spawned tasks into its scope, or it was a backend
//! lookup, its [`LeadGuard`] abandons the flight instead and the waiters start over, so
//! one of them leads a new computation.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;

use super::backend::BoxFut;
use super::core::{Core, Flight, Found, Lead, Outcome, Shared};
use super::run::Runner;
use crate::ctx;

/// The state machine shared by [`Call`] and [`TryCall`].
pub(crate) struct Calling<'a, A, K, V, E> {
    /// The cache.
    core: &'a Core<A, K, V, E>,
    /// Where the call is.
    step: Step<'a, A, K, V, E>,
    /// Whether this call's first lookup happened (a retry is not counted again).
    counted: bool,
}

/// The steps of a call.
enum Step<'a, A, K, V, E> {
    /// Not looked up yet (or starting over after the leader gave up).
    Start(A),
    /// Running the function (or the backend read) for everyone.
    Lead(Leading<'a, A, K, V, E>),
    /// Waiting for another call's computation of the same key.
    Wait {
        /// Kept in case the leader gives up and this call must lead.
        args: A,
        /// The computation waited on.
        flight: Waiting<'a, A, K, V, E>,
        /// Registered interest in the flight's outcome.
        listener: Option<EventListener>,
    },
    /// Outside any scope: awaiting the backend write before returning, so it is not
    /// lost.
    Writing {
        /// The write (failures are recorded by it).
        write: BoxFut<'static, ()>,
        /// What to return afterwards.
        result: Shared<V, E>,
    },
    /// Returned its output.
    Done,
}

/// The leader's work.
enum LeadFut<'a, A, V, E> {
    /// In memory only: the function, running in a (reused) runner.
    Function(Runner<A, V, E>),
    /// With a backend: read, then the function on a miss; `true` if it ran.
    Backend(BoxFut<'a, Result<(V, bool), E>>),
}

/// The leader's work and its guard. Dropped before it finishes (its call was
/// cancelled), it hands an in-memory computation over to the callers waiting on it, so
/// the computation is cancelled only when no caller is left; a backend lookup, or a
/// computation that panicked, is abandoned instead, and the waiters start over.
struct Leading<'a, A, K, V, E> {
    /// The work; `None` once finished.
    compute: Option<LeadFut<'a, A, V, E>>,
    /// Settles the flight, or abandons it if still armed when dropped.
    guard: LeadGuard<'a, A, K, V, E>,
    /// [`ctx::spawn_mark`] when this call took the lead, before the function's body
    /// ran. A different mark when the call is cancelled means the computation may have
    /// spawned tasks into this call's scope, which may end with the call: then it is
    /// not handed over (the waiters start over). Spawns from other threads count too.
    mark: SpawnMark,
}

/// See [`ctx::spawn_mark`]: one word.
type SpawnMark = u64;

impl<A, K, V, E> Drop for Leading<'_, A, K, V, E> {
    #[inline]
    fn drop(&mut self) {
        // A finished lead is disarmed: only a cancelled one has more to do.
        if self.guard.armed {
            self.let_go();
        }
    }
}

impl<A, K, V, E> Leading<'_, A, K, V, E> {
    /// A cancelled leader hands its computation over, if it can and anyone waits.
    /// Out of line: a call's hot paths carry only the check in `drop`.
    #[cold]
    #[inline(never)]
    fn let_go(&mut self) {
        // While unwinding (the computation may be what panicked, and cannot be polled
        // again), or when the computation may have spawned into this call's scope, the
        // fields' drops abandon the flight.
        if std::thread::panicking() || ctx::spawn_mark() != self.mark {
            return;
        }
        match self.compute.take() {
            Some(LeadFut::Function(runner)) => {
                let guard = &mut self.guard;
                match (guard.core.let_go.hand_over)(guard.core, guard.hash, guard.flight, runner) {
                    Ok(flight) => {
                        guard.armed = false;
                        flight.wake();
                    }
                    // Nobody waits: the computation is cancelled here, then the guard
                    // frees the key.
                    Err(runner) => drop(runner),
                }
            }
            other => drop(other),
        }
    }
}

/// Owned by the leading call: settles or abandons its flight exactly once.
///
/// It holds no key: the flight holds it, and is found by the key's hash and its id.
struct LeadGuard<'a, A, K, V, E> {
    core: &'a Core<A, K, V, E>,
    /// The key's hash.
    hash: u64,
    /// The flight's id.
    flight: u64,
    /// `true` until the flight is settled (or handed over).
    armed: bool,
    /// A leader with a backend whose lookup is not counted yet: it counts as a hit or a
    /// miss once the backend read tells which, and as a miss if the call ends first.
    uncounted: bool,
}

impl<'a, A, K, V, E> LeadGuard<'a, A, K, V, E> {
    /// The armed guard of flight `flight` (key hash `hash`).
    fn new(core: &'a Core<A, K, V, E>, hash: u64, flight: u64, uncounted: bool) -> Self {
        LeadGuard {
            core,
            hash,
            flight,
            armed: true,
            uncounted,
        }
    }
}

impl<A, K, V, E> LeadGuard<'_, A, K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn complete(
        &mut self,
        result: Result<V, E>,
        persist: bool,
        runner: Option<Runner<A, V, E>>,
    ) -> (Shared<V, E>, Option<BoxFut<'static, ()>>) {
        debug_assert!(self.armed, "a lead guard settles once");
        // Disarmed only once `complete` returns: if it panics first (a value's
        // `Clone`, the clock), dropping the guard still frees the key for the waiters.
        let out = self
            .core
            .complete(self.hash, self.flight, result, persist, runner);
        self.armed = false;
        out
    }
}

impl<A, K, V, E> Drop for LeadGuard<'_, A, K, V, E> {
    fn drop(&mut self) {
        if self.armed {
            // Panicking, or cancelled with nobody waiting: free the key.
            (self.core.let_go.abandon)(self.core, self.hash, self.flight, self.uncounted);
        }
    }
}

/// A call waiting on another call's flight, counted among its waiters
/// ([`Flight::join`]) until it stops waiting. The last waiter to leave a computation
/// handed over and not taken leads it out: cancels it, and frees the key.
struct Waiting<'a, A, K, V, E> {
    core: &'a Core<A, K, V, E>,
    /// The flight.
    flight: Arc<Flight<A, V, E>>,
    /// Whether this call still counts as a waiter.
    joined: bool,
}

impl<'a, A, K, V, E> Waiting<'a, A, K, V, E> {
    /// A waiter of `flight`, which [`Core::find`] already joined it to.
    fn joined(core: &'a Core<A, K, V, E>, flight: Arc<Flight<A, V, E>>) -> Self {
        Waiting {
            core,
            flight,
            joined: true,
        }
    }

    /// Takes the flight's handed-over computation, if no other waiter took it first:
    /// this call leads the flight from now on.
    fn claim(&mut self) -> Option<Leading<'a, A, K, V, E>> {
        let runner = self.flight.claim()?;
        self.joined = false;
        Some(self.lead(runner))
    }

    /// This call as the leader of the flight's handed-over computation `runner`.
    fn lead(&self, runner: Runner<A, V, E>) -> Leading<'a, A, K, V, E> {
        Leading {
            compute: Some(LeadFut::Function(runner)),
            guard: LeadGuard::new(self.core, self.flight.hash, self.flight.id, false),
            mark: ctx::spawn_mark(),
        }
    }
}

impl<A, K, V, E> Drop for Waiting<'_, A, K, V, E> {
    #[inline]
    fn drop(&mut self) {
        if self.joined {
            self.leave();
        }
    }
}

impl<A, K, V, E> Waiting<'_, A, K, V, E> {
    /// Stops counting as a waiter. Out of line: waiting is the rare path.
    #[cold]
    #[inline(never)]
    fn leave(&mut self) {
        self.joined = false;
        if let Some(runner) = self.flight.leave() {
            // The last waiter of a computation nobody drives: lead it, and let go of
            // it as a cancelled leader does (to a caller that joined meanwhile, if any).
            drop(self.lead(runner));
        }
    }
}

// `Calling` never pins `A`, `K`, `V` or `E` (the function's future is boxed), so it can
// be `Unpin` whatever they are.
impl<A, K, V, E> Unpin for Calling<'_, A, K, V, E> {}

impl<'a, A, K, V, E> Calling<'a, A, K, V, E> {
    pub(crate) fn new(core: &'a Core<A, K, V, E>, args: A) -> Self {
        Calling {
            core,
            step: Step::Start(args),
            counted: false,
        }
    }

    fn step_name(&self) -> &'static str {
        match self.step {
            Step::Start(_) => "start",
            Step::Lead(_) => "computing",
            Step::Wait { .. } => "waiting",
            Step::Writing { .. } => "writing",
            Step::Done => "done",
        }
    }
}

impl<A, K, V, E> Future for Calling<'_, A, K, V, E>
where
    A: Send,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    type Output = Shared<V, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Shared<V, E>> {
        let this = &mut *self;
        let core = this.core;
        loop {
            // Each step is moved out; a panic below drops it (and so the lead guard).
            match std::mem::replace(&mut this.step, Step::Done) {
                Step::Start(args) => {
                    let count = !this.counted;
                    this.counted = true;
                    let key = (core.make_key)(&args);
                    match core.find(key, count) {
                        Found::Hit(value) => return Poll::Ready(Ok(value)),
                        Found::Wait {
                            flight,
                            expired,
                            record_miss,
                        } => {
                            this.step = Step::Wait {
                                args,
                                flight: Waiting::joined(core, flight),
                                listener: None,
                            };
                            // User code, now that a panic in it leaves the flight.
                            drop(expired);
                            if record_miss {
                                core.record_miss();
                            }
                        }
                        Found::Lead(Lead {
                            flight,
                            hash,
                            key,
                            runner,
                            expired,
                            record_miss,
                        }) => {
                            let uncounted = count && core.backend.is_some();
                            let guard = LeadGuard::new(core, hash, flight, uncounted);
                            // User code, now that a panic in it drops the guard and so
                            // frees the key.
                            drop(expired);
                            if record_miss {
                                core.record_miss();
                            }
                            // Before the function's body runs (in `start`): it may spawn.
                            let mark = ctx::spawn_mark();
                            let compute = match (&core.backend, key) {
                                (Some(backend), Some(key)) => {
                                    LeadFut::Backend(core.load(backend, key, args))
                                }
                                _ => {
                                    // The last leader's runner if it left one, else a new one.
                                    let mut runner = runner.unwrap_or_else(|| (core.function)());
                                    runner.as_mut().start(args);
                                    LeadFut::Function(runner)
                                }
                            };
                            this.step = Step::Lead(Leading {
                                compute: Some(compute),
                                guard,
                                mark,
                            });
                        }
                    }
                }
                Step::Lead(mut leading) => {
                    let compute = leading.compute.as_mut();
                    let polled = match compute.expect("a lead has its work until it ends") {
                        LeadFut::Function(runner) => {
                            runner.as_mut().poll_run(cx).map(|r| r.map(|v| (v, true)))
                        }
                        LeadFut::Backend(f) => f.as_mut().poll(cx),
                    };
                    let (result, computed) = match polled {
                        Poll::Pending => {
                            this.step = Step::Lead(leading);
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok((value, computed))) => (Ok(value), computed),
                        Poll::Ready(Err(e)) => (Err(e), true),
                    };
                    if leading.guard.uncounted {
                        leading.guard.uncounted = false;
                        core.count_load(computed);
                    }
                    // Drop the finished future before settling, so its resources are
                    // released before waiters run; an emptied runner goes back to the
                    // core for the next miss.
                    let runner = match leading.compute.take() {
                        Some(LeadFut::Function(mut runner)) => {
                            runner.as_mut().clear();
                            Some(runner)
                        }
                        other => {
                            drop(other);
                            None
                        }
                    };
                    let (result, write) = leading.guard.complete(result, computed, runner);
                    drop(leading);
                    if let Some(write) = write {
                        // In a scope the write runs as a task (the scope waits for it);
                        // outside one, this call awaits it so nothing is lost.
                        match ctx::try_spawn(write) {
                            Ok(task) => task.detach(),
                            Err(refused) => {
                                this.step = Step::Writing {
                                    write: refused.into_future(),
                                    result,
                                };
                                continue;
                            }
                        }
                    }
                    return Poll::Ready(result);
                }
                Step::Writing { mut write, result } => match write.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.step = Step::Writing { write, result };
                        return Poll::Pending;
                    }
                    Poll::Ready(()) => return Poll::Ready(result),
                },
                Step::Wait {
                    args,
                    mut flight,
                    listener,
                } => match flight.flight.outcome() {
                    Outcome::Done(result) => return Poll::Ready(result),
                    Outcome::Abandoned => this.step = Step::Start(args),
                    // The leader was cancelled: the first waiter here drives its
                    // computation on; the others keep waiting.
                    Outcome::HandedOver => match flight.claim() {
                        Some(leading) => this.step = Step::Lead(leading),
                        None => {
                            this.step = Step::Wait {
                                args,
                                flight,
                                listener: None,
                            };
                        }
                    },
                    Outcome::Running => match listener {
                        // Register first, then look again: no wake-up can be missed.
                        None => {
                            let listener = Some(flight.flight.listen());
                            this.step = Step::Wait {
                                args,
                                flight,
                                listener,
                            };
                        }
                        Some(mut l) => match Pin::new(&mut l).poll(cx) {
                            Poll::Pending => {
                                this.step = Step::Wait {
                                    args,
                                    flight,
                                    listener: Some(l),
                                };
                                return Poll::Pending;
                            }
                            Poll::Ready(()) => {
                                this.step = Step::Wait {
                                    args,
                                    flight,
                                    listener: None,
                                };
                            }
                        },
                    },
                },
                Step::Done => panic!("haiway: cached call polled after it completed"),
            }
        }
    }
}

/// The future returned by [`Cached::call`](super::Cached::call): the value for the
/// arguments, from the store or computed.
///
/// Dropping it while it computes hands the computation over to the other callers of
/// the same key, if any wait: one of them drives it on. With none waiting, the
/// computation is dropped (cancelled). A computation that spawned tasks into this
/// call's scope, or a backend lookup, is not handed over: the waiting callers start
/// over.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Call<'a, A, V, K = A> {
    /// The shared state machine, with an error type that cannot happen.
    inner: Calling<'a, A, K, V, Infallible>,
}

impl<'a, A, V, K> Call<'a, A, V, K> {
    pub(crate) fn new(inner: Calling<'a, A, K, V, Infallible>) -> Self {
        Call { inner }
    }
}

impl<A, V, K> Future for Call<'_, A, V, K>
where
    A: Send,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type Output = V;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<V> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(value),
            Poll::Ready(Err(never)) => match *never {},
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<A, V, K> fmt::Debug for Call<'_, A, V, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("cache", &self.inner.core.name)
            .field("step", &self.inner.step_name())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`TryCached::call`](super::TryCached::call): the value, or
/// the function's error shared with every caller that waited on the same computation.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryCall<'a, A, V, E, K = A> {
    /// The shared state machine.
    inner: Calling<'a, A, K, V, E>,
}

impl<'a, A, V, E, K> TryCall<'a, A, V, E, K> {
    pub(crate) fn new(inner: Calling<'a, A, K, V, E>) -> Self {
        TryCall { inner }
    }
}

impl<A, V, E, K> Future for TryCall<'_, A, V, E, K>
where
    A: Send,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    type Output = Result<V, Arc<E>>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<A, V, E, K> fmt::Debug for TryCall<'_, A, V, E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryCall")
            .field("cache", &self.inner.core.name)
            .field("step", &self.inner.step_name())
            .finish_non_exhaustive()
    }
}
