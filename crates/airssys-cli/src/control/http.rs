//! The bit of HTTP/1.1 the control API needs, on tokio: one request per
//! connection (`Connection: close`), a bounded head and a bounded
//! `Content-Length` body; and a matching client for `airssys ctl`.
//!
//! Hand-written, like the metrics endpoint, rather than hyper/axum: the API
//! is a dozen routes of one request each, this file is the whole transport,
//! and the binary keeps no HTTP stack in its dependency tree.

use std::collections::HashMap;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head accepted: 8 KiB.
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body accepted: 64 MiB (a component binary, for upgrade).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// A parsed request head; the body is read separately, after the caller
/// has decided the request may have one (auth first).
#[derive(Debug)]
pub struct Head {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, percent-decoded per segment, without the query.
    pub segments: Vec<String>,
    /// Query parameters, percent-decoded.
    pub query: HashMap<String, String>,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    /// Bytes read past the head: the start of the body.
    rest: Vec<u8>,
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection failed.
    Io(std::io::Error),
    /// The head is malformed or too large: answer with this status and message.
    Bad(u16, String),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads the request head.
///
/// # Errors
/// [`ReadError`].
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Head, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Bad(431, "request head too large".into()));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(ReadError::Bad(400, "incomplete request head".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let rest = buf[end + 4..].to_vec();
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| ReadError::Bad(400, "request head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(400, format!("bad request line `{line}`")));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ReadError::Bad(400, format!("bad percent-encoding in `{path}`")))?;
    let mut params = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
            return Err(ReadError::Bad(400, format!("bad query parameter `{pair}`")));
        };
        params.insert(k, v);
    }
    let mut headers = HashMap::new();
    for h in lines {
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    Ok(Head {
        method: method.to_owned(),
        segments,
        query: params,
        headers,
        rest,
    })
}

impl Head {
    /// A header's value (name in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Reads the `Content-Length` body (at most [`MAX_BODY`] bytes).
    ///
    /// # Errors
    /// [`ReadError::Bad`]: 411 for a `Transfer-Encoding` body, 413 for one
    /// over [`MAX_BODY`], 400 for a malformed length; [`ReadError::Io`].
    pub async fn read_body<S: AsyncRead + Unpin>(
        self,
        stream: &mut S,
    ) -> Result<Vec<u8>, ReadError> {
        if self.header("transfer-encoding").is_some() {
            return Err(ReadError::Bad(
                411,
                "send the body with a Content-Length, not a Transfer-Encoding".into(),
            ));
        }
        let len = match self.header("content-length") {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ReadError::Bad(400, format!("bad Content-Length `{v}`")))?,
        };
        if len > MAX_BODY {
            return Err(ReadError::Bad(
                413,
                format!("body of {len} bytes exceeds the limit of {MAX_BODY} bytes"),
            ));
        }
        let mut body = self.rest;
        if body.len() > len {
            body.truncate(len);
        }
        let have = body.len();
        body.resize(len, 0);
        stream.read_exact(&mut body[have..]).await?;
        Ok(body)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes one path segment or query value (everything but
/// RFC 3986 unreserved characters).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// Writes a JSON response and closes the write side.
///
/// # Errors
/// The write error.
pub async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    code: u16,
    body: &serde_json::Value,
) -> std::io::Result<()> {
    let body = format!("{body}\n");
    let auth = if code == 401 {
        "WWW-Authenticate: Bearer\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n",
        reason(code),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// A response as the client sees it.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends one request to `addr` (`host:port`, `http://host:port`, or
/// `https://host:port` through `tls`) and reads the whole response (the
/// server closes the connection after it).
///
/// # Errors
/// Connection, TLS or protocol errors, as `std::io::Error` (a refused
/// server certificate says why).
pub async fn call(
    addr: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> std::io::Result<Response> {
    let (secure, host_port) = match addr.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some(("http", rest)) => (false, rest),
        Some((scheme, _)) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("unknown scheme `{scheme}`: use http:// or https://"),
            ))
        }
        None => (false, addr),
    };
    let host_port = host_port.trim_end_matches('/');
    let stream = tokio::net::TcpStream::connect(host_port).await?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host_port}\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n",
        body.len()
    );
    let raw = if secure {
        let connector = tls.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "https:// without a TLS setup",
            )
        })?;
        let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
        let name = super::tls::server_name(host)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let stream = connector.connect(name, stream).await?;
        exchange(stream, head.as_bytes(), body).await?
    } else {
        exchange(stream, head.as_bytes(), body).await?
    };
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("incomplete response from the control API"))?;
    let status = std::str::from_utf8(&raw[..end])
        .ok()
        .and_then(|h| h.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("malformed status line from the control API"))?;
    Ok(Response {
        status,
        body: raw[end + 4..].to_vec(),
    })
}

/// Writes `head` and `body`, reads until the server closes.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &[u8],
    body: &[u8],
) -> std::io::Result<Vec<u8>> {
    stream.write_all(head).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw).await {
        Ok(_) => Ok(raw),
        // A TLS server that closes without close_notify after a complete
        // answer: what was read is the answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn head_and_bounded_body_are_parsed() {
        let raw = b"POST /v1/components/a%2Fb/send?timeout_ms=5&x=a+b HTTP/1.1\r\nContent-Length: 5\r\nAuthorization: Bearer t\r\n\r\nhello";
        let mut input = &raw[..];
        let head = read_head(&mut input).await.unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.segments, ["v1", "components", "a/b", "send"]);
        assert_eq!(head.query["timeout_ms"], "5");
        assert_eq!(head.query["x"], "a b");
        assert_eq!(head.header("authorization"), Some("Bearer t"));
        assert_eq!(head.read_body(&mut input).await.unwrap(), b"hello");

        let raw = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let mut input = raw.as_bytes();
        let head = read_head(&mut input).await.unwrap();
        assert!(matches!(
            head.read_body(&mut input).await,
            Err(ReadError::Bad(413, _))
        ));
    }

    #[test]
    fn encoding_round_trips() {
        let s = "orders.eu/ä ?";
        assert_eq!(percent_decode(&percent_encode(s)).unwrap(), s);
    }
}
