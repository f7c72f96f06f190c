//! Payload codecs: bytes with an optional [multicodec] prefix.
//!
//! A prefixed payload starts with the codec's code as an unsigned varint,
//! then the encoded value:
//!
//! | codec | multicodec code | prefix bytes | source |
//! |---|---|---|---|
//! | JSON  | `0x0200` | `80 04` | multicodec table (`json`) |
//! | CBOR  | `0x51`   | `51`    | multicodec table (`cbor`) |
//! | Borsh | `0x300001` | `81 80 c0 01` | private-use range (`0x300000..=0x3fffff`); borsh has no table entry |
//!
//! Guests are free to send raw bytes without a prefix; these helpers are for
//! the host side and for guests that opt in.
//!
//! ```
//! use airssys_wasm::codec::{self, Codec};
//!
//! let bytes = codec::encode_json(&vec![1, 2, 3]).unwrap();
//! assert_eq!(codec::detect(&bytes).unwrap().0, Codec::Json);
//! let back: Vec<i32> = codec::decode_json(&bytes).unwrap();
//! assert_eq!(back, [1, 2, 3]);
//! ```
//!
//! [multicodec]: https://github.com/multiformats/multicodec/blob/master/table.csv

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A payload codec with its multicodec code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// JSON (serde_json), code `0x0200`.
    Json,
    /// CBOR (ciborium), code `0x51`.
    Cbor,
    /// Borsh, private-use code `0x300001`.
    Borsh,
}

/// Multicodec code of JSON.
pub const JSON_CODE: u64 = 0x0200;
/// Multicodec code of CBOR.
pub const CBOR_CODE: u64 = 0x51;
/// Code chosen for Borsh, in the multicodec private-use range.
pub const BORSH_CODE: u64 = 0x30_0001;

impl Codec {
    /// The multicodec code.
    pub const fn code(self) -> u64 {
        match self {
            Codec::Json => JSON_CODE,
            Codec::Cbor => CBOR_CODE,
            Codec::Borsh => BORSH_CODE,
        }
    }

    /// The codec of a code, if known.
    pub const fn from_code(code: u64) -> Option<Codec> {
        match code {
            JSON_CODE => Some(Codec::Json),
            CBOR_CODE => Some(Codec::Cbor),
            BORSH_CODE => Some(Codec::Borsh),
            _ => None,
        }
    }

    /// The varint prefix bytes.
    pub const fn prefix(self) -> &'static [u8] {
        match self {
            Codec::Json => &[0x80, 0x04],
            Codec::Cbor => &[0x51],
            Codec::Borsh => &[0x81, 0x80, 0xc0, 0x01],
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Codec::Json => "json",
            Codec::Cbor => "cbor",
            Codec::Borsh => "borsh",
        })
    }
}

/// A payload that cannot be encoded or decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The payload is empty or its varint prefix is cut short / over-long.
    #[error("malformed multicodec prefix")]
    MalformedPrefix,
    /// The prefix is a valid varint but not a codec this host knows.
    #[error("unknown multicodec prefix 0x{code:x}")]
    UnknownPrefix {
        /// The code found.
        code: u64,
    },
    /// The payload has another codec's prefix than the one asked for.
    #[error("expected a {expected} payload, found a {found} prefix")]
    Mismatch {
        /// The codec asked for.
        expected: Codec,
        /// The codec of the prefix.
        found: Codec,
    },
    /// The value could not be encoded.
    #[error("cannot encode as {codec}: {message}")]
    Encode {
        /// The codec.
        codec: Codec,
        /// The encoder's error.
        message: String,
    },
    /// The body could not be decoded.
    #[error("cannot decode {codec}: {message}")]
    Decode {
        /// The codec.
        codec: Codec,
        /// The decoder's error.
        message: String,
    },
}

/// Reads an unsigned varint (LEB128, at most 9 bytes as multiformats
/// specifies); returns the value and the bytes consumed.
pub fn read_uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // Minimal encoding only: no trailing zero continuation byte.
            if i > 0 && b == 0 {
                return None;
            }
            return Some((value, i + 1));
        }
    }
    None
}

/// Splits a prefixed payload into its codec and body.
///
/// # Errors
/// [`CodecError::MalformedPrefix`], [`CodecError::UnknownPrefix`].
pub fn detect(bytes: &[u8]) -> Result<(Codec, &[u8]), CodecError> {
    let (code, n) = read_uvarint(bytes).ok_or(CodecError::MalformedPrefix)?;
    let codec = Codec::from_code(code).ok_or(CodecError::UnknownPrefix { code })?;
    Ok((codec, &bytes[n..]))
}

fn body(expected: Codec, bytes: &[u8]) -> Result<&[u8], CodecError> {
    match detect(bytes)? {
        (found, body) if found == expected => Ok(body),
        (found, _) => Err(CodecError::Mismatch { expected, found }),
    }
}

fn prefixed(codec: Codec) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(codec.prefix());
    out
}

/// Encodes `value` as prefixed JSON.
///
/// # Errors
/// [`CodecError::Encode`].
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = prefixed(Codec::Json);
    serde_json::to_writer(&mut out, value).map_err(|e| CodecError::Encode {
        codec: Codec::Json,
        message: e.to_string(),
    })?;
    Ok(out)
}

/// Decodes a prefixed JSON payload.
///
/// # Errors
/// Prefix errors, [`CodecError::Mismatch`], [`CodecError::Decode`].
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    serde_json::from_slice(body(Codec::Json, bytes)?).map_err(|e| CodecError::Decode {
        codec: Codec::Json,
        message: e.to_string(),
    })
}

/// Encodes `value` as prefixed CBOR.
///
/// # Errors
/// [`CodecError::Encode`].
pub fn encode_cbor<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = prefixed(Codec::Cbor);
    ciborium::into_writer(value, &mut out).map_err(|e| CodecError::Encode {
        codec: Codec::Cbor,
        message: e.to_string(),
    })?;
    Ok(out)
}

/// Decodes a prefixed CBOR payload.
///
/// # Errors
/// Prefix errors, [`CodecError::Mismatch`], [`CodecError::Decode`].
pub fn decode_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    ciborium::from_reader(body(Codec::Cbor, bytes)?).map_err(|e| CodecError::Decode {
        codec: Codec::Cbor,
        message: e.to_string(),
    })
}

/// Encodes `value` as prefixed Borsh.
///
/// # Errors
/// [`CodecError::Encode`].
pub fn encode_borsh<T: borsh::BorshSerialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = prefixed(Codec::Borsh);
    value.serialize(&mut out).map_err(|e| CodecError::Encode {
        codec: Codec::Borsh,
        message: e.to_string(),
    })?;
    Ok(out)
}

/// Decodes a prefixed Borsh payload (the whole body must be consumed).
///
/// # Errors
/// Prefix errors, [`CodecError::Mismatch`], [`CodecError::Decode`].
pub fn decode_borsh<T: borsh::BorshDeserialize>(bytes: &[u8]) -> Result<T, CodecError> {
    borsh::from_slice(body(Codec::Borsh, bytes)?).map_err(|e| CodecError::Decode {
        codec: Codec::Borsh,
        message: e.to_string(),
    })
}

/// A payload as an operator should read it in a log, a report or a
/// terminal, at most `max_chars` characters (then `…`):
/// - multicodec JSON: `json {"room":"kitchen"}`;
/// - multicodec CBOR: `cbor ` and the value written as JSON;
/// - other UTF-8 text: quoted and escaped, `"kitchen 31.5"`;
/// - anything else: `hex 01 02 …`.
///
/// A payload whose prefix names a codec but whose body does not decode is
/// shown as text or hex: the prefix may be a coincidence (`Q` is CBOR's).
///
/// ```
/// use airssys_wasm::codec;
///
/// let json = codec::encode_json(&[1, 2]).unwrap();
/// assert_eq!(codec::display(&json, 80), "json [1,2]");
/// assert_eq!(codec::display(b"kitchen 31.5", 80), "\"kitchen 31.5\"");
/// assert_eq!(codec::display(&[0xff, 0x00], 80), "hex ff 00");
/// ```
pub fn display(bytes: &[u8], max_chars: usize) -> String {
    let shown = decoded_display(bytes)
        .or_else(|| {
            std::str::from_utf8(bytes)
                .ok()
                .filter(|t| !t.chars().any(|c| c.is_control() && c != '\n' && c != '\t'))
                .map(|t| format!("{t:?}"))
        })
        .unwrap_or_else(|| {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("hex {}", hex.join(" "))
        });
    match shown.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &shown[..cut]),
        None => shown,
    }
}

/// A multicodec payload decoded for people (`json {...}`, `cbor {...}`,
/// `borsh (N bytes)`), or `None` when it has no known prefix or its body
/// does not decode: then it is text or bytes, and [`display`] says which.
pub fn decoded_display(bytes: &[u8]) -> Option<String> {
    match detect(bytes).ok()? {
        (Codec::Json, body) => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .map(|v| format!("json {v}")),
        (Codec::Cbor, body) => {
            let mut rest = body;
            let value: ciborium::Value = ciborium::from_reader(&mut rest).ok()?;
            if !rest.is_empty() {
                return None;
            }
            serde_json::to_string(&value)
                .ok()
                .map(|v| format!("cbor {v}"))
        }
        (Codec::Borsh, body) => Some(format!("borsh ({} bytes)", body.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_decodes_what_the_prefix_names_and_falls_back_to_text_or_hex() {
        let cbor = encode_cbor(&serde_json::json!({"room": "porch", "n": 5})).unwrap();
        assert_eq!(display(&cbor, 80), r#"cbor {"n":5,"room":"porch"}"#);
        // "Q" is CBOR's prefix, but "Queue" is text.
        assert_eq!(display(b"Queue", 80), r#""Queue""#);
        assert_eq!(display(b"a\x01", 80), "hex 61 01");
        assert_eq!(display(b"abcdef", 3), "\"ab…");
        assert_eq!(display(&[0x80, 0x04, b'{'], 80), "hex 80 04 7b");
    }

    #[test]
    fn prefixes_are_the_varints_of_the_codes() {
        for codec in [Codec::Json, Codec::Cbor, Codec::Borsh] {
            assert_eq!(
                read_uvarint(codec.prefix()),
                Some((codec.code(), codec.prefix().len()))
            );
        }
    }
}
