//! The named futures of a cached call: [`Call`] and [`TryCall`].
//!
//! Both drive one state machine, [`Calling`]. Its first poll is the hit path,
//! inlined: [`Core::hit`] looks the key up and returns a stored value (for a cache with
//! a key function, out of line: [`KeyedCore::hit`]). Everything else is out of line, in
//! [`Calling::missed`] and [`Calling::poll_slow`]: on a miss the call leads a new flight
//! or joins the key's, then, whenever it is polled, drives the flight's run or waits
//! for the call driving it (see [`flight`](super::flight)). The common miss (the lookup
//! saw no node for the key, and there is no backend) takes the lean lead path,
//! [`Core::lead_new`] (see [`lead`](super::lead)), inlined into `missed`; any other
//! miss goes through [`Core::miss`] (also inlined there), and its lead path through
//! [`Core::drive_here`]. A call that drives a run it found in its flight uses the
//! out-of-line copy, [`Core::drive`]. The steps after the lookup are generic over the
//! core's key type, and park the call's place in a flight as a [`Slow`] of its kind.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::attached::{Attached, Held, Missed};
use super::backend::BoxFut;
use super::core::{Core, Locked};
use super::drive::Driven;
use super::engine::{Engine, KeyedCore};
use super::flight::{Run, Shared};
use super::key::ErasedKey;
use crate::ctx;

/// The state machine shared by [`Call`] and [`TryCall`].
pub(crate) struct Calling<'a, A, V, E> {
    /// The cache.
    engine: &'a Engine<A, V, E>,
    /// Where the call is. Dropped by `Calling`'s own `Drop`, so that a finished call
    /// (the common case) drops nothing and calls nothing.
    step: ManuallyDrop<Step<'a, A, V, E>>,
}

/// The steps of a call.
enum Step<'a, A, V, E> {
    /// Not looked up yet.
    Start(A),
    /// Past the lookup, and not finished in the poll that made it: boxed, so a call
    /// that waits allocates once, and `Step` stays two words, which the hit path moves
    /// and drops inline.
    Slow(Box<Slow<'a, A, V, E>>),
    /// Returned its output.
    Done,
}

/// The steps of a call after its lookup.
enum Slow<'a, A, V, E> {
    /// In a flight of its key (a cache keyed by the arguments): driving its run, or
    /// waiting for the call that does.
    Plain(Attached<'a, A, A, V, E>),
    /// The same, in a cache with a key function.
    Keyed(Attached<'a, A, ErasedKey, V, E>),
    /// Outside any scope: awaiting the backend write before returning, so it is not
    /// lost.
    Writing(Writing<V, E>),
    /// Taken out for a moment (the box is kept for the next step).
    Empty,
}

/// Parks a call's place in a flight of a core with keys `K` as a [`Slow`] step:
/// [`Slow::Plain`] or [`Slow::Keyed`].
type Park<'a, A, K, V, E> = fn(Attached<'a, A, K, V, E>) -> Slow<'a, A, V, E>;

/// A finished call's backend write, awaited before it returns (outside any scope).
struct Writing<V, E> {
    /// The write (failures are recorded by it).
    write: BoxFut<'static, ()>,
    /// What to return afterwards.
    result: Shared<V, E>,
}

impl<A, V, E> Drop for Calling<'_, A, V, E> {
    #[inline]
    fn drop(&mut self) {
        // The step is taken out, leaving `Done` (nothing to drop) behind: a finished
        // call drops nothing; an unpolled one its arguments; one past its lookup
        // leaves its flight or drops its write, out of line.
        match *self.step {
            Step::Done => {}
            Step::Start(_) => drop(std::mem::replace(&mut *self.step, Step::Done)),
            Step::Slow(_) => drop_slow(std::mem::replace(&mut *self.step, Step::Done)),
        }
    }
}

/// Drops a call's step after its lookup (leaving a flight, dropping a write).
#[cold]
#[inline(never)]
fn drop_slow<A, V, E>(step: Step<'_, A, V, E>) {
    drop(step);
}

// `Calling` never pins `A`, `V` or `E` (the function's future is boxed), so it can be
// `Unpin` whatever they are.
impl<A, V, E> Unpin for Calling<'_, A, V, E> {}

impl<'a, A, V, E> Calling<'a, A, V, E> {
    #[inline]
    pub(crate) fn new(engine: &'a Engine<A, V, E>, args: A) -> Self {
        Calling {
            engine,
            step: ManuallyDrop::new(Step::Start(args)),
        }
    }

    /// The cache's name, for `Debug`.
    fn engine_name(&self) -> &str {
        self.engine.name()
    }

    fn step_name(&self) -> &'static str {
        match &*self.step {
            Step::Start(_) => "start",
            Step::Slow(slow) => match **slow {
                Slow::Plain(_) | Slow::Keyed(_) | Slow::Empty => "computing",
                Slow::Writing(_) => "writing",
            },
            Step::Done => "done",
        }
    }
}

impl<'a, A, V, E> Calling<'a, A, V, E>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// The first poll of a call of a cache with a key function: its hit path, then the
    /// miss path. Out of line, so the plain hit path stays short.
    #[cold]
    #[inline(never)]
    fn keyed(
        &mut self,
        keyed: &'a KeyedCore<A, V, E>,
        args: A,
        cx: &mut Context<'_>,
    ) -> Poll<Shared<V, E>> {
        match keyed.hit(&args) {
            Ok(value) => Poll::Ready(Ok(value)),
            Err((locked, key)) => {
                self.miss_from(&keyed.core, locked, args, Some(key), cx, Slow::Keyed)
            }
        }
    }

    /// The miss path of a cache keyed by the arguments: [`miss_from`](Self::miss_from),
    /// out of line.
    #[cold]
    #[inline(never)]
    fn missed<K>(
        &mut self,
        core: &'a Core<A, K, V, E>,
        locked: Locked<'a, A, K, V, E>,
        args: A,
        cx: &mut Context<'_>,
        park: Park<'a, A, K, V, E>,
    ) -> Poll<Shared<V, E>>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.miss_from(core, locked, args, None, cx, park)
    }

    /// The miss path: the lookup found no live value (the shard's lock is still held in
    /// `locked`). Leads a new flight (the lean lead path, when it applies) or joins the
    /// key's, and goes on from there. `made`: the key the lookup made, in a cache with a
    /// key function (`None`: the arguments are the key).
    #[inline(always)]
    fn miss_from<K>(
        &mut self,
        core: &'a Core<A, K, V, E>,
        locked: Locked<'a, A, K, V, E>,
        args: A,
        made: Option<K>,
        cx: &mut Context<'_>,
        park: Park<'a, A, K, V, E>,
    ) -> Poll<Shared<V, E>>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        if core.leads_new(&locked) {
            // The common miss: the lean lead path. Its result, stored, is returned as
            // is: the step is `Done` since this first poll took the arguments.
            return match core.lead_new(locked, args, made) {
                Ok(result) => Poll::Ready(result),
                Err(driven) => self.driven(driven, cx, park),
            };
        }
        match core.miss(locked, args, made, true) {
            Missed::Hit(value) => Poll::Ready(Ok(value)),
            Missed::Join(attached) => {
                self.park(park(attached));
                self.poll_slow(cx)
            }
            Missed::Lead {
                mut attached,
                key,
                args,
                runner,
                expired,
                record_miss,
            } => {
                // User code (a recorder, the expired value's `Drop`, the function's
                // synchronous part), while this call holds the run: a panic drops it.
                let work = {
                    let held = Held::new(&mut attached);
                    if record_miss {
                        core.record_miss();
                    }
                    drop(expired);
                    let work = core.start(held.attached(), key, args, runner);
                    held.disarm();
                    work
                };
                // The lead path: a function that finishes in its first poll is
                // completed in this frame.
                let driven = core.drive_here(attached, work);
                self.driven(driven, cx, park)
            }
        }
    }

    /// Goes on from this call's turn at driving its flight's run ([`Core::drive`]).
    #[inline(always)]
    fn driven<K>(
        &mut self,
        driven: Driven<'a, A, K, V, E>,
        cx: &mut Context<'_>,
        park: Park<'a, A, K, V, E>,
    ) -> Poll<Shared<V, E>>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        match driven {
            Driven::Finished(result, write) => self.finish(result, write, cx),
            Driven::Pending(mut attached) => {
                // Not again in this poll: a run that wakes itself (a `yield_now`) must
                // let the executor run other tasks. Listen for the next wake-up, or,
                // if one came in during the poll, be polled again soon.
                let mut listener = attached.flight.listen();
                // Polled once, so it holds this task's waker; then the flight is looked
                // at again, whole: another call may have finished the run (or taken
                // and put it back, woken) between this call's poll and its listening.
                let heard = Pin::new(&mut listener).poll(cx).is_ready();
                if heard || attached.flight.has_news() {
                    cx.waker().wake_by_ref();
                } else {
                    attached.listener = Some(listener);
                }
                self.park(park(attached));
                Poll::Pending
            }
        }
    }

    /// The run finished in this call: returns its result, once the backend write is
    /// spawned (in a scope) or done (outside one, so it is not lost).
    #[inline(always)]
    fn finish(
        &mut self,
        result: Shared<V, E>,
        write: Option<BoxFut<'static, ()>>,
        cx: &mut Context<'_>,
    ) -> Poll<Shared<V, E>> {
        let Some(write) = write else {
            *self.step = Step::Done;
            return Poll::Ready(result);
        };
        // The write's home, chosen here: the nearest background owner (a scope marked
        // `Scope::background`), so a client that disconnects does not cancel it; else
        // the current scope; outside any scope it is awaited, so it is not lost.
        match ctx::spawn_kept(write) {
            Ok(task) => {
                task.detach();
                *self.step = Step::Done;
                Poll::Ready(result)
            }
            Err(write) => {
                self.park(Slow::Writing(Writing { write, result }));
                self.poll_slow(cx)
            }
        }
    }

    /// Puts `slow` in as the call's step, in the box it had, if any.
    fn park(&mut self, slow: Slow<'a, A, V, E>) {
        match &mut *self.step {
            Step::Slow(boxed) => **boxed = slow,
            step => *step = Step::Slow(Box::new(slow)),
        }
    }

    /// Every step after the first lookup.
    #[cold]
    #[inline(never)]
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Poll<Shared<V, E>> {
        loop {
            let slow = match &mut *self.step {
                Step::Slow(slow) => std::mem::replace(&mut **slow, Slow::Empty),
                Step::Start(_) => unreachable!("`poll` looks a key up first"),
                Step::Done => panic!("haiway: cached call polled after it completed"),
            };
            let polled = match slow {
                Slow::Empty => unreachable!("a step is put back before the poll ends"),
                Slow::Writing(mut writing) => {
                    return match writing.write.as_mut().poll(cx) {
                        Poll::Pending => {
                            self.park(Slow::Writing(writing));
                            Poll::Pending
                        }
                        Poll::Ready(()) => {
                            *self.step = Step::Done;
                            Poll::Ready(writing.result)
                        }
                    };
                }
                Slow::Plain(attached) => self.poll_flight(attached, cx, Slow::Plain),
                Slow::Keyed(attached) => self.poll_flight(attached, cx, Slow::Keyed),
            };
            if let Some(polled) = polled {
                return polled;
            }
        }
    }

    /// One look at the flight this call is in: its result, its run to drive, or a
    /// wait. `None`: look again (the call is parked).
    fn poll_flight<K>(
        &mut self,
        mut attached: Attached<'a, A, K, V, E>,
        cx: &mut Context<'_>,
        park: Park<'a, A, K, V, E>,
    ) -> Option<Poll<Shared<V, E>>>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let flight = &attached.flight;
        let mut inner = flight.lock();
        let due = flight.wakes() != inner.polled_at;
        match &mut inner.run {
            Run::Done(result) => {
                let result = result.clone();
                inner.callers -= 1;
                drop(inner);
                attached.detach();
                *self.step = Step::Done;
                // The value's `Clone` (user code), outside every lock.
                return Some(Poll::Ready((*result).clone()));
            }
            Run::Restart => {
                let Some(args) = inner.donations.pop() else {
                    unreachable!("a flight with callers has arguments to restart")
                };
                inner.run = Run::Polling;
                inner.polled_at = flight.wakes();
                drop(inner);
                let core = attached.core;
                let work = {
                    let held = Held::new(&mut attached);
                    let work = core.restart(held.attached(), args);
                    held.disarm();
                    work
                };
                let driven = core.drive(attached, work);
                return Some(self.driven(driven, cx, park));
            }
            Run::Idle(_) if due => {
                let Run::Idle(work) = std::mem::replace(&mut inner.run, Run::Polling) else {
                    unreachable!("matched above")
                };
                inner.polled_at = flight.wakes();
                drop(inner);
                let driven = attached.core.drive(attached, work);
                return Some(self.driven(driven, cx, park));
            }
            Run::Abandoned => {
                unreachable!("a flight with callers is not abandoned")
            }
            // Polled by another call, or since its last wake-up: wait.
            Run::Idle(_) | Run::Polling => drop(inner),
        }
        // Register first, then look again: no wake-up can be missed.
        match &mut attached.listener {
            None => attached.listener = Some(attached.flight.listen()),
            Some(listener) => match Pin::new(listener).poll(cx) {
                Poll::Ready(()) => attached.listener = None,
                Poll::Pending => {
                    self.park(park(attached));
                    return Some(Poll::Pending);
                }
            },
        }
        self.park(park(attached));
        None
    }
}

impl<A, V, E> Future for Calling<'_, A, V, E>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    type Output = Shared<V, E>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Shared<V, E>> {
        let this = self.get_mut();
        if let Step::Start(_) = *this.step {
            let Step::Start(args) = std::mem::replace(&mut *this.step, Step::Done) else {
                unreachable!("matched above")
            };
            // The one branch on the cache's kind: the plain hit path is inlined here.
            return match this.engine {
                Engine::Plain(core) => match core.hit(&args, true) {
                    Ok(value) => Poll::Ready(Ok(value)),
                    Err(locked) => this.missed(core, locked, args, cx, Slow::Plain),
                },
                Engine::Keyed(keyed) => this.keyed(keyed, args, cx),
            };
        }
        this.poll_slow(cx)
    }
}

/// The future returned by [`Cached::call`](super::Cached::call): the value for the
/// arguments, from the store or computed.
///
/// Dropping it leaves the computation to the other callers of the same key, if any:
/// whichever of them is polled drives it on. With none left, the computation is dropped
/// (cancelled).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Call<'a, A, V> {
    /// The shared state machine, with an error type that cannot happen.
    inner: Calling<'a, A, V, Infallible>,
}

impl<'a, A, V> Call<'a, A, V> {
    #[inline]
    pub(crate) fn new(inner: Calling<'a, A, V, Infallible>) -> Self {
        Call { inner }
    }
}

impl<A, V> Future for Call<'_, A, V>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type Output = V;

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<V> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(value),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<A, V> fmt::Debug for Call<'_, A, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("cache", &self.inner.engine_name())
            .field("step", &self.inner.step_name())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`TryCached::call`](super::TryCached::call): the value, or
/// the function's error (a clone of it for every caller that waited on the same
/// computation).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryCall<'a, A, V, E> {
    /// The shared state machine.
    inner: Calling<'a, A, V, E>,
}

impl<'a, A, V, E> TryCall<'a, A, V, E> {
    #[inline]
    pub(crate) fn new(inner: Calling<'a, A, V, E>) -> Self {
        TryCall { inner }
    }
}

impl<A, V, E> Future for TryCall<'_, A, V, E>
where
    A: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    type Output = Result<V, E>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<A, V, E> fmt::Debug for TryCall<'_, A, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryCall")
            .field("cache", &self.inner.engine_name())
            .field("step", &self.inner.step_name())
            .finish_non_exhaustive()
    }
}
