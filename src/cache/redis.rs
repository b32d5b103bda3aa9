//! [`RedisBackend`]: a cache backend on Redis, for caches shared by several processes.
//!
//! Values are serialised with a [`Codec`] (JSON by default), stored under
//! `prefix + key`, with the cache's expiration as the key's TTL. Clearing everything
//! deletes only this prefix's keys (`SCAN` + `UNLINK`), never the whole database.
//! Undoing a write that a clear made stale ([`Backend::clear_if`]) is a server-side
//! script that deletes the key only if it still holds the stale value's bytes, so a
//! newer value written since, by this process or another, stays.
//!
//! # Many processes
//!
//! Processes sharing a prefix share the values: one computes, the others read it. A
//! cache with a memory tier in front of Redis stays coherent with the other processes
//! ([`RedisOptions::coherent`], on by default): a second connection per backend has
//! Redis's server-assisted invalidation on (RESP3 `CLIENT TRACKING ON BCAST PREFIX`),
//! so when any client changes, deletes or expires a key under the prefix, Redis tells
//! every process, and each drops that key from its memory tier. What it does not cover:
//!
//! - The invalidation travels as a push message: until it arrives (typically well
//!   under a millisecond on a LAN), another process may still serve its old copy.
//! - While the invalidation connection is down, changes go unseen: every memory tier
//!   is flushed when the loss is noticed (at once when the socket closes, within a
//!   second by ping otherwise) and again once tracking is back, so a stale value is
//!   served at most until the reconnection.
//! - A process's own writes invalidate its own copy too: after computing a key, the
//!   next call reads it once from Redis, then the memory tier serves it.
//! - A computation running in a process when the key is changed elsewhere still
//!   answers its callers, but stores its result nowhere.
//! - It needs Redis 6 or later; `connect` fails on an older server while coherent.
//!
//! On a miss the processes compute the value each, unless
//! [`RedisOptions::single_flight`] is set: then one process takes a short lock for the
//! key and computes, and the others wait for its value (at most the lock's time).
//!
//! The connection is a `redis` connection manager driven by smol's executor, so it
//! needs no tokio runtime (the driver compiles tokio's `sync` feature and tokio-util,
//! and runs no tokio runtime); it reconnects by itself after the server restarts. Commands
//! time out (one second by default), so a dead server slows calls down but never hangs
//! them, and a cache in front of it keeps answering by running its function.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use self::connection::Connection;
use self::lock::{Locks, Waited};
use self::tracking::{Listener, Tracked, Tracker};
use super::backend::{Backend, BoxError, Invalidator};

mod connection;
mod lock;
mod options;
mod tracking;

use self::options::check;
pub use self::options::{Codec, Json, RedisOptions};

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
    /// The shared, self-reconnecting connection (or cluster connection).
    connection: Connection,
    /// Prepended to every key; never empty.
    prefix: String,
    /// Serialises values.
    codec: C,
    /// The keys' TTL: the cache's expiration.
    ttl: Option<Duration>,
    /// The invalidation connections (one per primary of a cluster), shared with
    /// clones; none when not coherent.
    trackers: Arc<[Tracker]>,
    /// This backend's cache, as the tracker tells it (a `Tracked<K>`), once built with
    /// a memory tier.
    tracked: Option<Arc<dyn Any + Send + Sync>>,
    /// The cross-process locks, shared with clones; `None`: no single-flight.
    locks: Option<Arc<Locks>>,
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
            coherent: true,
            lock: None,
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
    /// of the database), the single-flight lock time is zero, or no server answers (or,
    /// when [coherent](RedisOptions::coherent), one older than Redis 6).
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
        check(prefix, &options)?;
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.timeout))
            .set_connection_timeout(Some(options.timeout))
            .set_number_of_retries(options.retries)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(options.timeout);
        let trackers = match options.coherent {
            true => vec![Tracker::start(&client, prefix, options.timeout).await?],
            false => Vec::new(),
        };
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisBackend::assemble(
            Connection::Single(connection),
            prefix,
            codec,
            &options,
            trackers,
        ))
    }

    /// Connects to a Redis Cluster through any of its nodes (`urls`, such as
    /// `redis://10.0.0.1:7000/`), with `options`, encoding values with `codec`, storing
    /// keys under `prefix`. Keys spread over the slots by their whole name (the prefix
    /// must not hold a hash tag `{..}`, which would put every key in one slot);
    /// [`clear`](Backend::clear) of everything scans and deletes the prefix's keys on
    /// every primary; coherence listens to every primary; the single-flight lock is a
    /// key like any other. The primaries are those of the moment it connects: after a
    /// resharding that adds one, connect again. The tracking connections reach each
    /// primary at the address the cluster announces, with the first URL's credentials
    /// and database, over plain TCP.
    ///
    /// # Errors
    ///
    /// As [`connect_with`](Self::connect_with), and when the prefix holds a hash tag.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::cache::redis::{Json, RedisBackend};
    ///
    /// # smol::block_on(async {
    /// let options = RedisBackend::options();
    /// let urls = ["redis://127.0.0.1:7000/"];
    /// let err = RedisBackend::connect_cluster_with(&urls, "{app}:", Json, options).await;
    /// assert!(err.err().unwrap().to_string().contains("slot"));
    /// # });
    /// ```
    #[cfg(feature = "redis-cluster")]
    pub async fn connect_cluster_with(
        urls: &[&str],
        prefix: &str,
        codec: C,
        options: RedisOptions,
    ) -> redis::RedisResult<Self> {
        check(prefix, &options)?;
        if let Some((_, after)) = prefix.split_once('{') {
            if after.find('}').is_some_and(|end| end > 0) {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "haiway RedisBackend: a prefix with a hash tag puts every key in one slot",
                    format!(
                        "the prefix {prefix:?} holds `{{..}}`, so Redis Cluster would keep every \
                         key of this cache on one node; remove the braces"
                    ),
                )));
            }
        }
        let client = redis::cluster::ClusterClient::builder(urls.iter().copied())
            .connection_timeout(options.timeout)
            .response_timeout(options.timeout)
            .retries(u32::try_from(options.retries).unwrap_or(u32::MAX))
            .build()?;
        let mut cluster = client.get_async_connection().await?;
        let mut trackers = Vec::new();
        if options.coherent {
            // One tracking connection per primary: each tells the changes of its slots.
            // The first node's settings (credentials, database), at each primary's address.
            let first = redis::Client::open(urls.first().copied().unwrap_or_default())?;
            for (host, port) in connection::primaries(&mut cluster).await? {
                let info = first
                    .get_connection_info()
                    .clone()
                    .set_addr(redis::ConnectionAddr::Tcp(host, port));
                let node = redis::Client::open(info)?;
                trackers.push(Tracker::start(&node, prefix, options.timeout).await?);
            }
        }
        Ok(RedisBackend::assemble(
            Connection::Cluster(cluster),
            prefix,
            codec,
            &options,
            trackers,
        ))
    }

    /// The backend of a connection made.
    fn assemble(
        connection: Connection,
        prefix: &str,
        codec: C,
        options: &RedisOptions,
        trackers: Vec<Tracker>,
    ) -> Self {
        RedisBackend {
            connection,
            prefix: prefix.to_owned(),
            codec,
            ttl: None,
            trackers: trackers.into(),
            tracked: None,
            locks: options.lock.map(|ttl| Arc::new(Locks::new(ttl))),
        }
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

    /// This backend's cache, as the tracker tells it, if it has a memory tier.
    fn tracked<K: Send + Sync + 'static>(&self) -> Option<&Tracked<K>> {
        self.tracked.as_deref()?.downcast_ref()
    }

    /// Deletes this prefix's keys on every primary of the cluster: `SCAN` on each, and
    /// `UNLINK` of each key (keys of different slots cannot go in one command).
    #[cfg(feature = "redis-cluster")]
    async fn clear_cluster(
        &self,
        cluster: &mut redis::cluster_async::ClusterConnection,
    ) -> Result<(), BoxError> {
        use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
        let pattern = self.pattern();
        for (host, port) in connection::primaries(cluster).await? {
            let mut cursor: u64 = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500);
                let node = SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port,
                };
                let answer = cluster
                    .route_command(scan, RoutingInfo::SingleNode(node))
                    .await?;
                let (next, keys): (u64, Vec<String>) = redis::from_redis_value(answer)?;
                let unlinks = keys.into_iter().map(|key| {
                    let mut cluster = cluster.clone();
                    async move { cluster.unlink::<_, ()>(key).await }
                });
                futures_util::future::try_join_all(unlinks).await?;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
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
            trackers: self.trackers.clone(),
            // A clone is given to another cache, which brings its own invalidator.
            tracked: None,
            locks: self.locks.clone(),
        }
    }
}

impl<C> fmt::Debug for RedisBackend<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("coherent", &!self.trackers.is_empty())
            .field("single_flight", &self.locks.is_some())
            .finish_non_exhaustive()
    }
}

impl<K, V, C> Backend<K, V> for RedisBackend<C>
where
    K: fmt::Display + Clone + Send + Sync + 'static,
    V: Send + 'static,
    C: Codec<V>,
{
    async fn read(&self, key: &K) -> Result<Option<V>, BoxError> {
        let mut connection = self.connection.clone();
        let redis_key = self.redis_key(key);
        if let Some(tracked) = self.tracked::<K>() {
            // Before the read: a change racing it is then seen.
            tracked.note(&redis_key, key);
        }
        let mut bytes: Option<Vec<u8>> = connection.get(&redis_key).await?;
        if let (None, Some(locks)) = (&bytes, &self.locks) {
            if let Waited::Value(value) = locks.lead_or_wait(&mut connection, &redis_key).await? {
                bytes = Some(value);
            }
        }
        match bytes {
            Some(bytes) => Ok(Some(self.codec.decode(&bytes)?)),
            None => Ok(None),
        }
    }

    async fn write(&self, key: K, value: V) -> Result<(), BoxError> {
        let bytes = self.codec.encode(&value)?;
        let mut connection = self.connection.clone();
        if let Some(tracked) = self.tracked::<K>() {
            tracked.note(&self.redis_key(&key), &key);
        }
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
        if let Some(locks) = &self.locks {
            // The value is written: a failed release only makes the others wait for
            // the lock to expire, which is no write failure.
            let _ = locks.release(&mut connection, &key).await;
        }
        Ok(())
    }

    async fn clear(&self, key: Option<&K>) -> Result<(), BoxError> {
        let mut connection = self.connection.clone();
        if let Some(key) = key {
            connection.unlink::<_, ()>(self.redis_key(key)).await?;
            return Ok(());
        }
        #[cfg(feature = "redis-cluster")]
        if let Connection::Cluster(cluster) = &mut connection {
            return self.clear_cluster(cluster).await;
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

    fn set_invalidator(&mut self, invalidator: Invalidator<K>) {
        if self.trackers.is_empty() {
            return;
        }
        let tracked = Arc::new(Tracked::new(invalidator));
        let listener: Arc<dyn Listener> = tracked.clone();
        for tracker in self.trackers.iter() {
            tracker.listen(Arc::downgrade(&listener));
        }
        self.tracked = Some(tracked);
    }
}

/// Deletes `KEYS[1]` if it holds the bytes `ARGV[1]`, in one atomic step (a script
/// runs with no other command in between); returns how many keys it deleted.
const COMPARE_AND_DELETE: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('UNLINK', KEYS[1])
end
return 0";
