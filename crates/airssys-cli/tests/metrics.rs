//! `/metrics`: the per-component families a running host serves, and the
//! cardinality rule that keeps a scrape of a host with very many
//! components bounded.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airssys_cli::telemetry::components::render;
use airssys_wasm::host::{ComponentHost, ComponentSpec};
use airssys_wasm::EngineConfig;
use common::{example, http_get};

const ECHO: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32) i32.const 0))"#;

const WAIT: Duration = Duration::from_secs(10);

fn host(components: u32) -> ComponentHost {
    ComponentHost::builder()
        .engine(
            EngineConfig::default()
                .max_components(components)
                .max_memory_per_component(1 << 20),
        )
        .build()
        .unwrap()
}

/// The label values of family `name`'s samples for label `label`.
fn label_values(text: &str, name: &str, label: &str) -> Vec<String> {
    let prefix = format!("{name}{{{label}=\"");
    let mut values: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    values.dedup();
    values
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_limit_each_component_has_its_own_series() {
    let host = host(8);
    for id in ["w-0", "w-1", "audit"] {
        host.spawn(ComponentSpec::new(id, ECHO.as_bytes()))
            .await
            .unwrap();
    }
    host.request("w-1", &b"x"[..], WAIT).await.unwrap();
    let text = render(&host, 3);
    assert!(
        text.contains("airssys_metrics_components_aggregated 0\n"),
        "{text}"
    );
    assert_eq!(
        label_values(&text, "airssys_messages_handled_total", "component"),
        ["audit", "w-0", "w-1"]
    );
    assert_eq!(
        value(
            &text,
            "airssys_component_handle_duration_seconds_count{component=\"w-1\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&text, "airssys_component_memory_bytes{component=\"w-0\"}"),
        65536.0
    );
    assert_eq!(
        value(
            &text,
            "airssys_component_traps_total{component=\"audit\",kind=\"trap\"}"
        ),
        0.0
    );
    assert_eq!(value(&text, "airssys_spawn_duration_seconds_count"), 3.0);
    assert_eq!(value(&text, "airssys_module_cache_misses_total"), 1.0);
    assert_eq!(
        value(&text, "airssys_pool_slots_in_use{resource=\"memory\"}"),
        3.0
    );
    host.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_limit_components_add_up_by_name_and_extra_names_go_to_other() {
    let host = host(16);
    let ids = ["w-0", "w-1", "w-2", "x-0", "x-1", "audit", "billing", "crm"];
    for id in ids {
        host.spawn(ComponentSpec::new(id, ECHO.as_bytes()))
            .await
            .unwrap();
    }
    for id in ["w-0", "w-2", "x-1", "crm"] {
        host.request(id, &b"x"[..], WAIT).await.unwrap();
    }
    // 8 components over a limit of 3: three names of their own, the rest
    // in `_other`.
    let text = render(&host, 3);
    assert!(
        text.contains("airssys_metrics_components_aggregated 1\n"),
        "{text}"
    );
    assert!(!text.contains("{component=\""), "no per-id series: {text}");
    let names = label_values(&text, "airssys_messages_handled_total", "component_name");
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.iter().any(|n| n == "_other"), "{names:?}");
    let handled: f64 = names
        .iter()
        .map(|n| {
            value(
                &text,
                &format!("airssys_messages_handled_total{{component_name=\"{n}\"}}"),
            )
        })
        .sum();
    assert_eq!(handled, 4.0, "every message counted once: {text}");
    let ready: f64 = names
        .iter()
        .map(|n| {
            value(
                &text,
                &format!("airssys_component_ready{{component_name=\"{n}\"}}"),
            )
        })
        .sum();
    assert_eq!(ready, 8.0);

    // With room for every name: the fleets add up under their names.
    let text = render(&host, 7);
    assert_eq!(
        label_values(&text, "airssys_messages_handled_total", "component_name"),
        ["audit", "billing", "crm", "w", "x"]
    );
    assert_eq!(
        value(
            &text,
            "airssys_messages_handled_total{component_name=\"w\"}"
        ),
        2.0
    );
    assert_eq!(
        value(&text, "airssys_component_ready{component_name=\"w\"}"),
        3.0
    );
    assert_eq!(
        value(
            &text,
            "airssys_component_handle_duration_seconds_count{component_name=\"w\"}"
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "airssys_component_memory_bytes{component_name=\"x\"}"
        ),
        2.0 * 65536.0
    );
    host.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_of_a_thousand_distinct_components_stays_bounded() {
    let n = 1000;
    let host = host(n);
    // Every id a name of its own: the worst case for aggregation by name.
    let spec = ComponentSpec::new("c", ECHO.as_bytes());
    let fleet = (0..n).map(|i| spec.clone().with_id(format!("c{i}x")));
    for outcome in host.spawn_many(fleet).await {
        outcome.unwrap();
    }
    let limit = 50;
    let text = render(&host, limit);
    let names = label_values(&text, "airssys_messages_handled_total", "component_name");
    assert_eq!(names.len(), limit + 1, "{names:?}");
    // 17 families, three of them histograms of 25 lines, per label value;
    // the host's own families on top.
    let per_value = 14 + 3 * 25 + 7 + 5;
    let bound = (limit + 1) * per_value + 200;
    let lines = text.lines().filter(|l| !l.starts_with('#')).count();
    assert!(lines <= bound, "{lines} lines over {bound}");
    assert_eq!(
        value(&text, "airssys_component_ready{component_name=\"_other\"}"),
        f64::from(n) - limit as f64
    );
    host.shutdown(Duration::from_secs(60)).await;
}

#[test]
fn a_running_host_serves_the_new_families() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            &example(),
            "--duration",
            "10s",
            "--quiet",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = common::announced(&mut child, "serving /metrics and /health on http://");
    let deadline = Instant::now() + Duration::from_secs(15);
    let body = loop {
        let (code, body) = http_get(&addr, "/metrics");
        assert_eq!(code, 200);
        let count = "airssys_component_handle_duration_seconds_count{component=\"audit\"}";
        if body
            .lines()
            .find_map(|l| l.strip_prefix(count))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
        {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "audit never handled a message:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    for family in [
        "# TYPE airssys_component_handle_duration_seconds histogram",
        "# TYPE airssys_component_mailbox_wait_seconds histogram",
        "# TYPE airssys_component_request_duration_seconds histogram",
        "# TYPE airssys_spawn_duration_seconds histogram",
        "airssys_component_host_calls_refused_total{component=\"audit\",kind=\"send\"} 0",
        "airssys_module_cache_hits_total",
        "airssys_pool_slots_free{resource=\"memory\"}",
        "airssys_metrics_components_aggregated 0",
        "airssys_live_components 5",
    ] {
        assert!(body.contains(family), "{family} missing:\n{body}");
    }
    assert!(value(&body, "airssys_component_memory_bytes{component=\"audit\"}") >= 65536.0);
    // The validator traps on its poison orders.
    assert!(body.contains("airssys_component_traps_total{component=\"validator\",kind=\"trap\"}"));
}
