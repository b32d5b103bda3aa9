//! [`ScopeLayer`]: a tower [`Layer`] that runs each HTTP request in a [`Scope`] of its
//! own (feature `tower`).
//!
//! Each request gets a root scope named after its method and path (`GET /users/7`),
//! or what a function given to [`ScopeLayer::name_with`] makes of it (the matched
//! route, say, read from the request's extensions), with the spawner, recorder and
//! background owner the layer was built with. They are put behind an `Arc` once, at
//! construction, and shared by every request: a request allocates nothing for them.
//! The future is named ([`ScopeFuture`]), not boxed.
//!
//! # Examples
//!
//! ```
//! use haiway::tower::ScopeLayer;
//! use haiway::{ctx, Ctx, Event, MemoryRecorder};
//! use std::convert::Infallible;
//! use std::future::Future;
//! use std::pin::Pin;
//! use std::task::{Context, Poll};
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! /// A handler: records an event and answers with its scope's name.
//! #[derive(Clone)]
//! struct Hello;
//!
//! impl Service<http::Request<()>> for Hello {
//!     type Response = String;
//!     type Error = Infallible;
//!     type Future = Pin<Box<dyn Future<Output = Result<String, Infallible>> + Send>>;
//!     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
//!         Poll::Ready(Ok(()))
//!     }
//!     fn call(&mut self, _: http::Request<()>) -> Self::Future {
//!         Box::pin(async {
//!             ctx::record_event(Event::info("hello"));
//!             Ok(Ctx::current().name().to_owned())
//!         })
//!     }
//! }
//!
//! let recorder = MemoryRecorder::new();
//! let mut service = ScopeLayer::new().recorder(recorder.clone()).layer(Hello);
//! let request = http::Request::get("/users/7?full=1").body(()).unwrap();
//! # futures_lite::future::block_on(async {
//! let name = service.call(request).await.unwrap();
//! assert_eq!(name, "GET /users/7");
//! # });
//! assert_eq!(recorder.events()[0].scope(), "GET /users/7");
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Extensions, Method, Request, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::ctx::{Background, Run, Scope};
use crate::event::Recorder;
use crate::runtime::Spawn;

/// Makes a request scope's name from the request's method, URI and extensions.
type Namer = dyn Fn(&Method, &Uri, &Extensions) -> Arc<str> + Send + Sync;

/// A tower [`Layer`] that runs each request of the service it wraps in a [`Scope`] of
/// its own; see [the module docs](self).
///
/// # Examples
///
/// ```
/// use haiway::tower::ScopeLayer;
/// use haiway::{ctx, MemoryRecorder};
///
/// let layer = ScopeLayer::new()
///     .recorder(MemoryRecorder::new())
///     .background_owner(ctx::background());
/// # let _ = layer;
/// ```
#[derive(Clone, Default)]
pub struct ScopeLayer {
    /// What every request scope shares.
    shared: Arc<Shared>,
}

/// What a [`ScopeLayer`] gives each request scope.
#[derive(Default)]
struct Shared {
    /// The request scopes' spawner, shared.
    spawner: Option<Arc<dyn Spawn>>,
    /// The request scopes' recorder, shared.
    recorder: Option<Arc<dyn Recorder>>,
    /// Where the request scopes' background tasks go.
    owner: Option<Background>,
    /// How a request scope is named; `None`: method and path.
    namer: Option<Box<Namer>>,
}

impl ScopeLayer {
    /// A layer whose request scopes have no spawner (each drives its own tasks), no
    /// recorder, and hand background tasks to the process-wide owner.
    ///
    /// # Examples
    ///
    /// ```
    /// let _layer = haiway::tower::ScopeLayer::new();
    /// ```
    pub fn new() -> Self {
        ScopeLayer::default()
    }

    /// Runs the tasks spawned in each request scope on `spawner`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let _layer = haiway::tower::ScopeLayer::new().spawner(rt.handle().clone());
    /// ```
    pub fn spawner(self, spawner: impl Spawn) -> Self {
        let spawner: Arc<dyn Spawn> = Arc::new(spawner);
        self.with(|shared| shared.spawner = Some(spawner))
    }

    /// Sends the events recorded in each request scope to `recorder`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _layer = haiway::tower::ScopeLayer::new().recorder(haiway::MemoryRecorder::new());
    /// ```
    pub fn recorder(self, recorder: impl Recorder) -> Self {
        let recorder: Arc<dyn Recorder> = Arc::new(recorder);
        self.with(|shared| shared.recorder = Some(recorder))
    }

    /// Hands the background tasks spawned in each request scope to `owner`: the
    /// application's, got with [`ctx::background`](crate::ctx::background) inside a
    /// scope marked [`Scope::background`]. Without it, they go to the process-wide
    /// owner.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{ctx, tower::ScopeLayer, Scope};
    ///
    /// # futures_lite::future::block_on(async {
    /// Scope::new("app")
    ///     .background()
    ///     .run(async {
    ///         let _layer = ScopeLayer::new().background_owner(ctx::background());
    ///     })
    ///     .await;
    /// # });
    /// ```
    pub fn background_owner(self, owner: Background) -> Self {
        self.with(|shared| shared.owner = Some(owner))
    }

    /// Names each request scope with `name(method, uri, extensions)` instead of
    /// `"{method} {path}"`: to use the matched route a router leaves in the extensions
    /// (axum's `MatchedPath`), for one.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::tower::ScopeLayer;
    /// use std::sync::Arc;
    ///
    /// /// What a router would leave in the extensions.
    /// #[derive(Clone)]
    /// struct Route(&'static str);
    ///
    /// let _layer = ScopeLayer::new().name_with(|method, uri, extensions| {
    ///     match extensions.get::<Route>() {
    ///         Some(Route(route)) => Arc::from(format!("{method} {route}")),
    ///         None => Arc::from(format!("{method} {}", uri.path())),
    ///     }
    /// });
    /// ```
    pub fn name_with(
        self,
        name: impl Fn(&Method, &Uri, &Extensions) -> Arc<str> + Send + Sync + 'static,
    ) -> Self {
        self.with(|shared| shared.namer = Some(Box::new(name)))
    }

    /// Changes what the request scopes share (copied first if another layer shares it).
    fn with(mut self, change: impl FnOnce(&mut Shared)) -> Self {
        let shared = match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared,
            None => {
                let old = &*self.shared;
                self.shared = Arc::new(Shared {
                    spawner: old.spawner.clone(),
                    recorder: old.recorder.clone(),
                    owner: old.owner.clone(),
                    namer: None,
                });
                Arc::get_mut(&mut self.shared).expect("just made")
            }
        };
        change(shared);
        self
    }
}

impl<S> Layer<S> for ScopeLayer {
    type Service = ScopeService<S>;

    fn layer(&self, inner: S) -> ScopeService<S> {
        ScopeService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

impl fmt::Debug for ScopeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &*self.shared;
        f.debug_struct("ScopeLayer")
            .field("spawner", &shared.spawner.is_some())
            .field("recorder", &shared.recorder.is_some())
            .field("owner", &shared.owner)
            .field("name_with", &shared.namer.is_some())
            .finish()
    }
}

/// The service a [`ScopeLayer`] makes: runs each request of `S` in a scope.
///
/// # Examples
///
/// ```
/// use haiway::tower::{ScopeLayer, ScopeService};
/// use tower_layer::Layer;
///
/// let service: ScopeService<()> = ScopeLayer::new().layer(());
/// # let _ = service;
/// ```
#[derive(Clone)]
pub struct ScopeService<S> {
    /// The wrapped service.
    inner: S,
    /// What every request scope shares.
    shared: Arc<Shared>,
}

impl<S, B> Service<Request<B>> for ScopeService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ScopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> ScopeFuture<S::Future> {
        let shared = &*self.shared;
        let name = match &shared.namer {
            Some(name) => name(request.method(), request.uri(), request.extensions()),
            None => method_and_path(request.method(), request.uri().path()),
        };
        let mut scope = Scope::new(name);
        // Each an `Arc<dyn ..>`, which the scope keeps as it is: no allocation.
        if let Some(spawner) = &shared.spawner {
            scope = scope.spawner(spawner.clone());
        }
        if let Some(recorder) = &shared.recorder {
            scope = scope.recorder(recorder.clone());
        }
        if let Some(owner) = &shared.owner {
            scope = scope.background_owner(owner.clone());
        }
        ScopeFuture {
            run: scope.run(self.inner.call(request)),
        }
    }
}

/// `"{method} {path}"`, in one allocation: written in a buffer kept per thread, then
/// copied into the `Arc`.
fn method_and_path(method: &Method, path: &str) -> Arc<str> {
    thread_local! {
        static NAME: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    let write = |name: &mut String| {
        name.clear();
        name.push_str(method.as_str());
        name.push(' ');
        name.push_str(path);
        Arc::from(name.as_str())
    };
    NAME.try_with(|name| match name.try_borrow_mut() {
        Ok(mut name) => write(&mut name),
        Err(_) => write(&mut String::new()),
    })
    .unwrap_or_else(|_| write(&mut String::new()))
}

impl<S: fmt::Debug> fmt::Debug for ScopeService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`ScopeService`]: the inner service's future, run in
    /// the request's scope. Completes once it and the tasks spawned in the scope have
    /// finished (background tasks are not waited for); dropping it (a client that
    /// disconnects) cancels the scope's unfinished tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::tower::ScopeFuture;
    /// use std::future::Ready;
    ///
    /// fn _named(_: ScopeFuture<Ready<Result<String, std::convert::Infallible>>>) {}
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ScopeFuture<F: Future> {
        #[pin]
        run: Run<F>,
    }
}

impl<F: Future> Future for ScopeFuture<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().run.poll(cx)
    }
}

impl<F: Future> fmt::Debug for ScopeFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture")
            .field("run", &self.run)
            .finish()
    }
}
