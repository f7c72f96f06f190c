//! What the host measures about each component and about itself, recorded
//! on the message path with relaxed atomics and read when scraped.
//!
//! Every component has one [`HostCallStats`], shared by all its
//! incarnations (its numbers add up across restarts): handle duration,
//! mailbox wait and request round trip as [`Histogram`]s, linear memory in
//! use and its peak, fuel consumed, host calls refused by [`DeniedKind`]
//! and failures by [`TrapKind`]. The host's own figures (spawn latency)
//! are in [`HostMetrics`]. Nothing here allocates per message or takes a
//! lock; the exporter (the `airssys` binary's `/metrics`) reads them
//! through [`ComponentHost::visit_metrics`](crate::ComponentHost::visit_metrics)
//! and decides how to label them.
//!
//! Timing the message path costs a clock read at enqueue, at handler
//! start and at handler end (and two per request, as requester). The
//! reads are the CPU's time-stamp counter through `quanta` (calibrated
//! against the OS clock once per process, falling back to it where the
//! counter is not reliable): `std::time::Instant::now` is a
//! `clock_gettime` of ~60 ns on a VM, five of them a quarter of a
//! guest-to-guest round trip; the counter is a fraction of that.
//! [`set_timing_every`] times one message in `n` (each recorded with
//! weight `n`), or none at 0 (counters and gauges stay on), which is what
//! the overhead benchmark compares against; see `sampling.rs`.

mod histogram;
mod sampling;

use std::sync::atomic::{AtomicU64, Ordering};

/// A point in time on the message path's clock (the time-stamp counter,
/// see the module docs); `elapsed` and `saturating_duration_since` give
/// `std::time::Duration`s.
pub(crate) type Stamp = quanta::Instant;

pub use histogram::{Histogram, HistogramSnapshot, BUCKET_BOUNDS_NANOS};

pub(crate) use sampling::weight;
pub use sampling::{set_timing_every, timing_every};

/// Now, if the operation at hand is timed (one in
/// [`timing_every`](sampling::timing_every)).
#[inline]
pub(crate) fn now() -> Option<Stamp> {
    sampling::sampled().then(Stamp::now)
}

/// Calibrates the message path's clock, so the first timed message does
/// not pay for it (the host calls this when it is built).
pub(crate) fn calibrate_clock() {
    let _ = Stamp::now();
}

/// When a message entered a mailbox, for the mailbox wait-time histogram,
/// and whether its handling is timed.
///
/// Two messages are equal whatever their stamps: a stamp is how long a
/// message waited, not what it says. `Default` is a message no sender
/// stamped (built inside the host, or with [`GuestMessage::new`](crate::GuestMessage::new)):
/// its handling draws for itself whether it is timed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Enqueued(Stamping);

#[derive(Debug, Clone, Copy, Default)]
enum Stamping {
    /// No sender decided: the handling draws.
    #[default]
    Undecided,
    /// The sender's draw said not to time this one.
    Skipped,
    /// Timed: it entered the mailbox then.
    At(Stamp),
}

impl Enqueued {
    /// Stamped now if this message is timed (one in
    /// [`timing_every`](sampling::timing_every)), marked skipped if not.
    #[inline]
    pub fn now() -> Self {
        Enqueued(match now() {
            Some(at) => Stamping::At(at),
            None => Stamping::Skipped,
        })
    }

    /// When the message entered its mailbox, if it is timed.
    pub(crate) fn at(&self) -> Option<Stamp> {
        match self.0 {
            Stamping::At(at) => Some(at),
            Stamping::Undecided | Stamping::Skipped => None,
        }
    }

    /// The start of the message's handling, if it is timed: a stamped
    /// message's always, a skipped one's never, an unstamped one's when
    /// its own draw says so.
    #[inline]
    pub(crate) fn handling_start(&self) -> Option<Stamp> {
        match self.0 {
            Stamping::At(_) => Some(Stamp::now()),
            Stamping::Skipped => None,
            Stamping::Undecided => now(),
        }
    }
}

impl PartialEq for Enqueued {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Enqueued {}

/// Which host call the allow-lists refused; the `kind` label of
/// `airssys_component_host_calls_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeniedKind {
    /// `send` to a component not in `send`.
    Send,
    /// `request` to a component not in `send`.
    Request,
    /// `publish` on a subject not in `publish` (or a reserved one).
    Publish,
    /// `monitor` of a component not in `send`.
    Monitor,
    /// `link` with a component not in `send`.
    Link,
    /// `subscribe` to a pattern not in `allow_subscribe`.
    Subscribe,
    /// A WASI use (a socket, an address) the component's grants exclude.
    Wasi,
}

impl DeniedKind {
    /// Every kind, in label order.
    pub const ALL: [DeniedKind; 7] = [
        DeniedKind::Send,
        DeniedKind::Request,
        DeniedKind::Publish,
        DeniedKind::Monitor,
        DeniedKind::Link,
        DeniedKind::Subscribe,
        DeniedKind::Wasi,
    ];

    /// The stable label.
    pub fn label(self) -> &'static str {
        match self {
            DeniedKind::Send => "send",
            DeniedKind::Request => "request",
            DeniedKind::Publish => "publish",
            DeniedKind::Monitor => "monitor",
            DeniedKind::Link => "link",
            DeniedKind::Subscribe => "subscribe",
            DeniedKind::Wasi => "wasi",
        }
    }

    /// The kind of the host call named `call` (`"send"`, `"publish"`, ...);
    /// an unknown name counts as [`DeniedKind::Wasi`], the only calls not
    /// named after an import.
    pub(crate) fn of_call(call: &str) -> DeniedKind {
        match call {
            "send" => DeniedKind::Send,
            "request" => DeniedKind::Request,
            "publish" => DeniedKind::Publish,
            "monitor" => DeniedKind::Monitor,
            "link" => DeniedKind::Link,
            "subscribe" => DeniedKind::Subscribe,
            _ => DeniedKind::Wasi,
        }
    }
}

/// What failed a component's incarnation; the `kind` label of
/// `airssys_component_traps_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapKind {
    /// A wasm trap: unreachable, out-of-bounds access, division by zero, a
    /// bad ABI answer.
    Trap,
    /// The call ran past `execution_timeout` (epoch interruption).
    Timeout,
    /// `memory.grow` past the memory cap.
    MemoryLimit,
    /// The guest's stack overflowed.
    StackOverflow,
    /// The per-call fuel ran out.
    FuelExhausted,
}

impl TrapKind {
    /// Every kind, in label order.
    pub const ALL: [TrapKind; 5] = [
        TrapKind::Trap,
        TrapKind::Timeout,
        TrapKind::MemoryLimit,
        TrapKind::StackOverflow,
        TrapKind::FuelExhausted,
    ];

    /// The stable label.
    pub fn label(self) -> &'static str {
        match self {
            TrapKind::Trap => "trap",
            TrapKind::Timeout => "timeout",
            TrapKind::MemoryLimit => "memory_limit",
            TrapKind::StackOverflow => "stack_overflow",
            TrapKind::FuelExhausted => "fuel_exhausted",
        }
    }

    /// The kind of a guest error that failed its instance; `None` for an
    /// error that does not (a handler's error code, a message too large)
    /// or that only reports an earlier failure (`InstanceFailed`).
    pub fn of(error: &crate::GuestError) -> Option<TrapKind> {
        use crate::GuestError as E;
        Some(match error {
            E::Trap { .. } | E::AbiViolation { .. } => TrapKind::Trap,
            E::ExecutionTimeout { .. } => TrapKind::Timeout,
            E::MemoryLimitExceeded { .. } => TrapKind::MemoryLimit,
            E::StackOverflow { .. } => TrapKind::StackOverflow,
            E::FuelExhausted { .. } => TrapKind::FuelExhausted,
            _ => return None,
        })
    }
}

/// Counters of one component, shared by all its incarnations and readable
/// by the host at any time. Every field is a relaxed atomic: writers never
/// wait, readers see each number exactly but not all at one instant.
#[derive(Debug, Default)]
pub struct HostCallStats {
    /// Host calls refused by the allow-lists (`send`, `request`,
    /// `publish`, `monitor`, `subscribe`), all kinds.
    pub denied: AtomicU64,
    denied_by_kind: [AtomicU64; DeniedKind::ALL.len()],
    traps: [AtomicU64; TrapKind::ALL.len()],
    /// `handle-message` calls, from the guest call's start to its end.
    pub handle_seconds: Histogram,
    /// Time messages waited in the mailbox, from enqueue to handler start.
    pub mailbox_wait_seconds: Histogram,
    /// The component's own `request`s, from the call to the answer
    /// (reply, error or timeout).
    pub request_seconds: Histogram,
    memory_bytes: AtomicU64,
    memory_peak_bytes: AtomicU64,
    fuel_consumed: AtomicU64,
}

impl HostCallStats {
    /// Counts one refused host call of `kind` (in `denied` too); returns
    /// the component's refusals so far.
    pub fn count_denied(&self, kind: DeniedKind) -> u64 {
        self.denied_by_kind[kind as usize].fetch_add(1, Ordering::Relaxed);
        self.denied.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Refused host calls of `kind` so far.
    pub fn denied_of(&self, kind: DeniedKind) -> u64 {
        self.denied_by_kind[kind as usize].load(Ordering::Relaxed)
    }

    /// Counts one failed incarnation of `kind`.
    pub fn count_trap(&self, kind: TrapKind) {
        self.traps[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Failed incarnations of `kind` so far.
    pub fn traps_of(&self, kind: TrapKind) -> u64 {
        self.traps[kind as usize].load(Ordering::Relaxed)
    }

    /// Sets the linear memory in use (all memories of the current
    /// instance, bytes) and raises the peak if it is a new one.
    pub(crate) fn set_memory(&self, bytes: u64) {
        self.memory_bytes.store(bytes, Ordering::Relaxed);
        self.memory_peak_bytes.fetch_max(bytes, Ordering::Relaxed);
    }

    /// Linear memory of the current instance, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes.load(Ordering::Relaxed)
    }

    /// The largest linear memory any instance of the component had.
    pub fn memory_peak_bytes(&self) -> u64 {
        self.memory_peak_bytes.load(Ordering::Relaxed)
    }

    /// Adds fuel units consumed by one `handle-message`.
    pub(crate) fn add_fuel(&self, units: u64) {
        self.fuel_consumed.fetch_add(units, Ordering::Relaxed);
    }

    /// Fuel units consumed by `handle-message` so far (0 on an engine
    /// without fuel).
    pub fn fuel_consumed(&self) -> u64 {
        self.fuel_consumed.load(Ordering::Relaxed)
    }
}

/// The host's own figures, beside the engine's
/// ([`WasmEngine::pool_usage`](crate::WasmEngine::pool_usage),
/// [`WasmEngine::module_cache_stats`](crate::WasmEngine::module_cache_stats)).
#[derive(Debug, Default)]
pub struct HostMetrics {
    /// Making a component: its first instance and its `init` (`spawn`,
    /// `spawn_many`, a cluster's take-over), per component.
    pub spawn_seconds: Histogram,
    /// Shared with the host's topic pumps, which count here.
    pub(crate) topic_pump_restarts: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl HostMetrics {
    /// Times a topic pump (the task that fans a topic's messages out to
    /// its subscribers' mailboxes) carried on after something ended it
    /// unexpectedly: the broker ended its subscription (it subscribed
    /// again) or its fan-out panicked (it kept its subscription and what
    /// was queued on it). Each is also logged, with the pattern. Zero on a
    /// healthy host.
    pub fn topic_pump_restarts(&self) -> u64 {
        self.topic_pump_restarts
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_count_by_kind_and_in_total() {
        let stats = HostCallStats::default();
        stats.count_denied(DeniedKind::Send);
        assert_eq!(stats.count_denied(DeniedKind::Subscribe), 2);
        assert_eq!(stats.denied_of(DeniedKind::Send), 1);
        assert_eq!(stats.denied_of(DeniedKind::Publish), 0);
        assert_eq!(DeniedKind::of_call("subscribe"), DeniedKind::Subscribe);
    }

    #[test]
    fn memory_peak_keeps_the_largest() {
        let stats = HostCallStats::default();
        stats.set_memory(3 << 16);
        stats.set_memory(1 << 16);
        assert_eq!(stats.memory_bytes(), 1 << 16);
        assert_eq!(stats.memory_peak_bytes(), 3 << 16);
    }
}
