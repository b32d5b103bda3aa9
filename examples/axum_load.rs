//! Measures what a request scope costs an axum service, and what a 10 ms background
//! task costs the request that spawns it: a load generator in Rust (keep-alive
//! connections over loopback, a bounded number of requests) against four routes,
//! reported as throughput ratios within one run. The raw `tokio::spawn` of the same
//! task is the floor: on a machine the load saturates, any task spawned per request
//! costs throughput, with or without haiway.
//!
//! Run with `cargo run --release --features axum --example axum_load`. Not a test:
//! timings vary from machine to machine; only the ratios mean something.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use haiway::runtime::Tokio;
use haiway::tower::ScopeLayer;
use haiway::{Scope, ctx};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Connections, each sending its share of the requests one after another.
const CONNECTIONS: usize = 32;
/// Requests per measured run.
const REQUESTS: usize = 20_000;
/// Runs per route; the best is kept.
const RUNS: usize = 3;

/// Serves `router` on a loopback port; returns its address.
async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Sends `count` keep-alive requests for `path` on one connection.
async fn client(addr: SocketAddr, path: &'static str, count: usize) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut buf = vec![0u8; 4096];
    for _ in 0..count {
        stream.write_all(request.as_bytes()).await.expect("send");
        // Read one response: the headers, then `content-length` bytes of body.
        let mut have = 0;
        loop {
            let n = stream.read(&mut buf[have..]).await.expect("read");
            assert!(n > 0, "the server closed the connection");
            have += n;
            let text = String::from_utf8_lossy(&buf[..have]);
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if have >= end + 4 + length {
                    break;
                }
            }
        }
    }
}

/// Requests per second for `path`, the best of [`RUNS`] runs.
async fn throughput(addr: SocketAddr, path: &'static str) -> f64 {
    let mut best = 0.0_f64;
    for _ in 0..RUNS {
        let start = Instant::now();
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|_| tokio::spawn(client(addr, path, REQUESTS / CONNECTIONS)))
            .collect();
        for client in clients {
            client.await.expect("client");
        }
        let rate = (REQUESTS / CONNECTIONS * CONNECTIONS) as f64 / start.elapsed().as_secs_f64();
        best = best.max(rate);
    }
    best
}

#[tokio::main]
async fn main() {
    let spawned = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    Scope::new("app")
        .spawner(Tokio::current())
        .background()
        .run(async {
            let plain = serve(Router::new().route("/", get(|| async { "ok" }))).await;
            let layer = ScopeLayer::new()
                .spawner(Tokio::current())
                .background_owner(ctx::background());
            let (s, f) = (spawned.clone(), finished.clone());
            let raw_done = Arc::new(AtomicUsize::new(0));
            let r = raw_done.clone();
            let scoped = serve(
                Router::new()
                    .route("/", get(|| async { "ok" }))
                    // The floor any design pays: the same 10 ms task, spawned raw on
                    // tokio (no scope of its own, no owner, no trace id).
                    .route(
                        "/raw",
                        get(move || {
                            let r = r.clone();
                            async move {
                                tokio::spawn(async move {
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                    r.fetch_add(1, Ordering::Relaxed);
                                });
                                "ok"
                            }
                        }),
                    )
                    .route(
                        "/audit",
                        get(move || {
                            let (s, f) = (s.clone(), f.clone());
                            async move {
                                s.fetch_add(1, Ordering::Relaxed);
                                ctx::spawn_background(async move {
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                    f.fetch_add(1, Ordering::Relaxed);
                                });
                                "ok"
                            }
                        }),
                    )
                    .layer(layer),
            )
            .await;

            // Warm up every route once.
            for (addr, path) in [
                (plain, "/"),
                (scoped, "/"),
                (scoped, "/raw"),
                (scoped, "/audit"),
            ] {
                client(addr, path, 100).await;
            }
            let no_scope = throughput(plain, "/").await;
            let scope = throughput(scoped, "/").await;
            let raw = throughput(scoped, "/raw").await;
            let audit = throughput(scoped, "/audit").await;
            println!("{CONNECTIONS} connections, {REQUESTS} requests per run, best of {RUNS}:");
            println!("  no scope:                      {no_scope:>9.0} requests/s");
            println!(
                "  a scope per request:           {scope:>9.0} requests/s ({:.3}x no scope)",
                scope / no_scope
            );
            println!(
                "  a scope + a raw tokio::spawn of the task: {raw:>9.0} requests/s ({:.3}x a scope alone)",
                raw / scope
            );
            println!(
                "  a scope + a 10 ms background task: {audit:>9.0} requests/s ({:.3}x a scope alone, {:.3}x the raw spawn)",
                audit / scope,
                audit / raw
            );
            let report = ctx::background().shutdown(Duration::from_secs(10)).await;
            let (s, f) = (spawned.load(Ordering::Relaxed), finished.load(Ordering::Relaxed));
            println!(
                "  background tasks: {s} spawned, {f} finished, {} cut off by the shutdown",
                report.cut_off
            );
            assert_eq!(f + report.cut_off, s, "every task finished or was reported");
        })
        .await;
}
