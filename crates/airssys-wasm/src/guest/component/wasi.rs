//! WASI preview 2 for components, granting nothing by default: no
//! directories, no environment, no network, and a wall clock stuck at the
//! Unix epoch, unless the component's [`WasiGrants`] say otherwise.
//! Standard output and error go to `tracing`, tagged with the component.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, HostWallClock, WasiCtx, WasiCtxBuilder};

use crate::error::WasmError;
use crate::id::ComponentId;
use crate::metrics::HostCallStats;

/// A host directory a component may open, at a path of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the component sees it (e.g. `/data`).
    pub guest: String,
    /// Whether it may create, write and remove files there.
    pub writable: bool,
}

/// An address a component may connect to: an IP and a port, or any port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPattern {
    ip: IpAddr,
    port: Option<u16>,
}

/// A [`HostPattern`] that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an allowed-host pattern (`IP:PORT` or `IP:*`, e.g. `127.0.0.1:8080`, `[::1]:*`)")]
pub struct InvalidHostPattern {
    /// The text given.
    pub text: String,
}

impl FromStr for HostPattern {
    type Err = InvalidHostPattern;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidHostPattern {
            text: text.to_string(),
        };
        if let Some(host) = text.strip_suffix(":*") {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let ip = host.parse().map_err(|_| invalid())?;
            return Ok(HostPattern { ip, port: None });
        }
        let addr: SocketAddr = text.parse().map_err(|_| invalid())?;
        Ok(HostPattern {
            ip: addr.ip(),
            port: Some(addr.port()),
        })
    }
}

impl HostPattern {
    fn matches(&self, addr: &SocketAddr) -> bool {
        self.ip == addr.ip() && self.port.is_none_or(|p| p == addr.port())
    }
}

/// What a component may reach through WASI. The default grants nothing.
///
/// ```
/// use airssys_wasm::WasiGrants;
///
/// let grants = WasiGrants::none()
///     .read_only_dir("/srv/static", "/static")
///     .env("MODE", "production")
///     .allow_host("127.0.0.1:8080".parse().unwrap());
/// assert!(!grants.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct WasiGrants {
    dirs: Vec<DirGrant>,
    env: Vec<(String, String)>,
    hosts: Vec<HostPattern>,
    wall_clock: bool,
}

impl WasiGrants {
    /// Nothing granted.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether nothing is granted.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// The shared "nothing granted", one allocation for every component.
    pub(crate) fn shared_none() -> Arc<WasiGrants> {
        static NONE: LazyLock<Arc<WasiGrants>> = LazyLock::new(Arc::default);
        Arc::clone(&NONE)
    }

    /// This value shared, or the one shared "nothing granted".
    pub(crate) fn to_shared(&self) -> Arc<WasiGrants> {
        if self.is_none() {
            Self::shared_none()
        } else {
            Arc::new(self.clone())
        }
    }

    /// Lets the component read `host` at `guest`.
    pub fn read_only_dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.dirs.push(DirGrant {
            host: host.into(),
            guest: guest.into(),
            writable: false,
        });
        self
    }

    /// Lets the component read and write `host` at `guest`.
    pub fn read_write_dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.dirs.push(DirGrant {
            host: host.into(),
            guest: guest.into(),
            writable: true,
        });
        self
    }

    /// Sets an environment variable the component sees.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Lets the component connect to (or send datagrams to) `pattern`, and
    /// resolve names.
    pub fn allow_host(mut self, pattern: HostPattern) -> Self {
        self.hosts.push(pattern);
        self
    }

    /// Gives the component the host's wall clock (otherwise it reads the
    /// Unix epoch, and each read is counted as a denial).
    pub fn wall_clock(mut self, allowed: bool) -> Self {
        self.wall_clock = allowed;
        self
    }

    /// The granted directories.
    pub fn dirs(&self) -> &[DirGrant] {
        &self.dirs
    }

    /// The granted environment.
    pub fn env_vars(&self) -> &[(String, String)] {
        &self.env
    }

    /// The hosts it may connect to.
    pub fn hosts(&self) -> &[HostPattern] {
        &self.hosts
    }

    /// Whether it reads the host's wall clock.
    pub fn has_wall_clock(&self) -> bool {
        self.wall_clock
    }

    /// Builds the WASI context of one instance.
    ///
    /// # Errors
    /// [`WasmError::InvalidConfig`] when a granted directory cannot be
    /// opened.
    pub(crate) fn build(
        &self,
        component: &ComponentId,
        stats: &Arc<HostCallStats>,
    ) -> Result<WasiCtx, WasmError> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(GuestOutput::new(component, "stdout"))
            .stderr(GuestOutput::new(component, "stderr"));
        for dir in &self.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| WasmError::InvalidConfig {
                    component: component.clone(),
                    reason: format!("WASI directory {}: {e:#}", dir.host.display()),
                })?;
        }
        builder.envs(&self.env);
        if !self.wall_clock {
            builder.wall_clock(EpochClock {
                stats: Arc::clone(stats),
            });
        }
        builder.allow_ip_name_lookup(!self.hosts.is_empty());
        let hosts: Arc<[HostPattern]> = self.hosts.clone().into();
        let stats = Arc::clone(stats);
        let component = component.clone();
        builder.socket_addr_check(move |addr, usage| {
            let allowed = match usage {
                // Connecting binds to an ephemeral port first.
                SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                    !hosts.is_empty() && addr.port() == 0
                }
                SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
                    hosts.iter().any(|h| h.matches(&addr))
                }
                _ => false,
            };
            if !allowed {
                stats.count_denied(crate::metrics::DeniedKind::Wasi);
                tracing::debug!(component = %component, %addr, ?usage, "WASI socket use denied");
            }
            Box::pin(std::future::ready(allowed))
        });
        Ok(builder.build())
    }
}

/// The wall clock of a component without the grant: always the Unix
/// epoch; each read counts as a denial.
struct EpochClock {
    stats: Arc<HostCallStats>,
}

impl HostWallClock for EpochClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.stats.count_denied(crate::metrics::DeniedKind::Wasi);
        Duration::ZERO
    }
}

/// A component's stdout or stderr: each write is a `tracing` event at
/// `info` (stdout) or `warn` (stderr), with the component id.
#[derive(Clone)]
struct GuestOutput {
    component: ComponentId,
    stream: &'static str,
}

impl GuestOutput {
    fn new(component: &ComponentId, stream: &'static str) -> Self {
        GuestOutput {
            component: component.clone(),
            stream,
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let text = String::from_utf8_lossy(buf);
        let text = text.trim_end_matches('\n');
        if self.stream == "stderr" {
            tracing::warn!(component = %self.component, stream = self.stream, "{text}");
        } else {
            tracing::info!(component = %self.component, stream = self.stream, "{text}");
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
