//! Errors: what a host call can return ([`HostError`]) and how a guest
//! reports a failure to the host ([`Failure`]).

use std::fmt;

/// Why a host call failed: the return codes of `docs/core-abi.md`
/// ("Error codes"), plus [`HostError::ReplyTruncated`], which the SDK
/// itself detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// `-1`: the component's allow-list does not permit this target or
    /// subject (`send`/`request` targets, `publish` subjects in its spec).
    Denied,
    /// `-2`: no component with that id, or it has stopped for good.
    NoSuchTarget,
    /// `-3`: the target's mailbox is full; `send` never waits (retry later
    /// or use [`request`](crate::request), which waits for the reply).
    MailboxFull,
    /// `-4`: the payload is over `max_message_bytes` (the sender's or the
    /// target's).
    TooLarge,
    /// `-5`: no reply within the request timeout.
    Timeout,
    /// `-6`: a bad pointer or length, text that is not UTF-8, or an invalid
    /// subject (empty token, or a `*`/`>` wildcard in a publish).
    InvalidArgument,
    /// `-7`: `reply` was already called for this message.
    AlreadyReplied,
    /// `-8`: `reply` outside `handle-message`, `health` or `snapshot`.
    NotReplying,
    /// `-9`: the host cannot perform the call now.
    Unavailable,
    /// `-10`: `config_get` found no such key.
    NotFound,
    /// A [`request`](crate::request) reply of `len` bytes did not fit the
    /// reply buffer (the host truncated it). Detected by the SDK, not an ABI
    /// code; [`HostError::code`] maps it to `TOO_LARGE` (`-4`). Use
    /// [`request_with_capacity`](crate::request_with_capacity) for larger
    /// replies.
    ReplyTruncated {
        /// The full length of the reply.
        len: usize,
    },
    /// A code this SDK does not know (a newer host).
    Other(i32),
}

impl HostError {
    /// The error for a negative return code of a host import.
    pub fn from_code(code: i32) -> HostError {
        match code {
            -1 => HostError::Denied,
            -2 => HostError::NoSuchTarget,
            -3 => HostError::MailboxFull,
            -4 => HostError::TooLarge,
            -5 => HostError::Timeout,
            -6 => HostError::InvalidArgument,
            -7 => HostError::AlreadyReplied,
            -8 => HostError::NotReplying,
            -9 => HostError::Unavailable,
            -10 => HostError::NotFound,
            other => HostError::Other(other),
        }
    }

    /// The ABI return code (`-1` ... `-10`); `ReplyTruncated` is `-4`
    /// (`TOO_LARGE`), `Other(c)` is `c`.
    pub fn code(&self) -> i32 {
        match *self {
            HostError::Denied => -1,
            HostError::NoSuchTarget => -2,
            HostError::MailboxFull => -3,
            HostError::TooLarge | HostError::ReplyTruncated { .. } => -4,
            HostError::Timeout => -5,
            HostError::InvalidArgument => -6,
            HostError::AlreadyReplied => -7,
            HostError::NotReplying => -8,
            HostError::Unavailable => -9,
            HostError::NotFound => -10,
            HostError::Other(code) => code,
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HostError::Denied => f.write_str("denied by the allow-list"),
            HostError::NoSuchTarget => f.write_str("no such target"),
            HostError::MailboxFull => f.write_str("the target's mailbox is full"),
            HostError::TooLarge => f.write_str("payload too large"),
            HostError::Timeout => f.write_str("no reply in time"),
            HostError::InvalidArgument => f.write_str("invalid argument"),
            HostError::AlreadyReplied => f.write_str("already replied"),
            HostError::NotReplying => f.write_str("not handling a message"),
            HostError::Unavailable => f.write_str("host unavailable"),
            HostError::NotFound => f.write_str("not found"),
            HostError::ReplyTruncated { len } => {
                write!(f, "reply of {len} bytes did not fit the reply buffer")
            }
            HostError::Other(code) => write!(f, "host error code {code}"),
        }
    }
}

impl std::error::Error for HostError {}

/// A failed `init` or `handle-message`: the non-zero code the export
/// returns to the host.
///
/// The host dead-letters a message whose handler failed (reason
/// `rejected by the guest: ... code N`), and a requester gets an error
/// instead of a reply; the instance stays up. A failed `init` fails the
/// start. `?` on a [`HostError`] inside a handler gives a `Failure` with the
/// host's (negative) code, so `request(...)?` just works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure(i32);

impl Failure {
    /// A failure with `code`; `0` (which would mean success) becomes `1`.
    pub fn new(code: i32) -> Failure {
        Failure(if code == 0 { 1 } else { code })
    }

    /// The code the export returns (never `0`).
    pub fn code(&self) -> i32 {
        self.0
    }
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Failure {
        Failure::new(e.code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed with code {}", self.0)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_abi_code_maps_to_its_error_and_back() {
        for code in -10..=-1 {
            let e = HostError::from_code(code);
            assert!(!matches!(e, HostError::Other(_)), "{code}");
            assert_eq!(e.code(), code);
        }
        assert_eq!(HostError::from_code(-42), HostError::Other(-42));
    }

    #[test]
    fn a_failure_never_has_the_success_code() {
        assert_eq!(Failure::new(0).code(), 1);
        assert_eq!(Failure::from(HostError::Denied).code(), -1);
    }
}
