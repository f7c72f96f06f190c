//! Multicodec payloads: a payload may start with a varint prefix saying how
//! its body is encoded (the host's `airssys_wasm::codec`; `airssys ctl
//! --encode json|cbor`; the Python and JavaScript SDK helpers):
//!
//! | codec | code     | prefix bytes |
//! |-------|----------|--------------|
//! | JSON  | `0x0200` | `80 04`      |
//! | CBOR  | `0x51`   | `51`         |
//!
//! The SDK has no dependencies (it builds with Debian's rustc 1.63), so it
//! does not serialise values: write the JSON text or CBOR bytes with the
//! crate you use (or by hand), and let these helpers add and check the
//! prefix. A small CBOR writer for the common cases is included.
//!
//! ```
//! use airssys_guest::payload::{self, Codec};
//!
//! let out = payload::json(br#"{"room":"porch"}"#);
//! assert_eq!(&out[..2], &[0x80, 0x04]);
//! assert_eq!(payload::split(&out), Some((Codec::Json, &br#"{"room":"porch"}"#[..])));
//! assert_eq!(payload::split(b"plain text"), None);
//! ```

/// A codec a payload's prefix can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// JSON, multicodec `0x0200`.
    Json,
    /// CBOR, multicodec `0x51`.
    Cbor,
}

/// The prefix of a multicodec JSON payload.
pub const JSON_PREFIX: [u8; 2] = [0x80, 0x04];
/// The prefix of a multicodec CBOR payload.
pub const CBOR_PREFIX: [u8; 1] = [0x51];

/// `body` (JSON text) with the JSON prefix.
pub fn json(body: &[u8]) -> Vec<u8> {
    prefixed(&JSON_PREFIX, body)
}

/// `body` (CBOR bytes) with the CBOR prefix.
pub fn cbor(body: &[u8]) -> Vec<u8> {
    prefixed(&CBOR_PREFIX, body)
}

fn prefixed(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + body.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(body);
    out
}

/// The codec a payload's prefix names and the body after it; `None` for a
/// payload without a JSON or CBOR prefix (plain text or bytes).
pub fn split(payload: &[u8]) -> Option<(Codec, &[u8])> {
    if payload.starts_with(&JSON_PREFIX) {
        Some((Codec::Json, &payload[JSON_PREFIX.len()..]))
    } else if payload.starts_with(&CBOR_PREFIX) {
        Some((Codec::Cbor, &payload[CBOR_PREFIX.len()..]))
    } else {
        None
    }
}

/// Writes CBOR (RFC 8949) items into a buffer: integers, text, bytes,
/// booleans, null, floats and the heads of arrays and maps (whose items
/// follow). [`CborWriter::finish`] returns the payload with its prefix.
///
/// ```
/// use airssys_guest::payload::CborWriter;
///
/// let mut w = CborWriter::new();
/// w.map(2).text("room").text("porch").text("n").int(5);
/// assert_eq!(w.finish(), [0x51, 0xa2, 0x64, b'r', b'o', b'o', b'm',
///     0x65, b'p', b'o', b'r', b'c', b'h', 0x61, b'n', 0x05]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct CborWriter {
    out: Vec<u8>,
}

impl CborWriter {
    /// An empty writer.
    pub fn new() -> Self {
        CborWriter::default()
    }

    fn head(&mut self, major: u8, n: u64) -> &mut Self {
        let m = major << 5;
        if n < 24 {
            self.out.push(m | n as u8);
        } else if n <= u64::from(u8::MAX) {
            self.out.extend_from_slice(&[m | 24, n as u8]);
        } else if n <= u64::from(u16::MAX) {
            self.out.push(m | 25);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= u64::from(u32::MAX) {
            self.out.push(m | 26);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.out.push(m | 27);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
        self
    }

    /// An integer.
    pub fn int(&mut self, v: i64) -> &mut Self {
        if v >= 0 {
            self.head(0, v as u64)
        } else {
            self.head(1, (-1 - v) as u64)
        }
    }

    /// A text string.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.head(3, s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
        self
    }

    /// A byte string.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(2, b.len() as u64);
        self.out.extend_from_slice(b);
        self
    }

    /// A boolean.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.out.push(if v { 0xf5 } else { 0xf4 });
        self
    }

    /// Null.
    pub fn null(&mut self) -> &mut Self {
        self.out.push(0xf6);
        self
    }

    /// A 64-bit float.
    pub fn float(&mut self, v: f64) -> &mut Self {
        self.out.push(0xfb);
        self.out.extend_from_slice(&v.to_bits().to_be_bytes());
        self
    }

    /// The head of an array of `len` items (write them next).
    pub fn array(&mut self, len: usize) -> &mut Self {
        self.head(4, len as u64)
    }

    /// The head of a map of `len` pairs (write key, value, key, ... next).
    pub fn map(&mut self, len: usize) -> &mut Self {
        self.head(5, len as u64)
    }

    /// The payload: the CBOR prefix and what was written.
    pub fn finish(&self) -> Vec<u8> {
        cbor(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_writes_the_rfc_8949_vectors() {
        let cases: [(fn(&mut CborWriter), &[u8]); 9] = [
            (|w| { w.int(0); }, &[0x00]),
            (|w| { w.int(24); }, &[0x18, 0x18]),
            (|w| { w.int(1000); }, &[0x19, 0x03, 0xe8]),
            (|w| { w.int(1_000_000); }, &[0x1a, 0x00, 0x0f, 0x42, 0x40]),
            (|w| { w.int(-1000); }, &[0x39, 0x03, 0xe7]),
            (|w| { w.float(1.1); }, &[0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]),
            (|w| { w.text("IETF"); }, &[0x64, 0x49, 0x45, 0x54, 0x46]),
            (|w| { w.array(2).int(1).bool(true); }, &[0x82, 0x01, 0xf5]),
            (|w| { w.bytes(&[1, 2]).null(); }, &[0x42, 0x01, 0x02, 0xf6]),
        ];
        for (write, body) in cases.iter() {
            let mut w = CborWriter::new();
            write(&mut w);
            assert_eq!(w.finish(), cbor(body));
        }
    }

    #[test]
    fn split_recognises_the_prefixes_only() {
        assert_eq!(split(&cbor(&[0x01])), Some((Codec::Cbor, &[0x01][..])));
        assert_eq!(split(&json(b"1")), Some((Codec::Json, &b"1"[..])));
        assert_eq!(split(b""), None);
        assert_eq!(split(&[0x80]), None);
    }
}
