//! The `broker_fanout` scenario: publish to subscribed components until all
//! are handled, against a tokio mpsc fan-out to as many tasks.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) async fn broker_fanout(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "broker_fanout";
    const WINDOW: u64 = 256;
    let payload = bytes::Bytes::from(vec![0xabu8; 64]);
    let host = host(S, FANOUT + 4)?;
    let ids: Vec<String> = (0..FANOUT).map(|i| format!("sub{i}")).collect();
    for id in &ids {
        host.spawn(
            spec(id.clone())
                .subscribe("bench.fanout")
                .mailbox_capacity(4096),
        )
        .await
        .map_err(host_err(S))?;
    }
    let refs: Vec<_> = ids.iter().filter_map(|id| host.component(id)).collect();
    let t = Instant::now();
    for i in 0..n as u64 {
        // Keep at most WINDOW messages in flight per subscriber: the topic
        // fan-out never waits, so a flood would be dead-lettered as
        // mailbox_full instead of measured.
        if i % 64 == 0 {
            loop {
                let slowest = refs
                    .iter()
                    .map(|r| {
                        let s = r.stats();
                        s.handled + s.failed
                    })
                    .min()
                    .unwrap_or(0);
                if i - slowest.min(i) < WINDOW {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        host.publish("bench.fanout", payload.clone())
            .map_err(host_err(S))?;
    }
    wait_handled(&host, &ids, (n * FANOUT) as u64, S).await?;
    let ours = (n * FANOUT) as f64 / t.elapsed().as_secs_f64();
    host.shutdown(Duration::from_secs(10)).await;

    // Baseline: one producer, FANOUT consumer tasks on bounded mpsc channels.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut senders = Vec::with_capacity(FANOUT);
    for _ in 0..FANOUT {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4096);
        let done = done_tx.clone();
        tokio::spawn(async move {
            let mut seen = 0usize;
            while let Some(m) = rx.recv().await {
                std::hint::black_box(m);
                seen += 1;
                if seen == n {
                    let _ = done.send(());
                }
            }
        });
        senders.push(tx);
    }
    let t = Instant::now();
    for _ in 0..n {
        for tx in &senders {
            if tx.send(payload.clone()).await.is_err() {
                break;
            }
        }
    }
    for _ in 0..FANOUT {
        done_rx.recv().await;
    }
    let base = (n * FANOUT) as f64 / t.elapsed().as_secs_f64();
    drop(senders);
    Ok(Scenario::value(
        S,
        "msg/s",
        (n * FANOUT) as u64,
        ours,
        "tokio mpsc fan-out to 8 tasks",
        base,
    ))
}
