//! TLS for the control API: the server's certificate and key (served off
//! loopback, where a bearer token must not cross the network in clear
//! text), and the client side of `airssys ctl https://…` (the server
//! checked against a CA file, or the system's roots).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why a TLS setting could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{what} {path}: {reason}")]
    File {
        /// Which file ("certificate", "private key", "CA file").
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the certificate and key together.
    #[error("the certificate {cert} and key {key} do not make a TLS server: {reason}")]
    Server {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

fn file_error(what: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The acceptor of a control API served with certificate chain `cert`
/// and private key `key` (PEM files).
///
/// # Errors
/// [`TlsError`] naming the file, or rustls' refusal of the pair.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates("certificate", cert)?;
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| file_error("private key", key, e))?;
    let server = |reason: String| TlsError::Server {
        cert: cert.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| server(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| server(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The connector of `airssys ctl https://…`: the server's certificate is
/// checked against `ca` (a PEM file) or, without one, the system's roots.
///
/// # Errors
/// [`TlsError`] naming the CA file.
pub fn connector(ca: Option<&Path>) -> Result<TlsConnector, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(ca) => {
            for cert in certificates("CA file", ca)? {
                roots.add(cert).map_err(|e| file_error("CA file", ca, e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system root rustls cannot use is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| file_error("CA file", ca.unwrap_or(Path::new("(system)")), e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the server's certificate must carry for `host` (a DNS name or
/// an IP address).
///
/// # Errors
/// In words, when `host` is neither.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|e| format!("`{host}` is not a host name for TLS: {e}"))
}
