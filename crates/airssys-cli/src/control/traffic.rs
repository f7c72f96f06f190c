//! [`ControlTraffic`]: what entered the host through the control API, so
//! the run's summary accounts for it like drive traffic.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Messages the control API handed to components: sends and requests
/// accepted, per target id, and publishes.
#[derive(Debug, Default)]
pub struct ControlTraffic {
    per_target: Mutex<BTreeMap<String, u64>>,
    publishes: AtomicU64,
}

impl ControlTraffic {
    /// A send or request to `target` was accepted (it will be handled or
    /// dead-lettered there).
    pub(crate) fn delivered(&self, target: &str) {
        *self.per_target.lock().entry(target.to_owned()).or_default() += 1;
    }

    /// A publish was accepted.
    pub(crate) fn published(&self) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends and requests accepted, per target.
    pub fn per_target(&self) -> BTreeMap<String, u64> {
        self.per_target.lock().clone()
    }

    /// Publishes accepted.
    pub fn publishes(&self) -> u64 {
        self.publishes.load(Ordering::Relaxed)
    }
}
