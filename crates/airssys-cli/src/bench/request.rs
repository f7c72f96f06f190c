//! The `request_rtt` scenario: `ComponentHost::request` to an echo,
//! against a tokio mpsc + oneshot round trip, in
//! [`ROUNDS`](super::rounds::ROUNDS) interleaved rounds.

use super::rounds::{latency_rounds, Sampler};
#[allow(clippy::wildcard_imports)]
use super::*;

const S: &str = "request_rtt";

/// Requests through the host to an echo component.
struct HostRequests {
    host: ComponentHost,
    payload: bytes::Bytes,
}

impl Sampler for HostRequests {
    async fn sample(&mut self, n: usize, out: &mut Vec<f64>) -> Result<(), BenchError> {
        for _ in 0..n {
            let t = Instant::now();
            let reply = self
                .host
                .request("echo", self.payload.clone(), Duration::from_secs(5))
                .await
                .map_err(host_err(S))?;
            out.push(micros(t.elapsed()));
            std::hint::black_box(reply);
        }
        Ok(())
    }
}

/// Round trips to a task answering over tokio mpsc + oneshot.
struct RawRequests {
    tx: tokio::sync::mpsc::Sender<(bytes::Bytes, tokio::sync::oneshot::Sender<bytes::Bytes>)>,
    payload: bytes::Bytes,
}

impl Sampler for RawRequests {
    async fn sample(&mut self, n: usize, out: &mut Vec<f64>) -> Result<(), BenchError> {
        for _ in 0..n {
            let t = Instant::now();
            let (otx, orx) = tokio::sync::oneshot::channel();
            if self.tx.send((self.payload.clone(), otx)).await.is_err() {
                return Err(wasm_err(S)("the answering task ended"));
            }
            let reply = orx.await;
            out.push(micros(t.elapsed()));
            std::hint::black_box(reply.ok());
        }
        Ok(())
    }
}

pub(super) async fn request_rtt(n: usize) -> Result<Scenario, BenchError> {
    let payload = bytes::Bytes::from(vec![0xabu8; 64]);
    let host = host(S, 4)?;
    host.spawn(spec("echo".into())).await.map_err(host_err(S))?;
    let mut ours = HostRequests {
        host: host.clone(),
        payload: payload.clone(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(
        bytes::Bytes,
        tokio::sync::oneshot::Sender<bytes::Bytes>,
    )>(1024);
    let server = tokio::spawn(async move {
        while let Some((msg, reply)) = rx.recv().await {
            let _ = reply.send(msg);
        }
    });
    let mut base = RawRequests { tx, payload };
    let row = latency_rounds(
        S,
        &mut ours,
        "tokio mpsc + oneshot round trip",
        &mut base,
        n.div_ceil(ROUNDS),
    )
    .await;
    drop(base);
    let _ = server.await;
    host.shutdown(Duration::from_secs(10)).await;
    row
}
