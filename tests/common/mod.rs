//! Shared test helpers: the executors every context test runs on, and small utilities.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::{Arc, LazyLock};

use haiway::Scope;

pub mod counting_alloc;
pub mod redis_server;
use haiway::runtime::{BoxFuture, Spawn};

/// One executor under test: how to block on a future, and the spawner (if any) that
/// scopes should use.
pub trait Runtime {
    /// Runs `future` to completion on this executor.
    fn block_on<F: Future + Send + 'static>(future: F) -> F::Output
    where
        F::Output: Send + 'static;
    /// The spawner scopes use on this executor; `None`: the scope drives its tasks.
    fn spawner() -> Option<Arc<dyn Spawn>>;
    /// A root scope named `name`, with this executor's spawner.
    fn scope(name: &str) -> Scope {
        let scope = Scope::new(name);
        match Self::spawner() {
            Some(s) => scope.spawner(move |f: BoxFuture| s.spawn(f)),
            None => scope,
        }
    }
}

/// async-executor with two worker threads.
pub struct AsyncExecutor;

static EXECUTOR: LazyLock<&'static async_executor::Executor<'static>> = LazyLock::new(|| {
    let ex: &'static async_executor::Executor<'static> =
        Box::leak(Box::new(async_executor::Executor::new()));
    for i in 0..2 {
        std::thread::Builder::new()
            .name(format!("haiway-test-worker-{i}"))
            .spawn(move || futures_lite::future::block_on(ex.run(std::future::pending::<()>())))
            .expect("spawn worker thread");
    }
    ex
});

impl Runtime for AsyncExecutor {
    fn block_on<F: Future + Send + 'static>(future: F) -> F::Output
    where
        F::Output: Send + 'static,
    {
        futures_lite::future::block_on(future)
    }
    fn spawner() -> Option<Arc<dyn Spawn>> {
        Some(Arc::new(*EXECUTOR))
    }
}

/// smol's global executor.
pub struct Smol;

impl Runtime for Smol {
    fn block_on<F: Future + Send + 'static>(future: F) -> F::Output
    where
        F::Output: Send + 'static,
    {
        smol::block_on(future)
    }
    fn spawner() -> Option<Arc<dyn Spawn>> {
        #[cfg(feature = "smol")]
        return Some(Arc::new(haiway::runtime::Smol));
        #[cfg(not(feature = "smol"))]
        return Some(Arc::new(|f: BoxFuture| smol::spawn(f).detach()));
    }
}

/// async-std's global executor.
pub struct AsyncStd;

impl Runtime for AsyncStd {
    fn block_on<F: Future + Send + 'static>(future: F) -> F::Output
    where
        F::Output: Send + 'static,
    {
        async_std::task::block_on(future)
    }
    fn spawner() -> Option<Arc<dyn Spawn>> {
        #[cfg(feature = "async-std")]
        return Some(Arc::new(haiway::runtime::AsyncStd));
        #[cfg(not(feature = "async-std"))]
        return Some(Arc::new(|f: BoxFuture| drop(async_std::task::spawn(f))));
    }
}

/// A tokio multi-thread runtime with two workers.
pub struct Tokio;

static TOKIO: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
});

impl Runtime for Tokio {
    fn block_on<F: Future + Send + 'static>(future: F) -> F::Output
    where
        F::Output: Send + 'static,
    {
        // Run the body as a tokio task so it sits on a worker thread, like real code.
        TOKIO.block_on(async { TOKIO.spawn(future).await.expect("test body panicked") })
    }
    fn spawner() -> Option<Arc<dyn Spawn>> {
        #[cfg(feature = "tokio")]
        return Some(Arc::new(haiway::runtime::Tokio::from_handle(
            TOKIO.handle().clone(),
        )));
        #[cfg(not(feature = "tokio"))]
        return Some(Arc::new(|f: BoxFuture| drop(TOKIO.spawn(f))));
    }
}

/// `futures::executor::block_on` with no spawner: scopes drive their own tasks.
pub struct BlockOn;

impl Runtime for BlockOn {
    fn block_on<F: Future + Send + 'static>(future: F) -> F::Output
    where
        F::Output: Send + 'static,
    {
        futures::executor::block_on(future)
    }
    fn spawner() -> Option<Arc<dyn Spawn>> {
        None
    }
}

/// Instantiates each generic test body `fn name<R: Runtime>()` once per executor.
#[macro_export]
macro_rules! on_every_executor {
    ($($test:ident),* $(,)?) => {
        mod async_executor {
            $( #[test] fn $test() { super::$test::<$crate::common::AsyncExecutor>() } )*
        }
        mod smol {
            $( #[test] fn $test() { super::$test::<$crate::common::Smol>() } )*
        }
        mod async_std {
            $( #[test] fn $test() { super::$test::<$crate::common::AsyncStd>() } )*
        }
        mod tokio {
            $( #[test] fn $test() { super::$test::<$crate::common::Tokio>() } )*
        }
        mod block_on {
            $( #[test] fn $test() { super::$test::<$crate::common::BlockOn>() } )*
        }
    };
}

/// Yields to the executor `n` times.
pub async fn yield_n(n: usize) {
    for _ in 0..n {
        futures_lite::future::yield_now().await;
    }
}

/// Sends on a oneshot channel when dropped.
pub struct DropSignal(pub Option<futures::channel::oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// The text of a panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("<non-string panic>")
    }
}

/// Counts how many times a cached function body ran.
#[derive(Clone, Default)]
pub struct Calls(pub Arc<std::sync::atomic::AtomicUsize>);

impl Calls {
    /// Counts one run and returns its number (1 for the first).
    pub fn hit(&self) -> usize {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }
    /// Runs so far.
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A gate a test opens to let bodies through: `wait` until `open`.
#[derive(Clone)]
pub struct Gate(Arc<(std::sync::Mutex<bool>, event_listener::Event)>);

impl Default for Gate {
    fn default() -> Self {
        Gate(Arc::new((
            std::sync::Mutex::new(false),
            event_listener::Event::new(),
        )))
    }
}

impl Gate {
    /// Opens the gate for every current and future waiter.
    pub fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify(usize::MAX);
    }
    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        *self.0.0.lock().unwrap()
    }
    /// Waits until the gate is open.
    pub async fn wait(&self) {
        loop {
            if self.is_open() {
                return;
            }
            let listener = self.0.1.listen();
            if self.is_open() {
                return;
            }
            listener.await;
        }
    }
}

/// Yields until `done()` holds, failing the test (instead of hanging) after a generous
/// number of yields.
pub async fn yield_until(mut done: impl FnMut() -> bool) {
    for _ in 0..1_000_000 {
        if done() {
            return;
        }
        futures_lite::future::yield_now().await;
    }
    panic!("condition not reached after 1,000,000 yields");
}

/// A cached function (limit 4) whose body waits at `gate`, then returns
/// (argument, run number); with the counter of its runs.
pub fn gated(gate: &Gate) -> (haiway::cache::Cached<u32, (u32, usize)>, Calls) {
    let calls = Calls::default();
    let (c, g) = (calls.clone(), gate.clone());
    let f = haiway::cache::Cached::builder()
        .limit(4)
        .build(move |x: u32| {
            let n = c.hit();
            let g = g.clone();
            async move {
                g.wait().await;
                (x, n)
            }
        });
    (f, calls)
}

/// Blocks this thread until `done()` holds (another thread makes it so), failing the
/// test instead of hanging after 30 s.
pub fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached in 30 s"
        );
        std::thread::yield_now();
    }
}
