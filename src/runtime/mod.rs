//! Executors: the [`Spawn`] trait and adapters for common runtimes.
//!
//! A scope with a spawner runs the tasks spawned in it on that executor, in parallel
//! with its body. A scope with no spawner anywhere up its tree drives its tasks itself,
//! on whatever executor polls it, so a spawner is an optimisation, never a requirement.
//!
//! Built in:
//! - `Arc<async_executor::Executor<'static>>` and `&'static Executor<'static>`;
//! - any closure `Fn(BoxFuture)`, so every other executor is one line away;
//! - with the `smol` feature, [`Smol`]; with `async-std`, [`AsyncStd`]; with `tokio`,
//!   [`Tokio`] and `tokio::runtime::Handle`.

#[cfg(feature = "async-std")]
mod async_std;
#[cfg(feature = "smol")]
mod smol;
mod spawn;
#[cfg(feature = "tokio")]
mod tokio;

pub use self::spawn::{BoxFuture, Spawn};

#[cfg(feature = "async-std")]
pub use self::async_std::AsyncStd;
#[cfg(feature = "smol")]
pub use self::smol::Smol;
#[cfg(feature = "tokio")]
pub use self::tokio::Tokio;
