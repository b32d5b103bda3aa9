//! Time for expiration: the [`Clock`] trait, the system clock and a manual clock for
//! tests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock. Expiration is measured on it.
///
/// The default is [`SystemClock`]. Tests inject a [`ManualClock`] with
/// [`CacheBuilder::clock`](super::CacheBuilder::clock) to control time without sleeping.
///
/// # Examples
///
/// ```
/// use haiway::cache::{Clock, SystemClock};
///
/// let a = SystemClock.now();
/// assert!(SystemClock.now() >= a);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current instant. Must never go backwards.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock, [`Instant::now`].
///
/// # Examples
///
/// ```
/// use haiway::cache::{Clock, SystemClock};
///
/// let _now = SystemClock.now();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to: for tests of expiration.
///
/// Clones share the same time.
///
/// # Examples
///
/// ```
/// use haiway::cache::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now() - start, Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    /// The instant the clock started at.
    base: Instant,
    /// Nanoseconds advanced since `base`, shared by clones.
    offset_nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at the current instant.
    ///
    /// # Examples
    ///
    /// ```
    /// let _clock = haiway::cache::ManualClock::new();
    /// ```
    pub fn new() -> Self {
        ManualClock {
            base: Instant::now(),
            offset_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves the clock forward by `by`.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::{Clock, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let before = clock.now();
    /// clock.advance(Duration::from_millis(10));
    /// assert!(clock.now() > before);
    /// ```
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field(
                "advanced",
                &Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst)),
            )
            .finish()
    }
}
