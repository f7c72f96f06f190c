//! Component identity.

use std::fmt;
use std::sync::Arc;

/// The id of a component instance, e.g. `"billing"` or `"billing-7"`.
///
/// Cheap to clone (an `Arc<str>`); carried in every error and log line of the
/// runtime layer so a failure names its component.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId(Arc<str>);

impl ComponentId {
    /// Creates an id. O(n) once; clones are O(1).
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        ComponentId(id.into())
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ComponentId {
    fn from(s: &str) -> Self {
        ComponentId::new(s)
    }
}

impl From<String> for ComponentId {
    fn from(s: String) -> Self {
        ComponentId::new(s)
    }
}

impl std::borrow::Borrow<str> for ComponentId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ComponentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
