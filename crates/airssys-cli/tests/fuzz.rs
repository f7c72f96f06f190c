//! Fuzzing on stable Rust: `inspect` on mutated, truncated and
//! arbitrary modules; the manifest parser on arbitrary text and arbitrary
//! structured TOML. None may panic or hang.
//!
//! Cases per test: `AIRSSYS_FUZZ_CASES`, else `PROPTEST_CASES`, else 256.

use airssys_cli::inspect::inspect;
use airssys_cli::manifest::Manifest;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = ["AIRSSYS_FUZZ_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const GUEST: &str = include_str!("../../../examples/orders/audit.wat");

/// A TOML value over the manifest's own vocabulary, so generated documents
/// get past the key checks into the validator.
fn toml_value() -> impl Strategy<Value = toml::Value> {
    let key = prop_oneof![
        Just("host"),
        Just("group"),
        Just("component"),
        Just("drive"),
        Just("name"),
        Just("path"),
        Just("instances"),
        Just("group"),
        Just("parent"),
        Just("mailbox"),
        Just("limits"),
        Just("max_memory"),
        Just("execution_timeout"),
        Just("fuel_per_call"),
        Just("max_message_bytes"),
        Just("max_request_timeout"),
        Just("max_components"),
        Just("dead_letter_subject"),
        Just("metrics_addr"),
        Just("shutdown_timeout"),
        Just("intensity"),
        Just("max_restarts"),
        Just("within"),
        Just("backoff"),
        Just("initial"),
        Just("max"),
        Just("multiplier"),
        Just("jitter"),
        Just("strategy"),
        Just("config"),
        Just("subscribe"),
        Just("send"),
        Just("publish"),
        Just("request"),
        Just("restart"),
        Just("health"),
        Just("interval"),
        Just("timeout"),
        Just("threshold"),
        Just("stop_timeout"),
        Just("every"),
        Just("payload"),
        Just("payloads"),
        Just("count"),
    ]
    .prop_map(String::from);
    let leaf = prop_oneof![
        any::<i64>().prop_map(toml::Value::Integer),
        (0i64..5000).prop_map(toml::Value::Integer),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(toml::Value::Float),
        any::<bool>().prop_map(toml::Value::Boolean),
        prop_oneof![
            Just("5s"),
            Just("0s"),
            Just("1MiB"),
            Just("0"),
            Just("a.wat"),
            Just("one_for_all"),
            Just("permanent"),
            Just("orders.*"),
            Just("orders.>"),
            Just(">"),
            Just(""),
            Just("18446744073709551616s"),
            Just("-1ms"),
            Just("1e400"),
        ]
        .prop_map(|s| toml::Value::String(s.into())),
        ".{0,24}".prop_map(toml::Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

fn parse(text: &str) {
    let dir = std::env::temp_dir();
    let _ = Manifest::parse(&dir.join("fuzz-airssys.toml"), text);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn inspect_survives_mutated_and_truncated_modules(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        static BINARY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let mut bytes = BINARY.get_or_init(|| wat::parse_str(GUEST).unwrap()).clone();
        for (at, b) in flips {
            let len = bytes.len();
            bytes[at % len] ^= b;
        }
        let _ = inspect(&bytes);
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = inspect(&bytes);
    }

    #[test]
    fn inspect_survives_arbitrary_bytes_and_text(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        text in ".{0,256}",
    ) {
        let _ = inspect(&bytes);
        let mut preamble = b"\0asm\x01\0\0\0".to_vec();
        preamble.extend_from_slice(&bytes);
        let _ = inspect(&preamble);
        let _ = inspect(text.as_bytes());
    }

    #[test]
    fn the_manifest_parser_survives_arbitrary_text(text in ".{0,512}") {
        parse(&text);
    }

    #[test]
    fn the_manifest_parser_survives_arbitrary_structured_toml(
        document in proptest::collection::btree_map(
            prop_oneof![Just("host".to_string()), Just("group".to_string()),
                        Just("component".to_string()), Just("drive".to_string())],
            toml_value(),
            0..4,
        )
    ) {
        let table: toml::Table = document.into_iter().collect();
        if let Ok(text) = toml::to_string(&table) {
            parse(&text);
        }
    }
}

#[test]
fn the_structured_generator_reaches_the_validator() {
    // A sanity check that the vocabulary is right: a valid manifest written
    // with it parses.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.wat"), GUEST).unwrap();
    let text = "[[component]]\nname = \"a\"\npath = \"a.wat\"\n";
    Manifest::parse(&dir.path().join("airssys.toml"), text).unwrap();
}
