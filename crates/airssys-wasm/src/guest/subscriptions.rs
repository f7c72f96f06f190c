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

use crate::guest::services::codes;
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
