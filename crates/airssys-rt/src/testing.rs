//! Helpers for the crate's unit tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Waker;

/// A waker that records being woken, for polling a future by hand: a test
/// proves the future pending, then that the event under test (and not a
/// guessed delay or a later poll) woke it.
#[derive(Debug, Default)]
pub(crate) struct WakeFlag(AtomicBool);

impl futures::task::ArcWake for WakeFlag {
    fn wake_by_ref(flag: &Arc<Self>) {
        flag.0.store(true, Ordering::SeqCst);
    }
}

impl WakeFlag {
    /// A waker setting a new flag, and the flag.
    pub(crate) fn waker() -> (Waker, Arc<WakeFlag>) {
        let flag = Arc::new(WakeFlag::default());
        (futures::task::waker(Arc::clone(&flag)), flag)
    }

    /// Whether woken since the last call.
    pub(crate) fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}
