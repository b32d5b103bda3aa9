//! What a [`RedisBackend`] is configured with: the [`Codec`] of its values ([`Json`] by
//! default), its connection options ([`RedisOptions`]), and the check that refuses a
//! prefix or options that cannot work.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[allow(unused_imports, reason = "named by the docs' links")]
use super::RedisBackend;
use crate::cache::backend::BoxError;

/// Turns values into bytes for Redis and back.
///
/// # Examples
///
/// ```
/// use haiway::cache::redis::{Codec, Json};
///
/// let bytes = Codec::<Vec<u32>>::encode(&Json, &vec![1, 2]).unwrap();
/// assert_eq!(bytes, b"[1,2]");
/// let back: Vec<u32> = Json.decode(&bytes).unwrap();
/// assert_eq!(back, [1, 2]);
/// ```
pub trait Codec<V>: Send + Sync + 'static {
    /// Serialises `value`.
    ///
    /// Equal values (a value and its clones) must encode to equal bytes: the undo of a
    /// stale write ([`Backend::clear_if`](crate::cache::Backend::clear_if)) finds the stale
    /// value by its bytes, and leaves a value whose bytes differ. JSON through serde does (for a `HashMap`
    /// too: a clone iterates in the same order).
    ///
    /// # Errors
    ///
    /// When the value cannot be represented.
    fn encode(&self, value: &V) -> Result<Vec<u8>, BoxError>;

    /// Deserialises a value written by [`encode`](Codec::encode).
    ///
    /// # Errors
    ///
    /// When the bytes are not a valid value (for example written by an older version).
    fn decode(&self, bytes: &[u8]) -> Result<V, BoxError>;
}

/// The default [`Codec`]: JSON through serde.
///
/// # Examples
///
/// ```
/// use haiway::cache::redis::{Codec, Json};
///
/// let s: String = Json.decode(br#""hi""#).unwrap();
/// assert_eq!(s, "hi");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<V: Serialize + DeserializeOwned> Codec<V> for Json {
    fn encode(&self, value: &V) -> Result<Vec<u8>, BoxError> {
        Ok(serde_json::to_vec(value)?)
    }

    fn decode(&self, bytes: &[u8]) -> Result<V, BoxError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// How to connect: timeouts and reconnection. Start from [`RedisBackend::options`].
///
/// # Examples
///
/// ```
/// use haiway::cache::redis::RedisBackend;
/// use std::time::Duration;
///
/// let _options = RedisBackend::options().timeout(Duration::from_millis(200)).retries(1);
/// ```
#[derive(Debug, Clone)]
#[must_use = "options do nothing until passed to `RedisBackend::connect_with`"]
pub struct RedisOptions {
    /// Per-command and per-connection-attempt timeout.
    pub(super) timeout: Duration,
    /// Reconnection attempts before a command fails.
    pub(super) retries: usize,
    /// Whether memory tiers listen to Redis for changes made elsewhere.
    pub(super) coherent: bool,
    /// How long a process may hold the lock of a key it computes; `None`: no lock.
    pub(super) lock: Option<Duration>,
}

impl RedisOptions {
    /// How long one command, or one attempt to connect, may take (default 1 s).
    ///
    /// # Examples
    ///
    /// ```
    /// let _o = haiway::cache::redis::RedisBackend::options().timeout(std::time::Duration::from_secs(2));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times to retry connecting before a command fails (default 2).
    ///
    /// # Examples
    ///
    /// ```
    /// let _o = haiway::cache::redis::RedisBackend::options().retries(0);
    /// ```
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }

    /// Whether a cache's memory tier drops a key when another process changes or
    /// deletes it in Redis (default `true`). It costs one more connection per backend
    /// (and its clones), on which Redis pushes the name of every key changed under the
    /// prefix; see [Many processes](super#many-processes) for what it covers. Turn it
    /// off for caches without a memory tier, or whose values never change once written.
    ///
    /// # Examples
    ///
    /// ```
    /// let _o = haiway::cache::redis::RedisBackend::options().coherent(false);
    /// ```
    pub fn coherent(mut self, coherent: bool) -> Self {
        self.coherent = coherent;
        self
    }

    /// Cross-process single-flight (off by default): on a miss, a process takes a
    /// Redis lock on the key for at most `lock_time` (`SET NX PX` with a token) and
    /// computes the value, while the other processes missing the key wait for it,
    /// looking for it with a pause doubling from 2 ms to 50 ms. The holder releases its
    /// lock once its value is written; one that dies, or whose function fails or is
    /// dropped, or whose result is not stored because the key changed meanwhile (see
    /// [`Invalidator`](crate::cache::Invalidator)), releases nothing, and the others take
    /// the lock when its time runs out.
    /// When a holder's lease runs out, one waiting process takes the lock over; a
    /// process computes without the lock only after waiting two lock times in all.
    ///
    /// Pick a `lock_time` above the function's usual duration. A miss costs two more
    /// commands (the `SET NX`, and a `GET` of the value once the lock is taken, in case
    /// another holder wrote it since), and one more after the write (the release).
    ///
    /// `connect_with` fails if `lock_time` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let _o = haiway::cache::redis::RedisBackend::options().single_flight(Duration::from_secs(5));
    /// ```
    pub fn single_flight(mut self, lock_time: Duration) -> Self {
        self.lock = Some(lock_time);
        self
    }
}

/// Fails on a prefix or options that cannot work, saying what to do.
pub(super) fn check(prefix: &str, options: &RedisOptions) -> redis::RedisResult<()> {
    if prefix.is_empty() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "haiway RedisBackend needs a non-empty key prefix",
            "clearing deletes every key under the prefix; an empty prefix would delete the \
             whole database, so pass something like \"myapp:profiles:\""
                .to_owned(),
        )));
    }
    if options.lock == Some(Duration::ZERO) {
        return Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "haiway RedisBackend: single_flight(Duration::ZERO) would hold no lock",
            "pass a lock time above the function's usual duration, such as \
             Duration::from_secs(5)"
                .to_owned(),
        )));
    }
    Ok(())
}
