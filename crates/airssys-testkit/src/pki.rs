//! [`TestPki`]: a throwaway certificate authority, a server certificate for
//! 127.0.0.1 and a client certificate, written as PEM files, for tests of
//! TLS against a real `nats-server` (see
//! [`NatsServer::start_with_config`](crate::NatsServer::start_with_config)).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Why a [`TestPki`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A key or certificate could not be generated.
    #[error("cannot generate the {what}: {source}")]
    Generate {
        /// Which one.
        what: &'static str,
        /// Why.
        source: rcgen::Error,
    },
    /// A PEM file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// PEM files of a test CA and two certificates it signed (ECDSA P-256).
/// Generating one takes a few milliseconds.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA's certificate: what clients and the server trust.
    pub ca: PathBuf,
    /// The server's certificate, for `127.0.0.1` and `localhost`.
    pub server_cert: PathBuf,
    /// The server certificate's key.
    pub server_key: PathBuf,
    /// A client certificate (common name `airssys-host`), for mutual TLS.
    pub client_cert: PathBuf,
    /// The client certificate's key.
    pub client_key: PathBuf,
}

impl TestPki {
    /// Generates a CA and its server and client certificates and writes
    /// them into `dir` (`ca.pem`, `server.pem`, `server-key.pem`,
    /// `client.pem`, `client-key.pem`).
    ///
    /// # Errors
    /// [`PkiError`] if a certificate cannot be made or written.
    pub fn generate(dir: &Path) -> Result<TestPki, PkiError> {
        let gen = |what| move |source| PkiError::Generate { what, source };
        let ca_key = KeyPair::generate().map_err(gen("CA key"))?;
        let mut ca_params = CertificateParams::new(Vec::new()).map_err(gen("CA"))?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "airssys test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(gen("CA"))?;

        let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().map_err(gen("key"))?;
            let mut params = CertificateParams::new(names).map_err(gen("certificate"))?;
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca).map_err(gen("certificate"))?;
            Ok::<_, PkiError>((cert.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            "nats-server",
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let (client_cert, client_key) = leaf(
            Vec::new(),
            "airssys-host",
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;

        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).map_err(|source| PkiError::Write {
                path: path.clone(),
                source,
            })?;
            Ok::<_, PkiError>(path)
        };
        Ok(TestPki {
            ca: write("ca.pem", &ca.pem())?,
            server_cert: write("server.pem", &server_cert)?,
            server_key: write("server-key.pem", &server_key)?,
            client_cert: write("client.pem", &client_cert)?,
            client_key: write("client-key.pem", &client_key)?,
        })
    }

    /// A nats-server `tls { … }` block serving [`server_cert`](Self::server_cert);
    /// with `verify_clients`, clients must present a certificate signed by
    /// the CA (mutual TLS).
    pub fn server_tls_block(&self, verify_clients: bool) -> String {
        let mut block = format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  timeout: 2\n",
            self.server_cert, self.server_key
        );
        if verify_clients {
            block.push_str(&format!("  ca_file: {:?}\n  verify: true\n", self.ca));
        }
        block.push_str("}\n");
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_pem() {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate(dir.path()).unwrap();
        for f in [&pki.ca, &pki.server_cert, &pki.client_cert] {
            assert!(std::fs::read_to_string(f)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----"));
        }
        for f in [&pki.server_key, &pki.client_key] {
            assert!(std::fs::read_to_string(f)
                .unwrap()
                .contains("PRIVATE KEY-----"));
        }
    }
}
