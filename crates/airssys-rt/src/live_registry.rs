//! [`LiveRegistry`]: the running unsupervised actors, which shutdown walks.
//!
//! Every unsupervised spawn inserts one entry and every actor end removes it,
//! so both sit on the spawn path and must cost little. The registry is a few
//! slabs behind their own locks, picked by actor id: an insert is one
//! uncontended lock and a vector push, with no hashing and no rehash as the
//! population grows. The slot an actor got is kept in its shared record, and
//! whoever takes it out of there (the actor's end, or the registrar finding
//! the actor already ended) removes the entry, exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use slab::Slab;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::actor::{ActorShared, LiveActor};

/// Shards: enough that spawners on different cores rarely meet on one lock.
const SHARDS: usize = 16;

/// Marks "no slot" in [`ActorShared::live_slot`].
pub(crate) const NO_SLOT: usize = usize::MAX;

/// A running unsupervised actor, as shutdown sees it: its handle, to stop
/// it, and its task, to abort it if it does not stop in time.
pub(crate) struct LiveEntry {
    pub(crate) actor: Arc<dyn LiveActor>,
    pub(crate) task: JoinHandle<()>,
}

/// One lock and its slab, on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Slab<LiveEntry>>);

/// The running unsupervised actors of one system.
pub(crate) struct LiveRegistry {
    shards: [Shard; SHARDS],
    count: AtomicUsize,
    /// Notified when the last entry is removed, for shutdown's wait.
    removed: Notify,
}

impl LiveRegistry {
    pub(crate) fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| Shard::default()),
            count: AtomicUsize::new(0),
            removed: Notify::new(),
        }
    }

    fn shard(&self, shared: &ActorShared) -> &Mutex<Slab<LiveEntry>> {
        // Ids are sequential: consecutive spawns use consecutive shards.
        &self.shards[(shared.id.0 as usize) % SHARDS].0
    }

    /// Running actors now. O(1).
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Records a running actor. If the actor already ended (its task ran to
    /// the end before this insert), the entry is removed again at once.
    pub(crate) fn insert(&self, actor: Arc<dyn LiveActor>, task: JoinHandle<()>) {
        let shard = self.shard(actor.shared());
        let slot = shard.lock().insert(LiveEntry {
            actor: Arc::clone(&actor),
            task,
        });
        self.count.fetch_add(1, Ordering::AcqRel);
        let shared = actor.shared();
        // Pairs with `remove`: the actor's end marks it terminated, then
        // takes the slot. Both sides use SeqCst, so at least one of them sees
        // the other's write, and the swap lets exactly one remove the entry.
        shared.live_slot.store(slot, Ordering::SeqCst);
        if shared.terminated.load(Ordering::SeqCst) {
            self.remove(shared);
        }
    }

    /// Removes the actor's entry, if it has one and nobody removed it yet.
    /// Called once the actor is marked terminated.
    pub(crate) fn remove(&self, shared: &ActorShared) {
        let slot = shared.live_slot.swap(NO_SLOT, Ordering::SeqCst);
        if slot == NO_SLOT {
            return;
        }
        // Dropped after the lock is released: dropping the handle of the
        // actor's own task is fine, and nothing runs under the lock.
        let entry = self.shard(shared).lock().try_remove(slot);
        if entry.is_some() && self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.removed.notify_waiters();
        }
        drop(entry);
    }

    /// Calls `visit` on every entry, shard by shard, under that shard's lock.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&LiveEntry)) {
        for shard in &self.shards {
            for (_, entry) in shard.0.lock().iter() {
                visit(entry);
            }
        }
    }

    /// Waits until no actor is left.
    pub(crate) async fn wait_empty(&self) {
        loop {
            // Registered before the check, so emptying in between wakes it.
            let removed = self.removed.notified();
            if self.len() == 0 {
                return;
            }
            removed.await;
        }
    }
}
