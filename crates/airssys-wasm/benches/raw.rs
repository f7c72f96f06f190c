//! The raw wasmtime layer the benchmarks compare against: the echo guest
//! instantiated straight from an `InstancePre`, called with typed functions.
//!
//! Shared by several bench binaries through `#[path]`; not every binary uses
//! every item.
#![allow(dead_code)]

use wasmtime::{Caller, InstancePre, Linker, Module, Store, TypedFunc};

use airssys_wasm::WasmEngine;

/// Raw store data: just the captured reply.
#[derive(Default)]
pub struct Raw {
    pub reply: Option<Vec<u8>>,
}

/// An `InstancePre` of `wat` built directly on wasmtime, with a `reply`
/// import that copies the reply out like ours does.
pub fn raw_pre(engine: &WasmEngine, wat: &str) -> InstancePre<Raw> {
    let wt = engine.wasmtime();
    let module = Module::new(wt, wat).expect("module");
    let mut linker = Linker::<Raw>::new(wt);
    linker
        .func_wrap(
            "airssys",
            "reply",
            |mut caller: Caller<'_, Raw>, ptr: i32, len: i32| -> i32 {
                let Some(memory) = caller.get_export("memory").and_then(|e| e.into_memory()) else {
                    return -1;
                };
                let (mem, data) = memory.data_and_store_mut(&mut caller);
                data.reply = Some(mem[ptr as usize..(ptr + len) as usize].to_vec());
                0
            },
        )
        .expect("reply import");
    linker.instantiate_pre(&module).expect("instance pre")
}

/// One raw instance with its typed entry points, delivering messages laid
/// out as in docs/core-abi.md (24-byte header, then the payload).
pub struct RawGuest {
    pub store: Store<Raw>,
    memory: wasmtime::Memory,
    alloc: TypedFunc<i32, i32>,
    handle: TypedFunc<(i32, i32), i32>,
}

impl RawGuest {
    pub async fn new(engine: &WasmEngine, pre: &InstancePre<Raw>) -> Self {
        let mut store = Store::new(engine.wasmtime(), Raw::default());
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .expect("instantiate");
        let memory = instance.get_memory(&mut store, "memory").expect("memory");
        let alloc = instance.get_typed_func(&mut store, "alloc").expect("alloc");
        let handle = instance
            .get_typed_func(&mut store, "handle-message")
            .expect("handle-message");
        Self {
            store,
            memory,
            alloc,
            handle,
        }
    }

    /// alloc + copy + handle-message; returns the call's result code.
    pub async fn deliver(&mut self, payload: &[u8]) -> i32 {
        let mut header = [0u8; 24];
        header[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        let total = header.len() + payload.len();
        let ptr = self
            .alloc
            .call_async(&mut self.store, total as i32)
            .await
            .expect("alloc") as usize;
        let mem = self.memory.data_mut(&mut self.store);
        mem[ptr..ptr + 24].copy_from_slice(&header);
        mem[ptr + 24..ptr + total].copy_from_slice(payload);
        let code = self
            .handle
            .call_async(&mut self.store, (ptr as i32, total as i32))
            .await
            .unwrap_or(-1);
        std::hint::black_box(self.store.data_mut().reply.take());
        code
    }
}
