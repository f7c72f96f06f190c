//! Links a guest makes: the `link`/`unlink` host calls (core ABI revision
//! 3, the WIT world's `messaging.link`/`messaging.unlink`), and the exit
//! notification a component that traps exits receives
//! (`docs/core-abi.md`, "Links").
//!
//! A link joins the running incarnations of two components, both ways,
//! with airssys-rt's semantics (`docs/supervision.md`, "Monitors and
//! links"): an abnormal end of one (a trap, a failure, a restart) ends the
//! other's incarnation too, which its supervisor restarts per its policy,
//! unless the other traps exits (its spec's `trap_exits`); then the end
//! arrives as a message with subject [`EXIT_SUBJECT`] and an
//! [`ExitNotice`] payload. A normal end (a stop) just breaks the link.
//! The link state is the runtime's, kept with the two components' actors:
//! nothing of it lives in the instance's store, and it ends with either
//! incarnation.

use serde::{Deserialize, Serialize};

use crate::guest::store::StoreData;

/// The subject of an exit notification
/// ([`GuestMessage::subject`](crate::GuestMessage::subject)), which a
/// component that traps exits receives when a component linked with it
/// ends. Reserved like every `_airssys.` subject: a guest cannot publish
/// on it, so a message with this subject always comes from the host.
pub const EXIT_SUBJECT: &str = "_airssys.exit";

/// The payload of an exit notification, JSON with the multicodec JSON
/// prefix (`0x80 0x04`, see [`codec`](crate::codec)), as a down's:
///
/// ```json
/// {"component": "worker-1", "reason": "failed", "detail": "wasm trap: unreachable"}
/// ```
///
/// ```
/// use airssys_wasm::{codec, ExitNotice};
///
/// let notice = ExitNotice {
///     component: "worker-1".into(),
///     reason: "normal".into(),
///     detail: String::new(),
/// };
/// let bytes = codec::encode_json(&notice).unwrap();
/// assert_eq!(codec::decode_json::<ExitNotice>(&bytes).unwrap(), notice);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitNotice {
    /// The linked component that ended.
    pub component: String,
    /// Why its incarnation ended, a stable label: `normal`, `shutdown`,
    /// `failed` (a trap, a timeout, a memory cap, a restart asked for),
    /// `escalated`, `linked` (it was stopped by a link of its own), or
    /// `noproc` (linked between two of its incarnations, and none came).
    pub reason: String,
    /// Text for people (the failure's cause); empty when there is none.
    /// Never parse it: match on `reason`.
    pub detail: String,
}

impl StoreData {
    /// `link`: the `send` allow-list (a component may link with what it
    /// may address; refused and counted otherwise), then the host.
    pub(crate) fn link(&self, target: &str) -> Result<(), i32> {
        if !self.permissions.may_send(target) {
            return Err(self.deny("link", target));
        }
        self.host
            .link(&self.component, target)
            .map_err(|e| e.code())
    }

    /// `unlink`: `true` if this component was linked with `target`; no
    /// exit of it reaches this component any more, even one already
    /// queued. Not checked against the allow-list: it only takes away, and
    /// the link may have been made by the other side.
    pub(crate) fn unlink(&self, target: &str) -> Result<bool, i32> {
        self.host
            .unlink(&self.component, target)
            .map_err(|e| e.code())
    }
}
