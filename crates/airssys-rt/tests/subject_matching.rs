//! Property tests: the subject matcher and the broker's trie routing agree
//! with a plain reference matcher written here.

use std::collections::BTreeSet;

use airssys_rt::broker::subject::{matches, validate_pattern, validate_subject};
use airssys_rt::broker::{InMemoryMessageBroker, MessageBroker};
use proptest::prelude::*;

/// The meaning of a pattern, written as directly as possible.
fn reference(pattern: &[&str], subject: &[&str]) -> bool {
    match (pattern.split_first(), subject.split_first()) {
        (None, None) => true,
        (Some((&">", [])), Some(_)) => true,
        (Some((&"*", p)), Some((_, s))) => reference(p, s),
        (Some((pt, p)), Some((st, s))) => pt == st && reference(p, s),
        _ => false,
    }
}

fn tokens(s: &str) -> Vec<&str> {
    s.split('.').collect()
}

/// Subjects over a tiny alphabet, so patterns match them often.
fn subject() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=4)
        .prop_map(|t| t.join("."))
}

/// Patterns: tokens from the same alphabet or `*`, maybe ending in `>`.
fn pattern() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "*"]), 0..=4),
        any::<bool>(),
    )
        .prop_filter_map("a pattern has at least one token", |(mut t, tail)| {
            if tail {
                t.push(">");
            }
            (!t.is_empty()).then(|| t.join("."))
        })
}

proptest! {
    #[test]
    fn matcher_agrees_with_reference(p in pattern(), s in subject()) {
        prop_assert!(validate_pattern(&p).is_ok());
        prop_assert!(validate_subject(&s).is_ok());
        prop_assert_eq!(matches(&p, &s), reference(&tokens(&p), &tokens(&s)), "{} vs {}", p, s);
    }

    #[test]
    fn patterns_with_wildcards_are_not_publishable_subjects(p in pattern()) {
        let has_wildcard = tokens(&p).iter().any(|t| *t == "*" || *t == ">");
        prop_assert_eq!(validate_subject(&p).is_err(), has_wildcard);
    }

    /// Subscribe every pattern, publish (which fills the match cache), drop
    /// some subscriptions, publish again: each time exactly the live
    /// subscriptions the reference matcher picks receive the message.
    #[test]
    fn broker_routing_agrees_with_reference(
        patterns in prop::collection::vec((pattern(), any::<bool>()), 1..10),
        subjects in prop::collection::vec(subject(), 1..4),
    ) {
        let broker = InMemoryMessageBroker::<usize>::new();
        let mut subs: Vec<_> = patterns
            .iter()
            .map(|(p, _)| Some(broker.subscribe(p).unwrap()))
            .collect();

        for round in 0..2 {
            if round == 1 {
                for (sub, (_, keep)) in subs.iter_mut().zip(&patterns) {
                    if !keep {
                        *sub = None;
                    }
                }
            }
            for (n, s) in subjects.iter().enumerate() {
                let expected: BTreeSet<usize> = patterns
                    .iter()
                    .enumerate()
                    .filter(|(i, (p, _))| subs[*i].is_some() && reference(&tokens(p), &tokens(s)))
                    .map(|(i, _)| i)
                    .collect();
                let report = broker.publish(s, n).unwrap();
                prop_assert_eq!(report.matched, expected.len());
                let mut got = BTreeSet::new();
                for (i, sub) in subs.iter_mut().enumerate() {
                    if let Some(sub) = sub {
                        if let Some(msg) = sub.try_recv() {
                            prop_assert_eq!(msg.payload, n);
                            prop_assert_eq!(&*msg.subject, s.as_str());
                            got.insert(i);
                        }
                        prop_assert!(sub.try_recv().is_none(), "one copy per subscription");
                    }
                }
                prop_assert_eq!(&got, &expected, "round {}, subject {}, patterns {:?}", round, s, patterns);
            }
        }
    }
}
