//! The server killed and restarted under a broker: the state is reported,
//! publishes fail loudly meanwhile, and the broker resumes on its own.

mod support;

use std::sync::Arc;
use std::time::Duration;

use airssys_nats::{BytesCodec, ConnectionState, NatsBroker};
use airssys_rt::broker::{BrokerError, MessageBroker};
use bytes::Bytes;
use support::{within, NatsServer};

async fn wait_for(broker: &NatsBroker<Bytes>, state: ConnectionState) {
    let mut status = broker.connection_status();
    within(
        "the connection state",
        status.wait_for(|s| s.state == state),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_broker_survives_a_server_restart_and_resumes() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let connect = || {
        NatsBroker::builder(server.url(), Arc::new(BytesCodec))
            .prefix("app")
            .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
            .connect()
    };
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    let mut sub = b.subscribe("ticks").unwrap();
    b.sync().await.unwrap();
    a.publish("ticks", Bytes::from_static(b"before")).unwrap();
    assert_eq!(
        within("before", sub.recv()).await.unwrap().payload,
        Bytes::from_static(b"before")
    );
    assert_eq!(a.connection_status().borrow().connects, 1);

    server.kill();
    wait_for(&a, ConnectionState::Disconnected).await;
    let refused = a.publish("ticks", Bytes::from_static(b"during"));
    assert!(
        matches!(refused, Err(BrokerError::Transport { .. })),
        "{refused:?}"
    );
    assert_eq!(a.stats().refused, 1);

    server.restart().unwrap();
    wait_for(&a, ConnectionState::Connected).await;
    wait_for(&b, ConnectionState::Connected).await;
    // The client re-subscribes on reconnect; sync makes sure the server has it.
    b.sync().await.unwrap();
    a.publish("ticks", Bytes::from_static(b"after")).unwrap();
    assert_eq!(
        within("after", sub.recv()).await.unwrap().payload,
        Bytes::from_static(b"after")
    );
    let status = *a.connection_status().borrow();
    assert_eq!((status.disconnects, status.connects), (1, 2));
}
