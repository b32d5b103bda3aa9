//! A web service on axum: `haiway::tower::ScopeLayer` runs each request in a scope
//! named after its route, a handler memoizes a slow lookup and records events, hands
//! an audit line to the background (it outlives the request and keeps its trace id),
//! and the service shuts down gracefully, waiting for the audits.
//!
//! Run with `cargo run --features axum --example axum`. It serves a few requests to
//! itself over loopback, then shuts down. (A route added after `.layer(..)`, or a
//! handler called from a unit test, runs outside any scope: `ctx::spawn` and
//! `ctx::spawn_background` then use the process-wide owner, events go nowhere.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Path};
use axum::routing::get;
use haiway::runtime::Tokio;
use haiway::tower::ScopeLayer;
use haiway::{Event, Recorder, Scope, ScopeInfo, ctx};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The slow lookup, memoized: concurrent requests for one id share one run.
#[haiway::cache(limit = 100, expiration = Duration::from_secs(60))]
async fn profile(id: u64) -> String {
    tokio::time::sleep(Duration::from_millis(20)).await;
    format!("profile of user {id}")
}

/// An audit line, sent after the response (here: counted, and recorded).
async fn audit(id: u64, sent: Arc<AtomicUsize>) {
    tokio::time::sleep(Duration::from_millis(10)).await;
    ctx::record_event(Event::info("audit.sent").with("user", id));
    sent.fetch_add(1, Ordering::SeqCst);
}

/// `GET /users/{id}`.
async fn get_profile(Path(id): Path<u64>, sent: axum::extract::State<Arc<AtomicUsize>>) -> String {
    let body = profile(id).await;
    ctx::record_event(Event::info("profile.served").with("user", id));
    // Not waited for by the request, not cancelled if the client goes away.
    ctx::spawn_background(audit(id, sent.0.clone())).detach();
    body
}

/// Prints each event with the scope (and trace) it was recorded in.
fn print_event(scope: &ScopeInfo, event: &Event) {
    let attributes: Vec<String> = event
        .attributes()
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    println!(
        "trace {} [{}] {} {}",
        scope.trace_id(),
        scope.name(),
        event.name(),
        attributes.join(" ")
    );
}

/// Sends `GET path` over a fresh connection and returns the response's body.
async fn fetch(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let recorder: Arc<dyn Recorder> = Arc::new(print_event);
    let sent = Arc::new(AtomicUsize::new(0));
    // The application's scope owns the background work of every request.
    Scope::new("app")
        .spawner(Tokio::current())
        .recorder(recorder.clone())
        .background()
        .run(async {
            // Set once, shared by every request: no allocation per request for them.
            let layer = ScopeLayer::new()
                .spawner(Tokio::current())
                .recorder(recorder.clone())
                .background_owner(ctx::background())
                .name_with(|method, uri, extensions| {
                    let route = extensions.get::<MatchedPath>().map(MatchedPath::as_str);
                    Arc::from(format!("{method} {}", route.unwrap_or(uri.path())))
                });
            let app = Router::new()
                .route("/users/{id}", get(get_profile))
                .layer(layer)
                .with_state(sent.clone());

            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("address");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move { drop(stopped.await) })
                    .await
            });

            // A few requests; user 1 twice (the second is served from the cache).
            let ids = [1, 2, 1, 3];
            for id in ids {
                println!(
                    "GET /users/{id} -> {}",
                    fetch(addr, &format!("/users/{id}")).await
                );
            }

            // Stop taking requests, then give the audits up to 5 s to finish.
            let _ = stop.send(());
            server.await.expect("server task").expect("server");
            let report = ctx::background().shutdown(Duration::from_secs(5)).await;
            println!(
                "shutdown: waited for {} background task(s), cut off {}",
                report.waited_for, report.cut_off
            );
            assert_eq!(report.cut_off, 0);
            assert_eq!(sent.load(Ordering::SeqCst), ids.len());
            println!("profile cache: {:?}", profile::cached().stats());
        })
        .await;
}
