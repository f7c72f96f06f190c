//! A live component instance: its calls through the world's exports.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::{ComponentType, Func, Lower, Val};

use crate::error::GuestError;
use crate::guest::call::CallCore;
use crate::guest::component::data::ComponentData;
use crate::guest::component::imports::bindings::airssys::component::types::{
    HandlerError, HealthStatus,
};
use crate::guest::component::value;
use crate::guest::message::{GuestHealth, GuestMessage};

/// The `message` record of the world, lowered straight from the host's
/// [`GuestMessage`] without copying the payload into an owned buffer first.
#[derive(ComponentType, Lower)]
#[component(record)]
struct MessageRecord<'a> {
    sender: Option<&'a str>,
    subject: Option<&'a str>,
    #[component(name = "correlation-id")]
    correlation_id: Option<u64>,
    payload: &'a [u8],
}

type HandleResult = Result<Option<Vec<u8>>, HandlerError>;

/// A live component instance: its own store and its world exports.
#[derive(Debug)]
pub struct ComponentInstance {
    pub(crate) call: CallCore<ComponentData>,
    pub(crate) instance: wasmtime::component::Instance,
    pub(crate) handle: Func,
    pub(crate) init: Option<Func>,
    pub(crate) health: Option<Func>,
    pub(crate) cleanup: Option<Func>,
}

impl ComponentInstance {
    /// Calls `init(config)`; an `err` from the guest is
    /// [`GuestError::InitFailed`] (code 1) with its reason logged.
    pub(crate) async fn init(&mut self) -> Result<(), GuestError> {
        let Some(init) = self.init else {
            return Ok(());
        };
        let init = init
            .typed::<(&[(&str, &str)],), (Result<(), String>,)>(&self.call.store)
            .map_err(|e| self.call.fail(e))?;
        let config = Arc::clone(&self.call.data().config);
        let pairs: Vec<(&str, &str)> = config
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_ref()))
            .collect();
        self.call.begin()?;
        let (result,) = init
            .call_async(&mut self.call.store, (&pairs,))
            .await
            .map_err(|e| self.call.fail(e))?;
        self.call.finish();
        result.map_err(|reason| {
            tracing::warn!(component = %self.call.component(), %reason, "init failed");
            GuestError::InitFailed {
                component: self.call.component().clone(),
                code: 1,
            }
        })
    }

    /// Calls `cleanup`, if exported.
    pub(crate) async fn cleanup(&mut self) -> Result<(), GuestError> {
        let Some(cleanup) = self.cleanup else {
            return Ok(());
        };
        let cleanup = cleanup
            .typed::<(), ()>(&self.call.store)
            .map_err(|e| self.call.fail(e))?;
        self.call.begin()?;
        cleanup
            .call_async(&mut self.call.store, ())
            .await
            .map_err(|e| self.call.fail(e))?;
        self.call.finish();
        Ok(())
    }

    /// Delivers one message to `handle-message`. The reply is what the guest
    /// returned, or else what it passed to `messaging.reply`; returning one
    /// after replying through the import is an error. The payload was
    /// checked against the component's limit by the caller
    /// ([`GuestInstance::handle`](crate::GuestInstance::handle)
    /// or the host's delivery).
    pub(crate) async fn handle_message(
        &mut self,
        msg: &GuestMessage,
    ) -> Result<Option<Bytes>, GuestError> {
        let limit = self.call.state().limits().max_message_bytes;
        let handle = self
            .handle
            .typed::<(MessageRecord<'_>,), (HandleResult,)>(&self.call.store)
            .map_err(|e| self.call.fail(e))?;
        let record = MessageRecord {
            sender: msg.sender.as_ref().map(|s| s.as_str()),
            subject: msg.subject.as_deref(),
            correlation_id: msg.correlation_id,
            payload: &msg.payload,
        };
        self.call.begin()?;
        self.call.data_mut().open_reply();
        self.call.data_mut().redelivered = msg.redelivered;
        let result = handle.call_async(&mut self.call.store, (record,)).await;
        self.call.record_fuel();
        self.call.data_mut().redelivered = false;
        let replied = self.call.data_mut().take_reply();
        let (result,) = result.map_err(|e| self.call.fail(e))?;
        self.call.finish();
        match result {
            Ok(Some(reply)) => {
                if replied.is_some() {
                    return Err(GuestError::AbiViolation {
                        component: self.call.component().clone(),
                        reason: "handle-message both called `reply` and returned a reply".into(),
                    });
                }
                if reply.len() > limit {
                    return Err(GuestError::MessageTooLarge {
                        component: self.call.component().clone(),
                        size: reply.len(),
                        limit,
                    });
                }
                Ok(Some(Bytes::from(reply)))
            }
            Ok(None) => Ok(replied.map(Bytes::from)),
            Err(HandlerError { code, reason }) => {
                tracing::debug!(component = %self.call.component(), code, %reason, "handle-message failed");
                Err(GuestError::HandlerFailed {
                    component: self.call.component().clone(),
                    code,
                })
            }
        }
    }

    /// Calls any exported function with dynamic values, checked against
    /// its WIT parameter types first.
    pub(crate) async fn invoke(
        &mut self,
        export: &str,
        args: &[Val],
    ) -> Result<Vec<Val>, GuestError> {
        self.call.state().alive()?;
        let Some(func) = self.instance.get_func(&mut self.call.store, export) else {
            return Err(self.call.state().export_not_found(export));
        };
        let ty = func.ty(&self.call.store);
        self.call
            .state()
            .check_arity(export, ty.params().len(), args.len())?;
        for (index, ((_, param), arg)) in ty.params().zip(args).enumerate() {
            value::check(arg, &param).map_err(|reason| GuestError::ValueMismatch {
                component: self.call.component().clone(),
                export: export.to_string(),
                index,
                reason,
            })?;
        }
        let mut results = vec![Val::Bool(false); ty.results().len()];
        self.call.begin()?;
        func.call_async(&mut self.call.store, args, &mut results)
            .await
            .map_err(|e| self.call.fail(e))?;
        self.call.finish();
        Ok(results)
    }

    /// The guest's health answer, or the error that failed the instance.
    pub(crate) async fn checked_health(&mut self) -> Result<GuestHealth, GuestError> {
        let Some(health) = self.health else {
            return self.call.state().unchecked_health();
        };
        let health = health
            .typed::<(), (HealthStatus,)>(&self.call.store)
            .map_err(|e| self.call.fail(e))?;
        self.call.begin()?;
        let (status,) = health
            .call_async(&mut self.call.store, ())
            .await
            .map_err(|e| self.call.fail(e))?;
        self.call.finish();
        Ok(match status {
            HealthStatus::Healthy => GuestHealth::Healthy,
            HealthStatus::Degraded(reason) => GuestHealth::Degraded(reason),
            HealthStatus::Unhealthy(reason) => GuestHealth::Unhealthy(reason),
        })
    }
}
