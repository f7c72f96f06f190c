//! [`Signal`]: what a monitor or a link puts in an actor's mailbox beside
//! its messages.
//!
//! Signals travel in the mailbox, so they keep their order with the
//! messages sent before them, but past its capacity: a down is never
//! refused for want of room (there is one per monitor at most, so the
//! overshoot is bounded by the monitors and links the actor holds). The
//! loop checks each against the actor's records before calling its hook,
//! so a down of a monitor demonitored meanwhile, or one left over from an
//! earlier incarnation, is dropped.

use super::link::LinkExit;
use super::monitor::Down;

/// A down or a trapped link exit, on its way to the actor's hook.
pub(crate) enum Signal {
    /// For `Actor::handle_down`.
    Down(Down),
    /// For `Actor::handle_link_exit`.
    Exit(LinkExit),
}
