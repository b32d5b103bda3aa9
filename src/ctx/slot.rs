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

use std::cell::{Cell, RefCell};

use super::Ctx;
use super::task::FirstPanic;

/// One thread's slot.
struct Slot {
    /// The current context, if a scope's code is being polled.
    current: RefCell<Option<Ctx>>,
    /// Whether a context is lent out by [`lend`] right now (a recorder is running).
    lending: Cell<bool>,
}

thread_local! {
    /// This thread's slot.
    static SLOT: Slot = const {
        Slot {
            current: RefCell::new(None),
            lending: Cell::new(false),
        }
    };
}

/// The panic when a scope's future is polled while the slot is borrowed: only
/// possible from [`Recorder::enabled`](crate::Recorder::enabled).
const POLLED_IN_ENABLED: &str = "haiway: a scope's future was polled inside \
    `Recorder::enabled`, which must only compare levels; poll futures in \
    `Recorder::record`, where no scope is current";

/// Makes the `Ctx` in `home` current until dropped, then puts it back in `home` and
/// restores whatever was current before.
pub(crate) struct Entered<'a> {
    /// Where the entered `Ctx` lives between polls.
    home: &'a mut Option<Ctx>,
    /// What was current before: restored on drop.
    prev: Option<Ctx>,
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
/// [`Recorder::enabled`](crate::Recorder::enabled)), with nothing entered: the context
/// is back home, its span left. A panic of the span's `enter` passes through, with
/// nothing entered.
#[inline]
pub(crate) fn enter(home: &mut Option<Ctx>) -> Entered<'_> {
    if let Some(span) = home.as_ref().and_then(Ctx::span) {
        span.enter();
    }
    match swap_in(home) {
        Swapped::In(prev) => Entered {
            home,
            prev,
            entered: true,
        },
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
                entered: false,
            }
        }
    }
}

/// Runs `f`, a step of a drop, with the `Ctx` in `home` current as [`enter`] makes it,
/// for a drop that must finish whatever user code does: the span's `enter` and `exit`
/// and `f` each run under `panics`, which keeps the first panic. If the span's `enter`
/// panics, or the slot is borrowed or gone, `f` runs with nothing entered.
pub(crate) fn drop_in(home: &mut Option<Ctx>, panics: &mut FirstPanic, f: impl FnOnce()) {
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
            panics.run(f);
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
/// The slot is borrowed while `f` runs: `f` must not poll futures or call user code.
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
        let ctx = slot
            .current
            .try_borrow_mut()
            .expect(POLLED_IN_ENABLED)
            .take();
        let f = f.take().expect("`f` is taken once");
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
        if slot.lending.get() || !slot.current.borrow().as_ref().is_some_and(wants) {
            return;
        }
        let ctx = slot.current.borrow_mut().take();
        lend_from(slot, ctx, |ctx| {
            if let Some(ctx) = ctx {
                f(ctx);
            }
        });
    });
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
            // Whatever `f` left in the slot (nothing, as every `enter` restores what it
            // found) is dropped after the borrow ends: its `Drop` may be user code.
            let left = self.slot.current.replace(self.ctx.take());
            debug_assert!(left.is_none(), "a lent slot was left occupied");
            drop(left);
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

/// Whether a recorder is running on this thread, its scope's context lent to it.
#[inline]
pub(crate) fn lending() -> bool {
    SLOT.try_with(|slot| slot.lending.get()).unwrap_or(false)
}
