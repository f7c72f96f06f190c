//! Who may use the control API: the bearer token, where it comes from, and
//! how it is compared.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

/// The environment variable `airssys run` reads the control token from
/// when no `--control-token-file` is given.
pub const TOKEN_ENV: &str = "AIRSSYS_CONTROL_TOKEN";

/// A bearer token. Never printed: its `Debug` shows only its length.
#[derive(Clone)]
pub struct Token(Vec<u8>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<{} bytes>)", self.0.len())
    }
}

/// Why a token could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token file could not be read.
    #[error("cannot read the control token file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The token (after trimming whitespace) is empty.
    #[error("the control token from {from} is empty")]
    Empty {
        /// Where it came from.
        from: String,
    },
}

impl Token {
    /// A token from its text; surrounding whitespace (a file's trailing
    /// newline) is trimmed. `None` if nothing is left.
    pub fn new(text: &str) -> Option<Token> {
        let t = text.trim();
        (!t.is_empty()).then(|| Token(t.as_bytes().to_vec()))
    }

    /// The token from `file` if given, else from [`TOKEN_ENV`] if set, else
    /// none. Never from the command line, where other users could read it.
    ///
    /// # Errors
    /// [`TokenError`] for an unreadable file, or an empty token.
    pub fn load(file: Option<&Path>) -> Result<Option<Token>, TokenError> {
        let (text, from) = match file {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| TokenError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
                path.display().to_string(),
            ),
            None => match std::env::var(TOKEN_ENV) {
                Ok(text) => (text, TOKEN_ENV.to_owned()),
                Err(_) => return Ok(None),
            },
        };
        Token::new(&text)
            .map(Some)
            .ok_or(TokenError::Empty { from })
    }

    /// The token's bytes, to send in an `Authorization: Bearer` header.
    pub fn as_str(&self) -> &str {
        // Built from a `&str`, so valid UTF-8; the fallback cannot happen.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Whether an `Authorization` header value carries this token.
    ///
    /// The comparison takes the same time wherever the first differing byte
    /// is (a fold of XORs over every byte, no early exit), so response times
    /// do not reveal a prefix of the token. Only the length can leak: a
    /// header of another length is refused at once.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some(given) = authorization.and_then(|h| h.trim().strip_prefix("Bearer ")) else {
            return false;
        };
        constant_time_eq(given.trim().as_bytes(), &self.0)
    }
}

/// `a == b` in time that depends only on the length, not on the content.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimiser from turning the fold into an early-exit compare.
    std::hint::black_box(diff) == 0
}

/// `true` for an address only this machine can reach.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let token = Token::new("s3cret\n").unwrap();
        assert!(token.accepts(Some("Bearer s3cret")));
        assert!(!token.accepts(Some("Bearer s3creT")));
        assert!(!token.accepts(Some("Bearer s3cre")));
        assert!(!token.accepts(Some("Bearer s3crets")));
        assert!(!token.accepts(Some("Basic s3cret")));
        assert!(!token.accepts(None));
        assert!(Token::new("  \n").is_none());
        assert_eq!(format!("{token:?}"), "Token(<6 bytes>)");
    }

    #[test]
    fn loopback_addresses_are_told_apart() {
        assert!(is_loopback(&"127.0.0.1:0".parse().unwrap()));
        assert!(is_loopback(&"[::1]:80".parse().unwrap()));
        assert!(!is_loopback(&"0.0.0.0:80".parse().unwrap()));
        assert!(!is_loopback(&"192.168.1.2:80".parse().unwrap()));
    }
}
