//! Logging (`tracing` to stderr, filtered by `RUST_LOG`) and the
//! Prometheus metrics of `airssys run --metrics-addr` (docs/metrics.md):
//! host-level figures through the `metrics` facade, per-component ones
//! rendered at scrape time ([`components`]) in the text format
//! ([`exposition`]).

pub mod components;
mod exposition;
pub mod otel;

pub use components::DEFAULT_COMPONENT_LIMIT;

/// `airssys run`'s default `--metrics-timing-every`: one message in four
/// timed, each recorded as four. Timing every message costs a
/// guest-to-guest round trip ~7 % on a 2-core VM (four reads of the
/// time-stamp counter); one in four keeps that under 2 %, and a
/// component's histogram still fills at a quarter of its message rate.
pub const DEFAULT_TIMING_EVERY: u32 = 4;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `RUST_LOG` if set, else `default`
/// (e.g. `"warn"`, `"info,airssys_wasm=debug"`). Logs go to stderr, without
/// colour when stderr is not a terminal. Safe to call twice (the second
/// call does nothing).
pub fn init_logging(default: &str) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the global `metrics` recorder (once
/// per process) and returns the handle that renders the text format.
pub fn prometheus() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

/// Records the NATS connection: `airssys_broker_connected` (1/0),
/// `airssys_broker_disconnects_total`, and the broker's publish counters
/// (`airssys_broker_refused_total`: publishes refused during an outage;
/// `airssys_broker_slow_consumer_dropped_total`: messages the client
/// dropped because this host's receiving task fell behind).
pub fn record_broker(broker: &airssys_nats::NatsBroker<airssys_wasm::TopicMessage>) {
    let status = *broker.connection_status().borrow();
    let connected = status.state == airssys_nats::ConnectionState::Connected;
    metrics::gauge!("airssys_broker_connected").set(if connected { 1.0 } else { 0.0 });
    metrics::counter!("airssys_broker_disconnects_total").absolute(status.disconnects);
    let stats = broker.stats();
    metrics::counter!("airssys_broker_published_total").absolute(stats.published);
    metrics::counter!("airssys_broker_refused_total").absolute(stats.refused);
    metrics::counter!("airssys_broker_lost_total").absolute(stats.lost);
    metrics::counter!("airssys_broker_received_total").absolute(stats.received);
    metrics::counter!("airssys_broker_slow_consumer_dropped_total")
        .absolute(stats.slow_consumer_dropped);
    metrics::counter!("airssys_broker_undecodable_total").absolute(stats.undecodable);
}

/// Records a cluster host's standing (set when `/metrics` is scraped):
/// `airssys_cluster_lease_holding` (1 while its lease holds, 0 fenced),
/// `airssys_cluster_live_hosts`, `airssys_cluster_units_running` (units
/// running on this host).
pub fn record_cluster(status: &crate::cluster::operate::ClusterStatus) {
    metrics::gauge!("airssys_cluster_lease_holding").set(if status.lease_holds {
        1.0
    } else {
        0.0
    });
    metrics::gauge!("airssys_cluster_live_hosts").set(status.live_hosts as f64);
    metrics::gauge!("airssys_cluster_units_running").set(status.units_here as f64);
}
