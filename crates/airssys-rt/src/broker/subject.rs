//! Subjects and subscription patterns, with NATS syntax.
//!
//! A **subject** names where a message is published: dot-separated, non-empty
//! tokens without whitespace, e.g. `orders.eu.created`.
//!
//! A **pattern** names what a subscription receives. It is a subject in which
//! a whole token may be a wildcard:
//!
//! - `*` matches exactly one token: `orders.*.created` matches
//!   `orders.eu.created` but not `orders.created` or `orders.eu.x.created`;
//! - `>` matches one or more remaining tokens and may only be the last token:
//!   `orders.>` matches `orders.eu` and `orders.eu.created`, not `orders`.
//!
//! Wildcards are whole tokens only: `a*` or `>b` are rejected rather than
//! taken literally, so that a typo never silently subscribes to nothing.
//! Whitespace and control characters are rejected everywhere.
//!
//! These are the rules of NATS subjects, so the in-memory broker and a
//! NATS-backed broker mean the same thing by the same pattern.

use super::error::SubjectError;

/// The token separator.
pub const SEPARATOR: char = '.';
/// The single-token wildcard.
pub const SINGLE_WILDCARD: &str = "*";
/// The tail wildcard: one or more remaining tokens; only as the last token.
pub const FULL_WILDCARD: &str = ">";

/// Checks the characters and tokens common to subjects and patterns and
/// calls `on_wildcard(index, token, is_last)` for each wildcard token.
fn check(
    s: &str,
    mut on_wildcard: impl FnMut(usize, &str, bool) -> Result<(), SubjectError>,
) -> Result<(), SubjectError> {
    if s.is_empty() {
        return Err(SubjectError::Empty);
    }
    if let Some((byte, _)) = s
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        return Err(SubjectError::Whitespace { byte });
    }
    let count = s.split(SEPARATOR).count();
    for (index, token) in s.split(SEPARATOR).enumerate() {
        if token.is_empty() {
            return Err(SubjectError::EmptyToken { index });
        }
        if token == SINGLE_WILDCARD || token == FULL_WILDCARD {
            on_wildcard(index, token, index + 1 == count)?;
        } else if let Some(wildcard) = token.chars().find(|c| *c == '*' || *c == '>') {
            return Err(SubjectError::WildcardInsideToken { index, wildcard });
        }
    }
    Ok(())
}

/// Checks that `subject` is a valid literal subject (no wildcards), as
/// required to publish. O(len).
///
/// # Errors
///
/// The [`SubjectError`] saying what is wrong (empty, empty token, whitespace,
/// wildcard).
pub fn validate_subject(subject: &str) -> Result<(), SubjectError> {
    check(subject, |index, token, _| {
        Err(SubjectError::WildcardInSubject {
            index,
            wildcard: if token == SINGLE_WILDCARD { '*' } else { '>' },
        })
    })
}

/// Checks that `pattern` is a valid subscription pattern: a subject whose
/// tokens may be `*`, and whose last token may be `>`. O(len).
///
/// # Errors
///
/// The [`SubjectError`] saying what is wrong; a `>` before the last token is
/// [`SubjectError::FullWildcardNotLast`].
pub fn validate_pattern(pattern: &str) -> Result<(), SubjectError> {
    check(pattern, |index, token, is_last| {
        if token == FULL_WILDCARD && !is_last {
            Err(SubjectError::FullWildcardNotLast { index })
        } else {
            Ok(())
        }
    })
}

/// `true` if `pattern` contains no wildcard token, i.e. it matches exactly
/// one subject: itself. Assumes a valid pattern. O(len).
pub fn is_literal(pattern: &str) -> bool {
    !pattern
        .split(SEPARATOR)
        .any(|t| t == SINGLE_WILDCARD || t == FULL_WILDCARD)
}

/// `true` if the (valid) `pattern` matches the (valid) `subject`.
///
/// Walks both token by token: O(len), no allocation. The broker itself does
/// not call this per publish (it routes through a token trie and a match
/// cache); this is the reference meaning of a pattern, for callers that need
/// to test one pattern against one subject.
///
/// ```
/// use airssys_rt::broker::subject::matches;
/// assert!(matches("orders.*.created", "orders.eu.created"));
/// assert!(matches("orders.>", "orders.eu.created"));
/// assert!(!matches("orders.>", "orders"));
/// assert!(!matches("orders.*", "orders.eu.created"));
/// ```
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut pattern_tokens = pattern.split(SEPARATOR);
    let mut subject_tokens = subject.split(SEPARATOR);
    loop {
        match (pattern_tokens.next(), subject_tokens.next()) {
            (None, None) => return true,
            (Some(FULL_WILDCARD), Some(_)) => return true,
            (Some(SINGLE_WILDCARD), Some(_)) => {}
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

/// `true` if every subject the (valid) pattern `inner` matches is also
/// matched by the (valid) pattern `outer`: `inner` lies inside `outer`.
/// What an allow-list of patterns means for a pattern asked for (a
/// subscription within a grant). O(len), no allocation.
///
/// ```
/// use airssys_rt::broker::subject::covers;
/// assert!(covers("orders.>", "orders.*.created"));
/// assert!(covers("orders.*", "orders.eu"));
/// assert!(covers("orders.*", "orders.*"));
/// assert!(!covers("orders.*", "orders.>"));
/// assert!(!covers("orders.eu", "orders.*"));
/// assert!(!covers("*.>", ">"));
/// ```
pub fn covers(outer: &str, inner: &str) -> bool {
    let mut outer_tokens = outer.split(SEPARATOR);
    let mut inner_tokens = inner.split(SEPARATOR);
    loop {
        match (outer_tokens.next(), inner_tokens.next()) {
            (None, None) => return true,
            // `>` takes one or more tokens, whatever they are.
            (Some(FULL_WILDCARD), Some(_)) => return true,
            // Only `>` covers a tail of any length.
            (Some(_), Some(FULL_WILDCARD)) => return false,
            // `*` covers one token, literal or `*`.
            (Some(SINGLE_WILDCARD), Some(_)) => {}
            (Some(o), Some(i)) if o == i => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_reject_what_patterns_allow() {
        assert_eq!(validate_subject("a.b"), Ok(()));
        assert_eq!(
            validate_subject("a.*"),
            Err(SubjectError::WildcardInSubject {
                index: 1,
                wildcard: '*'
            })
        );
        assert_eq!(validate_pattern("a.*.>"), Ok(()));
        assert_eq!(
            validate_pattern("a.>.b"),
            Err(SubjectError::FullWildcardNotLast { index: 1 })
        );
        assert_eq!(
            validate_pattern("a..b"),
            Err(SubjectError::EmptyToken { index: 1 })
        );
        assert_eq!(
            validate_pattern("a b"),
            Err(SubjectError::Whitespace { byte: 1 })
        );
        assert_eq!(
            validate_pattern("ab*"),
            Err(SubjectError::WildcardInsideToken {
                index: 0,
                wildcard: '*'
            })
        );
    }

    /// `covers` against its definition, over every pattern of up to three
    /// tokens from `a`, `b`, `*`, `>` and every subject of up to four
    /// tokens from `a`, `b`, `c`: `outer` covers `inner` exactly when each
    /// subject `inner` matches is one `outer` matches.
    #[test]
    fn covering_is_inclusion_of_the_matched_subjects() {
        fn all(tokens: &[&str], max: usize) -> Vec<String> {
            let mut out: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
            let mut last = out.clone();
            for _ in 1..max {
                let next: Vec<String> = last
                    .iter()
                    .flat_map(|p| tokens.iter().map(move |t| format!("{p}.{t}")))
                    .collect();
                out.extend(next.iter().cloned());
                last = next;
            }
            out
        }
        let patterns: Vec<String> = all(&["a", "b", "*", ">"], 3)
            .into_iter()
            .filter(|p| validate_pattern(p).is_ok())
            .collect();
        let subjects = all(&["a", "b", "c"], 4);
        for outer in &patterns {
            for inner in &patterns {
                let included = subjects
                    .iter()
                    .filter(|s| matches(inner, s))
                    .all(|s| matches(outer, s));
                assert_eq!(covers(outer, inner), included, "{outer} covers {inner}");
            }
        }
    }
}
