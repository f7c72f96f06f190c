//! Safe wrappers over the host imports of module `airssys`
//! (`docs/core-abi.md`, "Host imports"). Each returns a typed
//! [`HostError`] where the import returns a negative code.
//!
//! Only on `wasm32`: elsewhere there is no host to call.

use std::time::Duration;

use crate::error::HostError;

/// Reply buffer size of [`request`]: 64 KiB.
pub const DEFAULT_REPLY_CAPACITY: usize = 64 * 1024;

/// The raw imports, as `docs/core-abi.md` declares them.
mod sys {
    #[link(wasm_import_module = "airssys")]
    extern "C" {
        pub fn send(target_ptr: i32, target_len: i32, payload_ptr: i32, payload_len: i32) -> i32;
        pub fn publish(
            subject_ptr: i32,
            subject_len: i32,
            payload_ptr: i32,
            payload_len: i32,
        ) -> i32;
        pub fn request(
            target_ptr: i32,
            target_len: i32,
            payload_ptr: i32,
            payload_len: i32,
            timeout_ms: i32,
            reply_ptr: i32,
            reply_cap: i32,
        ) -> i32;
        pub fn reply(ptr: i32, len: i32) -> i32;
        pub fn log(level: i32, ptr: i32, len: i32);
        pub fn self_id(buf_ptr: i32, buf_cap: i32) -> i32;
        pub fn now_ms() -> i64;
        pub fn now_nanos() -> i64;
        pub fn config_get(key_ptr: i32, key_len: i32, buf_ptr: i32, buf_cap: i32) -> i32;
    }
}

/// A pointer into linear memory as the ABI's `i32` (wasm32 pointers are 32
/// bits).
fn ptr(bytes: &[u8]) -> i32 {
    bytes.as_ptr() as usize as i32
}

/// A length as the ABI's `i32`; lengths past `i32::MAX` become `-1`, which
/// the host refuses with `INVALID_ARGUMENT`.
fn len(bytes: &[u8]) -> i32 {
    i32::try_from(bytes.len()).unwrap_or(-1)
}

fn status(code: i32) -> Result<(), HostError> {
    if code < 0 {
        Err(HostError::from_code(code))
    } else {
        Ok(())
    }
}

/// Sends `payload` to component `target` (fire-and-forget).
///
/// Never waits: the message is in the target's mailbox when this returns
/// `Ok`, and will be handled or dead-lettered, never dropped.
///
/// # Errors
/// [`HostError::Denied`] unless `target` is in the component's `send`
/// allow-list; [`HostError::NoSuchTarget`], [`HostError::MailboxFull`],
/// [`HostError::TooLarge`].
pub fn send(target: &str, payload: &[u8]) -> Result<(), HostError> {
    let t = target.as_bytes();
    // SAFETY: both ranges are live borrows; the host only reads them.
    status(unsafe { sys::send(ptr(t), len(t), ptr(payload), len(payload)) })
}

/// Publishes `payload` on `subject`, a concrete NATS-style subject
/// (`alerts.kitchen`: dot-separated, no `*`/`>`).
///
/// # Errors
/// [`HostError::Denied`] unless a `publish` pattern of the component
/// matches; [`HostError::InvalidArgument`] for an invalid subject;
/// [`HostError::TooLarge`].
pub fn publish(subject: &str, payload: &[u8]) -> Result<(), HostError> {
    let s = subject.as_bytes();
    // SAFETY: both ranges are live borrows; the host only reads them.
    status(unsafe { sys::publish(ptr(s), len(s), ptr(payload), len(payload)) })
}

/// Sends a request to `target` and returns its reply; replies up to
/// [`DEFAULT_REPLY_CAPACITY`] bytes.
///
/// The guest is suspended until the reply comes (the host's thread runs
/// other components meanwhile; the wait does not count against the
/// execution time limit). `timeout` is clamped to the component's
/// `max_request_timeout` (default 5 s); `Duration::ZERO` means that
/// maximum. Allocates the reply buffer once per call.
///
/// # Errors
/// As [`send`], plus [`HostError::Timeout`], [`HostError::Unavailable`]
/// (the target failed to handle it), [`HostError::ReplyTruncated`].
pub fn request(target: &str, payload: &[u8], timeout: Duration) -> Result<Vec<u8>, HostError> {
    request_with_capacity(target, payload, timeout, DEFAULT_REPLY_CAPACITY)
}

/// As [`request`], with a reply buffer of `capacity` bytes.
///
/// # Errors
/// As [`request`]; [`HostError::ReplyTruncated`] with the reply's full
/// length if it is longer than `capacity` (the request was handled; its
/// reply is lost).
pub fn request_with_capacity(
    target: &str,
    payload: &[u8],
    timeout: Duration,
    capacity: usize,
) -> Result<Vec<u8>, HostError> {
    let t = target.as_bytes();
    let mut reply: Vec<u8> = Vec::with_capacity(capacity);
    let cap = i32::try_from(capacity).unwrap_or(i32::MAX);
    // SAFETY: the host reads `target` and `payload` and writes at most `cap`
    // bytes at the reply buffer, which has that capacity.
    let n = unsafe {
        sys::request(
            ptr(t),
            len(t),
            ptr(payload),
            len(payload),
            timeout_ms(timeout),
            reply.as_mut_ptr() as usize as i32,
            cap,
        )
    };
    if n < 0 {
        return Err(HostError::from_code(n));
    }
    let n = n as usize;
    if n > capacity {
        return Err(HostError::ReplyTruncated { len: n });
    }
    // SAFETY: the host wrote `n <= capacity` bytes into the buffer.
    unsafe { reply.set_len(n) };
    Ok(reply)
}

/// `timeout` in the ABI's milliseconds: 0 only for `Duration::ZERO` (the
/// component's maximum), at least 1 otherwise, at most `i32::MAX`.
fn timeout_ms(timeout: Duration) -> i32 {
    if timeout.is_zero() {
        return 0;
    }
    i32::try_from(timeout.as_millis()).map_or(i32::MAX, |ms| ms.max(1))
}

/// Replies to the message being handled (or gives the reason of a
/// `health` answer). A handler that returns `Ok(Some(bytes))` has this done
/// for it; call it directly only to reply before the handler returns.
///
/// # Errors
/// [`HostError::AlreadyReplied`] on a second call for one message,
/// [`HostError::NotReplying`] outside `handle`/`health`,
/// [`HostError::TooLarge`].
pub fn reply(payload: &[u8]) -> Result<(), HostError> {
    // SAFETY: a live borrow; the host copies it.
    status(unsafe { sys::reply(ptr(payload), len(payload)) })
}

/// Log levels of [`log`], as the host's `tracing` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `0`.
    Trace = 0,
    /// `1`.
    Debug = 1,
    /// `2`.
    Info = 2,
    /// `3`.
    Warn = 3,
    /// `4`.
    Error = 4,
}

/// Logs `message` through the host's `tracing`, with a `component` field
/// (shown with e.g. `RUST_LOG=airssys_wasm=info`).
pub fn log(level: Level, message: &str) {
    let m = message.as_bytes();
    // SAFETY: a live borrow; the host copies it.
    unsafe { sys::log(level as i32, ptr(m), len(m)) }
}

/// Reads a string the host copies with the snprintf convention (returns
/// the full length, copies what fits): one call when it fits 64 bytes, a
/// second with the exact size otherwise.
fn host_string(call: impl Fn(i32, i32) -> i32) -> Result<String, HostError> {
    let mut buf: Vec<u8> = vec![0; 64];
    let n = call(buf.as_mut_ptr() as usize as i32, len(&buf));
    if n < 0 {
        return Err(HostError::from_code(n));
    }
    let n = n as usize;
    if n > buf.len() {
        buf.resize(n, 0);
        let again = call(buf.as_mut_ptr() as usize as i32, len(&buf));
        if again < 0 {
            return Err(HostError::from_code(again));
        }
    }
    buf.truncate(n);
    String::from_utf8(buf).map_err(|_| HostError::InvalidArgument)
}

/// This component's id (`aggregator`, `shipping-1`, ...).
///
/// # Errors
/// [`HostError::Unavailable`] if the host has no memory to write to (never
/// during an export call).
pub fn self_id() -> Result<String, HostError> {
    // SAFETY: the host writes at most `cap` bytes at `buf`, a live buffer.
    host_string(|buf, cap| unsafe { sys::self_id(buf, cap) })
}

/// The value of `key` in the component's configuration (`config = { ... }`
/// in `airssys.toml`, `ComponentSpec::config` in Rust); `Ok(None)` if it has
/// no such key. The values are fixed for the component's life.
///
/// # Errors
/// [`HostError::InvalidArgument`] or [`HostError::Unavailable`]: a host
/// that could not read the key or write the value.
pub fn config_get(key: &str) -> Result<Option<String>, HostError> {
    let k = key.as_bytes();
    // SAFETY: the host reads `key` and writes at most `cap` bytes at `buf`.
    match host_string(|buf, cap| unsafe { sys::config_get(ptr(k), len(k), buf, cap) }) {
        Ok(value) => Ok(Some(value)),
        Err(HostError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Monotonic milliseconds since the host's engine started (tokio's clock:
/// paused in tests that pause it).
pub fn now_ms() -> u64 {
    // SAFETY: no arguments.
    unsafe { sys::now_ms() }.max(0) as u64
}

/// Monotonic nanoseconds since the host's engine started (tokio's clock).
pub fn now_nanos() -> u64 {
    // SAFETY: no arguments.
    unsafe { sys::now_nanos() }.max(0) as u64
}
