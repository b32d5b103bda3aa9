//! [`Level`] and [`Value`]: how important an event is, and what its attributes hold.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// How important an event is.
///
/// Ordered from least to most severe, so `level >= Level::Warning` works.
///
/// # Examples
///
/// ```
/// use haiway::Level;
///
/// assert!(Level::Error > Level::Info);
/// assert_eq!(Level::Warning.as_str(), "warning");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detailed diagnostics, such as cache hits and misses.
    Debug,
    /// Normal operation worth noting.
    Info,
    /// Something went wrong but the work carried on.
    Warning,
    /// Something failed.
    Error,
}

impl Level {
    /// The level's lower-case name: `"debug"`, `"info"`, `"warning"` or `"error"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(haiway::Level::Debug.as_str(), "debug");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An attribute value: a bool, an integer, a float or a string.
///
/// Built with `From`, so [`Event::with`](super::Event::with) takes plain values.
///
/// # Examples
///
/// ```
/// use haiway::Value;
///
/// assert_eq!(Value::from(3), Value::Int(3));
/// assert_eq!(Value::from("users"), Value::Str("users".into()));
/// assert_eq!(Value::from(true).to_string(), "true");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string; static strings are not copied.
    Str(Cow<'static, str>),
}

impl Value {
    /// The string, if this is a [`Value::Str`].
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::Value;
    ///
    /// assert_eq!(Value::from("users").as_str(), Some("users"));
    /// assert_eq!(Value::from(1).as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(v) => Some(v),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::Int`].
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::Value;
    ///
    /// assert_eq!(Value::from(7_u32).as_i64(), Some(7));
    /// assert_eq!(Value::from(7.0).as_i64(), None);
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The number, if this is a [`Value::Float`] or a [`Value::Int`] (converted).
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::Value;
    ///
    /// assert_eq!(Value::from(0.5).as_f64(), Some(0.5));
    /// assert_eq!(Value::from(2).as_f64(), Some(2.0));
    /// assert_eq!(Value::from("2").as_f64(), None);
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            #[allow(clippy::cast_precision_loss)]
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    ///
    /// # Examples
    ///
    /// ```
    /// use haiway::Value;
    ///
    /// assert_eq!(Value::from(true).as_bool(), Some(true));
    /// assert_eq!(Value::from("true").as_bool(), None);
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }
}

/// A value equals a string when it is that string: `value == "users"`.
///
/// # Examples
///
/// ```
/// let event = haiway::Event::debug("cache.hit").with("cache", "users");
/// assert!(event.attribute("cache").is_some_and(|v| v == "users"));
/// assert_eq!(event.attribute_str("cache"), Some("users"));
/// ```
impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

/// See `PartialEq<str>`.
impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// A value equals an integer when it is that integer: `value == 3`.
///
/// # Examples
///
/// ```
/// assert!(haiway::Value::from(3_u8) == 3);
/// ```
impl PartialEq<i64> for Value {
    fn eq(&self, other: &i64) -> bool {
        self.as_i64() == Some(*other)
    }
}

/// A value equals a boolean when it is that boolean: `value == true`.
///
/// # Examples
///
/// ```
/// assert!(haiway::Value::from(true) == true);
/// ```
impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

/// A value equals a float when it is that float (not an integer): `value == 0.5`.
///
/// # Examples
///
/// ```
/// assert!(haiway::Value::from(0.5) == 0.5);
/// ```
impl PartialEq<f64> for Value {
    fn eq(&self, other: &f64) -> bool {
        matches!(self, Value::Float(v) if v == other)
    }
}

/// The comparisons above, for a borrowed value (as [`Event::attribute`](super::Event::attribute)
/// returns it): `event.attribute("n").is_some_and(|n| n == 3)`.
macro_rules! borrowed_eq {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for &Value {
            fn eq(&self, other: &$t) -> bool {
                **self == *other
            }
        }
    )*};
}
borrowed_eq!(i64, bool, f64);

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Str(v) => f.write_str(v),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Int(i64::from(v))
            }
        }
    )*};
}
int_value!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    /// Values above `i64::MAX` saturate to `i64::MAX`.
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Value {
    /// Values above `i64::MAX` saturate to `i64::MAX`.
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Str(Cow::Borrowed(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(Cow::Owned(v))
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Self {
        Value::Str(v)
    }
}

impl From<Arc<str>> for Value {
    fn from(v: Arc<str>) -> Self {
        Value::Str(Cow::Owned(v.as_ref().to_owned()))
    }
}
