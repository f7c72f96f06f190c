//! [`InstanceConfig`]: what one instance is made with (identity, host
//! services, limits, permissions, counters, configuration, WASI grants).

use std::sync::Arc;

use crate::guest::component::wasi::WasiGrants;
use crate::guest::permissions::Permissions;
use crate::guest::services::HostServices;
use crate::id::ComponentId;
use crate::metrics::HostCallStats;
use crate::runtime::limits::ComponentLimits;

/// A component's configuration key-values, shared by all its instances.
pub type ConfigValues = std::collections::BTreeMap<String, Arc<str>>;

/// The empty config, one map shared by every component that has none.
pub(crate) fn no_config() -> Arc<ConfigValues> {
    static EMPTY: std::sync::LazyLock<Arc<ConfigValues>> = std::sync::LazyLock::new(Arc::default);
    Arc::clone(&EMPTY)
}

/// Per-instance settings: identity, host services, limits, permissions.
///
/// ```
/// use std::sync::Arc;
/// use airssys_wasm::{ComponentLimits, InstanceConfig, NoHostServices, Permissions};
///
/// let cfg = InstanceConfig::new("echo-1", Arc::new(NoHostServices))
///     .limits(ComponentLimits::default())
///     .permissions(Permissions::deny_all());
/// ```
#[derive(Clone)]
#[must_use]
pub struct InstanceConfig {
    pub(crate) component: ComponentId,
    pub(crate) host: Arc<dyn HostServices>,
    pub(crate) limits: ComponentLimits,
    pub(crate) permissions: Arc<Permissions>,
    pub(crate) stats: Option<Arc<HostCallStats>>,
    pub(crate) config: Arc<ConfigValues>,
    pub(crate) wasi: Arc<WasiGrants>,
}

impl std::fmt::Debug for InstanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceConfig")
            .field("component", &self.component)
            .field("limits", &self.limits)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl InstanceConfig {
    /// Settings with default limits and no permissions.
    pub fn new(component: impl Into<ComponentId>, host: Arc<dyn HostServices>) -> Self {
        InstanceConfig {
            component: component.into(),
            host,
            limits: ComponentLimits::default(),
            permissions: Permissions::deny_all().to_shared(),
            stats: None,
            config: no_config(),
            wasi: WasiGrants::shared_none(),
        }
    }

    /// Sets the resource limits (default [`ComponentLimits::default`]).
    pub fn limits(mut self, limits: ComponentLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the allow-lists (default: deny all).
    pub fn permissions(mut self, permissions: impl Into<Arc<Permissions>>) -> Self {
        self.permissions = permissions.into();
        self
    }

    /// Shares `stats` with every instance made from this config, so host-call
    /// counters (e.g. denials) add up across a component's restarts.
    /// Default: each instance counts on its own.
    pub fn shared_stats(mut self, stats: Arc<HostCallStats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// The key-values the guest reads with the `config_get` import
    /// (default: none).
    pub fn config_values(mut self, config: Arc<ConfigValues>) -> Self {
        self.config = config;
        self
    }

    /// What a component (not a core module, which has no WASI) may reach
    /// through WASI preview 2 (default: nothing).
    pub fn wasi(mut self, grants: &WasiGrants) -> Self {
        self.wasi = grants.to_shared();
        self
    }

    /// Sets the component id.
    pub fn component(mut self, component: impl Into<ComponentId>) -> Self {
        self.component = component.into();
        self
    }
}
