//! State: what a scope provides (`Scope::state`), what nested scopes, spawned tasks and
//! `ctx::updating` see, missing state inside and outside scopes, and concurrent scopes
//! that never see each other's values.

use crate::common;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use crate::common::Runtime;
use futures::FutureExt;
use futures::channel::oneshot;
use haiway::{Ctx, Scope, ctx};

#[derive(Debug, PartialEq)]
struct Config(u32);

#[derive(Debug, PartialEq, Clone, Copy)]
struct Region(&'static str);

/// A type no scope provides.
struct Missing;

/// The current `Config`, by all three reads (they must agree).
fn config() -> Option<u32> {
    let arc = ctx::state::<Config>().map(|c| c.0);
    let borrowed = ctx::with_state(|c: Option<&Config>| c.map(|c| c.0));
    let handle = Ctx::try_current().and_then(|ctx| ctx.state::<Config>().map(|c| c.0));
    assert_eq!(arc, borrowed, "ctx::state and ctx::with_state disagree");
    assert_eq!(arc, handle, "ctx::state and Ctx::state disagree");
    assert_eq!(arc.is_some(), ctx::contains_state::<Config>());
    arc
}

fn nested_scopes_inherit_override_and_restore<R: Runtime>() {
    R::block_on(async {
        R::scope("outer")
            .state(Config(1))
            .state(Region("eu"))
            .run(async {
                assert_eq!(config(), Some(1));
                let inner = Scope::new("inner")
                    .state(Config(2))
                    .run(async {
                        // Overridden here, inherited otherwise.
                        let here = (config(), *ctx::require_state::<Region>());
                        // A scope that adds nothing sees what its parent sees.
                        let below = Scope::new("below")
                            .run(async { (config(), *ctx::require_state::<Region>()) })
                            .await;
                        (here, below)
                    })
                    .await;
                assert_eq!(inner.0, (Some(2), Region("eu")));
                assert_eq!(inner.1, (Some(2), Region("eu")));
                // Leaving the nested scope restores the parent's view.
                assert_eq!(config(), Some(1));
                assert_eq!(*ctx::require_state::<Region>(), Region("eu"));
            })
            .await
    });
}

fn the_last_value_given_for_a_type_wins<R: Runtime>() {
    let seen = R::block_on(async {
        R::scope("s")
            .state(Config(1))
            .state(Region("eu"))
            .state(Config(3))
            .run(async { (config(), *ctx::require_state::<Region>()) })
            .await
    });
    assert_eq!(seen, (Some(3), Region("eu")));
}

fn spawned_tasks_see_their_scopes_state<R: Runtime>() {
    let seen = R::block_on(async {
        R::scope("outer")
            .state(Config(1))
            .run(async {
                let (tx, rx) = oneshot::channel::<()>();
                let seen = Arc::new(Mutex::new(Vec::new()));
                let s = seen.clone();
                // A detached task that reads only after the body has finished.
                ctx::spawn(async move {
                    rx.await.expect("released");
                    s.lock().unwrap().push(("late", config()));
                })
                .detach();
                let direct = ctx::spawn(async {
                    let own = config();
                    let grandchild = ctx::spawn(async { config() }).await;
                    (own, grandchild)
                })
                .await;
                let nested = Scope::new("inner")
                    .state(Config(2))
                    .run(async { ctx::spawn(async { config() }).await })
                    .await;
                tx.send(()).expect("the late task waits");
                let mut out = vec![
                    ("direct", direct.0),
                    ("grandchild", direct.1),
                    ("nested", nested),
                ];
                out.push(("body", config()));
                (out, seen)
            })
            .await
    });
    let (mut out, late) = seen;
    out.extend(late.lock().unwrap().iter().copied());
    assert_eq!(
        out,
        [
            ("direct", Some(1)),
            ("grandchild", Some(1)),
            ("nested", Some(2)),
            ("body", Some(1)),
            ("late", Some(1)),
        ]
    );
}

fn updating_runs_with_more_state_in_the_same_scope<R: Runtime>() {
    R::block_on(async {
        R::scope("request")
            .state(Config(1))
            .run(async {
                let ctx = Ctx::current();
                let (tx, rx) = oneshot::channel::<()>();
                let late = Arc::new(Mutex::new(None));
                let l = late.clone();
                let (inside, region, same, task) = ctx::updating(Config(2))
                    .state(Region("us"))
                    .run(async move {
                        let now = Ctx::current();
                        let same = (now.id(), now.name().to_owned(), now.parent_id())
                            == (ctx.id(), ctx.name().to_owned(), ctx.parent_id());
                        // Spawned here: a task of the same scope, with the updated state.
                        let task = ctx::spawn(async { config() }).await;
                        ctx::spawn(async move {
                            rx.await.expect("released");
                            *l.lock().unwrap() = Some(config());
                        })
                        .detach();
                        (config(), *ctx::require_state::<Region>(), same, task)
                    })
                    .await;
                assert_eq!(
                    (inside, region, same, task),
                    (Some(2), Region("us"), true, Some(2))
                );
                // Back to the scope's own state.
                assert_eq!(config(), Some(1));
                assert!(ctx::state::<Region>().is_none());
                // The task spawned inside `updating` belongs to this scope: it still
                // runs, and the scope waits for it.
                tx.send(()).expect("the task waits");
                late
            })
            .await
    })
    .lock()
    .unwrap()
    .take()
    .map_or_else(
        || panic!("the scope did not wait for the task"),
        |seen| {
            assert_eq!(seen, Some(2));
        },
    );
}

fn updating_nests_and_inherits<R: Runtime>() {
    R::block_on(async {
        R::scope("s")
            .state(Region("eu"))
            .run(async {
                let seen = ctx::updating(Config(1))
                    .run(async {
                        let outer = config();
                        let inner = ctx::updating(Config(2)).run(async { config() }).await;
                        // A scope opened inside `updating` inherits the updated state.
                        let scope = Scope::new("n")
                            .run(async { (config(), *ctx::require_state::<Region>()) })
                            .await;
                        (outer, inner, config(), scope)
                    })
                    .await;
                assert_eq!(seen, (Some(1), Some(2), Some(1), (Some(1), Region("eu"))));
                assert_eq!(config(), None);
            })
            .await
    });
}

fn missing_state_inside_a_scope<R: Runtime>() {
    let message = R::block_on(async {
        R::scope("request")
            .state(Config(1))
            .run(async {
                assert!(ctx::state::<Missing>().is_none());
                assert!(ctx::with_state(|m: Option<&Missing>| m.is_none()));
                assert!(!ctx::contains_state::<Missing>());
                assert!(Ctx::current().state::<Missing>().is_none());
                let payload = catch_unwind(|| ctx::require_state::<Missing>())
                    .map(|_| ())
                    .expect_err("require_state panics");
                // The scope is fine after the panic.
                assert_eq!(config(), Some(1));
                common::panic_text(&*payload)
            })
            .await
    });
    assert!(message.contains("state::Missing"), "{message}");
    assert!(message.contains("\"request\""), "{message}");
    assert!(message.contains("Scope::new(..).state(value)"), "{message}");
}

/// Two scopes with different values for the same type, interleaved step by step on one
/// thread (`join`) and, when the executor has one, on its workers (`spawn`): each only
/// ever sees its own.
fn concurrent_scopes_never_see_each_others_state<R: Runtime>() {
    async fn side(
        value: u32,
        go: oneshot::Receiver<()>,
        done: oneshot::Sender<()>,
    ) -> Vec<Option<u32>> {
        Scope::new(format!("side-{value}"))
            .state(Config(value))
            .run(async move {
                let mut seen = vec![config()];
                go.await.expect("the other side signals");
                seen.push(config());
                seen.push(ctx::spawn(async { config() }).await);
                done.send(()).expect("the other side waits");
                seen.push(config());
                seen
            })
            .await
    }

    let (a, b) = R::block_on(async {
        R::scope("root")
            .state(Config(0))
            .run(async {
                // A waits for B's start, B for A's end: the two bodies interleave.
                let (a_go_tx, a_go) = oneshot::channel();
                let (a_done, b_go) = oneshot::channel();
                let (b_done, b_finished) = oneshot::channel::<()>();
                let a = side(1, a_go, a_done);
                let b = async move {
                    let _ = a_go_tx.send(());
                    side(2, b_go, b_done).await
                };
                let joined = futures::join!(a, b);
                b_finished.await.expect("b signalled");
                assert_eq!(config(), Some(0));
                // The same again as two tasks of the root scope (on the executor's
                // workers when it has any).
                let (a_go_tx, a_go) = oneshot::channel();
                let (a_done, b_go) = oneshot::channel();
                let (b_done, _b_finished) = oneshot::channel::<()>();
                let a = ctx::spawn(side(1, a_go, a_done));
                let b = ctx::spawn(async move {
                    let _ = a_go_tx.send(());
                    side(2, b_go, b_done).await
                });
                let spawned = (a.await, b.await);
                assert_eq!(spawned, joined);
                joined
            })
            .await
    });
    assert_eq!(a, [Some(1); 4]);
    assert_eq!(b, [Some(2); 4]);
}

fn a_trait_object_client_is_scoped_in<R: Runtime>() {
    trait Client: Send + Sync {
        fn get(&self, key: &str) -> String;
    }
    struct Fake(Mutex<Vec<String>>);
    impl Client for Fake {
        fn get(&self, key: &str) -> String {
            self.0.lock().unwrap().push(key.to_owned());
            format!("fake:{key}")
        }
    }
    async fn production() -> String {
        let client = ctx::require_state::<Arc<dyn Client>>();
        ctx::spawn(async move { client.get("user/1") }).await
    }

    let fake = Arc::new(Fake(Mutex::new(Vec::new())));
    let client: Arc<dyn Client> = fake.clone();
    let out = R::block_on(async move { R::scope("test").state(client).run(production()).await });
    assert_eq!(out, "fake:user/1");
    assert_eq!(*fake.0.lock().unwrap(), ["user/1"]);
}

fn a_scope_dropped_unfinished_and_an_updating_dropped_unfinished_leave_no_state<R: Runtime>() {
    /// Notes the `Config` current when it is dropped.
    struct SeesOnDrop(Arc<Mutex<Vec<Option<u32>>>>);
    impl Drop for SeesOnDrop {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(config());
        }
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    R::block_on(async move {
        R::scope("s")
            .state(Config(1))
            .run(async move {
                let (_tx, rx) = oneshot::channel::<()>();
                let guard = SeesOnDrop(s.clone());
                let mut pending = Box::pin(ctx::updating(Config(2)).run(async move {
                    let _guard = guard;
                    let _ = rx.await;
                }));
                assert!((&mut pending).now_or_never().is_none());
                assert_eq!(config(), Some(1));
                // Dropped unfinished: its destructors run with the updated state.
                drop(pending);
                let (_tx, rx) = oneshot::channel::<()>();
                let guard = SeesOnDrop(s);
                let mut pending = Box::pin(Scope::new("n").state(Config(3)).run(async move {
                    let _guard = guard;
                    let _ = rx.await;
                }));
                assert!((&mut pending).now_or_never().is_none());
                assert_eq!(config(), Some(1));
                drop(pending);
                assert_eq!(config(), Some(1));
            })
            .await
    });
    assert_eq!(*seen.lock().unwrap(), [Some(2), Some(3)]);
}

#[test]
fn outside_any_scope_state_is_missing() {
    assert!(ctx::state::<Config>().is_none());
    assert!(ctx::with_state(|c: Option<&Config>| c.is_none()));
    assert!(!ctx::contains_state::<Config>());
    let message = catch_unwind(|| ctx::require_state::<Config>())
        .map(|_| ())
        .expect_err("require_state panics outside a scope");
    let message = common::panic_text(&*message);
    assert!(message.contains("state::Config"), "{message}");
    assert!(message.contains("no scope is current"), "{message}");
}

fn a_finished_scopes_handle_still_reads_its_state<R: Runtime>() {
    let ctx = R::block_on(async {
        R::scope("done")
            .state(Config(9))
            .run(async { Ctx::current() })
            .await
    });
    assert_eq!(ctx.state::<Config>().as_deref(), Some(&Config(9)));
    assert!(ctx.state::<Region>().is_none());
}

#[test]
fn updating_outside_any_scope_panics_clearly() {
    let payload = catch_unwind(AssertUnwindSafe(|| {
        drop(ctx::updating(Config(1)).run(async {}));
    }))
    .expect_err("updating needs a scope");
    let message = common::panic_text(&*payload);
    assert!(message.contains("outside any scope"), "{message}");
    assert!(message.contains("Scope::new"), "{message}");
}

#[test]
fn polling_a_scope_inside_with_state_panics_clearly() {
    let message = futures::executor::block_on(Scope::new("s").state(Config(1)).run(async {
        let payload = catch_unwind(|| {
            ctx::with_state(|_: Option<&Config>| {
                Scope::new("inner").run(async {}).now_or_never();
            })
        })
        .expect_err("polling a scope there panics");
        // The scope is whole afterwards.
        assert_eq!(config(), Some(1));
        common::panic_text(&*payload)
    }));
    assert!(message.contains("ctx::with_state"), "{message}");
}

#[test]
fn inside_a_recorder_no_scope_and_no_state_is_seen() {
    /// Notes what its `record` sees of the context.
    #[derive(Clone, Default)]
    struct Peeking(Arc<Mutex<Vec<(bool, bool, bool)>>>);
    impl haiway::Recorder for Peeking {
        fn record(&self, _: &haiway::ScopeInfo, _: &haiway::Event) {
            let seen = (
                Ctx::try_current().is_some(),
                ctx::state::<Config>().is_some(),
                ctx::with_state(|c: Option<&Config>| c.is_some()),
            );
            self.0.lock().unwrap().push(seen);
        }
    }

    let recorder = Peeking::default();
    futures::executor::block_on(
        Scope::new("s")
            .recorder(recorder.clone())
            .state(Config(1))
            .run(async { ctx::record_event(haiway::Event::info("e")) }),
    );
    assert_eq!(*recorder.0.lock().unwrap(), [(false, false, false)]);
}

fn reading_inside_with_state_reads_the_same_context<R: Runtime>() {
    R::block_on(
        R::scope("s")
            .state(Config(4))
            .state(Region("eu"))
            .run(async {
                let both = ctx::with_state(|c: Option<&Config>| {
                    let region = ctx::with_state(|r: Option<&Region>| r.map(|r| r.0));
                    (c.map(|c| c.0), region, Ctx::current().name().to_owned())
                });
                assert_eq!(both, (Some(4), Some("eu"), "s".to_owned()));
            }),
    );
}

fn recording_and_spawning_inside_with_state_work<R: Runtime>() {
    let recorder = haiway::MemoryRecorder::new();
    let spawned = R::block_on(
        R::scope("s")
            .recorder(recorder.clone())
            .state(Config(4))
            .run(async {
                let task = ctx::with_state(|c: Option<&Config>| {
                    let n = c.map_or(0, |c| c.0);
                    ctx::record_event(haiway::Event::info("free").with("n", n as i64));
                    Ctx::current().record_event(haiway::Event::info("handle"));
                    ctx::spawn(async move { (n, config()) })
                });
                // The slot is whole again: recording here works as ever.
                ctx::record_event(haiway::Event::info("after"));
                task.await
            }),
    );
    assert_eq!(spawned, (4, Some(4)));
    assert_eq!(recorder.names(), ["free", "handle", "after"]);
}

on_every_executor!(
    nested_scopes_inherit_override_and_restore,
    the_last_value_given_for_a_type_wins,
    spawned_tasks_see_their_scopes_state,
    updating_runs_with_more_state_in_the_same_scope,
    updating_nests_and_inherits,
    missing_state_inside_a_scope,
    concurrent_scopes_never_see_each_others_state,
    a_trait_object_client_is_scoped_in,
    a_scope_dropped_unfinished_and_an_updating_dropped_unfinished_leave_no_state,
    a_finished_scopes_handle_still_reads_its_state,
    reading_inside_with_state_reads_the_same_context,
    recording_and_spawning_inside_with_state_work,
);
