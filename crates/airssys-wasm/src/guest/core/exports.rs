//! The rarely called exports of a core module instance, kept untyped.

use std::marker::PhantomData;

use wasmtime::{Func, Store, TypedFunc, WasmParams, WasmResults};

use crate::guest::store::StoreData;

/// A lifecycle hook (`init`/`_start`, `cleanup`) of one of its two
/// signatures: no result, or a status code.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HookFn {
    /// `() -> ()`.
    Unit(RareExport<(), ()>),
    /// `() -> i32`.
    Code(RareExport<(), i32>),
}

/// An export called rarely (lifecycle hooks, health, state transfer,
/// `dealloc`), kept as an untyped [`Func`] and typed at each call: 16 bytes
/// in every live instance where a `TypedFunc` takes 64, which a host of a
/// million idle components pays a million times. Typing checks the
/// signature (tens of nanoseconds); the loader has checked it already
/// (`core::abi::AbiExports`), so a mismatch there is a broken invariant,
/// reported as the call's error.
#[derive(Debug)]
pub(crate) struct RareExport<P, R> {
    func: Func,
    signature: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for RareExport<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P, R> Copy for RareExport<P, R> {}

impl<P: WasmParams, R: WasmResults> RareExport<P, R> {
    /// Keeps `func`, whose signature the loader checked.
    pub(crate) fn new(func: Func) -> Self {
        RareExport {
            func,
            signature: PhantomData,
        }
    }

    /// The typed function, for one call.
    pub(crate) fn typed(self, store: &Store<StoreData>) -> wasmtime::Result<TypedFunc<P, R>> {
        self.func.typed(store)
    }
}
