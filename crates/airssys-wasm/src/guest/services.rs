//! [`HostServices`]: what the component host provides behind a guest's
//! imports, with the return [`codes`] and [`HostCallError`] those imports
//! report in either guest form. The ABI (signatures, return codes) is
//! specified in `docs/core-abi.md`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use crate::guest::monitors::GuestMonitor;
use crate::id::ComponentId;

/// Return codes of the host imports (negative; `>= 0` means success).
pub mod codes {
    /// Success.
    pub const OK: i32 = 0;
    /// The allow-list does not permit this target or subject.
    pub const DENIED: i32 = -1;
    /// No component with that id.
    pub const NO_SUCH_TARGET: i32 = -2;
    /// The target's mailbox is full.
    pub const MAILBOX_FULL: i32 = -3;
    /// The payload exceeds the component's `max_message_bytes`.
    pub const TOO_LARGE: i32 = -4;
    /// A `request` got no reply in time.
    pub const TIMEOUT: i32 = -5;
    /// A pointer/length is out of bounds, a string is not UTF-8, or a subject
    /// is not a valid concrete subject.
    pub const INVALID_ARGUMENT: i32 = -6;
    /// `reply` called twice for the same message.
    pub const ALREADY_REPLIED: i32 = -7;
    /// `reply` called outside `handle-message`/`health`.
    pub const NOT_REPLYING: i32 = -8;
    /// The host could not perform the call (shutting down, broker error).
    pub const UNAVAILABLE: i32 = -9;
    /// `config_get`: the component's configuration has no such key.
    pub const NOT_FOUND: i32 = -10;
}

/// Why a [`HostServices`] call failed; mapped to a return code for the guest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostCallError {
    /// No component with that id ([`codes::NO_SUCH_TARGET`]).
    #[error("no such target")]
    NoSuchTarget,
    /// The target's mailbox is full ([`codes::MAILBOX_FULL`]).
    #[error("mailbox full")]
    MailboxFull,
    /// The payload is too large for the target or transport ([`codes::TOO_LARGE`]).
    #[error("payload too large")]
    TooLarge,
    /// No reply in time ([`codes::TIMEOUT`]).
    #[error("timed out")]
    Timeout,
    /// Refused by a host-side policy ([`codes::DENIED`]).
    #[error("denied")]
    Denied,
    /// Any other failure ([`codes::UNAVAILABLE`]).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl HostCallError {
    /// The code the guest sees.
    pub fn code(&self) -> i32 {
        match self {
            HostCallError::NoSuchTarget => codes::NO_SUCH_TARGET,
            HostCallError::MailboxFull => codes::MAILBOX_FULL,
            HostCallError::TooLarge => codes::TOO_LARGE,
            HostCallError::Timeout => codes::TIMEOUT,
            HostCallError::Denied => codes::DENIED,
            HostCallError::Unavailable(_) => codes::UNAVAILABLE,
        }
    }
}

/// A boxed `Send` future, the return type of [`HostServices::request`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What guests reach through their host imports; implemented by the
/// component host (routing to actors and the broker) and by test fakes.
///
/// Called only after the allow-lists and size limits passed. `send` and
/// `publish` run on the guest's call stack and must not block (use
/// `try_send`-style operations). `request` returns a future the guest is
/// suspended on; this layer applies the timeout (with `tokio::time`, so the
/// runtime needs its time driver enabled), so the future may wait
/// indefinitely.
pub trait HostServices: Send + Sync + 'static {
    /// Delivers `payload` from `from` to component `to`.
    fn send(&self, from: &ComponentId, to: &str, payload: Bytes) -> Result<(), HostCallError>;
    /// Publishes `payload` on `subject` (a concrete subject, no wildcards).
    fn publish(
        &self,
        from: &ComponentId,
        subject: &str,
        payload: Bytes,
    ) -> Result<(), HostCallError>;
    /// Sends a request to `to` and resolves with its reply, or with
    /// [`HostCallError::Timeout`] once `timeout` has passed: the
    /// implementation owns the request's one timer (the guest's import
    /// sets none of its own).
    fn request(
        &self,
        from: &ComponentId,
        to: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, HostCallError>>;

    /// Links component `from` with component `target`, both ways (the
    /// allow-list passed): an abnormal end of either incarnation ends the
    /// other's, unless it traps exits (then it gets an
    /// [`EXIT_SUBJECT`](crate::EXIT_SUBJECT) message). Idempotent. Must not
    /// block.
    ///
    /// The default refuses with `Unavailable` (a host without links).
    ///
    /// # Errors
    /// [`HostCallError::NoSuchTarget`] when no component `target` runs;
    /// [`HostCallError::Unavailable`] when the host cannot link them.
    fn link(&self, from: &ComponentId, target: &str) -> Result<(), HostCallError> {
        let _ = (from, target);
        Err(HostCallError::Unavailable("links are not supported".into()))
    }

    /// Breaks the link between `from` and `target`: `true` if there was
    /// one. Once it returns no exit of either reaches the other over it,
    /// even one already queued. Must not block.
    ///
    /// The default answers `false` (a host without links has none).
    ///
    /// # Errors
    /// Never for the component host; a fake may refuse.
    fn unlink(&self, from: &ComponentId, target: &str) -> Result<bool, HostCallError> {
        let _ = (from, target);
        Ok(false)
    }

    /// Monitors component `target` for `from`: when `target`'s current
    /// incarnation ends, a down notification (subject
    /// [`DOWN_SUBJECT`](crate::DOWN_SUBJECT), a
    /// [`DownNotice`](crate::DownNotice) payload) reaches `from`'s mailbox;
    /// for an id no component has, one with reason `noproc` is queued at
    /// once (with a distributed broker, a target another host runs is
    /// monitored there). Must not block.
    ///
    /// The default refuses with `Unavailable` (a host without monitors).
    ///
    /// # Errors
    /// [`HostCallError::Unavailable`] when the host cannot monitor `target`.
    fn monitor(&self, from: &ComponentId, target: &str) -> Result<GuestMonitor, HostCallError> {
        let _ = (from, target);
        Err(HostCallError::Unavailable(
            "monitors are not supported".into(),
        ))
    }

    /// Subscribes component `from` to topic pattern `pattern` (valid, and
    /// inside one of its grants: checked before this is called) for the
    /// rest of the component's life, across restarts of its instances:
    /// messages published on matching subjects reach its mailbox. A
    /// pattern it has already is a no-op. Must not block.
    ///
    /// The default refuses with `Unavailable` (a host without topics).
    ///
    /// # Errors
    /// [`HostCallError::Unavailable`] when the host cannot subscribe it.
    fn subscribe(&self, from: &ComponentId, pattern: &str) -> Result<(), HostCallError> {
        let _ = (from, pattern);
        Err(HostCallError::Unavailable(
            "subscriptions are not supported".into(),
        ))
    }

    /// Ends component `from`'s subscription to exactly `pattern`; resolves
    /// with whether it had one, once the topic has let go of it: what was
    /// published before is in its mailbox (or dead-lettered), nothing
    /// published after reaches it.
    ///
    /// The default refuses with `Unavailable` (a host without topics).
    fn unsubscribe(
        &self,
        from: &ComponentId,
        pattern: &str,
    ) -> BoxFuture<Result<bool, HostCallError>> {
        let _ = (from, pattern);
        Box::pin(async {
            Err(HostCallError::Unavailable(
                "subscriptions are not supported".into(),
            ))
        })
    }
}

/// A `HostServices` that refuses everything with `Unavailable` (guests that
/// only compute).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHostServices;

impl HostServices for NoHostServices {
    fn send(&self, _: &ComponentId, _: &str, _: Bytes) -> Result<(), HostCallError> {
        Err(HostCallError::Unavailable("no host services".into()))
    }
    fn publish(&self, _: &ComponentId, _: &str, _: Bytes) -> Result<(), HostCallError> {
        Err(HostCallError::Unavailable("no host services".into()))
    }
    fn request(
        &self,
        _: &ComponentId,
        _: &str,
        _: Bytes,
        _: Duration,
    ) -> BoxFuture<Result<Bytes, HostCallError>> {
        Box::pin(async { Err(HostCallError::Unavailable("no host services".into())) })
    }
}
