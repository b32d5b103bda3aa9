//! The registry of callsites built at run time: one per distinct (level, target, event
//! name, attribute keys), or per (level, target, scope name) for spans, created on first use,
//! registered with `tracing_core::callsite::register` like a macro's, and kept for the
//! life of the process (see the [module docs](super) for why).

use std::cell::RefCell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};

use ::tracing::Metadata;
use ::tracing::field::{Field, FieldSet};
use hashbrown::{DefaultHashBuilder, HashTable};
use tracing_core::callsite::{self, Callsite};
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;

/// The target of the fallback callsites, and of events and spans a recorder with no
/// target of its own emits (unless haiway's own: see `TracingRecorder`'s docs).
pub(super) const TARGET: &str = "haiway";

/// The field `tracing` subscribers show as an event's text: an event's first field.
pub(super) const MESSAGE: &str = "message";

/// The fields after an event's attributes, in order.
pub(super) const SCOPE_FIELDS: [&str; 4] = ["scope", "scope_id", "parent_id", "trace_id"];

/// The fields of a scope span named after its scope.
const SPAN_FIELDS: &[&str] = &["scope_id", "parent_id", "trace_id"];

/// How many distinct event shapes (level, name, attribute keys) get a callsite of
/// their own before events fall back to a shared callsite per level. Private: a
/// tuning constant, free to change (the module docs give its value).
pub(super) const MAX_EVENT_CALLSITES: usize = 1024;

/// How many distinct (span level, scope name) pairs get a span callsite of their own
/// before scope spans fall back to one named `haiway.scope`. Private, as above.
pub(super) const MAX_SPAN_CALLSITES: usize = 256;

/// Interest values, as `DefaultCallsite` stores them.
const INTEREST_NEVER: u8 = 0;
const INTEREST_SOMETIMES: u8 = 1;
const INTEREST_ALWAYS: u8 = 2;

/// A callsite created at run time and leaked, so it is `'static` like a macro's.
pub(super) struct DynCallsite {
    /// Set once, right after the callsite is leaked: the metadata names the callsite.
    meta: OnceLock<Metadata<'static>>,
    /// The metadata's fields, made once (set with `meta`).
    pub(super) fields: OnceLock<Box<[Field]>>,
    /// What the subscribers said when the callsite was registered (or since).
    interest: AtomicU8,
    /// The field names, in order.
    names: &'static [&'static str],
    /// The attribute keys among them (none for a span).
    keys: &'static [&'static str],
    /// The lookup hash of (level, name, keys), kept for rehashing.
    hash: u64,
}

impl DynCallsite {
    pub(super) fn metadata(&'static self) -> &'static Metadata<'static> {
        self.meta
            .get()
            .expect("metadata is set before the callsite is shared")
    }

    pub(super) fn is_never(&self) -> bool {
        self.interest.load(Ordering::Relaxed) == INTEREST_NEVER
    }

    /// Whether every subscriber wants this callsite, so `enabled` need not be asked.
    pub(super) fn is_always(&self) -> bool {
        self.interest.load(Ordering::Relaxed) == INTEREST_ALWAYS
    }

    /// Whether this is the callsite of (level, name, keys).
    fn matches<'k>(
        &'static self,
        level: ::tracing::Level,
        target: &str,
        name: &str,
        keys: impl Iterator<Item = &'k str>,
    ) -> bool {
        let meta = self.metadata();
        *meta.level() == level
            && meta.target() == target
            && meta.name() == name
            && keys.eq(self.keys.iter().copied())
    }
}

impl Callsite for DynCallsite {
    fn set_interest(&self, interest: Interest) {
        let interest = if interest.is_never() {
            INTEREST_NEVER
        } else if interest.is_always() {
            INTEREST_ALWAYS
        } else {
            INTEREST_SOMETIMES
        };
        self.interest.store(interest, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.meta
            .get()
            .expect("metadata is set before the callsite is registered")
    }
}

/// The callsites of one kind (events or spans), found by (level, name, keys).
pub(super) struct Callsites {
    /// Events or spans.
    kind: Kind,
    /// The leaked callsites, by hash.
    table: RwLock<HashTable<&'static DynCallsite>>,
    /// Hashes (level, name, keys).
    hasher: DefaultHashBuilder,
    /// How many callsites were created (or are being created).
    created: AtomicUsize,
    /// The bound on `created`.
    max: usize,
}

thread_local! {
    /// The callsites this thread has used (events and spans): a lock-free first look.
    static SEEN: RefCell<HashTable<&'static DynCallsite>> = const { RefCell::new(HashTable::new()) };
}

pub(super) static EVENT_CALLSITES: LazyLock<Callsites> =
    LazyLock::new(|| Callsites::new(Kind::EVENT, MAX_EVENT_CALLSITES));

pub(super) static SPAN_CALLSITES: LazyLock<Callsites> =
    LazyLock::new(|| Callsites::new(Kind::SPAN, MAX_SPAN_CALLSITES));

impl Callsites {
    fn new(kind: Kind, max: usize) -> Self {
        Callsites {
            kind,
            table: RwLock::new(HashTable::new()),
            hasher: DefaultHashBuilder::default(),
            created: AtomicUsize::new(0),
            max,
        }
    }

    /// The callsite of (level, name, keys), created and registered on first use; `None`
    /// once `max` callsites exist.
    pub(super) fn get_or_create<'k, I>(
        &self,
        level: ::tracing::Level,
        target: &'static str,
        name: &str,
        keys: I,
    ) -> Option<&'static DynCallsite>
    where
        I: Iterator<Item = &'k str> + Clone,
    {
        let mut hasher = self.hasher.build_hasher();
        self.kind.is_span().hash(&mut hasher);
        level.as_str().hash(&mut hasher);
        target.hash(&mut hasher);
        name.hash(&mut hasher);
        for key in keys.clone() {
            key.hash(&mut hasher);
        }
        let hash = hasher.finish();
        let is_span = self.kind.is_span();
        let eq = |cs: &&'static DynCallsite| {
            cs.metadata().is_span() == is_span && cs.matches(level, target, name, keys.clone())
        };
        // This thread's copy first: no lock, no shared cache line. Callsites are never
        // freed, so a copied reference stays valid.
        let local = SEEN.try_with(|seen| seen.borrow().find(hash, eq).copied());
        if let Ok(Some(callsite)) = local {
            return Some(callsite);
        }
        let found = {
            let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
            table.find(hash, eq).copied()
        };
        let callsite = match found {
            Some(callsite) => callsite,
            None => self.create(level, target, name, keys, hash)?,
        };
        let _ = SEEN.try_with(|seen| {
            if let Ok(mut seen) = seen.try_borrow_mut() {
                seen.insert_unique(hash, callsite, |cs| cs.hash);
            }
        });
        Some(callsite)
    }

    #[cold]
    fn create<'k>(
        &self,
        level: ::tracing::Level,
        target: &'static str,
        name: &str,
        keys: impl Iterator<Item = &'k str> + Clone,
        hash: u64,
    ) -> Option<&'static DynCallsite> {
        if self.created.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.created.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let names: Vec<&'static str> = if self.kind.is_span() {
            SPAN_FIELDS.to_vec()
        } else {
            std::iter::once(MESSAGE)
                .chain(keys.clone().map(leak_str))
                .chain(SCOPE_FIELDS)
                .collect()
        };
        let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
        let own_keys = if self.kind.is_span() {
            &[]
        } else {
            &names[1..names.len() - SCOPE_FIELDS.len()]
        };
        let callsite: &'static DynCallsite = Box::leak(Box::new(DynCallsite {
            meta: OnceLock::new(),
            fields: OnceLock::new(),
            interest: AtomicU8::new(INTEREST_SOMETIMES),
            names,
            keys: own_keys,
            hash,
        }));
        let fields = FieldSet::new(callsite.names, tracing_core::identify_callsite!(callsite));
        let meta = Metadata::new(
            leak_str(name),
            target,
            level,
            None,
            None,
            None,
            fields,
            self.kind.clone(),
        );
        let _ = callsite.meta.set(meta);
        let _ = callsite
            .fields
            .set(callsite.metadata().fields().iter().collect());
        // Registering asks every subscriber for its interest: user code, so no lock
        // of ours is held.
        callsite::register(callsite);

        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let eq = |cs: &&'static DynCallsite| cs.matches(level, target, name, keys.clone());
        if let Some(&existing) = table.find(hash, eq) {
            // Another thread made the same callsite meanwhile: use the one in the
            // table (ours stays registered, unused; a race costs one callsite).
            return Some(existing);
        }
        table.insert_unique(hash, callsite, |cs| cs.hash);
        Some(callsite)
    }
}

/// A `'static` copy of `s` (leaked: callsites live for the process).
fn leak_str(s: &str) -> &'static str {
    Box::leak(Box::<str>::from(s))
}
