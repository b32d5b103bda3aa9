//! [`Stats`]: a snapshot of a cache's counters.

/// A snapshot of a cache's counters. Compare it with `==`, print it with `{}`.
///
/// Every finished lookup is a hit or a miss: `hits + misses` calls. Of the misses,
/// `coalesced` shared a run another call had started (single-flight), so
/// `misses - coalesced` calls started one; `runs` counts the function's starts. Without
/// a backend, and with no run started over (a run starts over after it panicked, or
/// when a call that drove it is dropped after tasks were spawned in its scope), the
/// function ran once per call that started a run:
///
/// `hits + coalesced + runs == calls`
///
/// A backend's hits ran nothing: there `runs` counts only what the backend did not
/// have.
///
/// # Examples
///
/// ```
/// use futures::channel::oneshot;
/// use futures::future::{FutureExt, join, join_all};
/// use haiway::cache::cache;
///
/// // A slow function: it waits for the test to open the gate.
/// let (open, gate) = oneshot::channel::<()>();
/// let gate = gate.shared();
/// let double = cache(move |x: u32| {
///     let gate = gate.clone();
///     async move {
///         let _ = gate.await;
///         x * 2
///     }
/// });
/// # futures_lite::future::block_on(async {
/// // Three calls at once share one run; a fourth finds the value.
/// let calls = join_all([double.call(1), double.call(1), double.call(1)]);
/// let (values, ()) = join(calls, async { open.send(()).unwrap() }).await;
/// assert_eq!(values, [2, 2, 2]);
/// double.call(1).await;
/// # });
/// let stats = double.stats();
/// assert_eq!((stats.hits, stats.misses, stats.coalesced, stats.runs), (1, 3, 2, 1));
/// assert_eq!(stats.hits + stats.coalesced + stats.runs, 4);
/// assert_eq!((stats.evictions, stats.len), (0, 1));
/// assert_eq!(
///     stats.to_string(),
///     "1 hits, 3 misses (2 coalesced), 1 runs, 0 evictions, 1 stored"
/// );
///
/// // Snapshots compare: nothing happened in between.
/// assert_eq!(double.stats(), stats);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Calls answered from the store: the memory tier, or the backend.
    pub hits: u64,
    /// Calls that found no stored value: they started a run (of the function, or a
    /// backend read and the function if it found nothing), or joined a run in flight.
    pub misses: u64,
    /// Of the misses, the calls that joined a run another call had started, and took
    /// its result (single-flight).
    pub coalesced: u64,
    /// Times the function was started: once per run, and again for a run started
    /// over (see the type's docs).
    pub runs: u64,
    /// Values removed to respect the limit.
    pub evictions: u64,
    /// Values stored now.
    pub len: usize,
}

impl std::fmt::Display for Stats {
    /// `1 hits, 3 misses (2 coalesced), 1 runs, 0 evictions, 1 stored`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} hits, {} misses ({} coalesced), {} runs, {} evictions, {} stored",
            self.hits, self.misses, self.coalesced, self.runs, self.evictions, self.len
        )
    }
}
