//! Cross-process single-flight: on a miss, one process takes a short Redis lock for the
//! key (`SET NX PX` with a token of its own), reads the value once more (a holder
//! before it may have written it since this process looked), and computes; the others
//! poll for the value with a pause that doubles up to [`MAX_PAUSE`], and take the lock
//! themselves once its holder's time runs out (a holder that died releases nothing). A
//! waiter computes without the lock only after two lock times in all. Only the holder
//! releases its lock, with a compare-and-delete of its token, once its value is
//! written.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use smol::Timer;

use redis::aio::ConnectionLike;

use super::COMPARE_AND_DELETE;

/// The first pause between two looks for the value.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
/// The longest pause between two looks for the value.
const MAX_PAUSE: Duration = Duration::from_millis(50);
/// Held locks noted before the stale ones (whose value never came) are swept.
const SWEEP_AT: usize = 1024;

/// The locks of one backend (shared by its clones).
#[derive(Debug)]
pub(super) struct Locks {
    /// How long a lock lives.
    ttl: Duration,
    /// The tokens of the locks this process holds, by Redis key of the value.
    held: Mutex<HashMap<String, (String, Instant)>>,
    /// Tells this process's tokens from each other.
    next: AtomicU64,
    /// Tells this process's tokens from other processes'.
    seed: u64,
}

/// What a miss waited for.
pub(super) enum Waited {
    /// Another process wrote the value.
    Value(Vec<u8>),
    /// This process holds the lock, or the lock's time ran out: compute.
    Compute,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The value of `redis_key`, if Redis holds one.
async fn read_value(
    connection: &mut (impl ConnectionLike + Send),
    redis_key: &str,
) -> redis::RedisResult<Option<Vec<u8>>> {
    redis::cmd("GET")
        .arg(redis_key)
        .query_async(connection)
        .await
}

/// The lock's key for the value's key: outside the prefix, so clearing and
/// invalidation never see it.
fn lock_key(redis_key: &str) -> String {
    format!("haiway-lock:{redis_key}")
}

impl Locks {
    /// Locks that live `ttl` (not zero).
    pub(super) fn new(ttl: Duration) -> Self {
        let seed = std::collections::hash_map::RandomState::new()
            .hash_one((std::process::id(), Instant::now()));
        Locks {
            ttl,
            held: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            seed,
        }
    }

    /// After a miss on `redis_key`: takes the lock and returns [`Waited::Compute`], or
    /// waits for its holder's value, trying the lock again when each holder's lease is
    /// due to end. Computes without the lock only after two lock times in all.
    pub(super) async fn lead_or_wait(
        &self,
        connection: &mut (impl ConnectionLike + Send),
        redis_key: &str,
    ) -> redis::RedisResult<Waited> {
        let key = lock_key(redis_key);
        let millis = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        // Each holder's lease is waited for (a holder that died is taken over when its
        // time runs out), but never longer than two lock times in all. `deadline`: when
        // the lease of the holder last seen ends, about.
        let start = Instant::now();
        let cap = start + self.ttl * 2;
        let mut deadline = start + self.ttl;
        let mut holder: Option<String> = None;
        let mut pause = FIRST_PAUSE;
        loop {
            let token = format!(
                "{:016x}-{}-{}",
                self.seed,
                std::process::id(),
                self.next.fetch_add(1, Ordering::Relaxed)
            );
            let taken: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(millis)
                .query_async(connection)
                .await?;
            if taken.is_some() {
                self.note(redis_key, token);
                // A holder writes its value before it releases its lock, so once this
                // call holds the lock, a value written by any holder before is there to
                // read: one written since this call last looked (its own miss, or its
                // last poll) would otherwise be computed a second time.
                if let Some(value) = read_value(connection, redis_key).await? {
                    // A failed release only makes the others wait for the lock to expire.
                    let _ = self.release(connection, redis_key).await;
                    return Ok(Waited::Value(value));
                }
                return Ok(Waited::Compute);
            }
            let now: Option<String> = redis::cmd("GET").arg(&key).query_async(connection).await?;
            if now.is_some() && now != holder {
                // A new holder: its lease starts about now.
                holder = now;
                deadline = (Instant::now() + self.ttl).min(cap);
            }
            if Instant::now() >= cap {
                // Two lock times waited: the holders are slow, compute anyway.
                return Ok(Waited::Compute);
            }
            // When the holder's lease is due to end, the lock is tried again: another
            // process may take it first, or have taken, written and released it already,
            // so that is no time to compute.
            let lease_left = deadline.saturating_duration_since(Instant::now());
            Timer::after(pause.min(lease_left).max(FIRST_PAUSE)).await;
            pause = (pause * 2).min(MAX_PAUSE);
            if let Some(value) = read_value(connection, redis_key).await? {
                return Ok(Waited::Value(value));
            }
        }
    }

    /// Notes the token of a lock taken on `redis_key`.
    fn note(&self, redis_key: &str, token: String) {
        let mut held = lock(&self.held);
        if held.len() >= SWEEP_AT {
            // Locks whose value never came (its computation failed or was dropped):
            // Redis has expired them.
            let ttl = self.ttl;
            held.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        held.insert(redis_key.to_owned(), (token, Instant::now()));
    }

    /// After the value of `redis_key` was written: releases this process's lock on it,
    /// if it holds one (a lock taken over by another process stays).
    pub(super) async fn release(
        &self,
        connection: &mut (impl ConnectionLike + Send),
        redis_key: &str,
    ) -> redis::RedisResult<()> {
        let Some((token, _)) = lock(&self.held).remove(redis_key) else {
            return Ok(());
        };
        redis::cmd("EVAL")
            .arg(COMPARE_AND_DELETE)
            .arg(1)
            .arg(lock_key(redis_key))
            .arg(token)
            .exec_async(connection)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use redis::aio::ConnectionLike;
    use redis::{Arg, Cmd, Pipeline, RedisFuture, Value};

    use super::{Locks, Waited, lock, lock_key};

    /// Redis as one process sees it while other processes hold the lock of [`VALUE`]:
    /// each script ([`Other`]) plays them at a chosen point of `lead_or_wait`'s
    /// commands (`SET NX`, `GET` of the lock, a pause, `GET` of the value, `SET NX`
    /// again): a change to that order shows in the commands a failing test prints.
    struct HolderFinishing {
        keys: HashMap<Vec<u8>, Vec<u8>>,
        other: Other,
        /// The commands this process sent, by name and key.
        sent: Vec<String>,
    }

    /// What the other processes do.
    enum Other {
        /// Nothing (more).
        Done,
        /// The holder writes its value and releases its lock right after this process's
        /// first look at the value finds nothing, so between that look and this
        /// process's next `SET NX` (a window of one round trip).
        FinishesAfterLook,
        /// The holder died holding the lock for `ttl`. This process's first look at the
        /// lock starts the clock; its first `SET NX` once `ttl` has passed finds the lock
        /// just taken by a third process, which writes its value and releases its lock
        /// before this process looks at the lock again.
        DiedThenQuick {
            ttl: Duration,
            first_look: Option<Instant>,
        },
    }

    const VALUE: &str = "value";

    impl HolderFinishing {
        /// [`Other::FinishesAfterLook`].
        fn holding() -> Self {
            let mut redis = HolderFinishing::none();
            redis.hold();
            redis.other = Other::FinishesAfterLook;
            redis
        }

        /// [`Other::DiedThenQuick`].
        fn died_then_quick(ttl: Duration) -> Self {
            let mut redis = HolderFinishing::none();
            redis.hold();
            redis.other = Other::DiedThenQuick {
                ttl,
                first_look: None,
            };
            redis
        }

        /// Another process wrote [`VALUE`] and released its lock already: after this
        /// process's own miss (the read before `lead_or_wait`), before its `SET NX`.
        fn finished() -> Self {
            let mut redis = HolderFinishing::none();
            redis.keys.insert(VALUE.into(), b"42".to_vec());
            redis
        }

        /// No other process: the lock is free and the value absent.
        fn none() -> Self {
            HolderFinishing {
                keys: HashMap::new(),
                other: Other::Done,
                sent: Vec::new(),
            }
        }

        /// Another process holds the lock.
        fn hold(&mut self) {
            let lock = lock_key(VALUE).into_bytes();
            self.keys.insert(lock, b"another process".to_vec());
        }

        /// The holder writes its value, then releases its lock.
        fn finish(&mut self) {
            self.other = Other::Done;
            self.keys.insert(VALUE.into(), b"42".to_vec());
            self.keys.remove(lock_key(VALUE).as_bytes());
        }

        fn run(&mut self, args: &[Vec<u8>]) -> Value {
            let text = |i: usize| String::from_utf8_lossy(&args[i]).into_owned();
            // By name and key (an `EVAL`'s key follows its script and key count).
            let key = if text(0) == "EVAL" { text(3) } else { text(1) };
            self.sent.push(format!("{} {key}", text(0)));
            let is_lock = args[1] == lock_key(VALUE).as_bytes();
            match (&mut self.other, text(0).as_str()) {
                (Other::DiedThenQuick { first_look, .. }, "GET") if is_lock => {
                    first_look.get_or_insert_with(Instant::now);
                }
                (
                    Other::DiedThenQuick {
                        ttl,
                        first_look: Some(at),
                    },
                    "SET",
                ) if at.elapsed() >= *ttl => {
                    // The dead holder's lease is over; a third process wins the lock
                    // from this `SET NX`, and is done before the next command.
                    self.finish();
                    return Value::Nil;
                }
                _ => {}
            }
            match text(0).as_str() {
                // SET key token NX PX millis
                "SET" if self.keys.contains_key(&args[1]) => Value::Nil,
                "SET" => {
                    self.keys.insert(args[1].clone(), args[2].clone());
                    Value::Okay
                }
                "GET" => {
                    let found = self.keys.get(&args[1]).cloned();
                    if !is_lock && matches!(self.other, Other::FinishesAfterLook) {
                        self.finish();
                    }
                    found.map_or(Value::Nil, Value::BulkString)
                }
                // EVAL compare-and-delete 1 key token
                "EVAL" if self.keys.get(&args[3]) == Some(&args[4]) => {
                    self.keys.remove(&args[3]);
                    Value::Int(1)
                }
                "EVAL" => Value::Int(0),
                other => panic!("the lock sent an unexpected command: {other}"),
            }
        }
    }

    impl ConnectionLike for HolderFinishing {
        fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
            let args: Vec<Vec<u8>> = cmd
                .args_iter()
                .map(|arg| match arg {
                    Arg::Simple(bytes) => bytes.to_vec(),
                    _ => panic!("the lock sends only plain arguments"),
                })
                .collect();
            let value = self.run(&args);
            Box::pin(std::future::ready(Ok(value)))
        }

        fn req_packed_commands<'a>(
            &'a mut self,
            _: &'a Pipeline,
            _: usize,
            _: usize,
        ) -> RedisFuture<'a, Vec<Value>> {
            panic!("the lock sends no pipelines")
        }

        fn get_db(&self) -> i64 {
            0
        }
    }

    /// `lead_or_wait` of [`VALUE`] on `redis`, to its end.
    fn wait(locks: &Locks, redis: &mut HolderFinishing) -> Waited {
        smol::block_on(locks.lead_or_wait(redis, VALUE)).unwrap()
    }

    /// The value `lead_or_wait` of [`VALUE`] on `redis` waited for; panics, with the
    /// commands sent, if it chose to compute.
    fn waited_value(locks: &Locks, redis: &mut HolderFinishing) -> Vec<u8> {
        match wait(locks, redis) {
            Waited::Value(value) => value,
            Waited::Compute => panic!("computed, after: {:?}", redis.sent),
        }
    }

    #[test]
    fn a_waiter_that_takes_the_lock_reads_the_value_its_holder_wrote_meanwhile() {
        let locks = Locks::new(Duration::from_secs(5));
        let mut redis = HolderFinishing::holding();
        // Its first look found nothing; the holder then wrote and released; this call
        // took the lock, and must not compute the value a second time.
        let value = waited_value(&locks, &mut redis);
        assert_eq!(value, b"42");
        // And it gave the lock back at once.
        assert_eq!(
            redis.sent.last(),
            Some(&format!("EVAL {}", lock_key(VALUE)))
        );
        assert!(!redis.keys.contains_key(lock_key(VALUE).as_bytes()));
    }

    #[test]
    fn a_caller_that_takes_the_lock_at_once_reads_the_value_a_holder_wrote_since_its_miss() {
        // Between this process's own miss and its first `SET NX`, another process
        // wrote the value and released its lock (the race a CI run hit twice, in
        // `killing_the_lock_holder_lets_the_others_finish`): the lock is free, and
        // taking it must not mean computing the value again.
        let locks = Locks::new(Duration::from_secs(5));
        let mut redis = HolderFinishing::finished();
        let value = waited_value(&locks, &mut redis);
        assert_eq!(value, b"42");
        assert_eq!(
            redis.sent,
            [
                format!("SET {}", lock_key(VALUE)),
                format!("GET {VALUE}"),
                format!("EVAL {}", lock_key(VALUE)),
            ]
        );
        assert!(!redis.keys.contains_key(lock_key(VALUE).as_bytes()));
    }

    #[test]
    fn a_caller_that_takes_a_free_lock_and_finds_no_value_computes_holding_it() {
        let locks = Locks::new(Duration::from_secs(5));
        let mut redis = HolderFinishing::none();
        assert!(matches!(wait(&locks, &mut redis), Waited::Compute));
        assert_eq!(
            redis.sent,
            [format!("SET {}", lock_key(VALUE)), format!("GET {VALUE}")]
        );
        // Held until the value is written.
        assert!(redis.keys.contains_key(lock_key(VALUE).as_bytes()));
        assert!(lock(&locks.held).contains_key(VALUE));
    }

    #[test]
    fn a_waiter_whose_holder_died_takes_the_value_of_the_next_holder_at_the_lease_end() {
        // The dead holder's lease ends about when this process's wait for it does: a
        // third process takes the lock first, and writes and releases it before this
        // process looks at the lock again. The lock was never this process's to take,
        // and the value is there: it must not compute (a loaded CI run did, in
        // `killing_the_lock_holder_lets_the_others_finish`).
        let ttl = Duration::from_millis(200);
        let locks = Locks::new(ttl);
        let mut redis = HolderFinishing::died_then_quick(ttl);
        let value = waited_value(&locks, &mut redis);
        assert_eq!(value, b"42");
    }

    #[test]
    fn a_waiter_behind_a_holder_that_never_lets_go_computes_after_two_lock_times() {
        // The lock stays with one holder past its lease (as a clock that runs slow at
        // the server would show it). The waiter tries the lock again at the lease's
        // end, and computes without it only once two lock times have passed.
        let ttl = Duration::from_millis(50);
        let locks = Locks::new(ttl);
        let mut redis = HolderFinishing::none();
        redis.hold();
        let start = Instant::now();
        assert!(matches!(wait(&locks, &mut redis), Waited::Compute));
        assert!(
            start.elapsed() >= ttl * 2,
            "computed after {:?}",
            start.elapsed()
        );
        // Never the lock's holder, so it has nothing to release.
        assert!(!lock(&locks.held).contains_key(VALUE));
        assert!(redis.sent.iter().filter(|c| c.starts_with("SET")).count() > 1);
    }
}
