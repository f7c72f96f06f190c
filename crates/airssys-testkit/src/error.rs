//! [`Error`]: what a testkit call can fail with.

use std::fmt;
use std::path::PathBuf;

use airssys_wasm::wit::WitError;
use airssys_wasm::{HostError, InvalidSubjectPattern};

use crate::record::Traffic;

/// An expectation that was not met: what was expected, what happened
/// instead, and everything the testkit recorded until then.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpectationFailed {
    /// What the test expected, e.g. ``a publish matching `orders.priced.*` ``.
    pub expected: String,
    /// What happened instead, e.g. `none within 5s`.
    pub outcome: String,
    /// The recorded traffic at the time of the failure.
    pub traffic: Traffic,
}

impl fmt::Display for ExpectationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected {}, but {}\n{}",
            self.expected, self.outcome, self.traffic
        )
    }
}

impl fmt::Debug for ExpectationFailed {
    /// Same as `Display`: a test returning `Err` prints its error with
    /// `Debug`, and the traffic should read as a list there too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A testkit error: the host refused something, a component file could not
/// be read or a module not componentized, or an expectation was not met.
///
/// `Debug` prints the same as `Display`, so a test that returns
/// [`Result`](crate::Result) and fails with `?` shows the expectation and the
/// recorded traffic line by line.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host refused the call (spawn, send, request, ...).
    #[error(transparent)]
    Host(#[from] HostError),
    /// A component file could not be read.
    #[error("cannot read component file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A core module could not be made a component of the
    /// `airssys:component` world ([`component_from_module`](crate::component_from_module)):
    /// not a module, or it does not fit the world (a missing or mistyped
    /// export, an import the world does not have).
    #[error("cannot make component {id} from its core module: {source}")]
    Componentize {
        /// The component id the spec was for.
        id: String,
        /// What wit-component said.
        source: WitError,
    },
    /// A subject pattern (for an allow-list or an expectation) is invalid.
    #[error(transparent)]
    Pattern(#[from] InvalidSubjectPattern),
    /// An expectation was not met.
    #[error("{0}")]
    Expectation(Box<ExpectationFailed>),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// The failed expectation, if this is one.
    pub fn expectation(&self) -> Option<&ExpectationFailed> {
        match self {
            Error::Expectation(failed) => Some(failed),
            _ => None,
        }
    }
}

/// The testkit's result; `Result` (no arguments) is what a test returns.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;
