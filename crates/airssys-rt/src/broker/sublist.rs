//! A token trie of subscriptions, after NATS's `sublist`: routing a subject
//! walks its tokens once instead of testing every pattern.
//!
//! Each node holds the subscriptions whose pattern ends there, the ones whose
//! pattern ends there with a trailing `>`, and its children: one per literal
//! next token, and one for `*`. Matching `a.b.c` visits at most the nodes on
//! the paths the subject can take, O(tokens × wildcard branching), independent
//! of how many subscriptions use unrelated subjects.

use std::collections::HashMap;

use super::subject::{FULL_WILDCARD, SEPARATOR, SINGLE_WILDCARD};

/// One trie node. `T` is what a subscription stores (its route).
#[derive(Debug)]
struct Node<T> {
    /// Children keyed by a literal token.
    literal: HashMap<Box<str>, Node<T>>,
    /// The child for a `*` token.
    single: Option<Box<Node<T>>>,
    /// Subscriptions whose pattern is the path to this node.
    here: Vec<(u64, T)>,
    /// Subscriptions whose pattern is the path to this node followed by `>`.
    tail: Vec<(u64, T)>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self {
            literal: HashMap::new(),
            single: None,
            here: Vec::new(),
            tail: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.single.is_none()
            && self.here.is_empty()
            && self.tail.is_empty()
    }
}

/// The subscription trie. Patterns given to it must be valid
/// (see [`validate_pattern`](super::subject::validate_pattern)).
#[derive(Debug)]
pub(crate) struct Sublist<T> {
    root: Node<T>,
    len: usize,
}

impl<T> Default for Sublist<T> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<T: Clone> Sublist<T> {
    /// Number of subscriptions held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds subscription `id` with `pattern`. O(tokens).
    pub(crate) fn insert(&mut self, pattern: &str, id: u64, value: T) {
        let mut node = &mut self.root;
        for token in pattern.split(SEPARATOR) {
            if token == FULL_WILDCARD {
                node.tail.push((id, value));
                self.len += 1;
                return;
            }
            node = if token == SINGLE_WILDCARD {
                node.single.get_or_insert_with(Box::default)
            } else {
                node.literal.entry(Box::from(token)).or_default()
            };
        }
        node.here.push((id, value));
        self.len += 1;
    }

    /// Removes subscription `id` with `pattern`, pruning nodes left empty.
    /// Returns whether it was present. O(tokens + subscriptions on that node).
    pub(crate) fn remove(&mut self, pattern: &str, id: u64) -> bool {
        let tokens: Vec<&str> = pattern.split(SEPARATOR).collect();
        let removed = Self::remove_at(&mut self.root, &tokens, id);
        if removed {
            self.len -= 1;
        }
        removed
    }

    fn remove_at(node: &mut Node<T>, tokens: &[&str], id: u64) -> bool {
        let take = |list: &mut Vec<(u64, T)>| match list.iter().position(|(i, _)| *i == id) {
            Some(at) => {
                list.swap_remove(at);
                true
            }
            None => false,
        };
        match tokens {
            [] => take(&mut node.here),
            [last] if *last == FULL_WILDCARD => take(&mut node.tail),
            [first, rest @ ..] if *first == SINGLE_WILDCARD => {
                let Some(child) = node.single.as_deref_mut() else {
                    return false;
                };
                let removed = Self::remove_at(child, rest, id);
                if child.is_empty() {
                    node.single = None;
                }
                removed
            }
            [first, rest @ ..] => {
                let Some(child) = node.literal.get_mut(*first) else {
                    return false;
                };
                let removed = Self::remove_at(child, rest, id);
                if child.is_empty() {
                    node.literal.remove(*first);
                }
                removed
            }
        }
    }

    /// Appends to `out` the value of every subscription whose pattern
    /// matches the (valid, literal) `subject`. Each matching subscription
    /// appears once: a pattern matches a subject along a single path.
    pub(crate) fn matches(&self, subject: &str, out: &mut Vec<T>) {
        let tokens: Vec<&str> = subject.split(SEPARATOR).collect();
        Self::collect(&self.root, &tokens, out);
    }

    fn collect(node: &Node<T>, tokens: &[&str], out: &mut Vec<T>) {
        let Some((first, rest)) = tokens.split_first() else {
            out.extend(node.here.iter().map(|(_, v)| v.clone()));
            return;
        };
        // At least one token remains, so `>` here matches.
        out.extend(node.tail.iter().map(|(_, v)| v.clone()));
        if let Some(child) = node.literal.get(*first) {
            Self::collect(child, rest, out);
        }
        if let Some(child) = node.single.as_deref() {
            Self::collect(child, rest, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(list: &Sublist<u64>, subject: &str) -> Vec<u64> {
        let mut out = Vec::new();
        list.matches(subject, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn routes_literal_single_and_tail_patterns() {
        let mut list = Sublist::default();
        list.insert("a.b", 1, 1);
        list.insert("a.*", 2, 2);
        list.insert("a.>", 3, 3);
        list.insert(">", 4, 4);
        list.insert("*.b.c", 5, 5);
        assert_eq!(routed(&list, "a.b"), vec![1, 2, 3, 4]);
        assert_eq!(routed(&list, "a"), vec![4]);
        assert_eq!(routed(&list, "a.b.c"), vec![3, 4, 5]);
        assert_eq!(routed(&list, "x.y"), vec![4]);
    }

    #[test]
    fn remove_prunes_and_stops_routing() {
        let mut list = Sublist::default();
        list.insert("a.*.c", 1, 1);
        list.insert("a.b.>", 2, 2);
        assert!(list.remove("a.*.c", 1));
        assert!(!list.remove("a.*.c", 1));
        assert_eq!(routed(&list, "a.b.c"), vec![2]);
        assert!(list.remove("a.b.>", 2));
        assert_eq!(list.len(), 0);
        assert!(list.root.is_empty());
    }
}
