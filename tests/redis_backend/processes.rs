//! Several OS processes sharing one Redis: this test binary runs itself again as a
//! worker (when `HAIWAY_WORKER_URL` is set), which serves one cache and takes commands,
//! one a line, on stdin, and answers on stdout:
//!
//! | command | answer |
//! | --- | --- |
//! | `call ID` | `computing ID` when its function starts; then `value ID VALUE` |
//! | `get ID` | `memory ID VALUE`, or `memory ID -` when the memory tier has none |
//! | `insert ID VALUE` | `inserted ID` once written to Redis |
//! | `clear ID`, `clear all` | `cleared` once cleared |
//! | `computed` | `computed N`: how many times its function ran |
//! | `go` | opens the gate a holding worker's functions wait at |
//!
//! A computed value names its process and run: `ID/by-PID/#N`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::Gate;
use haiway::cache::Cached;
use haiway::cache::redis::{Json, RedisBackend};

/// How long a test waits for a worker's answer before it fails (never a sleep: the
/// answer usually comes in milliseconds).
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// Runs the worker when this process was started as one; returns otherwise.
pub fn run_worker_if_asked() {
    let Ok(url) = std::env::var("HAIWAY_WORKER_URL") else {
        return;
    };
    let prefix = std::env::var("HAIWAY_WORKER_PREFIX").expect("HAIWAY_WORKER_PREFIX");
    let lock_ms: u64 = std::env::var("HAIWAY_WORKER_LOCK_MS")
        .expect("HAIWAY_WORKER_LOCK_MS")
        .parse()
        .expect("a number of milliseconds");
    let hold = std::env::var("HAIWAY_WORKER_HOLD").as_deref() == Ok("1");
    smol::block_on(worker(url, prefix, lock_ms, hold));
    std::process::exit(0);
}

async fn worker(url: String, prefix: String, lock_ms: u64, hold: bool) {
    let mut options = RedisBackend::options()
        .timeout(Duration::from_millis(300))
        .retries(1);
    if lock_ms > 0 {
        options = options.single_flight(Duration::from_millis(lock_ms));
    }
    let backend = RedisBackend::connect_with(&url, &prefix, Json, options)
        .await
        .expect("the worker connects");
    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Gate::default();
    if !hold {
        gate.open();
    }
    let cached: Cached<u64, String> = Cached::builder()
        .limit(100)
        .expiration(Duration::from_secs(120))
        .backend(backend)
        .build({
            let (runs, gate) = (runs.clone(), gate.clone());
            move |id: u64| {
                let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                println!("computing {id}");
                let gate = gate.clone();
                async move {
                    gate.wait().await;
                    format!("{id}/by-{}/#{run}", std::process::id())
                }
            }
        });
    let (lines, commands) = smol::channel::unbounded::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.send_blocking(line).is_err() {
                break;
            }
        }
    });
    println!("ready");
    while let Ok(line) = commands.recv().await {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let id = || words[1].parse::<u64>().expect("a numeric id");
        match words[0].as_str() {
            "call" => {
                let (cached, id) = (cached.clone(), id());
                // A task: a held call must not stop the worker reading `go`.
                smol::spawn(async move {
                    let value = cached.call(id).await;
                    println!("value {id} {value}");
                })
                .detach();
            }
            "get" => {
                let id = id();
                let value = cached.get(&id).unwrap_or_else(|| "-".to_owned());
                println!("memory {id} {value}");
            }
            "insert" => {
                let id = id();
                cached.insert(id, words[2].clone()).await;
                println!("inserted {id}");
            }
            "clear" if words[1] == "all" => {
                cached.clear_cache().await.expect("clear");
                println!("cleared");
            }
            "clear" => {
                cached.clear_call_cache(&id()).await.expect("clear");
                println!("cleared");
            }
            "computed" => println!("computed {}", runs.load(Ordering::SeqCst)),
            "go" => gate.open(),
            other => panic!("unknown worker command {other}"),
        }
    }
}

/// A worker process, killed when dropped.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// Lines read but not yet asked for.
    unread: VecDeque<String>,
}

impl Worker {
    /// Starts a worker on `url`'s `prefix` (with a cross-process lock of `lock_ms` when
    /// not 0; with `hold`, its functions wait for `go`), and waits until it is ready.
    pub fn start(url: &str, prefix: &str, lock_ms: u64, hold: bool) -> Worker {
        let mut child = Command::new(std::env::current_exe().expect("this test binary"))
            .env("HAIWAY_WORKER_URL", url)
            .env("HAIWAY_WORKER_PREFIX", prefix)
            .env("HAIWAY_WORKER_LOCK_MS", lock_ms.to_string())
            .env("HAIWAY_WORKER_HOLD", if hold { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a worker");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut worker = Worker {
            child,
            stdin,
            lines,
            unread: VecDeque::new(),
        };
        worker.expect("ready");
        worker
    }

    /// Sends one command.
    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("the worker reads its commands");
        self.stdin.flush().expect("flush");
    }

    /// The next line starting with `start` (lines before it stay unread), after
    /// `start` and a space.
    pub fn expect(&mut self, start: &str) -> String {
        let matches = |line: &str| line == start || line.starts_with(&format!("{start} "));
        if let Some(i) = self.unread.iter().position(|l| matches(l)) {
            let line = self.unread.remove(i).expect("found");
            return line[start.len()..].trim_start().to_owned();
        }
        let deadline = Instant::now() + ANSWER_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if matches(&line) => return line[start.len()..].trim_start().to_owned(),
                Ok(line) => self.unread.push_back(line),
                Err(e) => panic!(
                    "worker {} said no `{start}` line ({e}); unread: {:?}",
                    self.child.id(),
                    self.unread
                ),
            }
        }
    }

    /// `call ID`, and its value.
    pub fn call(&mut self, id: u64) -> String {
        self.send(&format!("call {id}"));
        self.expect(&format!("value {id}"))
    }

    /// What the memory tier holds for `id` (`-`: nothing).
    pub fn memory(&mut self, id: u64) -> String {
        self.send(&format!("get {id}"));
        self.expect(&format!("memory {id}"))
    }

    /// How many times its function ran.
    pub fn computed(&mut self) -> usize {
        self.send("computed");
        self.expect("computed").parse().expect("a count")
    }

    /// Kills the worker (SIGKILL): it releases nothing.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Checks `done` until it holds, failing after a bounded number of looks: for what
/// another process makes true at a moment the test cannot await.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1_000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never happened: {what}");
}

/// How many `SET` commands the server has run (the lock's `SET NX` included).
pub fn sets_run(url: &str) -> u64 {
    let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut connection)
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_set:calls="))
        .map_or(0, |rest| {
            rest.split(',').next().unwrap().parse().expect("a count")
        })
}
