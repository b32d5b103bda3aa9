//! Events: what a scope reports, and the [`Recorder`]s that receive them.
//!
//! An [`Event`] is a name, a [`Level`] and a list of attributes: plain data. Code
//! records events with [`ctx::record_event`](crate::ctx::record_event); the current
//! scope's [`Recorder`] receives each one together with the [`ScopeInfo`] of the scope
//! that recorded it.
//!
//! With no recorder set anywhere up the scope tree, or one that wants no event at the
//! level recorded ([`Recorder::min_level`]), recording is a thread-local read and a
//! comparison: it never allocates. Use
//! [`ctx::record_event_with`](crate::ctx::record_event_with) to build an event with
//! attributes only when someone listens.
//!
//! An event recorded again and again (a cache's `cache.hit`) is built once as a
//! [`PreparedEvent`], which keeps what the recorder works out for it once
//! ([`Recorder::prepare`]): any recorder can use this, the built-in ones do.
//!
//! A recorder can also follow the scopes themselves: [`Recorder::open_scope`] attaches
//! a [`ScopeSpan`] to each scope it serves, entered around every poll of the scope's
//! code.
//!
//! Two recorders send events to observability backends, each behind its feature:
//! `event::tracing::TracingRecorder` (feature `tracing`) emits `tracing` events and
//! spans; `event::opentelemetry::OpenTelemetryRecorder` (feature `opentelemetry`)
//! counts events in OpenTelemetry metrics and adds them to the current OpenTelemetry
//! span. Both are built on this module's public API only.
//!
//! This module knows nothing of the context (`crate::ctx`), which uses it.

mod data;
mod memory;
mod noop;
#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;
mod prepared;
mod recorder;
mod scope;
mod shared;
mod span;
#[cfg(feature = "tracing")]
pub mod tracing;
mod value;

pub use self::data::Event;
pub use self::memory::{MemoryRecorder, RecordedEvent};
pub use self::noop::NoopRecorder;
pub use self::prepared::{PreparedEvent, Recordable};
pub use self::recorder::{Prepared, Recorder};
pub use self::scope::{ScopeId, ScopeInfo, TraceId};
pub(crate) use self::shared::SharedRecorder;
pub use self::span::ScopeSpan;
pub use self::value::{Level, Value};
