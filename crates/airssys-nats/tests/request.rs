//! Request/reply through NATS inboxes, with timeouts and no-responders; and a
//! plain `async-nats` client (no airssys code) on either end.

mod support;

use std::sync::Arc;
use std::time::Duration;

use airssys_nats::{BytesCodec, NatsBroker};
use airssys_rt::broker::{BrokerError, BrokerMessage, DistributedBroker, MessageBroker};
use bytes::Bytes;
use futures::StreamExt;
use support::{within, NatsServer};

async fn broker(server: &NatsServer) -> NatsBroker<Bytes> {
    NatsBroker::builder(server.url(), Arc::new(BytesCodec))
        .prefix("app")
        .connect()
        .await
        .expect("connects")
}

/// Subscribes `pattern` on `responder` and answers each request there
/// with `answer`, from a task of its own; returns once the server has the
/// subscription.
async fn serve(
    responder: &NatsBroker<Bytes>,
    pattern: &str,
    answer: impl Fn(&NatsBroker<Bytes>, &BrokerMessage<Bytes>) + Send + 'static,
) {
    let mut service = responder.subscribe(pattern).unwrap();
    responder.sync().await.unwrap();
    let responder = responder.clone();
    tokio::spawn(async move {
        while let Some(req) = service.recv().await {
            answer(&responder, &req);
        }
    });
}

#[tokio::test]
async fn a_request_gets_the_reply_of_a_subscriber_on_another_host() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server).await, broker(&server).await);
    serve(&b, "prices.*", |responder, req| {
        let mut answer = req.subject.as_bytes().to_vec();
        answer.extend_from_slice(&req.payload);
        responder.reply(req, Bytes::from(answer)).unwrap();
    })
    .await;
    let reply = a
        .request(
            "prices.apple",
            Bytes::from_static(b"?"),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(reply.payload, Bytes::from_static(b"prices.apple?"));
}

#[tokio::test]
async fn a_failure_answered_by_the_responder_is_a_typed_error_with_its_reason() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server).await, broker(&server).await);
    serve(&b, "prices.*", |responder, req| {
        responder
            .reply_failure(req, "the price list\nis gone")
            .unwrap();
    })
    .await;
    let started = std::time::Instant::now();
    let error = a
        .request("prices.pear", Bytes::new(), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BrokerError::Failed {
            subject: "prices.pear".into(),
            reason: "the price list is gone".into(),
        }
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // A message that is not a request cannot be answered.
    let not_a_request = BrokerMessage::new("prices.plum".into(), Bytes::new());
    assert!(matches!(
        b.reply_failure(&not_a_request, "no"),
        Err(BrokerError::NoReplyTo { .. })
    ));
}

#[tokio::test]
async fn a_request_nobody_subscribes_to_is_no_responders_at_once() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let a = broker(&server).await;
    let started = std::time::Instant::now();
    let error = a
        .request("nobody.home", Bytes::new(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(error, BrokerError::NoResponders { ref subject } if subject == "nobody.home"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no-responders must not wait for the timeout"
    );
}

#[tokio::test]
async fn a_request_whose_responder_is_silent_times_out() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server).await, broker(&server).await);
    let _silent = b.subscribe("silent").unwrap();
    b.sync().await.unwrap();
    let error = a
        .request("silent", Bytes::new(), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(error, BrokerError::Timeout { timeout, .. } if timeout == Duration::from_millis(100))
    );
}

#[tokio::test]
async fn a_plain_nats_client_requests_an_airssys_subscriber_under_its_prefix() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let b = broker(&server).await;
    serve(&b, "echo", |responder, req| {
        responder.reply(req, req.payload.clone()).unwrap();
    })
    .await;

    let plain = async_nats::connect(server.url()).await.unwrap();
    let reply = within(
        "the reply",
        plain.request("app.echo", Bytes::from_static(b"hi")),
    )
    .await
    .unwrap();
    assert_eq!(reply.payload, Bytes::from_static(b"hi"));
}

#[tokio::test]
async fn an_airssys_request_reaches_a_plain_nats_responder() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let plain = async_nats::connect(server.url()).await.unwrap();
    let mut requests = plain.subscribe("app.time").await.unwrap();
    plain.flush().await.unwrap();
    let responder = plain.clone();
    tokio::spawn(async move {
        while let Some(req) = requests.next().await {
            let reply = req.reply.expect("a reply subject");
            responder
                .publish(reply, Bytes::from_static(b"noon"))
                .await
                .unwrap();
        }
    });
    // The plain client's SUB has reached the server once its flush is answered.
    let ping = plain.new_inbox();
    let mut echo = plain.subscribe(ping.clone()).await.unwrap();
    plain.publish(ping, Bytes::new()).await.unwrap();
    within("the ping", echo.next()).await.unwrap();

    let a = broker(&server).await;
    let reply = a
        .request("time", Bytes::new(), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(reply.payload, Bytes::from_static(b"noon"));
}
