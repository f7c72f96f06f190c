//! Running one case: a fresh in-process host (the testkit's), the file's
//! components started as the manifest describes them, the steps in order,
//! stopping at the first that is not met.

use std::time::Duration;

use airssys_testkit::{Error as KitError, TestHost, Traffic};
use airssys_wasm::codec;

use super::file::{Case, CasesFile, PayloadSpec, ReplyExpectation, Step};
use crate::manifest::spec::component_spec;

/// How often `expect_handled` looks at the counter.
const HANDLED_POLL: Duration = Duration::from_millis(5);

/// How much of a payload a failure report shows.
const SHOWN_CHARS: usize = 200;

/// Why a case failed: at which step, what it expected, what happened, and
/// everything the host recorded until then.
#[derive(Debug)]
pub struct CaseFailure {
    /// The failing step's number, from 1; 0 when the components did not
    /// start.
    pub step: usize,
    /// The failing step as written (`request advisor "report"`), or what
    /// was being started.
    pub doing: String,
    /// What was expected.
    pub expected: String,
    /// What happened instead.
    pub outcome: String,
    /// The recorded traffic, or `None` when no host ran.
    pub traffic: Option<Traffic>,
}

/// Runs `case` on a new host with `file`'s components.
///
/// # Errors
/// [`CaseFailure`] for the first step not met (or a start that failed).
pub async fn run_case(file: &CasesFile, case: &Case) -> Result<(), CaseFailure> {
    // The host's timeout covers the longest wait a step asks for.
    let longest = case
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::ExpectRestart { within, .. } => *within,
            Step::ExpectNoPublish { within, .. } => Some(*within),
            _ => None,
        })
        .max()
        .unwrap_or(Duration::ZERO);
    let engine = crate::run::engine_config(&file.manifest.host);
    let t = TestHost::builder()
        .engine(engine)
        .timeout(file.timeout.max(longest))
        .build()
        .map_err(|e| start_failure("a host", &e, None))?;
    for c in &file.components {
        for id in c.instance_ids() {
            let spec = component_spec(c, &id, c.bytes.clone());
            t.spawn(spec)
                .await
                .map_err(|e| start_failure(&format!("component {id}"), &e, Some(t.traffic())))?;
        }
    }
    for (i, step) in case.steps.iter().enumerate() {
        if let Err((expected, outcome)) = run_step(&t, step, file.timeout).await {
            return Err(CaseFailure {
                step: i + 1,
                doing: step.to_string(),
                expected,
                outcome,
                traffic: Some(t.traffic()),
            });
        }
    }
    t.shutdown().await;
    Ok(())
}

fn start_failure(what: &str, error: &KitError, traffic: Option<Traffic>) -> CaseFailure {
    CaseFailure {
        step: 0,
        doing: format!("starting {what}"),
        expected: format!("{what} to start"),
        outcome: error.to_string(),
        traffic,
    }
}

/// What was expected and what happened instead.
type Unmet = (String, String);

async fn run_step(t: &TestHost, step: &Step, timeout: Duration) -> Result<(), Unmet> {
    match step {
        Step::Send { to, payload } => t
            .send(to, payload.bytes())
            .await
            .map_err(|e| (format!("{to} to accept the message"), refused(&e))),
        Step::Publish { subject, payload } => t
            .publish(subject, payload.bytes())
            .map(|_| ())
            .map_err(|e| (format!("a publish on {subject}"), refused(&e))),
        Step::Crash { id } => t
            .crash(id)
            .await
            .map_err(|e| (format!("{id} to take the crash"), refused(&e))),
        Step::Request {
            to,
            payload,
            expect,
        } => request(t, to, payload, expect).await,
        Step::ExpectPublish {
            pattern,
            from,
            payload,
        } => expect_publish(t, pattern, from.as_deref(), payload.as_ref()).await,
        Step::ExpectNoPublish { pattern, within } => t
            .expect_nothing_published(pattern, *within)
            .await
            .map_err(|e| {
                (
                    format!("nothing published on {pattern} within {within:?}"),
                    outcome_of(&e),
                )
            }),
        Step::ExpectDeadLetter {
            reason,
            target,
            payload,
        } => expect_dead_letter(t, reason, target.as_deref(), payload.as_ref()).await,
        Step::ExpectHandled { id, count } => expect_handled(t, id, *count, timeout).await,
        Step::ExpectRestart { id, within } => {
            let within = within.unwrap_or(timeout);
            let expected = format!("a restart of {id} within {within:?}");
            match tokio::time::timeout(within, t.expect_restart(id)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err((expected, outcome_of(&e))),
                Err(_) => Err((expected, format!("none came within {within:?}"))),
            }
        }
    }
}

async fn request(
    t: &TestHost,
    to: &str,
    payload: &PayloadSpec,
    expect: &ReplyExpectation,
) -> Result<(), Unmet> {
    let answer = t.request(to, payload.bytes()).await;
    match (expect, answer) {
        (ReplyExpectation::Anything, _) => Ok(()),
        (ReplyExpectation::Reply(want), Ok(Some(reply))) if want.matches(&reply) => Ok(()),
        (ReplyExpectation::Reply(want), Ok(Some(reply))) => Err((
            format!("the reply {want}"),
            format!("{to} replied {}", shown(&reply)),
        )),
        (ReplyExpectation::Reply(want), Ok(None)) => Err((
            format!("the reply {want}"),
            format!("{to} handled the request without replying"),
        )),
        (ReplyExpectation::Reply(want), Err(e)) => Err((
            format!("the reply {want}"),
            format!("the request failed: {}", outcome_of(&e)),
        )),
        (ReplyExpectation::Error(want), Err(e)) if e.to_string().contains(want.as_str()) => Ok(()),
        (ReplyExpectation::Error(want), Err(e)) => Err((
            format!("the request to fail with `{want}`"),
            format!("it failed with: {e}"),
        )),
        (ReplyExpectation::Error(want), Ok(reply)) => Err((
            format!("the request to fail with `{want}`"),
            match reply {
                Some(r) => format!("{to} replied {}", shown(&r)),
                None => format!("{to} handled it without replying"),
            },
        )),
    }
}

fn shown(payload: &[u8]) -> String {
    codec::display(payload, SHOWN_CHARS)
}

fn refused(e: &KitError) -> String {
    format!("refused: {e}")
}

/// The outcome of a failed expectation (without the traffic, which the
/// report prints once), or the error.
fn outcome_of(e: &KitError) -> String {
    match e.expectation() {
        Some(failed) => failed.outcome.clone(),
        None => e.to_string(),
    }
}

/// `expect_publish`: the first publish on `pattern`, from `from` and of
/// `payload` when they are given.
async fn expect_publish(
    t: &TestHost,
    pattern: &str,
    from: Option<&str>,
    payload: Option<&PayloadSpec>,
) -> Result<(), Unmet> {
    let expected = format!(
        "a publish on {pattern}{}{}",
        from.map(|f| format!(" from {f}")).unwrap_or_default(),
        payload.map(|p| format!(" of {p}")).unwrap_or_default()
    );
    let p = t
        .expect_published(pattern)
        .await
        .map_err(|e| (expected.clone(), outcome_of(&e)))?;
    if from.is_some_and(|f| p.sender.as_deref() != Some(f)) {
        return Err((
            expected,
            format!(
                "the first on {} came from {}",
                p.subject,
                p.sender.as_deref().unwrap_or("the test")
            ),
        ));
    }
    match payload {
        Some(want) if !want.matches(&p.payload) => Err((
            expected,
            format!("the first on {} was {}", p.subject, shown(&p.payload)),
        )),
        _ => Ok(()),
    }
}

/// `expect_dead_letter`: the first dead letter with `reason`, for `target`
/// and of `payload` when they are given.
async fn expect_dead_letter(
    t: &TestHost,
    reason: &str,
    target: Option<&str>,
    payload: Option<&PayloadSpec>,
) -> Result<(), Unmet> {
    let expected = format!(
        "a dead letter `{reason}`{}{}",
        target.map(|f| format!(" for {f}")).unwrap_or_default(),
        payload.map(|p| format!(" of {p}")).unwrap_or_default()
    );
    let d = t
        .expect_dead_letter(reason)
        .await
        .map_err(|e| (expected.clone(), outcome_of(&e)))?;
    if target.is_some_and(|w| d.target != w) {
        return Err((expected, format!("the first was for {}", d.target)));
    }
    match payload {
        Some(want) if !want.matches(&d.payload) => {
            Err((expected, format!("the first was {}", shown(&d.payload))))
        }
        _ => Ok(()),
    }
}

/// `expect_handled`: component `id` has handled `count` messages within
/// `timeout`.
async fn expect_handled(
    t: &TestHost,
    id: &str,
    count: u64,
    timeout: Duration,
) -> Result<(), Unmet> {
    let expected = format!("{id} to have handled {count} message(s) within {timeout:?}");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let handled = t.info(id).map(|i| i.handled);
        if handled.is_some_and(|h| h >= count) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err((
                expected,
                match handled {
                    Some(h) => format!("it had handled {h}"),
                    None => format!("no component {id} is running"),
                },
            ));
        }
        tokio::time::sleep(HANDLED_POLL).await;
    }
}
