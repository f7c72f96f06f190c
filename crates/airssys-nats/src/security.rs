//! [`ConnectSecurity`]: how a broker's connection is protected (TLS) and
//! who it says it is (credentials).
//!
//! Every secret — a credentials file, an NKey seed, a token, a password —
//! is read from a file when the broker connects, never taken as a value, so
//! it stays out of command lines, manifests and process listings. Each file
//! is read and checked before the first byte goes to the server: a file
//! that cannot be used is [`NatsError::SecurityFile`] naming it, a server
//! that refuses the credentials is [`NatsError::Unauthorized`], a failed
//! TLS handshake is [`NatsError::Tls`], each with the cause in words.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use async_nats::rustls;
use async_nats::{ConnectError, ConnectErrorKind, ConnectOptions};

use crate::error::{NatsError, SecurityFile};

/// A client certificate and its private key (PEM files), presented to a
/// server that verifies clients (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate (chain), PEM.
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How the broker identifies itself to the server: one method, its secret
/// read from a file when connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// A credentials file (`.creds`, as `nsc` writes it): a user JWT and
    /// its NKey seed, for servers in operator (JWT) mode.
    CredentialsFile(PathBuf),
    /// A file holding an NKey user seed (`SU…`, one line); the server's
    /// configuration lists its public key (`U…`).
    NkeySeedFile(PathBuf),
    /// A file holding the server's authorization token (surrounding
    /// whitespace is ignored).
    TokenFile(PathBuf),
    /// A user name and a file holding its password (a trailing line break
    /// is ignored).
    UserPassword {
        /// The user name.
        user: String,
        /// The file holding the password.
        password_file: PathBuf,
    },
}

impl fmt::Display for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::CredentialsFile(p) => write!(f, "the credentials file {}", p.display()),
            Auth::NkeySeedFile(p) => write!(f, "the NKey seed in {}", p.display()),
            Auth::TokenFile(p) => write!(f, "the token in {}", p.display()),
            Auth::UserPassword {
                user,
                password_file,
            } => write!(
                f,
                "user `{user}` with the password in {}",
                password_file.display()
            ),
        }
    }
}

/// TLS and credentials of a broker's connection; give it to
/// [`NatsBrokerBuilder::security`](crate::NatsBrokerBuilder::security), or
/// set its parts one by one on the builder.
///
/// The default is what a bare URL gives: TLS only if the server asks for
/// it (checked against the system's root certificates), credentials only
/// those in the URL (`nats://user:pass@host`).
///
/// ```
/// use airssys_nats::{Auth, ConnectSecurity};
///
/// let mut security = ConnectSecurity::default();
/// security.tls_ca = Some("/etc/airssys/nats-ca.pem".into());
/// security.auth = Some(Auth::NkeySeedFile("/etc/airssys/host.nk".into()));
/// assert!(security.tls_required());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectSecurity {
    /// Refuse a connection that is not TLS. Default `false`; TLS is
    /// required anyway when [`tls_ca`](Self::tls_ca) or
    /// [`client_cert`](Self::client_cert) is set, or the URL is `tls://`.
    pub require_tls: bool,
    /// The CA certificate(s) (PEM) the server's certificate must chain to,
    /// instead of the system's roots. Default none (the system's roots).
    pub tls_ca: Option<PathBuf>,
    /// The client certificate and key, for servers that verify clients.
    /// Default none.
    pub client_cert: Option<ClientCert>,
    /// How the broker identifies itself. Default none (the URL's user
    /// and password, if any).
    pub auth: Option<Auth>,
}

impl ConnectSecurity {
    /// Whether the connection must be TLS: [`require_tls`](Self::require_tls),
    /// or a CA or client certificate is set (a CA given for a server that
    /// turns out to speak plain text would otherwise send the credentials
    /// in the clear).
    pub fn tls_required(&self) -> bool {
        self.require_tls || self.tls_ca.is_some() || self.client_cert.is_some()
    }

    /// Reads and checks every file, then sets them on `options`. Reads a
    /// few small files on a blocking thread; cancel-safe (nothing is
    /// changed until the reads are done).
    pub(crate) async fn apply(
        &self,
        url: &str,
        options: ConnectOptions,
    ) -> Result<ConnectOptions, NatsError> {
        let this = self.clone();
        let loaded = tokio::task::spawn_blocking(move || this.load())
            .await
            .map_err(|e| NatsError::Transport {
                reason: format!("reading the security files failed: {e}"),
            })?
            .map_err(|(what, file, reason)| NatsError::SecurityFile {
                url: url.to_owned(),
                what,
                file,
                reason,
            })?;
        let mut options = options;
        if self.tls_required() {
            options = options.require_tls(true);
        }
        if let Some(ca) = &self.tls_ca {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some(c) = &self.client_cert {
            options = options.add_client_certificate(c.cert.clone(), c.key.clone());
        }
        Ok(match loaded {
            None => options,
            Some(Secret::Credentials(file, text)) => {
                options
                    .credentials(&text)
                    .map_err(|e| NatsError::SecurityFile {
                        url: url.to_owned(),
                        what: SecurityFile::Credentials,
                        file,
                        reason: format!(
                            "not a NATS credentials file (a user JWT and an NKey seed): {e}"
                        ),
                    })?
            }
            Some(Secret::NkeySeed(seed)) => options.nkey(seed),
            Some(Secret::Token(token)) => options.token(token),
            Some(Secret::Password(user, password)) => options.user_and_password(user, password),
        })
    }

    /// Reads every file this names; `Err` names the file that failed and why.
    fn load(&self) -> Result<Option<Secret>, (SecurityFile, PathBuf, String)> {
        if let Some(ca) = &self.tls_ca {
            pem(
                SecurityFile::TlsCa,
                ca,
                "CERTIFICATE-----",
                "PEM certificate",
            )?;
        }
        if let Some(c) = &self.client_cert {
            pem(
                SecurityFile::ClientCert,
                &c.cert,
                "CERTIFICATE-----",
                "PEM certificate",
            )?;
            pem(
                SecurityFile::ClientKey,
                &c.key,
                "PRIVATE KEY-----",
                "PEM private key",
            )?;
        }
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        Ok(Some(match auth {
            Auth::CredentialsFile(p) => {
                Secret::Credentials(p.clone(), read(SecurityFile::Credentials, p)?)
            }
            Auth::NkeySeedFile(p) => {
                let text = read(SecurityFile::NkeySeed, p)?;
                let seed = text.trim();
                if nkeys::KeyPair::from_seed(seed).is_err() {
                    return Err((
                        SecurityFile::NkeySeed,
                        p.clone(),
                        "not an NKey seed (expected one line starting with `SU`)".to_owned(),
                    ));
                }
                Secret::NkeySeed(seed.to_owned())
            }
            Auth::TokenFile(p) => {
                let text = read(SecurityFile::Token, p)?;
                Secret::Token(not_empty(SecurityFile::Token, p, text.trim())?)
            }
            Auth::UserPassword {
                user,
                password_file,
            } => {
                let text = read(SecurityFile::Password, password_file)?;
                let password = text.trim_end_matches(['\r', '\n']);
                Secret::Password(
                    user.clone(),
                    not_empty(SecurityFile::Password, password_file, password)?,
                )
            }
        }))
    }

    /// The error for a failed first connection: a refusal of the
    /// credentials and a failed TLS handshake get their own variants.
    pub(crate) fn connect_error(&self, url: &str, e: &ConnectError) -> NatsError {
        let url = url.to_owned();
        match e.kind() {
            ConnectErrorKind::AuthorizationViolation => NatsError::Unauthorized {
                url,
                credentials: self.auth.as_ref().map_or_else(
                    || "a connection without credentials".to_owned(),
                    ToString::to_string,
                ),
            },
            ConnectErrorKind::Authentication => NatsError::Unauthorized {
                url,
                credentials: format!(
                    "{}: they could not sign its challenge",
                    self.auth.as_ref().map_or_else(
                        || "a connection without credentials".to_owned(),
                        ToString::to_string
                    )
                ),
            },
            kind => match tls_reason(e, self) {
                Some(reason) => NatsError::Tls { url, reason },
                None if kind == ConnectErrorKind::Tls => NatsError::Tls {
                    url,
                    reason: e.to_string(),
                },
                None => NatsError::Connect {
                    url,
                    reason: e.to_string(),
                },
            },
        }
    }
}

/// The secret an [`Auth`] names, read.
enum Secret {
    Credentials(PathBuf, String),
    NkeySeed(String),
    Token(String),
    Password(String, String),
}

fn read(what: SecurityFile, path: &Path) -> Result<String, (SecurityFile, PathBuf, String)> {
    std::fs::read_to_string(path).map_err(|e| {
        let why = match e.kind() {
            io::ErrorKind::NotFound => "file not found".to_owned(),
            io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            io::ErrorKind::InvalidData => "not a text file".to_owned(),
            _ => e.to_string(),
        };
        (what, path.to_owned(), format!("cannot read it: {why}"))
    })
}

/// Reads a PEM file and checks it holds a `-----BEGIN …<marker>` block.
fn pem(
    what: SecurityFile,
    path: &Path,
    marker: &str,
    expected: &str,
) -> Result<(), (SecurityFile, PathBuf, String)> {
    let text = read(what, path)?;
    if text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.ends_with(marker))
    {
        Ok(())
    } else {
        Err((what, path.to_owned(), format!("no {expected} in it")))
    }
}

fn not_empty(
    what: SecurityFile,
    path: &Path,
    value: &str,
) -> Result<String, (SecurityFile, PathBuf, String)> {
    if value.is_empty() {
        Err((what, path.to_owned(), "the file is empty".to_owned()))
    } else {
        Ok(value.to_owned())
    }
}

/// What went wrong in a TLS handshake, in an operator's words, if `e` was
/// one: the client's TLS library reports it inside an I/O error.
fn tls_reason(e: &ConnectError, security: &ConnectSecurity) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        let tls = s.downcast_ref::<rustls::Error>().or_else(|| {
            s.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return Some(explain(tls, security));
        }
        source = s.source();
    }
    None
}

fn explain(e: &rustls::Error, security: &ConnectSecurity) -> String {
    use rustls::{AlertDescription as Alert, CertificateError as Cert};
    let ca = match &security.tls_ca {
        Some(ca) => format!("the CA in {}", ca.display()),
        None => "the system's root certificates (set a CA file)".to_owned(),
    };
    match e {
        rustls::Error::InvalidCertificate(Cert::UnknownIssuer | Cert::BadSignature) => {
            format!("the server's certificate is not signed by a trusted CA: {ca} ({e})")
        }
        rustls::Error::InvalidCertificate(
            Cert::NotValidForName | Cert::NotValidForNameContext { .. },
        ) => format!("the server's certificate does not name the host in the URL ({e})"),
        rustls::Error::InvalidCertificate(Cert::Expired | Cert::ExpiredContext { .. }) => {
            format!("the server's certificate has expired ({e})")
        }
        rustls::Error::AlertReceived(
            Alert::CertificateRequired | Alert::BadCertificate | Alert::CertificateUnknown,
        ) if security.client_cert.is_none() => format!(
            "the server requires a client certificate (mutual TLS) and none is set: set the client certificate and key ({e})"
        ),
        rustls::Error::AlertReceived(
            Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::AccessDenied,
        ) => format!("the server refused the client certificate ({e})"),
        rustls::Error::InvalidMessage(_) => {
            format!("the server does not speak TLS on this port (is TLS enabled on it?) ({e})")
        }
        _ => format!("TLS handshake failed: {e}"),
    }
}
