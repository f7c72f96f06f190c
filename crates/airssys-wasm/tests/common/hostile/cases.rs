//! The hostile-guest cases both guest forms have, each written once:
//! `tests/hostile.rs` runs them with [`Form::Core`](super::Form::Core),
//! and `tests/hostile_components.rs` with
//! [`Form::Component`](super::Form::Component). Each case takes
//! [`SERIAL`](super::SERIAL) itself and checks the four things of the
//! catalogue (`super`'s module doc), so a test is one call.

mod calls;
mod fatal;
mod oversized;
mod storm;

// Called by the two catalogue files only; the other test binaries that
// include `common` leave these unused.
#[allow(unused_imports)]
pub use self::{
    calls::{forbidden_calls, reply_spam, request_cycle, request_to_itself},
    fatal::{abi_violation, health_that_never_returns, infinite_loop, memory_bomb, stack_overflow},
    oversized::{oversized_in, oversized_out},
    storm::trap_storm,
};
