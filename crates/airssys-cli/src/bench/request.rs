//! The `request_rtt` scenario: `ComponentHost::request` to an echo,
//! against a tokio mpsc + oneshot round trip.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) async fn request_rtt(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "request_rtt";
    let payload = bytes::Bytes::from(vec![0xabu8; 64]);
    let host = host(S, 4)?;
    host.spawn(spec("echo".into())).await.map_err(host_err(S))?;
    let mut ours = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let reply = host
            .request("echo", payload.clone(), Duration::from_secs(5))
            .await
            .map_err(host_err(S))?;
        ours.push(micros(t.elapsed()));
        std::hint::black_box(reply);
    }
    host.shutdown(Duration::from_secs(10)).await;

    // Baseline: a task answering over tokio mpsc + oneshot.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(
        bytes::Bytes,
        tokio::sync::oneshot::Sender<bytes::Bytes>,
    )>(1024);
    let server = tokio::spawn(async move {
        while let Some((msg, reply)) = rx.recv().await {
            let _ = reply.send(msg);
        }
    });
    let mut base = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (otx, orx) = tokio::sync::oneshot::channel();
        if tx.send((payload.clone(), otx)).await.is_err() {
            break;
        }
        let reply = orx.await;
        base.push(micros(t.elapsed()));
        std::hint::black_box(reply.ok());
    }
    drop(tx);
    let _ = server.await;
    Ok(Scenario::latency(
        S,
        &mut ours,
        "tokio mpsc + oneshot round trip",
        &mut base,
    ))
}
