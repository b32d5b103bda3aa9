//! The functions a cache wraps: [`CacheFn`], async functions of up to six arguments,
//! and the default name of a cache in its events.

use std::borrow::Cow;
use std::future::Future;

/// An async function a cache can wrap, called with its arguments as one value `A`: a
/// function of one argument takes it as is, a function of none or of two to six
/// arguments takes them as a tuple (`()`, `(a, b)`, ..). `M` is a marker that tells
/// the arities apart (as axum's `Handler` does); it is always inferred.
///
/// Implemented for every `Fn` of up to six arguments that returns a `Send` future;
/// it cannot be implemented otherwise.
///
/// # Examples
///
/// ```
/// use haiway::cache::{cache, Cached};
///
/// let add = cache(|a: u32, b: u32| async move { a + b });
/// let _: &Cached<(u32, u32), u32> = &add;
/// # futures_lite::future::block_on(async {
/// assert_eq!(add.call((2, 3)).await, 5);
/// # });
///
/// // One argument that is itself a tuple: called with the tuple, as before.
/// let swap = cache(|(a, b): (u32, u32)| async move { (b, a) });
/// # futures_lite::future::block_on(async {
/// assert_eq!(swap.call((1, 2)).await, (2, 1));
/// # });
///
/// // No argument: called with `()`.
/// let answer = cache(|| async { 42 });
/// # futures_lite::future::block_on(async {
/// assert_eq!(answer.call(()).await, 42);
/// # });
/// ```
pub trait CacheFn<A, M>: Send + Sync + Sized + 'static + sealed::Sealed<A, M> {
    /// What the function's future returns.
    type Output;
    /// The function's future.
    type Future: Future<Output = Self::Output> + Send + 'static;

    /// Calls the function with the arguments `args`.
    fn call(&self, args: A) -> Self::Future;
}

mod sealed {
    /// Keeps [`CacheFn`](super::CacheFn) implemented only here.
    #[allow(unreachable_pub)]
    pub trait Sealed<A, M> {}
}

/// The marker of a function of one argument (see [`CacheFn`]).
#[derive(Debug)]
pub struct One<A>(std::marker::PhantomData<fn(A)>);

/// The marker of a function of no argument or of two to six (see [`CacheFn`]).
#[derive(Debug)]
pub struct Many<A>(std::marker::PhantomData<fn(A)>);

impl<F, Fut, A> sealed::Sealed<A, One<A>> for F
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
}

impl<F, Fut, A> CacheFn<A, One<A>> for F
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
    type Output = Fut::Output;
    type Future = Fut;

    #[inline]
    fn call(&self, args: A) -> Fut {
        self(args)
    }
}

/// Implements [`CacheFn`] for functions of the given arguments, taken as a tuple.
macro_rules! many {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg),*> sealed::Sealed<($($arg,)*), Many<($($arg,)*)>> for F
        where
            F: Fn($($arg),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
        {
        }

        impl<F, Fut, $($arg),*> CacheFn<($($arg,)*), Many<($($arg,)*)>> for F
        where
            F: Fn($($arg),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
        {
            type Output = Fut::Output;
            type Future = Fut;

            #[inline]
            #[allow(non_snake_case)]
            fn call(&self, ($($arg,)*): ($($arg,)*)) -> Fut {
                self($($arg),*)
            }
        }
    };
}

many!();
many!(A1, A2);
many!(A1, A2, A3);
many!(A1, A2, A3, A4);
many!(A1, A2, A3, A4, A5);
many!(A1, A2, A3, A4, A5, A6);

/// The default name of a cache wrapping `F`, for its events: a function's own name
/// (`fetch_profile`, without its path or generic arguments), or `cache` for a closure.
pub(crate) fn default_name<F>() -> Cow<'static, str> {
    Cow::Borrowed(name_of(std::any::type_name::<F>()))
}

/// The last path segment of the type name `full`, without generic arguments; `cache`
/// for a closure (or anything else that has no readable name).
fn name_of(full: &'static str) -> &'static str {
    if full.contains("{{") {
        return "cache";
    }
    let path = full
        .split('<')
        .next()
        .unwrap_or(full)
        .trim_end_matches("::");
    match path.rsplit("::").next() {
        Some(name) if !name.is_empty() => name,
        _ => "cache",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fetch_profile(user: u32) -> u32 {
        user
    }

    async fn generic<T>(value: T) -> T {
        value
    }

    #[test]
    fn a_function_is_named_after_itself_and_a_closure_is_cache() {
        fn name<F>(_: &F) -> Cow<'static, str> {
            default_name::<F>()
        }
        assert_eq!(name(&fetch_profile), "fetch_profile");
        assert_eq!(name(&generic::<String>), "generic");
        assert_eq!(name(&|x: u32| async move { x }), "cache");
        assert_eq!(name_of("a::b::<c::D>"), "b");
        assert_eq!(name_of(""), "cache");
    }
}
