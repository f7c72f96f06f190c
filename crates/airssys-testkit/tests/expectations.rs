//! Each expectation of the testkit, met by a real component, and failing
//! with a message that says what was expected and shows the traffic.

use std::time::Duration;

use airssys_rt::supervisor::{BackoffPolicy, HealthConfig};
use airssys_testkit::{spec_from_file, Counters, Error, Probe, TestHost};
use airssys_wasm::{ComponentSpec, GuestHealth, Permissions, SubjectPattern};

/// A fixture of airssys-wasm's tests.
fn fixture(id: &str, name: &str) -> ComponentSpec {
    let path = format!(
        "{}/../airssys-wasm/tests/fixtures/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    );
    spec_from_file(id, path).unwrap()
}

/// A test host whose expectations give up after 200 ms (of the paused clock).
fn impatient() -> TestHost {
    TestHost::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
}

/// The text of a failed expectation.
fn failure<T: std::fmt::Debug>(result: airssys_testkit::Result<T>) -> String {
    match result {
        Err(error @ Error::Expectation(_)) => error.to_string(),
        other => panic!("expected a failed expectation, got {other:?}"),
    }
}

fn forwarder() -> ComponentSpec {
    fixture("forwarder", "forwarder").permissions(
        Permissions::deny_all()
            .allow_target("sink")
            .allow_subject(SubjectPattern::new("events.>").unwrap()),
    )
}

#[tokio::test(start_paused = true)]
async fn expect_published_and_expect_sent_to_see_what_a_component_did() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn_probe(Probe::new("sink")).await?;
    t.spawn(forwarder()).await?;
    t.send("forwarder", "s-hello").await?;
    let published = t.expect_published("events.*").await?;
    assert_eq!(
        (published.subject.as_str(), published.sender.as_deref()),
        ("events.forwarded", Some("forwarder"))
    );
    let sent = t.expect_sent_to("sink").await?;
    assert_eq!(
        (sent.from.as_deref(), &sent.payload[..], sent.request),
        (Some("forwarder"), &b"s-hello"[..], false)
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn each_recorded_event_meets_one_expectation() -> airssys_testkit::Result {
    let t = impatient();
    t.publish("a.b", "one")?;
    t.expect_published("a.*").await?;
    let text = failure(t.expect_published("a.*").await);
    assert!(
        text.contains("a publish on a subject matching `a.*`"),
        "{text}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_missing_publish_fails_with_the_recorded_traffic() {
    let t = impatient();
    t.spawn(fixture("echo", "echo")).await.unwrap();
    t.publish("orders.new.eu", "eu-1").unwrap();
    t.request("echo", "ping").await.unwrap();
    let text = failure(t.expect_published("orders.priced.*").await);
    assert!(text.starts_with("expected a publish on a subject matching `orders.priced.*`, but none came within 200ms"), "{text}");
    for line in [
        "recorded traffic",
        "published     orders.new.eu from the test: \"eu-1\"",
        "test request  echo: \"ping\"",
        "reply         from echo: \"ping\"",
        "echo started",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn expect_reply_returns_the_reply_or_says_why_there_was_none() {
    let t = impatient();
    t.spawn(fixture("echo", "echo")).await.unwrap();
    t.spawn_probe(Probe::new("silent")).await.unwrap();
    assert_eq!(&t.expect_reply("echo", "ping").await.unwrap()[..], b"ping");
    let text = failure(t.expect_reply("silent", "ping").await);
    assert!(
        text.starts_with(
            "expected a reply from silent, but it handled the request without replying"
        ),
        "{text}"
    );
    let text = failure(t.expect_reply("nobody", "ping").await);
    assert!(
        text.contains("the request failed: no component named nobody"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_probe_records_requests_and_answers_them() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn_probe(Probe::new("pricing").reply("priced:42"))
        .await?;
    assert_eq!(
        &t.expect_reply("pricing", "order-1").await?[..],
        b"priced:42"
    );
    let sent = t.expect_sent_to("pricing").await?;
    assert_eq!(
        (sent.from, &sent.payload[..], sent.request),
        (None, &b"order-1"[..], true)
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn expect_sent_to_without_a_probe_says_how_to_get_one() {
    let t = impatient();
    let text = failure(t.expect_sent_to("sink").await);
    assert!(text.contains("expected a message sent to sink"), "{text}");
    assert!(text.contains("spawn a Probe under that id"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn expect_dead_letter_matches_a_label_or_the_reason_text() {
    let t = impatient();
    t.spawn(fixture("counter", "crashing_counter"))
        .await
        .unwrap();
    t.send("counter", "!boom").await.unwrap();
    let letter = t.expect_dead_letter("handler_failed").await.unwrap();
    assert_eq!(
        (letter.target.as_str(), &letter.payload[..]),
        ("counter", &b"!boom"[..])
    );
    assert!(letter.reason.contains("guest trapped"), "{}", letter.reason);
    let text = failure(t.expect_dead_letter("mailbox_full").await);
    assert!(
        text.starts_with("expected a dead letter for reason `mailbox_full`"),
        "{text}"
    );
    assert!(
        text.contains("dead letter   for counter (handler failed: "),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_injected_crash_is_seen_as_a_restart() {
    let t = impatient();
    t.spawn(fixture("counter", "crashing_counter"))
        .await
        .unwrap();
    t.send("counter", "x").await.unwrap();
    t.crash("counter").await.unwrap();
    let restart = t.expect_restart("counter").await.unwrap();
    assert_eq!(restart.attempt, 1);
    // Fresh state: the count starts again.
    assert_eq!(
        &t.expect_reply("counter", "y").await.unwrap()[..],
        &1i32.to_le_bytes()
    );
    // The injected crash is control, not a message: it fails the
    // incarnation (one restart) but is no failed message.
    t.expect_counters(
        "counter",
        Counters {
            handled: 2,
            failed: 0,
            restarts: 1,
        },
    )
    .await
    .unwrap();
    let text = failure(t.expect_restart("counter").await);
    assert!(
        text.starts_with("expected a restart of counter, but none came"),
        "{text}"
    );
    assert!(
        text.contains("test fault    counter: injected crash"),
        "{text}"
    );
    assert!(text.contains("counter restarted (attempt 1"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_failing_health_check_restarts_the_component_after_the_threshold(
) -> airssys_testkit::Result {
    let t = TestHost::new()?;
    let checks = HealthConfig::new(Duration::from_secs(1), Duration::from_millis(500), 3);
    t.spawn(fixture("echo", "echo").health(checks)).await?;
    t.fail_health("echo").await?;
    t.expect_health(
        "echo",
        GuestHealth::Unhealthy("health failure injected by the test".into()),
    )
    .await?;
    t.expect_restart("echo").await?;
    t.expect_health("echo", GuestHealth::Healthy).await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn expect_health_and_expect_counters_report_what_the_component_had() {
    let t = impatient();
    t.spawn(fixture("echo", "echo")).await.unwrap();
    t.fail_health("echo").await.unwrap();
    let text = failure(t.expect_health("echo", GuestHealth::Healthy).await);
    assert!(text.starts_with("expected echo to report Healthy within 200ms, but it answered Unhealthy(\"health failure injected by the test\") (ready)"), "{text}");
    let text = failure(
        t.expect_counters(
            "echo",
            Counters {
                handled: 99,
                ..Counters::default()
            },
        )
        .await,
    );
    assert!(text.contains("but it had Counters { handled: "), "{text}");
}

#[tokio::test(start_paused = true)]
async fn the_ledger_balances_with_handled_failed_and_dead_lettered_messages(
) -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(fixture("counter", "crashing_counter").subscribe("ticks.>"))
        .await?;
    for payload in ["a", "!crash", "b"] {
        t.send("counter", payload).await?;
    }
    t.publish("ticks.one", "c")?;
    t.crash("counter").await?;
    let ledger = t.expect_ledger_balanced().await?;
    let row = ledger.row("counter").unwrap();
    // Three sends and a publish delivered; "!crash" traps its handler. The
    // injected crash is control, counted on neither side.
    assert_eq!((row.delivered, row.handled, row.failed), (Some(4), 3, 1));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_message_the_ledger_cannot_account_for_fails_it_with_the_table() {
    let t = impatient();
    t.spawn(fixture("echo", "echo")).await.unwrap();
    t.send("echo", "counted").await.unwrap();
    // Sent around the test host: handled, but the ledger never saw it go in.
    t.host().send("echo", &b"uncounted"[..]).await.unwrap();
    let text = failure(t.expect_ledger_balanced().await);
    assert!(text.contains("the ledger does not balance"), "{text}");
    assert!(text.contains("echo") && text.contains("MISSING"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn components_reachable_by_direct_sends_are_listed_but_not_checked() -> airssys_testkit::Result
{
    let t = TestHost::new()?;
    t.spawn_probe(Probe::new("sink")).await?;
    t.spawn(forwarder()).await?;
    t.send("forwarder", "s-1").await?;
    t.expect_sent_to("sink").await?;
    let ledger = t.expect_ledger_balanced().await?;
    assert_eq!(ledger.row("sink").unwrap().delivered, None);
    assert_eq!(ledger.row("forwarder").unwrap().delivered, Some(1));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_paused_clock_runs_long_backoffs_and_health_intervals_at_once() -> airssys_testkit::Result
{
    let started = std::time::Instant::now();
    let t = TestHost::builder()
        .backoff(BackoffPolicy::exponential(
            Duration::from_secs(30),
            Duration::from_secs(60),
        ))
        .timeout(Duration::from_secs(120))
        .build()?;
    let checks = HealthConfig::new(Duration::from_secs(20), Duration::from_secs(1), 2);
    t.spawn(fixture("echo", "echo").health(checks)).await?;
    t.crash("echo").await?;
    let restart = t.expect_restart("echo").await?;
    assert!(restart.delay >= Duration::from_secs(15), "{restart:?}");
    t.fail_health("echo").await?;
    t.expect_restart("echo").await?;
    let traffic = t.traffic();
    assert!(
        traffic.0.last().unwrap().at >= Duration::from_secs(40),
        "{traffic}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?} of real time",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_failed_expectation_prints_the_same_with_debug_as_with_display() {
    let t = impatient();
    let error = t.expect_restart("nobody").await.unwrap_err();
    assert_eq!(format!("{error:?}"), format!("{error}"));
    assert_eq!(
        error.to_string(),
        "expected a restart of nobody, but none came within 200ms\nrecorded traffic: nothing"
    );
    assert!(error.expectation().unwrap().traffic.0.is_empty());
}

#[test]
fn the_public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TestHost>();
    send_sync::<Error>();
    send_sync::<airssys_testkit::Traffic>();
    send_sync::<airssys_testkit::RecordingBroker>();
}

#[tokio::test(start_paused = true)]
async fn a_component_spawned_in_a_group_is_in_the_ledger() -> airssys_testkit::Result {
    use airssys_rt::supervisor::{ChildSpec, SupervisorNode};
    let t = TestHost::new()?;
    let group = t
        .host()
        .supervisor()
        .add_supervisor(
            ChildSpec::new("workers"),
            SupervisorNode::builder("workers"),
        )
        .await
        .expect("the group starts");
    t.spawn_in(&group, fixture("counter", "counter").subscribe("ticks.*"))
        .await?;
    t.publish("ticks.one", "a")?;
    t.publish("ticks.two", "b")?;
    t.send("counter", "c").await?;
    let ledger = t.expect_ledger_balanced().await?;
    let row = ledger
        .row("counter")
        .expect("the grouped component has a row");
    assert_eq!((row.delivered, row.handled), (Some(3), 3));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_crash_is_a_down_with_reason_failed_and_a_wrong_reason_says_what_came() {
    let t = impatient();
    t.spawn(fixture("counter", "crashing_counter"))
        .await
        .unwrap();
    let monitor = t.monitor("counter");
    t.crash("counter").await.unwrap();
    let down = t.expect_down(monitor, "failed").await.unwrap();
    assert_eq!(down.component.as_str(), "counter");
    // A restart ended that monitor; the next incarnation's stop is a shutdown.
    let monitor = t.monitor("counter");
    t.stop("counter").await.unwrap();
    let text = failure(t.expect_down(monitor, "failed").await);
    assert!(
        text.contains("counter to go down with reason failed") && text.contains("shutdown"),
        "{text}"
    );
    t.expect_down(t.monitor("counter"), "noproc").await.unwrap();
}
