//! The two forms a hostile guest comes in, and what the shared cases
//! (`cases`) need to know about each: where its fixtures live and how its
//! replies spell numbers and refused host calls.

use airssys_wasm::{codes, ComponentSpec};

use super::{code, word};
use crate::common::{component_fixture, fixture};

/// The form of a guest: the same attack, fixture name and assertions for
/// both, with the fixture taken from the form's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A core module of the airssys ABI (`tests/fixtures/<name>.wat`).
    /// Its fixtures answer numbers and host-call results as i32 LE, the
    /// latter the codes of `airssys_wasm::codes`.
    Core,
    /// A component of the `airssys:component` world
    /// (`tests/fixtures/components/<name>.wat`). Its fixtures answer
    /// numbers as u32 LE, and a failed host call as its host-error case
    /// + 100.
    Component,
}

/// A host call the host refused, as a shared case expects a fixture to
/// report it ([`Form::refused`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The payload is over the caller's `max_message_bytes`.
    TooLarge,
    /// A request got no reply in time.
    Timeout,
    /// The allow-list does not permit the target or subject.
    Denied,
}

impl Form {
    /// A spec of fixture `fixture_name` of this form, with id `id`.
    pub fn spec(self, id: &str, fixture_name: &str) -> ComponentSpec {
        match self {
            Form::Core => ComponentSpec::new(id, fixture(fixture_name).into_bytes()),
            Form::Component => ComponentSpec::new(id, component_fixture(fixture_name)),
        }
    }

    /// The healthy neighbour: the echo guest of this form, id "neighbour".
    pub fn neighbour(self) -> ComponentSpec {
        self.spec("neighbour", "echo")
    }

    /// The number a fixture wrote at byte `at` of its reply: an i32 LE for
    /// a core module, a u32 LE for a component.
    pub fn number(self, reply: &[u8], at: usize) -> i64 {
        match self {
            Form::Core => i64::from(code(reply, at)),
            Form::Component => i64::from(word(reply, at)),
        }
    }

    /// What a fixture of this form answers ([`Form::number`]) for a host
    /// call refused with `refusal`.
    pub fn refused(self, refusal: Refusal) -> i64 {
        let core = match refusal {
            Refusal::TooLarge => codes::TOO_LARGE,
            Refusal::Timeout => codes::TIMEOUT,
            Refusal::Denied => codes::DENIED,
        };
        let component_case = match refusal {
            Refusal::TooLarge => 2,
            Refusal::Timeout => 3,
            Refusal::Denied => 4,
        };
        match self {
            Form::Core => i64::from(core),
            Form::Component => component_case + 100,
        }
    }

    /// Whether `handle-message` can return its reply (a component) beside
    /// sending it through the `reply` import (both forms).
    pub fn returns_replies(self) -> bool {
        self == Form::Component
    }
}
