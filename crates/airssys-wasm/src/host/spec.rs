//! [`ComponentSpec`]: everything the host needs to run one component.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::supervisor::{HealthConfig, RestartPolicy};

use crate::guest::component::wasi::WasiGrants;
use crate::guest::permissions::{Permissions, SubjectPattern};
use crate::id::ComponentId;
use crate::runtime::limits::ComponentLimits;

/// Mailbox capacity of a component when its spec does not set one: 1024.
pub const DEFAULT_COMPONENT_MAILBOX: usize = 1024;

/// Time a component's `cleanup` gets when it stops, unless set: 1 s.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// Describes one component: its binary, limits, what it may reach, what it
/// subscribes to, and how it is supervised.
///
/// ```
/// use airssys_wasm::{ComponentLimits, ComponentSpec, Permissions};
///
/// let spec = ComponentSpec::new("echo", b"(module)".to_vec())
///     .mailbox_capacity(64)
///     .limits(ComponentLimits::default().max_memory_bytes(1 << 20))
///     .permissions(Permissions::deny_all().allow_target("logger"))
///     .subscribe("orders.*");
/// assert_eq!(spec.id().as_str(), "echo");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ComponentSpec {
    pub(crate) id: ComponentId,
    pub(crate) binary: Arc<[u8]>,
    pub(crate) limits: ComponentLimits,
    pub(crate) mailbox_capacity: usize,
    pub(crate) permissions: Permissions,
    pub(crate) subscriptions: Vec<String>,
    pub(crate) restart: RestartPolicy,
    pub(crate) health: Option<HealthConfig>,
    pub(crate) stop_timeout: Duration,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) wasi: WasiGrants,
    pub(crate) restore: Option<bytes::Bytes>,
    pub(crate) trap_exits: bool,
}

impl ComponentSpec {
    /// A component `id` running `binary` (a core module, binary or WAT
    /// text, or a component of the `airssys:component` world),
    /// with default limits, a [`DEFAULT_COMPONENT_MAILBOX`] mailbox, no
    /// permissions, no subscriptions, `Permanent` restart, no health checks.
    pub fn new(id: impl Into<ComponentId>, binary: impl Into<Arc<[u8]>>) -> Self {
        Self {
            id: id.into(),
            binary: binary.into(),
            limits: ComponentLimits::default(),
            mailbox_capacity: DEFAULT_COMPONENT_MAILBOX,
            permissions: Permissions::deny_all(),
            subscriptions: Vec::new(),
            restart: RestartPolicy::Permanent,
            health: None,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            config: BTreeMap::new(),
            wasi: WasiGrants::none(),
            restore: None,
            trap_exits: false,
        }
    }

    /// The same spec for component `id`: everything else, the guest's
    /// bytes included, is shared (an `Arc`), so a fleet of one spec costs
    /// no copies of the binary and is loaded once by
    /// [`ComponentHost::spawn_many`](super::ComponentHost::spawn_many).
    pub fn with_id(mut self, id: impl Into<ComponentId>) -> Self {
        self.id = id.into();
        self
    }

    /// The component id.
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// Memory cap, execution time and fuel per message, max message size.
    pub fn limits(mut self, limits: ComponentLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Bounded mailbox capacity (default [`DEFAULT_COMPONENT_MAILBOX`]).
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity.max(1);
        self
    }

    /// Which components it may send to / request from, which subjects it
    /// may publish on, and which patterns it may subscribe to at run time
    /// (default: nothing).
    pub fn permissions(mut self, permissions: Permissions) -> Self {
        self.permissions = permissions;
        self
    }

    /// Subscribes the component to a subject pattern (`*` one token, `>` the
    /// rest) from its start; messages published on matching subjects reach
    /// its mailbox. The pattern is a subscribe grant too: the component may
    /// unsubscribe from it and subscribe to it, or to a pattern inside it,
    /// again at run time ([`ComponentHost::subscribe`](super::ComponentHost::subscribe)).
    pub fn subscribe(mut self, pattern: impl Into<String>) -> Self {
        self.subscriptions.push(pattern.into());
        self
    }

    /// When its supervisor restarts it (default `Permanent`).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Periodic health checks: interval, timeout, consecutive-failure
    /// threshold that triggers a restart (default: none).
    pub fn health(mut self, config: HealthConfig) -> Self {
        self.health = Some(config);
        self
    }

    /// Time `cleanup` gets on stop before the instance is dropped
    /// (default [`DEFAULT_STOP_TIMEOUT`]).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// A configuration key-value for the component; its guest reads it with
    /// the `config_get` import (docs/core-abi.md).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    /// What a Component Model guest may reach through WASI preview 2:
    /// directories, environment, hosts, wall clock (default: nothing).
    /// Core modules have no WASI; for them this is unused.
    pub fn wasi(mut self, grants: WasiGrants) -> Self {
        self.wasi = grants;
        self
    }

    /// State to give the first instance through its `restore` export, after
    /// its `init` (a component moved from another host, with the state its
    /// `snapshot` export gave there). Ignored by a guest that exports no
    /// `restore`; restarts start fresh, as always. Default: none.
    pub fn restore_state(mut self, state: bytes::Bytes) -> Self {
        self.restore = Some(state);
        self
    }

    /// The permissions its instances run with: its own, plus each of its
    /// `subscribe` patterns as a subscribe grant (a component may always
    /// subscribe again, at run time, to what its spec subscribed it to, or
    /// to a part of it). Shares the deny-all `Arc` when it has neither.
    pub(crate) fn granted(&self) -> Arc<Permissions> {
        let missing: Vec<SubjectPattern> = self
            .subscriptions
            .iter()
            .filter(|p| !self.permissions.may_subscribe(p))
            .filter_map(|p| SubjectPattern::new(p).ok())
            .collect();
        if missing.is_empty() {
            return self.permissions.to_shared();
        }
        let granted = missing
            .into_iter()
            .fold(self.permissions.clone(), Permissions::allow_subscribe);
        Arc::new(granted)
    }

    /// Whether the end of a component linked with this one (its guest's
    /// `link` import, or [`ComponentHost::link`](super::ComponentHost::link))
    /// arrives as a message (`true`: subject [`EXIT_SUBJECT`](crate::EXIT_SUBJECT),
    /// an [`ExitNotice`](crate::ExitNotice) payload, for every end of the
    /// peer, normal or not) instead of ending this component's incarnation
    /// when it is abnormal (`false`, the default: its supervisor restarts
    /// it per its restart policy). Erlang's `trap_exit`; manifest
    /// `trap_exits = true`. Kept across restarts.
    pub fn trap_exits(mut self, trap: bool) -> Self {
        self.trap_exits = trap;
        self
    }

    /// Whether it traps exits ([`trap_exits`](Self::trap_exits)).
    pub fn traps_exits(&self) -> bool {
        self.trap_exits
    }

    /// Its WASI grants (set with [`wasi`](Self::wasi)).
    pub fn wasi_grants(&self) -> &WasiGrants {
        &self.wasi
    }

    /// What it may send to, request from and publish on (set with
    /// [`permissions`](Self::permissions)).
    pub fn permission_set(&self) -> &Permissions {
        &self.permissions
    }

    /// The subject patterns it subscribes to from its start.
    pub fn subscriptions(&self) -> &[String] {
        &self.subscriptions
    }

    /// Its configuration key-values.
    pub fn config_values(&self) -> &BTreeMap<String, String> {
        &self.config
    }
}
