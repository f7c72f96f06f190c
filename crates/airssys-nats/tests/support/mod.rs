//! A real `nats-server` for the tests: started on a loopback port it picks
//! itself, used once it says it is ready, killed when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `nats-server` binary: `$NATS_SERVER`, else on `PATH`, else `/usr/sbin`.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/bin".into()])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// A running `nats-server`.
pub struct NatsServer {
    child: Option<Child>,
    binary: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl NatsServer {
    /// Starts a server on a port it picks itself; `None` (with a loud
    /// message) only if the binary is not installed.
    ///
    /// The server chooses the port (`-p -1`) and announces it, so two tests
    /// running at once can never be handed the same one; the server is used
    /// only once it logs that it is ready.
    pub fn start() -> Option<Self> {
        let Some(binary) = binary() else {
            eprintln!(
                "\n!!! SKIPPED: `nats-server` is not installed (apt-get install nats-server, \
                 or set NATS_SERVER). This test needs a real server.\n"
            );
            return None;
        };
        let (child, addr) = spawn_ready(&binary, None);
        Some(Self {
            child: Some(child),
            binary,
            addr,
        })
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Kills the server (connections drop at once).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let (child, addr) = spawn_ready(&self.binary, Some(self.addr.port()));
        assert_eq!(addr, self.addr, "the restarted server listens where it did");
        self.child = Some(child);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `nats-server` on `port` (or one it picks) and returns once it
/// logs "Server is ready", with the address it announced.
fn spawn_ready(binary: &Path, port: Option<u16>) -> (Child, SocketAddr) {
    let port = port.map_or_else(|| "-1".to_owned(), |port| port.to_string());
    let mut child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-server starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (ready_tx, ready_rx) = mpsc::channel();
    // Reads the log until the server is ready, then keeps draining it so the
    // server never blocks on a full pipe.
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
                    let _ = ready.send(addr);
                }
            }
        }
    });
    let addr = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .ok()
        .flatten();
    match addr {
        Some(addr) => (child, addr),
        None => {
            let _ = child.kill();
            let status = child.wait();
            panic!("nats-server was not ready within 10 s (exit: {status:?})");
        }
    }
}

/// Fails the test if `fut` does not finish within 10 s.
pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
