//! The example application (`examples/orders`) tested with the testkit:
//! each component alone, then the pipeline.

use std::time::Duration;

use airssys_rt::supervisor::HealthConfig;
use airssys_testkit::{spec_from_file, Counters, Probe, TestHost};
use airssys_wasm::{ComponentSpec, GuestHealth, Permissions, SubjectPattern, WasmValue};

/// `examples/orders/<name>.wat` as component `id`.
fn order(id: &str, name: &str) -> ComponentSpec {
    let path = format!(
        "{}/../../examples/orders/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    );
    spec_from_file(id, path).unwrap()
}

/// The validator as `airssys.toml` configures it.
fn validator() -> ComponentSpec {
    let publish = SubjectPattern::new("orders.priced.*").unwrap();
    order("validator", "validator")
        .subscribe("orders.new.*")
        .permissions(
            Permissions::deny_all()
                .allow_target("pricing")
                .allow_subject(publish),
        )
}

#[tokio::test(start_paused = true)]
async fn pricing_answers_a_request_with_the_priced_order() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(order("pricing", "pricing")).await?;
    assert_eq!(
        &t.expect_reply("pricing", "eu-1").await?[..],
        b"priced:eu-1"
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn validator_asks_pricing_and_publishes_the_priced_order_by_region() -> airssys_testkit::Result
{
    let t = TestHost::new()?;
    t.spawn_probe(Probe::new("pricing").reply("priced:eu-7"))
        .await?;
    t.spawn(validator()).await?;
    t.publish("orders.new.eu", "eu-7")?;
    let asked = t.expect_sent_to("pricing").await?;
    assert_eq!(
        (asked.from.as_deref(), &asked.payload[..], asked.request),
        (Some("validator"), &b"eu-7"[..], true)
    );
    assert_eq!(
        &t.expect_published("orders.priced.eu").await?.payload[..],
        b"priced:eu-7"
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_poison_order_restarts_validator_and_the_orders_behind_it_are_priced(
) -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(order("pricing", "pricing")).await?;
    t.spawn(validator()).await?;
    t.publish("orders.new.eu", "!poison-1")?;
    t.publish("orders.new.eu", "eu-2")?;
    assert_eq!(
        &t.expect_dead_letter("handler_failed").await?.payload[..],
        b"!poison-1"
    );
    t.expect_restart("validator").await?;
    assert_eq!(
        &t.expect_published("orders.priced.eu").await?.payload[..],
        b"priced:eu-2"
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn validator_rejects_an_order_pricing_cannot_price() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(validator()).await?; // no pricing: the request fails, the order is rejected
    t.publish("orders.new.us", "us-1")?;
    let rejected = t.expect_dead_letter("rejected").await?;
    assert_eq!(
        (rejected.target.as_str(), &rejected.payload[..]),
        ("validator", &b"us-1"[..])
    );
    t.expect_nothing_published("orders.priced.>", Duration::from_secs(1))
        .await?;
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn audit_counts_every_order_event_under_its_wildcard() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(order("audit", "audit").subscribe("orders.>"))
        .await?;
    for subject in [
        "orders.new.eu",
        "orders.priced.eu",
        "orders.new.us",
        "invoices.new",
    ] {
        t.publish(subject, "x")?;
    }
    t.expect_counters(
        "audit",
        Counters {
            handled: 3,
            ..Counters::default()
        },
    )
    .await?;
    assert_eq!(
        t.invoke("audit", "count", vec![]).await?,
        vec![WasmValue::I64(3)]
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn every_shipping_instance_gets_every_priced_order() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    for id in ["shipping-0", "shipping-1"] {
        t.spawn(order(id, "shipping").subscribe("orders.priced.*"))
            .await?;
    }
    t.publish("orders.priced.eu", "priced:eu-1")?;
    t.publish("orders.priced.us", "priced:us-1")?;
    for id in ["shipping-0", "shipping-1"] {
        t.expect_counters(
            id,
            Counters {
                handled: 2,
                ..Counters::default()
            },
        )
        .await?;
    }
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_pricing_is_restarted_by_its_health_checks() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    let checks = HealthConfig::new(Duration::from_millis(500), Duration::from_millis(250), 3);
    t.spawn(order("pricing", "pricing").health(checks)).await?;
    t.fail_health("pricing").await?;
    t.expect_restart("pricing").await?;
    t.expect_health("pricing", GuestHealth::Healthy).await?;
    assert_eq!(
        &t.expect_reply("pricing", "eu-1").await?[..],
        b"priced:eu-1"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_whole_pipeline_prices_ships_and_audits_an_order() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(order("pricing", "pricing")).await?;
    t.spawn(validator()).await?;
    t.spawn(order("audit", "audit").subscribe("orders.>"))
        .await?;
    t.spawn(order("shipping-0", "shipping").subscribe("orders.priced.*"))
        .await?;
    t.publish("orders.new.us", "us-1")?;
    assert_eq!(
        &t.expect_published("orders.priced.us").await?.payload[..],
        b"priced:us-1"
    );
    t.expect_counters(
        "audit",
        Counters {
            handled: 2,
            ..Counters::default()
        },
    )
    .await?;
    t.expect_counters(
        "shipping-0",
        Counters {
            handled: 1,
            ..Counters::default()
        },
    )
    .await?;
    t.expect_ledger_balanced().await?;
    Ok(())
}
