//! `haiway::tower::ScopeLayer` on tokio: each request in a scope named after its route,
//! a recorder shared by every request, background work handed to the app's owner.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::common::{Gate, Runtime, Tokio};
use haiway::tower::ScopeLayer;
use haiway::{Ctx, Event, MemoryRecorder, Scope, TraceId, ctx};
use tower_layer::Layer;
use tower_service::Service;

/// What a handler saw: its scope's name, trace id, and whether it has a parent.
type Seen = (String, TraceId, bool);

/// A handler that records `handled` and answers with what it saw.
#[derive(Clone)]
struct Handler;

impl Service<http::Request<()>> for Handler {
    type Response = Seen;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Seen, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        Box::pin(async {
            ctx::record_event(Event::info("handled"));
            let ctx = Ctx::current();
            Ok((
                ctx.name().to_owned(),
                ctx.trace_id(),
                ctx.parent().is_some(),
            ))
        })
    }
}

fn get(uri: &str) -> http::Request<()> {
    http::Request::get(uri).body(()).unwrap()
}

/// What a router would leave in a request's extensions (axum's `MatchedPath`).
#[derive(Clone)]
struct Route(&'static str);

#[test]
fn each_request_runs_in_a_root_scope_named_after_method_and_path() {
    let (a, b) = Tokio::block_on(async {
        let mut service = ScopeLayer::new().layer(Handler);
        let a = service.call(get("/users/7?full=1")).await.unwrap();
        let post = http::Request::post("/users").body(()).unwrap();
        let b = service.call(post).await.unwrap();
        (a, b)
    });
    assert_eq!(a.0, "GET /users/7");
    assert_eq!(b.0, "POST /users");
    assert!(!a.2 && !b.2, "root scopes");
    assert_ne!(a.1, b.1, "a trace id per request");
}

#[test]
fn name_with_names_the_scope_after_the_matched_route() {
    let seen = Tokio::block_on(async {
        let layer = ScopeLayer::new().name_with(|method, uri, extensions| {
            match extensions.get::<Route>() {
                Some(Route(route)) => Arc::from(format!("{method} {route}")),
                None => Arc::from(format!("{method} {}", uri.path())),
            }
        });
        let mut service = layer.layer(Handler);
        let mut routed = get("/users/7");
        routed.extensions_mut().insert(Route("/users/{id}"));
        let routed = service.call(routed).await.unwrap();
        let unrouted = service.call(get("/health")).await.unwrap();
        (routed.0, unrouted.0)
    });
    assert_eq!(
        seen,
        ("GET /users/{id}".to_owned(), "GET /health".to_owned())
    );
}

#[test]
fn every_request_records_to_the_one_recorder_set_at_construction() {
    let recorder = MemoryRecorder::new();
    let layer = ScopeLayer::new()
        .spawner(haiway::runtime::Tokio::from_handle(tokio_handle()))
        .recorder(recorder.clone());
    Tokio::block_on(async move {
        // Two services from one layer (as a server clones one per connection).
        let mut one = layer.layer(Handler);
        let mut two = layer.layer(Handler);
        one.call(get("/a")).await.unwrap();
        two.call(get("/b")).await.unwrap();
        one.clone().call(get("/c")).await.unwrap();
    });
    let scopes: Vec<String> = recorder
        .events()
        .iter()
        .map(|e| e.scope().to_owned())
        .collect();
    assert_eq!(scopes, ["GET /a", "GET /b", "GET /c"]);
}

/// Spawns an audit that waits at a gate, and answers with its trace id.
#[derive(Clone)]
struct Audits(Gate);

impl Service<http::Request<()>> for Audits {
    type Response = TraceId;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<TraceId, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        let gate = self.0.clone();
        Box::pin(async move {
            ctx::spawn_background(async move {
                gate.wait().await;
                ctx::record_event(Event::info("audit"));
            })
            .detach();
            Ok(Ctx::current().trace_id())
        })
    }
}

#[test]
fn background_work_goes_to_the_owner_given_at_construction() {
    let recorder = MemoryRecorder::new();
    let rec = recorder.clone();
    let (request_trace, answered_first) = Tokio::block_on(async move {
        Tokio::scope("app")
            .background()
            .run(async move {
                let gate = Gate::default();
                let owner = ctx::background();
                let layer = ScopeLayer::new()
                    .recorder(rec)
                    .background_owner(owner.clone());
                let mut service = layer.layer(Audits(gate.clone()));
                // Served outside the app's scope, as a server's connection task is.
                let answer = tokio::spawn(service.call(get("/orders")));
                let trace = answer.await.unwrap().unwrap();
                // Answered while its audit still waits, owned by the app.
                let answered_first = owner.running() == 1;
                gate.open();
                let report = owner.shutdown(std::time::Duration::from_secs(3600)).await;
                assert_eq!(report.cut_off, 0);
                (trace, answered_first)
            })
            .await
    });
    assert!(answered_first);
    let audit = recorder
        .events()
        .into_iter()
        .find(|e| e.event.name() == "audit")
        .expect("the audit was recorded");
    assert_eq!(audit.scope(), "GET /orders");
    assert_eq!(audit.trace_id, request_trace);
}

/// The tokio runtime the tests run on.
fn tokio_handle() -> tokio::runtime::Handle {
    Tokio::block_on(async { tokio::runtime::Handle::current() })
}

#[test]
fn a_request_scope_is_a_plain_scope_for_nested_scopes() {
    let nested = Tokio::block_on(async {
        #[derive(Clone)]
        struct Nested;
        impl Service<http::Request<()>> for Nested {
            type Response = String;
            type Error = Infallible;
            type Future = Pin<Box<dyn Future<Output = Result<String, Infallible>> + Send>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: http::Request<()>) -> Self::Future {
                Box::pin(async {
                    let parent = Scope::new("db")
                        .run(async { Ctx::current().parent().unwrap().name().to_owned() })
                        .await;
                    Ok(parent)
                })
            }
        }
        ScopeLayer::new()
            .layer(Nested)
            .call(get("/x"))
            .await
            .unwrap()
    });
    assert_eq!(nested, "GET /x");
}
