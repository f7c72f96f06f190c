//! The observability endpoint of `airssys run --metrics-addr`: Prometheus
//! text on `GET /metrics`, component states as JSON on `GET /health` (200
//! when every component is ready, 503 otherwise; on a cluster host also
//! its standing in the cluster, 503 while its lease does not hold).
//! Served by hyper's HTTP/1.1, one request per connection, each answered
//! within 5 s.

use airssys_nats::{ConnectionState, ConnectionStatus};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

use crate::cluster::operate::{ClusterSlot, ClusterStatus};
use airssys_wasm::host::{ComponentHost, LifecycleState};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Largest request head accepted: 8 KiB (hyper answers 431 past it).
const MAX_HEAD: usize = 8 * 1024;

/// Time a connection has to send its request and take the answer: 5 s.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint reads its answers from. Cheap to clone.
#[derive(Clone)]
struct Sources {
    host: ComponentHost,
    metrics: PrometheusHandle,
    broker: Option<watch::Receiver<ConnectionStatus>>,
    cluster: Option<ClusterSlot>,
    component_limit: usize,
}

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
    let sources = Sources {
        host,
        metrics,
        broker,
        cluster,
        component_limit,
    };
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, sources.clone()));
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

/// Serves one connection: one request, answered within
/// [`CONNECTION_TIMEOUT`], then closed.
async fn connection(stream: TcpStream, sources: Sources) {
    let service = hyper::service::service_fn(move |req| {
        let answer = answer(&req, &sources);
        async move { Ok::<_, std::convert::Infallible>(answer) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_TIMEOUT, served).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "endpoint connection failed"),
        Err(_) => tracing::debug!("endpoint connection timed out"),
    }
}

/// The answer to `GET /metrics`, `GET /health`, or anything else.
fn answer<B>(req: &Request<B>, s: &Sources) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return respond(405, "text/plain", "only GET\n".into());
    }
    // `Some(None)`: a cluster host still joining its cluster.
    let cluster = s
        .cluster
        .as_ref()
        .map(|slot| slot.get().map(|h| h.status()));
    match req.uri().path() {
        "/metrics" => {
            if let Some(Some(status)) = &cluster {
                crate::telemetry::record_cluster(status);
            }
            let mut body = s.metrics.render();
            body.push_str(&crate::telemetry::components::render(
                &s.host,
                s.component_limit,
            ));
            respond(200, "text/plain; version=0.0.4", body)
        }
        "/health" => {
            let status = s.broker.as_ref().map(|b| *b.borrow());
            let (ready, body) = health_report(&s.host, status.as_ref(), cluster.as_ref());
            respond(if ready { 200 } else { 503 }, "application/json", body)
        }
        _ => respond(404, "text/plain", "try /metrics or /health\n".into()),
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

/// A response with `code`, content type `ty` and `body`.
fn respond(code: u16, ty: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ty));
    response
}
