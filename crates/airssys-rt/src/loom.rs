//! The synchronization types the [mailbox](crate::mailbox) is built from,
//! swappable for [loom]'s so its wake-up protocol can be model-checked (the
//! way tokio checks its mpsc).
//!
//! In a normal build these are plain re-exports: `std`'s atomics,
//! `parking_lot`'s mutex and tokio's `Notify`, so the mailbox compiles to
//! exactly what it would without this module. Built with
//! `RUSTFLAGS="--cfg airssys_loom"` they are loom's atomics and mutex, and a
//! small `Notify` written on them (tokio's own `Notify` cannot run inside a
//! loom model). The cfg is this crate's own rather than the usual `loom`,
//! because `--cfg loom` also switches tokio to its internal loom build,
//! which does not compile outside tokio's repository.
//!
//! Run the models with `crates/airssys-rt/loom.sh`.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(airssys_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

#[cfg(not(airssys_loom))]
pub(crate) use parking_lot::Mutex;

#[cfg(not(airssys_loom))]
pub(crate) use tokio::sync::Notify;

#[cfg(airssys_loom)]
pub(crate) use self::model::{Mutex, Notify};

#[cfg(airssys_loom)]
pub(crate) use ::loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

#[cfg(airssys_loom)]
mod model {
    //! Loom stand-ins with the API of `parking_lot::Mutex` and
    //! `tokio::sync::Notify` that the mailbox uses.

    use std::future::Future;
    use std::pin::Pin;
    use std::sync::PoisonError;
    use std::task::{Context, Poll, Waker};

    use ::loom::sync::atomic::{AtomicUsize, Ordering};

    /// `parking_lot::Mutex`'s interface on loom's mutex: `lock` returns the
    /// guard, since a panic inside a model fails the model anyway.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(::loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        /// A new, unlocked mutex.
        pub(crate) fn new(value: T) -> Self {
            Self(::loom::sync::Mutex::new(value))
        }

        /// Locks, waiting for the lock if another thread holds it.
        pub(crate) fn lock(&self) -> ::loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// The part of `tokio::sync::Notify` the mailbox uses: `notified`,
    /// `Notified::enable` and `notify_waiters`, with tokio's documented
    /// semantics. `notify_waiters` completes every `Notified` created
    /// before it (enabled or not, polled or not) and none created after;
    /// a `Notified` that was enabled or polled also has its waker woken.
    ///
    /// Like tokio's, the call count is a `SeqCst` atomic read without the
    /// lock when a `Notified` is created and bumped under the lock by
    /// `notify_waiters`, so the model does not get more ordering from this
    /// stand-in than the real `Notify` gives. `notify_one` and permits are
    /// not modelled: the mailbox does not use them.
    #[derive(Debug)]
    pub(crate) struct Notify {
        /// How many times `notify_waiters` has been called.
        calls: AtomicUsize,
        /// Wakers of the enabled `Notified`s, by key; `None` once woken or
        /// dropped.
        waiters: Mutex<Vec<Option<Waker>>>,
    }

    impl Notify {
        /// A `Notify` with no waiters.
        pub(crate) fn new() -> Self {
            Self {
                calls: AtomicUsize::new(0),
                waiters: Mutex::new(Vec::new()),
            }
        }

        /// A future completed by the next `notify_waiters`.
        pub(crate) fn notified(&self) -> Notified<'_> {
            Notified {
                notify: self,
                calls_at_creation: self.calls.load(Ordering::SeqCst),
                key: None,
            }
        }

        /// Completes every `Notified` created before this call and wakes
        /// the ones that were enabled or polled.
        pub(crate) fn notify_waiters(&self) {
            let wakers: Vec<Waker> = {
                let mut waiters = self.waiters.lock();
                self.calls.fetch_add(1, Ordering::SeqCst);
                waiters.iter_mut().filter_map(Option::take).collect()
            };
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// Waits for a `notify_waiters` call made after its creation.
    #[derive(Debug)]
    pub(crate) struct Notified<'a> {
        notify: &'a Notify,
        calls_at_creation: usize,
        /// Its slot in the waiter list, once enabled or polled.
        key: Option<usize>,
    }

    impl Notified<'_> {
        /// Registers as a waiter without polling; `true` if already
        /// notified.
        pub(crate) fn enable(self: Pin<&mut Self>) -> bool {
            self.get_mut().register(None)
        }

        /// Under the waiter lock: `true` if notified since creation, else
        /// stores `waker` (when given) in this waiter's slot.
        fn register(&mut self, waker: Option<&Waker>) -> bool {
            let mut waiters = self.notify.waiters.lock();
            if self.notify.calls.load(Ordering::SeqCst) != self.calls_at_creation {
                return true;
            }
            let waker = waker.cloned();
            match self.key {
                Some(key) => {
                    if waker.is_some() {
                        waiters[key] = waker;
                    }
                }
                None => {
                    self.key = Some(waiters.len());
                    waiters.push(waker);
                }
            }
            false
        }
    }

    impl Future for Notified<'_> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.get_mut().register(Some(cx.waker())) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    impl Drop for Notified<'_> {
        fn drop(&mut self) {
            if let Some(key) = self.key {
                self.notify.waiters.lock()[key] = None;
            }
        }
    }
}
