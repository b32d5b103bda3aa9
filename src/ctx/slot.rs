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

use std::cell::RefCell;

use super::Ctx;

thread_local! {
    /// The current context of this thread, if a scope's code is being polled.
    static CURRENT: RefCell<Option<Ctx>> = const { RefCell::new(None) };
}

/// Makes the `Ctx` in `home` current until dropped, then puts it back in `home` and
/// restores whatever was current before.
pub(crate) struct Entered<'a> {
    /// Where the entered `Ctx` lives between polls.
    home: &'a mut Option<Ctx>,
    /// What was current before: restored on drop.
    prev: Option<Ctx>,
}

/// Moves the `Ctx` out of `home` into the slot for as long as the guard lives.
#[inline]
pub(crate) fn enter(home: &mut Option<Ctx>) -> Entered<'_> {
    if let Some(span) = home.as_ref().and_then(Ctx::span) {
        span.enter();
    }
    let ctx = home.take();
    let prev = CURRENT.with(|slot| slot.replace(ctx));
    Entered { home, prev }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        let prev = self.prev.take();
        // `try_with`: during thread teardown the slot may already be gone; then there is
        // nothing to restore and the entered context is simply dropped.
        if let Ok(ctx) = CURRENT.try_with(|slot| slot.replace(prev)) {
            *self.home = ctx;
            if let Some(span) = self.home.as_ref().and_then(Ctx::span) {
                span.exit();
            }
        }
    }
}

/// Runs `f` with a reference to the current context (or `None`).
///
/// The slot is borrowed while `f` runs: `f` must not poll futures or call user code.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(Option<&Ctx>) -> R) -> R {
    CURRENT.with(|slot| f(slot.borrow().as_ref()))
}

/// Runs `f` with no context current on this thread, lending it the context that was:
/// the way to call user code (a recorder) with the current `Ctx` without cloning it.
/// The context is put back when `f` returns or panics.
///
/// Whatever `f` does, the slot is free: it may poll futures of other scopes (they
/// enter and leave as usual), and code that asks for the current context gets none.
#[inline]
pub(crate) fn lend<R>(f: impl FnOnce(Option<&Ctx>) -> R) -> R {
    /// Puts the lent context back, also when `f` panics.
    struct Restore(Option<Ctx>);

    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            let ctx = self.0.take();
            // During thread teardown the slot may be gone: then the context is dropped.
            let _ = CURRENT.try_with(|slot| *slot.borrow_mut() = ctx);
        }
    }

    let restore = Restore(CURRENT.with(|slot| slot.borrow_mut().take()));
    f(restore.0.as_ref())
}
