//! Per-component series and the host's own, rendered at scrape time from
//! the counters the host keeps (nothing is recorded per message here).
//!
//! **Cardinality rule.** A host running at most `limit` components
//! ([`DEFAULT_COMPONENT_LIMIT`], `--metrics-component-limit`) labels every
//! per-component series with `component="<id>"`. Above it, components are
//! added up by name instead, under `component_name="<name>"`: the name is
//! the id without a trailing `-<digits>` (the `[[component]] name` of an
//! `instances` fleet, or of `ctl scale`); at most `limit` names get series
//! of their own, the others are added into `component_name="_other"`. So
//! a scrape holds at most `limit + 1` label values per family whatever the
//! number of components, and `airssys_metrics_components_aggregated`
//! says which way this scrape went (1 aggregated). Aggregated counters and
//! histograms are sums; gauges are sums too (`airssys_component_ready` is
//! then the number ready), except the memory peak, which is the largest.

use std::collections::BTreeMap;

use airssys_wasm::host::{ComponentHost, ComponentInfo, LifecycleState};
use airssys_wasm::metrics::{DeniedKind, HistogramSnapshot, HostCallStats, TrapKind};
use airssys_wasm::WasmEngine;

use super::exposition::{Exposition, Kind};

/// Components a host may run before its series are aggregated by name: 256.
pub const DEFAULT_COMPONENT_LIMIT: usize = 256;

/// The label value of names past the limit, in aggregated mode.
pub const OTHER: &str = "_other";

/// A family rendered from each row: name, help, the row's value.
type Figure = (&'static str, &'static str, fn(&Row) -> u64);

/// A histogram family rendered from each row: name, help, the row's counts.
type HistogramFigure = (&'static str, &'static str, fn(&Row) -> &HistogramSnapshot);

/// One series' worth of a component (or of a name's components).
#[derive(Debug, Default)]
struct Row {
    handled: u64,
    failed: u64,
    restarts: u64,
    mailbox_len: u64,
    ready: u64,
    restarting: u64,
    memory_bytes: u64,
    memory_peak_bytes: u64,
    fuel: u64,
    denied: [u64; DeniedKind::ALL.len()],
    traps: [u64; TrapKind::ALL.len()],
    handle: HistogramSnapshot,
    wait: HistogramSnapshot,
    request: HistogramSnapshot,
}

impl Row {
    fn add_stats(&mut self, stats: &HostCallStats) {
        self.memory_bytes += stats.memory_bytes();
        self.memory_peak_bytes = self.memory_peak_bytes.max(stats.memory_peak_bytes());
        self.fuel += stats.fuel_consumed();
        for (i, kind) in DeniedKind::ALL.iter().enumerate() {
            self.denied[i] += stats.denied_of(*kind);
        }
        for (i, kind) in TrapKind::ALL.iter().enumerate() {
            self.traps[i] += stats.traps_of(*kind);
        }
        self.handle.merge(&stats.handle_seconds.snapshot());
        self.wait.merge(&stats.mailbox_wait_seconds.snapshot());
        self.request.merge(&stats.request_seconds.snapshot());
    }
}

/// The aggregation name of component `id`: the id without a trailing
/// `-<digits>` (`shipping-1` → `shipping`, `audit` → `audit`).
pub fn component_name(id: &str) -> &str {
    match id.rsplit_once('-') {
        Some((name, n))
            if !name.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => id,
    }
}

/// The per-component counters: name, help, the row's value.
const COUNTERS: [Figure; 3] = [
    (
        "airssys_messages_handled_total",
        "Messages the component handled.",
        |r| r.handled,
    ),
    (
        "airssys_messages_failed_total",
        "Messages whose handling failed (trap, error code).",
        |r| r.failed,
    ),
    (
        "airssys_restarts_total",
        "Times its supervisor restarted the component.",
        |r| r.restarts,
    ),
];

/// The per-component gauges.
const GAUGES: [Figure; 5] = [
    (
        "airssys_mailbox_len",
        "Messages waiting in the mailbox now.",
        |r| r.mailbox_len,
    ),
    (
        "airssys_component_ready",
        "1 while the component is ready (aggregated: how many are).",
        |r| r.ready,
    ),
    (
        "airssys_component_restarting",
        "1 while it waits out a restart's backoff (aggregated: how many do).",
        |r| r.restarting,
    ),
    (
        "airssys_component_memory_bytes",
        "Linear memory of the current instance, bytes.",
        |r| r.memory_bytes,
    ),
    (
        "airssys_component_memory_peak_bytes",
        "Largest linear memory any instance had, bytes.",
        |r| r.memory_peak_bytes,
    ),
];

/// Fuel, a counter rendered after the gauges.
const FUEL: [Figure; 1] = [(
    "airssys_component_fuel_consumed_total",
    "Fuel units handle-message consumed (0 without fuel).",
    |r| r.fuel,
)];

/// The per-component histograms.
const HISTOGRAMS: [HistogramFigure; 3] = [
    (
        "airssys_component_handle_duration_seconds",
        "handle-message calls, guest call start to end.",
        |r| &r.handle,
    ),
    (
        "airssys_component_mailbox_wait_seconds",
        "Time messages waited in the mailbox, enqueue to handler start.",
        |r| &r.wait,
    ),
    (
        "airssys_component_request_duration_seconds",
        "The component's own requests, call to answer.",
        |r| &r.request,
    ),
];

/// The per-component families and the host's, as Prometheus text, under
/// the cardinality rule with `limit`.
///
/// Cost: one pass over the host's components (two with the state list),
/// memory for at most `limit + 1` rows.
pub fn render(host: &ComponentHost, limit: usize) -> String {
    let list = host.list();
    let aggregated = list.len() > limit;
    let rows = rows(host, &list, aggregated, limit);
    let label = if aggregated {
        "component_name"
    } else {
        "component"
    };
    let mut e = Exposition::default();
    e.family(
        "airssys_metrics_components_aggregated",
        Kind::Gauge,
        "1 when per-component series are added up by component name (more components than --metrics-component-limit), 0 when labelled by id.",
    );
    e.sample(
        "airssys_metrics_components_aggregated",
        &[],
        if aggregated { 1.0 } else { 0.0 },
    );
    render_figures(&rows, label, Kind::Counter, &COUNTERS, &mut e);
    render_figures(&rows, label, Kind::Gauge, &GAUGES, &mut e);
    render_figures(&rows, label, Kind::Counter, &FUEL, &mut e);
    render_by_kind(&rows, label, &mut e);
    for (name, help, value) in HISTOGRAMS {
        e.family(name, Kind::Histogram, help);
        for (key, row) in &rows {
            e.histogram(name, &[(label, key)], value(row));
        }
    }
    let live = list
        .iter()
        .filter(|c| c.state != LifecycleState::Stopped)
        .count();
    render_host(host, live, &mut e);
    e.finish()
}

/// The rows of the scrape, one per component, or per name once there are
/// more than `limit` components (`aggregated`).
fn rows(
    host: &ComponentHost,
    list: &[ComponentInfo],
    aggregated: bool,
    limit: usize,
) -> BTreeMap<String, Row> {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    // The row of component `id` under the rule; names past the limit go
    // to `_other`.
    let row_of = |rows: &BTreeMap<String, Row>, id: &str| -> String {
        let key = if aggregated { component_name(id) } else { id };
        if rows.contains_key(key) || rows.len() < limit {
            key.to_owned()
        } else {
            OTHER.to_owned()
        }
    };
    for c in list {
        let key = row_of(&rows, c.id.as_str());
        let row = rows.entry(key).or_default();
        row.handled += c.handled;
        row.failed += c.failed;
        row.restarts += c.restarts;
        row.mailbox_len += c.mailbox_len as u64;
        row.ready += u64::from(c.state == LifecycleState::Ready);
        row.restarting += u64::from(c.state == LifecycleState::Restarting);
    }
    host.visit_metrics(|id, stats| {
        let key = row_of(&rows, id.as_str());
        rows.entry(key).or_default().add_stats(stats);
    });
    rows
}

/// One family per figure, one sample per row.
fn render_figures(
    rows: &BTreeMap<String, Row>,
    label: &str,
    kind: Kind,
    figures: &[Figure],
    e: &mut Exposition,
) {
    for (name, help, value) in figures {
        e.family(name, kind, help);
        for (key, row) in rows {
            e.sample(name, &[(label, key)], value(row) as f64);
        }
    }
}

/// The two counters labelled by kind as well: refused host calls and traps.
fn render_by_kind(rows: &BTreeMap<String, Row>, label: &str, e: &mut Exposition) {
    e.family(
        "airssys_component_host_calls_refused_total",
        Kind::Counter,
        "Host calls the allow-lists refused, by kind.",
    );
    for (key, row) in rows {
        for (i, kind) in DeniedKind::ALL.iter().enumerate() {
            e.sample(
                "airssys_component_host_calls_refused_total",
                &[(label, key), ("kind", kind.label())],
                row.denied[i] as f64,
            );
        }
    }
    e.family(
        "airssys_component_traps_total",
        Kind::Counter,
        "Incarnations failed by a trap, a timeout, the memory cap, a stack overflow or fuel, by kind.",
    );
    for (key, row) in rows {
        for (i, kind) in TrapKind::ALL.iter().enumerate() {
            e.sample(
                "airssys_component_traps_total",
                &[(label, key), ("kind", kind.label())],
                row.traps[i] as f64,
            );
        }
    }
}

/// The host's and the engine's families: live components, dead letters,
/// spawn latency, pool slots, module cache.
fn render_host(host: &ComponentHost, live: usize, e: &mut Exposition) {
    e.family(
        "airssys_live_components",
        Kind::Gauge,
        "Components not stopped.",
    );
    e.sample("airssys_live_components", &[], live as f64);
    e.family(
        "airssys_dead_letters_total",
        Kind::Counter,
        "Dead letters, by reason.",
    );
    for (reason, n) in host.dead_letter_stats().by_reason() {
        e.sample(
            "airssys_dead_letters_total",
            &[("reason", reason)],
            n as f64,
        );
    }
    e.family(
        "airssys_spawn_duration_seconds",
        Kind::Histogram,
        "Making a component: its first instance and its init.",
    );
    e.histogram(
        "airssys_spawn_duration_seconds",
        &[],
        &host.metrics().spawn_seconds.snapshot(),
    );
    let engine = host.engine();
    render_pool(engine, e);
    render_module_cache(engine, e);
}

/// Pooling-allocator slots in use and free, by resource (nothing without
/// the pool).
fn render_pool(engine: &WasmEngine, e: &mut Exposition) {
    if let Some(pool) = engine.pool_usage() {
        let slots = [
            ("memory", pool.memories_in_use, pool.memories_total),
            (
                "core_instance",
                pool.core_instances_in_use,
                pool.core_instances_total,
            ),
        ];
        e.family(
            "airssys_pool_slots_in_use",
            Kind::Gauge,
            "Pooling-allocator slots in use, by resource.",
        );
        for (resource, used, _) in slots {
            e.sample(
                "airssys_pool_slots_in_use",
                &[("resource", resource)],
                used as f64,
            );
        }
        e.family(
            "airssys_pool_slots_free",
            Kind::Gauge,
            "Pooling-allocator slots free, by resource.",
        );
        for (resource, used, total) in slots {
            e.sample(
                "airssys_pool_slots_free",
                &[("resource", resource)],
                total.saturating_sub(used) as f64,
            );
        }
    }
}

/// The module cache: hits, misses, evictions, entries, compile time.
fn render_module_cache(engine: &WasmEngine, e: &mut Exposition) {
    let cache = engine.module_cache_stats();
    let counters = [
        (
            "airssys_module_cache_hits_total",
            "Loads that found the guest compiled.",
            cache.hits,
        ),
        (
            "airssys_module_cache_misses_total",
            "Loads that compiled the guest.",
            cache.misses,
        ),
        (
            "airssys_module_cache_evictions_total",
            "Unused guests dropped from the module cache.",
            cache.evictions,
        ),
    ];
    for (name, help, value) in counters {
        e.family(name, Kind::Counter, help);
        e.sample(name, &[], value as f64);
    }
    e.family(
        "airssys_module_cache_entries",
        Kind::Gauge,
        "Compiled guests in the module cache.",
    );
    e.sample("airssys_module_cache_entries", &[], cache.entries as f64);
    e.family(
        "airssys_module_compile_duration_seconds",
        Kind::Histogram,
        "Compiling a guest (a module cache miss).",
    );
    e.histogram(
        "airssys_module_compile_duration_seconds",
        &[],
        &cache.compile_seconds,
    );
}

#[cfg(test)]
mod tests {
    use super::component_name;

    #[test]
    fn a_fleet_member_is_named_after_its_fleet() {
        assert_eq!(component_name("shipping-12"), "shipping");
        assert_eq!(component_name("audit"), "audit");
        assert_eq!(component_name("a-b"), "a-b");
        assert_eq!(component_name("-3"), "-3");
        assert_eq!(component_name("x-"), "x-");
    }
}
