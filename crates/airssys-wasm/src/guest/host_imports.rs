//! Host functions a guest imports from module `airssys`, and the
//! [`HostServices`] trait the component host implements behind them.
//!
//! The ABI (signatures, return codes) is specified in `docs/core-abi.md`.
//! Allow-lists ([`Permissions`](crate::Permissions)) and size limits are
//! enforced here, before `HostServices` is called.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wasmtime::{Caller, Engine, Linker};

use crate::guest::core_abi::IMPORT_MODULE;
use crate::guest::monitors::{GuestMonitor, RESERVED_SUBJECT_PREFIX};
use crate::guest::permissions::is_valid_subject;
use crate::guest::store::StoreData;
use crate::id::ComponentId;
use crate::trace::{self, SpanKind};

/// Return codes of the host imports (negative; `>= 0` means success).
pub mod codes {
    /// Success.
    pub const OK: i32 = 0;
    /// The allow-list does not permit this target or subject.
    pub const DENIED: i32 = -1;
    /// No component with that id.
    pub const NO_SUCH_TARGET: i32 = -2;
    /// The target's mailbox is full.
    pub const MAILBOX_FULL: i32 = -3;
    /// The payload exceeds the component's `max_message_bytes`.
    pub const TOO_LARGE: i32 = -4;
    /// A `request` got no reply in time.
    pub const TIMEOUT: i32 = -5;
    /// A pointer/length is out of bounds, a string is not UTF-8, or a subject
    /// is not a valid concrete subject.
    pub const INVALID_ARGUMENT: i32 = -6;
    /// `reply` called twice for the same message.
    pub const ALREADY_REPLIED: i32 = -7;
    /// `reply` called outside `handle-message`/`health`.
    pub const NOT_REPLYING: i32 = -8;
    /// The host could not perform the call (shutting down, broker error).
    pub const UNAVAILABLE: i32 = -9;
    /// `config_get`: the component's configuration has no such key.
    pub const NOT_FOUND: i32 = -10;
}

/// Why a [`HostServices`] call failed; mapped to a return code for the guest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostCallError {
    /// No component with that id ([`codes::NO_SUCH_TARGET`]).
    #[error("no such target")]
    NoSuchTarget,
    /// The target's mailbox is full ([`codes::MAILBOX_FULL`]).
    #[error("mailbox full")]
    MailboxFull,
    /// The payload is too large for the target or transport ([`codes::TOO_LARGE`]).
    #[error("payload too large")]
    TooLarge,
    /// No reply in time ([`codes::TIMEOUT`]).
    #[error("timed out")]
    Timeout,
    /// Refused by a host-side policy ([`codes::DENIED`]).
    #[error("denied")]
    Denied,
    /// Any other failure ([`codes::UNAVAILABLE`]).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl HostCallError {
    /// The code the guest sees.
    pub fn code(&self) -> i32 {
        match self {
            HostCallError::NoSuchTarget => codes::NO_SUCH_TARGET,
            HostCallError::MailboxFull => codes::MAILBOX_FULL,
            HostCallError::TooLarge => codes::TOO_LARGE,
            HostCallError::Timeout => codes::TIMEOUT,
            HostCallError::Denied => codes::DENIED,
            HostCallError::Unavailable(_) => codes::UNAVAILABLE,
        }
    }
}

/// A boxed `Send` future, the return type of [`HostServices::request`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What guests reach through their host imports; implemented by the
/// component host (routing to actors and the broker) and by test fakes.
///
/// Called only after the allow-lists and size limits passed. `send` and
/// `publish` run on the guest's call stack and must not block (use
/// `try_send`-style operations). `request` returns a future the guest is
/// suspended on; this layer applies the timeout (with `tokio::time`, so the
/// runtime needs its time driver enabled), so the future may wait
/// indefinitely.
pub trait HostServices: Send + Sync + 'static {
    /// Delivers `payload` from `from` to component `to`.
    fn send(&self, from: &ComponentId, to: &str, payload: Bytes) -> Result<(), HostCallError>;
    /// Publishes `payload` on `subject` (a concrete subject, no wildcards).
    fn publish(
        &self,
        from: &ComponentId,
        subject: &str,
        payload: Bytes,
    ) -> Result<(), HostCallError>;
    /// Sends a request to `to` and resolves with its reply, or with
    /// [`HostCallError::Timeout`] once `timeout` has passed: the
    /// implementation owns the request's one timer (the guest's import
    /// sets none of its own).
    fn request(
        &self,
        from: &ComponentId,
        to: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, HostCallError>>;

    /// Links component `from` with component `target`, both ways (the
    /// allow-list passed): an abnormal end of either incarnation ends the
    /// other's, unless it traps exits (then it gets an
    /// [`EXIT_SUBJECT`](crate::EXIT_SUBJECT) message). Idempotent. Must not
    /// block.
    ///
    /// The default refuses with `Unavailable` (a host without links).
    ///
    /// # Errors
    /// [`HostCallError::NoSuchTarget`] when no component `target` runs;
    /// [`HostCallError::Unavailable`] when the host cannot link them.
    fn link(&self, from: &ComponentId, target: &str) -> Result<(), HostCallError> {
        let _ = (from, target);
        Err(HostCallError::Unavailable("links are not supported".into()))
    }

    /// Breaks the link between `from` and `target`: `true` if there was
    /// one. Once it returns no exit of either reaches the other over it,
    /// even one already queued. Must not block.
    ///
    /// The default answers `false` (a host without links has none).
    ///
    /// # Errors
    /// Never for the component host; a fake may refuse.
    fn unlink(&self, from: &ComponentId, target: &str) -> Result<bool, HostCallError> {
        let _ = (from, target);
        Ok(false)
    }

    /// Monitors component `target` for `from`: when `target`'s current
    /// incarnation ends, a down notification (subject
    /// [`DOWN_SUBJECT`](crate::DOWN_SUBJECT), a
    /// [`DownNotice`](crate::DownNotice) payload) reaches `from`'s mailbox;
    /// for an id no component has, one with reason `noproc` is queued at
    /// once (with a distributed broker, a target another host runs is
    /// monitored there). Must not block.
    ///
    /// The default refuses with `Unavailable` (a host without monitors).
    ///
    /// # Errors
    /// [`HostCallError::Unavailable`] when the host cannot monitor `target`.
    fn monitor(&self, from: &ComponentId, target: &str) -> Result<GuestMonitor, HostCallError> {
        let _ = (from, target);
        Err(HostCallError::Unavailable(
            "monitors are not supported".into(),
        ))
    }

    /// Subscribes component `from` to topic pattern `pattern` (valid, and
    /// inside one of its grants: checked before this is called) for the
    /// rest of the component's life, across restarts of its instances:
    /// messages published on matching subjects reach its mailbox. A
    /// pattern it has already is a no-op. Must not block.
    ///
    /// The default refuses with `Unavailable` (a host without topics).
    ///
    /// # Errors
    /// [`HostCallError::Unavailable`] when the host cannot subscribe it.
    fn subscribe(&self, from: &ComponentId, pattern: &str) -> Result<(), HostCallError> {
        let _ = (from, pattern);
        Err(HostCallError::Unavailable(
            "subscriptions are not supported".into(),
        ))
    }

    /// Ends component `from`'s subscription to exactly `pattern`; resolves
    /// with whether it had one, once the topic has let go of it: what was
    /// published before is in its mailbox (or dead-lettered), nothing
    /// published after reaches it.
    ///
    /// The default refuses with `Unavailable` (a host without topics).
    fn unsubscribe(
        &self,
        from: &ComponentId,
        pattern: &str,
    ) -> BoxFuture<Result<bool, HostCallError>> {
        let _ = (from, pattern);
        Box::pin(async {
            Err(HostCallError::Unavailable(
                "subscriptions are not supported".into(),
            ))
        })
    }
}

/// A `HostServices` that refuses everything with `Unavailable` (guests that
/// only compute).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHostServices;

impl HostServices for NoHostServices {
    fn send(&self, _: &ComponentId, _: &str, _: Bytes) -> Result<(), HostCallError> {
        Err(HostCallError::Unavailable("no host services".into()))
    }
    fn publish(&self, _: &ComponentId, _: &str, _: Bytes) -> Result<(), HostCallError> {
        Err(HostCallError::Unavailable("no host services".into()))
    }
    fn request(
        &self,
        _: &ComponentId,
        _: &str,
        _: Bytes,
        _: Duration,
    ) -> BoxFuture<Result<Bytes, HostCallError>> {
        Box::pin(async { Err(HostCallError::Unavailable("no host services".into())) })
    }
}

/// Reads `len` bytes at `ptr` from the guest's memory.
fn slice(mem: &[u8], ptr: i32, len: i32) -> Option<&[u8]> {
    let start = usize::try_from(ptr).ok()?;
    let len = usize::try_from(len).ok()?;
    mem.get(start..start.checked_add(len)?)
}

/// Reads the UTF-8 string of `len` bytes at `ptr` from the guest's memory.
pub(crate) fn str_at(mem: &[u8], ptr: i32, len: i32) -> Option<&str> {
    std::str::from_utf8(slice(mem, ptr, len)?).ok()
}

/// Copies as much of `src` as fits into `mem[ptr..ptr+cap]`; returns the full
/// length of `src` (snprintf convention) or `INVALID_ARGUMENT`.
fn write_truncated(mem: &mut [u8], ptr: i32, cap: i32, src: &[u8]) -> i32 {
    let (Ok(start), Ok(cap)) = (usize::try_from(ptr), usize::try_from(cap)) else {
        return codes::INVALID_ARGUMENT;
    };
    let n = src.len().min(cap);
    let Some(dst) = start.checked_add(n).and_then(|end| mem.get_mut(start..end)) else {
        return codes::INVALID_ARGUMENT;
    };
    dst.copy_from_slice(&src[..n]);
    i32::try_from(src.len()).unwrap_or(i32::MAX)
}

/// The manifest grant a refused host call lacks: `send = ["x"]` covers
/// send, request, monitor and link; `publish` and `allow_subscribe` are
/// subject patterns.
fn missing_grant(what: &str, target: &str) -> String {
    match what {
        "publish" => format!("publish = [\"{target}\"]"),
        "subscribe" => format!("allow_subscribe = [\"{target}\"]"),
        _ => format!("send = [\"{target}\"]"),
    }
}

/// The checks and effects of the host calls, shared by both guest forms:
/// the core imports (codes) and the Component Model interfaces (WIT
/// variants, mapped from the same codes). Errors are [`codes`].
impl StoreData {
    /// Refuses host call `what` on `target`: counted in `denied`, and
    /// logged with the grant that is missing, so the author sees more than
    /// the handler's error code. At `warn` for the 1st, 2nd, 4th, 8th, ...
    /// refusal of this component (a guest denied in a loop cannot flood
    /// the log), at `debug` otherwise.
    pub(crate) fn deny(&self, what: &str, target: &str) -> i32 {
        let n = self
            .stats
            .count_denied(crate::metrics::DeniedKind::of_call(what));
        let grant = missing_grant(what, target);
        if n.is_power_of_two() {
            tracing::warn!(component = %self.component, call = what, target, denied = n, "host call denied: {what} {target:?} needs {grant} in the component's manifest entry (or its Permissions)");
        } else {
            tracing::debug!(component = %self.component, call = what, target, denied = n, "host call denied: needs {grant}");
        }
        codes::DENIED
    }

    /// `send`: allow-list, size limit, then the host's routing.
    pub(crate) fn send(&self, target: &str, payload: Bytes) -> Result<(), i32> {
        if !self.permissions.may_send(target) {
            return Err(self.deny("send", target));
        }
        if payload.len() > self.max_message_bytes {
            return Err(codes::TOO_LARGE);
        }
        self.traced(SpanKind::Send, target, |data| {
            data.host
                .send(&data.component, target, payload)
                .map_err(|e| e.code())
        })
    }

    /// Runs host call `f` of `kind` on `target` in a span of its own
    /// (child of the handling's), whose context the message it sends
    /// carries. Without a tracer, runs `f` alone.
    fn traced<R>(
        &self,
        kind: SpanKind,
        target: &str,
        f: impl FnOnce(&Self) -> Result<R, i32>,
    ) -> Result<R, i32> {
        let parent = self.handling.as_ref().map(|s| s.context());
        let Some(mut span) = trace::start(kind, &self.component, Some(target), parent.as_ref())
        else {
            return f(self);
        };
        let out = trace::with_outgoing(Some(span.context()), || f(self));
        if let Err(code) = &out {
            span.fail(&format_args!("host call failed with code {code}"));
        }
        out
    }

    /// `publish`: a concrete subject, allow-list (never a reserved
    /// `_airssys.` subject: those are the host's), size limit, then the
    /// broker.
    pub(crate) fn publish(&self, subject: &str, payload: Bytes) -> Result<(), i32> {
        if !is_valid_subject(subject) {
            return Err(codes::INVALID_ARGUMENT);
        }
        if subject.starts_with(RESERVED_SUBJECT_PREFIX) || !self.permissions.may_publish(subject) {
            return Err(self.deny("publish", subject));
        }
        if payload.len() > self.max_message_bytes {
            return Err(codes::TOO_LARGE);
        }
        self.traced(SpanKind::Publish, subject, |data| {
            data.host
                .publish(&data.component, subject, payload)
                .map_err(|e| e.code())
        })
    }

    /// `request`: the checks of `send`, then a future resolving with the
    /// reply within `timeout_ms` (0 = the component's maximum; larger values
    /// are capped by it).
    pub(crate) fn request(
        &self,
        target: &str,
        payload: Bytes,
        timeout_ms: u64,
    ) -> Result<impl Future<Output = Result<Bytes, i32>> + Send + 'static, i32> {
        if !self.permissions.may_send(target) {
            return Err(self.deny("request", target));
        }
        if payload.len() > self.max_message_bytes {
            return Err(codes::TOO_LARGE);
        }
        let max = self.max_request_timeout;
        let timeout = match timeout_ms {
            0 => max,
            ms => Duration::from_millis(ms).min(max),
        };
        let started = crate::metrics::now();
        let stats = started.map(|_| Arc::clone(&self.stats));
        // The span lasts until the answer; the request carries its context.
        let parent = self.handling.as_ref().map(|s| s.context());
        let mut span = trace::start(
            SpanKind::Request,
            &self.component,
            Some(target),
            parent.as_ref(),
        );
        let pending = trace::with_outgoing(span.as_ref().map(|s| s.context()), || {
            self.host.request(&self.component, target, payload, timeout)
        });
        Ok(async move {
            // The host bounds the request by `timeout` itself (one timer,
            // the delivery's): no second one here.
            let answer = pending.await.map_err(|e| e.code());
            if let (Some(started), Some(stats)) = (started, stats) {
                stats
                    .request_seconds
                    .record_sole_writer(started.elapsed(), crate::metrics::weight());
            }
            if let (Some(span), Err(code)) = (span.as_mut(), &answer) {
                span.fail(&format_args!("request failed with code {code}"));
            }
            drop(span);
            answer
        })
    }

    /// `monitor`: the `send` allow-list (a component may watch what it may
    /// address), then the host. The monitor is held by this instance until
    /// its down is handed over, it is demonitored, or the instance ends.
    pub(crate) fn monitor(&mut self, target: &str) -> Result<u64, i32> {
        if !self.permissions.may_send(target) {
            return Err(self.deny("monitor", target));
        }
        let monitor = self
            .host
            .monitor(&self.component, target)
            .map_err(|e| e.code())?;
        let id = monitor.id();
        self.monitors.insert(monitor);
        Ok(id)
    }

    /// `demonitor`: `true` if this instance held monitor `id`; no down
    /// for it reaches the guest afterwards, even one already queued.
    pub(crate) fn demonitor(&mut self, id: u64) -> bool {
        self.monitors.demonitor(id)
    }

    /// `reply`: accepted once, during a call that may reply, within the
    /// size limit.
    pub(crate) fn accept_reply(&mut self, bytes: &[u8]) -> Result<(), i32> {
        if !self.reply_open {
            return Err(codes::NOT_REPLYING);
        }
        if self.reply.is_some() {
            return Err(codes::ALREADY_REPLIED);
        }
        if bytes.len() > self.max_message_bytes {
            return Err(codes::TOO_LARGE);
        }
        // An empty Vec allocates nothing: it only marks the slot as used.
        self.reply = Some(if self.reply_kept {
            bytes.to_vec()
        } else {
            Vec::new()
        });
        Ok(())
    }

    /// `log`: `level` 0 trace .. 4 and above error, tagged with the
    /// component id.
    pub(crate) fn log(&self, level: i32, msg: &str) {
        let component = &self.component;
        match level {
            0 => tracing::trace!(component = %component, "{msg}"),
            1 => tracing::debug!(component = %component, "{msg}"),
            2 => tracing::info!(component = %component, "{msg}"),
            3 => tracing::warn!(component = %component, "{msg}"),
            _ => tracing::error!(component = %component, "{msg}"),
        }
    }

    /// Time since the host's clock origin.
    pub(crate) fn elapsed(&self) -> Duration {
        self.clock_origin.elapsed()
    }
}

/// Builds the linker with every `airssys` import. Done once per engine.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<StoreData>> {
    let mut linker = Linker::<StoreData>::new(engine);
    crate::guest::links::add_to_linker(&mut linker)?;

    linker.func_wrap(
        IMPORT_MODULE,
        "send",
        |mut caller: Caller<'_, StoreData>, tp: i32, tl: i32, pp: i32, pl: i32| -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let (Some(target), Some(payload)) = (str_at(mem, tp, tl), slice(mem, pp, pl)) else {
                return codes::INVALID_ARGUMENT;
            };
            match data.send(target, Bytes::copy_from_slice(payload)) {
                Ok(()) => codes::OK,
                Err(code) => code,
            }
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "publish",
        |mut caller: Caller<'_, StoreData>, sp: i32, sl: i32, pp: i32, pl: i32| -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let (Some(subject), Some(payload)) = (str_at(mem, sp, sl), slice(mem, pp, pl)) else {
                return codes::INVALID_ARGUMENT;
            };
            match data.publish(subject, Bytes::copy_from_slice(payload)) {
                Ok(()) => codes::OK,
                Err(code) => code,
            }
        },
    )?;

    linker.func_wrap_async(
        IMPORT_MODULE,
        "request",
        |mut caller: Caller<'_, StoreData>,
         (tp, tl, pp, pl, timeout_ms, rp, rc): (i32, i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let Some(memory) = caller.data().memory else {
                    return codes::UNAVAILABLE;
                };
                let future = {
                    let (mem, data) = memory.data_and_store_mut(&mut caller);
                    let (Some(target), Some(payload)) = (str_at(mem, tp, tl), slice(mem, pp, pl))
                    else {
                        return codes::INVALID_ARGUMENT;
                    };
                    let timeout_ms = u64::try_from(timeout_ms).unwrap_or(0);
                    match data.request(target, Bytes::copy_from_slice(payload), timeout_ms) {
                        Ok(pending) => pending,
                        Err(code) => return code,
                    }
                };
                // The guest is suspended here; the tokio worker runs other tasks.
                let reply = match future.await {
                    Ok(reply) => reply,
                    Err(code) => return code,
                };
                let mem = memory.data_mut(&mut caller);
                write_truncated(mem, rp, rc, &reply)
            })
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "reply",
        |mut caller: Caller<'_, StoreData>, ptr: i32, len: i32| -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let Some(bytes) = slice(mem, ptr, len) else {
                return codes::INVALID_ARGUMENT;
            };
            match data.accept_reply(bytes) {
                Ok(()) => codes::OK,
                Err(code) => code,
            }
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "monitor",
        |mut caller: Caller<'_, StoreData>, tp: i32, tl: i32| -> i64 {
            let Some(memory) = caller.data().memory else {
                return i64::from(codes::UNAVAILABLE);
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let Some(target) = str_at(mem, tp, tl) else {
                return i64::from(codes::INVALID_ARGUMENT);
            };
            match data.monitor(target) {
                Ok(id) => i64::try_from(id).unwrap_or(i64::MAX),
                Err(code) => i64::from(code),
            }
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "demonitor",
        |mut caller: Caller<'_, StoreData>, id: i64| -> i32 {
            let Ok(id) = u64::try_from(id) else {
                return 0;
            };
            i32::from(caller.data_mut().demonitor(id))
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "log",
        |mut caller: Caller<'_, StoreData>, level: i32, ptr: i32, len: i32| {
            let Some(memory) = caller.data().memory else {
                return;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let Some(bytes) = slice(mem, ptr, len) else {
                tracing::warn!(component = %data.component, ptr, len, "guest log: out-of-bounds message");
                return;
            };
            data.log(level, &String::from_utf8_lossy(bytes));
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "self_id",
        |mut caller: Caller<'_, StoreData>, ptr: i32, cap: i32| -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            write_truncated(mem, ptr, cap, data.component.as_str().as_bytes())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "config_get",
        |mut caller: Caller<'_, StoreData>,
         key_ptr: i32,
         key_len: i32,
         ptr: i32,
         cap: i32|
         -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let Some(key) = str_at(mem, key_ptr, key_len) else {
                return codes::INVALID_ARGUMENT;
            };
            let Some(value) = data.config.get(key) else {
                return codes::NOT_FOUND;
            };
            let value = Arc::clone(value);
            write_truncated(mem, ptr, cap, value.as_bytes())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "now_ms",
        |caller: Caller<'_, StoreData>| -> i64 {
            let elapsed = caller.data().clock_origin.elapsed();
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "now_nanos",
        |caller: Caller<'_, StoreData>| -> i64 {
            let elapsed = caller.data().clock_origin.elapsed();
            i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
        },
    )?;

    crate::guest::subscriptions::add_to_linker(&mut linker)?;

    Ok(linker)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmtime::{Config, Engine, Extern, Store};

    use super::{linker, NoHostServices};
    use crate::guest::core_abi::{HOST_IMPORTS, IMPORT_MODULE};
    use crate::guest::store::StoreData;
    use crate::id::ComponentId;
    use crate::runtime::limits::MemoryLimiter;
    use crate::Permissions;

    #[test]
    fn the_linker_defines_exactly_the_documented_host_imports() {
        let engine = Engine::new(&Config::new()).unwrap();
        let linker = linker(&engine).unwrap();
        let component = ComponentId::new("abi-check");
        let data = StoreData {
            component: component.clone(),
            host: Arc::new(NoHostServices),
            permissions: Arc::new(Permissions::default()),
            limiter: MemoryLimiter {
                component,
                limit: 1 << 16,
                instances: 1,
                in_use: 0,
                stats: Arc::default(),
            },
            memory: None,
            reply_open: false,
            reply_kept: true,
            redelivered: false,
            reply: None,
            max_message_bytes: 1024,
            max_request_timeout: std::time::Duration::from_secs(1),
            stats: Arc::default(),
            config: Arc::default(),
            ticks_left: 1,
            clock_origin: tokio::time::Instant::now(),
            monitors: Default::default(),
            handling: None,
        };
        let mut store = Store::new(&engine, data);
        let defined: Vec<(String, String, Extern)> = linker
            .iter(&mut store)
            .map(|(module, name, item)| (module.to_owned(), name.to_owned(), item))
            .collect();
        let mut names: Vec<&str> = defined
            .iter()
            .map(|(module, name, _)| {
                assert_eq!(module, IMPORT_MODULE);
                name.as_str()
            })
            .collect();
        names.sort_unstable();
        let mut documented: Vec<&str> = HOST_IMPORTS.iter().map(|(name, _)| *name).collect();
        documented.sort_unstable();
        assert_eq!(
            names, documented,
            "linker and HOST_IMPORTS list the same functions"
        );
        for (_, name, item) in &defined {
            let Extern::Func(func) = item else {
                panic!("{name} is not a function");
            };
            let (_, expected) = HOST_IMPORTS.iter().find(|(n, _)| n == name).unwrap();
            assert!(
                expected.matches(&func.ty(&store)),
                "{name}: linker has {:?}, HOST_IMPORTS says {expected}",
                func.ty(&store)
            );
        }
    }
}
