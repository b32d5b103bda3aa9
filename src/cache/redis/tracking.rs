//! Coherence of the memory tiers of many processes: Redis's server-assisted
//! invalidation, in broadcast mode, on a connection of its own.
//!
//! The [`Tracker`] keeps one RESP3 connection per backend (shared by its clones) on
//! which `CLIENT TRACKING ON BCAST PREFIX <prefix>` is on: Redis then pushes the name of
//! every key under the prefix that anyone changes, deletes, or lets expire (and a null
//! for `FLUSHDB`/`FLUSHALL`). Each cache built on the backend is a [`Tracked`]
//! listener: it remembers which cache key each Redis key stands for (noted before the
//! key is read or written, so a change racing the read is not missed) and drops it
//! from its memory tier through its [`Invalidator`].
//!
//! When the connection is lost, pushes may be lost with it: every memory tier is
//! flushed then, and again once tracking is on anew, so a missed invalidation serves a
//! stale value at most until the reconnection. A ping every second finds a connection
//! that died silently.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};
use smol::Timer;
use smol::channel::Receiver;
use smol::future::FutureExt;

use crate::cache::backend::Invalidator;

/// How often the tracking connection is pinged.
const PING_EVERY: Duration = Duration::from_secs(1);
/// The first pause before reconnecting; it doubles up to the command timeout.
const MIN_DELAY: Duration = Duration::from_millis(20);

/// Told what Redis pushes: a cache's memory tier.
pub(super) trait Listener: Send + Sync {
    /// These Redis keys changed; `None`: anything may have changed.
    fn invalidated(&self, keys: Option<&[Value]>);
}

/// The tracking connection of a backend and its clones; dropping the last clone
/// closes it.
pub(super) struct Tracker {
    /// The caches listening.
    listeners: Arc<Listeners>,
    /// Keeps the connection up; cancelled when dropped.
    _task: smol::Task<()>,
}

/// The caches a tracking connection tells.
#[derive(Default)]
struct Listeners(Mutex<Vec<Weak<dyn Listener>>>);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Listeners {
    /// Tells every live listener.
    fn invalidated(&self, keys: Option<&[Value]>) {
        let live: Vec<_> = lock(&self.0).iter().filter_map(Weak::upgrade).collect();
        for listener in live {
            listener.invalidated(keys);
        }
    }

    /// What a push says.
    fn push(&self, push: &PushInfo) {
        match push.data.first() {
            Some(Value::Array(keys)) => self.invalidated(Some(keys)),
            // A null: the database was flushed.
            _ => self.invalidated(None),
        }
    }
}

impl Tracker {
    /// Connects the tracking connection for `prefix` (failing as `connect` does when
    /// Redis cannot be reached, or is older than 6.0), and keeps it up in a task.
    pub(super) async fn start(
        client: &redis::Client,
        prefix: &str,
        timeout: Duration,
    ) -> redis::RedisResult<Tracker> {
        // Push messages need RESP3.
        let info = client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        let listeners = Arc::new(Listeners::default());
        let first = open(&client, prefix, timeout, &listeners)
            .await
            .map_err(|e| {
                if e.is_io_error() || e.is_timeout() {
                    return e; // unreachable, as `connect` says
                }
                redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "haiway RedisBackend: coherent memory tiers need Redis 6 or later",
                    format!(
                        "turning on RESP3 and CLIENT TRACKING failed ({e}); upgrade Redis, or \
                         pass RedisBackend::options().coherent(false) to go without"
                    ),
                ))
            })?;
        let task = smol::spawn(keep_up(
            client,
            prefix.to_owned(),
            timeout,
            listeners.clone(),
            first,
        ));
        Ok(Tracker {
            listeners,
            _task: task,
        })
    }

    /// Adds a cache to tell.
    pub(super) fn listen(&self, listener: Weak<dyn Listener>) {
        let mut listeners = lock(&self.listeners.0);
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(listener);
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker").finish_non_exhaustive()
    }
}

/// A connection with tracking on, and the signal of its loss.
type Tracking = (MultiplexedConnection, Receiver<()>);

/// Opens a RESP3 connection whose pushes go to `listeners`, and turns tracking on.
async fn open(
    client: &redis::Client,
    prefix: &str,
    timeout: Duration,
    listeners: &Arc<Listeners>,
) -> redis::RedisResult<Tracking> {
    let (lost, on_lost) = smol::channel::bounded(1);
    let listeners = listeners.clone();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        // Runs on the connection's reader: short, and never blocks.
        .set_push_sender(move |push: PushInfo| {
            match push.kind {
                PushKind::Invalidate => listeners.push(&push),
                PushKind::Disconnection => drop(lost.try_send(())),
                _ => {}
            }
            Ok::<(), std::convert::Infallible>(())
        });
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("BCAST")
        .arg("PREFIX")
        .arg(prefix)
        .exec_async(&mut connection)
        .await?;
    Ok((connection, on_lost))
}

/// Watches the tracking connection and, once it is lost, flushes every memory tier and
/// reconnects (with a pause doubling up to `timeout`), flushing again once tracking is
/// on: what was stored meanwhile may have changed unseen.
async fn keep_up(
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    listeners: Arc<Listeners>,
    first: Tracking,
) {
    let mut tracking = Some(first);
    let mut delay = MIN_DELAY;
    loop {
        if let Some((mut connection, on_lost)) = tracking.take() {
            delay = MIN_DELAY;
            loop {
                let lost = async {
                    let _ = on_lost.recv().await;
                    false
                };
                let alive = async {
                    Timer::after(PING_EVERY).await;
                    redis::cmd("PING")
                        .query_async::<Value>(&mut connection)
                        .await
                        .is_ok()
                };
                if !lost.or(alive).await {
                    break;
                }
            }
            listeners.invalidated(None);
        }
        Timer::after(delay).await;
        delay = (delay * 2).min(timeout.max(MIN_DELAY));
        if let Ok(again) = open(&client, &prefix, timeout, &listeners).await {
            listeners.invalidated(None);
            tracking = Some(again);
        }
    }
}

/// A cache listening to the tracking connection: the cache key of each Redis key its
/// memory tier may hold, and its invalidator.
pub(super) struct Tracked<K> {
    /// Redis key to cache key; noted before each read and write of the key.
    keys: Mutex<HashMap<Vec<u8>, K>>,
    /// How many keys are noted at most; past it, all are forgotten and the memory tier
    /// is flushed (it may hold any of them).
    cap: usize,
    /// Drops keys from the memory tier.
    invalidator: Invalidator<K>,
}

impl<K: Clone + Send + Sync + 'static> Tracked<K> {
    /// A listener for the memory tier `invalidator` reaches.
    pub(super) fn new(invalidator: Invalidator<K>) -> Self {
        let cap = invalidator
            .limit()
            .map_or(1 << 20, |limit| limit.saturating_mul(4).max(1024));
        Tracked {
            keys: Mutex::new(HashMap::new()),
            cap,
            invalidator,
        }
    }

    /// Notes that `redis_key` stands for `key`, before it is read or written.
    pub(super) fn note(&self, redis_key: &str, key: &K) {
        let mut keys = lock(&self.keys);
        if keys.contains_key(redis_key.as_bytes()) {
            return;
        }
        if keys.len() >= self.cap {
            keys.clear();
            drop(keys);
            // A key forgotten here could no longer be invalidated.
            self.invalidator.invalidate_all();
            keys = lock(&self.keys);
        }
        keys.insert(redis_key.as_bytes().to_vec(), key.clone());
    }
}

impl<K: Clone + Send + Sync + 'static> Listener for Tracked<K> {
    fn invalidated(&self, keys: Option<&[Value]>) {
        let Some(keys) = keys else {
            lock(&self.keys).clear();
            self.invalidator.invalidate_all();
            return;
        };
        for redis_key in keys {
            let Value::BulkString(redis_key) = redis_key else {
                continue;
            };
            let key = lock(&self.keys).remove(redis_key.as_slice());
            if let Some(key) = key {
                self.invalidator.invalidate(&key);
            }
        }
    }
}
