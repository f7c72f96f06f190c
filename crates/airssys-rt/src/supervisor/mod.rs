//! Supervision: OTP-style supervisors that start, watch and restart children.
//!
//! The semantics are written down in `docs/supervision.md`.

mod child;

pub use child::{Child, ChildError, ChildHealth, ExitReason, ExitSignal};
