//! Payload codecs: multicodec prefixes, round trips, prefix errors.

use airssys_wasm::codec::{self, Codec, CodecError};
use proptest::prelude::*;

#[derive(
    Debug,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
)]
struct Order {
    id: u64,
    item: String,
    qty: u32,
    tags: Vec<String>,
}

fn order() -> Order {
    Order {
        id: 7,
        item: "widget".into(),
        qty: 3,
        tags: vec!["eu".into()],
    }
}

#[test]
fn json_round_trip_carries_the_table_prefix() {
    let bytes = codec::encode_json(&order()).unwrap();
    assert_eq!(&bytes[..2], &[0x80, 0x04]);
    assert_eq!(codec::detect(&bytes).unwrap().0, Codec::Json);
    assert_eq!(codec::decode_json::<Order>(&bytes).unwrap(), order());
}

#[test]
fn cbor_round_trip_carries_the_table_prefix() {
    let bytes = codec::encode_cbor(&order()).unwrap();
    assert_eq!(bytes[0], 0x51);
    assert_eq!(codec::decode_cbor::<Order>(&bytes).unwrap(), order());
}

#[test]
fn borsh_round_trip_carries_the_private_use_prefix() {
    let bytes = codec::encode_borsh(&order()).unwrap();
    assert_eq!(&bytes[..4], Codec::Borsh.prefix());
    assert_eq!(codec::read_uvarint(&bytes).unwrap().0, 0x30_0001);
    assert_eq!(codec::decode_borsh::<Order>(&bytes).unwrap(), order());
}

#[test]
fn mismatched_prefix_is_rejected() {
    let bytes = codec::encode_cbor(&order()).unwrap();
    assert_eq!(
        codec::decode_json::<Order>(&bytes),
        Err(CodecError::Mismatch {
            expected: Codec::Json,
            found: Codec::Cbor
        })
    );
}

#[test]
fn unknown_and_malformed_prefixes_are_rejected() {
    // 0x55 is "raw" in the multicodec table: valid varint, unknown here.
    assert_eq!(
        codec::detect(&[0x55, 1, 2]),
        Err(CodecError::UnknownPrefix { code: 0x55 })
    );
    assert_eq!(codec::detect(&[]), Err(CodecError::MalformedPrefix));
    assert_eq!(codec::detect(&[0x80]), Err(CodecError::MalformedPrefix));
    assert_eq!(
        codec::detect(&[0x80, 0x00]),
        Err(CodecError::MalformedPrefix),
        "non-minimal"
    );
}

#[test]
fn corrupt_body_is_a_decode_error() {
    let mut bytes = codec::encode_json(&order()).unwrap();
    bytes.truncate(bytes.len() - 3);
    assert!(matches!(
        codec::decode_json::<Order>(&bytes),
        Err(CodecError::Decode {
            codec: Codec::Json,
            ..
        })
    ));
    let mut bytes = codec::encode_borsh(&order()).unwrap();
    bytes.push(0);
    assert!(matches!(
        codec::decode_borsh::<Order>(&bytes),
        Err(CodecError::Decode {
            codec: Codec::Borsh,
            ..
        })
    ));
}

proptest! {
    #[test]
    fn every_codec_round_trips_any_value(id in any::<u64>(), item in ".{0,40}", qty in any::<u32>(), tags in prop::collection::vec("[a-z]{0,8}", 0..5)) {
        let value = Order { id, item, qty, tags };
        prop_assert_eq!(&codec::decode_json::<Order>(&codec::encode_json(&value).unwrap()).unwrap(), &value);
        prop_assert_eq!(&codec::decode_cbor::<Order>(&codec::encode_cbor(&value).unwrap()).unwrap(), &value);
        prop_assert_eq!(&codec::decode_borsh::<Order>(&codec::encode_borsh(&value).unwrap()).unwrap(), &value);
    }

    #[test]
    fn detect_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..16)) {
        let _ = codec::detect(&bytes);
    }
}
