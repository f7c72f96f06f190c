//! The core form's host imports: module `airssys` (`docs/core-abi.md`),
//! each a thin wrapper that reads its arguments out of guest memory and
//! calls the form-independent host call (`guest::host_imports`,
//! `guest::links`, `guest::subscriptions`), answering with a [`codes`]
//! value.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime::{Caller, Engine, Linker};

use crate::guest::core::abi::IMPORT_MODULE;
use crate::guest::services::codes;
use crate::guest::store::StoreData;

/// Reads `len` bytes at `ptr` from the guest's memory.
fn slice(mem: &[u8], ptr: i32, len: i32) -> Option<&[u8]> {
    let start = usize::try_from(ptr).ok()?;
    let len = usize::try_from(len).ok()?;
    mem.get(start..start.checked_add(len)?)
}

/// Reads the UTF-8 string of `len` bytes at `ptr` from the guest's memory.
pub(crate) fn str_at(mem: &[u8], ptr: i32, len: i32) -> Option<&str> {
    std::str::from_utf8(slice(mem, ptr, len)?).ok()
}

/// Copies as much of `src` as fits into `mem[ptr..ptr+cap]`; returns the full
/// length of `src` (snprintf convention) or `INVALID_ARGUMENT`.
fn write_truncated(mem: &mut [u8], ptr: i32, cap: i32, src: &[u8]) -> i32 {
    let (Ok(start), Ok(cap)) = (usize::try_from(ptr), usize::try_from(cap)) else {
        return codes::INVALID_ARGUMENT;
    };
    let n = src.len().min(cap);
    let Some(dst) = start.checked_add(n).and_then(|end| mem.get_mut(start..end)) else {
        return codes::INVALID_ARGUMENT;
    };
    dst.copy_from_slice(&src[..n]);
    i32::try_from(src.len()).unwrap_or(i32::MAX)
}

/// Builds the linker with every `airssys` import. Done once per engine.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<StoreData>> {
    let mut linker = Linker::<StoreData>::new(engine);
    add_links(&mut linker)?;
    add_messaging(&mut linker)?;
    add_monitors(&mut linker)?;
    add_context(&mut linker)?;
    add_subscriptions(&mut linker)?;
    Ok(linker)
}

/// `send`, `publish`, `request` and `reply`.
fn add_messaging(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        "send",
        |mut caller: Caller<'_, StoreData>, tp: i32, tl: i32, pp: i32, pl: i32| -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let (Some(target), Some(payload)) = (str_at(mem, tp, tl), slice(mem, pp, pl)) else {
                return codes::INVALID_ARGUMENT;
            };
            match data.send(target, Bytes::copy_from_slice(payload)) {
                Ok(()) => codes::OK,
                Err(code) => code,
            }
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "publish",
        |mut caller: Caller<'_, StoreData>, sp: i32, sl: i32, pp: i32, pl: i32| -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let (Some(subject), Some(payload)) = (str_at(mem, sp, sl), slice(mem, pp, pl)) else {
                return codes::INVALID_ARGUMENT;
            };
            match data.publish(subject, Bytes::copy_from_slice(payload)) {
                Ok(()) => codes::OK,
                Err(code) => code,
            }
        },
    )?;

    linker.func_wrap_async(
        IMPORT_MODULE,
        "request",
        |mut caller: Caller<'_, StoreData>,
         (tp, tl, pp, pl, timeout_ms, rp, rc): (i32, i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let Some(memory) = caller.data().memory else {
                    return codes::UNAVAILABLE;
                };
                let future = {
                    let (mem, data) = memory.data_and_store_mut(&mut caller);
                    let (Some(target), Some(payload)) = (str_at(mem, tp, tl), slice(mem, pp, pl))
                    else {
                        return codes::INVALID_ARGUMENT;
                    };
                    let timeout_ms = u64::try_from(timeout_ms).unwrap_or(0);
                    match data.request(target, Bytes::copy_from_slice(payload), timeout_ms) {
                        Ok(pending) => pending,
                        Err(code) => return code,
                    }
                };
                // The guest is suspended here; the tokio worker runs other tasks.
                let reply = match future.await {
                    Ok(reply) => reply,
                    Err(code) => return code,
                };
                let mem = memory.data_mut(&mut caller);
                write_truncated(mem, rp, rc, &reply)
            })
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "reply",
        |mut caller: Caller<'_, StoreData>, ptr: i32, len: i32| -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let Some(bytes) = slice(mem, ptr, len) else {
                return codes::INVALID_ARGUMENT;
            };
            match data.accept_reply(bytes) {
                Ok(()) => codes::OK,
                Err(code) => code,
            }
        },
    )?;
    Ok(())
}

/// `monitor` and `demonitor`.
fn add_monitors(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        "monitor",
        |mut caller: Caller<'_, StoreData>, tp: i32, tl: i32| -> i64 {
            let Some(memory) = caller.data().memory else {
                return i64::from(codes::UNAVAILABLE);
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let Some(target) = str_at(mem, tp, tl) else {
                return i64::from(codes::INVALID_ARGUMENT);
            };
            match data.monitor(target) {
                Ok(id) => i64::try_from(id).unwrap_or(i64::MAX),
                Err(code) => i64::from(code),
            }
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "demonitor",
        |mut caller: Caller<'_, StoreData>, id: i64| -> i32 {
            let Ok(id) = u64::try_from(id) else {
                return 0;
            };
            i32::from(caller.data_mut().demonitor(id))
        },
    )?;
    Ok(())
}

/// What a guest may read of its context: `log`, `self_id`, `config_get`,
/// `now_ms` and `now_nanos`.
fn add_context(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        "log",
        |mut caller: Caller<'_, StoreData>, level: i32, ptr: i32, len: i32| {
            let Some(memory) = caller.data().memory else {
                return;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let Some(bytes) = slice(mem, ptr, len) else {
                tracing::warn!(component = %data.component, ptr, len, "guest log: out-of-bounds message");
                return;
            };
            data.log(level, &String::from_utf8_lossy(bytes));
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "self_id",
        |mut caller: Caller<'_, StoreData>, ptr: i32, cap: i32| -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            write_truncated(mem, ptr, cap, data.component.as_str().as_bytes())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "config_get",
        |mut caller: Caller<'_, StoreData>,
         key_ptr: i32,
         key_len: i32,
         ptr: i32,
         cap: i32|
         -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let Some(key) = str_at(mem, key_ptr, key_len) else {
                return codes::INVALID_ARGUMENT;
            };
            let Some(value) = data.config.get(key) else {
                return codes::NOT_FOUND;
            };
            let value = Arc::clone(value);
            write_truncated(mem, ptr, cap, value.as_bytes())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "now_ms",
        |caller: Caller<'_, StoreData>| -> i64 {
            let elapsed = caller.data().clock_origin.elapsed();
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "now_nanos",
        |caller: Caller<'_, StoreData>| -> i64 {
            let elapsed = caller.data().clock_origin.elapsed();
            i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
        },
    )?;
    Ok(())
}

/// Runs `call` with the UTF-8 string at `ptr..ptr+len` of the guest's
/// memory: `UNAVAILABLE` before the memory is known, `INVALID_ARGUMENT`
/// for a bad range or text.
fn with_str(
    caller: &mut Caller<'_, StoreData>,
    ptr: i32,
    len: i32,
    call: impl FnOnce(&mut StoreData, &str) -> i32,
) -> i32 {
    let Some(memory) = caller.data().memory else {
        return codes::UNAVAILABLE;
    };
    let (mem, data) = memory.data_and_store_mut(caller);
    match str_at(mem, ptr, len) {
        Some(text) => call(data, text),
        None => codes::INVALID_ARGUMENT,
    }
}

/// Adds the core imports `link(target_ptr, target_len) -> i32` (`0` or an
/// error code) and `unlink(target_ptr, target_len) -> i32` (`1` linked,
/// `0` not, or an error code) to `linker`.
fn add_links(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        "link",
        |mut caller: Caller<'_, StoreData>, tp: i32, tl: i32| -> i32 {
            with_str(&mut caller, tp, tl, |data, target| {
                match data.link(target) {
                    Ok(()) => codes::OK,
                    Err(code) => code,
                }
            })
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        "unlink",
        |mut caller: Caller<'_, StoreData>, tp: i32, tl: i32| -> i32 {
            with_str(&mut caller, tp, tl, |data, target| {
                match data.unlink(target) {
                    Ok(linked) => i32::from(linked),
                    Err(code) => code,
                }
            })
        },
    )?;
    Ok(())
}

/// Adds the core imports `subscribe` and `unsubscribe` to `linker`.
fn add_subscriptions(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        "subscribe",
        |mut caller: Caller<'_, StoreData>, pp: i32, pl: i32| -> i32 {
            let Some(memory) = caller.data().memory else {
                return codes::UNAVAILABLE;
            };
            let (mem, data) = memory.data_and_store_mut(&mut caller);
            let Some(pattern) = str_at(mem, pp, pl) else {
                return codes::INVALID_ARGUMENT;
            };
            match data.subscribe(pattern) {
                Ok(()) => codes::OK,
                Err(code) => code,
            }
        },
    )?;

    linker.func_wrap_async(
        IMPORT_MODULE,
        "unsubscribe",
        |mut caller: Caller<'_, StoreData>, (pp, pl): (i32, i32)| {
            Box::new(async move {
                let Some(memory) = caller.data().memory else {
                    return codes::UNAVAILABLE;
                };
                let left = {
                    let (mem, data) = memory.data_and_store_mut(&mut caller);
                    let Some(pattern) = str_at(mem, pp, pl) else {
                        return codes::INVALID_ARGUMENT;
                    };
                    match data.unsubscribe(pattern) {
                        Ok(left) => left,
                        Err(code) => return code,
                    }
                };
                // The guest is suspended until the topic's task has
                // carried the order out (never long: it does not wait on
                // mailboxes).
                match left.await {
                    Ok(was) => i32::from(was),
                    Err(code) => code,
                }
            })
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmtime::{Config, Engine, Extern, Store};

    use super::linker;
    use crate::guest::core::abi::{HOST_IMPORTS, IMPORT_MODULE};
    use crate::guest::services::NoHostServices;
    use crate::guest::store::StoreData;
    use crate::id::ComponentId;
    use crate::runtime::limits::MemoryLimiter;
    use crate::Permissions;

    #[test]
    fn the_linker_defines_exactly_the_documented_host_imports() {
        let engine = Engine::new(&Config::new()).unwrap();
        let linker = linker(&engine).unwrap();
        let component = ComponentId::new("abi-check");
        let data = StoreData {
            component: component.clone(),
            host: Arc::new(NoHostServices),
            permissions: Arc::new(Permissions::default()),
            limiter: MemoryLimiter {
                component,
                limit: 1 << 16,
                instances: 1,
                in_use: 0,
                stats: Arc::default(),
            },
            memory: None,
            reply_open: false,
            reply_kept: true,
            redelivered: false,
            reply: None,
            max_message_bytes: 1024,
            max_request_timeout: std::time::Duration::from_secs(1),
            stats: Arc::default(),
            config: Arc::default(),
            ticks_left: 1,
            clock_origin: tokio::time::Instant::now(),
            monitors: Default::default(),
            handling: None,
        };
        let mut store = Store::new(&engine, data);
        let defined: Vec<(String, String, Extern)> = linker
            .iter(&mut store)
            .map(|(module, name, item)| (module.to_owned(), name.to_owned(), item))
            .collect();
        let mut names: Vec<&str> = defined
            .iter()
            .map(|(module, name, _)| {
                assert_eq!(module, IMPORT_MODULE);
                name.as_str()
            })
            .collect();
        names.sort_unstable();
        let mut documented: Vec<&str> = HOST_IMPORTS.iter().map(|(name, _)| *name).collect();
        documented.sort_unstable();
        assert_eq!(
            names, documented,
            "linker and HOST_IMPORTS list the same functions"
        );
        for (_, name, item) in &defined {
            let Extern::Func(func) = item else {
                panic!("{name} is not a function");
            };
            let (_, expected) = HOST_IMPORTS.iter().find(|(n, _)| n == name).unwrap();
            assert!(
                expected.matches(&func.ty(&store)),
                "{name}: linker has {:?}, HOST_IMPORTS says {expected}",
                func.ty(&store)
            );
        }
    }
}
