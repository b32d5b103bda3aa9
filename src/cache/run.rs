//! The wrapped function behind a type-erased, reusable [`Runner`].
//!
//! A `Cached` handle does not name its function's type, so the function's futures live
//! behind a `dyn` pointer, which means a heap allocation. A [`Runner`] is that
//! allocation made reusable: a pinned slot that holds one future of the function at a
//! time. A leader starts it with its arguments and polls it to the end (the finished
//! future is dropped there and then, emptying the slot), hands it back to the core, and
//! the next miss starts its future in the same slot. So a miss
//! allocates only when no spare runner is at hand (the first miss, or several misses
//! computing at once).
//!
//! All of it is safe code: [`Pin::set`] drops the old future in place and writes the new
//! one where the old one was, so a pinned future is never moved.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// One slot for futures of the wrapped function.
pub(crate) trait Run<A, V, E>: Send {
    /// Starts the function on `args` in this slot. The slot is empty (a runner is
    /// reused only once its future finished).
    fn start(self: Pin<&mut Self>, args: A);

    /// Polls the started future. Must not be called on an empty slot. A future that
    /// finishes is dropped (user code) before this returns, leaving the slot empty.
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<V, E>>;

    /// [`start`](Run::start), then [`poll_run`](Run::poll_run): one dynamic call for a
    /// miss that polls its run at once (the two inside are static, in each impl's copy).
    fn start_poll(mut self: Pin<&mut Self>, args: A, cx: &mut Context<'_>) -> Poll<Result<V, E>> {
        self.as_mut().start(args);
        self.poll_run(cx)
    }
}

/// A boxed [`Run`]: the one allocation of a miss, reused from miss to miss.
pub(crate) type Runner<A, V, E> = Pin<Box<dyn Run<A, V, E>>>;

/// Makes empty runners for the wrapped function.
pub(crate) type Function<A, V, E> = Box<dyn Fn() -> Runner<A, V, E> + Send + Sync + 'static>;

/// An infallible function's output (marker for [`Slot`]).
pub(crate) struct Value;

/// A fallible function's output (marker for [`Slot`]).
pub(crate) struct Fallible;

pin_project_lite::pin_project! {
    /// A [`Run`] for the function `F` and its future `Fut`; `M` says how the output is
    /// read ([`Value`] or [`Fallible`]).
    struct Slot<F, Fut, M> {
        // The wrapped function, shared by every runner of the cache.
        function: Arc<F>,
        // The running future; `None` between two computations.
        #[pin]
        running: Option<Fut>,
        // Only chooses the output conversion.
        mode: PhantomData<fn() -> M>,
    }
}

impl<F, Fut: Future, M> Slot<F, Fut, M> {
    /// Starts `function(args)` in the empty slot. The future is made first: if the
    /// function panics, the slot stays empty.
    #[inline]
    fn begin<A>(self: Pin<&mut Self>, args: A)
    where
        F: Fn(A) -> Fut,
    {
        let mut this = self.project();
        debug_assert!(
            this.running.is_none(),
            "a runner is reused once its future finished"
        );
        let future = (this.function)(args);
        this.running.set(Some(future));
    }

    /// Polls the started future; a finished one is dropped in place, keeping the slot.
    /// (Should its `Drop` panic, the slot is empty all the same: an assignment leaves
    /// the new value in place when the old one's drop unwinds.)
    #[inline]
    fn poll_future(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        let mut running = self.project().running;
        let output = match running.as_mut().as_pin_mut() {
            Some(future) => std::task::ready!(future.poll(cx)),
            None => unreachable!("a runner is polled only after it was started"),
        };
        running.set(None);
        Poll::Ready(output)
    }
}

impl<A, V, F, Fut> Run<A, V, Infallible> for Slot<F, Fut, Value>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = V> + Send + 'static,
{
    fn start(self: Pin<&mut Self>, args: A) {
        self.begin(args);
    }

    #[inline]
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<V, Infallible>> {
        self.poll_future(cx).map(Ok)
    }
}

impl<A, V, E, F, Fut> Run<A, V, E> for Slot<F, Fut, Fallible>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
{
    fn start(self: Pin<&mut Self>, args: A) {
        self.begin(args);
    }

    #[inline]
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<V, E>> {
        self.poll_future(cx)
    }
}

/// The runner factory of `function`, reading its output as `M` says.
fn factory<A, V, E, F, Fut, M>(function: F) -> Function<A, V, E>
where
    F: Send + Sync + 'static,
    Fut: Future + Send + 'static,
    M: 'static,
    Slot<F, Fut, M>: Run<A, V, E> + 'static,
{
    let function = Arc::new(function);
    Box::new(move || {
        Box::pin(Slot::<F, Fut, M> {
            function: function.clone(),
            running: None,
            mode: PhantomData,
        })
    })
}

/// The runner factory of an infallible function.
pub(crate) fn infallible<A, V, F, Fut>(function: F) -> Function<A, V, Infallible>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = V> + Send + 'static,
{
    factory::<A, V, Infallible, F, Fut, Value>(function)
}

/// The runner factory of a fallible function.
pub(crate) fn fallible<A, V, E, F, Fut>(function: F) -> Function<A, V, E>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
{
    factory::<A, V, E, F, Fut, Fallible>(function)
}
