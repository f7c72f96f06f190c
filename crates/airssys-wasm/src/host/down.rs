//! [`ComponentDown`]: what a monitor of a component reports, and the
//! exit a component that traps exits receives from a linked one, apart
//! from the monitors and links themselves (`monitor.rs`, `link.rs`), so
//! that the messages a component's actor takes can carry them without
//! importing the machinery that makes them.

use airssys_rt::supervisor::ExitReason;
use airssys_rt::LinkExit;
use bytes::Bytes;

use crate::codec;
use crate::guest::links::ExitNotice;
use crate::guest::monitors::DownNotice;
use crate::id::ComponentId;

/// A monitored component's incarnation ended (or there was no such
/// component): what [`ComponentMonitor`](super::ComponentMonitor) resolves with, and what a
/// monitoring component's guest receives, encoded as a
/// [`DownNotice`] under subject [`DOWN_SUBJECT`](crate::DOWN_SUBJECT).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentDown {
    /// The monitor's id (the one the guest's `monitor` returned; unique in
    /// the process).
    pub monitor: u64,
    /// The monitored component.
    pub component: ComponentId,
    /// Why its incarnation ended; [`ExitReason::NoProc`] when no such
    /// component ran when the monitor was made.
    pub reason: ExitReason,
}

impl ComponentDown {
    /// The guest-facing form: the reason's stable label and its text.
    pub fn notice(&self) -> DownNotice {
        DownNotice {
            monitor: self.monitor,
            component: self.component.as_str().to_owned(),
            reason: self.reason.label().to_owned(),
            detail: detail(&self.reason),
        }
    }

    /// The notice as multicodec JSON (the payload a guest receives).
    /// Allocates once.
    pub fn payload(&self) -> Bytes {
        match codec::encode_json(&self.notice()) {
            Ok(bytes) => Bytes::from(bytes),
            // A struct of strings and a number always serializes; logged
            // rather than unwrapped all the same.
            Err(error) => {
                tracing::error!(component = %self.component, %error, "down notice not encoded");
                Bytes::new()
            }
        }
    }
}

/// The text of an exit reason a guest sees beside its label (a down's or
/// a linked exit's `detail`): the cause of a failure, what a linked peer
/// ended with; empty otherwise.
pub(crate) fn detail(reason: &ExitReason) -> String {
    match reason {
        ExitReason::Failed(cause) => cause.to_string(),
        ExitReason::Escalated(why) => why.clone(),
        ExitReason::Linked { reason, .. } => reason.to_string(),
        _ => String::new(),
    }
}

/// The guest-facing form of a linked component's end: the peer by its
/// component id (the name its actor was spawned with), the reason's
/// stable label and its text, as multicodec JSON. Allocates the notice
/// and its encoding once.
pub(crate) fn exit_payload(exit: &LinkExit) -> Bytes {
    let component = exit
        .peer_name
        .as_deref()
        .map_or_else(|| exit.peer.to_string(), str::to_owned);
    let notice = ExitNotice {
        component,
        reason: exit.reason.label().to_owned(),
        detail: detail(&exit.reason),
    };
    match codec::encode_json(&notice) {
        Ok(bytes) => Bytes::from(bytes),
        // A struct of strings always serializes; logged rather than
        // unwrapped all the same.
        Err(error) => {
            tracing::error!(component = %notice.component, %error, "exit notice not encoded");
            Bytes::new()
        }
    }
}
