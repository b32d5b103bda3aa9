//! Emitting: a haiway event as a `tracing` event at its callsite (or at the fallback
//! callsite of its level), a scope as a `tracing` span.

use std::borrow::Cow;
use std::fmt;

use ::tracing::field::{Field, Value as FieldValue, ValueSet, display};
use ::tracing::{Metadata, Span};

use super::callsite::{DynCallsite, MESSAGE, SCOPE_FIELDS, TARGET};
use crate::event::{Event, ScopeInfo, Value};

/// The keys of the attributes that become fields of their own: all but a `message`
/// attribute, which joins the `message` field.
pub(super) fn field_keys<'a>(
    attributes: &'a [(Cow<'static, str>, Value)],
) -> impl Iterator<Item = &'a str> + Clone {
    attributes
        .iter()
        .map(|(key, _)| key.as_ref())
        .filter(|key| *key != MESSAGE)
}

/// The `message` of an event with a `message` attribute: `"<name>: <message>"`.
struct NameAndMessage<'a>(&'a str, &'a Value);

impl fmt::Display for NameAndMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0, self.1)
    }
}

/// Emits `event` at its own callsite, whose fields are `message`, the attributes and
/// the scope fields.
/// Without `scope_fields`, the scope fields are left empty (the scope's span has them).
pub(super) fn dispatch_event(
    callsite: &'static DynCallsite,
    event: &Event,
    scope: &ScopeInfo,
    scope_fields: bool,
) {
    let meta = callsite.metadata();
    let always = callsite.is_always();
    // `tracing` takes a field-value array of a length known at compile time: pick the
    // instance for this event's number of fields.
    macro_rules! by_len {
        ($($n:literal)*) => {
            match meta.fields().len() {
                $($n => dispatch_n::<$n>(callsite, meta, always, event, scope, scope_fields),)*
                _ => unreachable!("events have 5 to 32 fields"),
            }
        };
    }
    by_len!(5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
}

/// [`dispatch_event`] for an event with `N` fields (`N - 5` attributes). `always`: the
/// callsite's interest says every subscriber wants it.
fn dispatch_n<const N: usize>(
    callsite: &'static DynCallsite,
    meta: &'static Metadata<'static>,
    always: bool,
    event: &Event,
    scope: &ScopeInfo,
    scope_fields: bool,
) {
    let fields = meta.fields();
    let field = callsite
        .fields
        .get()
        .expect("fields are set before the callsite is shared");
    let name = event.name();
    // One pass over the attributes: those with fields of their own go in field order
    // (from index 1); the first `message` joins the text. String values need a place
    // to live as `&str` (what `tracing` records).
    let mut text = None;
    let mut by_field: [Option<&Value>; N] = [None; N];
    let mut strs: [&str; N] = [""; N];
    let mut count = 0;
    for (key, value) in event.attributes() {
        if key == MESSAGE {
            if text.is_none() {
                text = Some(display(NameAndMessage(name, value)));
            }
            continue;
        }
        count += 1;
        by_field[count] = Some(value);
        if let Value::Str(s) = value {
            strs[count] = s;
        }
    }
    debug_assert_eq!(count + 5, N);
    let scope_name = scope.name();
    let scope_id = display(scope.id());
    let parent_id = scope.parent_id().map(display);
    let trace_id = display(scope.trace_id());
    let values: [(&Field, Option<&dyn FieldValue>); N] = std::array::from_fn(|i| {
        let value: Option<&dyn FieldValue> = if i == 0 {
            match &text {
                Some(text) => Some(text),
                None => Some(&name),
            }
        } else if i <= count {
            by_field[i].map(|value| -> &dyn FieldValue {
                match value {
                    Value::Bool(v) => v,
                    Value::Int(v) => v,
                    Value::Float(v) => v,
                    Value::Str(_) => &strs[i],
                }
            })
        } else if !scope_fields {
            None
        } else {
            match i - count {
                1 => Some(&scope_name),
                2 => Some(&scope_id),
                3 => parent_id.as_ref().map(|id| id as &dyn FieldValue),
                _ => Some(&trace_id),
            }
        };
        (&field[i], value)
    });
    deliver(meta, always, &fields.value_set(&values));
}

/// Hands the event of `meta` with `values` to the current subscriber. What the macros
/// do: ask the subscriber unless its interest was `always` (per-layer filters decide
/// here), then hand it the event. `Event::dispatch` would skip the question.
#[inline]
fn deliver(meta: &'static Metadata<'static>, always: bool, values: &ValueSet<'_>) {
    ::tracing::dispatcher::get_default(|dispatch| {
        if always || dispatch.enabled(meta) {
            dispatch.event(&::tracing::Event::new(meta, values));
        }
    });
}

/// A value of a field, owned: what a [`PreparedSite`] keeps.
type OwnedValue = Box<dyn FieldValue + Send + Sync>;

/// What `TracingRecorder` prepares for a prepared event: its callsite, and the values
/// of its fields before the scope's (the `message`, then each attribute) converted
/// once, so each recording only adds the scope's fields and dispatches.
pub(super) struct PreparedSite {
    /// The event's callsite.
    callsite: &'static DynCallsite,
    /// Its metadata.
    meta: &'static Metadata<'static>,
    /// Its fields, in order.
    fields: &'static [Field],
    /// The values of all fields but the scope's, in order.
    head: Box<[OwnedValue]>,
    /// [`PreparedSite::dispatch_n`] for the event's number of fields.
    dispatch_n: fn(&PreparedSite, bool, &ScopeInfo, bool),
    /// Its target does not depend on the recorder (the event's own, or haiway's).
    fixed: bool,
}

impl PreparedSite {
    /// The site of `event`, whose callsite is `callsite`; `fixed`: its target does not
    /// depend on the recorder.
    pub(super) fn new(callsite: &'static DynCallsite, event: &Event, fixed: bool) -> Self {
        let name = event.name();
        let attributes = event.attributes();
        let message: OwnedValue = match attributes.iter().find(|(key, _)| key == MESSAGE) {
            Some((_, value)) => Box::new(display(NameAndMessage(name, value).to_string())),
            None => Box::new(name.to_owned()),
        };
        let head = std::iter::once(message)
            .chain(
                attributes
                    .iter()
                    .filter(|(key, _)| key != MESSAGE)
                    .map(|(_, value)| owned(value)),
            )
            .collect();
        let fields: &'static [Field] = callsite
            .fields
            .get()
            .expect("fields are set before the callsite is shared");
        // `tracing` takes a field-value array of a length known at compile time: pick
        // the instance for this event's number of fields, once.
        macro_rules! by_len {
            ($($n:literal)*) => {
                match fields.len() {
                    $($n => PreparedSite::dispatch_n::<$n>,)*
                    _ => unreachable!("events have 5 to 32 fields"),
                }
            };
        }
        let dispatch_n =
            by_len!(5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
        PreparedSite {
            callsite,
            meta: callsite.metadata(),
            fields,
            head,
            dispatch_n,
            fixed,
        }
    }

    /// Emits the event, recorded in `scope` (without `scope_fields`, with the scope
    /// fields empty).
    #[inline]
    pub(super) fn dispatch(&self, scope: &ScopeInfo, scope_fields: bool) {
        if self.callsite.is_never() {
            return;
        }
        (self.dispatch_n)(self, self.callsite.is_always(), scope, scope_fields);
    }

    /// Whether its target does not depend on the recorder.
    #[inline]
    pub(super) fn fixed(&self) -> bool {
        self.fixed
    }

    /// The target of the event's callsite.
    #[inline]
    pub(super) fn target(&self) -> &'static str {
        self.meta.target()
    }

    /// [`dispatch`](Self::dispatch) for an event with `N` fields.
    fn dispatch_n<const N: usize>(&self, always: bool, scope: &ScopeInfo, scope_fields: bool) {
        let fields: &[Field; N] = self.fields.try_into().expect("N fields");
        let scope_name = scope.name();
        let scope_id = display(scope.id());
        let parent_id = scope.parent_id().map(display);
        let trace_id = display(scope.trace_id());
        let first = N - SCOPE_FIELDS.len();
        let values: [(&Field, Option<&dyn FieldValue>); N] = std::array::from_fn(|i| {
            let value: Option<&dyn FieldValue> = match i.checked_sub(first) {
                None => Some(&*self.head[i]),
                Some(_) if !scope_fields => None,
                Some(0) => Some(&scope_name),
                Some(1) => Some(&scope_id),
                Some(2) => parent_id.as_ref().map(|id| id as &dyn FieldValue),
                Some(_) => Some(&trace_id),
            };
            (&fields[i], value)
        });
        deliver(self.meta, always, &self.meta.fields().value_set(&values));
    }
}

/// An attribute's value, owned, as `tracing` records it.
fn owned(value: &Value) -> OwnedValue {
    match value {
        Value::Bool(v) => Box::new(*v),
        Value::Int(v) => Box::new(*v),
        Value::Float(v) => Box::new(*v),
        Value::Str(v) => Box::new(v.to_string()),
    }
}

/// A span at its own callsite, named after the scope.
pub(super) fn new_span(meta: &'static Metadata<'static>, scope: &ScopeInfo) -> Span {
    if !::tracing::dispatcher::get_default(|dispatch| dispatch.enabled(meta)) {
        return Span::none();
    }
    let fields = meta.fields();
    let mut iter = fields.iter();
    let field: [Field; 3] = std::array::from_fn(|_| iter.next().expect("3 fields"));
    let scope_id = display(scope.id());
    let parent_id = scope.parent_id().map(display);
    let trace_id = display(scope.trace_id());
    let values: [(&Field, Option<&dyn FieldValue>); 3] = [
        (&field[0], Some(&scope_id)),
        (
            &field[1],
            parent_id.as_ref().map(|id| id as &dyn FieldValue),
        ),
        (&field[2], Some(&trace_id)),
    ];
    Span::new(meta, &fields.value_set(&values))
}

/// Every attribute as `key=value`, for the fallback callsite.
struct Attributes<'a>(&'a [(Cow<'static, str>, Value)]);

impl fmt::Display for Attributes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match value {
                Value::Str(s) => write!(f, "{key}={s:?}")?,
                other => write!(f, "{key}={other}")?,
            }
        }
        Ok(())
    }
}

/// Expands `$body` with `$lvl` bound to each `tracing` level as a constant (the macros
/// need one).
macro_rules! with_const_level {
    ($level:expr, $lvl:ident => $body:expr) => {
        match $level {
            ::tracing::Level::ERROR => {
                const $lvl: ::tracing::Level = ::tracing::Level::ERROR;
                $body
            }
            ::tracing::Level::WARN => {
                const $lvl: ::tracing::Level = ::tracing::Level::WARN;
                $body
            }
            ::tracing::Level::INFO => {
                const $lvl: ::tracing::Level = ::tracing::Level::INFO;
                $body
            }
            ::tracing::Level::DEBUG => {
                const $lvl: ::tracing::Level = ::tracing::Level::DEBUG;
                $body
            }
            _ => {
                const $lvl: ::tracing::Level = ::tracing::Level::TRACE;
                $body
            }
        }
    };
}

/// Emits `event` at a fixed callsite per level, its attributes in one field.
#[cold]
pub(super) fn fallback_event(level: ::tracing::Level, event: &Event, scope: &ScopeInfo) {
    let attributes = Attributes(event.attributes());
    let parent_id = scope.parent_id().map(display);
    with_const_level!(level, LEVEL => ::tracing::event!(
        target: TARGET,
        LEVEL,
        message = event.name(),
        attributes = %attributes,
        scope = scope.name(),
        scope_id = %scope.id(),
        parent_id = parent_id,
        trace_id = %scope.trace_id(),
    ));
}

/// A span at a fixed callsite per level, named `haiway.scope`.
#[cold]
pub(super) fn fallback_span(level: ::tracing::Level, scope: &ScopeInfo) -> Span {
    let parent_id = scope.parent_id().map(display);
    with_const_level!(level, LEVEL => ::tracing::span!(
        target: TARGET,
        LEVEL,
        "haiway.scope",
        scope = scope.name(),
        scope_id = %scope.id(),
        parent_id = parent_id,
        trace_id = %scope.trace_id(),
    ))
}
