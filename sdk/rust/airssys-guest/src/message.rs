//! One message as the host delivers it to `handle-message`: the 24-byte
//! header of `docs/core-abi.md` ("Delivering a message"), then the sender,
//! subject and payload bytes.

use std::fmt;
use std::str;

/// Size of the fixed message header, in bytes.
pub const HEADER_LEN: usize = 24;
/// Header flag: the message carries a correlation id (it is a request).
pub const FLAG_CORRELATION: u32 = 1;

/// A message borrowed from the host's message buffer: valid only during the
/// `handle` call that received it (the host overwrites the buffer with the
/// next message). Copy what must outlive the call.
///
/// Parsing costs no allocation: every field points into the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    sender: Option<&'a str>,
    subject: Option<&'a str>,
    correlation_id: Option<u64>,
    payload: &'a [u8],
}

/// Why [`Message::parse`] refused a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// Shorter than the header, or than the lengths the header states.
    Truncated {
        /// Bytes the header says the message needs.
        needed: usize,
        /// Bytes there are.
        len: usize,
    },
    /// The sender or the subject is not UTF-8.
    NotUtf8,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MessageError::Truncated { needed, len } => {
                write!(f, "message truncated: {len} bytes, {needed} needed")
            }
            MessageError::NotUtf8 => f.write_str("sender or subject is not UTF-8"),
        }
    }
}

impl std::error::Error for MessageError {}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut le = [0u8; 4];
    le.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(le)
}

impl<'a> Message<'a> {
    /// Parses a message in the core-ABI layout (little-endian):
    ///
    /// ```text
    /// 0  u32 flags           bit 0: correlation id present (a request)
    /// 4  u32 sender_len      0 when there is no sender
    /// 8  u32 subject_len     0 unless the message came from a topic
    /// 12 u32 payload_len
    /// 16 u64 correlation_id  0 when absent
    /// 24 sender, subject, payload bytes
    /// ```
    ///
    /// # Errors
    /// [`MessageError::Truncated`] if `bytes` is shorter than the header or
    /// than the lengths it states; [`MessageError::NotUtf8`] if the sender
    /// or the subject is not UTF-8. The host never delivers either.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, MessageError> {
        if bytes.len() < HEADER_LEN {
            return Err(MessageError::Truncated {
                needed: HEADER_LEN,
                len: bytes.len(),
            });
        }
        let flags = u32_at(bytes, 0);
        let sender_len = u32_at(bytes, 4) as usize;
        let subject_len = u32_at(bytes, 8) as usize;
        let payload_len = u32_at(bytes, 12) as usize;
        let needed = HEADER_LEN
            .checked_add(sender_len)
            .and_then(|n| n.checked_add(subject_len))
            .and_then(|n| n.checked_add(payload_len))
            .unwrap_or(usize::MAX);
        if bytes.len() < needed {
            return Err(MessageError::Truncated {
                needed,
                len: bytes.len(),
            });
        }
        let mut le = [0u8; 8];
        le.copy_from_slice(&bytes[16..24]);
        let correlation = u64::from_le_bytes(le);
        let (sender, rest) = bytes[HEADER_LEN..needed].split_at(sender_len);
        let (subject, payload) = rest.split_at(subject_len);
        let text = |b: &'a [u8]| -> Result<Option<&'a str>, MessageError> {
            if b.is_empty() {
                Ok(None)
            } else {
                str::from_utf8(b)
                    .map(Some)
                    .map_err(|_| MessageError::NotUtf8)
            }
        };
        Ok(Message {
            sender: text(sender)?,
            subject: text(subject)?,
            correlation_id: if flags & FLAG_CORRELATION != 0 {
                Some(correlation)
            } else {
                None
            },
            payload,
        })
    }

    /// The sending component's id; `None` when the host itself sent it (a
    /// `[[drive]]`, `airssys ctl`, a test).
    pub fn sender(&self) -> Option<&'a str> {
        self.sender
    }

    /// The subject it was published on; `None` for a direct send or
    /// request.
    pub fn subject(&self) -> Option<&'a str> {
        self.subject
    }

    /// The correlation id of a request; `None` for a send or a topic
    /// message.
    pub fn correlation_id(&self) -> Option<u64> {
        self.correlation_id
    }

    /// `true` if the sender waits for a reply (a correlation id is present).
    pub fn is_request(&self) -> bool {
        self.correlation_id.is_some()
    }

    /// The payload bytes.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The payload as UTF-8 text, or `None` if it is not UTF-8.
    pub fn payload_str(&self) -> Option<&'a str> {
        str::from_utf8(self.payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(flags: u32, sender: &str, subject: &str, payload: &[u8], id: u64) -> Vec<u8> {
        let mut b = Vec::new();
        for n in [
            flags,
            sender.len() as u32,
            subject.len() as u32,
            payload.len() as u32,
        ] {
            b.extend_from_slice(&n.to_le_bytes());
        }
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(sender.as_bytes());
        b.extend_from_slice(subject.as_bytes());
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn a_request_from_a_component_gives_every_field() {
        let bytes = encode(1, "aggregator", "", b"21.5C", 7);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.sender(), Some("aggregator"));
        assert_eq!(m.subject(), None);
        assert_eq!(m.correlation_id(), Some(7));
        assert!(m.is_request());
        assert_eq!(m.payload_str(), Some("21.5C"));
    }

    #[test]
    fn a_topic_message_has_a_subject_and_no_correlation_id() {
        let bytes = encode(0, "", "readings.kitchen", b"x", 0);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(
            (m.sender(), m.subject(), m.correlation_id(), m.payload()),
            (None, Some("readings.kitchen"), None, &b"x"[..])
        );
    }

    #[test]
    fn a_buffer_shorter_than_its_header_states_is_refused() {
        let bytes = encode(0, "a", "b", b"payload", 0);
        assert_eq!(
            Message::parse(&bytes[..bytes.len() - 1]),
            Err(MessageError::Truncated {
                needed: bytes.len(),
                len: bytes.len() - 1
            })
        );
        assert_eq!(
            Message::parse(&bytes[..10]),
            Err(MessageError::Truncated {
                needed: 24,
                len: 10
            })
        );
    }

    #[test]
    fn a_sender_that_is_not_utf8_is_refused() {
        let mut bytes = encode(0, "ab", "", b"", 0);
        bytes[HEADER_LEN] = 0xff;
        assert_eq!(Message::parse(&bytes), Err(MessageError::NotUtf8));
    }
}
