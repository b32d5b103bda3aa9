//! [`RedisBackend`]: a cache backend on Redis, for caches shared by several processes.
//!
//! Values are serialised with a [`Codec`] (JSON by default), stored under
//! `prefix + key`, with the cache's expiration as the key's TTL. Clearing everything
//! deletes only this prefix's keys (`SCAN` + `UNLINK`), never the whole database.
//! Undoing a write that a clear made stale ([`Backend::clear_if`]) is a server-side
//! script that deletes the key only if it still holds the stale value's bytes, so a
//! newer value written since, by this process or another, stays.
//!
//! The connection is a `redis` connection manager driven by smol's executor, so it
//! needs no tokio runtime (the driver compiles tokio's `sync` feature and tokio-util,
//! and runs no tokio runtime); it reconnects by itself after the server restarts. Commands
//! time out (one second by default), so a dead server slows calls down but never hangs
//! them, and a cache in front of it keeps answering by running its function.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::{Backend, BoxError};

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
    /// stale write ([`Backend::clear_if`]) finds the stale value by its bytes, and
    /// leaves a value whose bytes differ. JSON through serde does (for a `HashMap`
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
    timeout: Duration,
    /// Reconnection attempts before a command fails.
    retries: usize,
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
}

/// A [`Backend`] on Redis. Cheap to clone: clones share the connection.
///
/// Keys are `prefix + key` (the key's `Display`); values go through the [`Codec`] `C`.
///
/// # Examples
///
/// ```no_run
/// use haiway::cache::Cached;
/// use haiway::cache::redis::RedisBackend;
/// use std::time::Duration;
///
/// # smol::block_on(async {
/// let redis = RedisBackend::connect("redis://127.0.0.1/", "profiles:").await?;
/// let resolve_profile = Cached::builder()
///     .expiration(Duration::from_secs(300)) // also the keys' TTL in Redis
///     .backend(redis)
///     .build(|user_id: String| async move { format!("profile of {user_id}") });
/// let profile = resolve_profile.call("ada".to_owned()).await;
/// # Ok::<(), redis::RedisError>(())
/// # });
/// ```
pub struct RedisBackend<C = Json> {
    /// The shared, self-reconnecting connection.
    connection: ConnectionManager,
    /// Prepended to every key; never empty.
    prefix: String,
    /// Serialises values.
    codec: C,
    /// The keys' TTL: the cache's expiration.
    ttl: Option<Duration>,
}

impl RedisBackend<Json> {
    /// The default connection options.
    ///
    /// # Examples
    ///
    /// ```
    /// let _o = haiway::cache::redis::RedisBackend::options();
    /// ```
    pub fn options() -> RedisOptions {
        RedisOptions {
            timeout: Duration::from_secs(1),
            retries: 2,
        }
    }

    /// Connects to `url` (such as `redis://127.0.0.1:6379/0`) with the default options
    /// and values as JSON, storing keys under `prefix`.
    ///
    /// # Errors
    ///
    /// When the URL is invalid, the prefix is empty, or no server answers.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::redis::RedisBackend;
    ///
    /// # smol::block_on(async {
    /// let err = RedisBackend::connect("not a url", "app:").await.err().unwrap();
    /// assert!(!err.to_string().is_empty());
    /// # });
    /// ```
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        RedisBackend::connect_with(url, prefix, Json, RedisBackend::options()).await
    }
}

impl<C> RedisBackend<C> {
    /// Connects to `url` with `options`, encoding values with `codec`, storing keys
    /// under `prefix`.
    ///
    /// # Errors
    ///
    /// When the URL is invalid, the prefix is empty (clearing would then touch every key
    /// of the database), or no server answers.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::redis::{Json, RedisBackend};
    ///
    /// # smol::block_on(async {
    /// let options = RedisBackend::options();
    /// let err = RedisBackend::connect_with("redis://127.0.0.1/", "", Json, options).await;
    /// assert!(err.err().unwrap().to_string().contains("prefix"));
    /// # });
    /// ```
    pub async fn connect_with(
        url: &str,
        prefix: &str,
        codec: C,
        options: RedisOptions,
    ) -> redis::RedisResult<Self> {
        if prefix.is_empty() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "haiway RedisBackend needs a non-empty key prefix",
                "clearing deletes every key under the prefix; an empty prefix would delete the \
                 whole database, so pass something like \"myapp:profiles:\""
                    .to_owned(),
            )));
        }
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.timeout))
            .set_connection_timeout(Some(options.timeout))
            .set_number_of_retries(options.retries)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(options.timeout);
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisBackend {
            connection,
            prefix: prefix.to_owned(),
            codec,
            ttl: None,
        })
    }

    /// The key prefix.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # smol::block_on(async {
    /// let redis = haiway::cache::redis::RedisBackend::connect("redis://127.0.0.1/", "app:").await.unwrap();
    /// assert_eq!(redis.prefix(), "app:");
    /// # });
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of a cache key.
    fn redis_key(&self, key: &impl fmt::Display) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A `SCAN` pattern matching exactly this prefix's keys.
    fn pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.prefix.len() + 1);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }
}

impl<C: Clone> Clone for RedisBackend<C> {
    fn clone(&self) -> Self {
        RedisBackend {
            connection: self.connection.clone(),
            prefix: self.prefix.clone(),
            codec: self.codec.clone(),
            ttl: self.ttl,
        }
    }
}

impl<C> fmt::Debug for RedisBackend<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<K, V, C> Backend<K, V> for RedisBackend<C>
where
    K: fmt::Display + Send + Sync + 'static,
    V: Send + 'static,
    C: Codec<V>,
{
    async fn read(&self, key: &K) -> Result<Option<V>, BoxError> {
        let mut connection = self.connection.clone();
        let bytes: Option<Vec<u8>> = connection.get(self.redis_key(key)).await?;
        match bytes {
            Some(bytes) => Ok(Some(self.codec.decode(&bytes)?)),
            None => Ok(None),
        }
    }

    async fn write(&self, key: K, value: V) -> Result<(), BoxError> {
        let bytes = self.codec.encode(&value)?;
        let mut connection = self.connection.clone();
        let key = self.redis_key(&key);
        match self.ttl {
            Some(ttl) => {
                // PX: millisecond precision; at least 1 ms (0 is an error in Redis).
                let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                redis::cmd("SET")
                    .arg(&key)
                    .arg(bytes)
                    .arg("PX")
                    .arg(millis)
                    .exec_async(&mut connection)
                    .await?;
            }
            None => connection.set::<_, _, ()>(&key, bytes).await?,
        }
        Ok(())
    }

    async fn clear(&self, key: Option<&K>) -> Result<(), BoxError> {
        let mut connection = self.connection.clone();
        if let Some(key) = key {
            connection.unlink::<_, ()>(self.redis_key(key)).await?;
            return Ok(());
        }
        // Only this prefix's keys, in batches: SCAN never blocks the server the way
        // KEYS would, and UNLINK frees memory in the background.
        let pattern = self.pattern();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut connection)
                .await?;
            if !keys.is_empty() {
                connection.unlink::<_, ()>(keys).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn clear_if(&self, key: &K, value: &V) -> impl Future<Output = Result<(), BoxError>> + Send {
        // Encoded and keyed now: the future borrows neither the key nor the value.
        let bytes = self.codec.encode(value);
        let key = self.redis_key(key);
        let mut connection = self.connection.clone();
        async move {
            // EVAL, not EVALSHA: an undo is rare, and the server caches the script.
            redis::cmd("EVAL")
                .arg(COMPARE_AND_DELETE)
                .arg(1)
                .arg(key)
                .arg(bytes?)
                .exec_async(&mut connection)
                .await?;
            Ok(())
        }
    }

    fn set_expiration(&mut self, expiration: Option<Duration>) {
        self.ttl = expiration;
    }
}

/// Deletes `KEYS[1]` if it holds the bytes `ARGV[1]`, in one atomic step (a script
/// runs with no other command in between); returns how many keys it deleted.
const COMPARE_AND_DELETE: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('UNLINK', KEYS[1])
end
return 0";
