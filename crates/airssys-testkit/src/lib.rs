//! Test airssys components in ten lines.
//!
//! A [`TestHost`] is a real in-process [`ComponentHost`](airssys_wasm::ComponentHost)
//! (not a mock of it) whose broker records every publish and dead letter and
//! whose supervision events are recorded. A test spawns guests of either
//! form — core modules (WAT or binary) and Component Model components —
//! from bytes or a file ([`spec_from_file`]), or a component from a core
//! module built against the world's canonical ABI
//! ([`component_from_module`]), with their config, limits and allow-lists,
//! drives them ([`send`](TestHost::send),
//! [`request`](TestHost::request), [`publish`](TestHost::publish)), injects
//! faults ([`crash`](TestHost::crash), [`fail_health`](TestHost::fail_health)),
//! and waits for what they do:
//!
//! | expectation | waits for |
//! |---|---|
//! | [`expect_published`](TestHost::expect_published)`(pattern)` | a publish on a matching subject |
//! | [`expect_reply`](TestHost::expect_reply)`(id, payload)` | the reply to a request |
//! | [`expect_sent_to`](TestHost::expect_sent_to)`(id)` | a message reaching the [`Probe`] under `id` |
//! | [`expect_dead_letter`](TestHost::expect_dead_letter)`(reason)` | a dead letter with that reason |
//! | [`expect_restart`](TestHost::expect_restart)`(id)` | a restart by the supervisor |
//! | [`expect_health`](TestHost::expect_health)`(id, health)` | the guest reporting that health |
//! | [`expect_counters`](TestHost::expect_counters)`(id, counters)` | handled / failed / restarts |
//! | [`expect_ledger_balanced`](TestHost::expect_ledger_balanced)`()` | every message handled or dead-lettered |
//!
//! Each waits up to the test host's timeout (default 5 s of tokio's clock)
//! and returns what it saw. On failure it returns [`Error::Expectation`],
//! whose text — `Debug` as well as `Display`, so a test returning
//! [`Result`] prints it readably — says what was expected and lists the
//! recorded traffic. Expectations return errors rather than panic so that a
//! test can also check a failure; in a test, `?` is the assertion.
//!
//! ```
//! use airssys_testkit::TestHost;
//! use airssys_wasm::{ComponentSpec, Permissions, SubjectPattern};
//!
//! const ANNOUNCER: &str = r#"(module
//!   (import "airssys" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
//!   (memory (export "memory") 1)
//!   (data (i32.const 0) "greetings.out")
//!   (func (export "alloc") (param i32) (result i32) i32.const 1024)
//!   (func (export "handle-message") (param $m i32) (param $len i32) (result i32)
//!     ;; republish the payload (at m + 24 + sender_len + subject_len)
//!     (drop (call $publish (i32.const 0) (i32.const 13)
//!       (i32.add (i32.add (i32.add (local.get $m) (i32.const 24))
//!         (i32.load offset=4 (local.get $m))) (i32.load offset=8 (local.get $m)))
//!       (i32.load offset=12 (local.get $m))))
//!     i32.const 0))"#;
//!
//! // In a test file: #[tokio::test(start_paused = true)]
//! //                  async fn the_announcer_republishes_what_it_hears() -> airssys_testkit::Result {
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> airssys_testkit::Result {
//! let t = TestHost::new()?;
//! let may_publish = Permissions::deny_all().allow_subject(SubjectPattern::new("greetings.*")?);
//! t.spawn(ComponentSpec::new("announcer", ANNOUNCER.as_bytes()).subscribe("greetings.in").permissions(may_publish))
//!     .await?;
//! t.publish("greetings.in", "hello")?;
//! let out = t.expect_published("greetings.out").await?;
//! assert_eq!((out.sender.as_deref(), &out.payload[..]), (Some("announcer"), &b"hello"[..]));
//! t.expect_ledger_balanced().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # A paused clock
//!
//! With `#[tokio::test(start_paused = true)]` (tokio's `test-util`
//! feature) the test runs on a current-thread runtime whose clock advances
//! only when every task is idle, straight to the next timer. Expectation
//! timeouts, restart backoff, health-check intervals, request timeouts and
//! the guests' `now_ms` all use that clock, so a test of a 10 s health
//! interval or a 30 s backoff finishes at once, and the recorded times
//! ([`Recorded::at`]) are virtual. One exception: a guest's execution-time
//! limit is enforced by wasmtime's epoch ticker, a real OS thread, so it
//! counts wall-clock time whatever tokio's clock does.
//!
//! See `docs/testing.md` for the patterns step by step.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod broker;
mod error;
mod expect;
mod host;
mod ledger;
mod nats_server;
mod pki;
mod probe;
mod record;

use std::path::Path;

use airssys_wasm::ComponentSpec;

pub use broker::RecordingBroker;
pub use error::{Error, ExpectationFailed, Result};
pub use expect::Counters;
pub use host::{TestHost, TestHostBuilder, DEFAULT_MAX_COMPONENTS, DEFAULT_TIMEOUT};
pub use ledger::{Ledger, LedgerRow};
pub use nats_server::{NatsServer, NatsServerError};
pub use pki::{PkiError, TestPki};
pub use probe::Probe;
pub use record::{DeadLetter, Event, Published, Recorded, Restart, Sent, Traffic};

/// A [`ComponentSpec`] for component `id` from a file: WAT text, a binary
/// core module or a Component Model component (`.wasm`, e.g. from
/// `cargo component build` or `airssys componentize`); the host tells them
/// apart. Add config, limits, allow-lists and subscriptions with the spec's
/// builder methods.
///
/// Relative paths are relative to the test's working directory, which
/// `cargo test` sets to the crate's root (`env!("CARGO_MANIFEST_DIR")`).
///
/// # Errors
/// [`Error::Read`] when the file cannot be read.
pub fn spec_from_file(id: &str, path: impl AsRef<Path>) -> Result<ComponentSpec> {
    let path = path.as_ref();
    let binary = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(ComponentSpec::new(id, binary))
}

/// A [`ComponentSpec`] for component `id` whose guest is `module` (a core
/// module, binary or WAT text, whose imports and exports follow the
/// canonical ABI of the `airssys:component` world) made a component of
/// that world, as `airssys componentize` makes it. For testing the
/// component form of a guest without a component toolchain; a component
/// built elsewhere goes straight into [`ComponentSpec::new`] or
/// [`spec_from_file`].
///
/// Cost: one wit-component encoding (a few milliseconds for a small
/// module), every call.
///
/// ```
/// use airssys_testkit::{component_from_module, TestHost};
///
/// // handle-message(message) -> result<option<list<u8>>, handler-error>,
/// // lowered: the payload (ptr, len) is the 9th and 10th parameter; the
/// // result goes in a return area (+0 ok, +4 some, +8 ptr, +12 len).
/// const ECHO: &str = r#"(module
///   (memory (export "memory") 1)
///   (global $heap (mut i32) (i32.const 1024))
///   (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
///     (global.get $heap)
///     (global.set $heap (i32.add (global.get $heap) (local.get 3))))
///   (func (export "handle-message")
///     (param i32 i32 i32 i32 i32 i32 i32 i64 i32 i32) (result i32)
///     (i32.store8 (i32.const 16) (i32.const 0))
///     (i32.store8 (i32.const 20) (i32.const 1))
///     (i32.store (i32.const 24) (local.get 8))
///     (i32.store (i32.const 28) (local.get 9))
///     (i32.const 16)))"#;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> airssys_testkit::Result {
/// let t = TestHost::new()?;
/// t.spawn(component_from_module("echo", ECHO)?).await?;
/// assert_eq!(&t.expect_reply("echo", "ping").await?[..], b"ping");
/// t.expect_ledger_balanced().await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`Error::Componentize`] when `module` is not a module or does not fit
/// the world.
pub fn component_from_module(id: &str, module: impl AsRef<[u8]>) -> Result<ComponentSpec> {
    let component = airssys_wasm::wit::componentize(module.as_ref(), None).map_err(|source| {
        Error::Componentize {
            id: id.to_owned(),
            source,
        }
    })?;
    Ok(ComponentSpec::new(id, component))
}
