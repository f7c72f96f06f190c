//! `[broker]`: the NATS server a host joins, and how it connects to it
//! safely (TLS, credentials read from files).

use std::path::{Path, PathBuf};

use airssys_nats::{Auth, ClientCert, ConnectSecurity};
use airssys_wasm::guest::permissions::is_valid_subject;
use toml::Spanned;

use super::raw::RawBroker;
use super::{span, ManifestError, Validator};

/// `[broker] url = "nats://…", prefix = "…"`: run as one host of a
/// distributed application (see `docs/distribution.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// The NATS server URL (`--nats` overrides it).
    pub url: String,
    /// The application prefix of every subject on the wire (default
    /// `airssys`); every host of one application uses the same.
    pub prefix: String,
    /// TLS and credentials: `require_tls`, `tls_ca`, `tls_cert` +
    /// `tls_key`, and one of `credentials`, `nkey_seed_file`, `token_file`
    /// or `user` + `password_file`; paths resolved against the manifest's
    /// folder. Default none of them (a plain connection, as the URL says).
    pub security: ConnectSecurity,
}

impl Validator<'_> {
    /// Validates `[broker]`; relative paths resolve against `base`.
    pub(super) fn broker(
        &self,
        b: &RawBroker,
        base: &Path,
    ) -> Result<BrokerSettings, ManifestError> {
        let prefix = match &b.prefix {
            Some(p) if !is_valid_subject(p.get_ref()) => {
                return Err(self.err(
                    span(p),
                    format!(
                        "invalid broker prefix `{}`: use non-empty dot-separated tokens without wildcards",
                        p.get_ref()
                    ),
                ))
            }
            Some(p) => p.get_ref().clone(),
            None => airssys_nats::DEFAULT_PREFIX.to_owned(),
        };
        let url = match &b.url {
            Some(u) if u.get_ref().trim().is_empty() => {
                return Err(self.err(span(u), "empty broker url"))
            }
            Some(u) => u.get_ref().clone(),
            None => String::new(),
        };

        Ok(BrokerSettings {
            url,
            prefix,
            security: self.broker_security(b, base)?,
        })
    }

    /// `[broker]`'s TLS and its one way to authenticate.
    fn broker_security(
        &self,
        b: &RawBroker,
        base: &Path,
    ) -> Result<ConnectSecurity, ManifestError> {
        let mut security = ConnectSecurity::default();
        security.require_tls = b.require_tls.unwrap_or(false);
        security.tls_ca = self.broker_file_if("tls_ca", &b.tls_ca, base)?;
        security.client_cert = match (&b.tls_cert, &b.tls_key) {
            (None, None) => None,
            (Some(c), None) => {
                return Err(self.err(
                    span(c),
                    "broker `tls_cert` needs `tls_key`, the client certificate's private key",
                ))
            }
            (None, Some(k)) => {
                return Err(self.err(
                    span(k),
                    "broker `tls_key` needs `tls_cert`, the client certificate",
                ))
            }
            (Some(cert), Some(key)) => Some(ClientCert {
                cert: self.broker_file("tls_cert", cert, base)?,
                key: self.broker_file("tls_key", key, base)?,
            }),
        };
        security.auth = self.broker_auth(b, base)?;
        Ok(security)
    }

    /// `[broker]`'s one way to authenticate, if any: the second one set is
    /// the error.
    fn broker_auth(&self, b: &RawBroker, base: &Path) -> Result<Option<Auth>, ManifestError> {
        let methods = [
            ("credentials", &b.credentials),
            ("nkey_seed_file", &b.nkey_seed_file),
            ("token_file", &b.token_file),
            ("user", &b.user),
        ];
        let mut set = methods
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)));
        if let (Some((first, _)), Some((second, at))) = (set.next(), set.next()) {
            return Err(self.err(
                span(at),
                format!("broker `{second}` and `{first}` are two ways to authenticate: set one"),
            ));
        }
        if b.password_file.is_some() && b.user.is_none() {
            let at = b.password_file.as_ref().and_then(span);
            return Err(self.err(at, "broker `password_file` needs `user`"));
        }
        Ok(if b.credentials.is_some() {
            self.broker_file_if("credentials", &b.credentials, base)?
                .map(Auth::CredentialsFile)
        } else if b.nkey_seed_file.is_some() {
            self.broker_file_if("nkey_seed_file", &b.nkey_seed_file, base)?
                .map(Auth::NkeySeedFile)
        } else if b.token_file.is_some() {
            self.broker_file_if("token_file", &b.token_file, base)?
                .map(Auth::TokenFile)
        } else {
            match (&b.user, &b.password_file) {
                (None, _) => None,
                (Some(u), None) => {
                    return Err(self.err(
                        span(u),
                        "broker `user` needs `password_file`, a file holding the password",
                    ))
                }
                (Some(u), Some(p)) => Some(Auth::UserPassword {
                    user: u.get_ref().clone(),
                    password_file: self.broker_file("password_file", p, base)?,
                }),
            }
        })
    }

    /// [`broker_file`](Self::broker_file) of an optional key.
    fn broker_file_if(
        &self,
        key: &str,
        value: &Option<Spanned<String>>,
        base: &Path,
    ) -> Result<Option<PathBuf>, ManifestError> {
        value
            .as_ref()
            .map(|v| self.broker_file(key, v, base))
            .transpose()
    }

    /// The file `[broker] key` names, resolved against `base`; it must
    /// exist now (it is read when the host connects).
    fn broker_file(
        &self,
        key: &str,
        value: &Spanned<String>,
        base: &Path,
    ) -> Result<PathBuf, ManifestError> {
        let path = base.join(value.get_ref());
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(path),
            Ok(_) => Err(self.err(
                span(value),
                format!("broker `{key}`: `{}` is not a file", path.display()),
            )),
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "file not found".to_owned()
                } else {
                    e.to_string()
                };
                Err(self.err(
                    span(value),
                    format!("broker `{key}`: cannot read `{}`: {why}", path.display()),
                ))
            }
        }
    }
}
