//! [`Probe`]: a real component that stands in for another under its id and
//! reports every message it receives, so a test can see direct sends and
//! requests between components (which never pass the broker).

use airssys_wasm::{ComponentSpec, Permissions, SubjectPattern};
use bytes::Bytes;

use crate::record::Sent;

/// The subject probes report on.
pub(crate) const PROBE_SUBJECT: &str = "_testkit.probe";

/// The probe's core module (WAT), documented in the file.
pub(crate) const PROBE_WAT: &str = include_str!("probe.wat");

/// A stand-in component: spawned with
/// [`TestHost::spawn_probe`](crate::TestHost::spawn_probe) under the id of
/// the component it replaces, it records every message it receives (sender,
/// payload, request or not) for
/// [`expect_sent_to`](crate::TestHost::expect_sent_to), and answers with a
/// canned reply if it has one.
///
/// It is a real component (a small built-in WAT guest): messages reach it
/// through the host's registry and mailbox, allow-lists and size limits
/// apply to them as to any other. It reports by publishing on
/// `_testkit.probe`, so a component subscribed to `>` sees those reports too.
///
/// ```
/// use airssys_testkit::Probe;
/// let pricing = Probe::new("pricing").reply("priced:42");
/// # let _ = pricing;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Probe {
    id: String,
    reply: Option<String>,
    subscriptions: Vec<String>,
}

impl Probe {
    /// A probe standing in for component `id`; it does not reply.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            reply: None,
            subscriptions: Vec::new(),
        }
    }

    /// Answers every message with `reply` (a requester gets it back; a
    /// plain send ignores it). At most 64 KiB are sent.
    pub fn reply(mut self, reply: impl Into<String>) -> Self {
        self.reply = Some(reply.into());
        self
    }

    /// Also receives what is published on subjects matching `pattern`.
    pub fn subscribe(mut self, pattern: impl Into<String>) -> Self {
        self.subscriptions.push(pattern.into());
        self
    }

    /// The component id it stands in for.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The spec the probe is spawned with.
    pub fn into_spec(self) -> ComponentSpec {
        let mut permissions = Permissions::deny_all();
        // A literal subject is always a valid pattern.
        if let Ok(pattern) = SubjectPattern::new(PROBE_SUBJECT) {
            permissions = permissions.allow_subject(pattern);
        }
        let mut spec =
            ComponentSpec::new(self.id, PROBE_WAT.as_bytes().to_vec()).permissions(permissions);
        if let Some(reply) = self.reply {
            spec = spec.config("reply", reply);
        }
        for pattern in self.subscriptions {
            spec = spec.subscribe(pattern);
        }
        spec
    }
}

/// Decodes a probe's report (layout in `probe.wat`); `None` if malformed.
pub(crate) fn decode(record: &Bytes) -> Option<Sent> {
    let word = |at: usize| -> Option<usize> {
        let bytes = record.get(at..at + 4)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
    };
    let flags = word(0)?;
    let (sender_len, subject_len, self_len) = (word(4)?, word(8)?, word(12)?);
    let sender_at = 16;
    let subject_at = sender_at + sender_len;
    let self_at = subject_at + subject_len;
    let payload_at = self_at + self_len;
    let text = |from: usize, len: usize| -> Option<String> {
        String::from_utf8(record.get(from..from + len)?.to_vec()).ok()
    };
    if payload_at > record.len() {
        return None;
    }
    Some(Sent {
        to: text(self_at, self_len)?,
        from: (sender_len > 0)
            .then(|| text(sender_at, sender_len))
            .flatten(),
        subject: (subject_len > 0)
            .then(|| text(subject_at, subject_len))
            .flatten(),
        request: flags & 1 == 1,
        payload: record.slice(payload_at..),
    })
}
