//! [`ScopeSpan`]: what a recorder attaches to each scope it serves, entered around
//! every poll of the scope's code.

/// Per-scope state a [`Recorder`](super::Recorder) attaches to a scope with
/// [`Recorder::open_scope`](super::Recorder::open_scope):
/// typically a span, made current while the scope's code runs.
///
/// `enter` and `exit` come in pairs on one thread, nested like the polls they wrap:
/// a scope polled inside another is entered after it and exited before it. Different
/// threads may enter the same scope at the same time (its body on one, a task on
/// another). Keep both quick, and never panic in them.
///
/// # Examples
///
/// ```
/// use haiway::ScopeSpan;
/// use std::sync::atomic::{AtomicIsize, Ordering};
///
/// /// How many polls of the scope are under way right now.
/// struct Active(AtomicIsize);
///
/// impl ScopeSpan for Active {
///     fn enter(&self) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn exit(&self) {
///         self.0.fetch_sub(1, Ordering::Relaxed);
///     }
/// }
///
/// let active = Active(AtomicIsize::new(0));
/// active.enter();
/// active.exit();
/// active.end();
/// assert_eq!(active.0.load(Ordering::Relaxed), 0);
/// ```
pub trait ScopeSpan: Send + Sync + 'static {
    /// Called on the polling thread just before a poll of the scope's code.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// thread_local!(static DEPTH: Cell<u32> = const { Cell::new(0) });
    ///
    /// struct Depth;
    /// impl haiway::ScopeSpan for Depth {
    ///     fn enter(&self) {
    ///         DEPTH.with(|d| d.set(d.get() + 1));
    ///     }
    ///     fn exit(&self) {
    ///         DEPTH.with(|d| d.set(d.get() - 1));
    ///     }
    /// }
    ///
    /// haiway::ScopeSpan::enter(&Depth);
    /// assert_eq!(DEPTH.with(Cell::get), 1);
    /// haiway::ScopeSpan::exit(&Depth);
    /// assert_eq!(DEPTH.with(Cell::get), 0);
    /// ```
    fn enter(&self);

    /// Called on the same thread just after that poll, also when it panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// struct Flag(AtomicBool);
    /// impl haiway::ScopeSpan for Flag {
    ///     fn enter(&self) {
    ///         self.0.store(true, Ordering::Relaxed);
    ///     }
    ///     fn exit(&self) {
    ///         self.0.store(false, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let flag = Flag(AtomicBool::new(false));
    /// haiway::ScopeSpan::enter(&flag);
    /// haiway::ScopeSpan::exit(&flag);
    /// assert!(!flag.0.load(Ordering::Relaxed));
    /// ```
    fn exit(&self);

    /// Called once when the scope has finished (its body and all its tasks), or when
    /// its future is dropped before that. The default does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// struct Nothing;
    /// impl haiway::ScopeSpan for Nothing {
    ///     fn enter(&self) {}
    ///     fn exit(&self) {}
    /// }
    /// haiway::ScopeSpan::end(&Nothing);
    /// ```
    fn end(&self) {}
}
