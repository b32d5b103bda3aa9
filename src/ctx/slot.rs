//! The task-local slot: which [`Ctx`] is current on this thread, right now.
//!
//! A wrapper future (a scope's [`Run`](super::Run) or a spawned task) moves its `Ctx`
//! into the slot for the length of one `poll` and takes it back afterwards, also when
//! the poll panics. So a `Ctx` is current exactly while code of its scope runs, on any
//! executor and any thread, and never leaks into another task polled on the same
//! thread. Moving (not cloning) the `Ctx` in and out keeps a poll free of reference
//! counting.
//!
//! When the scope's recorder attached a [`ScopeSpan`](crate::ScopeSpan), entering the
//! slot also enters the span, and leaving it exits the span: the span wraps the poll.
//!
//! Beside the current `Ctx`, the thread keeps what its recorder wants
//! ([`Recorder::min_level`](crate::Recorder::min_level), asked as the scope is
//! entered): recording an event checks it first, so an event nobody wants costs one
//! thread-local read and a comparison, inlined into the caller. Outside any scope
//! nothing is wanted. (While a recorder runs, its scope's level stays: what it records
//! is dropped one step later, where the slot shows the context lent.)

use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;

use super::context::{Ctx, WANTS_NOTHING, Wanted};
use super::panics::FirstPanic;
use crate::event::Level;
use crate::sync::thread_local;

/// One thread's slot.
struct Slot {
    /// The current context, if a scope's code is being polled. Never dropped: every
    /// guard that puts a context here takes it back out (also when unwinding), so the
    /// slot is empty whenever a thread can end. Without a destructor, the thread-local
    /// needs no registration, and reading it no check that it still exists.
    current: ManuallyDrop<RefCell<Option<Ctx>>>,
    /// Whether a context is lent out by [`lend`] right now (a recorder is running).
    lending: Cell<bool>,
}

thread_local! {
    /// This thread's slot.
    static SLOT: Slot = const {
        Slot {
            current: ManuallyDrop::new(RefCell::new(None)),
            lending: Cell::new(false),
        }
    };

    /// What the current scope's recorder wants: [`WANTS_NOTHING`] outside any scope,
    /// and while the recorder's `min_level` is asked. Apart from the slot, and without
    /// a destructor, so reading it is a plain thread-local load.
    static WANTED: Cell<Wanted> = const { Cell::new(WANTS_NOTHING) };
}

/// Whether the current scope's recorder wants events at `level`, as far as its
/// [`min_level`](crate::Recorder::min_level) says: the first check of every recorded
/// event, one thread-local read and a comparison.
#[inline(always)]
pub(crate) fn wants(level: Level) -> bool {
    level as Wanted >= WANTED.with(Cell::get)
}

/// Sets what is wanted, returning what was.
#[inline]
fn set_wanted(wanted: Wanted) -> Wanted {
    WANTED.with(|cell| cell.replace(wanted))
}

/// The panic when a scope's future is polled while the slot is borrowed: only
/// possible from [`Recorder::enabled`](crate::Recorder::enabled),
/// [`Recorder::min_level`](crate::Recorder::min_level) or the closure of
/// [`ctx::with_state`](crate::ctx::with_state).
const POLLED_IN_ENABLED: &str = "haiway: a scope's future was polled inside \
    `Recorder::enabled` or `Recorder::min_level`, which must only compare levels, or \
    inside the closure of `ctx::with_state`, which must only read; poll futures in \
    `Recorder::record`, where no scope is current, or after `with_state` returns";

/// Makes the `Ctx` in `home` current until dropped, then puts it back in `home` and
/// restores whatever was current before.
pub(crate) struct Entered<'a> {
    /// Where the entered `Ctx` lives between polls.
    home: &'a mut Option<Ctx>,
    /// What was current before: restored on drop.
    prev: Option<Ctx>,
    /// What was wanted before: restored on drop.
    prev_wanted: Wanted,
    /// `false` when nothing was entered (the slot was gone): the `Ctx` stayed in
    /// `home`.
    entered: bool,
}

/// Moves the `Ctx` out of `home` into the slot for as long as the guard lives.
///
/// During thread teardown, once the slot is gone, nothing is entered: the code runs
/// with no scope current, as any code does then.
///
/// # Panics
///
/// When the slot is borrowed (a scope polled inside
/// [`Recorder::enabled`](crate::Recorder::enabled) or
/// [`Recorder::min_level`](crate::Recorder::min_level)), with nothing entered: the
/// context is back home, its span left. A panic of the span's `enter` passes through,
/// with nothing entered; one of `min_level`, with everything undone.
#[inline]
pub(crate) fn enter(home: &mut Option<Ctx>) -> Entered<'_> {
    let asks = home.as_ref().is_some_and(Ctx::is_recording);
    if let Some(span) = home.as_ref().and_then(Ctx::span) {
        span.enter();
    }
    match swap_in(home) {
        Swapped::In(prev) => {
            // The guard first: if the recorder's `min_level` panics, it undoes the rest.
            let entered = Entered {
                home,
                prev,
                prev_wanted: set_wanted(WANTS_NOTHING),
                entered: true,
            };
            if asks {
                set_wanted(ask_wanted());
            }
            entered
        }
        not_entered => {
            if let Some(span) = home.as_ref().and_then(Ctx::span) {
                span.exit();
            }
            if matches!(not_entered, Swapped::Borrowed) {
                panic!("{POLLED_IN_ENABLED}");
            }
            Entered {
                home,
                prev: None,
                prev_wanted: WANTS_NOTHING,
                entered: false,
            }
        }
    }
}

/// What the current scope's recorder wants ([`Recorder::min_level`]), asked with the
/// slot borrowed, as [`Recorder::enabled`] is: a scope polled there panics with a
/// message that says so, instead of entering (and asking again, without end).
///
/// [`Recorder::min_level`]: crate::Recorder::min_level
/// [`Recorder::enabled`]: crate::Recorder::enabled
fn ask_wanted() -> Wanted {
    SLOT.try_with(|slot| match slot.current.try_borrow() {
        Ok(current) => current.as_ref().map_or(WANTS_NOTHING, Ctx::wanted),
        Err(_) => WANTS_NOTHING,
    })
    .unwrap_or(WANTS_NOTHING)
}

/// Runs `f`, a step of a drop, with the `Ctx` in `home` current as [`enter`] makes it,
/// for a drop that must finish whatever user code does: the span's `enter` and `exit`
/// and `f` each run under `panics`, which keeps the first panic. If the span's `enter`
/// panics, or the slot is borrowed or gone, `f` runs with nothing entered.
pub(crate) fn drop_in(home: &mut Option<Ctx>, panics: &mut FirstPanic, f: impl FnOnce()) {
    let asks = home.as_ref().is_some_and(Ctx::is_recording);
    let span_entered = match home.as_ref().and_then(Ctx::span) {
        Some(span) if !panics.run(|| span.enter()) => {
            panics.run(f);
            return;
        }
        Some(_) => true,
        None => false,
    };
    match swap_in(home) {
        Swapped::In(prev) => {
            let prev_wanted = set_wanted(WANTS_NOTHING);
            if asks {
                panics.run(|| {
                    set_wanted(ask_wanted());
                });
            }
            panics.run(f);
            set_wanted(prev_wanted);
            // `try_with`: during thread teardown the slot may be gone by now; then the
            // entered context is simply dropped, as `Entered` does.
            if let Ok(ctx) = SLOT.try_with(|slot| slot.current.replace(prev)) {
                *home = ctx;
            }
        }
        Swapped::Borrowed | Swapped::Gone => {
            panics.run(f);
        }
    }
    if span_entered {
        if let Some(span) = home.as_ref().and_then(Ctx::span) {
            panics.run(|| span.exit());
        }
    }
}

/// What [`swap_in`] did.
enum Swapped {
    /// The context is in the slot; this was there before.
    In(Option<Ctx>),
    /// The slot is borrowed: the context stayed home.
    Borrowed,
    /// The slot is gone (thread teardown): the context stayed home.
    Gone,
}

/// Moves the `Ctx` in `home` into the slot, in one visit to the thread-local.
#[inline]
fn swap_in(home: &mut Option<Ctx>) -> Swapped {
    let mut ctx = home.take();
    let swapped = SLOT.try_with(|slot| {
        let mut current = slot.current.try_borrow_mut().ok()?;
        Some(std::mem::replace(&mut *current, ctx.take()))
    });
    match swapped {
        Ok(Some(prev)) => Swapped::In(prev),
        Ok(None) => {
            *home = ctx;
            Swapped::Borrowed
        }
        Err(_) => {
            *home = ctx;
            Swapped::Gone
        }
    }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.entered {
            return;
        }
        let prev = self.prev.take();
        set_wanted(self.prev_wanted);
        // `try_with`: during thread teardown the slot may already be gone; then there is
        // nothing to restore and the entered context is simply dropped.
        if let Ok(ctx) = SLOT.try_with(|slot| slot.current.replace(prev)) {
            *self.home = ctx;
            if let Some(span) = self.home.as_ref().and_then(Ctx::span) {
                span.exit();
            }
        }
    }
}

/// Runs `f` with a reference to the current context (or `None`, also during thread
/// teardown once the slot is gone).
///
/// The slot is borrowed while `f` runs: `f` must not poll futures. User code runs here
/// only as the closure of [`ctx::with_state`](crate::ctx::with_state): it may read the
/// slot, and an event it records is lent a clone of the context ([`lend_read`]).
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(Option<&Ctx>) -> R) -> R {
    let mut f = Some(f);
    let found = SLOT.try_with(|slot| {
        let f = f.take().expect("`f` is taken once");
        f(slot.current.borrow().as_ref())
    });
    match (found, f) {
        (Ok(out), _) => out,
        // The slot is gone (thread teardown), so the closure above never ran.
        (Err(_), Some(f)) => f(None),
        (Err(_), None) => unreachable!("`f` runs only when the slot is there"),
    }
}

/// Runs `f` with no context current on this thread, lending it the context that was:
/// the way to call user code (a recorder) with the current `Ctx` without cloning it.
/// The context is put back when `f` returns or panics.
///
/// Whatever `f` does, the slot is free: it may poll futures of other scopes (they
/// enter and leave as usual), and code that asks for the current context gets none.
/// During thread teardown, when the slot is gone, `f` gets `None`.
#[inline]
pub(crate) fn lend<R>(f: impl FnOnce(Option<&Ctx>) -> R) -> R {
    let mut f = Some(f);
    let lent = SLOT.try_with(|slot| {
        let f = f.take().expect("`f` is taken once");
        let ctx = match slot.current.try_borrow_mut() {
            Ok(mut current) => current.take(),
            Err(_) => return lend_read(slot, f),
        };
        lend_from(slot, ctx, f)
    });
    match (lent, f) {
        (Ok(out), _) => out,
        // The slot is gone (thread teardown), so the closure above never ran.
        (Err(_), Some(f)) => f(None),
        (Err(_), None) => unreachable!("`f` runs only when the slot is there"),
    }
}

/// Lends the current context to `f`, as [`lend`] does, if there is one and `wants`
/// says so: one visit to the thread-local for the question and the loan, the path of
/// every recorded event. `wants` runs with the slot borrowed, so it must not poll
/// futures or call user code beyond [`Recorder::enabled`](crate::Recorder::enabled).
/// While a context is lent on this thread (a recorder runs), and during thread
/// teardown, nothing is lent and nothing runs.
#[inline]
pub(crate) fn lend_if(wants: impl FnOnce(&Ctx) -> bool, f: impl FnOnce(&Ctx)) {
    let _ = SLOT.try_with(|slot| {
        if slot.lending.get() {
            return;
        }
        // `wants` asks the recorder (`enabled`): an event it records is dropped too.
        let asking = Asking::start(slot);
        if !slot.current.borrow().as_ref().is_some_and(wants) {
            return;
        }
        let ctx = match slot.current.try_borrow_mut() {
            Ok(mut current) => current.take(),
            // Recorded while the slot is read (inside `ctx::with_state`'s closure).
            Err(_) => {
                drop(asking);
                return lend_read(slot, |ctx| ctx.map_or((), f));
            }
        };
        // `lending` stays `true`: the guard below sets it back to `false`.
        asking.hand_over();
        let lent = Lent { slot, ctx };
        if let Some(ctx) = &lent.ctx {
            f(ctx);
        }
        lent.give_back();
    });
}

/// `lending` set while a recorder is asked whether it wants an event, so an event it
/// records meanwhile is dropped (as one recorded while it records); set back to `false`
/// when dropped, also by a panic of the recorder.
struct Asking<'a>(&'a Slot);

impl<'a> Asking<'a> {
    /// Sets `lending`, which was `false`.
    #[inline(always)]
    fn start(slot: &'a Slot) -> Self {
        slot.lending.set(true);
        Asking(slot)
    }

    /// Leaves `lending` set, for a [`Lent`] to put back.
    #[inline(always)]
    fn hand_over(self) {
        std::mem::forget(self);
    }
}

impl Drop for Asking<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.lending.set(false);
    }
}

/// Asks a scope's recorder through `f` with `lending` set, so an event it records
/// meanwhile is dropped. `false` while a recorder runs or is asked already.
#[inline]
pub(crate) fn ask(f: impl FnOnce() -> bool) -> bool {
    let mut f = Some(f);
    let asked = SLOT.try_with(|slot| {
        if slot.lending.get() {
            return false;
        }
        let _asking = Asking::start(slot);
        f.take().is_some_and(|f| f())
    });
    match (asked, f) {
        (Ok(wanted), _) => wanted,
        // The slot is gone (thread teardown): nothing to guard, as `lend` lends nothing.
        (Err(_), Some(f)) => f(),
        (Err(_), None) => false,
    }
}

/// Puts a context lent by [`lend_if`] back: [`give_back`](Self::give_back) when the
/// borrower returns, its `Drop` when it panics.
struct Lent<'a> {
    /// The slot it was lent from.
    slot: &'a Slot,
    /// The lent context.
    ctx: Option<Ctx>,
}

impl Lent<'_> {
    /// Puts the context back: the path of every recorded event, inlined, where the
    /// `Drop` below is a call.
    #[inline(always)]
    fn give_back(mut self) {
        self.slot.lending.set(false);
        restore(self.slot, self.ctx.take());
        // Nothing left to drop: the context is back, the slot a reference.
        std::mem::forget(self);
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.slot.lending.set(false);
        restore(self.slot, self.ctx.take());
    }
}

/// Puts `ctx` back in `slot`, which a loan left empty.
#[inline(always)]
fn restore(slot: &Slot, ctx: Option<Ctx>) {
    // Whatever the borrower left in the slot (nothing, as every `enter` restores what
    // it found) is dropped after the borrow ends: its `Drop` may be user code.
    let left = slot.current.replace(ctx);
    debug_assert!(left.is_none(), "a lent slot was left occupied");
    drop(left);
}

/// Runs `f` with `ctx`, just taken out of `slot`, lent to it, and puts `ctx` back
/// when `f` returns or panics.
#[inline]
fn lend_from<R>(slot: &Slot, ctx: Option<Ctx>, f: impl FnOnce(Option<&Ctx>) -> R) -> R {
    /// Puts the lent context back, also when `f` panics.
    struct Restore<'a> {
        /// The slot it was lent from.
        slot: &'a Slot,
        /// The lent context.
        ctx: Option<Ctx>,
        /// Whether a context was already lent when this one was.
        was_lending: bool,
    }

    impl Drop for Restore<'_> {
        #[inline]
        fn drop(&mut self) {
            self.slot.lending.set(self.was_lending);
            restore(self.slot, self.ctx.take());
        }
    }

    let was_lending = slot.lending.replace(true);
    let restore = Restore {
        slot,
        ctx,
        was_lending,
    };
    f(restore.ctx.as_ref())
}

/// [`lend`] while the slot is borrowed to read it (inside the closure of
/// [`ctx::with_state`](crate::ctx::with_state)), so the context cannot be taken out: `f`
/// gets a clone of it, and the slot stays as it is. A recorder called so still records
/// nothing of its own (the slot shows a context lent), but `Ctx::try_current` there sees
/// the scope.
#[cold]
#[inline(never)]
fn lend_read<R>(slot: &Slot, f: impl FnOnce(Option<&Ctx>) -> R) -> R {
    /// Sets `lending` back, also when `f` panics.
    struct Reset<'a>(&'a Slot, bool);

    impl Drop for Reset<'_> {
        fn drop(&mut self) {
            self.0.lending.set(self.1);
        }
    }

    let ctx = slot.current.try_borrow().ok().and_then(|c| c.clone());
    let _reset = Reset(slot, slot.lending.replace(true));
    f(ctx.as_ref())
}

/// Whether a recorder is running on this thread, its scope's context lent to it.
#[inline]
pub(crate) fn lending() -> bool {
    SLOT.try_with(|slot| slot.lending.get()).unwrap_or(false)
}

impl Ctx {
    /// The current context.
    ///
    /// # Panics
    ///
    /// Outside any scope, with a message that says to wrap the code in
    /// [`Scope::run`](crate::Scope::run). Use [`Ctx::try_current`] where that can
    /// happen. Inside a [`Recorder`](crate::Recorder) no scope is current either (see
    /// [`Recorder::record`](crate::Recorder::record)): use the `scope` it is given.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Ctx, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// let name = Scope::new("job").run(async { Ctx::current().name().to_owned() }).await;
    /// assert_eq!(name, "job");
    /// # });
    /// ```
    #[track_caller]
    pub fn current() -> Ctx {
        match Ctx::try_current() {
            Some(ctx) => ctx,
            None => no_scope(),
        }
    }

    /// The current context, or `None` outside any scope.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(haiway::Ctx::try_current().is_none());
    /// ```
    #[inline]
    pub fn try_current() -> Option<Ctx> {
        with(|ctx| ctx.cloned())
    }
}

#[cold]
#[track_caller]
fn no_scope() -> ! {
    if lending() {
        panic!(
            "haiway: no scope is current inside a `Recorder`: use the `scope: &ScopeInfo` \
             argument of `Recorder::record` instead of `Ctx::current()` or the `ctx::` functions"
        )
    }
    panic!(
        "haiway: no scope is current. Wrap this code in `haiway::Scope::new(\"name\").run(async {{ .. }})`, \
         or use `Ctx::try_current()` where running outside a scope is expected"
    )
}
