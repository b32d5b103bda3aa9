//! Two scopes interleaved on one thread each always see their own `Ctx`, and the
//! slot is empty between polls: the context never leaks into another task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use haiway::{Ctx, Scope, ctx};

/// Polls the inner future and checks that nothing is current around each poll.
struct CheckSlotEmpty<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for CheckSlotEmpty<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        assert!(Ctx::try_current().is_none(), "a Ctx leaked into this poll");
        let out = self.inner.as_mut().poll(cx);
        assert!(
            Ctx::try_current().is_none(),
            "a Ctx stayed current after a poll"
        );
        self.polls.fetch_add(1, Ordering::Relaxed);
        out
    }
}

async fn body(yields: usize) -> usize {
    let me = Ctx::current().id();
    let mut checks = 0;
    for _ in 0..yields {
        futures_lite::future::yield_now().await;
        assert_eq!(Ctx::current().id(), me);
        checks += 1;
    }
    // Tasks spawned here see this scope too, interleaved with the other scope's.
    let seen = ctx::spawn(async move {
        let mut ok = 0;
        for _ in 0..yields {
            futures_lite::future::yield_now().await;
            assert_eq!(Ctx::current().id(), me);
            ok += 1;
        }
        ok
    })
    .await;
    checks + seen
}

#[test]
fn two_scopes_interleaved_on_one_thread_each_see_their_own_ctx() {
    const YIELDS: usize = if cfg!(miri) { 20 } else { 1_000 };
    let ex = async_executor::LocalExecutor::new();
    let polls = Arc::new(AtomicUsize::new(0));
    let a = ex.spawn(CheckSlotEmpty {
        inner: Box::pin(Scope::new("a").run(body(YIELDS))),
        polls: polls.clone(),
    });
    let b = ex.spawn(CheckSlotEmpty {
        inner: Box::pin(Scope::new("b").run(body(YIELDS))),
        polls: polls.clone(),
    });
    let (a, b) = futures_lite::future::block_on(ex.run(async { (a.await, b.await) }));
    assert_eq!((a, b), (2 * YIELDS, 2 * YIELDS));
    // Both futures were polled many times, so they really interleaved.
    assert!(polls.load(Ordering::Relaxed) >= 2 * YIELDS);
    assert!(Ctx::try_current().is_none());
}

#[test]
fn panicking_poll_restores_the_slot() {
    let result = std::panic::catch_unwind(|| {
        futures_lite::future::block_on(Scope::new("p").run(async {
            futures_lite::future::yield_now().await;
            panic!("inside");
        }))
    });
    assert!(result.is_err());
    assert!(Ctx::try_current().is_none(), "slot restored after a panic");
    // The thread is still usable for scopes.
    let name = futures_lite::future::block_on(
        Scope::new("after").run(async { Ctx::current().name().to_owned() }),
    );
    assert_eq!(name, "after");
}
