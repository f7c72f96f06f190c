//! `[[group]]`: supervision groups with unique names, known parents and no
//! cycle, ordered parents first.

use std::collections::{HashMap, HashSet};

use super::super::raw::{RawManifest, RawStrategy};
use super::super::{GroupDef, ManifestError, Strategy};
use super::{backoff, intensity, span, valid_name, Validator};

/// Each group's index in the file, by name.
pub(super) type GroupIndex<'r> = HashMap<&'r str, usize>;

impl Validator<'_> {
    /// The groups, parents before children, and their index by name.
    pub(super) fn groups<'r>(
        &self,
        raw: &'r RawManifest,
    ) -> Result<(Vec<GroupDef>, GroupIndex<'r>), ManifestError> {
        let mut group_index: GroupIndex<'r> = HashMap::new();
        for (i, g) in raw.groups.iter().enumerate() {
            let name = g.name.get_ref();
            if !valid_name(name) {
                return Err(self.err(
                    span(&g.name),
                    format!("invalid group name `{name}`: use letters, digits, `-` and `_`"),
                ));
            }
            if group_index.insert(name, i).is_some() {
                return Err(self.err(span(&g.name), format!("duplicate group `{name}`")));
            }
        }
        for g in &raw.groups {
            if let Some(parent) = &g.parent {
                if !group_index.contains_key(parent.get_ref().as_str()) {
                    return Err(self.err(
                        span(parent),
                        format!(
                            "group `{}` names unknown parent group `{}`",
                            g.name.get_ref(),
                            parent.get_ref()
                        ),
                    ));
                }
            }
        }
        let order = self.group_order(raw, &group_index)?;
        let groups = order
            .into_iter()
            .map(|i| {
                let g = &raw.groups[i];
                GroupDef {
                    name: g.name.get_ref().clone(),
                    parent: g.parent.as_ref().map(|p| p.get_ref().clone()),
                    strategy: match g.strategy {
                        RawStrategy::OneForOne => Strategy::OneForOne,
                        RawStrategy::OneForAll => Strategy::OneForAll,
                        RawStrategy::RestForOne => Strategy::RestForOne,
                    },
                    intensity: g.intensity.map(intensity),
                    backoff: g.backoff.map(backoff),
                }
            })
            .collect();
        Ok((groups, group_index))
    }

    /// Groups ordered parents first; refuses a cycle of `parent` links.
    fn group_order(
        &self,
        raw: &RawManifest,
        index: &HashMap<&str, usize>,
    ) -> Result<Vec<usize>, ManifestError> {
        let parent_of = |i: usize| {
            raw.groups[i]
                .parent
                .as_ref()
                .and_then(|p| index.get(p.get_ref().as_str()).copied())
        };
        let mut order = Vec::with_capacity(raw.groups.len());
        let mut placed: HashSet<usize> = HashSet::new();
        for start in 0..raw.groups.len() {
            // Walk up to the root (or a placed ancestor), then place the path
            // top-down. A group seen twice on the walk closes a cycle.
            let mut path = vec![start];
            let mut cur = start;
            while let Some(p) = parent_of(cur) {
                if placed.contains(&p) {
                    break;
                }
                if let Some(pos) = path.iter().position(|&g| g == p) {
                    let mut names: Vec<&str> = path[pos..]
                        .iter()
                        .map(|&g| raw.groups[g].name.get_ref().as_str())
                        .collect();
                    names.push(raw.groups[p].name.get_ref());
                    let first = path[pos];
                    let at = raw.groups[first].parent.as_ref().map(|s| s.span());
                    return Err(self.err(at, format!("group cycle: {}", names.join(" -> "))));
                }
                path.push(p);
                cur = p;
            }
            for &g in path.iter().rev() {
                if placed.insert(g) {
                    order.push(g);
                }
            }
        }
        Ok(order)
    }
}
