//! `request_guest`: a request's round trip from one component to another,
//! timed inside the requesting guest, against the same guest on bare
//! wasmtime whose `request` import hands the payload over tokio mpsc to a
//! task running a bare [`ECHO`] instance and awaits the reply on a oneshot.
//!
//! The requester ([`driver`]) makes [`ROUNDS`] requests per message it
//! handles, reads `now_nanos` around each, and replies with the durations
//! (little-endian `i64` nanoseconds). Both sides run the same binary, so the
//! clock calls cost the same on each.

use std::time::{Duration, Instant};

use airssys_wasm::host::ComponentSpec;
use airssys_wasm::{EngineConfig, Permissions, WasmEngine};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use wasmtime::{Caller, Linker, Module, Store};

use super::{
    host, host_err, raw_instance, raw_pre, wasm_err, BenchError, Scenario, ECHO, RAW_MESSAGE_AT,
};

/// Requests the driver makes per message it handles.
pub const ROUNDS: usize = 500;

/// The requesting guest: for each message, [`ROUNDS`] requests of 64 bytes
/// to `echo`, each timed with `now_nanos`; traps when a reply is not the 64
/// bytes sent; replies with the durations.
pub(super) fn driver() -> String {
    format!(
        r#"(module
  (import "airssys" "request" (func $request (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "airssys" "now_nanos" (func $now (result i64)))
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "echo")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
    (local $i i32) (local $t i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const {ROUNDS})))
        (local.set $t (call $now))
        (if (i32.ne
              (call $request (i32.const 0) (i32.const 4) (i32.const 64) (i32.const 64)
                (i32.const 5000) (i32.const 256) (i32.const 256))
              (i32.const 64))
          (then unreachable))
        (i64.store (i32.add (i32.const 4096) (i32.shl (local.get $i) (i32.const 3)))
          (i64.sub (call $now) (local.get $t)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (drop (call $reply (i32.const 4096) (i32.shl (local.get $i) (i32.const 3))))
    i32.const 0))"#
    )
}

const S: &str = "request_guest";

/// At least `n` guest→guest round trips through the host, then as many on
/// bare wasmtime and tokio.
pub(super) async fn run(n: usize) -> Result<Scenario, BenchError> {
    let messages = n.div_ceil(ROUNDS).max(1);
    let mut ours = through_host(messages).await?;
    let mut base = bare(messages).await?;
    Ok(Scenario::latency(
        S,
        &mut ours,
        "bare wasmtime guest → bare echo, mpsc + oneshot",
        &mut base,
    ))
}

async fn through_host(messages: usize) -> Result<Vec<f64>, BenchError> {
    let host = host(S, 4)?;
    host.spawn(ComponentSpec::new("echo", ECHO.as_bytes().to_vec()))
        .await
        .map_err(host_err(S))?;
    host.spawn(
        ComponentSpec::new("driver", driver().into_bytes())
            .permissions(Permissions::deny_all().allow_target("echo")),
    )
    .await
    .map_err(host_err(S))?;
    let mut samples = Vec::with_capacity(messages * ROUNDS);
    for _ in 0..messages {
        let durations = host
            .request("driver", Bytes::new(), Duration::from_secs(30))
            .await
            .map_err(host_err(S))?
            .ok_or_else(|| wasm_err(S)("the driver did not reply"))?;
        samples.extend(nanos_as_micros(&durations)?);
    }
    host.shutdown(Duration::from_secs(10)).await;
    Ok(samples)
}

/// What the bare driver's store holds: the echo task's queue, the clock
/// origin and the reply.
struct BareDriver {
    echo: mpsc::Sender<(Bytes, oneshot::Sender<Bytes>)>,
    origin: Instant,
    reply: Option<Vec<u8>>,
}

async fn bare(messages: usize) -> Result<Vec<f64>, BenchError> {
    let engine = WasmEngine::new(EngineConfig::default().max_components(4)).map_err(wasm_err(S))?;
    let echo = bare_echo(&engine).await?;
    let wt = engine.wasmtime();
    let module = Module::new(wt, driver()).map_err(wasm_err(S))?;
    let linker = bare_driver_linker(&engine)?;
    let mut store = Store::new(
        wt,
        BareDriver {
            echo,
            origin: Instant::now(),
            reply: None,
        },
    );
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = linker
        .instantiate_async(&mut store, &module)
        .await
        .map_err(wasm_err(S))?;
    let handle = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "handle-message")
        .map_err(wasm_err(S))?;
    let mut samples = Vec::with_capacity(messages * ROUNDS);
    for _ in 0..messages {
        // An empty message: a zeroed header at 1024, as the host writes it.
        handle
            .call_async(&mut store, (RAW_MESSAGE_AT, 24))
            .await
            .map_err(wasm_err(S))?;
        let durations = store
            .data_mut()
            .reply
            .take()
            .ok_or_else(|| wasm_err(S)("the bare driver did not reply"))?;
        samples.extend(nanos_as_micros(&durations)?);
    }
    Ok(samples)
}

/// A task running a bare [`ECHO`] instance: each payload is written as a
/// message at 1024, `handle-message` called, and the reply sent back.
async fn bare_echo(
    engine: &WasmEngine,
) -> Result<mpsc::Sender<(Bytes, oneshot::Sender<Bytes>)>, BenchError> {
    let pre = raw_pre(engine, S)?;
    let (mut store, instance) = raw_instance(engine, &pre, S).await?;
    let handle = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "handle-message")
        .map_err(wasm_err(S))?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| wasm_err(S)("no memory"))?;
    let (tx, mut rx) = mpsc::channel::<(Bytes, oneshot::Sender<Bytes>)>(1024);
    tokio::spawn(async move {
        while let Some((payload, answer)) = rx.recv().await {
            let at = RAW_MESSAGE_AT as usize;
            let total = 24 + payload.len();
            let Some(message) = memory.data_mut(&mut store).get_mut(at..at + total) else {
                return;
            };
            message[..24].fill(0);
            message[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            message[24..].copy_from_slice(&payload);
            let total = total as i32;
            if handle
                .call_async(&mut store, (RAW_MESSAGE_AT, total))
                .await
                .is_err()
            {
                return;
            }
            let reply = store.data_mut().take().unwrap_or_default();
            let _ = answer.send(Bytes::from(reply));
        }
    });
    Ok(tx)
}

/// The driver's three imports on bare wasmtime, doing what the host's do
/// without the host: `request` copies the payload out, round-trips it
/// through the echo task and copies the reply in.
fn bare_driver_linker(engine: &WasmEngine) -> Result<Linker<BareDriver>, BenchError> {
    let mut linker = Linker::<BareDriver>::new(engine.wasmtime());
    linker
        .func_wrap_async(
            "airssys",
            "request",
            |mut caller: Caller<'_, BareDriver>,
             (_tp, _tl, pp, pl, _timeout, rp, rc): (i32, i32, i32, i32, i32, i32, i32)| {
                Box::new(async move {
                    let Some(memory) = caller.get_export("memory").and_then(|e| e.into_memory())
                    else {
                        return -9;
                    };
                    let (start, len) = (pp as usize, pl as usize);
                    let Some(payload) = memory.data(&caller).get(start..start + len) else {
                        return -2;
                    };
                    let payload = Bytes::copy_from_slice(payload);
                    let (answer, reply) = oneshot::channel();
                    if caller.data().echo.send((payload, answer)).await.is_err() {
                        return -9;
                    }
                    let Ok(reply) = reply.await else { return -9 };
                    let n = reply.len().min(rc as usize);
                    let at = rp as usize;
                    let Some(dst) = memory.data_mut(&mut caller).get_mut(at..at + n) else {
                        return -2;
                    };
                    dst.copy_from_slice(&reply[..n]);
                    reply.len() as i32
                })
            },
        )
        .map_err(wasm_err(S))?;
    linker
        .func_wrap(
            "airssys",
            "now_nanos",
            |caller: Caller<'_, BareDriver>| -> i64 {
                caller.data().origin.elapsed().as_nanos() as i64
            },
        )
        .map_err(wasm_err(S))?;
    linker
        .func_wrap(
            "airssys",
            "reply",
            |mut caller: Caller<'_, BareDriver>, ptr: i32, len: i32| -> i32 {
                let Some(memory) = caller.get_export("memory").and_then(|e| e.into_memory()) else {
                    return -9;
                };
                let (mem, data) = memory.data_and_store_mut(&mut caller);
                let (start, len) = (ptr as usize, len as usize);
                data.reply = mem.get(start..start + len).map(<[u8]>::to_vec);
                0
            },
        )
        .map_err(wasm_err(S))?;
    Ok(linker)
}

/// The driver's reply, `i64` nanoseconds each, as microseconds.
pub(super) fn nanos_as_micros(reply: &[u8]) -> Result<Vec<f64>, BenchError> {
    if reply.len() != ROUNDS * 8 {
        return Err(wasm_err(S)(format!(
            "the driver replied {} bytes, not {} durations",
            reply.len(),
            ROUNDS
        )));
    }
    Ok(reply
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            i64::from_le_bytes(b) as f64 / 1e3
        })
        .collect())
}
