//! `[[drive]]` (host-side traffic: one target, payloads, a pace) and
//! `[[topic]]` (delivery settings of subject patterns, each declared once).

use airssys_wasm::guest::permissions::is_valid_subject;
use airssys_wasm::SubjectPattern;
use toml::Spanned;

use super::super::raw::{RawDrive, RawTopic};
use super::super::{DriveDef, DriveTarget, ManifestError, TopicDef, DEFAULT_DRIVE_REQUEST_TIMEOUT};
use super::components::ComponentIndex;
use super::{span, Validator};

impl Validator<'_> {
    /// One `[[drive]]`.
    pub(super) fn drive(
        &self,
        d: &Spanned<RawDrive>,
        index: &ComponentIndex<'_>,
    ) -> Result<DriveDef, ManifestError> {
        let at = span(d);
        let d: &RawDrive = d.get_ref();
        let target = self.drive_target(d, at.clone(), index)?;
        let payloads = match (&d.payload, &d.payloads) {
            (Some(_), Some(p)) => {
                return Err(self.err(span(p), "a drive takes `payload` or `payloads`, not both"))
            }
            (Some(p), None) => vec![p.clone()],
            (None, Some(p)) if p.get_ref().is_empty() => {
                return Err(self.err(span(p), "drive: `payloads` must not be empty"))
            }
            (None, Some(p)) => p.get_ref().clone(),
            (None, None) => vec!["{n}".to_owned()],
        };
        if d.every.0.is_zero() {
            return Err(self.err(at, "drive: `every` must be longer than 0"));
        }
        let show_replies = d.show_replies.as_ref();
        if let Some(show) = show_replies.filter(|s| *s.get_ref()) {
            if !matches!(target, DriveTarget::Request(_)) {
                return Err(self.err(
                    span(show),
                    "drive: `show_replies` needs a `request` drive (sends and publishes have no replies)",
                ));
            }
        }
        Ok(DriveDef {
            target,
            every: d.every.0,
            payloads,
            count: d.count,
            timeout: d.timeout.map_or(DEFAULT_DRIVE_REQUEST_TIMEOUT, |t| t.0),
            show_replies: show_replies.is_some_and(|s| *s.get_ref()),
        })
    }

    /// A drive's one target: a subject to publish on, or components to send
    /// to or request from.
    fn drive_target(
        &self,
        d: &RawDrive,
        at: Option<std::ops::Range<usize>>,
        index: &ComponentIndex<'_>,
    ) -> Result<DriveTarget, ManifestError> {
        match (&d.publish, &d.send, &d.request) {
            (Some(s), None, None) => {
                if !is_valid_subject(s.get_ref()) {
                    return Err(self.err(
                        span(s),
                        format!(
                            "drive: invalid subject `{}`: use non-empty dot-separated tokens without wildcards",
                            s.get_ref()
                        ),
                    ));
                }
                Ok(DriveTarget::Publish(s.get_ref().clone()))
            }
            (None, Some(t), None) => Ok(DriveTarget::Send(
                index.targets(self, t, "sends to", "drive")?,
            )),
            (None, None, Some(t)) => Ok(DriveTarget::Request(index.targets(
                self,
                t,
                "requests from",
                "drive",
            )?)),
            _ => Err(self.err(
                at,
                "a drive needs exactly one of `publish`, `send` or `request`",
            )),
        }
    }

    /// The `[[topic]]`s: valid patterns, each declared once.
    pub(super) fn topics(&self, raw: &[Spanned<RawTopic>]) -> Result<Vec<TopicDef>, ManifestError> {
        let mut topics: Vec<TopicDef> = Vec::with_capacity(raw.len());
        for t in raw {
            let t: &RawTopic = t.get_ref();
            let subject = t.subject.get_ref();
            if SubjectPattern::new(subject).is_err() {
                return Err(self.err(
                    span(&t.subject),
                    format!("topic: invalid subject pattern `{subject}`"),
                ));
            }
            if topics.iter().any(|d| &d.subject == subject) {
                return Err(self.err(
                    span(&t.subject),
                    format!("topic `{subject}` is declared twice"),
                ));
            }
            topics.push(TopicDef {
                subject: subject.clone(),
                durable: t.durable,
            });
        }
        Ok(topics)
    }
}
