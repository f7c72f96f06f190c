//! Topic subscriptions a guest makes at run time: the `subscribe` /
//! `unsubscribe` host calls of both guest forms (core ABI revision 4,
//! `docs/core-abi.md` "Subscriptions at run time"; the WIT world's
//! `topics` interface), checked against the component's subscribe grants
//! ([`Permissions::allow_subscribe`](crate::Permissions::allow_subscribe))
//! before [`HostServices`](crate::HostServices) is called.
//!
//! Unlike monitors, a subscription is not the instance's: the host keeps
//! it for the component, so it outlives a restart or a live upgrade of the
//! instance that made it and ends when the component stops.

use std::future::Future;

use airssys_rt::broker::subject;
use wasmtime::{Caller, Linker};

use crate::guest::core_abi::IMPORT_MODULE;
use crate::guest::host_imports::codes;
use crate::guest::store::StoreData;

/// The checks of both host calls, shared by both guest forms. Errors are
/// [`codes`].
impl StoreData {
    /// `subscribe`: a valid pattern (`INVALID_ARGUMENT`, not counted),
    /// inside a granted one (`DENIED`, counted), then the host. Subscribing
    /// to a pattern the component has already is a no-op.
    pub(crate) fn subscribe(&self, pattern: &str) -> Result<(), i32> {
        if subject::validate_pattern(pattern).is_err() {
            return Err(codes::INVALID_ARGUMENT);
        }
        if !self.permissions.may_subscribe(pattern) {
            return Err(self.deny("subscribe", pattern));
        }
        self.host
            .subscribe(&self.component, pattern)
            .map_err(|e| e.code())
    }

    /// `unsubscribe`: a valid pattern, then the host. Needs no grant (it
    /// only takes away). Resolves once the topic has let go of the
    /// component, with whether it was subscribed to exactly `pattern`.
    pub(crate) fn unsubscribe(
        &self,
        pattern: &str,
    ) -> Result<impl Future<Output = Result<bool, i32>> + Send + 'static, i32> {
        if subject::validate_pattern(pattern).is_err() {
            return Err(codes::INVALID_ARGUMENT);
        }
        let left = self.host.unsubscribe(&self.component, pattern);
        Ok(async move { left.await.map_err(|e| e.code()) })
    }
}

/// Reads a UTF-8 string at `ptr..ptr+len` of the guest's memory.
fn str_at(mem: &[u8], ptr: i32, len: i32) -> Option<&str> {
    let start = usize::try_from(ptr).ok()?;
    let len = usize::try_from(len).ok()?;
    std::str::from_utf8(mem.get(start..start.checked_add(len)?)?).ok()
}

/// Adds the core imports `subscribe` and `unsubscribe` to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
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
