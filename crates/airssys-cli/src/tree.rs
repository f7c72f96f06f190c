//! A run's supervision tree as an operator sees it: the groups (root first,
//! parents before children) with their strategy and the restart intensity
//! they have used, and which group each component instance belongs to.
//! Shared by `ctl list --tree` (the control API's `/v1/tree`) and the live
//! view of `airssys run`.

use std::collections::HashMap;

use airssys_rt::supervisor::SupervisorRef;
use airssys_wasm::host::ComponentHost;

use crate::manifest::{Manifest, Strategy};

/// A supervision group of the run.
#[derive(Debug, Clone)]
pub struct GroupNode {
    /// Its name (the root supervisor's name for the root).
    pub name: String,
    /// Its parent's name; `None` for the root.
    pub parent: Option<String>,
    /// Its restart strategy, as the manifest spells it.
    pub strategy: &'static str,
    /// Its supervisor.
    pub supervisor: SupervisorRef,
}

/// The groups of `manifest` as `host` runs them (`groups` by name, as the
/// run started them), the host's root first.
pub fn group_nodes(
    host: &ComponentHost,
    manifest: &Manifest,
    groups: &HashMap<String, SupervisorRef>,
) -> Vec<GroupNode> {
    let root = host.supervisor().clone();
    let mut tree = vec![GroupNode {
        name: root.name().to_owned(),
        parent: None,
        strategy: "one_for_one",
        supervisor: root,
    }];
    for g in &manifest.groups {
        let Some(supervisor) = groups.get(&g.name) else {
            continue;
        };
        tree.push(GroupNode {
            name: g.name.clone(),
            parent: Some(g.parent.clone().unwrap_or_else(|| tree[0].name.clone())),
            strategy: strategy_label(g.strategy),
            supervisor: supervisor.clone(),
        });
    }
    tree
}

/// A strategy as the manifest spells it.
pub fn strategy_label(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::OneForOne => "one_for_one",
        Strategy::OneForAll => "one_for_all",
        Strategy::RestForOne => "rest_for_one",
    }
}

/// Which group each component instance of `manifest` runs in: instance id
/// to group name (`root` for those without a group).
pub fn members(manifest: &Manifest, root: &str) -> HashMap<String, String> {
    manifest
        .components
        .iter()
        .flat_map(|c| {
            let group = c.group.clone().unwrap_or_else(|| root.to_owned());
            c.instance_ids()
                .into_iter()
                .map(move |id| (id, group.clone()))
        })
        .collect()
}

/// A group's heading in the live view:
/// `sensors (one_for_one, restarts 2 of 10 within 5s)`, or without the
/// intensity when the supervisor does not answer.
pub async fn heading(node: &GroupNode) -> String {
    match node.supervisor.intensity().await {
        Ok(i) => format!(
            "{} ({}, restarts {} of {} within {})",
            node.name,
            node.strategy,
            i.used,
            i.limit.max_restarts,
            humantime::format_duration(i.limit.within)
        ),
        Err(_) => format!("{} ({})", node.name, node.strategy),
    }
}

/// `list` grouped: each group's heading (`headings`, in tree order, with
/// the group's name) followed by the rows (`row`) of its components
/// (`id_of`, looked up in `member_of`), indented; components of no listed
/// group last, under `other`. Groups without a running component keep
/// their heading.
pub fn grouped_rows<T>(
    list: &[T],
    id_of: impl Fn(&T) -> &str,
    headings: &[(String, String)],
    member_of: &HashMap<String, String>,
    row: impl Fn(&T) -> String,
) -> Vec<String> {
    let group_of = |c: &T| member_of.get(id_of(c));
    let mut lines = Vec::with_capacity(list.len() + headings.len() + 1);
    for (name, heading) in headings {
        lines.push(heading.clone());
        lines.extend(
            list.iter()
                .filter(|c| group_of(c) == Some(name))
                .map(|c| format!("  {}", row(c))),
        );
    }
    let others: Vec<String> = list
        .iter()
        .filter(|c| !group_of(c).is_some_and(|g| headings.iter().any(|(name, _)| name == g)))
        .map(|c| format!("  {}", row(c)))
        .collect();
    if !others.is_empty() {
        lines.push("other (spawned through the control API)".to_owned());
        lines.extend(others);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_grouped_under_their_headings_in_tree_order() {
        let list = ["pager", "converter", "extra", "limits"];
        let member_of: HashMap<String, String> = [
            ("pager", "root"),
            ("converter", "sensors"),
            ("limits", "sensors"),
        ]
        .iter()
        .map(|(id, g)| ((*id).to_owned(), (*g).to_owned()))
        .collect();
        let headings = vec![
            (
                "root".to_owned(),
                "root (one_for_one, restarts 0 of 10 within 10s)".to_owned(),
            ),
            (
                "sensors".to_owned(),
                "sensors (one_for_one, restarts 2 of 10 within 5s)".to_owned(),
            ),
            (
                "idle".to_owned(),
                "idle (one_for_all, restarts 0 of 3 within 1s)".to_owned(),
            ),
        ];
        let rows = grouped_rows(
            &list,
            |c| c,
            &headings,
            &member_of,
            |c| format!("{c} ready"),
        );
        assert_eq!(
            rows,
            [
                "root (one_for_one, restarts 0 of 10 within 10s)",
                "  pager ready",
                "sensors (one_for_one, restarts 2 of 10 within 5s)",
                "  converter ready",
                "  limits ready",
                "idle (one_for_all, restarts 0 of 3 within 1s)",
                "other (spawned through the control API)",
                "  extra ready",
            ]
        );
    }
}
