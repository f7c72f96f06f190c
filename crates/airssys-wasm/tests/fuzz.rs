//! Fuzzing on stable Rust: property tests that feed the loader (mutated,
//! truncated and arbitrary modules), the codec and the host-import decoding
//! arbitrary input. None may panic or hang. (wasm-smith generated modules are
//! not wired in yet: see docs/reliability.md.)
//!
//! Cases per test: `AIRSSYS_FUZZ_CASES`, else `PROPTEST_CASES`, else 256.
//! A long run: `AIRSSYS_FUZZ_CASES=1000000 cargo test --release -p
//! airssys-wasm --test fuzz` (figures in `docs/reliability.md`).

mod common;

use std::sync::{Arc, OnceLock};

use airssys_wasm::codec;
use airssys_wasm::{
    detect_form, ComponentId, ComponentLimits, EngineConfig, GuestInstance, GuestMessage,
    Permissions, WasmEngine,
};
use common::{fixture_binary, spawn_with, FakeHost};
use proptest::prelude::*;

fn cases() -> u32 {
    ["AIRSSYS_FUZZ_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // Failures are reported with their input; no regression files.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn engine() -> &'static WasmEngine {
    static ENGINE: OnceLock<WasmEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        WasmEngine::new(EngineConfig::default().max_components(4).pooling(false)).unwrap()
    })
}

/// Loads `bytes`; any outcome but a panic is fine, and an error names the
/// component.
fn load(bytes: &[u8]) {
    let id = ComponentId::new("fuzzed");
    let _ = detect_form(bytes);
    if let Err(error) = engine().load(&id, bytes) {
        assert_eq!(error.component(), Some(&id), "{error}");
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(i, b) if !bytes.is_empty() => bytes[i % len] ^= b | 1,
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Remove(i) if !bytes.is_empty() => {
                bytes.remove(i % len);
            }
            Mutation::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
            _ => {}
        }
    }
    bytes
}

fn seeds() -> Vec<Vec<u8>> {
    ["echo", "counter", "requester", "inspect", "configured"]
        .iter()
        .map(|name| fixture_binary(name))
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_loader_survives_mutated_and_truncated_modules(
        which in 0usize..5,
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        let seeds = SEEDS.get_or_init(seeds);
        load(&mutate(seeds[which].clone(), &mutations));
    }

    #[test]
    fn the_loader_survives_arbitrary_bytes_and_text(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        text in ".{0,256}",
    ) {
        load(&bytes);
        let mut preamble = b"\0asm\x01\0\0\0".to_vec();
        preamble.extend_from_slice(&bytes);
        load(&preamble);
        load(text.as_bytes());
        load(format!("(module {text})").as_bytes());
    }

    #[test]
    fn the_codec_decoders_survive_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::read_uvarint(&bytes);
        let _ = codec::detect(&bytes);
        let _ = codec::decode_json::<serde_json::Value>(&bytes);
        let _ = codec::decode_cbor::<serde_json::Value>(&bytes);
        let _ = codec::decode_borsh::<Vec<String>>(&bytes);
        let _ = codec::decode_borsh::<(u64, Option<String>, Vec<u8>)>(&bytes);
    }
}

/// Arguments biased towards the interesting: in-bounds pointers, lengths
/// around the page size, negative and extreme values.
fn argument() -> impl Strategy<Value = i32> {
    prop_oneof![
        any::<i32>(),
        0i32..70_000,
        prop_oneof![
            Just(0),
            Just(-1),
            Just(i32::MAX),
            Just(i32::MIN),
            Just(65_536),
            Just(65_535)
        ],
    ]
}

fn abi_guest(runtime: &tokio::runtime::Runtime) -> GuestInstance {
    runtime.block_on(async {
        let host = FakeHost::new();
        spawn_with(
            engine(),
            "abi_fuzz",
            "abi-fuzz",
            host as Arc<dyn airssys_wasm::HostServices>,
            ComponentLimits::default().max_message_bytes(4096),
            Permissions::allow_all(),
        )
        .await
    })
}

#[test]
fn host_imports_survive_arbitrary_pointers_and_lengths() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let guest = std::cell::RefCell::new(abi_guest(&runtime));
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(
            &(0u32..7, proptest::collection::vec(argument(), 7)),
            |(op, args)| {
                let mut payload = op.to_le_bytes().to_vec();
                for a in &args {
                    payload.extend_from_slice(&a.to_le_bytes());
                }
                let reply = runtime
                    .block_on(
                        guest
                            .borrow_mut()
                            .handle_message(&GuestMessage::new(payload)),
                    )
                    .map_err(|e| TestCaseError::fail(format!("op {op} {args:?}: {e}")))?;
                // The guest's own `reply` op may have taken the slot first.
                prop_assert!(reply.is_some());
                Ok(())
            },
        )
        .unwrap();
}
