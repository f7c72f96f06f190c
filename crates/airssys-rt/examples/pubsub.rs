//! Publish/subscribe, request/reply and dead letters with the in-memory broker.
//!
//! Run: `cargo run -p airssys-rt --example pubsub`

use std::time::Duration;

use airssys_rt::broker::{BrokerError, InMemoryMessageBroker, MessageBroker};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BrokerError> {
    // A broker carrying `String` payloads, with the default settings.
    let broker = InMemoryMessageBroker::<String>::new();

    // Subscribe with wildcards: `*` is exactly one token, `>` one or more.
    let mut created = broker.subscribe("orders.*.created")?;
    let mut all_orders = broker.subscribe("orders.>")?;

    // Publish: every matching subscription gets a copy, without waiting.
    let report = broker.publish("orders.eu.created", "order #1".to_string())?;
    println!("published to {} subscribers", report.delivered);

    // Receive: each subscription has its own queue.
    for sub in [&mut created, &mut all_orders] {
        if let Some(msg) = sub.recv().await {
            println!(
                "{:>18} got {:?} on {}",
                sub.pattern(),
                msg.payload,
                msg.subject
            );
        }
    }

    // Request/reply: a responder answers on the request's `reply_to` inbox.
    let mut prices = broker.subscribe("prices.get")?;
    let responder = broker.clone();
    tokio::spawn(async move {
        while let Some(request) = prices.recv().await {
            let answer = format!("{} costs 42", request.payload);
            if let Err(error) = responder.reply(&request, answer) {
                eprintln!("reply failed: {error}");
            }
        }
    });
    let reply = broker
        .request("prices.get", "widget".to_string(), Duration::from_secs(1))
        .await?;
    println!("reply: {:?}", reply.payload);

    // Dead letters: a message a full queue cannot take goes to the
    // dead-letter subject, with the reason and its original subject.
    let mut dead_letters = broker.subscribe(broker.dead_letter_subject())?;
    let _slow = broker.subscribe_with_capacity("jobs.render", 1)?;
    broker.publish("jobs.render", "frame 1".to_string())?; // fills the queue
    broker.publish("jobs.render", "frame 2".to_string())?; // dead-lettered
    if let Some(dead) = dead_letters.recv().await {
        if let Some(reason) = &dead.dead_letter {
            println!(
                "dead letter {:?} on {}: {reason}",
                dead.payload, dead.subject
            );
        }
    }

    // Stats: every publish is accounted for.
    println!("{:?}", broker.stats());
    Ok(())
}
