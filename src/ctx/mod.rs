//! The context: [`Ctx`], [`Scope`], spawning, event recording and state.
//!
//! A [`Scope`] runs a future with a [`Ctx`] current. The `Ctx` carries the scope's
//! identity (name, id, parent, trace id), a spawner, a recorder and typed state
//! ([`Scope::state`], read with [`state`], [`with_state`] or [`require_state`]); code
//! anywhere below reaches it with [`Ctx::current`] or the free functions of this module,
//! which read like haiway's `ctx.spawn`, `ctx.record_event` and `ctx.state`:
//!
//! ```
//! use haiway::{ctx, Event, MemoryRecorder, Scope};
//!
//! async fn handler() -> u32 {
//!     ctx::record_event(Event::info("handler.start"));
//!     let task = ctx::spawn(async { 40 + 2 });
//!     task.await
//! }
//!
//! let recorder = MemoryRecorder::new();
//! # futures_lite::future::block_on(async {
//! let out = Scope::new("request").recorder(recorder.clone()).run(handler()).await;
//! assert_eq!(out, 42);
//! # });
//! assert_eq!(recorder.names(), ["handler.start"]);
//! ```
//!
//! # Work that outlives its scope
//!
//! A scope waits for the tasks spawned in it ([`spawn`]) and cancels them if its
//! future is dropped. Work that must outlive the scope (an audit line sent after the
//! response, a cache write a client disconnect must not cancel) goes to
//! [`spawn_background`]: it keeps the scope's identity (trace id, name, recorder) but
//! belongs to the nearest scope marked [`Scope::background`] (typically the
//! application's) or to the process-wide owner ([`Background::global`]), whose
//! [`shutdown`](Background::shutdown) waits for it up to a timeout and reports what it
//! cut off.
//!
//! # Outside a scope
//!
//! One rule, as in haiway: code that runs outside any scope (a route added after the
//! middleware, a handler called from a unit test) never fails for it.
//!
//! - [`spawn`], [`try_spawn`] and [`spawn_background`] run the task on the
//!   process-wide background owner ([`Background::global`]), in a root scope named
//!   `"background"` with a trace id of its own, on a thread the library starts the
//!   first time it is needed. Nothing is lost; call
//!   `Background::global().shutdown(timeout)` before the process exits to wait for it.
//! - [`record_event`] and [`record_event_with`] do nothing: there is no recorder to
//!   reach (and nothing is allocated).
//! - State reads as missing ([`state`] returns `None`; [`require_state`] panics, naming
//!   the type), and [`Ctx::current`] panics (use [`Ctx::try_current`]), as does
//!   running an [`updating`] outside a scope (it updates the current one: open a
//!   scope with [`Scope::state`] instead).
//!
//! ```
//! use haiway::{ctx, Event};
//!
//! # futures_lite::future::block_on(async {
//! ctx::record_event(Event::info("nowhere")); // no scope: nothing happens
//! assert_eq!(ctx::spawn(async { 1 + 1 }).await, 2); // runs on the process-wide owner
//! # });
//! ```

mod background;
mod context;
mod owner;
mod panics;
mod record;
mod scope;
mod slot;
mod spawn;
mod state;
mod state_map;
mod task;
mod task_set;

pub(crate) use self::background::spawn_kept;
pub use self::background::{Background, Shutdown, ShutdownReport, background, spawn_background};
pub use self::context::Ctx;
pub(crate) use self::record::record_debug;
pub use self::record::{is_recording, record_event, record_event_with};
pub use self::scope::{Run, Scope};
pub(crate) use self::spawn::spawn_mark;
pub use self::spawn::{SpawnError, SpawnErrorKind, spawn, try_spawn};
pub use self::state::{
    Updated, Updating, contains_state, require_state, state, updating, with_state,
};
pub use self::task::Task;
pub use crate::event::{ScopeId, TraceId};
