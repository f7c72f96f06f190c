//! The raw layer the scenarios measure against: the echo guest on bare
//! wasmtime (instantiate, deliver one message).

#[allow(clippy::wildcard_imports)]
use super::*;

/// A bare-wasmtime `InstancePre` of [`ECHO`] on the host's engine, with a
/// `reply` import that copies the reply out as the host's does.
pub(super) fn raw_pre(
    engine: &WasmEngine,
    scenario: &'static str,
) -> Result<InstancePre<Option<Vec<u8>>>, BenchError> {
    let wt = engine.wasmtime();
    let module = Module::new(wt, ECHO).map_err(wasm_err(scenario))?;
    let mut linker = Linker::<Option<Vec<u8>>>::new(wt);
    linker
        .func_wrap(
            "airssys",
            "reply",
            |mut caller: Caller<'_, Option<Vec<u8>>>, ptr: i32, len: i32| -> i32 {
                let Some(memory) = caller.get_export("memory").and_then(|e| e.into_memory()) else {
                    return -9;
                };
                let (mem, data) = memory.data_and_store_mut(&mut caller);
                let (start, len) = (ptr as usize, len as usize);
                *data = mem.get(start..start + len).map(<[u8]>::to_vec);
                0
            },
        )
        .map_err(wasm_err(scenario))?;
    linker.instantiate_pre(&module).map_err(wasm_err(scenario))
}

/// A bare instance of [`ECHO`] in its own store, as the baselines keep them.
pub(super) async fn raw_instance(
    engine: &WasmEngine,
    pre: &InstancePre<Option<Vec<u8>>>,
    scenario: &'static str,
) -> Result<(Store<Option<Vec<u8>>>, Instance), BenchError> {
    let mut store = Store::new(engine.wasmtime(), None);
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .map_err(wasm_err(scenario))?;
    Ok((store, instance))
}

/// Delivers a one-byte message to a bare instance as the host would (the
/// header at 1024, the payload at 1048), so its memory is touched; returns
/// its `handle-message` for more calls with the same arguments.
pub(super) async fn raw_deliver_one(
    store: &mut Store<Option<Vec<u8>>>,
    instance: &Instance,
    scenario: &'static str,
) -> Result<TypedFunc<(i32, i32), i32>, BenchError> {
    raw_deliver(store, instance, b"x")
        .await
        .map_err(wasm_err(scenario))?;
    instance
        .get_typed_func::<(i32, i32), i32>(&mut *store, "handle-message")
        .map_err(wasm_err(scenario))
}

/// Delivers `payload` to a bare instance as the host would (the header at
/// 1024, the payload at 1048): wasmtime's error when the guest traps.
pub(super) async fn raw_deliver(
    store: &mut Store<Option<Vec<u8>>>,
    instance: &Instance,
    payload: &[u8],
) -> wasmtime::Result<i32> {
    let handle = instance.get_typed_func::<(i32, i32), i32>(&mut *store, "handle-message")?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| wasmtime::Error::msg("no memory"))?;
    let len = u32::try_from(payload.len())?;
    let at = usize::try_from(RAW_MESSAGE_AT)?;
    let mem = memory.data_mut(&mut *store);
    mem[at..at + 24].fill(0);
    mem[at + 12..at + 16].copy_from_slice(&len.to_le_bytes());
    mem[at + 24..at + 24 + payload.len()].copy_from_slice(payload);
    handle
        .call_async(&mut *store, (RAW_MESSAGE_AT, 24 + i32::try_from(len)?))
        .await
}

/// Where the bare baselines write a message in guest memory (what the
/// guests' `alloc` returns).
pub(super) const RAW_MESSAGE_AT: i32 = 1024;

/// `handle-message`'s arguments for the message [`raw_deliver_one`] wrote.
pub(super) const RAW_ONE_BYTE_MESSAGE: (i32, i32) = (RAW_MESSAGE_AT, 25);
