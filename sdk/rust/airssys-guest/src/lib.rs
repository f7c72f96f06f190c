//! Write airssys guests in Rust: a [`Component`] trait, an
//! [`export_component!`] macro that emits the core-ABI exports, and safe
//! wrappers over the host imports (`send`, `publish`, `request`, `reply`,
//! `log`, `self_id`, `config_get`, `now_ms`, `now_nanos`).
//!
//! A guest is a `cdylib` for `wasm32-unknown-unknown` (no WASI: the host
//! links only module `airssys` into core modules). It targets the core ABI
//! of `docs/core-abi.md`; `docs/guests.md` says why, and how to build and
//! test a guest.
//!
//! ```ignore
//! use airssys_guest::{export_component, Component, Config, Failure, Message};
//!
//! /// Answers every request with its payload in upper case.
//! struct Shout;
//!
//! impl Component for Shout {
//!     fn init(_config: &Config) -> Result<Self, Failure> {
//!         Ok(Shout)
//!     }
//!
//!     fn handle(&mut self, message: Message<'_>) -> Result<Option<Vec<u8>>, Failure> {
//!         Ok(Some(message.payload().to_ascii_uppercase()))
//!     }
//! }
//!
//! export_component!(Shout);
//! ```
//!
//! (Examples that build and run in CI: `examples/sensors/*.rs` and the
//! guest crate `sdk/rust/template`.)
//!
//! A guest crate depends on it with cargo and builds with
//! `cargo build --release --target wasm32-unknown-unknown`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! airssys-guest = { git = "https://github.com/airssys/airssys" }
//! ```
//!
//! The SDK compiles with Rust 1.63 and later, with `std` (which
//! `wasm32-unknown-unknown` has; its allocator grows the linear memory).
//! On targets other than `wasm32` only [`Message`], [`Health`] and the
//! error types compile, so they can be unit-tested natively.
//!
//! A panic in a guest aborts: the guest traps, the message is dead-lettered
//! as `handler_failed`, and its supervisor restarts it with fresh state.

#![warn(missing_docs)]

mod error;
mod message;
pub mod payload;

#[cfg(target_arch = "wasm32")]
mod host;

pub use crate::error::{Failure, HostError};
pub use crate::message::{Message, MessageError, FLAG_CORRELATION, HEADER_LEN};

#[cfg(target_arch = "wasm32")]
pub use crate::host::{
    config_get, log, now_ms, now_nanos, publish, reply, request, request_with_capacity, self_id,
    send, Level, DEFAULT_REPLY_CAPACITY,
};

/// A guest's answer to a health check: `health` returns `0`, `1` or `2`,
/// and the reason goes to the host with `reply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Working normally.
    Healthy,
    /// Working, but not fully (the host counts it as healthy for restarts).
    Degraded(String),
    /// Not working: repeated unhealthy answers make the supervisor restart
    /// the component (`health = { threshold = N }` in the manifest).
    Unhealthy(String),
}

impl Health {
    /// The status code of the `health` export: `0`, `1` or `2`.
    pub fn code(&self) -> i32 {
        match self {
            Health::Healthy => 0,
            Health::Degraded(_) => 1,
            Health::Unhealthy(_) => 2,
        }
    }

    /// The reason, for `Degraded` and `Unhealthy`.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Health::Healthy => None,
            Health::Degraded(r) | Health::Unhealthy(r) => Some(r),
        }
    }
}

/// The component's configuration, handed to [`Component::init`]: the
/// key-values of its spec (`config = { ... }` in `airssys.toml`).
/// [`config_get`] reads the same values at any time.
#[cfg(target_arch = "wasm32")]
#[derive(Debug)]
pub struct Config {
    _private: (),
}

#[cfg(target_arch = "wasm32")]
impl Config {
    /// The value of `key`, `Ok(None)` if the configuration has no such key.
    ///
    /// # Errors
    /// As [`config_get`].
    pub fn get(&self, key: &str) -> Result<Option<String>, HostError> {
        config_get(key)
    }

    /// The value of `key`, or `default` if the configuration has no such key.
    ///
    /// # Errors
    /// As [`config_get`].
    pub fn get_or(&self, key: &str, default: &str) -> Result<String, HostError> {
        Ok(config_get(key)?.unwrap_or_else(|| default.to_owned()))
    }
}

/// A guest component: its state, made by `init`, and what it does with each
/// message. [`export_component!`] turns an implementation into the core-ABI
/// exports.
///
/// The host calls one export at a time per instance, so `&mut self` is
/// never shared; a [`request`] suspends the guest without re-entering it.
#[cfg(target_arch = "wasm32")]
pub trait Component: Sized + 'static {
    /// Makes the component's state once per instance (after every restart,
    /// too: state is fresh). `Err` fails the start with its code.
    ///
    /// # Errors
    /// A [`Failure`]; `?` on a [`HostError`] gives one.
    fn init(config: &Config) -> Result<Self, Failure>;

    /// Handles one message. `Ok(Some(bytes))` replies with `bytes` (to a
    /// request; for a send or topic message the host drops the reply), `Ok(None)`
    /// does not reply.
    ///
    /// # Errors
    /// A [`Failure`]: the message is dead-lettered (`rejected by the guest`)
    /// and a requester gets an error. The instance stays up; its state is
    /// what the handler left.
    fn handle(&mut self, message: Message<'_>) -> Result<Option<Vec<u8>>, Failure>;

    /// Answers a health check (when the manifest sets `health = {...}`).
    /// Default: healthy.
    fn health(&mut self) -> Health {
        Health::Healthy
    }

    /// Runs once before the instance is dropped (stop, restart, upgrade),
    /// under the host's stop timeout. Default: nothing.
    fn cleanup(&mut self) {}
}

/// Emits the core-ABI exports for a [`Component`] type: `alloc`, `dealloc`,
/// `init`, `handle-message`, `health` and `cleanup` (`memory` is exported
/// by the Rust toolchain). Use it once per guest crate, at the top level.
///
/// ```ignore
/// airssys_guest::export_component!(Aggregator);
/// ```
#[cfg(target_arch = "wasm32")]
#[macro_export]
macro_rules! export_component {
    ($component:ty) => {
        const _: () = {
            ::std::thread_local! {
                static INSTANCE: $crate::__private::Slot<$component> =
                    $crate::__private::Slot::new(::core::option::Option::None);
            }

            #[export_name = "alloc"]
            extern "C" fn __airssys_alloc(len: i32) -> i32 {
                $crate::__private::alloc(len)
            }

            #[export_name = "dealloc"]
            extern "C" fn __airssys_dealloc(ptr: i32, len: i32) {
                $crate::__private::dealloc(ptr, len)
            }

            #[export_name = "init"]
            extern "C" fn __airssys_init() -> i32 {
                $crate::__private::init::<$component>(&INSTANCE)
            }

            #[export_name = "handle-message"]
            extern "C" fn __airssys_handle_message(ptr: i32, len: i32) -> i32 {
                $crate::__private::handle::<$component>(&INSTANCE, ptr, len)
            }

            #[export_name = "health"]
            extern "C" fn __airssys_health() -> i32 {
                $crate::__private::health::<$component>(&INSTANCE)
            }

            #[export_name = "cleanup"]
            extern "C" fn __airssys_cleanup() {
                $crate::__private::cleanup::<$component>(&INSTANCE)
            }
        };
    };
}

/// What [`export_component!`] expands to calls; not a public API.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private {
    use std::alloc::Layout;
    use std::thread::LocalKey;

    use crate::{reply, Component, Config, Health, HostError, Message};

    /// Where the instance's state lives (a `thread_local!`: wasm32 has one
    /// thread).
    pub type Slot<T> = std::cell::RefCell<Option<T>>;

    /// Message buffers are 8-aligned so the header could be read in place.
    const ALIGN: usize = 8;

    fn layout(len: i32) -> Option<Layout> {
        let len = usize::try_from(len).ok().filter(|n| *n > 0)?;
        Layout::from_size_align(len, ALIGN).ok()
    }

    /// `alloc(len) -> ptr`: `len` bytes from the Rust allocator, `0` on
    /// failure (which the host reports as an ABI violation).
    pub fn alloc(len: i32) -> i32 {
        match layout(len) {
            // SAFETY: the layout has a non-zero size.
            Some(l) => unsafe { std::alloc::alloc(l) as usize as i32 },
            None => 0,
        }
    }

    /// `dealloc(ptr, len)`: frees a buffer `alloc(len)` returned.
    pub fn dealloc(ptr: i32, len: i32) {
        if let (Some(l), true) = (layout(len), ptr != 0) {
            // SAFETY: the ABI has the host pass back only a pointer `alloc`
            // returned, with the length it asked for: the same layout.
            unsafe { std::alloc::dealloc(ptr as usize as *mut u8, l) }
        }
    }

    /// `init() -> i32`.
    pub fn init<T: Component>(slot: &'static LocalKey<Slot<T>>) -> i32 {
        match T::init(&Config { _private: () }) {
            Ok(component) => {
                slot.with(|s| *s.borrow_mut() = Some(component));
                0
            }
            Err(failure) => failure.code(),
        }
    }

    /// `handle-message(ptr, len) -> i32`.
    pub fn handle<T: Component>(slot: &'static LocalKey<Slot<T>>, ptr: i32, len: i32) -> i32 {
        let len = match usize::try_from(len) {
            Ok(len) => len,
            Err(_) => return HostError::InvalidArgument.code(),
        };
        // SAFETY: the host wrote `len` bytes at `ptr`, in the buffer `alloc`
        // gave it, and does not touch them until this call returns.
        let bytes = unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len) };
        let message = match Message::parse(bytes) {
            Ok(m) => m,
            Err(_) => return HostError::InvalidArgument.code(),
        };
        slot.with(|s| {
            // Never borrowed twice: the host calls one export at a time.
            let mut s = s.borrow_mut();
            let component = match s.as_mut() {
                Some(c) => c,
                // Only if `init` failed, and then the host delivers nothing.
                None => return HostError::Unavailable.code(),
            };
            match component.handle(message) {
                Ok(None) => 0,
                Ok(Some(bytes)) => match reply(&bytes) {
                    Ok(()) => 0,
                    Err(e) => e.code(),
                },
                Err(failure) => failure.code(),
            }
        })
    }

    /// `health() -> i32`; the reason goes with `reply`.
    pub fn health<T: Component>(slot: &'static LocalKey<Slot<T>>) -> i32 {
        let health = slot.with(|s| match s.borrow_mut().as_mut() {
            Some(c) => c.health(),
            None => Health::Unhealthy("not initialised".to_owned()),
        });
        if let Some(reason) = health.reason() {
            // The status is the answer; the reason only explains it, and
            // the one way `reply` fails here (over max_message_bytes)
            // leaves the status intact.
            let _ = reply(reason.as_bytes());
        }
        health.code()
    }

    /// `cleanup()`: runs `Component::cleanup` and drops the state.
    pub fn cleanup<T: Component>(slot: &'static LocalKey<Slot<T>>) {
        if let Some(mut component) = slot.with(|s| s.borrow_mut().take()) {
            component.cleanup();
        }
    }
}
