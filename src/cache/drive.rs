//! Driving a flight's run: starting it, polling it with the flight's waker, following
//! another flight after a clear, starting it again, and completing it (storing the
//! value, settling the other callers). The [`Core`] methods a call uses once it holds
//! its flight's run; see [`flight`](super::flight) for the rules.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;

use super::attached::{Attached, Held, Missed};
use super::backend::BoxFut;
use super::core::Core;
use super::flight::{Flight, Run, Shared, Work};
use super::lru::Seen;
use super::run::Runner;
use super::shard::Pending;
use crate::ctx;

/// What a caller's turn at driving a run came to ([`Core::drive`]).
pub(crate) enum Driven<'a, A, K, V, E> {
    /// The run finished in this turn: its result, and the backend write to run.
    Finished(Shared<V, E>, Option<BoxFut<'static, ()>>),
    /// The run is not finished; it is back in the flight, and the call still in it.
    Pending(Attached<'a, A, K, V, E>),
}

impl<A, K, V, E> Core<A, K, V, E>
where
    A: Send + 'static,
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// The run of a flight this call leads, started outside any lock: the backend read
    /// (unless the key is suspect, see [`write`](crate::cache::write)), or the function on
    /// `args`. The function's synchronous part runs here.
    #[inline(always)]
    pub(crate) fn start(
        &self,
        attached: &Attached<'_, A, K, V, E>,
        key: Option<K>,
        args: A,
        runner: Option<Runner<A, V, E>>,
    ) -> Work<A, V, E> {
        if let (Some(backend), Some(key)) = (&self.backend, key) {
            if !self.writes.is_suspect(&key) {
                return Work::Read {
                    read: backend.clone().read_owned(key),
                    args,
                };
            }
            // The backend may hold a value from before a clear: not read, a miss.
            self.count_load(attached, true);
        }
        Work::Function(self.runner(runner, args))
    }

    /// A runner started on `args`: `kept` if there is one, or a new one.
    #[inline(always)]
    pub(super) fn runner(&self, kept: Option<Runner<A, V, E>>, args: A) -> Runner<A, V, E> {
        let mut runner = self.runner_for_a_run(kept);
        runner.as_mut().start(args);
        runner
    }

    /// `kept` if there is one, or a new runner, for a run about to start (counted).
    #[inline(always)]
    pub(super) fn runner_for_a_run(&self, kept: Option<Runner<A, V, E>>) -> Runner<A, V, E> {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        kept.unwrap_or_else(|| (self.function)())
    }

    /// Counts a backend lookup once its read tells a hit (`computed == false`) from a
    /// miss, unless it was counted already.
    fn count_load(&self, attached: &Attached<'_, A, K, V, E>, computed: bool) {
        if !std::mem::take(&mut attached.flight.lock().uncounted) {
            return;
        }
        {
            let mut st = self.shard(attached.hash).lock();
            if computed {
                st.counts.miss();
            } else {
                st.counts.hit();
            }
        }
        ctx::record_debug(if computed {
            &self.events.miss
        } else {
            &self.events.hit
        });
    }

    /// [`drive_here`](Self::drive_here), out of line: for a call that drives a run it
    /// found in its flight (the lead path of a miss has its own copy, inlined).
    #[inline(never)]
    pub(crate) fn drive<'a>(
        &'a self,
        attached: Attached<'a, A, K, V, E>,
        work: Work<A, V, E>,
    ) -> Driven<'a, A, K, V, E> {
        self.drive_here(attached, work)
    }

    /// One call's turn at driving the run `work`, which it took out of the flight: polls
    /// it with the flight's waker, then finishes it, or puts it back. A panic drops the
    /// run (the guard), and the run starts again for the other callers. Inlined where
    /// it is called: into the lead path of a miss (where a function that finishes in
    /// its first poll is completed in the same frame) and into [`drive`](Self::drive).
    #[inline(always)]
    pub(crate) fn drive_here<'a>(
        &'a self,
        mut attached: Attached<'a, A, K, V, E>,
        mut work: Work<A, V, E>,
    ) -> Driven<'a, A, K, V, E> {
        let held = Held::new(&mut attached);
        let hash = held.attached().hash;
        let flight: &Flight<A, V, E> = &held.attached().flight;
        let mut cx = Context::from_waker(flight.waker());
        loop {
            work = match work {
                Work::Function(mut runner) => match runner.as_mut().poll_run(&mut cx) {
                    Poll::Ready(result) => {
                        // The finished future was dropped (user code) in the poll,
                        // before any lock.
                        held.disarm();
                        return self.complete_here(attached, result, true, Some(runner));
                    }
                    Poll::Pending => Work::Function(runner),
                },
                Work::Read { mut read, args } => match read.as_mut().poll(&mut cx) {
                    Poll::Ready(Ok(Some(value))) => {
                        self.count_load(held.attached(), false);
                        drop(read);
                        drop(args);
                        held.disarm();
                        return self.complete(attached, Ok(value), false, None);
                    }
                    Poll::Ready(read) => {
                        if let Err(e) = read {
                            self.record_failure("cache.read_failed", &*e);
                        }
                        self.count_load(held.attached(), true);
                        // On to the function, polled at once.
                        work = Work::Function(self.runner(None, args));
                        continue;
                    }
                    Poll::Pending => Work::Read { read, args },
                },
                Work::Done(result) => {
                    held.disarm();
                    return self.complete(attached, result, false, None);
                }
                Work::Follow(follow) => {
                    let (followed, mut listener) = Attached::from_follow(self, hash, follow);
                    match self.follow(followed, &mut listener, &mut cx) {
                        Ok((result, write)) => {
                            held.disarm();
                            return match self.complete(attached, result, false, None) {
                                Driven::Finished(result, None) => Driven::Finished(result, write),
                                driven => driven,
                            };
                        }
                        Err(followed) => Work::Follow(followed.into_follow(listener)),
                    }
                }
            };
            match self.put_back(held.attached(), work) {
                Ok(()) => {
                    held.disarm();
                    return Driven::Pending(attached);
                }
                Err(restarted) => work = restarted,
            }
        }
    }

    /// A run the call `attached` polled, not finished, back into the flight; unless a
    /// caller that left doomed it meanwhile: then it is started again, to be polled at
    /// once (returned). If it was woken during the poll, the flight says so (its
    /// wake-ups moved past `polled_at`): the next caller polled drives it again.
    fn put_back(
        &self,
        attached: &Attached<'_, A, K, V, E>,
        mut work: Work<A, V, E>,
    ) -> Result<(), Work<A, V, E>> {
        let flight = &attached.flight;
        let mut inner = flight.lock();
        if std::mem::take(&mut inner.doomed) {
            if let Some(args) = inner.donations.pop() {
                drop(inner);
                let doomed = std::mem::replace(&mut work, self.restart(attached, args));
                self.drop_work(attached.hash, doomed);
                return Err(work);
            }
        }
        inner.run = Run::Idle(work);
        // Woken while out of the flight: the callers that heard it then saw the run
        // taken out, and wait for the next wake-up. They are told now; this call may
        // never be polled again (dropped, or held in a `select!` that lost).
        let woken = flight.wakes() != inner.polled_at;
        drop(inner);
        if woken {
            flight.notify();
        }
        Ok(())
    }

    /// The lean lead path's run ([`lead_new`](Self::lead_new)), not finished in its
    /// first poll: into the flight as [`drive`](Self::drive) would put it. The flight may
    /// be a kept one, whose `polled_at` is from its last run: it is set to the wake-ups
    /// counted before the poll (`wakes_before`), as a new or reused flight has it.
    #[cold]
    #[inline(never)]
    pub(crate) fn lead_pending<'a>(
        &'a self,
        mut attached: Attached<'a, A, K, V, E>,
        work: Work<A, V, E>,
        wakes_before: u64,
    ) -> Driven<'a, A, K, V, E> {
        attached.flight.lock().polled_at = wakes_before;
        let held = Held::new(&mut attached);
        let put = self.put_back(held.attached(), work);
        held.disarm();
        match put {
            Ok(()) => Driven::Pending(attached),
            Err(restarted) => self.drive(attached, restarted),
        }
    }

    /// One look, for a follower ([`Work::Follow`]), at the flight it follows as one of
    /// its callers (`followed`): its result, or the membership back (the follower's
    /// waker, in `cx`, is woken when there is more to see).
    #[allow(clippy::type_complexity)]
    fn follow<'a>(
        &'a self,
        mut followed: Attached<'a, A, K, V, E>,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
    ) -> Result<(Shared<V, E>, Option<BoxFut<'static, ()>>), Attached<'a, A, K, V, E>> {
        loop {
            let flight = followed.flight.clone();
            let mut inner = flight.lock();
            let due = flight.wakes() != inner.polled_at;
            let work = match &mut inner.run {
                Run::Done(result) => {
                    let result = result.clone();
                    inner.callers -= 1;
                    drop(inner);
                    followed.detach();
                    return Ok(((*result).clone(), None));
                }
                Run::Restart => {
                    let args = inner.donations.pop().expect("callers left, arguments left");
                    inner.run = Run::Polling;
                    inner.polled_at = flight.wakes();
                    drop(inner);
                    let held = Held::new(&mut followed);
                    let work = self.restart(held.attached(), args);
                    held.disarm();
                    Some(work)
                }
                Run::Idle(_) if due => {
                    let Run::Idle(work) = std::mem::replace(&mut inner.run, Run::Polling) else {
                        unreachable!("matched above")
                    };
                    inner.polled_at = flight.wakes();
                    drop(inner);
                    Some(work)
                }
                Run::Abandoned => unreachable!("a flight with callers is not abandoned"),
                Run::Idle(_) | Run::Polling => None,
            };
            if let Some(work) = work {
                match self.drive(followed, work) {
                    Driven::Finished(result, write) => return Ok((result, write)),
                    Driven::Pending(back) => followed = back,
                }
                // Not again now (see `Calling::driven`): the follower is woken.
                *listener = None;
                cx.waker().wake_by_ref();
                return Err(followed);
            }
            match listener {
                None => *listener = Some(flight.listen()),
                Some(l) => match Pin::new(l).poll(cx) {
                    Poll::Ready(()) => *listener = None,
                    Poll::Pending => return Err(followed),
                },
            }
        }
    }

    /// Drops a run's `work` (user code) outside every lock, leaving a followed flight.
    fn drop_work(&self, hash: u64, work: Work<A, V, E>) {
        if let Work::Follow(follow) = work {
            drop(Attached::from_follow(self, hash, follow));
        }
    }

    /// The run of a flight started again (see [`Run::Restart`]) on donated `args`, by
    /// a caller holding it: read again, or run the function, if the flight is still
    /// its key's; else (it was cleared) as a new call of the key would, following the
    /// key's current flight.
    pub(crate) fn restart(&self, attached: &Attached<'_, A, K, V, E>, args: A) -> Work<A, V, E> {
        let now = self.now();
        // A key function is user code: its key is made before the lock is taken.
        let made = self.made_key(&args);
        let st = self.shard(attached.hash).lock();
        if st.holds(attached.slot, &attached.flight) {
            drop(st);
            let key = self
                .backend
                .as_ref()
                .map(|_| self.key_or_made(made, &args).into_owned());
            return self.start(attached, key, args, None);
        }
        let locked = (st, attached.hash, now, Seen::UNKNOWN);
        match self.miss_again(locked, args, made, false) {
            Missed::Hit(value) => Work::Done(Ok(value)),
            Missed::Join(followed) => Work::Follow(followed.into_follow(None)),
            Missed::Lead {
                attached: mut led,
                key,
                args,
                runner,
                expired,
                ..
            } => {
                let work = {
                    let held = Held::new(&mut led);
                    drop(expired);
                    let work = self.start(held.attached(), key, args, runner);
                    held.disarm();
                    work
                };
                // In its flight, due: the follower drives it at once.
                led.flight.put_due(work);
                Work::Follow(led.into_follow(None))
            }
        }
    }

    /// [`complete_here`](Self::complete_here), out of line: for a run that did not
    /// finish as a function in the poll of the call that drove it.
    #[inline(never)]
    pub(super) fn complete<'a>(
        &'a self,
        attached: Attached<'a, A, K, V, E>,
        result: Shared<V, E>,
        persist: bool,
        runner: Option<Runner<A, V, E>>,
    ) -> Driven<'a, A, K, V, E> {
        self.complete_here(attached, result, persist, runner)
    }

    /// The call that finished the run stores its result (an `Ok`, in the pending node,
    /// unless a clear removed the node meanwhile), registers its backend write (a
    /// computed value, `persist`), and settles the flight for the other callers; or,
    /// with nobody else in the flight, keeps it (and its emptied `runner`) for the
    /// shard's next miss. The call leaves the flight.
    #[inline(always)]
    fn complete_here<'a>(
        &'a self,
        mut attached: Attached<'a, A, K, V, E>,
        result: Shared<V, E>,
        persist: bool,
        mut runner: Option<Runner<A, V, E>>,
    ) -> Driven<'a, A, K, V, E> {
        // Declared before the lock, so they are dropped after it is released (their
        // `Drop` is user code), also on a panic under it (a value's `Clone`).
        let mut evicted = None;
        let mut removed: Option<K> = None;
        let mut payload = None;
        let mut write_key: Option<K> = None;
        let mut write = None;
        // A panic from here on (a key's or value's `Clone`) drops the run, and the
        // other callers start it again.
        let held = Held::new(&mut attached);
        let now = self.now();
        let settle = {
            let attached = held.attached();
            let mut st = self.shard(attached.hash).lock();
            if st.holds(attached.slot, &attached.flight) {
                let fresh = persist && self.backend.is_some();
                match &result {
                    Ok(value) if self.memory => {
                        if fresh {
                            let key = write_key.insert(st.store.key(attached.slot).clone());
                            // Registered under the lock, so a clear from now on finds it.
                            write = Some(self.writes.start(key.clone()));
                        }
                        let expires = now.zip(self.expiration).map(|(now, ttl)| now + ttl);
                        let (p, e) = st.store.fulfil(attached.slot, value.clone(), expires);
                        if e.is_some() {
                            st.counts.evicted();
                        }
                        (payload, evicted) = (Some(p), e);
                    }
                    _ => {
                        let (key, p) = st.store.remove_pending(attached.slot);
                        payload = Some(p);
                        let key = removed.insert(key);
                        if fresh && result.is_ok() {
                            write = Some(self.writes.start(key.clone()));
                            write_key = removed.take();
                        }
                    }
                }
            }
            // Nobody else in the flight (only the node's hold, if it is still there, and
            // this call's): nobody to settle. Then the node's hold may be kept for the
            // shard's next miss, with the runner, and no reference count moves.
            let holds = 1 + usize::from(payload.is_some());
            let flight = &held.attached().flight;
            let alone = Arc::strong_count(flight) == holds;
            if payload.is_some() && st.keeps(flight, holds) {
                st.spare = payload.take().map(|Pending(flight)| flight);
                if st.spare_runner.is_none() {
                    st.spare_runner = runner.take();
                }
            }
            // Otherwise the node's hold goes (never the last one: this call has one).
            drop(payload.take());
            !alone
        };
        if settle {
            // The waiters' copy (user code), while the run is still held.
            let shared = Arc::new(result.clone());
            held.disarm();
            attached.flight.settle(shared);
        } else {
            held.disarm();
        }
        attached.detach();
        // A runner not kept (the shard had one) is freed here, outside the lock.
        drop(runner);
        if evicted.is_some() {
            ctx::record_debug(&self.events.evict);
        }
        drop((evicted, removed));
        // Outside the lock: creating the write runs the backend's code.
        let write = match (write, write_key, &result) {
            (Some(pending), Some(key), Ok(value)) => self.persist(key, value.clone(), pending),
            _ => None,
        };
        Driven::Finished(result, write)
    }
}
