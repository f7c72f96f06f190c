//! The host side of the `airssys:component` WIT world's imports: the same
//! capabilities as the core ABI's `airssys` module, with the same
//! allow-list checks, limits and counters (shared through
//! [`StoreData`]), and errors as the WIT `host-error` variant.

use bytes::Bytes;
use wasmtime::component::{HasSelf, Linker};

use crate::guest::component::data::ComponentData;
use crate::guest::services::codes;

pub(crate) mod bindings {
    //! Generated from `wit/airssys-component.wit`.
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "airssys:component/component",
        imports: {
            "airssys:component/messaging.request": async,
            "airssys:component/topics.unsubscribe": async,
        },
    });
}

use bindings::airssys::component::types::{HostError, LogLevel};
use bindings::airssys::component::{clock, identity, logging, messaging, topics, types};

/// The WIT error for a core-ABI return code.
fn host_error(code: i32) -> HostError {
    match code {
        codes::DENIED => HostError::Denied,
        codes::NO_SUCH_TARGET => HostError::NoSuchTarget,
        codes::MAILBOX_FULL => HostError::MailboxFull,
        codes::TOO_LARGE => HostError::TooLarge,
        codes::TIMEOUT => HostError::Timeout,
        codes::INVALID_ARGUMENT => HostError::InvalidArgument,
        codes::ALREADY_REPLIED => HostError::AlreadyReplied,
        codes::NOT_REPLYING => HostError::NotReplying,
        other => HostError::Unavailable(format!("host call failed with code {other}")),
    }
}

impl types::Host for ComponentData {}

impl messaging::Host for ComponentData {
    fn send(&mut self, target: String, payload: Vec<u8>) -> Result<(), HostError> {
        self.base
            .send(&target, Bytes::from(payload))
            .map_err(host_error)
    }

    fn publish(&mut self, subject: String, payload: Vec<u8>) -> Result<(), HostError> {
        self.base
            .publish(&subject, Bytes::from(payload))
            .map_err(host_error)
    }

    async fn request(
        &mut self,
        target: String,
        payload: Vec<u8>,
        timeout_ms: u32,
    ) -> Result<Vec<u8>, HostError> {
        let pending = self
            .base
            .request(&target, Bytes::from(payload), u64::from(timeout_ms))
            .map_err(host_error)?;
        // The guest is suspended here; the tokio worker runs other tasks.
        pending.await.map(Vec::from).map_err(host_error)
    }

    fn reply(&mut self, payload: Vec<u8>) -> Result<(), HostError> {
        self.base.accept_reply(&payload).map_err(host_error)
    }

    fn redelivered(&mut self) -> bool {
        self.base.redelivered
    }

    fn link(&mut self, target: String) -> Result<(), HostError> {
        self.base.link(&target).map_err(host_error)
    }

    fn unlink(&mut self, target: String) -> Result<bool, HostError> {
        self.base.unlink(&target).map_err(host_error)
    }

    fn monitor(&mut self, target: String) -> Result<u64, HostError> {
        self.base.monitor(&target).map_err(host_error)
    }

    fn demonitor(&mut self, id: u64) -> bool {
        self.base.demonitor(id)
    }
}

impl topics::Host for ComponentData {
    fn subscribe(&mut self, pattern: String) -> Result<(), HostError> {
        self.base.subscribe(&pattern).map_err(host_error)
    }

    async fn unsubscribe(&mut self, pattern: String) -> Result<bool, HostError> {
        let left = self.base.unsubscribe(&pattern).map_err(host_error)?;
        // The guest is suspended until the topic has let go of it.
        left.await.map_err(host_error)
    }
}

impl logging::Host for ComponentData {
    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Trace => 0,
            LogLevel::Debug => 1,
            LogLevel::Info => 2,
            LogLevel::Warn => 3,
            LogLevel::Error => 4,
        };
        self.base.log(level, &message);
    }
}

impl identity::Host for ComponentData {
    fn self_id(&mut self) -> String {
        self.base.component.as_str().to_string()
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.base.config.get(&key).map(|v| v.to_string())
    }
}

impl clock::Host for ComponentData {
    fn now_ms(&mut self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn now_nanos(&mut self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Adds every `airssys:component` import and WASI preview 2 (which grants
/// only what the component's [`WasiGrants`](super::wasi::WasiGrants) say)
/// to `linker`. Done once per engine.
pub(crate) fn add_to_linker(linker: &mut Linker<ComponentData>) -> wasmtime::Result<()> {
    bindings::Component::add_to_linker::<ComponentData, HasSelf<ComponentData>>(linker, |d| d)?;
    wasmtime_wasi::p2::add_to_linker_async(linker)
}
