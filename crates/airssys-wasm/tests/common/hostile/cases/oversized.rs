//! Payloads over `max_message_bytes`, coming in and going out.

use airssys_wasm::{ComponentLimits, GuestError, HostError, Permissions, SubjectPattern};
use bytes::Bytes;

use crate::common::hostile::*;

/// 4 KiB to a guest limited to 1 KiB: a direct request or send is refused
/// at the sender with the payload handed back; through a topic it is
/// refused before the guest is called and dead-lettered as rejected, with
/// no restart.
pub async fn oversized_in(form: Form) {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, form.neighbour()).await;
    let victim = host
        .spawn(
            form.spec("victim", "echo")
                .limits(ComponentLimits::default().max_message_bytes(1024))
                .subscribe("big.in"),
        )
        .await
        .unwrap();
    let h = host.clone();
    let published = neighbour
        .under_attack(|stop| async move {
            let big = Bytes::from(vec![7u8; 4096]);
            let mut published = 0u64;
            loop {
                // Direct: refused at the sender, the payload handed back.
                match victim.request(big.clone(), WAIT).await {
                    Err(HostError::MessageTooLarge {
                        component,
                        size,
                        limit,
                        payload,
                    }) => {
                        assert_eq!(component.as_str(), "victim");
                        assert_eq!((size, limit), (4096, 1024));
                        assert_eq!(payload, big);
                    }
                    other => panic!("expected MessageTooLarge, got {other:?}"),
                }
                let refused = victim.send(big.clone()).await.unwrap_err();
                assert_eq!(refused.into_payload(), Some(big.clone()));
                // Through a topic: accepted by the fan-out, refused before
                // the guest is called, dead-lettered.
                // (A copy the topic's queue could not take is dead-lettered by
                // the broker itself: `dropped`.)
                let report = h.publish("big.in", big.clone()).unwrap();
                assert_eq!(report.matched, 1);
                published += report.delivered as u64;
                if stop.stopped() {
                    return published;
                }
            }
        })
        .await;
    settle(&host, "oversized publishes", |h| {
        h.dead_letter_stats().rejected == published
    })
    .await;
    let v = info(&host, "victim");
    assert_eq!((v.handled, v.failed, v.restarts), (0, published, 0));
    assert_eq!(host.dead_letter_stats().total(), published);
    neighbour.host_alive_and_shutdown(&host).await;
}

/// A guest limited to 1 KiB sends, publishes and replies 4 KiB: each host
/// call is refused as too large and nothing reaches the target. A
/// component also returns 4 KiB from `handle-message`: `MessageTooLarge`
/// to the requester, the message failed and dead-lettered, no restart.
pub async fn oversized_out(form: Form) {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, form.neighbour()).await;
    host.spawn(form.spec("victim", "echo").subscribe("big.out"))
        .await
        .unwrap();
    let attacker = spawn_attacker(
        &host,
        form.spec("attacker", "oversized_out")
            .limits(ComponentLimits::default().max_message_bytes(1024))
            .permissions(
                Permissions::deny_all()
                    .allow_target("victim")
                    .allow_subject(SubjectPattern::new("big.>").unwrap()),
            ),
    )
    .await;
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                let reply = attacker.request(&b"go"[..], WAIT).await.unwrap().unwrap();
                assert_eq!(
                    [0, 4, 8].map(|at| form.number(&reply, at)),
                    [form.refused(Refusal::TooLarge); 3],
                    "send, publish and reply of 4096 bytes over a 1024 limit"
                );
                if form.returns_replies() {
                    // A reply returned from handle-message over the limit.
                    match guest_error(attacker.request(&b"big"[..], WAIT).await, "attacker") {
                        GuestError::MessageTooLarge { size, limit, .. } => {
                            assert_eq!((size, limit), (4096, 1024))
                        }
                        other => panic!("expected MessageTooLarge, got {other:?}"),
                    }
                }
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    // An oversized return failed its message (dead-lettered) without
    // failing the instance: no restart.
    let returned = if form.returns_replies() { rounds } else { 0 };
    settle(&host, "oversized returns", |h| {
        h.dead_letter_stats().total() == returned
    })
    .await;
    let a = info(&host, "attacker");
    assert_eq!((a.handled, a.failed, a.restarts), (rounds, returned, 0));
    assert_eq!(info(&host, "victim").handled, 0, "nothing got through");
    assert_eq!(host.dead_letter_stats().total(), returned);
    neighbour.host_alive_and_shutdown(&host).await;
}
