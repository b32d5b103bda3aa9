//! [`Event`]: a name, a level and attributes. Plain data: what recorders work out
//! about an event they keep themselves (see [`PreparedEvent`](super::PreparedEvent)).

use std::borrow::Cow;
use std::fmt;

use super::value::{Level, Value};

/// One attribute of an event: a key and a value.
type Attribute = (Cow<'static, str>, Value);

/// How many attributes an event holds before it allocates.
const INLINE_ATTRIBUTES: usize = 2;

/// What fills the unused inline places: copies nothing, allocates nothing.
const UNUSED: Attribute = (Cow::Borrowed(""), Value::Bool(false));

/// An event's attributes: the first [`INLINE_ATTRIBUTES`] in place, more on the heap.
///
/// Recording an event on a hot path (a cache hit with its `cache` attribute) must
/// not allocate, so the common small events never touch the heap.
#[derive(Clone)]
enum Attributes {
    /// Up to [`INLINE_ATTRIBUTES`]; the places from `len` on hold [`UNUSED`].
    Inline {
        /// How many places are in use.
        len: usize,
        /// The places.
        items: [Attribute; INLINE_ATTRIBUTES],
    },
    /// More than fit inline.
    Heap(Vec<Attribute>),
}

impl Attributes {
    /// No attributes.
    const fn new() -> Self {
        Attributes::Inline {
            len: 0,
            items: [UNUSED; INLINE_ATTRIBUTES],
        }
    }

    /// Appends one attribute.
    #[inline]
    fn push(&mut self, attribute: Attribute) {
        match self {
            Attributes::Inline { len, items } if *len < INLINE_ATTRIBUTES => {
                items[*len] = attribute;
                *len += 1;
            }
            Attributes::Inline { items, .. } => {
                let mut heap = Vec::with_capacity(2 * INLINE_ATTRIBUTES);
                heap.extend(std::mem::replace(items, [UNUSED; INLINE_ATTRIBUTES]));
                heap.push(attribute);
                *self = Attributes::Heap(heap);
            }
            Attributes::Heap(heap) => heap.push(attribute),
        }
    }

    /// The attributes in use, in order.
    #[inline]
    fn as_slice(&self) -> &[Attribute] {
        match self {
            Attributes::Inline { len, items } => &items[..*len],
            Attributes::Heap(heap) => heap,
        }
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Something that happened: a name, a [`Level`] and attributes.
///
/// Built fluently. An event with a static name and up to two attributes with static
/// keys and non-`String` values does not allocate.
///
/// # Examples
///
/// ```
/// use haiway::{Event, Level, Value};
///
/// let event = Event::info("user.login").with("user", "ada").with("attempt", 2);
/// assert_eq!(event.name(), "user.login");
/// assert_eq!(event.level(), Level::Info);
/// assert_eq!(event.attribute("attempt"), Some(&Value::Int(2)));
/// ```
#[derive(Clone, PartialEq)]
pub struct Event {
    /// The event's name, such as `cache.hit`.
    name: Cow<'static, str>,
    /// How important it is.
    level: Level,
    /// Attributes in the order they were added.
    attributes: Attributes,
    /// Where the event comes from, for recorders that sort by it (a `tracing` target);
    /// `None`: the recorder decides.
    target: Option<&'static str>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name)
            .field("level", &self.level)
            .field("attributes", &self.attributes)
            .field("target", &self.target)
            .finish()
    }
}

impl Event {
    /// Creates an event with no attributes.
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::{Event, Level};
    ///
    /// let event = Event::new(Level::Warning, "disk.low");
    /// assert_eq!(event.level(), Level::Warning);
    /// ```
    #[inline]
    pub fn new(level: Level, name: impl Into<Cow<'static, str>>) -> Self {
        Event {
            name: name.into(),
            level,
            attributes: Attributes::new(),
            target: None,
        }
    }

    /// Sets where the event comes from: the `tracing` target it is emitted under by
    /// [`TracingRecorder`](crate::event::tracing::TracingRecorder), typically the
    /// caller's module, `module_path!()`, so that `RUST_LOG=my_service=debug` shows it.
    /// Without one the recorder picks (see `TracingRecorder`'s docs).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = haiway::Event::info("order.placed").with_target(module_path!());
    /// assert_eq!(event.target(), Some(module_path!()));
    /// assert_eq!(haiway::Event::info("x").target(), None);
    /// ```
    #[inline]
    #[must_use]
    pub fn with_target(mut self, target: &'static str) -> Self {
        self.target = Some(target);
        self
    }

    /// Where the event comes from, if it was set with [`with_target`](Self::with_target).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::info("x").with_target("app").target(), Some("app"));
    /// ```
    #[inline]
    pub fn target(&self) -> Option<&'static str> {
        self.target
    }

    /// Creates a [`Level::Debug`] event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::debug("x").level(), haiway::Level::Debug);
    /// ```
    #[inline]
    pub fn debug(name: impl Into<Cow<'static, str>>) -> Self {
        Event::new(Level::Debug, name)
    }

    /// Creates a [`Level::Info`] event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::info("x").level(), haiway::Level::Info);
    /// ```
    #[inline]
    pub fn info(name: impl Into<Cow<'static, str>>) -> Self {
        Event::new(Level::Info, name)
    }

    /// Creates a [`Level::Warning`] event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::warning("x").level(), haiway::Level::Warning);
    /// ```
    #[inline]
    pub fn warning(name: impl Into<Cow<'static, str>>) -> Self {
        Event::new(Level::Warning, name)
    }

    /// Creates a [`Level::Error`] event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::error("x").level(), haiway::Level::Error);
    /// ```
    #[inline]
    pub fn error(name: impl Into<Cow<'static, str>>) -> Self {
        Event::new(Level::Error, name)
    }

    /// Adds an attribute and returns the event.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = haiway::Event::debug("cache.hit").with("cache", "profiles");
    /// assert_eq!(event.attributes().len(), 1);
    /// ```
    #[must_use]
    #[inline]
    pub fn with(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// The event's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::info("started").name(), "started");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event's level.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Event::error("x").level(), haiway::Level::Error);
    /// ```
    pub fn level(&self) -> Level {
        self.level
    }

    /// The attributes, in the order they were added.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = haiway::Event::info("x").with("a", 1).with("b", 2);
    /// let keys: Vec<&str> = event.attributes().iter().map(|(k, _)| k.as_ref()).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    pub fn attributes(&self) -> &[(Cow<'static, str>, Value)] {
        self.attributes.as_slice()
    }

    /// The value of the first attribute named `key`, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = haiway::Event::info("x").with("a", 1);
    /// assert_eq!(event.attribute("a"), Some(&haiway::Value::Int(1)));
    /// assert_eq!(event.attribute("b"), None);
    /// ```
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .as_slice()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The string value of the first attribute named `key`, if it has one: the short
    /// form for tests, `event.attribute_str("cache") == Some("users")`.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = haiway::Event::info("x").with("cache", "users").with("n", 1);
    /// assert_eq!(event.attribute_str("cache"), Some("users"));
    /// assert_eq!(event.attribute_str("n"), None); // not a string
    /// assert_eq!(event.attribute_str("missing"), None);
    /// ```
    pub fn attribute_str(&self, key: &str) -> Option<&str> {
        self.attribute(key).and_then(Value::as_str)
    }

    /// The name as stored: a recorder that keeps names (a counter per event name, say)
    /// can share a static one instead of copying it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::borrow::Cow;
    ///
    /// let event = haiway::Event::info("started");
    /// assert!(matches!(event.name_cow(), Cow::Borrowed("started")));
    /// ```
    pub fn name_cow(&self) -> &Cow<'static, str> {
        &self.name
    }
}
