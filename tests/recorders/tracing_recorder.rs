//! `TracingRecorder`: haiway events reach a `tracing` subscriber as events with real
//! fields, at the matching level, nested in one span per scope.
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use futures_lite::future::block_on;
use haiway::cache::Cached;
use haiway::{Ctx, Event, Scope, TracingRecorder, ctx};
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, filter::LevelFilter};

/// One event as the test layer saw it.
#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    target: String,
    name: String,
    /// Field values, typed: `str:..`, `i64:..`, `f64:..`, `bool:..` or `debug:..`.
    fields: BTreeMap<String, String>,
    /// The names of the spans the event is in, outermost first.
    spans: Vec<String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// A span as the test layer saw it when it was created.
#[derive(Debug, Clone)]
struct SeenSpan {
    name: String,
    target: String,
    fields: BTreeMap<String, String>,
    parent: Option<String>,
}

#[derive(Clone, Default)]
struct Collect {
    events: Arc<Mutex<Vec<Seen>>>,
    spans: Arc<Mutex<Vec<SeenSpan>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), format!("str:{value}"));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0
            .insert(field.name().to_owned(), format!("i64:{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0
            .insert(field.name().to_owned(), format!("f64:{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0
            .insert(field.name().to_owned(), format!("bool:{value}"));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("debug:{value:?}"));
    }
}

impl<S> Layer<S> for Collect
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.name().to_owned());
        self.spans.lock().unwrap().push(SeenSpan {
            name: attrs.metadata().name().to_owned(),
            target: attrs.metadata().target().to_owned(),
            fields,
            parent,
        });
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let spans = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|s| s.name().to_owned()).collect())
            .unwrap_or_default();
        self.events.lock().unwrap().push(Seen {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            name: event.metadata().name().to_owned(),
            fields,
            spans,
        });
    }
}

impl Collect {
    fn events(&self) -> Vec<Seen> {
        self.events.lock().unwrap().clone()
    }
    fn spans(&self) -> Vec<SeenSpan> {
        self.spans.lock().unwrap().clone()
    }
    fn span_targets(&self) -> Vec<String> {
        self.spans().into_iter().map(|s| s.target).collect()
    }
}

/// Runs `f` with a subscriber made of the collecting layer (at `level` and above) for
/// this thread.
fn collect<R>(level: LevelFilter, f: impl FnOnce() -> R) -> (Collect, R) {
    let layer = Collect::default();
    let subscriber = tracing_subscriber::registry().with(layer.clone().with_filter(level));
    let out = tracing::subscriber::with_default(subscriber, f);
    (layer, out)
}

fn profiles() -> Cached<u32, u32> {
    Cached::builder()
        .limit(10)
        .name("profiles")
        .build(|k: u32| async move { k })
}

#[test]
fn a_miss_and_a_hit_are_debug_events_with_attributes_and_scope_fields() {
    let cached = profiles();
    let (layer, ids) = collect(LevelFilter::TRACE, || {
        block_on(Scope::new("x").recorder(TracingRecorder::new()).run(async {
            assert_eq!(cached.call(1).await, 1);
            assert_eq!(cached.call(1).await, 1);
            let ctx = Ctx::current();
            (ctx.id(), ctx.trace_id())
        }))
    });
    let events = layer.events();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["cache.miss", "cache.hit"]);
    for (event, name) in events.iter().zip(["cache.miss", "cache.hit"]) {
        assert_eq!(event.level, Level::DEBUG);
        assert_eq!(event.target, "haiway::cache");
        assert_eq!(event.field("message"), Some(&*format!("str:{name}")));
        assert_eq!(event.field("cache"), Some("str:profiles"));
        assert_eq!(event.field("scope"), Some("str:x"));
        assert_eq!(event.field("scope_id"), Some(&*format!("debug:{}", ids.0)));
        assert_eq!(event.field("trace_id"), Some(&*format!("debug:{}", ids.1)));
        assert_eq!(event.field("parent_id"), None, "a root scope has no parent");
        assert_eq!(event.spans, ["x"], "events nest in the scope's span");
    }
}

#[test]
fn an_event_recorded_again_or_extended_keeps_the_right_fields() {
    let tick = Event::info("tick").with("worker", "w1");
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("jobs")
                .recorder(TracingRecorder::new())
                .run(async {
                    ctx::record_event(&tick);
                    ctx::record_event(&tick); // the same shape: the same callsite
                    let extended = tick.clone().with("round", 2); // another shape
                    ctx::record_event(&extended);
                    ctx::record_event(tick.clone()); // a clone: the same shape
                    // Another event with the same name but other keys.
                    ctx::record_event(Event::info("tick").with("queue", "q"));
                }),
        )
    });
    let events = layer.events();
    let workers: Vec<Option<&str>> = events.iter().map(|e| e.field("worker")).collect();
    assert_eq!(
        workers,
        [Some("str:w1"); 4]
            .into_iter()
            .chain([None])
            .collect::<Vec<_>>()
    );
    let rounds: Vec<Option<&str>> = events.iter().map(|e| e.field("round")).collect();
    assert_eq!(rounds, [None, None, Some("i64:2"), None, None]);
    assert_eq!(events[4].field("queue"), Some("str:q"));
    assert!(
        events
            .iter()
            .all(|e| e.name == "tick" && e.field("scope") == Some("str:jobs"))
    );
}

#[test]
fn the_scope_span_is_named_after_the_scope_and_nests_like_the_scopes() {
    let (layer, (outer, inner)) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("request")
                .recorder(TracingRecorder::new())
                .run(async {
                    let outer = Ctx::current().id();
                    let inner = Scope::new("db")
                        .run(async {
                            ctx::record_event(Event::info("query").with("rows", 3));
                            // Plain `tracing` events in scope code nest too.
                            tracing::info!("from user code");
                            Ctx::current().id()
                        })
                        .await;
                    (outer, inner)
                }),
        )
    });
    let spans = layer.spans();
    let request = spans.iter().find(|s| s.name == "request").unwrap();
    let db = spans.iter().find(|s| s.name == "db").unwrap();
    assert_eq!(request.parent, None);
    assert_eq!(db.parent.as_deref(), Some("request"));
    assert_eq!(request.fields["scope_id"], format!("debug:{outer}"));
    assert!(!request.fields.contains_key("parent_id"));
    assert_eq!(db.fields["parent_id"], format!("debug:{outer}"));
    assert!(db.fields.contains_key("trace_id"));

    let events = layer.events();
    assert_eq!(events.len(), 2);
    let query = &events[0];
    assert_eq!(query.name, "query");
    assert_eq!(query.level, Level::INFO);
    assert_eq!(query.field("rows"), Some("i64:3"));
    assert_eq!(query.field("scope"), Some("str:db"));
    assert_eq!(query.field("scope_id"), Some(&*format!("debug:{inner}")));
    assert_eq!(query.field("parent_id"), Some(&*format!("debug:{outer}")));
    assert_eq!(query.spans, ["request", "db"]);
    assert_eq!(events[1].spans, ["request", "db"]);
}

#[test]
fn levels_and_value_types_map_to_tracing() {
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("levels")
                .recorder(TracingRecorder::new())
                .run(async {
                    ctx::record_event(Event::debug("d").with("flag", true));
                    ctx::record_event(Event::info("i").with("ratio", 0.5));
                    ctx::record_event(Event::warning("w").with("n", -2).with("who", "ada"));
                    ctx::record_event(Event::error("e").with("who", String::from("bob")));
                }),
        )
    });
    let events = layer.events();
    let levels: Vec<(Level, &str)> = events.iter().map(|e| (e.level, e.name.as_str())).collect();
    assert_eq!(
        levels,
        [
            (Level::DEBUG, "d"),
            (Level::INFO, "i"),
            (Level::WARN, "w"),
            (Level::ERROR, "e")
        ]
    );
    assert_eq!(events[0].field("flag"), Some("bool:true"));
    assert_eq!(events[1].field("ratio"), Some("f64:0.5"));
    assert_eq!(events[2].field("n"), Some("i64:-2"));
    assert_eq!(events[2].field("who"), Some("str:ada"));
    assert_eq!(events[3].field("who"), Some("str:bob"));
}

#[test]
fn a_level_filter_drops_the_events_below_it() {
    // A live dispatcher that wants everything makes the callsites' interest
    // "sometimes" (not "never"), so the filter is asked event by event.
    let _wants_all =
        tracing::Dispatch::new(tracing_subscriber::registry().with(Collect::default()));
    let cached = profiles();
    let (layer, ()) = collect(LevelFilter::INFO, || {
        block_on(
            Scope::new("filtered")
                .recorder(TracingRecorder::new())
                .run(async {
                    cached.call(1).await; // cache.miss: DEBUG, filtered out
                    ctx::record_event(Event::warning("kept"));
                }),
        )
    });
    let names: Vec<String> = layer.events().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(cached.stats().misses, 1);
}

#[test]
fn without_scope_spans_events_still_carry_the_scope_fields() {
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("flat")
                .recorder(TracingRecorder::new().scope_spans(false))
                .run(async { ctx::record_event(Event::info("step")) }),
        )
    });
    assert!(layer.spans().is_empty());
    let events = layer.events();
    assert_eq!(events.len(), 1);
    assert!(events[0].spans.is_empty());
    assert_eq!(events[0].field("scope"), Some("str:flat"));
}

#[test]
fn spawned_tasks_run_in_their_scope_span() {
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("parent")
                .recorder(TracingRecorder::new().span_level(Level::DEBUG))
                .run(async {
                    let task = ctx::spawn(async {
                        futures_lite::future::yield_now().await;
                        ctx::record_event(Event::info("in.task"));
                    });
                    task.await;
                }),
        )
    });
    let events = layer.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "in.task");
    assert_eq!(events[0].spans, ["parent"]);
    assert!(layer.spans().iter().all(|s| s.name == "parent"));
}

#[test]
fn updating_runs_in_the_scopes_span_with_its_fields() {
    let (layer, id) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("parent")
                .recorder(TracingRecorder::new().span_level(Level::DEBUG))
                .run(async {
                    ctx::updating(7u32)
                        .run(async {
                            ctx::record_event(Event::info("in.updating"));
                            // Runs after the `updating` future has finished.
                            ctx::spawn(async {
                                futures_lite::future::yield_now().await;
                                let n = ctx::state::<u32>().map_or(0, |n| *n);
                                ctx::record_event(Event::info("in.task").with("n", n));
                            })
                            .detach();
                        })
                        .await;
                    Ctx::current().id()
                }),
        )
    });
    let events = layer.events();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["in.updating", "in.task"]);
    for event in &events {
        assert_eq!(event.spans, ["parent"], "{}", event.name);
        assert_eq!(event.field("scope"), Some("str:parent"));
        assert_eq!(event.field("scope_id"), Some(&*format!("debug:{id}")));
    }
    assert_eq!(events[1].field("n"), Some("i64:7"));
    assert_eq!(layer.spans().len(), 1, "no span of its own");
}

#[test]
fn an_event_with_very_many_attributes_falls_back_to_one_attributes_field() {
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("wide")
                .recorder(TracingRecorder::new())
                .run(async {
                    let mut event = Event::info("wide.event");
                    for i in 0..40 {
                        event = event.with(format!("k{i}"), i);
                    }
                    ctx::record_event(event.with("s", "v"));
                }),
        )
    });
    let events = layer.events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.field("message"), Some("str:wide.event"));
    let attributes = event.field("attributes").unwrap();
    assert!(attributes.starts_with("debug:k0=0 k1=1 "), "{attributes}");
    assert!(attributes.ends_with("k39=39 s=\"v\""), "{attributes}");
    assert_eq!(event.field("scope"), Some("str:wide"));
    assert_eq!(event.spans, ["wide"]);
}

#[test]
fn with_no_subscriber_nothing_is_opened_and_the_body_still_runs() {
    // No subscriber on this thread: the span is disabled, the events go nowhere.
    let out = block_on(
        Scope::new("silent")
            .recorder(TracingRecorder::new())
            .run(async {
                ctx::record_event(Event::error("unheard"));
                ctx::spawn(async { 7 }).await
            }),
    );
    assert_eq!(out, 7);
}

#[test]
fn a_panicking_task_is_reported_inside_its_scope_span() {
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("job")
                .recorder(TracingRecorder::new())
                .run(async {
                    ctx::spawn(async { panic!("boom") }).detach();
                }),
        )
    });
    let events = layer.events();
    let panicked = events.iter().find(|e| e.name == "task.panicked").unwrap();
    assert_eq!(panicked.level, Level::ERROR);
    // A `message` attribute joins the event's name in the `message` field.
    assert_eq!(panicked.field("message"), Some("debug:task.panicked: boom"));
    assert_eq!(panicked.spans, ["job"]);
}

#[test]
fn a_prepared_event_reaches_tracing_with_the_fields_of_the_plain_event() {
    let event = Event::warning("job.failed")
        .with("message", "disk full")
        .with("job", "j1")
        .with("tries", 3)
        .with("ok", false)
        .with("ratio", 0.5);
    let prepared = haiway::event::PreparedEvent::new(event.clone());
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("jobs")
                .recorder(TracingRecorder::new())
                .run(async {
                    ctx::record_event(&event);
                    ctx::record_event(&prepared); // prepared, then recorded
                    ctx::record_event(&prepared); // recorded with the preparation
                }),
        )
    });
    assert!(
        prepared.prepared_by::<TracingRecorder>().is_some(),
        "TracingRecorder prepares it"
    );
    let events = layer.events();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[0].field("message"),
        Some("debug:job.failed: disk full")
    );
    assert_eq!(events[0].field("tries"), Some("i64:3"));
    for seen in &events[1..] {
        assert_eq!(seen.fields, events[0].fields);
        assert_eq!((seen.level, &seen.name), (Level::WARN, &events[0].name));
        assert_eq!(seen.spans, ["jobs"]);
    }
}

#[test]
fn each_event_carries_the_target_its_caller_expects() {
    let cached = profiles();
    let recorder = TracingRecorder::new().target("my_service");
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(Scope::new("request").recorder(recorder).run(async {
            cached.call(1).await;
            ctx::record_event(Event::info("order.placed").with_target(module_path!()));
            ctx::record_event(Event::info("order.shipped"));
        }))
    });
    let targets: Vec<(String, String)> = layer
        .events()
        .into_iter()
        .map(|e| (e.name, e.target))
        .collect();
    assert_eq!(
        targets,
        [
            ("cache.miss".to_owned(), "haiway::cache".to_owned()),
            ("order.placed".to_owned(), module_path!().to_owned()),
            ("order.shipped".to_owned(), "my_service".to_owned()),
        ]
    );
    // The scope's span goes under the recorder's target too.
    let (spans, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("request")
                .recorder(TracingRecorder::new().target("my_service"))
                .run(async {}),
        )
    });
    assert_eq!(spans.span_targets(), ["my_service"]);
}

#[test]
fn without_a_target_of_its_own_an_event_goes_under_haiway() {
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("job")
                .recorder(TracingRecorder::new())
                .run(async { ctx::record_event(Event::info("step")) }),
        )
    });
    assert_eq!(layer.events()[0].target, "haiway");
}

/// A user's event is not taken for haiway's by its name: haiway's own events name
/// their target, a user's `cache.refreshed` or `task.done` goes under the recorder's.
#[test]
fn an_event_named_like_haiways_own_goes_under_the_recorders_target() {
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("job")
                .recorder(TracingRecorder::new().target("my_service"))
                .run(async {
                    ctx::record_event(Event::info("cache.refreshed"));
                    ctx::record_event(Event::info("task.done"));
                }),
        )
    });
    let targets: Vec<String> = layer.events().into_iter().map(|e| e.target).collect();
    assert_eq!(targets, ["my_service", "my_service"]);
}

#[test]
fn a_prepared_event_takes_the_target_of_each_recorder() {
    let tick = haiway::event::PreparedEvent::new(Event::info("tick"));
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        for target in ["first", "second", "first"] {
            block_on(
                Scope::new("job")
                    .recorder(TracingRecorder::new().target(target))
                    .run(async { ctx::record_event(&tick) }),
            );
        }
    });
    let targets: Vec<String> = layer.events().into_iter().map(|e| e.target).collect();
    assert_eq!(targets, ["first", "second", "first"]);
}

#[test]
fn scope_fields_false_leaves_the_scope_fields_to_the_span() {
    let tick = haiway::event::PreparedEvent::new(Event::info("tick").with("n", 1));
    let (layer, ()) = collect(LevelFilter::TRACE, || {
        block_on(
            Scope::new("lean")
                .recorder(TracingRecorder::new().scope_fields(false))
                .run(async {
                    ctx::record_event(Event::info("step").with("n", 2));
                    ctx::record_event(&tick);
                }),
        )
    });
    let events = layer.events();
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(event.spans, ["lean"], "in the scope's span");
        for field in ["scope", "scope_id", "parent_id", "trace_id"] {
            assert_eq!(event.field(field), None, "{field} is left to the span");
        }
        assert!(event.field("n").is_some());
    }
    let spans = layer.spans();
    assert_eq!(spans.len(), 1);
    assert!(spans[0].fields.contains_key("trace_id"));
}
