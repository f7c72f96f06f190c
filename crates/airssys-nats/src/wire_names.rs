//! [`WireNames`]: the wire subjects of recently published airssys
//! subjects, already validated, so that a host sending to the same
//! component (or topic) again and again checks and builds
//! `<prefix>.<subject>` once, not per message.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use std::sync::Mutex;

use async_nats::Subject;

/// Number of slots: a direct-mapped cache, one entry per slot.
const SLOTS: usize = 64;

/// One slot: an airssys subject and its wire subject.
type Slot = Option<(Box<str>, Subject)>;

/// A small direct-mapped cache from an airssys subject to its validated
/// wire [`Subject`]. A miss costs what the uncached path costs plus one
/// insert; a hit is one hash (foldhash: a few nanoseconds for a subject,
/// and a slot's worth of collisions is harmless), one short lock and one
/// reference count.
pub(crate) struct WireNames {
    hasher: RandomState,
    slots: Mutex<Vec<Slot>>,
}

impl WireNames {
    pub(crate) fn new() -> Self {
        Self {
            hasher: RandomState::default(),
            slots: Mutex::new(vec![None; SLOTS]),
        }
    }

    /// The wire subject of `subject`: the cached one, or `make`'s (cached
    /// if it succeeds).
    ///
    /// # Errors
    /// `make`'s error (nothing is cached then).
    pub(crate) fn get_or_make<E>(
        &self,
        subject: &str,
        make: impl FnOnce() -> Result<Subject, E>,
    ) -> Result<Subject, E> {
        // Unique reply inboxes would only evict useful entries.
        let cacheable = !subject.starts_with("_INBOX.") || subject.starts_with(SEND_INBOX);
        if !cacheable {
            return make();
        }
        let slot = (self.hasher.hash_one(subject) as usize) % SLOTS;
        if let Some((name, wire)) = self.lock()[slot].as_ref() {
            if **name == *subject {
                return Ok(wire.clone());
            }
        }
        let wire = make()?;
        self.lock()[slot] = Some((Box::from(subject), wire.clone()));
        Ok(wire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        // A panic while holding the lock cannot leave a slot half-written
        // (each is replaced whole), so a poisoned lock is still usable.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reply subjects of sends between airssys hosts: one per sender and
/// target, reused for every send (see airssys-wasm's `remote` module).
const SEND_INBOX: &str = "_INBOX.airssys-send.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_made_once_then_served_from_the_cache() {
        let names = WireNames::new();
        let mut made = 0;
        for _ in 0..3 {
            let wire = names
                .get_or_make("component.sink", || {
                    made += 1;
                    Ok::<_, ()>(Subject::from("app.component.sink"))
                })
                .unwrap();
            assert_eq!(wire.as_str(), "app.component.sink");
        }
        assert_eq!(made, 1);
    }

    #[test]
    fn a_failed_name_is_not_cached_and_unique_inboxes_are_not_kept() {
        let names = WireNames::new();
        assert!(names
            .get_or_make("bad.*", || Err::<Subject, _>("wildcard"))
            .is_err());
        let mut made = 0;
        for _ in 0..2 {
            names
                .get_or_make("_INBOX.abc", || {
                    made += 1;
                    Ok::<_, ()>(Subject::from("_INBOX.abc"))
                })
                .unwrap();
        }
        assert_eq!(made, 2);
    }
}
