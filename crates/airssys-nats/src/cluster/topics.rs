//! Which part of a durable topic a subscribing component takes: the
//! intersection of its subscription patterns with the topic's pattern, one
//! JetStream consumer per distinct intersection.
//!
//! NATS patterns are dot-separated tokens where `*` matches one token and a
//! final `>` one or more. The intersection of two such patterns is again a
//! single pattern (or nothing), computed token by token, so a consumer's
//! filter subject (nats-server 2.9 allows one per consumer) can always say
//! exactly what a component subscribed to of a durable topic.

/// The pattern matching exactly the subjects both `a` and `b` match, or
/// `None` when no subject matches both.
///
/// ```
/// use airssys_nats::cluster::topics::intersect;
/// assert_eq!(intersect("jobs.>", "*.eu").as_deref(), Some("jobs.eu"));
/// assert_eq!(intersect("jobs.*", "jobs.eu.x"), None);
/// ```
pub fn intersect(a: &str, b: &str) -> Option<String> {
    let a: Vec<&str> = a.split('.').collect();
    let b: Vec<&str> = b.split('.').collect();
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    loop {
        match (a.get(i), b.get(j)) {
            (None, None) => break,
            // `>` matches one or more tokens: whatever the other has left,
            // if it has something left.
            (Some(&">"), Some(_)) => {
                out.extend_from_slice(&b[j..]);
                break;
            }
            (Some(_), Some(&">")) => {
                out.extend_from_slice(&a[i..]);
                break;
            }
            (Some(&x), Some(&y)) => {
                out.push(match (x, y) {
                    ("*", y) => y,
                    (x, "*") => x,
                    (x, y) if x == y => x,
                    _ => return None,
                });
                i += 1;
                j += 1;
            }
            // One is longer and the other has no `>` to take the rest.
            _ => return None,
        }
    }
    Some(out.join("."))
}

/// Whether every subject `inner` matches is also matched by `outer`.
pub fn covers(outer: &str, inner: &str) -> bool {
    intersect(outer, inner).as_deref() == Some(inner)
}

/// The filters of one component's consumers of the durable topics
/// `durable`, given its subscription patterns `subscribed`: each non-empty
/// intersection, without those another one covers (a message is taken by
/// one consumer, not two, where one filter contains another).
pub fn filters<'a>(
    subscribed: impl IntoIterator<Item = &'a str>,
    durable: &[impl AsRef<str>],
) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for s in subscribed {
        for d in durable {
            if let Some(f) = intersect(s, d.as_ref()) {
                if !all.contains(&f) {
                    all.push(f);
                }
            }
        }
    }
    let kept: Vec<String> = all
        .iter()
        .filter(|f| !all.iter().any(|g| g != *f && covers(g, f)))
        .cloned()
        .collect();
    kept
}

/// `t-<component>-<hash of filter>`: the stable name of the consumer by
/// which `component` takes `filter` of the durable topics (no dots or
/// wildcards, the same on every host and version: FNV-1a, not the
/// standard library's hasher, whose output may change between releases).
pub fn consumer_name(component: &str, filter: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = filter
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("t-{}-{hash:016x}", component.replace('.', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersections_follow_nats_wildcards() {
        let cases = [
            ("a.b", "a.b", Some("a.b")),
            ("a.*", "a.b", Some("a.b")),
            ("a.*", "*.b", Some("a.b")),
            ("a.>", "a.b.c", Some("a.b.c")),
            ("a.>", "*.*", Some("a.*")),
            (">", "a.>", Some("a.>")),
            ("a.>", ">", Some("a.>")),
            ("a.*", "a.b.c", None),
            ("a.>", "a", None),
            ("a.b", "a.c", None),
            ("*.b.>", "a.*.c", Some("a.b.c")),
            ("*", ">", Some("*")),
        ];
        for (a, b, want) in cases {
            assert_eq!(intersect(a, b).as_deref(), want, "{a} ∩ {b}");
            assert_eq!(intersect(b, a).as_deref(), want, "{b} ∩ {a}");
        }
    }

    #[test]
    fn covering_is_set_inclusion() {
        assert!(covers(">", "a.b"));
        assert!(covers("a.>", "a.*.c"));
        assert!(covers("a.*", "a.b"));
        assert!(!covers("a.b", "a.*"));
        assert!(!covers("*.>", ">"));
        assert!(covers("a.b", "a.b"));
    }

    #[test]
    fn a_component_takes_what_it_subscribed_of_each_durable_topic_once() {
        let durable = ["jobs.>", "audit"];
        assert_eq!(
            filters(["jobs.*", "jobs.eu", "other.*"], &durable),
            vec!["jobs.*"]
        );
        assert_eq!(filters([">"], &durable), vec!["jobs.>", "audit"]);
        assert!(filters(["other.>"], &durable).is_empty());
        // Overlapping, neither inside the other: both kept.
        assert_eq!(
            filters(["jobs.*.x", "jobs.y.*"], &durable),
            vec!["jobs.*.x", "jobs.y.*"]
        );
    }

    #[test]
    fn consumer_names_are_stable_and_tell_filters_apart() {
        let a = consumer_name("worker-1", "jobs.*");
        assert_eq!(a, consumer_name("worker-1", "jobs.*"));
        assert_ne!(a, consumer_name("worker-1", "jobs.>"));
        assert_ne!(a, consumer_name("worker-2", "jobs.*"));
        assert!(a.starts_with("t-worker-1-"));
        assert!(!a.contains(['.', '*', '>']));
    }
}
