//! Runtime-agnostic async context and memoized async functions.
//!
//! haiway gives async services two things that work on any executor: a [`Ctx`]
//! context handle, carried in task-local storage by [`Scope::run`], that holds a task
//! spawner, an event recorder and typed [state](ctx::state); and [`cache`](cache::cache), which memoizes async
//! functions in an LRU store with expiration and single-flight. It is the Rust
//! counterpart of the Python library haiway (`ctx.spawn`, `ctx.record_event`,
//! `haiway.helpers.caching.cache`).
//!
//! # Examples
//!
//! ```
//! use haiway::{ctx, Event, MemoryRecorder, Scope};
//!
//! let recorder = MemoryRecorder::new();
//! # futures_lite::future::block_on(async {
//! let total = Scope::new("request")
//!     .recorder(recorder.clone())
//!     .run(async {
//!         // Tasks inherit the scope's context, and the scope waits for them.
//!         let a = ctx::spawn(async {
//!             ctx::record_event(Event::info("part").with("n", 1));
//!             1
//!         });
//!         let b = ctx::spawn(async { 2 });
//!         a.await + b.await
//!     })
//!     .await;
//! assert_eq!(total, 3);
//! # });
//! assert_eq!(recorder.names(), ["part"]);
//! ```
//!
//! Memoizing an async function where it is declared, with the [`cache`](macro@cache)
//! attribute (note the default limit of **one** entry, as in haiway):
//!
//! ```
//! #[haiway::cache(limit = 1_000)]
//! async fn fetch_profile(user_id: String) -> String {
//!     format!("profile of {user_id}")
//! }
//!
//! # futures_lite::future::block_on(async {
//! fetch_profile("ada".to_owned()).await; // runs the body
//! fetch_profile("ada".to_owned()).await; // served from the cache
//! # });
//! assert_eq!(fetch_profile::cached().stats().hits, 1);
//! ```
//!
//! The builder makes a handle to keep in a struct, or for tests to build afresh:
//!
//! ```
//! use haiway::cache::Cached;
//!
//! async fn fetch_profile(user_id: String) -> String {
//!     format!("profile of {user_id}")
//! }
//!
//! let resolve_profile = Cached::builder().limit(1_000).build(fetch_profile);
//! # futures_lite::future::block_on(async {
//! resolve_profile.call("ada".to_owned()).await; // runs fetch_profile
//! resolve_profile.call("ada".to_owned()).await; // served from the cache
//! # });
//! assert_eq!(resolve_profile.stats().hits, 1);
//! ```
//!
//! No runtime is needed: a scope with no spawner drives its tasks itself. Give it one
//! ([`Scope::spawner`]) to run tasks in parallel on async-executor, smol, async-std,
//! tokio or anything that can spawn a boxed future.
//!
//! # Features
//!
//! No feature is needed for the core. `macros` (on by default) adds the
//! [`cache`](macro@cache) attribute, through the proc-macro crate `haiway-macros` on
//! `syn`. Optional features add executor adapters:
//!
//! - `smol`: [`runtime::Smol`], spawning on smol's global executor.
//! - `async-std`: [`runtime::AsyncStd`], spawning on async-std's global executor.
//! - `tokio`: [`runtime::Tokio`] and a [`runtime::Spawn`] impl for
//!   `tokio::runtime::Handle`.
//!
//! A web service:
//!
//! - `tower`: [`tower::ScopeLayer`](crate::tower), a tower `Layer` (axum, hyper, tonic)
//!   that runs each request in a scope named after its method and path. It depends on
//!   tower-layer, tower-service and http only.
//!
//! A shared cache backend:
//!
//! - `redis`: `cache::redis::RedisBackend`, a backend on Redis for caches shared by
//!   several processes. It brings in the redis-rs driver, serde and serde_json; the
//!   driver's connection tasks run on smol's executor. The driver also compiles tokio
//!   (its `sync` feature only: no runtime) and tokio-util; no tokio runtime is created.
//! - `redis-cluster`: `redis` plus `RedisBackend::connect_cluster_with`, the same
//!   backend on a Redis Cluster (the driver's async cluster support, on smol).
//!
//! Others send the context's events to observability backends (see
//! [`Recorder::open_scope`] for how a recorder follows scopes):
//!
//! - `tracing`: `TracingRecorder`, which emits each event as a `tracing` event at the
//!   matching level, with its attributes and the scope's name and ids as fields, and
//!   enters a `tracing` span named after each scope while the scope's code runs; the
//!   cache's events go under the target `haiway::cache`, yours under the one you set.
//! - `opentelemetry`: `OpenTelemetryRecorder`, which counts each event in an
//!   OpenTelemetry counter named after it (`cache.hit`, `cache.miss`, …) with its
//!   attributes, adds it to the current OpenTelemetry span, and with a tracer opens a
//!   span per scope. It depends on the `opentelemetry` API crate only: bring your own
//!   SDK and exporter. No async runtime is needed.
//!
//! # When not to use this
//!
//! If your code already runs on one runtime and only needs a task-local value,
//! `tokio::task_local!` is simpler. If you need a concurrent cache with size-aware
//! eviction, TinyLFU admission or per-entry expiry policies, moka is the richer tool;
//! haiway's cache is a memoizer of async functions with exact LRU. haiway earns its keep when the same code must run
//! on several executors, or when spawned work must inherit and finish within a scope.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cache;
pub mod ctx;
pub mod event;
pub mod runtime;
mod sync;
#[cfg(feature = "tower")]
pub mod tower;

#[cfg(feature = "macros")]
#[doc = include_str!("cache/attribute.md")]
pub use haiway_macros::cache;

pub use crate::ctx::{Ctx, Run, Scope, Task};
#[cfg(feature = "opentelemetry")]
pub use crate::event::opentelemetry::OpenTelemetryRecorder;
#[cfg(feature = "tracing")]
pub use crate::event::tracing::TracingRecorder;
pub use crate::event::{
    Event, Level, MemoryRecorder, NoopRecorder, RecordedEvent, Recorder, ScopeId, ScopeInfo,
    ScopeSpan, TraceId, Value,
};

// The README's snippets use every feature (Redis included), so they are tested with
// `--all-features`, as CI does.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Internals for the fuzz targets in `fuzz/`: present only in fuzzing builds
/// (`cargo fuzz` sets `--cfg fuzzing`), hidden, and not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::cache::lru::{Insert, Lookup, Lru};
}
