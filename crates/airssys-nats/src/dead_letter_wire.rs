//! Dead letters on the wire: the `Airssys-Dead-Letter*` headers carry the
//! reason's stable label, what it carries, its target and the original
//! subject, and are read back by label.

use airssys_rt::broker::{DeadLetterReason, Undelivered};
use async_nats::HeaderMap;

use crate::codec::headers;

/// Writes a dead letter's headers: its reason's stable label, what the
/// reason carries (one line), its target and the original subject.
pub(crate) fn put_dead_letter(headers: &mut HeaderMap, original: &str, undelivered: &Undelivered) {
    headers.insert(headers::DEAD_LETTER, undelivered.reason.label());
    headers.insert(headers::DEAD_LETTER_SUBJECT, original);
    headers.insert(headers::DEAD_LETTER_TARGET, &*undelivered.target);
    if let Some(detail) = undelivered.reason.detail() {
        // Header values are one line.
        headers.insert(
            headers::DEAD_LETTER_DETAIL,
            detail.replace(['\r', '\n'], " "),
        );
    }
}

/// Reads the dead-letter headers back into the target and reason (by the
/// reason's stable label) and the original subject. A label this version
/// does not know (a newer host's) is read as a handler failure, the label
/// kept in its text.
pub(crate) fn dead_letter_of(headers: &HeaderMap) -> Option<(Undelivered, Option<String>)> {
    let label = headers.get(headers::DEAD_LETTER)?.as_str();
    let get = |name| {
        headers
            .get(name)
            .map(|v: &async_nats::HeaderValue| v.as_str().to_owned())
    };
    let detail = get(headers::DEAD_LETTER_DETAIL);
    let reason = DeadLetterReason::from_label(label, detail.as_deref()).unwrap_or_else(|| {
        DeadLetterReason::HandlerFailed(format!("{label}: {}", detail.unwrap_or_default()))
    });
    let target = get(headers::DEAD_LETTER_TARGET).unwrap_or_default();
    Some((
        Undelivered::new(target, reason),
        get(headers::DEAD_LETTER_SUBJECT),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_headers_round_trip() {
        let undelivered = Undelivered::new(
            "pricing",
            DeadLetterReason::HandlerFailed("trapped\nsecond line".into()),
        );
        let mut headers = HeaderMap::new();
        put_dead_letter(&mut headers, "orders.new.eu", &undelivered);
        assert_eq!(
            headers
                .get(crate::codec::headers::DEAD_LETTER)
                .map(|v| v.as_str()),
            Some("handler_failed"),
            "the wire carries the reason's label"
        );
        let (back, original) = dead_letter_of(&headers).unwrap();
        assert_eq!(original.as_deref(), Some("orders.new.eu"));
        assert_eq!(
            back,
            Undelivered::new(
                "pricing",
                DeadLetterReason::HandlerFailed("trapped second line".into())
            )
        );
        let full = Undelivered::new("jobs.*", DeadLetterReason::SubscriberFull { capacity: 8 });
        let mut headers = HeaderMap::new();
        put_dead_letter(&mut headers, "jobs.a", &full);
        assert_eq!(dead_letter_of(&headers).unwrap().0, full);
    }
}
