//! The checks and effects of the host calls a guest makes, shared by both
//! guest forms: allow-lists ([`Permissions`](crate::Permissions)) and size
//! limits are enforced here, before [`HostServices`](crate::HostServices)
//! is called. The core form's `airssys` imports (`guest::core::imports`)
//! and the Component Model interfaces (`guest::component::imports`) are
//! thin wrappers over these.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::guest::monitors::RESERVED_SUBJECT_PREFIX;
use crate::guest::permissions::is_valid_subject;
use crate::guest::services::codes;
use crate::guest::store::StoreData;
use crate::trace::{self, SpanKind};

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
