//! `TracingRecorder` tells haiway which levels `tracing` wants, so an event below the
//! subscribers' level is never built: a filtered-out `cache.hit` costs a level check.
//!
//! Alone in its own test binary because `tracing`'s level hint is process-wide: any
//! other test's subscriber (at `TRACE`) would raise it.
#![cfg(feature = "tracing")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_lite::future::block_on;
use haiway::{Event, Level, Recorder, Scope, TracingRecorder, ctx};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn events_below_the_subscribers_level_are_never_built() {
    let subscriber = tracing_subscriber::registry().with(LevelFilter::INFO);
    let built = Arc::new(AtomicUsize::new(0));
    let counted = built.clone();
    tracing::subscriber::with_default(subscriber, || {
        let recorder = TracingRecorder::new();
        assert!(!recorder.enabled(Level::Debug));
        assert!(recorder.enabled(Level::Info));
        assert!(recorder.enabled(Level::Error));
        block_on(Scope::new("gated").recorder(recorder).run(async move {
            ctx::record_event_with(Level::Debug, || unreachable!("DEBUG is filtered out"));
            ctx::record_event_with(Level::Info, || {
                counted.fetch_add(1, Ordering::Relaxed);
                Event::info("wanted")
            });
        }));
    });
    assert_eq!(built.load(Ordering::Relaxed), 1);
}
