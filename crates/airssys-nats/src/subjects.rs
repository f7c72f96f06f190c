//! Subjects on the wire: an application's prefix before every airssys
//! subject but reply inboxes, and off again on receive.

/// Reply inboxes: never prefixed.
pub(crate) const INBOX: &str = "_INBOX.";

/// The wire subject of an airssys `subject`: `<prefix>.<subject>`, or the
/// subject itself for a reply inbox.
pub(crate) fn wire(prefix: &str, subject: &str) -> String {
    if subject.starts_with(INBOX) {
        subject.to_owned()
    } else {
        let mut s = String::with_capacity(prefix.len() + 1 + subject.len());
        s.push_str(prefix);
        s.push('.');
        s.push_str(subject);
        s
    }
}

/// The airssys subject of a wire subject: the prefix stripped.
pub(crate) fn local<'a>(prefix: &str, wire: &'a str) -> &'a str {
    wire.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_prefixed_except_inboxes() {
        assert_eq!(wire("app", "orders.new"), "app.orders.new");
        assert_eq!(wire("app", "_INBOX.abc"), "_INBOX.abc");
        assert_eq!(local("app", "app.orders.new"), "orders.new");
        assert_eq!(local("app", "_INBOX.abc"), "_INBOX.abc");
        assert_eq!(local("app", "apple.x"), "apple.x");
    }
}
