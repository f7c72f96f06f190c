//! Monitors a guest holds: the `monitor`/`demonitor` host calls' table, and
//! the down notification's subject and payload (`docs/core-abi.md`,
//! "Monitors").
//!
//! A guest's monitors belong to its instance: the table lives in the
//! instance's store, so when the instance ends (stop, crash, restart) every
//! monitor it still holds is removed from its target with it, and a down
//! that was already queued for it is dropped unread. A live upgrade hands
//! the table to the new instance (the component goes on; only its code
//! changed).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The subject of a down notification
/// ([`GuestMessage::subject`](crate::GuestMessage::subject)). Reserved: a
/// guest cannot publish on a subject that starts with `_airssys.`, so a
/// message with this subject always comes from the host.
pub const DOWN_SUBJECT: &str = "_airssys.down";

/// The prefix of every subject the host reserves for itself.
pub const RESERVED_SUBJECT_PREFIX: &str = "_airssys.";

/// The payload of a down notification, JSON with the multicodec JSON prefix
/// (`0x80 0x04`, see [`codec`](crate::codec)), so a guest in any language
/// can read it:
///
/// ```json
/// {"monitor": 7, "component": "worker-1", "reason": "failed", "detail": "wasm trap: unreachable"}
/// ```
///
/// Decode it with [`codec::decode_json`](crate::codec::decode_json):
///
/// ```
/// use airssys_wasm::codec;
/// use airssys_wasm::DownNotice;
///
/// let notice = DownNotice {
///     monitor: 7,
///     component: "worker-1".into(),
///     reason: "shutdown".into(),
///     detail: String::new(),
/// };
/// let bytes = codec::encode_json(&notice).unwrap();
/// assert_eq!(codec::decode_json::<DownNotice>(&bytes).unwrap(), notice);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownNotice {
    /// The id `monitor` returned.
    pub monitor: u64,
    /// The monitored component's id.
    pub component: String,
    /// Why its incarnation ended, a stable label: `normal`, `shutdown`,
    /// `failed` (a trap, a timeout, a memory cap, a restart asked for),
    /// `escalated`, `linked`, `noproc` (no such component when the
    /// monitor was made, or it was gone for good by then), or
    /// `noconnection` (it ran on another host, and that host was lost).
    pub reason: String,
    /// Text for people (the failure's cause); empty when there is none.
    /// Never parse it: match on `reason`.
    pub detail: String,
}

/// One monitor a host made for a guest: the id the guest sees and how to
/// remove it from its target. Made by
/// [`HostServices::monitor`](crate::HostServices::monitor).
pub struct GuestMonitor {
    id: u64,
    cancel: Box<dyn FnOnce() + Send>,
}

impl std::fmt::Debug for GuestMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestMonitor")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl GuestMonitor {
    /// A monitor named `id` (positive, unique in the host), removed from its
    /// target by `cancel` (called at most once: on `demonitor`, or when the
    /// instance that holds it ends).
    pub fn new(id: u64, cancel: impl FnOnce() + Send + 'static) -> Self {
        Self {
            id,
            cancel: Box::new(cancel),
        }
    }

    /// The id the guest sees.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// The monitors one instance holds, by id. Dropping it removes every one
/// of them from its target.
#[derive(Debug, Default)]
pub(crate) struct MonitorTable {
    live: HashMap<u64, GuestMonitor>,
}

impl MonitorTable {
    /// Holds `monitor` until its down is accepted or it is demonitored.
    pub(crate) fn insert(&mut self, monitor: GuestMonitor) {
        self.live.insert(monitor.id, monitor);
    }

    /// Removes monitor `id` from its target. `true` if this instance held
    /// it: no down for it is handed to the guest from now on.
    pub(crate) fn demonitor(&mut self, id: u64) -> bool {
        match self.live.remove(&id) {
            Some(monitor) => {
                (monitor.cancel)();
                true
            }
            None => false,
        }
    }

    /// A down for monitor `id` arrived: `true` if this instance still holds
    /// it (it is forgotten now, its target already let go of it), `false`
    /// if it was demonitored or belongs to an earlier instance.
    pub(crate) fn accept_down(&mut self, id: u64) -> bool {
        self.live.remove(&id).is_some()
    }

    /// Monitors held now.
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }
}

impl Drop for MonitorTable {
    fn drop(&mut self) {
        for (_, monitor) in self.live.drain() {
            (monitor.cancel)();
        }
    }
}
