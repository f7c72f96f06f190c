//! Live upgrade: a running component's binary is replaced between two
//! messages, through its own mailbox, with no message lost or handled twice;
//! a version that fails to start changes nothing; state moves across through
//! the `snapshot`/`restore` pair.

use std::time::Duration;

use airssys_wasm::{ComponentFailure, ComponentHost, ComponentSpec, GuestError, HostError};

const T: Duration = Duration::from_secs(10);

/// A counting guest, version `version`.
///
/// Every message adds one to its count, except `?`, answered with three i32
/// (LE): the count, the version, and how many messages this version itself
/// handled; and `!`, which traps. `init` fails with code 7 when `init_fails`,
/// or with 9 when the component's configuration has a `fail` key and
/// `fail_if_configured`. With `state`, it exports `snapshot`/`restore`
/// (the count as 4 bytes).
fn counter(version: i32, init_fails: bool, fail_if_configured: bool, state: bool) -> String {
    let init = if init_fails {
        "(i32.const 7)".to_owned()
    } else if fail_if_configured {
        "(if (result i32) (i32.eq (call $config_get (i32.const 100) (i32.const 4) (i32.const 200) (i32.const 8)) (i32.const -10)) (then (i32.const 0)) (else (i32.const 9)))".to_owned()
    } else {
        "(i32.const 0)".to_owned()
    };
    let state = if state {
        r#"
  (func (export "snapshot") (result i32)
    (i32.store (i32.const 16) (global.get $count))
    (drop (call $reply (i32.const 16) (i32.const 4)))
    (i32.const 0))
  (func (export "restore") (param $p i32) (param $len i32) (result i32)
    (if (i32.ne (local.get $len) (i32.const 4)) (then (return (i32.const 1))))
    (global.set $count (i32.load (local.get $p)))
    (i32.const 0))"#
    } else {
        ""
    };
    format!(
        r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (import "airssys" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "fail")
  (global $heap (mut i32) (i32.const 1024))
  (global $count (mut i32) (i32.const 0))
  (global $mine (mut i32) (i32.const 0))
  (func (export "alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (local.get $len)))
    (local.get $p))
  (func (export "init") (result i32) {init})
  (func (export "cleanup"))
  (func (export "handle-message") (param $m i32) (param $len i32) (result i32)
    (local $p i32) (local $b i32)
    (local.set $p (i32.add (i32.add (i32.add (local.get $m) (i32.const 24))
      (i32.load offset=4 (local.get $m))) (i32.load offset=8 (local.get $m))))
    (if (i32.gt_u (i32.load offset=12 (local.get $m)) (i32.const 0))
      (then (local.set $b (i32.load8_u (local.get $p)))))
    (if (i32.eq (local.get $b) (i32.const 33)) (then unreachable))
    (if (i32.eq (local.get $b) (i32.const 63))
      (then
        (i32.store (i32.const 16) (global.get $count))
        (i32.store (i32.const 20) (i32.const {version}))
        (i32.store (i32.const 24) (global.get $mine))
        (drop (call $reply (i32.const 16) (i32.const 12)))
        (return (i32.const 0))))
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (global.set $mine (i32.add (global.get $mine) (i32.const 1)))
    (i32.const 0)){state})"#
    )
}

fn binary(version: i32, state: bool) -> Vec<u8> {
    counter(version, false, false, state).into_bytes()
}

/// (count, version, handled by this version) of component `id`.
async fn query(host: &ComponentHost, id: &str) -> (i32, i32, i32) {
    let reply = host.request(id, &b"?"[..], T).await.unwrap().unwrap();
    let word = |i: usize| i32::from_le_bytes(reply[i * 4..i * 4 + 4].try_into().unwrap());
    (word(0), word(1), word(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_under_steady_traffic_loses_and_repeats_no_message() {
    const SENDERS: usize = 4;
    const PER_SENDER: usize = 500;
    let host = ComponentHost::builder().build().unwrap();
    host.spawn(ComponentSpec::new("counter", binary(1, true)).mailbox_capacity(64))
        .await
        .unwrap();

    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move {
                for i in 0..PER_SENDER {
                    host.send("counter", &b"m"[..]).await.unwrap();
                    if i % 5 == 0 {
                        // Pace the traffic so the upgrade lands mid-stream.
                        tokio::task::yield_now().await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            })
        })
        .collect();

    // Upgrade once traffic is flowing, while the senders are still sending.
    let mut handled = host.component("counter").unwrap().stats().handled;
    while handled < 100 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        handled = host.component("counter").unwrap().stats().handled;
    }
    let report = host.upgrade("counter", binary(2, true), T).await.unwrap();
    assert_eq!(report.outcome.state_bytes, Some(4));
    assert_eq!(report.outcome.upgrades, 1);
    for s in senders {
        s.await.unwrap();
    }

    let (count, version, by_v2) = query(&host, "counter").await;
    assert_eq!(count as usize, SENDERS * PER_SENDER, "lost or repeated");
    assert_eq!(version, 2);
    assert!(
        by_v2 > 0,
        "v2 handled nothing: the upgrade came after the traffic"
    );
    assert!(
        count > by_v2,
        "v1 handled nothing: the upgrade came before the traffic"
    );
    let info = &host.list()[0];
    assert_eq!((info.upgrades, info.restarts, info.failed), (1, 0, 0));
    // Every message sent, plus the query, handled once; the upgrade itself
    // is not a message.
    assert_eq!(info.handled as usize, SENDERS * PER_SENDER + 1);
    assert_eq!(host.dead_letter_stats().total(), 0);
    host.shutdown(T).await;
}

#[tokio::test]
async fn failed_init_changes_nothing_and_the_old_version_keeps_answering() {
    let host = ComponentHost::builder().build().unwrap();
    let c = host
        .spawn(ComponentSpec::new("counter", binary(1, true)))
        .await
        .unwrap();
    for _ in 0..3 {
        c.send(&b"m"[..]).await.unwrap();
    }

    let error = host
        .upgrade("counter", counter(2, true, false, true).into_bytes(), T)
        .await
        .unwrap_err();
    match &error {
        HostError::UpgradeFailed {
            component,
            cause,
            rolled_back,
        } if matches!(
            **cause,
            ComponentFailure::Guest(GuestError::InitFailed { code: 7, .. })
        ) =>
        {
            assert_eq!(component.as_str(), "counter");
            assert!(rolled_back.is_empty());
        }
        other => panic!("unexpected: {other:?}"),
    }
    assert_eq!(query(&host, "counter").await, (3, 1, 3));

    // A binary that does not follow the ABI is refused before the component
    // sees anything.
    let error = host
        .upgrade("counter", &b"(module)"[..], T)
        .await
        .unwrap_err();
    assert!(matches!(error, HostError::Wasm(_)), "{error:?}");
    assert_eq!(query(&host, "counter").await, (3, 1, 3));
    let info = &host.list()[0];
    assert_eq!((info.upgrades, info.restarts, info.failed), (0, 0, 0));
    host.shutdown(T).await;
}

#[tokio::test]
async fn state_moves_across_when_both_versions_export_the_pair() {
    let host = ComponentHost::builder().build().unwrap();
    let c = host
        .spawn(ComponentSpec::new("counter", binary(1, true)))
        .await
        .unwrap();
    for _ in 0..5 {
        c.send(&b"m"[..]).await.unwrap();
    }
    let report = host.upgrade("counter", binary(2, true), T).await.unwrap();
    assert_eq!(report.outcome.state_bytes, Some(4));
    assert_eq!(query(&host, "counter").await, (5, 2, 0));

    // Without `restore` on the new version, it starts fresh.
    let report = host.upgrade("counter", binary(3, false), T).await.unwrap();
    assert_eq!(report.outcome.state_bytes, None);
    assert_eq!(report.outcome.upgrades, 2);
    assert_eq!(query(&host, "counter").await, (0, 3, 0));
    host.shutdown(T).await;
}

#[tokio::test]
async fn restarts_after_an_upgrade_use_the_new_version() {
    let host = ComponentHost::builder().build().unwrap();
    let c = host
        .spawn(ComponentSpec::new("counter", binary(1, true)))
        .await
        .unwrap();
    host.upgrade("counter", binary(2, true), T).await.unwrap();
    // The trap restarts the component; the query queued behind it reaches
    // the new incarnation, which is made from version 2.
    c.send(&b"!"[..]).await.unwrap();
    assert_eq!(query(&host, "counter").await, (0, 2, 0));
    assert_eq!(host.list()[0].restarts, 1);
    host.shutdown(T).await;
}

#[tokio::test]
async fn upgrade_all_rolls_back_the_instances_already_upgraded() {
    let host = ComponentHost::builder().build().unwrap();
    for id in ["w-0", "w-1", "w-2"] {
        let mut spec = ComponentSpec::new(id, binary(1, true));
        if id == "w-2" {
            spec = spec.config("fail", "yes");
        }
        let c = host.spawn(spec).await.unwrap();
        c.send(&b"m"[..]).await.unwrap();
    }
    let error = host
        .upgrade_all(
            &["w-0", "w-1", "w-2"],
            counter(2, false, true, true).into_bytes(),
            T,
        )
        .await
        .unwrap_err();
    match &error {
        HostError::UpgradeFailed {
            component,
            cause,
            rolled_back,
        } if matches!(
            **cause,
            ComponentFailure::Guest(GuestError::InitFailed { code: 9, .. })
        ) =>
        {
            assert_eq!(component.as_str(), "w-2");
            let rolled: Vec<&str> = rolled_back.iter().map(|c| c.as_str()).collect();
            assert_eq!(rolled, ["w-1", "w-0"]);
        }
        other => panic!("unexpected: {other:?}"),
    }
    // Every instance runs version 1 again, its count carried there and back.
    for id in ["w-0", "w-1", "w-2"] {
        let (count, version, _) = query(&host, id).await;
        assert_eq!((count, version), (1, 1), "{id}");
    }

    // Without the failing instance, all are upgraded.
    let reports = host
        .upgrade_all(
            &["w-0", "w-1"],
            counter(2, false, true, true).into_bytes(),
            T,
        )
        .await
        .unwrap();
    assert_eq!(reports.len(), 2);
    for id in ["w-0", "w-1"] {
        let (count, version, _) = query(&host, id).await;
        assert_eq!((count, version), (1, 2), "{id}");
    }
    host.shutdown(T).await;
}
