//! [`GuestModule`]: a compiled guest of either form, the template its
//! instances are made from.

use crate::error::WasmError;
use crate::guest::component::ComponentModule;
use crate::guest::core::CoreModule;
use crate::guest::instance::GuestInstance;
use crate::guest::instance_config::InstanceConfig;

/// A compiled, linked guest, ready to instantiate many times. Cheap to clone.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum GuestModule {
    /// A core WebAssembly module following the core ABI.
    Core(CoreModule),
    /// A Component Model component targeting the `airssys:component` world.
    Component(ComponentModule),
}

impl GuestModule {
    /// Instantiates the guest in a fresh store (fresh memory and state).
    /// Does not run `init`: call [`GuestInstance::init`] next.
    ///
    /// Cost with the pooling allocator: a slot from the pool and a
    /// copy-on-write memory image — no compilation, no linking.
    ///
    /// # Errors
    /// [`WasmError::Capacity`] when the pool is full (immediately, never
    /// waits); [`WasmError::InvalidConfig`]; [`WasmError::Guest`] if
    /// instantiation itself fails in the guest (start function trap, initial
    /// memory over the cap).
    ///
    /// # Cancel safety
    /// Dropping the future drops the half-built instance and frees its slot.
    pub async fn instantiate(&self, config: InstanceConfig) -> Result<GuestInstance, WasmError> {
        match self {
            GuestModule::Core(m) => m.instantiate(config).await.map(GuestInstance::Core),
            GuestModule::Component(m) => m.instantiate(config).await.map(GuestInstance::Component),
        }
    }

    /// `true` while another handle to the same compiled guest exists; the
    /// module cache keeps such a guest whatever its capacity.
    pub(crate) fn is_shared(&self) -> bool {
        match self {
            GuestModule::Core(m) => m.is_shared(),
            GuestModule::Component(m) => m.is_shared(),
        }
    }
}
