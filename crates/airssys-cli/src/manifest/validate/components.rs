//! `[[component]]`: names, instance ids and groups first (every
//! component's, so that allow-lists and drives can name any of them), then
//! each component in full: its binary, patterns, allow-lists, limits, WASI
//! grants and snapshots.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airssys_wasm::{ComponentLimits, InvalidHostPattern, SubjectPattern, WasiGrants};
use toml::Spanned;

use super::super::raw::{RawComponent, RawManifest, RawRestart, RawWasi};
use super::super::{instance_ids, ComponentDef, HealthDef, ManifestError, Restart, SnapshotPolicy};
use super::groups::GroupIndex;
use super::{apply_limits, span, valid_name, Validator};

/// Every component's instance ids and the component each belongs to, so
/// that an allow-list or a drive can name a spec or one instance.
pub(super) struct ComponentIndex<'r> {
    /// Instance id to the component's index in the file.
    ids: HashMap<String, usize>,
    /// Components by name.
    by_name: HashMap<&'r str, &'r RawComponent>,
    /// Instances of all components together.
    pub(super) total_instances: u64,
}

impl ComponentIndex<'_> {
    /// The instance ids `target` names (a spec: all of its instances; an
    /// instance id: that one), or a refusal saying `owner what` it.
    pub(super) fn targets(
        &self,
        v: &Validator<'_>,
        target: &Spanned<String>,
        what: &str,
        owner: &str,
    ) -> Result<Vec<String>, ManifestError> {
        let name = target.get_ref();
        if let Some(c) = self.by_name.get(name.as_str()) {
            let n = c.instances.as_ref().map_or(1, |n| *n.get_ref());
            Ok(instance_ids(name, n))
        } else if self.ids.contains_key(name) {
            Ok(vec![name.clone()])
        } else {
            Err(v.err(
                span(target),
                format!("{owner} {what} unknown component `{name}`"),
            ))
        }
    }
}

impl Validator<'_> {
    /// Names, instance counts, unique ids, known groups, mailbox sizes.
    pub(super) fn index_components<'r>(
        &self,
        raw: &'r RawManifest,
        groups: &GroupIndex<'_>,
    ) -> Result<ComponentIndex<'r>, ManifestError> {
        let mut index = ComponentIndex {
            ids: HashMap::new(),
            by_name: HashMap::new(),
            total_instances: 0,
        };
        for (i, c) in raw.components.iter().enumerate() {
            let name = c.name.get_ref();
            if !valid_name(name) {
                return Err(self.err(
                    span(&c.name),
                    format!("invalid component name `{name}`: use letters, digits, `-` and `_`"),
                ));
            }
            let instances = match &c.instances {
                Some(n) if *n.get_ref() == 0 => {
                    return Err(self.err(
                        span(n),
                        format!("component `{name}`: instances must be at least 1"),
                    ))
                }
                Some(n) => *n.get_ref(),
                None => 1,
            };
            index.total_instances += u64::from(instances);
            for id in instance_ids(name, instances) {
                if index.ids.insert(id.clone(), i).is_some() {
                    return Err(self.err(span(&c.name), format!("duplicate component id `{id}`")));
                }
            }
            index.by_name.insert(name, c);
            if let Some(g) = &c.group {
                if !groups.contains_key(g.get_ref().as_str()) {
                    return Err(self.err(
                        span(g),
                        format!("component `{name}` names unknown group `{}`", g.get_ref()),
                    ));
                }
            }
            if let Some(m) = &c.mailbox {
                if *m.get_ref() == 0 {
                    return Err(self.err(
                        span(m),
                        format!("component `{name}`: mailbox must hold at least 1 message"),
                    ));
                }
            }
        }
        Ok(index)
    }

    /// One `[[component]]`, its binary read from `base`.
    pub(super) fn component(
        &self,
        c: &RawComponent,
        base: &Path,
        default_limits: &ComponentLimits,
        index: &ComponentIndex<'_>,
    ) -> Result<ComponentDef, ManifestError> {
        let name = c.name.get_ref().clone();
        let path = base.join(c.path.get_ref());
        let bytes = self.binary(c, &path)?;
        let subscribe = self.patterns(&name, &c.subscribe, "subscribe")?;
        let publish = self.patterns(&name, &c.publish, "publish")?;
        let allow_subscribe = self.patterns(&name, &c.allow_subscribe, "allow_subscribe")?;
        let mut send = Vec::new();
        for t in &c.send {
            send.extend(index.targets(
                self,
                t,
                "allows sending to",
                &format!("component `{name}`"),
            )?);
        }
        let limits = apply_limits(default_limits.clone(), c.limits.as_ref())?;
        let wasi = match &c.wasi {
            Some(w) => self.wasi(&name, w, base)?,
            None => WasiGrants::none(),
        };
        let snapshot = self.snapshot(c)?;
        Ok(ComponentDef {
            name,
            path,
            bytes: Arc::from(bytes),
            instances: c.instances.as_ref().map_or(1, |n| *n.get_ref()),
            group: c.group.as_ref().map(|g| g.get_ref().clone()),
            mailbox: c.mailbox.as_ref().map(|m| *m.get_ref()),
            limits,
            config: c
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            subscribe,
            send,
            publish,
            allow_subscribe,
            restart: match c.restart {
                RawRestart::Permanent => Restart::Permanent,
                RawRestart::Transient => Restart::Transient,
                RawRestart::Temporary => Restart::Temporary,
            },
            health: c.health.map(|h| HealthDef {
                interval: h.interval.0,
                timeout: h.timeout.0,
                threshold: h.threshold,
            }),
            stop_timeout: c.stop_timeout.map(|d| d.0),
            wasi,
            requires: c.requires.iter().map(|r| r.get_ref().clone()).collect(),
            durable: c.durable,
            trap_exits: c.trap_exits,
            snapshot,
        })
    }

    /// The component's binary, read from `path`.
    fn binary(&self, c: &RawComponent, path: &PathBuf) -> Result<Vec<u8>, ManifestError> {
        std::fs::read(path).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "file not found".to_owned()
            } else {
                e.to_string()
            };
            self.err(
                span(&c.path),
                format!(
                    "component `{}`: cannot read `{}`: {why}",
                    c.name.get_ref(),
                    path.display()
                ),
            )
        })
    }

    /// A list of subject patterns (`what`: the key).
    fn patterns(
        &self,
        name: &str,
        list: &[Spanned<String>],
        what: &str,
    ) -> Result<Vec<String>, ManifestError> {
        list.iter()
            .map(|p| {
                SubjectPattern::new(p.get_ref())
                    .map(|_| p.get_ref().clone())
                    .map_err(|e| self.err(span(p), format!("component `{name}`: {what}: {e}")))
            })
            .collect()
    }

    /// `[component.wasi]`: directories (that must exist), environment,
    /// hosts it may reach, the wall clock.
    fn wasi(
        &self,
        name: &str,
        raw_wasi: &Spanned<RawWasi>,
        base: &Path,
    ) -> Result<WasiGrants, ManifestError> {
        let mut wasi = WasiGrants::none();
        let w = raw_wasi.get_ref();
        for dir in &w.dirs {
            let host = base.join(&dir.host);
            if !host.is_dir() {
                return Err(self.err(
                    span(raw_wasi),
                    format!(
                        "component `{name}`: WASI directory `{}` is not a directory",
                        host.display()
                    ),
                ));
            }
            wasi = if dir.writable {
                wasi.read_write_dir(host, dir.guest.clone())
            } else {
                wasi.read_only_dir(host, dir.guest.clone())
            };
        }
        for (k, v) in &w.env {
            wasi = wasi.env(k.clone(), v.clone());
        }
        for h in &w.hosts {
            let pattern = h.parse().map_err(|e: InvalidHostPattern| {
                self.err(span(raw_wasi), format!("component `{name}`: {e}"))
            })?;
            wasi = wasi.allow_host(pattern);
        }
        Ok(wasi.wall_clock(w.wall_clock))
    }

    /// `snapshot_every` and `snapshot_interval`: none, or a policy with
    /// each above 0.
    fn snapshot(&self, c: &RawComponent) -> Result<Option<SnapshotPolicy>, ManifestError> {
        let (every, interval) = (&c.snapshot_every, c.snapshot_interval);
        if every.is_none() && interval.is_none() {
            return Ok(None);
        }
        if let Some(e) = every.as_ref().filter(|e| *e.get_ref() == 0) {
            return Err(self.err(span(e), "snapshot_every must be at least 1"));
        }
        if interval.is_some_and(|i| i.0.is_zero()) {
            return Err(self.err(
                None,
                format!(
                    "component `{}`: snapshot_interval must be longer than 0",
                    c.name.get_ref()
                ),
            ));
        }
        Ok(Some(SnapshotPolicy {
            every: every.as_ref().map(|e| *e.get_ref()),
            interval: interval.map(|i| i.0),
        }))
    }
}
