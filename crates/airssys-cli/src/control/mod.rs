//! The control API of `airssys run --control-addr`: operate a running host
//! from another process (`airssys ctl`), over HTTP/1.1 (hyper, [`serve`])
//! with JSON answers. Each route is one [`verb::Verb`], the type `ctl`'s
//! subcommands are parsed into: the client turns it into its request and
//! the route table reads it back ([`verb::Verb::from_http`]).
//!
//! | method | path | body | does |
//! |---|---|---|---|
//! | GET | `/v1/components` | — | every component: state, restarts, counters, mailbox length, upgrades; on a cluster host every component of the application with its `host` (and those that run nowhere, with why) |
//! | GET | `/v1/hosts` | — | a cluster's live hosts: id, session, capacity, labels, version, control address, components, leaving/ready, the units each owns (409 on a host not in a cluster) |
//! | GET | `/v1/specs` | — | the manifest's `[[component]]` specs and their running instances |
//! | GET | `/v1/tree` | — | this host's supervision groups (root first), each with its parent, strategy, restart intensity `{used, max, within_ms}` and components |
//! | GET | `/v1/components/{id}/down?timeout_ms=N` | — | waits for the component's next down (its current incarnation ends: stop, crash, restart) and answers `{component, monitor, reason, detail}`; `noproc` at once for an id not running here (with `--nats`: on no host); on another host the monitor is armed there, and `noconnection` comes when that host is lost (a cluster host); 504 after N ms (default 60000) |
//! | POST | `/v1/components/{id}/send` | payload | fire-and-forget send (202) |
//! | POST | `/v1/components/{id}/request?timeout_ms=N` | payload | request/reply (default 5000 ms) |
//! | POST | `/v1/publish/{subject}` | payload | publish on a subject |
//! | GET | `/v1/components/{id}/subscriptions` | — | the topic patterns it is subscribed to (`{component, subscriptions}`) |
//! | POST | `/v1/components/{id}/subscribe/{pattern}` | — | subscribes it at run time, within its subscribe grants (403 outside them); kept across its restarts until it stops |
//! | POST | `/v1/components/{id}/unsubscribe/{pattern}` | — | ends its subscription to exactly that pattern; answers once nothing published afterwards reaches it |
//! | POST | `/v1/components/{id}/stop` | — | stop for good (in a cluster: on whichever host runs it, and no host starts it again until restarted) |
//! | POST | `/v1/components/{id}/restart` | — | restart after the queued messages (same mailbox); in a cluster on whichever host runs it, or a stopped or failed component placed again |
//! | POST | `/v1/specs/{name}/spawn` | — | start the spec's next instance (201) |
//! | POST | `/v1/specs/{name}/scale?instances=N` | — | start or stop instances until N run |
//! | POST | `/v1/upgrade/{target}` | binary | live-upgrade a spec's instances (or one component) |
//!
//! Errors are JSON `{"error": "...", "component": ...}` with 400 (malformed
//! request), 401 (token missing or wrong), 403 (a subscription outside the
//! component's grants), 404 (no such component, spec or
//! route), 405, 408 (the request not received within [`READ_TIMEOUT`]),
//! 409 (already exists, stopped, shutting down), 413 (a body over
//! [`MAX_BODY`]), 422 (binary refused, upgrade failed),
//! 502 (the guest failed the request), 504 (timeout); a request hyper
//! cannot parse gets 400, or 431 for a head over [`MAX_HEAD`], with an
//! empty body. A failed call changes nothing: a scale that cannot
//! start every instance stops those it started; a failed upgrade leaves or
//! rolls every instance back to its old version.
//!
//! Security: the API binds to loopback unless told otherwise; a non-loopback
//! address requires a bearer token ([`auth::Token`], from a file or the
//! `AIRSSYS_CONTROL_TOKEN` variable, never the command line) and TLS
//! ([`tls`]: a certificate and key), and when a token is set every request
//! must carry it. Every mutating call is logged
//! with the peer, the action and the target.

mod answer;
pub mod auth;
mod cluster;
mod routes;
mod server;
mod subscriptions;
pub mod tls;
mod traffic;
pub mod uri;
pub mod verb;

pub use self::server::{serve, MAX_BODY, MAX_HEAD, READ_TIMEOUT};
pub use self::traffic::ControlTraffic;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use airssys_rt::supervisor::SupervisorRef;
use airssys_wasm::host::ComponentHost;

use crate::cluster::operate::ClusterSlot;
use crate::manifest::{ComponentDef, Manifest};
use auth::Token;

/// Address the control API binds to when asked for without one:
/// `127.0.0.1:7070`.
pub const DEFAULT_CONTROL_ADDR: &str = "127.0.0.1:7070";

/// Where and how the control API is served.
#[derive(Clone)]
pub struct ControlConfig {
    addr: SocketAddr,
    token: Option<Token>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.is_some())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Why the control API may not be served as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// A non-loopback address without a token.
    #[error(
        "the control API on {addr} would be reachable from other machines: set a token with \
         --control-token-file or {} (or bind a loopback address)",
        auth::TOKEN_ENV
    )]
    TokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A non-loopback address without TLS: its token would cross the
    /// network in clear text.
    #[error(
        "the control API on {addr} would send its bearer token over the network in clear text: \
         give it a certificate and key with --control-tls-cert and --control-tls-key \
         (or bind a loopback address)"
    )]
    TlsRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The certificate or key could not be used.
    #[error("control API TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

impl ControlConfig {
    /// The control API on `addr`, guarded by `token` if given, over TLS
    /// with the certificate and key files `tls` if given.
    ///
    /// # Errors
    /// [`ControlError::TokenRequired`] and [`ControlError::TlsRequired`]
    /// for a non-loopback `addr` without a token or without TLS;
    /// [`ControlError::Tls`] when the files cannot be used.
    pub fn new(
        addr: SocketAddr,
        token: Option<Token>,
        tls: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Result<Self, ControlError> {
        if !auth::is_loopback(&addr) {
            if token.is_none() {
                return Err(ControlError::TokenRequired { addr });
            }
            if tls.is_none() {
                return Err(ControlError::TlsRequired { addr });
            }
        }
        let tls = tls
            .map(|(cert, key)| tls::acceptor(cert, key))
            .transpose()?;
        Ok(Self { addr, token, tls })
    }

    /// `https` when served over TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A `[[component]]` as the control API manages it.
#[derive(Debug, Clone)]
struct SpecState {
    def: ComponentDef,
    /// The binary new instances run: the manifest's, or the last upgrade's.
    bytes: Arc<[u8]>,
    group: Option<SupervisorRef>,
}

impl SpecState {
    /// The id of instance slot `i`, in the manifest's naming: `name`,
    /// `name-1`, `name-2`... for a spec declared with one instance,
    /// `name-0`, `name-1`... otherwise.
    fn slot_id(&self, i: u32) -> String {
        if i == 0 && self.def.instances == 1 {
            self.def.name.clone()
        } else {
            format!("{}-{i}", self.def.name)
        }
    }

    /// The slot of component `id` if it is an instance of this spec.
    fn slot_of(&self, id: &str) -> Option<u32> {
        if id == self.def.name {
            return (self.def.instances == 1).then_some(0);
        }
        let i: u32 = id
            .strip_prefix(&self.def.name)?
            .strip_prefix('-')?
            .parse()
            .ok()?;
        (self.slot_id(i) == id).then_some(i)
    }

    /// Running instances of this spec, in slot order.
    fn running(&self, host: &ComponentHost) -> Vec<(u32, String)> {
        let mut ids: Vec<(u32, String)> = host
            .list()
            .into_iter()
            .filter_map(|c| {
                self.slot_of(c.id.as_str())
                    .map(|i| (i, c.id.as_str().to_owned()))
            })
            .collect();
        ids.sort();
        ids
    }
}

/// What the control API acts on: the host and the manifest's specs.
/// Cheap to clone.
#[derive(Clone)]
pub struct Controller {
    host: ComponentHost,
    /// Operations that change the set of components or their binaries run
    /// one at a time: this lock is their queue (held across the operation's
    /// awaits on purpose, which is why it is tokio's).
    specs: Arc<tokio::sync::Mutex<BTreeMap<String, SpecState>>>,
    token: Option<Token>,
    /// A cluster host's cluster (filled once it runs); `None` off a cluster.
    cluster: Option<ClusterSlot>,
    /// What it handed to components, for the run's ledger.
    traffic: Arc<ControlTraffic>,
    /// The supervision groups, root first, parents before children.
    tree: Arc<Vec<crate::tree::GroupNode>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller of `host`, which runs `manifest` with its supervision
    /// `groups` by name.
    pub fn new(
        host: ComponentHost,
        manifest: &Manifest,
        groups: HashMap<String, SupervisorRef>,
    ) -> Self {
        let specs = manifest
            .components
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    SpecState {
                        def: c.clone(),
                        bytes: Arc::clone(&c.bytes),
                        group: c.group.as_ref().and_then(|g| groups.get(g).cloned()),
                    },
                )
            })
            .collect();
        let tree = crate::tree::group_nodes(&host, manifest, &groups);
        Self {
            host,
            specs: Arc::new(tokio::sync::Mutex::new(specs)),
            token: None,
            cluster: None,
            traffic: Arc::default(),
            tree: Arc::new(tree),
        }
    }

    /// What this controller hands to components (sends, requests,
    /// publishes), counted for the run's summary.
    pub fn traffic(&self) -> Arc<ControlTraffic> {
        Arc::clone(&self.traffic)
    }

    /// This controller's host is one of a cluster, found in `slot` once it
    /// runs: `list`, `stop` and `restart` act cluster-wide and
    /// `GET /v1/hosts` answers.
    #[must_use]
    pub fn with_cluster(mut self, slot: ClusterSlot) -> Self {
        self.cluster = Some(slot);
        self
    }
}
