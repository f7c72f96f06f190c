//! Units of placement: what one host runs as a whole.
//!
//! A component instance is a unit of its own (key `c.<id>`), unless one of
//! its supervision groups, or an ancestor of it, restarts its children
//! together (`one_for_all`, `rest_for_one`): then that outermost such group,
//! with every group nested in it and every component under them, is one
//! unit (key `g.<group>`), because its strategy needs its children on one
//! host. Each unit runs under a supervisor of its own on the host that owns
//! it (`unit:<key>`), with the strategy, intensity and backoff of its
//! manifest group (the root's settings for a component outside any group).

use std::collections::HashMap;

use crate::manifest::{BackoffDef, GroupDef, Manifest, Strategy};

/// One component instance of a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Index of its `[[component]]` in the manifest.
    pub component: usize,
    /// Its id.
    pub id: String,
    /// The manifest group it is spawned into, inside the unit (`None`: the
    /// unit's own supervisor).
    pub group: Option<String>,
}

/// What one host runs as a whole.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Its key in the owners bucket: `c.<component id>` or `g.<group>`.
    pub key: String,
    /// The group that is the unit (`g.` units), whose settings its
    /// supervisor takes; for a `c.` unit, the component's own group, if any.
    pub group: Option<String>,
    /// Groups nested in the unit's group, parents first (made under the
    /// unit's supervisor).
    pub nested: Vec<GroupDef>,
    /// Its components, in manifest order (the start order).
    pub members: Vec<Member>,
    /// Labels a host must carry to run it: every member's `requires`.
    pub requires: Vec<String>,
}

impl Unit {
    /// The name of the unit's supervisor on its host.
    pub fn supervisor_name(&self) -> String {
        format!("unit:{}", self.key)
    }

    /// Whether component `id` is one of its members.
    pub fn has(&self, id: &str) -> bool {
        self.members.iter().any(|m| m.id == id)
    }
}

/// The strategy, intensity and backoff of a unit's supervisor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Supervision {
    /// Its strategy.
    pub strategy: Strategy,
    /// Its restart intensity, if set.
    pub intensity: Option<(u32, std::time::Duration)>,
    /// Its backoff, if set.
    pub backoff: Option<BackoffDef>,
}

impl Supervision {
    /// The settings of `unit`'s supervisor in `manifest`.
    pub fn of(unit: &Unit, manifest: &Manifest) -> Self {
        match unit
            .group
            .as_ref()
            .and_then(|g| manifest.groups.iter().find(|d| &d.name == g))
        {
            Some(g) => Self {
                strategy: g.strategy,
                intensity: g.intensity,
                backoff: g.backoff,
            },
            None => Self {
                strategy: Strategy::OneForOne,
                intensity: manifest.host.intensity,
                backoff: manifest.host.backoff,
            },
        }
    }
}

/// The manifest's units, in manifest order of their first component.
pub fn units(manifest: &Manifest) -> Vec<Unit> {
    let groups: HashMap<&str, &GroupDef> = manifest
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g))
        .collect();
    // The outermost group restarting its children together, among `g` and
    // its ancestors.
    let together = |g: &str| -> Option<String> {
        let mut found = None;
        let mut at = groups.get(g).copied();
        while let Some(def) = at {
            if matches!(def.strategy, Strategy::OneForAll | Strategy::RestForOne) {
                found = Some(def.name.clone());
            }
            at = def.parent.as_deref().and_then(|p| groups.get(p).copied());
        }
        found
    };
    let inside = |g: &str, outer: &str| -> bool {
        let mut at = groups.get(g).copied();
        while let Some(def) = at {
            if def.name == outer {
                return true;
            }
            at = def.parent.as_deref().and_then(|p| groups.get(p).copied());
        }
        false
    };
    let mut units: Vec<Unit> = Vec::new();
    for (index, c) in manifest.components.iter().enumerate() {
        let outer = c.group.as_deref().and_then(together);
        for id in c.instance_ids() {
            let (key, group, member_group) = match &outer {
                Some(g) => {
                    // The unit's own group is its supervisor: members in it
                    // are spawned straight under that.
                    let member_group = c.group.clone().filter(|own| own != g);
                    (format!("g.{g}"), Some(g.clone()), member_group)
                }
                None => (format!("c.{id}"), c.group.clone(), None),
            };
            let member = Member {
                component: index,
                id,
                group: member_group,
            };
            match units.iter_mut().find(|u| u.key == key) {
                Some(unit) => {
                    unit.members.push(member);
                    for r in &c.requires {
                        if !unit.requires.contains(r) {
                            unit.requires.push(r.clone());
                        }
                    }
                }
                None => {
                    let nested = match &outer {
                        Some(g) => manifest
                            .groups
                            .iter()
                            .filter(|d| d.name != *g && inside(&d.name, g))
                            .cloned()
                            .collect(),
                        None => Vec::new(),
                    };
                    units.push(Unit {
                        key,
                        group,
                        nested,
                        members: vec![member],
                        requires: c.requires.clone(),
                    });
                }
            }
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn manifest(text: &str) -> Manifest {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("c.wat"),
            "(module (memory (export \"memory\") 1))",
        )
        .unwrap();
        Manifest::parse(&dir.path().join("m.toml"), text).unwrap()
    }

    #[test]
    fn components_are_units_of_their_own_and_together_groups_are_one() {
        let m = manifest(
            r#"
[[group]]
name = "free"
[[group]]
name = "tied"
strategy = "one_for_all"
[[group]]
name = "inner"
parent = "tied"
[[component]]
name = "a"
path = "c.wat"
instances = 2
group = "free"
requires = ["gpu"]
[[component]]
name = "b"
path = "c.wat"
group = "tied"
[[component]]
name = "c"
path = "c.wat"
group = "inner"
requires = ["eu"]
[[component]]
name = "d"
path = "c.wat"
"#,
        );
        let u = units(&m);
        let keys: Vec<&str> = u.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["c.a-0", "c.a-1", "g.tied", "c.d"]);
        assert_eq!(u[0].requires, ["gpu"]);
        assert_eq!(u[0].group.as_deref(), Some("free"));
        let tied = &u[2];
        let ids: Vec<&str> = tied.members.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(tied.members[0].group, None);
        assert_eq!(tied.members[1].group.as_deref(), Some("inner"));
        assert_eq!(tied.nested.len(), 1);
        assert_eq!(tied.requires, ["eu"]);
        assert!(Path::new(&tied.supervisor_name()).to_str().is_some());
        assert_eq!(Supervision::of(tied, &m).strategy, Strategy::OneForAll);
    }
}
