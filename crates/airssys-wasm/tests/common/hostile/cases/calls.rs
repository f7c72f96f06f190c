//! Host calls a guest has no right to, or that turn back on it: forbidden
//! targets, requests to itself and in a cycle, replies past the first.

use std::time::{Duration, Instant};

use airssys_wasm::{ComponentRef, Permissions, WasmValue};

use crate::common::hostile::*;

/// Send, publish and request with an empty allow-list: each refused as
/// denied and counted in `ComponentInfo::denied`; nothing reaches the
/// victim.
pub async fn forbidden_calls(form: Form) {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, form.neighbour()).await;
    host.spawn(form.spec("victim", "echo").subscribe("secrets.*"))
        .await
        .unwrap();
    let attacker = spawn_attacker(
        &host,
        form.spec("attacker", "forbidden")
            .permissions(Permissions::deny_all()),
    )
    .await;
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                let reply = attacker.request(&b"x"[..], WAIT).await.unwrap().unwrap();
                assert_eq!(
                    [0, 4, 8].map(|at| form.number(&reply, at)),
                    [form.refused(Refusal::Denied); 3]
                );
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    let a = info(&host, "attacker");
    assert_eq!((a.handled, a.failed, a.denied), (rounds, 0, 3 * rounds));
    assert_eq!(
        info(&host, "victim").handled,
        0,
        "nothing reached the victim"
    );
    assert_eq!(host.dead_letter_stats().total(), 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

/// A request to its own id waits behind the handler and times out, fast;
/// no deadlock, the inner request is handled afterwards and the guest
/// still answers.
pub async fn request_to_itself(form: Form) {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, form.neighbour()).await;
    let attacker = spawn_attacker(
        &host,
        form.spec("attacker", "cycler")
            .config("target", "attacker")
            .permissions(Permissions::deny_all().allow_target("attacker")),
    )
    .await;
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                let started = Instant::now();
                let reply = attacker.request(&b"1"[..], WAIT).await.unwrap().unwrap();
                assert_eq!(
                    form.number(&reply, 0),
                    form.refused(Refusal::Timeout),
                    "its own mailbox is behind it"
                );
                assert!(started.elapsed() < Duration::from_secs(5));
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    // Each round: the outer message, then the inner request, handled late
    // (its asker gone).
    settle(&host, "self requests", |h| {
        let a = info(h, "attacker");
        a.mailbox_len == 0 && a.handled == 2 * rounds
    })
    .await;
    let a = info(&host, "attacker");
    assert_eq!((a.failed, a.restarts), (0, 0));
    assert_eq!(host.dead_letter_stats().total(), 0);
    // Still answers.
    assert_eq!(&a_request(&host, "attacker", b"0").await[..], b"leaf");
    neighbour.host_alive_and_shutdown(&host).await;
}

/// ping requests pong, which requests ping: the inner request times out,
/// both handlers return; no deadlock, nothing lost.
pub async fn request_cycle(form: Form) {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, form.neighbour()).await;
    let group = attackers(&host).await;
    for (id, target) in [("ping", "pong"), ("pong", "ping")] {
        host.spawn_in(
            &group,
            form.spec(id, "cycler")
                .config("target", target)
                .permissions(Permissions::deny_all().allow_target(target)),
        )
        .await
        .unwrap();
    }
    let h = host.clone();
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                // ping -> pong -> ping: ping is busy waiting on pong.
                let started = Instant::now();
                let reply = a_request(&h, "ping", b"2").await;
                let rc = form.number(&reply, 0);
                assert!(
                    rc == form.refused(Refusal::Timeout) || rc == 4,
                    "ping timed out, or got pong's 4-byte timeout answer: {rc}"
                );
                assert!(started.elapsed() < Duration::from_secs(5));
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    settle(&host, "request cycle", |h| {
        let (ping, pong) = (info(h, "ping"), info(h, "pong"));
        ping.mailbox_len == 0 && ping.handled == 2 * rounds && pong.handled == rounds
    })
    .await;
    for id in ["ping", "pong"] {
        let c = info(&host, id);
        assert_eq!((c.failed, c.restarts), (0, 0), "{id}");
    }
    assert_eq!(host.dead_letter_stats().total(), 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

/// 100 replies per message: the first is the answer, each later one is
/// refused as already replied (the fixture counts the refusals).
pub async fn reply_spam(form: Form) {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, form.neighbour()).await;
    let attacker = spawn_attacker(&host, form.spec("attacker", "reply_spam")).await;
    let handle = attacker.clone();
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                let reply = handle.request(&b"first"[..], WAIT).await.unwrap();
                assert_eq!(reply.as_deref(), Some(&b"first"[..]));
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    assert_eq!(
        rejected_replies(form, &attacker).await,
        99 * i64::try_from(rounds).unwrap(),
        "every extra reply was refused as already replied"
    );
    let a = info(&host, "attacker");
    assert_eq!((a.handled, a.failed), (rounds + 1, 0));
    assert_eq!(host.dead_letter_stats().total(), 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

/// The reply-spam fixture's count of refused replies, one message more to
/// it: a core module answers an invoke of its `rejected_replies` export,
/// a component (which exports only the world's functions) a "count"
/// message.
async fn rejected_replies(form: Form, attacker: &ComponentRef) -> i64 {
    match form {
        Form::Core => {
            let results = attacker
                .invoke("rejected_replies", vec![], WAIT)
                .await
                .unwrap();
            match results.as_slice() {
                [WasmValue::I32(rejected)] => i64::from(*rejected),
                other => panic!("expected one i32, got {other:?}"),
            }
        }
        Form::Component => {
            let reply = attacker
                .request(&b"count"[..], WAIT)
                .await
                .unwrap()
                .unwrap();
            form.number(&reply, 0)
        }
    }
}
