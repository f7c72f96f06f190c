//! Traces through OpenTelemetry: the [`airssys_wasm::trace::Tracer`] the
//! binary installs, made of an SDK tracer (parent-based sampling at a
//! configurable ratio) and, when an endpoint is configured, the OTLP/HTTP
//! (protobuf) exporter in a batch processor.
//!
//! `airssys run --otlp-endpoint URL` or `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (the base URL, `/v1/traces` is appended as the OTLP spec says, unless
//! it is there; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is the full URL) turn
//! tracing on. Without either, nothing is installed: no span is made and
//! messages carry no trace context.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use airssys_wasm::trace::{Span, SpanKind, TraceContext, Tracer};
use airssys_wasm::ComponentId;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind as OtelKind, Status, TraceContextExt, TraceFlags,
    TraceId, TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

/// The environment variable of the OTLP base URL (all signals).
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The environment variable of the OTLP traces URL (used as is).
pub const OTLP_TRACES_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TracingError {
    /// The sample ratio is not within 0..=1.
    #[error("--trace-sample-ratio {0} is not between 0 and 1")]
    Ratio(f64),
    /// The OTLP exporter refused its configuration.
    #[error("cannot export traces to {endpoint}: {reason}")]
    Exporter {
        /// The traces URL.
        endpoint: String,
        /// The exporter's reason.
        reason: String,
    },
    /// A tracer was installed before in this process.
    #[error("a tracer is already installed in this process")]
    AlreadyInstalled,
}

/// The traces URL from `--otlp-endpoint` (`flag`) or the environment:
/// a base URL gets `/v1/traces`; `None` when nothing is configured.
pub fn traces_endpoint(flag: Option<&str>) -> Option<String> {
    let signal = |base: &str| {
        let base = base.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    };
    if let Some(flag) = flag.filter(|f| !f.is_empty()) {
        return Some(signal(flag));
    }
    if let Some(full) = std::env::var(OTLP_TRACES_ENDPOINT_ENV)
        .ok()
        .filter(|v| !v.is_empty())
    {
        return Some(full);
    }
    std::env::var(OTLP_ENDPOINT_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|base| signal(&base))
}

/// Keeps the exporter alive; [`shutdown`](Self::shutdown) flushes it.
#[derive(Debug)]
pub struct TracingGuard {
    provider: SdkTracerProvider,
}

impl TracingGuard {
    /// Exports what is left (within a few seconds) and stops the exporter.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!(%error, "traces not all exported at exit");
        }
    }
}

/// Installs the process's tracer: parent-based sampling, roots sampled at
/// `ratio`; spans exported to `endpoint` (a traces URL) when given, made
/// for propagation only when not (what `airssys bench` measures).
///
/// # Errors
/// [`TracingError`] for a ratio out of range, an exporter that cannot be
/// built, or a second installation.
pub fn install(
    endpoint: Option<&str>,
    ratio: f64,
    service: &str,
) -> Result<TracingGuard, TracingError> {
    if !(0.0..=1.0).contains(&ratio) {
        return Err(TracingError::Ratio(ratio));
    }
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        );
    if let Some(endpoint) = endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| TracingError::Exporter {
                endpoint: endpoint.to_owned(),
                reason: e.to_string(),
            })?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("airssys");
    if !airssys_wasm::trace::install(Box::new(OtelTracer {
        tracer,
        sample_roots: ratio > 0.0,
    })) {
        return Err(TracingError::AlreadyInstalled);
    }
    Ok(TracingGuard { provider })
}

/// The SDK tracer behind the host's spans.
struct OtelTracer {
    tracer: SdkTracer,
    /// Whether the ratio lets any new trace be sampled.
    sample_roots: bool,
}

impl Tracer for OtelTracer {
    fn sample_roots(&self) -> bool {
        self.sample_roots
    }

    fn start(
        &self,
        kind: SpanKind,
        component: &ComponentId,
        target: Option<&str>,
        parent: Option<&TraceContext>,
    ) -> Box<dyn Span> {
        let parent_cx = match parent {
            Some(p) => Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from_bytes(p.trace_id),
                SpanId::from_bytes(p.span_id),
                if p.sampled {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::default()
                },
                true,
                p.state
                    .as_deref()
                    .and_then(|s| TraceState::from_str(s).ok())
                    .unwrap_or_default(),
            )),
            None => Context::new(),
        };
        let otel_kind = match kind {
            SpanKind::HandleMessage => OtelKind::Consumer,
            SpanKind::Request => OtelKind::Client,
            _ => OtelKind::Producer,
        };
        let mut attributes = Vec::with_capacity(2);
        attributes.push(KeyValue::new(
            "airssys.component",
            component.as_str().to_owned(),
        ));
        if let Some(target) = target {
            attributes.push(KeyValue::new("airssys.target", target.to_owned()));
        }
        let span = self
            .tracer
            .span_builder(Cow::Borrowed(kind.name()))
            .with_kind(otel_kind)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent_cx);
        Box::new(OtelSpan { span })
    }
}

/// One SDK span; ends when dropped.
struct OtelSpan {
    span: opentelemetry_sdk::trace::Span,
}

impl Span for OtelSpan {
    fn context(&self) -> TraceContext {
        let cx = self.span.span_context();
        let state = cx.trace_state().header();
        TraceContext {
            trace_id: cx.trace_id().to_bytes(),
            span_id: cx.span_id().to_bytes(),
            sampled: cx.is_sampled(),
            state: (!state.is_empty()).then(|| state.into()),
        }
    }

    fn fail(&mut self, reason: &str) {
        self.span.set_status(Status::error(reason.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::traces_endpoint;

    #[test]
    fn a_base_url_gets_the_traces_path() {
        assert_eq!(
            traces_endpoint(Some("http://127.0.0.1:4318")).as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            traces_endpoint(Some("http://c:4318/v1/traces/")).as_deref(),
            Some("http://c:4318/v1/traces")
        );
    }
}
