//! Shared helpers for the integration tests: fixtures, engine, a recording
//! fake `HostServices`.
#![allow(dead_code)]

pub mod hostile;

use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::{
    BoxFuture, ComponentId, ComponentLimits, EngineConfig, GuestInstance, HostCallError,
    HostServices, InstanceConfig, Permissions, WasmEngine,
};
use bytes::Bytes;
use parking_lot::Mutex;

/// The text of `tests/fixtures/<name>.wat`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture compiled to a binary.
pub fn fixture_binary(name: &str) -> Vec<u8> {
    wat::parse_str(fixture(name)).unwrap()
}

/// A component host whose pool holds `max_components`, each with a 1 MiB
/// memory slot.
pub fn host(max_components: u32) -> airssys_wasm::ComponentHost {
    airssys_wasm::ComponentHost::builder()
        .engine(
            EngineConfig::default()
                .max_components(max_components)
                .max_memory_per_component(1 << 20),
        )
        .build()
        .unwrap()
}

pub fn engine() -> WasmEngine {
    WasmEngine::new(EngineConfig::default().max_components(64)).unwrap()
}

/// A call the fake host recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Send {
        from: String,
        to: String,
        payload: Vec<u8>,
    },
    Publish {
        from: String,
        subject: String,
        payload: Vec<u8>,
    },
    Request {
        from: String,
        to: String,
        payload: Vec<u8>,
        timeout: Duration,
    },
}

/// How the fake host answers requests.
#[derive(Clone, Debug)]
pub enum RequestBehaviour {
    /// Reply with these bytes.
    Reply(Vec<u8>),
    /// Never reply.
    Hang,
    /// Fail with this error.
    Fail(HostCallError),
}

/// Records every call; answers requests per its behaviour.
pub struct FakeHost {
    pub calls: Mutex<Vec<Call>>,
    pub request: Mutex<RequestBehaviour>,
    pub send_result: Mutex<Result<(), HostCallError>>,
}

impl FakeHost {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeHost {
            calls: Mutex::new(Vec::new()),
            request: Mutex::new(RequestBehaviour::Reply(b"pong".to_vec())),
            send_result: Mutex::new(Ok(())),
        })
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }
}

impl HostServices for FakeHost {
    fn send(&self, from: &ComponentId, to: &str, payload: Bytes) -> Result<(), HostCallError> {
        self.calls.lock().push(Call::Send {
            from: from.to_string(),
            to: to.to_string(),
            payload: payload.to_vec(),
        });
        self.send_result.lock().clone()
    }

    fn publish(
        &self,
        from: &ComponentId,
        subject: &str,
        payload: Bytes,
    ) -> Result<(), HostCallError> {
        self.calls.lock().push(Call::Publish {
            from: from.to_string(),
            subject: subject.to_string(),
            payload: payload.to_vec(),
        });
        Ok(())
    }

    fn request(
        &self,
        from: &ComponentId,
        to: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, HostCallError>> {
        self.calls.lock().push(Call::Request {
            from: from.to_string(),
            to: to.to_string(),
            payload: payload.to_vec(),
            timeout,
        });
        let behaviour = self.request.lock().clone();
        Box::pin(async move {
            match behaviour {
                RequestBehaviour::Reply(bytes) => {
                    // Suspend once so the guest really waits on the host.
                    tokio::task::yield_now().await;
                    Ok(Bytes::from(bytes))
                }
                // A target that never answers: the host's timer ends the
                // wait, as the contract of `HostServices::request` says.
                RequestBehaviour::Hang => {
                    tokio::time::sleep(timeout).await;
                    Err(HostCallError::Timeout)
                }
                RequestBehaviour::Fail(e) => Err(e),
            }
        })
    }
}

/// Loads, instantiates and inits a fixture.
pub async fn spawn_with(
    engine: &WasmEngine,
    fixture_name: &str,
    id: &str,
    host: Arc<dyn HostServices>,
    limits: ComponentLimits,
    permissions: Permissions,
) -> GuestInstance {
    spawn_bytes(
        engine,
        fixture(fixture_name).as_bytes(),
        id,
        host,
        limits,
        permissions,
    )
    .await
}

/// Loads `bytes` (either guest form), instantiates and inits it.
pub async fn spawn_bytes(
    engine: &WasmEngine,
    bytes: &[u8],
    id: &str,
    host: Arc<dyn HostServices>,
    limits: ComponentLimits,
    permissions: Permissions,
) -> GuestInstance {
    let module = engine.load(&ComponentId::new(id), bytes).unwrap();
    let mut guest = module
        .instantiate(
            InstanceConfig::new(id, host)
                .limits(limits)
                .permissions(permissions),
        )
        .await
        .unwrap();
    guest.init().await.unwrap();
    guest
}

pub async fn spawn(engine: &WasmEngine, fixture_name: &str, id: &str) -> GuestInstance {
    spawn_with(
        engine,
        fixture_name,
        id,
        FakeHost::new(),
        ComponentLimits::default(),
        Permissions::deny_all(),
    )
    .await
}

pub fn le_i32(bytes: &[u8]) -> i32 {
    i32::from_le_bytes(bytes[..4].try_into().unwrap())
}

/// The core module text of component fixture `name`:
/// `tests/fixtures/components/<name>.wat` after the shared prelude. A
/// fixture that exports a `cabi_realloc` of its own (the hostile ones)
/// replaces the prelude's: the prelude's bump allocator stays, unexported.
pub fn component_fixture_module(name: &str) -> String {
    let dir = format!("{}/tests/fixtures/components", env!("CARGO_MANIFEST_DIR"));
    let read = |file: &str| {
        let path = format!("{dir}/{file}.wat");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    const EXPORT: &str = "(export \"cabi_realloc\")";
    let own = read(name);
    let mut prelude = read("prelude");
    if own.contains(EXPORT) {
        prelude = prelude.replacen(EXPORT, "", 1);
    }
    format!("(module\n{prelude}\n{own}\n)")
}

/// Component fixture `name` ([`component_fixture_module`]) made a
/// component of the `airssys:component` world.
pub fn component_fixture(name: &str) -> Vec<u8> {
    airssys_wasm::wit::componentize(component_fixture_module(name).as_bytes(), None)
        .unwrap_or_else(|e| panic!("component fixture {name}: {e}"))
}

/// Loads, instantiates and inits a component fixture.
pub async fn spawn_component(
    engine: &WasmEngine,
    fixture_name: &str,
    id: &str,
    host: Arc<dyn HostServices>,
    limits: ComponentLimits,
    permissions: Permissions,
) -> GuestInstance {
    spawn_bytes(
        engine,
        &component_fixture(fixture_name),
        id,
        host,
        limits,
        permissions,
    )
    .await
}

/// A component of another world than airssys's: world `w` of the WIT
/// package `wit`, made from the core module text `wat`.
pub fn other_world(wit: &str, wat: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("other.wit", wit).unwrap();
    let world = resolve.select_world(&[pkg], Some("w")).unwrap();
    let mut core = wat::parse_str(wat).unwrap();
    wit_component::embed_component_metadata(
        &mut core,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&core)
        .unwrap()
        .encode()
        .unwrap()
}
