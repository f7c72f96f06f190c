//! [`Children`]: a supervisor's children in start order, found by id or by
//! name without a scan, so that a supervisor of a million children adds,
//! finds and removes one as fast as a supervisor of ten.

use std::collections::HashMap;
use std::ops::{Index, IndexMut};
use std::sync::Arc;

use super::super::spec::ChildId;
use super::entry::Entry;

/// The children, oldest first.
///
/// Ids come from a process-wide counter and a child is only ever appended,
/// so the entries are sorted by id: a lookup by id is a binary search.
pub(super) struct Children {
    entries: Vec<Entry>,
    /// Name → id. Initial children may repeat a name (the supervisor's
    /// start refuses them); the map then holds the last one.
    names: HashMap<Arc<str>, ChildId>,
}

impl Children {
    /// The initial children, in the order given.
    pub(super) fn new(entries: Vec<Entry>) -> Self {
        let names = entries
            .iter()
            .map(|e| (Arc::clone(e.spec.shared_name()), e.id))
            .collect();
        Children { entries, names }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    pub(super) fn iter_mut(&mut self) -> std::slice::IterMut<'_, Entry> {
        self.entries.iter_mut()
    }

    /// Appends a child created after every present one.
    pub(super) fn push(&mut self, entry: Entry) {
        debug_assert!(self.entries.last().is_none_or(|last| last.id < entry.id));
        self.names
            .insert(Arc::clone(entry.spec.shared_name()), entry.id);
        self.entries.push(entry);
    }

    /// Takes child `i` out; those after it move up one place.
    pub(super) fn remove(&mut self, i: usize) -> Entry {
        let entry = self.entries.remove(i);
        self.forget_name(&entry);
        entry
    }

    /// Takes the youngest child out.
    pub(super) fn pop(&mut self) -> Option<Entry> {
        let entry = self.entries.pop()?;
        self.forget_name(&entry);
        Some(entry)
    }

    fn forget_name(&mut self, entry: &Entry) {
        if self.names.get(entry.spec.name()) == Some(&entry.id) {
            self.names.remove(entry.spec.name());
        }
    }

    /// Where child `id` is, O(log n).
    pub(super) fn position_of(&self, id: ChildId) -> Option<usize> {
        self.entries.binary_search_by_key(&id, |e| e.id).ok()
    }

    /// Where the child named `name` is, O(log n).
    pub(super) fn position_of_name(&self, name: &str) -> Option<usize> {
        self.names.get(name).and_then(|&id| self.position_of(id))
    }

    /// Whether a child is named `name`, O(1).
    pub(super) fn has_name(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// The first name two children share, if any (O(n); checked once per
    /// supervisor start).
    pub(super) fn first_duplicate_name(&self) -> Option<&str> {
        if self.names.len() == self.entries.len() {
            return None;
        }
        let mut seen = std::collections::HashSet::with_capacity(self.entries.len());
        self.entries
            .iter()
            .map(|e| e.spec.name())
            .find(|&name| !seen.insert(name))
    }
}

impl Index<usize> for Children {
    type Output = Entry;

    fn index(&self, i: usize) -> &Entry {
        &self.entries[i]
    }
}

impl IndexMut<usize> for Children {
    fn index_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.entries[i]
    }
}
