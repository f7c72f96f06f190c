//! [`NatsServer`]: a real `nats-server` process for tests that need one,
//! on a loopback port it picks itself, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Why a [`NatsServer`] could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsServerError {
    /// No `nats-server` binary: not in `$NATS_SERVER`, on `PATH`, in
    /// `/usr/sbin` or `/usr/local/bin`.
    #[error("`nats-server` is not installed (apt-get install nats-server, or set NATS_SERVER)")]
    NotInstalled,
    /// The binary could not be run.
    #[error("could not run {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server did not log "Server is ready" in time, or exited first.
    #[error("{binary} was not ready within {READY_WITHIN:?} (exit: {status:?})")]
    NotReady {
        /// The binary.
        binary: PathBuf,
        /// How it exited, if it did.
        status: Option<ExitStatus>,
    },
}

/// A running `nats-server` on 127.0.0.1.
///
/// The server chooses its port (`-p -1`) and announces it, so tests running
/// at once are never handed the same port; it is used only once it logs
/// that it is ready. Dropping it kills the server.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    binary: PathBuf,
    addr: SocketAddr,
    /// The configuration file it was started with, if any.
    config: Option<PathBuf>,
}

impl NatsServer {
    /// Starts a server.
    ///
    /// # Errors
    /// [`NatsServerError`] saying why not.
    pub fn try_start() -> Result<Self, NatsServerError> {
        Self::try_start_with(None)
    }

    /// Starts a server with the configuration file `config` (`-c`): TLS,
    /// accounts, users. The address and port still come from the command
    /// line (127.0.0.1, one the server picks), which overrides the file.
    ///
    /// # Errors
    /// [`NatsServerError`] saying why not; a configuration the server
    /// refuses is [`NatsServerError::NotReady`].
    pub fn try_start_with_config(config: &Path) -> Result<Self, NatsServerError> {
        Self::try_start_with(Some(config.to_owned()))
    }

    fn try_start_with(config: Option<PathBuf>) -> Result<Self, NatsServerError> {
        let binary = binary().ok_or(NatsServerError::NotInstalled)?;
        let (child, addr) = spawn_ready(&binary, None, config.as_deref())?;
        Ok(Self {
            child: Some(child),
            binary,
            addr,
            config,
        })
    }

    /// Starts a server for a test: `None`, with a loud message on stderr,
    /// only when `nats-server` is not installed (the test then returns
    /// early; CI installs it).
    ///
    /// # Panics
    /// If the server is installed but does not start: the test fails.
    pub fn start() -> Option<Self> {
        Self::skip_if_not_installed(Self::try_start())
    }

    /// [`start`](Self::start) with the configuration file `config` (see
    /// [`try_start_with_config`](Self::try_start_with_config)).
    ///
    /// # Panics
    /// If the server is installed but does not start: the test fails.
    pub fn start_with_config(config: &Path) -> Option<Self> {
        Self::skip_if_not_installed(Self::try_start_with_config(config))
    }

    fn skip_if_not_installed(started: Result<Self, NatsServerError>) -> Option<Self> {
        match started {
            Ok(server) => Some(server),
            Err(NatsServerError::NotInstalled) => {
                eprintln!("\n!!! SKIPPED: {}\n", NatsServerError::NotInstalled);
                None
            }
            Err(error) => panic!("{error}"),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Kills the server: its connections drop at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already exited is fine: it is gone either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts it again on the same port.
    ///
    /// # Errors
    /// [`NatsServerError`] if it does not come back.
    pub fn restart(&mut self) -> Result<(), NatsServerError> {
        self.kill();
        let (child, addr) =
            spawn_ready(&self.binary, Some(self.addr.port()), self.config.as_deref())?;
        self.child = Some(child);
        self.addr = addr;
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `nats-server` binary: `$NATS_SERVER`, else on `PATH`, else in
/// `/usr/sbin` or `/usr/local/bin`.
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/bin".into()])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// Starts `nats-server` on `port` (or one it picks), with the configuration
/// file `config` if given, and returns once it logs "Server is ready", with
/// the address it announced.
fn spawn_ready(
    binary: &Path,
    port: Option<u16>,
    config: Option<&Path>,
) -> Result<(Child, SocketAddr), NatsServerError> {
    let port = port.map_or_else(|| "-1".to_owned(), |port| port.to_string());
    let mut command = Command::new(binary);
    if let Some(config) = config {
        command.arg("-c").arg(config);
    }
    let mut child = command
        .args(["-a", "127.0.0.1", "-p", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NatsServerError::Spawn {
            binary: binary.to_owned(),
            source,
        })?;
    let (ready_tx, ready_rx) = mpsc::channel();
    if let Some(stderr) = child.stderr.take() {
        // Reads the log until the server is ready, then keeps draining it
        // so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut addr = None;
            let mut ready = Some(ready_tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some((_, at)) = line.split_once("Listening for client connections on ") {
                    addr = at.trim().parse::<SocketAddr>().ok();
                }
                if line.contains("Server is ready") {
                    if let Some(ready) = ready.take() {
                        // The receiver may have given up waiting: nothing to do.
                        let _ = ready.send(addr);
                    }
                }
            }
        });
    }
    match ready_rx.recv_timeout(READY_WITHIN).ok().flatten() {
        Some(addr) => Ok((child, addr)),
        None => {
            let _ = child.kill();
            let status = child.wait().ok();
            Err(NatsServerError::NotReady {
                binary: binary.to_owned(),
                status,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_server_accepts_connections_until_killed() {
        let Some(mut server) = NatsServer::start() else {
            return;
        };
        assert!(std::net::TcpStream::connect(server.addr()).is_ok());
        server.kill();
        assert!(std::net::TcpStream::connect(server.addr()).is_err());
        server.restart().unwrap();
        assert!(std::net::TcpStream::connect(server.addr()).is_ok());
    }
}
