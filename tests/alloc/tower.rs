//! `ScopeLayer`: a request allocates nothing for the spawner and recorder the layer was
//! built with (they are shared, set once at construction).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll, Waker};

use crate::common::counting_alloc::allocations_in;
use haiway::MemoryRecorder;
use haiway::runtime::BoxFuture;
use haiway::tower::ScopeLayer;
use tower_layer::Layer;
use tower_service::Service;

/// A handler that records one event and answers at once.
#[derive(Clone)]
struct Handler;

impl Service<http::Request<()>> for Handler {
    type Response = ();
    type Error = Infallible;
    type Future = Ready<Result<(), Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        ready(Ok(()))
    }
}

/// Allocations of one request through `service` (built beforehand), served in one poll.
fn per_request<S>(service: &mut S) -> usize
where
    S: Service<http::Request<()>, Response = (), Error = Infallible>,
{
    // The request is built outside the count: only the layer's work is counted.
    let request = http::Request::get("/users/7").body(()).unwrap();
    let (n, ready) = allocations_in(|| {
        let mut future = std::pin::pin!(service.call(request));
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    });
    assert!(ready);
    n
}

#[test]
fn a_request_allocates_nothing_for_the_layers_spawner_and_recorder() {
    // Each twice: the first request may set up what later ones reuse.
    let mut bare = ScopeLayer::new().layer(Handler);
    per_request(&mut bare);
    let bare = per_request(&mut bare);
    let mut equipped = ScopeLayer::new()
        .spawner(|future: BoxFuture| drop(future))
        .recorder(MemoryRecorder::new())
        .layer(Handler);
    per_request(&mut equipped);
    let with_both = per_request(&mut equipped);
    assert_eq!(with_both, bare);
}
