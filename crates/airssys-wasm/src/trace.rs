//! W3C trace context carried by every message, and the hook through which
//! an exporter (the `airssys` binary's OpenTelemetry one) makes spans.
//!
//! A message carries the [`TraceContext`] of the span that sent it: in
//! [`GuestMessage::trace`](crate::GuestMessage::trace) on this host, in the
//! `traceparent`/`tracestate` NATS headers between hosts. The host makes a
//! span for each `handle-message` (child of the message's context, or a
//! root) and for each host call a guest makes during it (`send`,
//! `request`, `publish`, children of the handling), each with the
//! component id; the message a host call sends carries that call's span.
//!
//! Spans are made by the [`Tracer`] installed with [`install`]. Without
//! one (the default), nothing is made and a message's context stays
//! `None`: the cost is one atomic load per handling and per host call.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::id::ComponentId;

/// The W3C trace context of one span: what `traceparent` (and
/// `tracestate`) say. Cheap to clone (the state is an `Arc`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The trace's id (never all zero).
    pub trace_id: [u8; 16],
    /// The span's id (never all zero).
    pub span_id: [u8; 8],
    /// Whether the span is sampled (recorded and exported): flag bit 0.
    pub sampled: bool,
    /// The vendor `tracestate`, passed on as it came.
    pub state: Option<Arc<str>>,
}

/// A `traceparent` value that is not `00-<32 hex>-<16 hex>-<2 hex>` with
/// non-zero ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid traceparent {value:?}: {reason}")]
pub struct InvalidTraceparent {
    /// The value read.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl TraceContext {
    /// The `traceparent` header value: `00-<trace id>-<span id>-<flags>`.
    pub fn traceparent(&self) -> String {
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        for b in self.trace_id {
            let _ = write!(out, "{b:02x}");
        }
        out.push('-');
        for b in self.span_id {
            let _ = write!(out, "{b:02x}");
        }
        out.push_str(if self.sampled { "-01" } else { "-00" });
        out
    }

    /// Reads a `traceparent` value (version `00`; a later version's first
    /// four fields are read as the W3C spec asks), with `state` as its
    /// `tracestate`.
    ///
    /// # Errors
    /// [`InvalidTraceparent`] naming what is wrong.
    pub fn parse(traceparent: &str, state: Option<&str>) -> Result<Self, InvalidTraceparent> {
        let invalid = |reason| InvalidTraceparent {
            value: traceparent.to_owned(),
            reason,
        };
        let mut parts = traceparent.trim().split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("fewer than four fields"));
        };
        if version.len() != 2 || version == "ff" {
            return Err(invalid("bad version"));
        }
        if version == "00" && parts.next().is_some() {
            return Err(invalid("more than four fields in version 00"));
        }
        let trace_id: [u8; 16] =
            hex(trace).ok_or_else(|| invalid("trace id is not 32 hex digits"))?;
        let span_id: [u8; 8] = hex(span).ok_or_else(|| invalid("span id is not 16 hex digits"))?;
        let [flags]: [u8; 1] = hex(flags).ok_or_else(|| invalid("flags are not 2 hex digits"))?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return Err(invalid("an all-zero id"));
        }
        Ok(TraceContext {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
            state: state.filter(|s| !s.is_empty()).map(Arc::from),
        })
    }
}

/// `N` bytes from exactly `2 * N` lowercase or uppercase hex digits.
fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// What a span stands for; its name is [`SpanKind::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpanKind {
    /// The guest's `handle-message` of one message.
    HandleMessage,
    /// A guest's `send` host call.
    Send,
    /// A guest's `request` host call, until its answer.
    Request,
    /// A guest's `publish` host call.
    Publish,
}

impl SpanKind {
    /// The span's name: `handle-message`, `send`, `request`, `publish`.
    pub fn name(self) -> &'static str {
        match self {
            SpanKind::HandleMessage => "handle-message",
            SpanKind::Send => "send",
            SpanKind::Request => "request",
            SpanKind::Publish => "publish",
        }
    }
}

/// A span being recorded; it ends when dropped.
pub trait Span: Send + Sync {
    /// Its context, for the messages sent under it.
    fn context(&self) -> TraceContext;
    /// Marks it failed, with why.
    fn fail(&mut self, reason: &str);
}

/// Makes spans; installed once per process with [`install`].
///
/// Sampling is parent-based, and the host applies the parent's decision
/// itself: a span whose parent is not sampled is never asked of the
/// tracer (the message goes on with its trace's context unchanged, at no
/// cost), and a new trace is asked of it only when [`sample_roots`]
/// says so. Otherwise no trace is started at all: the message carries no
/// context, as without a tracer. (An unsampled root context would only be
/// passed on: every host samples by its parent, so nothing downstream
/// would record it, and making and copying it is most of what tracing at
/// ratio 0 would cost a message.)
///
/// [`sample_roots`]: Tracer::sample_roots
pub trait Tracer: Send + Sync + 'static {
    /// Starts a span of `kind` for `component`, a child of `parent` (a
    /// sampled span) or a root (`None`). `target` is the addressee of a
    /// host call (a component id or a subject), `None` for a handling.
    fn start(
        &self,
        kind: SpanKind,
        component: &ComponentId,
        target: Option<&str>,
        parent: Option<&TraceContext>,
    ) -> Box<dyn Span>;

    /// Whether new traces may be sampled at all (`false` at a sample
    /// ratio of 0): when not, the host makes their unsampled root
    /// contexts itself.
    fn sample_roots(&self) -> bool {
        true
    }
}

/// A span in progress: recorded by the tracer, or only carrying its
/// trace's context (not sampled). Ends when dropped.
pub(crate) enum ActiveSpan {
    /// Not sampled: the context messages sent under it carry.
    Unsampled(TraceContext),
    /// Recorded by the installed tracer.
    Recording(Box<dyn Span>),
}

impl ActiveSpan {
    /// The context of messages sent under it.
    pub(crate) fn context(&self) -> TraceContext {
        match self {
            ActiveSpan::Unsampled(context) => context.clone(),
            ActiveSpan::Recording(span) => span.context(),
        }
    }

    /// Marks a recorded span failed; `reason` is only rendered then.
    pub(crate) fn fail(&mut self, reason: &dyn std::fmt::Display) {
        if let ActiveSpan::Recording(span) = self {
            span.fail(&reason.to_string());
        }
    }
}

impl std::fmt::Debug for ActiveSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActiveSpan::Unsampled(c) => f.debug_tuple("Unsampled").field(c).finish(),
            ActiveSpan::Recording(span) => {
                f.debug_tuple("Recording").field(&span.context()).finish()
            }
        }
    }
}

static TRACER: OnceLock<Box<dyn Tracer>> = OnceLock::new();
static PAUSED: AtomicBool = AtomicBool::new(false);

/// Installs the process's tracer; `false` if one was installed before
/// (the first stays).
pub fn install(tracer: Box<dyn Tracer>) -> bool {
    TRACER.set(tracer).is_ok()
}

/// Pauses (`true`) or resumes the installed tracer: while paused no span
/// is made and messages carry no context, as without a tracer. For
/// comparing the message path with and without tracing in one process.
pub fn pause(paused: bool) {
    PAUSED.store(paused, Ordering::Relaxed);
}

/// Whether spans are made: a tracer is installed and not paused.
#[inline]
pub fn enabled() -> bool {
    TRACER.get().is_some() && !PAUSED.load(Ordering::Relaxed)
}

/// A span for `component`; `None` without a tracer (or paused), and for a
/// root when the tracer samples no new trace. Under an unsampled parent,
/// no tracer call and no allocation: the context is passed on.
#[inline]
pub(crate) fn start(
    kind: SpanKind,
    component: &ComponentId,
    target: Option<&str>,
    parent: Option<&TraceContext>,
) -> Option<ActiveSpan> {
    let tracer = TRACER.get()?;
    if PAUSED.load(Ordering::Relaxed) {
        return None;
    }
    Some(match parent {
        Some(p) if !p.sampled => ActiveSpan::Unsampled(p.clone()),
        None if !tracer.sample_roots() => return None,
        _ => ActiveSpan::Recording(tracer.start(kind, component, target, parent)),
    })
}

thread_local! {
    /// The context of the host call running on this thread: set by the
    /// guest's import around the (synchronous) call into the host's
    /// routing, read there when the message is built.
    static OUTGOING: RefCell<Option<TraceContext>> = const { RefCell::new(None) };
}

/// Runs `f` with `context` as the outgoing context of messages it builds
/// ([`outgoing`]). With `None`, runs `f` alone.
pub(crate) fn with_outgoing<R>(context: Option<TraceContext>, f: impl FnOnce() -> R) -> R {
    if context.is_none() {
        return f();
    }
    let previous = OUTGOING.with(|cell| cell.replace(context));
    let out = f();
    OUTGOING.with(|cell| *cell.borrow_mut() = previous);
    out
}

/// The context a message built now should carry (see [`with_outgoing`]).
#[inline]
pub(crate) fn outgoing() -> Option<TraceContext> {
    if !enabled() {
        return None;
    }
    OUTGOING.with(|cell| cell.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::parse(value, Some("congo=t61rcWkgMzE")).unwrap();
        assert!(context.sampled);
        assert_eq!(
            context.span_id,
            [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(context.traceparent(), value);
        assert_eq!(context.state.as_deref(), Some("congo=t61rcWkgMzE"));
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01",
        ] {
            assert!(TraceContext::parse(bad, None).is_err(), "{bad}");
        }
    }
}
