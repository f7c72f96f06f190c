//! The control API's HTTP/1.1 server: hyper on tokio, one request per
//! connection, optionally over TLS (tokio-rustls, [`super::tls`]).
//!
//! hyper parses the request (a head over [`MAX_HEAD`] gets 431, a
//! malformed one 400, both with an empty body); this module admits it:
//! the bearer token first, then the body bounded at [`MAX_BODY`], all
//! within [`READ_TIMEOUT`]; then hands it to the route table and writes
//! the JSON answer.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::answer::{error, Answer, Request};
use super::auth::Token;
use super::{routes, uri, ControlConfig, Controller};

/// Largest request head accepted: 8 KiB (hyper's smallest read buffer).
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body accepted: 64 MiB (a component binary, for upgrade).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Time a client has to send its whole request (head and body): 30 s.
/// Handling is not under this timeout: an operation once started (an
/// upgrade of many instances, say) is never cut off halfway; each host call
/// has its own timeout.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds `config`'s address and serves until the returned task is aborted.
/// Returns the bound address (useful with port 0).
///
/// # Errors
/// The bind error.
pub async fn serve(
    config: ControlConfig,
    mut controller: Controller,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(config.addr).await?;
    let local = listener.local_addr()?;
    controller.token = config.token;
    let tls = config.tls;
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let controller = controller.clone();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        match tls {
                            None => connection(stream, peer, controller).await,
                            Some(tls) => {
                                match tokio::time::timeout(READ_TIMEOUT, tls.accept(stream)).await {
                                    Ok(Ok(stream)) => connection(stream, peer, controller).await,
                                    Ok(Err(e)) => {
                                        tracing::warn!(%peer, error = %e, "control connection refused: TLS handshake failed");
                                    }
                                    Err(_) => {
                                        tracing::warn!(%peer, "control connection refused: no TLS handshake in time");
                                    }
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    Ok((local, task))
}

/// Serves one connection (plain or TLS): one request, then closed.
async fn connection<S>(stream: S, peer: SocketAddr, controller: Controller)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let controller = controller.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(req, peer, &controller).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(MAX_HEAD)
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "control connection failed");
    }
}

/// The response to one request: admitted, routed, answered in JSON.
async fn answer<B>(
    req: HttpRequest<B>,
    peer: SocketAddr,
    controller: &Controller,
) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let read_by = tokio::time::Instant::now() + READ_TIMEOUT;
    let admitted = admit(req, peer, controller.token.as_ref(), read_by).await;
    let (code, body) = match admitted {
        Ok(admitted) => {
            let request = Request {
                peer,
                method: admitted.method.as_str(),
                segments: &admitted.segments,
                query: &admitted.query,
                body: admitted.body,
            };
            routes::route(controller, request).await
        }
        Err(refused) => refused,
    };
    json_response(code, &body)
}

/// A request the route table may see: authorised, its path decoded and
/// its body read.
#[derive(Debug)]
struct Admitted {
    method: String,
    segments: Vec<String>,
    query: std::collections::HashMap<String, String>,
    body: Vec<u8>,
}

/// Decodes the path, checks the token (before the body is read: an
/// unauthenticated upload is not taken) and reads the body within its
/// bound and `read_by`.
///
/// # Errors
/// The answer to give instead: 400 (a path that is not UTF-8), 401 (a
/// missing or wrong token), 413 (a body over [`MAX_BODY`]), 408 (not
/// received by `read_by`), 400 (the body broke off).
async fn admit<B>(
    req: HttpRequest<B>,
    peer: SocketAddr,
    token: Option<&Token>,
    read_by: tokio::time::Instant,
) -> Result<Admitted, Answer>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let segments = uri::segments(parts.uri.path()).map_err(|e| error(400, e, None))?;
    if let Some(token) = token {
        let given = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !token.accepts(given) {
            tracing::warn!(%peer, path = %segments.join("/"), "control request refused: bad or missing token");
            return Err(error(401, "missing or wrong bearer token", None));
        }
    }
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|len| *len > MAX_BODY as u64) {
        return Err(too_large(len));
    }
    let body = match tokio::time::timeout_at(read_by, Limited::new(body, MAX_BODY).collect()).await
    {
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(too_large(MAX_BODY as u64 + 1))
        }
        Ok(Err(e)) => return Err(error(400, format!("the request body broke off: {e}"), None)),
        Err(_) => {
            tracing::warn!(%peer, "control request not received in time");
            return Err(error(
                408,
                format!("the request was not received within {READ_TIMEOUT:?}"),
                None,
            ));
        }
    };
    Ok(Admitted {
        method: parts.method.as_str().to_owned(),
        segments,
        query: uri::query(parts.uri.query()),
        body,
    })
}

/// 413 for a body of `len` bytes (or more).
fn too_large(len: u64) -> Answer {
    error(
        413,
        format!("body of {len} bytes exceeds the limit of {MAX_BODY} bytes"),
        None,
    )
}

/// A JSON response with `code`; a 401 says which scheme to use.
fn json_response(code: u16, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::answer::error_body;

    fn post(path: &str) -> hyper::http::request::Builder {
        HttpRequest::builder().method("POST").uri(path)
    }

    async fn admitted(
        req: HttpRequest<Full<Bytes>>,
        token: Option<&Token>,
    ) -> Result<Admitted, Answer> {
        let by = tokio::time::Instant::now() + READ_TIMEOUT;
        admit(req, "127.0.0.1:1".parse().unwrap(), token, by).await
    }

    #[tokio::test]
    async fn a_request_is_decoded_and_its_body_read() {
        let req = post("/v1/components/a%2Fb/send?timeout_ms=5&x=a+b")
            .body(Full::new(Bytes::from_static(b"hello")))
            .unwrap();
        let a = admitted(req, None).await.unwrap();
        assert_eq!(a.method, "POST");
        assert_eq!(a.segments, ["v1", "components", "a/b", "send"]);
        assert_eq!(a.query["timeout_ms"], "5");
        assert_eq!(a.query["x"], "a b");
        assert_eq!(a.body, b"hello");
    }

    #[tokio::test]
    async fn the_token_is_checked_before_the_body() {
        let token = Token::new("s3cret").unwrap();
        let req = post("/v1/upgrade/x")
            .header("content-length", (MAX_BODY + 1).to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(admitted(req, Some(&token)).await.unwrap_err().0, 401);
        let req = post("/v1/components")
            .header("authorization", "Bearer s3cret")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert!(admitted(req, Some(&token)).await.is_ok());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_with_413() {
        // Declared too large: refused before reading.
        let req = post("/v1/upgrade/x")
            .header("content-length", (MAX_BODY + 1).to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (code, body) = admitted(req, None).await.unwrap_err();
        assert_eq!(code, 413);
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("exceeds the limit"));
        // Sent too large without a length (chunked): cut off at the limit.
        let req = post("/v1/upgrade/x")
            .body(Full::new(Bytes::from(vec![0u8; MAX_BODY + 1])))
            .unwrap();
        assert_eq!(admitted(req, None).await.unwrap_err().0, 413);
    }

    #[test]
    fn an_unauthorised_answer_names_the_scheme() {
        let r = json_response(401, &error_body("no", None));
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer");
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    }
}
