//! Host imports: send, publish, request (guest suspended), reply, log,
//! self id, time; allow-lists checked before `HostServices`, denials counted.

mod common;

use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::{
    codes, ComponentLimits, GuestMessage, HostCallError, Permissions, SubjectPattern,
};
use common::*;

fn codes_of(reply: &[u8]) -> (i32, i32) {
    (le_i32(&reply[0..4]), le_i32(&reply[4..8]))
}

#[tokio::test]
async fn allowed_send_and_publish_reach_host_services() {
    let engine = engine();
    let host = FakeHost::new();
    let perms = Permissions::deny_all()
        .allow_target("sink")
        .allow_subject(SubjectPattern::new("events.*").unwrap());
    let mut guest = spawn_with(
        &engine,
        "forwarder",
        "fwd",
        host.clone(),
        ComponentLimits::default(),
        perms,
    )
    .await;
    let reply = guest
        .handle_message(&GuestMessage::new(&b"sig"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(codes_of(&reply), (codes::OK, codes::OK));
    assert_eq!(
        host.calls(),
        vec![
            Call::Send {
                from: "fwd".into(),
                to: "sink".into(),
                payload: b"sig".to_vec()
            },
            Call::Publish {
                from: "fwd".into(),
                subject: "events.forwarded".into(),
                payload: b"sig".to_vec()
            },
        ]
    );
    assert_eq!(guest.denied_count(), 0);
}

#[tokio::test]
async fn calls_outside_the_allow_lists_are_denied_counted_and_never_reach_the_host() {
    let engine = engine();
    let host = FakeHost::new();
    let perms = Permissions::deny_all()
        .allow_target("someone-else")
        .allow_subject(SubjectPattern::new("metrics.>").unwrap());
    let mut guest = spawn_with(
        &engine,
        "forwarder",
        "fwd",
        host.clone(),
        ComponentLimits::default(),
        perms,
    )
    .await;
    for round in 1..=3u64 {
        let reply = guest
            .handle_message(&GuestMessage::new(&b"s"[..]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(codes_of(&reply), (codes::DENIED, codes::DENIED));
        assert_eq!(guest.denied_count(), 2 * round);
    }
    assert!(host.calls().is_empty());
    assert_eq!(
        guest
            .stats()
            .denied
            .load(std::sync::atomic::Ordering::Relaxed),
        6
    );
}

#[tokio::test]
async fn host_service_errors_reach_the_guest_as_codes() {
    let engine = engine();
    let host = FakeHost::new();
    *host.send_result.lock() = Err(HostCallError::MailboxFull);
    let mut guest = spawn_with(
        &engine,
        "forwarder",
        "fwd",
        host.clone(),
        ComponentLimits::default(),
        Permissions::allow_all(),
    )
    .await;
    let reply = guest
        .handle_message(&GuestMessage::new(&b"s"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(codes_of(&reply), (codes::MAILBOX_FULL, codes::OK));
    *host.send_result.lock() = Err(HostCallError::NoSuchTarget);
    let reply = guest
        .handle_message(&GuestMessage::new(&b"s"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(codes_of(&reply).0, codes::NO_SUCH_TARGET);
}

#[tokio::test]
async fn outgoing_payload_over_the_limit_is_too_large() {
    let engine = engine();
    let host = FakeHost::new();
    let limits = ComponentLimits::default().max_message_bytes(4095);
    let mut guest = spawn_with(
        &engine,
        "forwarder",
        "fwd",
        host.clone(),
        limits,
        Permissions::allow_all(),
    )
    .await;
    let reply = guest
        .handle_message(&GuestMessage::new(&b"b"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(le_i32(&reply), codes::TOO_LARGE);
    assert!(host.calls().is_empty());
    let limits = ComponentLimits::default().max_message_bytes(4096);
    let mut guest = spawn_with(
        &engine,
        "forwarder",
        "fwd2",
        host.clone(),
        limits,
        Permissions::allow_all(),
    )
    .await;
    let reply = guest
        .handle_message(&GuestMessage::new(&b"b"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(le_i32(&reply), codes::OK);
    assert_eq!(host.calls().len(), 1);
}

#[tokio::test]
async fn request_suspends_the_guest_and_returns_the_reply() {
    let engine = engine();
    let host = FakeHost::new();
    *host.request.lock() = RequestBehaviour::Reply(b"the answer".to_vec());
    let perms = Permissions::deny_all().allow_target("responder");
    let mut guest = spawn_with(
        &engine,
        "requester",
        "asker",
        host.clone(),
        ComponentLimits::default(),
        perms,
    )
    .await;
    let reply = guest
        .handle_message(&GuestMessage::new(&b"question"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.as_ref(), b"the answer");
    assert_eq!(
        host.calls(),
        vec![Call::Request {
            from: "asker".into(),
            to: "responder".into(),
            payload: b"question".to_vec(),
            timeout: Duration::from_millis(1000),
        }]
    );
}

#[tokio::test]
async fn request_waiting_does_not_block_other_tasks_or_count_as_execution_time() {
    let engine = engine();
    let host = FakeHost::new();
    *host.request.lock() = RequestBehaviour::Hang;
    // The guest asks for 1000 ms; the component allows at most 100 ms of
    // waiting, and only 10 ms of execution: waiting is not execution.
    let limits = ComponentLimits::default()
        .max_request_timeout(Duration::from_millis(100))
        .execution_timeout(Duration::from_millis(10));
    let mut guest = spawn_with(
        &engine,
        "requester",
        "asker",
        host.clone(),
        limits,
        Permissions::allow_all(),
    )
    .await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let other = tokio::spawn(async move { tx.send(()).unwrap() });
    let reply = guest
        .handle_message(&GuestMessage::new(&b"q"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(le_i32(&reply), codes::TIMEOUT);
    tokio::time::timeout(Duration::from_secs(1), rx)
        .await
        .unwrap()
        .unwrap();
    other.await.unwrap();
    match &host.calls()[0] {
        Call::Request { timeout, .. } => assert_eq!(*timeout, Duration::from_millis(100)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn denied_and_failed_requests_return_codes() {
    let engine = engine();
    let host = FakeHost::new();
    let mut guest = spawn_with(
        &engine,
        "requester",
        "asker",
        host.clone(),
        ComponentLimits::default(),
        Permissions::deny_all(),
    )
    .await;
    let reply = guest
        .handle_message(&GuestMessage::new(&b"q"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(le_i32(&reply), codes::DENIED);
    assert_eq!(guest.denied_count(), 1);
    assert!(host.calls().is_empty());

    *host.request.lock() = RequestBehaviour::Fail(HostCallError::NoSuchTarget);
    let mut guest = spawn_with(
        &engine,
        "requester",
        "asker2",
        host.clone(),
        ComponentLimits::default(),
        Permissions::allow_all(),
    )
    .await;
    let reply = guest
        .handle_message(&GuestMessage::new(&b"q"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(le_i32(&reply), codes::NO_SUCH_TARGET);
}

#[tokio::test]
async fn self_id_returns_the_component_id() {
    let engine = engine();
    let mut guest = spawn_with(
        &engine,
        "forwarder",
        "billing-7",
        FakeHost::new(),
        ComponentLimits::default(),
        Permissions::deny_all(),
    )
    .await;
    let reply = guest
        .handle_message(&GuestMessage::new(&b"i"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.as_ref(), b"billing-7");
}

#[tokio::test]
async fn time_is_monotonic() {
    let engine = engine();
    let mut guest = spawn(&engine, "forwarder", "clock").await;
    let read = |r: &[u8]| {
        (
            i64::from_le_bytes(r[0..8].try_into().unwrap()),
            i64::from_le_bytes(r[8..16].try_into().unwrap()),
        )
    };
    let (ms1, ns1) = read(
        &guest
            .handle_message(&GuestMessage::new(&b"t"[..]))
            .await
            .unwrap()
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (ms2, ns2) = read(
        &guest
            .handle_message(&GuestMessage::new(&b"t"[..]))
            .await
            .unwrap()
            .unwrap(),
    );
    assert!(ns2 > ns1 && ms2 >= ms1 + 5, "{ms1} {ns1} {ms2} {ns2}");
    // One clock: the guest reads `now_ms`, then `now_nanos`, so the second
    // is never behind the first; how far ahead depends only on how long the
    // thread was away between the two calls (a loaded machine), so the
    // bound is loose.
    for (ms, ns) in [(ms1, ns1), (ms2, ns2)] {
        let gap_ms = ns / 1_000_000 - ms;
        assert!((0..1_000).contains(&gap_ms), "{ms} ms, then {ns} ns");
    }
}

#[test]
fn subject_patterns_follow_nats_semantics() {
    let p = |s: &str| SubjectPattern::new(s).unwrap();
    assert!(p("a.b").matches("a.b"));
    assert!(!p("a.b").matches("a.b.c"));
    assert!(p("a.*").matches("a.b"));
    assert!(!p("a.*").matches("a"));
    assert!(!p("a.*").matches("a.b.c"));
    assert!(p("a.>").matches("a.b.c"));
    assert!(!p("a.>").matches("a"));
    assert!(p("*.x.>").matches("q.x.y"));
    assert!(p(">").matches("anything.at.all"));
    assert!(SubjectPattern::new("a.>.b").is_err());
    assert!(SubjectPattern::new("a..b").is_err());
    assert!(SubjectPattern::new("").is_err());
}

#[test]
fn target_allow_list_is_exact_unless_wildcard() {
    let perms = Permissions::deny_all().allow_target("a");
    assert!(perms.may_send("a") && !perms.may_send("ab") && !perms.may_send(""));
    assert!(Permissions::deny_all().allow_target("*").may_send("anyone"));
    assert!(!Permissions::deny_all().may_publish("x"));
    let _ = Arc::new(perms);
}

mod props {
    use airssys_wasm::SubjectPattern;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,4}"
    }

    proptest! {
        #[test]
        fn a_literal_pattern_matches_exactly_itself(a in prop::collection::vec(token(), 1..5), b in prop::collection::vec(token(), 1..5)) {
            let pa = SubjectPattern::new(&a.join(".")).unwrap();
            prop_assert!(pa.matches(&a.join(".")));
            prop_assert_eq!(pa.matches(&b.join(".")), a == b);
        }

        #[test]
        fn tail_wildcard_matches_every_longer_subject(prefix in prop::collection::vec(token(), 1..4), rest in prop::collection::vec(token(), 0..4)) {
            let pattern = SubjectPattern::new(&format!("{}.>", prefix.join("."))).unwrap();
            let mut subject = prefix.clone();
            subject.extend(rest.iter().cloned());
            prop_assert_eq!(pattern.matches(&subject.join(".")), !rest.is_empty());
        }

        #[test]
        fn star_matches_any_single_token(tokens in prop::collection::vec(token(), 1..5), i in 0usize..5) {
            let i = i % tokens.len();
            let mut pat = tokens.clone();
            pat[i] = "*".into();
            let pattern = SubjectPattern::new(&pat.join(".")).unwrap();
            prop_assert!(pattern.matches(&tokens.join(".")));
        }
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn log_goes_to_tracing_with_the_component_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let engine = engine();
    // The forwarder's `i` action logs its own id at info level.
    let mut guest = spawn(&engine, "forwarder", "logger-3").await;
    guest
        .handle_message(&GuestMessage::new(&b"i"[..]))
        .await
        .unwrap();
    let out = String::from_utf8(captured.0.lock().clone()).unwrap();
    assert!(out.contains("INFO"), "{out}");
    assert!(out.contains("component=logger-3"), "{out}");
}
