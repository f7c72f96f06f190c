//! The observability endpoint of `airssys run --metrics-addr`: Prometheus
//! text on `GET /metrics`, component states as JSON on `GET /health` (200
//! when every component is ready, 503 otherwise; on a cluster host also
//! its standing in the cluster, 503 while its lease does not hold). A
//! minimal HTTP/1.1 server on tokio: one request per connection.

use airssys_nats::{ConnectionState, ConnectionStatus};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

use crate::cluster::operate::{ClusterSlot, ClusterStatus};
use airssys_wasm::host::{ComponentHost, LifecycleState};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Largest request head accepted: 8 KiB.
const MAX_HEAD: usize = 8 * 1024;

/// Binds `addr` and serves until the returned task is aborted. Returns the
/// bound address (useful with port 0). `cluster`: a cluster host's slot,
/// filled once its cluster runs. `component_limit`: the cardinality rule's
/// threshold (see [`crate::telemetry::components`]).
///
/// # Errors
/// The bind error.
pub async fn serve(
    addr: SocketAddr,
    host: ComponentHost,
    metrics: PrometheusHandle,
    broker: Option<watch::Receiver<ConnectionStatus>>,
    cluster: Option<ClusterSlot>,
    component_limit: usize,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let host = host.clone();
                    let metrics = metrics.clone();
                    let broker = broker.clone();
                    let cluster = cluster.clone();
                    tokio::spawn(async move {
                        let served = tokio::time::timeout(
                            Duration::from_secs(5),
                            handle(
                                stream,
                                &host,
                                &metrics,
                                broker.as_ref(),
                                cluster.as_ref(),
                                component_limit,
                            ),
                        )
                        .await;
                        match served {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::debug!(error = %e, "endpoint connection failed"),
                            Err(_) => tracing::debug!("endpoint connection timed out"),
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "endpoint accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    Ok((local, task))
}

async fn handle(
    mut stream: TcpStream,
    host: &ComponentHost,
    metrics: &PrometheusHandle,
    broker: Option<&watch::Receiver<ConnectionStatus>>,
    cluster: Option<&ClusterSlot>,
    component_limit: usize,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD {
            return respond(&mut stream, 431, "text/plain", "request head too large\n").await;
        }
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return respond(&mut stream, 405, "text/plain", "only GET\n").await;
    }
    // `Some(None)`: a cluster host still joining its cluster.
    let cluster = cluster.map(|slot| slot.get().map(|h| h.status()));
    match path {
        "/metrics" => {
            if let Some(Some(status)) = &cluster {
                crate::telemetry::record_cluster(status);
            }
            let mut body = metrics.render();
            body.push_str(&crate::telemetry::components::render(host, component_limit));
            respond(&mut stream, 200, "text/plain; version=0.0.4", &body).await
        }
        "/health" => {
            let status = broker.map(|b| *b.borrow());
            let (ready, body) = health_report(host, status.as_ref(), cluster.as_ref());
            respond(
                &mut stream,
                if ready { 200 } else { 503 },
                "application/json",
                &body,
            )
            .await
        }
        _ => respond(&mut stream, 404, "text/plain", "try /metrics or /health\n").await,
    }
}

/// `{"status": "ready"|"degraded", "components": {"id": "ready", ...}}` and
/// whether every component is ready.
pub fn health_json(host: &ComponentHost) -> (bool, String) {
    health_json_with(host, None)
}

/// As [`health_json`], with the NATS connection when the host joined one:
/// `"broker": {"state": "connected"|"disconnected"|…, "disconnects": n,
/// "for_ms": n}`. A host whose broker is not connected is `degraded` (503)
/// but keeps running; its local components keep working.
pub fn health_json_with(host: &ComponentHost, broker: Option<&ConnectionStatus>) -> (bool, String) {
    health_report(host, broker, None)
}

/// As [`health_json_with`], on a cluster host (`cluster` is `Some`; its
/// status `None` while the host is still joining):
/// `"cluster": {"host": id, "session": s, "lease": "holding"|"lost",
/// "live_hosts": n, "units_here": n}`. A cluster host may run no component
/// and be ready; it is `degraded` (503) while its lease does not hold (it
/// is fenced: it hands no message to a guest) or it is still joining.
pub fn health_report(
    host: &ComponentHost,
    broker: Option<&ConnectionStatus>,
    cluster: Option<&Option<ClusterStatus>>,
) -> (bool, String) {
    let list = host.list();
    let all_ready = list.iter().all(|c| c.state == LifecycleState::Ready);
    let ready = match cluster {
        None => !list.is_empty() && all_ready,
        Some(status) => all_ready && status.as_ref().is_some_and(|s| s.lease_holds),
    };
    let components: serde_json::Map<String, serde_json::Value> = list
        .iter()
        .map(|c| (c.id.as_str().to_owned(), c.state.label().into()))
        .collect();
    let mut body = serde_json::json!({
        "status": if ready { "ready" } else { "degraded" },
        "components": components,
    });
    let mut ready = ready;
    if let Some(b) = broker {
        ready &= b.state == ConnectionState::Connected;
        body["status"] = (if ready { "ready" } else { "degraded" }).into();
        body["broker"] = serde_json::json!({
            "state": b.state.as_str(),
            "disconnects": b.disconnects,
            "connects": b.connects,
            "for_ms": u64::try_from(b.for_how_long().as_millis()).unwrap_or(u64::MAX),
        });
    }
    match cluster {
        Some(Some(c)) => {
            body["cluster"] = serde_json::json!({
                "host": c.host,
                "session": c.session,
                "lease": if c.lease_holds { "holding" } else { "lost" },
                "live_hosts": c.live_hosts,
                "units_here": c.units_here,
            });
        }
        Some(None) => body["cluster"] = serde_json::json!({ "lease": "joining" }),
        None => {}
    }
    (ready, format!("{body}\n"))
}

async fn respond(stream: &mut TcpStream, code: u16, ty: &str, body: &str) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ty}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
