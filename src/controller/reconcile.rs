//! One reconcile of one runner: decide on an observation, and if a step is proposed, decide again
//! on a fresh full observation, pass the step through the guard, apply it, and check what the
//! cloud answered. `run`, `run --once` and the daemon share this; `plan` only decides.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::account::{AccountError, AccountGuard};
use crate::clock::Clock;
use crate::cloud::{Applied, Cloud, CloudError, Detail};
use crate::config::Config;
use crate::core::classify::MarkStatus;
use crate::core::{
    self, Actor, Decision, Halt, HaltReason, Phase, RecordWrite, Refusal, RunnerMemory,
    RunnerObservation, RunnerSpec, Shard, Step, StickyHalt, runbook,
};
use crate::lease::Standing;
use crate::telemetry::{Event, Metrics, StatusBoard};

/// What every reconcile needs, shared by the runners of one pass.
pub struct Context<C> {
    pub cloud: Arc<C>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub board: StatusBoard,
    pub account: AccountGuard,
    /// Once cancelled, no new call is started: the one in flight finishes, nothing follows it.
    pub cancel: CancellationToken,
    /// The desired-state file as it is now (the daemon's watch); `None` for one-shot passes,
    /// whose file does not change under them.
    pub latest: Option<watch::Receiver<Arc<Config>>>,
    /// The leadership this pass acts in: a standby only observes and reports; a leader acts
    /// only while its term is the one the pass began in (docs/high-availability.md).
    pub standing: Standing,
}

impl<C> Context<C> {
    /// Whether `spec` is still the runner's entry in the file in force now. A pass decides on
    /// the file as it was when the pass began; an edit that lands meanwhile (paused, another
    /// shard or revision, the runner removed) stops every step of the old entry not yet sent.
    fn still_desired(&self, spec: &RunnerSpec) -> bool {
        self.latest.as_ref().is_none_or(|latest| {
            latest
                .borrow()
                .runners
                .iter()
                .any(|current| current == spec)
        })
    }
}

impl<C: Cloud> Context<C> {
    fn may_act(&self) -> bool {
        self.standing.is_leader() && self.cloud.standing() == self.standing
    }
}

/// What the controller keeps about one runner between passes. All of it may be lost in a
/// restart; the world and the durable mark hold everything that matters.
#[derive(Debug, Default)]
pub struct RunnerState {
    pub memory: RunnerMemory,
    /// The phase last reported, and when the runner was first seen in it.
    phase: Option<(Phase, DateTime<Utc>)>,
    /// The halt last reported, so that a halt is logged when raised rather than every pass.
    halt: Option<HaltReason>,
    /// Whether the last decision was mid-deployment: such runners are observed in full.
    in_transition: bool,
}

impl RunnerState {
    /// A runner never decided on yet is observed lightly too: at start-up a fleet of thousands
    /// would otherwise read every target group's health at once (ELB's describe calls refill at
    /// about 10/s). One found mid-deployment is observed in full from its next pass, and every
    /// step is decided on a full observation anyway.
    pub fn detail(&self) -> Detail {
        if self.in_transition {
            Detail::Full
        } else {
            Detail::Light
        }
    }
}

/// The result of one reconcile.
#[derive(Debug)]
pub struct Reconciled {
    pub decision: Decision,
    /// The step applied, when the cloud accepted it.
    pub applied: Option<Step>,
    /// A failed call: the runner backs off before it is observed again.
    pub error: Option<CloudError>,
}

enum Acted {
    /// The cloud accepted the step (which the fresh decision proposed).
    Applied(Decision, Step),
    /// The fresh observation no longer proposes the step: report what it says instead.
    Moved(Decision),
    /// Not acted on: halted for this pass (guard refusal, wrong account) or halted for good (the
    /// cloud's answer revealed a conflict or a missing resource).
    Halted(Decision),
    Failed(Decision, CloudError),
    /// Shutting down: nothing new is started; the first decision stands.
    Skipped(Decision),
}

pub async fn reconcile<C: Cloud>(
    ctx: &Context<C>,
    spec: &RunnerSpec,
    obs: RunnerObservation,
    state: &mut RunnerState,
) -> Reconciled {
    let _timer = ctx.metrics.reconcile_timer();
    let now = ctx.clock.now();
    let decision = core::decide(spec, &obs, &state.memory, now);
    state.memory = decision.memory.clone();
    let (decision, applied, error) = if decision.step.is_some() && !spec.paused && ctx.may_act() {
        match act(ctx, spec, decision, state).await {
            Acted::Applied(decision, step) => (decision, Some(step), None),
            Acted::Moved(decision) | Acted::Halted(decision) | Acted::Skipped(decision) => {
                (decision, None, None)
            }
            Acted::Failed(decision, e) => (decision, None, Some(e)),
        }
    } else {
        (decision, None, None)
    };
    report(ctx, spec, state, &decision, ctx.clock.now());
    Reconciled {
        decision,
        applied,
        error,
    }
}

async fn act<C: Cloud>(
    ctx: &Context<C>,
    spec: &RunnerSpec,
    first: Decision,
    state: &mut RunnerState,
) -> Acted {
    if ctx.cancel.is_cancelled() {
        return Acted::Skipped(first);
    }
    let fresh = match observe_one(ctx.cloud.as_ref(), spec, Detail::Fresh).await {
        Ok(fresh) => fresh,
        Err(e) => return failed_call(ctx, spec, first, e, "observe"),
    };
    let Some(proposed) = first.step else {
        return Acted::Moved(first);
    };
    let now = ctx.clock.now();
    let decision = core::decide(spec, &fresh, &state.memory, now);
    state.memory = decision.memory.clone();
    let Some(step) = decision.step.clone().filter(|s| same_step(s, &proposed)) else {
        return Acted::Moved(decision);
    };
    if let Err(refusal) = core::guard(&step, spec, &fresh, &state.memory, Actor::Controller, now) {
        return Acted::Halted(refused(ctx, spec, decision, &refusal));
    }
    if ctx.cancel.is_cancelled() || !ctx.may_act() {
        return Acted::Skipped(decision);
    }
    match ctx.account.verify(ctx.cloud.as_ref()).await {
        Ok(_) => {}
        Err(AccountError::Unknown(e)) => return failed_call(ctx, spec, decision, e, "verify"),
        Err(mismatch @ AccountError::Mismatch { .. }) => {
            let refusal = Refusal {
                invariant: core::Invariant::ExpectedAccount,
                message: mismatch.to_string(),
            };
            return Acted::Halted(refused(ctx, spec, decision, &refusal));
        }
    }
    // The last thing before the call: everything above awaited, and the file may have moved.
    if !ctx.still_desired(spec) {
        info!(runner = %spec.name, step = step.name(), "not sent: the desired state changed");
        return Acted::Moved(decision);
    }
    info!(runner = %spec.name, step = step.name(), "{}", step.describe());
    let answer = ctx.cloud.apply(spec, &step).await;
    let now = ctx.clock.now();
    match answer {
        Ok(applied) => {
            if let Some((halt, latest)) = check_write(spec, &step, &applied) {
                return Acted::Halted(stick(spec, state, decision, halt, Some(latest)));
            }
            ctx.board
                .record_event(&spec.name, Event::normal(now, step.name(), step.describe()));
            count_deployment(ctx, spec, &decision, &step, now);
            Acted::Applied(decision, step)
        }
        Err(CloudError::ResourceMissing { what, message }) => {
            let halt = runbook::update_resource_missing(
                spec,
                &format!("{}: {what} does not exist: {message}", step.describe()),
            );
            ctx.metrics.reconcile_error(&spec.name, "resource_missing");
            Acted::Halted(stick(spec, state, decision, halt, None))
        }
        Err(e) => failed_call(ctx, spec, decision, e, step.name()),
    }
}

/// Observes a single runner.
pub async fn observe_one<C: Cloud>(
    cloud: &C,
    spec: &RunnerSpec,
    detail: Detail,
) -> Result<RunnerObservation, CloudError> {
    cloud
        .observe(&[spec], detail)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| CloudError::Api {
            service: "switchyard",
            operation: "observe",
            code: "NoObservation".into(),
            message: format!("the cloud returned no observation for runner {}", spec.name),
        })
}

/// A step of the first decision is taken only if the fresh one still proposes it. A new mark's
/// id and a record's timestamp may differ between the two; the kind of step and its target may
/// not.
fn same_step(a: &Step, b: &Step) -> bool {
    let purpose = |s: &Step| match s {
        Step::WriteRecord { purpose, .. } => Some(std::mem::discriminant(purpose)),
        _ => None,
    };
    a.name() == b.name() && a.shard() == b.shard() && purpose(a) == purpose(b)
}

/// A `WriteRecord` must have produced exactly the next version, and reading it back must show
/// exactly what was written; anything else means another writer got in between. Returns the
/// halt and the latest version seen.
pub fn check_write(spec: &RunnerSpec, step: &Step, applied: &Applied) -> Option<(Halt, i64)> {
    let Step::WriteRecord {
        record,
        expected_version,
        ..
    } = step
    else {
        return None;
    };
    let Applied::RecordWritten { version, read_back } = applied else {
        return None;
    };
    let expected = expected_version.map_or(1, |v| v + 1);
    let ours = record.to_json();
    let problem = if *version != expected {
        Some(format!(
            "the write produced version {version}, expected {expected}"
        ))
    } else {
        match read_back {
            Some((value, v)) if *v == expected && *value == ours => None,
            Some((value, v)) => Some(format!(
                "read back {value} at version {v}, expected {ours} at version {expected}"
            )),
            // The version alone proves no other write came between our observation and our
            // write; a read-back that failed (throttled, timed out) proves nothing more, and is
            // no conflict: the next pass observes afresh.
            None => None,
        }
    }?;
    let latest = read_back
        .as_ref()
        .map_or(*version, |(_, v)| (*v).max(*version));
    Some((runbook::concurrent_modification(spec, &problem), latest))
}

/// A deployment ends with its record (`succeeded`), its failure (`failed`, `rolled_back`), or,
/// `abandoned`, when the mark of an attempt that never ran to a verdict goes: deleted once its
/// shard holds nothing, or replaced by a new attempt's.
fn count_deployment<C: Cloud>(
    ctx: &Context<C>,
    spec: &RunnerSpec,
    decision: &Decision,
    step: &Step,
    now: DateTime<Utc>,
) {
    let ended = |shard: Shard| {
        let facts = &decision.shards.as_ref()?[shard].facts;
        match &facts.mark {
            MarkStatus::InFlight { mark } | MarkStatus::Abandoned { mark } if !facts.deployed => {
                Some(mark.started)
            }
            _ => None,
        }
    };
    let (outcome, started) = match step {
        Step::FailDeployment { mark, outcome, .. } => (outcome.as_str(), mark.started),
        Step::WriteRecord {
            purpose: RecordWrite::Activate { started, .. },
            ..
        } => ("succeeded", *started),
        Step::DeleteMark { shard } | Step::WriteMark { shard, .. } => match ended(*shard) {
            Some(started) => ("abandoned", started),
            None => return,
        },
        _ => return,
    };
    ctx.metrics
        .deployment_finished(&spec.name, outcome, elapsed(started, now), unix(now));
}

/// The guard refused: counted, logged, and the runner is reported halted for this pass; the
/// next observation decides afresh.
fn refused<C: Cloud>(
    ctx: &Context<C>,
    spec: &RunnerSpec,
    decision: Decision,
    refusal: &Refusal,
) -> Decision {
    ctx.metrics
        .invariant_refused(&spec.name, refusal.invariant.as_str());
    error!(runner = %spec.name, invariant = refusal.invariant.as_str(), "refused: {refusal}");
    decision.halted(runbook::invariant_refused(spec, &refusal.to_string()))
}

/// The cloud's answer proved a halt the observation could not show: remember it, so that the
/// runner stays halted until the world moves on.
fn stick(
    spec: &RunnerSpec,
    state: &mut RunnerState,
    decision: Decision,
    halt: Halt,
    record_version: Option<i64>,
) -> Decision {
    state.memory.sticky_halt = Some(StickyHalt {
        reason: halt.reason,
        message: halt.message.clone(),
        record_version,
        desired: (spec.active_shard, spec.revision.clone()),
    });
    let mut decision = decision.halted(halt);
    decision.memory = state.memory.clone();
    decision
}

fn failed_call<C: Cloud>(
    ctx: &Context<C>,
    spec: &RunnerSpec,
    decision: Decision,
    e: CloudError,
    call: &str,
) -> Acted {
    ctx.metrics.reconcile_error(&spec.name, e.kind());
    let now = ctx.clock.now();
    if matches!(e, CloudError::Timeout { .. }) {
        warn!(runner = %spec.name, call, "{e}; the next pass decides from a fresh observation");
    } else {
        warn!(runner = %spec.name, call, "{e}");
    }
    ctx.board
        .record_event(&spec.name, Event::warning(now, "CloudError", e.to_string()));
    Acted::Failed(decision, e)
}

/// Publishes the decision: metrics, the status board, phase and halt changes as events and logs.
fn report<C: Cloud>(
    ctx: &Context<C>,
    spec: &RunnerSpec,
    state: &mut RunnerState,
    decision: &Decision,
    now: DateTime<Utc>,
) {
    ctx.metrics.observe_decision(&spec.name, decision);
    ctx.board.update(spec, decision, now);
    state.in_transition = decision.in_transition();
    match state.phase {
        Some((phase, _)) if phase == decision.phase => {}
        previous => {
            if let Some((phase, since)) = previous {
                ctx.metrics.phase_finished(phase, elapsed(since, now));
                ctx.board.record_event(
                    &spec.name,
                    Event::normal(
                        now,
                        "PhaseChanged",
                        format!("{phase} -> {}", decision.phase),
                    ),
                );
                info!(runner = %spec.name, from = %phase, to = %decision.phase, "phase changed");
            }
            state.phase = Some((decision.phase, now));
        }
    }
    let reason = decision.halt.as_ref().map(|h| h.reason);
    if reason == state.halt {
        return;
    }
    match &decision.halt {
        Some(halt) => {
            error!(
                runner = %spec.name,
                reason = %halt.reason,
                runbook = %halt.runbook,
                repair = halt.repair.as_deref().unwrap_or("-"),
                "halted: {}",
                halt.message
            );
            ctx.board.record_event(
                &spec.name,
                Event::warning(now, halt.reason.as_str(), halt.message.clone()),
            );
        }
        None => {
            let was = state.halt.map_or("", HaltReason::as_str);
            info!(runner = %spec.name, reason = was, "halt cleared");
            ctx.board.record_event(
                &spec.name,
                Event::normal(now, "HaltCleared", format!("{was} no longer holds")),
            );
        }
    }
    state.halt = reason;
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}
