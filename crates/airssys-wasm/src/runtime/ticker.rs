//! The epoch ticker: the one thread per engine that advances wasmtime's
//! epoch, which is how guest calls are timed out and made to yield.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::Engine;

/// Background thread incrementing the engine's epoch every tick (one thread
/// per engine, waking once per tick). Holds only a weak engine reference;
/// stops when dropped (within one tick) or when the engine is gone.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EpochTicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochTicker").finish_non_exhaustive()
    }
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("airssys-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(err) => {
                tracing::error!(error = %err, "cannot start the epoch ticker; execution timeouts will not fire");
                None
            }
        };
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // Wake it so it exits now; it is not joined, so dropping the
            // engine never blocks (an async caller) for a tick.
            t.thread().unpark();
        }
    }
}
