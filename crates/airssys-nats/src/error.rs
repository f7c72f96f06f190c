//! [`NatsError`]: what can go wrong building or syncing a [`NatsBroker`](crate::NatsBroker).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// An error of the NATS broker outside the [`MessageBroker`](airssys_rt::broker::MessageBroker)
/// operations (those return `BrokerError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The first connection to the server failed.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The server URL.
        url: String,
        /// What the client reported.
        reason: String,
    },
    /// A file of the connection's [`ConnectSecurity`](crate::ConnectSecurity)
    /// (a CA or client certificate, a key, credentials, an NKey seed, a
    /// token, a password) cannot be read or is not what it should be;
    /// nothing was sent to the server.
    #[error("cannot connect to NATS at {url}: the {what} file {}: {reason}", file.display())]
    SecurityFile {
        /// The server URL.
        url: String,
        /// Which file.
        what: SecurityFile,
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The server refused the connection's credentials (or asked for some
    /// and got none).
    #[error("NATS at {url} refused the connection: authorization violation: the server refused {credentials}")]
    Unauthorized {
        /// The server URL.
        url: String,
        /// The credentials offered, in words ("the token in /etc/…",
        /// "no credentials"); never the secret itself.
        credentials: String,
    },
    /// The TLS handshake with the server failed: an untrusted or wrong
    /// server certificate, a client certificate the server requires or
    /// refuses, a server that does not speak TLS.
    #[error("TLS with NATS at {url} failed: {reason}")]
    Tls {
        /// The server URL.
        url: String,
        /// What went wrong, and what to set.
        reason: String,
    },
    /// The application prefix or the dead-letter subject is not a valid subject.
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        /// The subject.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A [`sync`](crate::NatsBroker::sync) got no answer from the server in time.
    #[error("the NATS server did not answer within {timeout:?}")]
    Timeout {
        /// The time waited.
        timeout: Duration,
    },
    /// The broker's outbound queue is full or its client is gone.
    #[error("NATS transport: {reason}")]
    Transport {
        /// What failed.
        reason: String,
    },
}

/// Which file of a [`ConnectSecurity`](crate::ConnectSecurity) could not
/// be used ([`NatsError::SecurityFile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityFile {
    /// [`ConnectSecurity::tls_ca`](crate::ConnectSecurity::tls_ca).
    TlsCa,
    /// [`ClientCert::cert`](crate::ClientCert::cert).
    ClientCert,
    /// [`ClientCert::key`](crate::ClientCert::key).
    ClientKey,
    /// [`Auth::CredentialsFile`](crate::Auth::CredentialsFile).
    Credentials,
    /// [`Auth::NkeySeedFile`](crate::Auth::NkeySeedFile).
    NkeySeed,
    /// [`Auth::TokenFile`](crate::Auth::TokenFile).
    Token,
    /// [`Auth::UserPassword`](crate::Auth::UserPassword)'s password file.
    Password,
}

impl fmt::Display for SecurityFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecurityFile::TlsCa => "TLS CA certificate",
            SecurityFile::ClientCert => "TLS client certificate",
            SecurityFile::ClientKey => "TLS client key",
            SecurityFile::Credentials => "credentials",
            SecurityFile::NkeySeed => "NKey seed",
            SecurityFile::Token => "token",
            SecurityFile::Password => "password",
        })
    }
}
