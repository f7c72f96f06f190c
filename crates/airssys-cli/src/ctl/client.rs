//! The HTTP side of `airssys ctl`: one request to the control API over
//! hyper's HTTP/1.1 client, on a plain TCP connection or a TLS one whose
//! server is verified (tokio-rustls, [`crate::control::tls`]).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, HOST};
use hyper::rt::{Read, Write};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::CtlError;

/// One request as `ctl` sends it.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path and query, already percent-encoded.
    pub path: String,
    /// The body (empty for most verbs).
    pub body: &'a [u8],
    /// The bearer token, if any.
    pub token: Option<&'a str>,
}

/// A response as `ctl` reads it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The whole body.
    pub body: Bytes,
}

/// Sends `call` to `addr` (`host:port`, `http://host:port`, or
/// `https://host:port` through `tls`) and reads the whole answer.
///
/// # Errors
/// [`CtlError::Address`] for an address it cannot use,
/// [`CtlError::Connect`] when the connection or the TLS handshake fails
/// (a refused server certificate says why), [`CtlError::Exchange`] when
/// the HTTP exchange breaks off.
pub async fn send(
    addr: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
    call: &Call<'_>,
) -> Result<Answer, CtlError> {
    let bad_address = |reason: String| CtlError::Address {
        addr: addr.to_owned(),
        reason,
    };
    let (secure, host_port) = match addr.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some(("http", rest)) => (false, rest),
        Some((scheme, _)) => {
            return Err(bad_address(format!(
                "unknown scheme `{scheme}`: use http:// or https://"
            )))
        }
        None => (false, addr),
    };
    let host_port = host_port.trim_end_matches('/');
    let connect = |source: std::io::Error| CtlError::Connect {
        addr: addr.to_owned(),
        source,
    };
    let request = Request::builder()
        .method(call.method)
        .uri(call.path.as_str())
        .header(HOST, host_port)
        .header(CONTENT_LENGTH, call.body.len());
    let request = match call.token {
        Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
        None => request,
    }
    .body(Full::new(Bytes::copy_from_slice(call.body)))
    .map_err(|e| bad_address(format!("cannot make the request: {e}")))?;
    let stream = TcpStream::connect(host_port).await.map_err(connect)?;
    let exchanged = if secure {
        let connector = tls.ok_or_else(|| bad_address("https:// without a TLS setup".into()))?;
        let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
        let name = crate::control::tls::server_name(host).map_err(bad_address)?;
        let stream = connector.connect(name, stream).await.map_err(connect)?;
        exchange(TokioIo::new(stream), request).await
    } else {
        exchange(TokioIo::new(stream), request).await
    };
    exchanged.map_err(|source| CtlError::Exchange {
        addr: addr.to_owned(),
        reason: chain(&source),
    })
}

/// One HTTP/1.1 exchange on `io`: the request written, the whole answer
/// read.
async fn exchange<I>(io: I, request: Request<Full<Bytes>>) -> Result<Answer, hyper::Error>
where
    I: Read + Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    // The connection is driven beside the request; it ends when the server
    // closes (one request per connection) or the sender is dropped.
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "control API connection ended with an error");
        }
    });
    let answer = async {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }
    .await;
    drop(sender);
    if answer.is_err() {
        driver.abort();
    }
    answer
}

/// An error with its causes, `outer: inner: innermost`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
