//! The one gate every mutation passes (docs/invariants.md). Decide proposes, guard disposes:
//! whoever proposed a step (the loop, `repair`, `retry`), it is checked here against a fresh
//! observation, and a refusal is a halt and a metric, never a silent skip.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::classify::{Assessment, MarkStatus, ShardFacts, assess};
use super::mark::MarkState;
use super::memory::RunnerMemory;
use super::observation::RunnerObservation;
use super::shard::Shard;
use super::spec::RunnerSpec;
use super::status_record::StatusRecord;
use super::step::Step;

/// Who proposes the step: the loop, or an operator's command (`repair`, `retry`), which exists
/// to resolve a halt and so is not stopped by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Controller,
    Operator,
}

/// The invariants of docs/invariants.md that a single step can break. Invariant 7 (idempotency) is
/// a property of the steps themselves (each sets a value) and is tested on the clouds instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Invariant {
    /// 1. Traffic only moves to a TG with at least `required` healthy targets.
    HealthyTrafficTarget,
    /// 2. The record only names healthy, serving shards active and healthy shards deployed,
    ///    and is never overwritten while malformed or changed since it was read.
    HonestRecord,
    /// 3. Nothing is provisioned onto a healthy shard that is neither deployed nor our own
    ///    in-flight provision (nor onto the active or a deployed shard).
    NoForeignProvision,
    /// 4. The active shard and any shard that takes traffic are never scaled down; a shard that
    ///    took traffic is scaled down only `drainDelay` after the listener left it.
    LiveShardKept,
    /// 5. A halted or paused runner receives no mutation from the controller.
    HaltedUntouched,
    /// 6. A (shard, revision) is provisioned at most once per change of the desired state: not
    ///    again after it failed (until an operator retries), nor because a controller restarted.
    FailedOnce,
    /// 8. Nothing is mutated in an account other than `expectedAccountId`.
    ExpectedAccount,
}

impl Invariant {
    /// The `invariant` label of `switchyard_invariant_refusals_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Invariant::HealthyTrafficTarget => "healthy_traffic_target",
            Invariant::HonestRecord => "honest_record",
            Invariant::NoForeignProvision => "no_foreign_provision",
            Invariant::LiveShardKept => "live_shard_kept",
            Invariant::HaltedUntouched => "halted_untouched",
            Invariant::FailedOnce => "failed_once",
            Invariant::ExpectedAccount => "expected_account",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub invariant: Invariant,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invariant {} refused: {}",
            self.invariant.as_str(),
            self.message
        )
    }
}

pub(crate) struct Context<'a> {
    step: &'a Step,
    spec: &'a RunnerSpec,
    obs: &'a RunnerObservation,
    memory: &'a RunnerMemory,
    actor: Actor,
    world: &'a Assessment,
    now: DateTime<Utc>,
}

/// One branch of an invariant's check: `Err` says why the step breaks it.
pub(crate) type Rule = fn(&Context<'_>) -> Result<(), String>;

/// Every rule, each one branch of one invariant's check, in one table so that a test can take
/// any single one out and show that its own case then goes through.
pub(crate) const RULES: [(Invariant, &str, Rule); 21] = [
    (Invariant::ExpectedAccount, "account", expected_account),
    (Invariant::HaltedUntouched, "paused", paused),
    (Invariant::HaltedUntouched, "halted", halted),
    (Invariant::HaltedUntouched, "sticky_halt", sticky_halt),
    (
        Invariant::HealthyTrafficTarget,
        "short_of_required",
        short_of_required,
    ),
    (Invariant::HealthyTrafficTarget, "no_capacity", no_capacity),
    (Invariant::HonestRecord, "version", record_version),
    (
        Invariant::HonestRecord,
        "active_unhealthy",
        active_unhealthy,
    ),
    (
        Invariant::HonestRecord,
        "active_not_serving",
        active_not_serving,
    ),
    (
        Invariant::HonestRecord,
        "deployed_unhealthy",
        deployed_unhealthy,
    ),
    (
        Invariant::NoForeignProvision,
        "mark_not_desired",
        mark_not_desired,
    ),
    (
        Invariant::NoForeignProvision,
        "foreign_healthy",
        foreign_healthy,
    ),
    (
        Invariant::NoForeignProvision,
        "no_in_flight_mark",
        no_in_flight_mark,
    ),
    (
        Invariant::NoForeignProvision,
        "live_or_recorded",
        live_or_recorded,
    ),
    (Invariant::LiveShardKept, "active", shrinks_active),
    (Invariant::LiveShardKept, "takes_traffic", shrinks_traffic),
    (Invariant::LiveShardKept, "drain_recorded", drain_recorded),
    (Invariant::LiveShardKept, "drain_seen", drain_seen),
    (Invariant::FailedOnce, "failed_revision", failed_revision),
    (
        Invariant::FailedOnce,
        "attempt_in_flight",
        attempt_in_flight,
    ),
    (Invariant::FailedOnce, "mark_deleted", mark_deleted),
];

/// The one gate of docs/invariants.md: whoever proposed `step` (the loop, `repair`, `retry`), it is
/// checked against `obs`, an observation taken right before the call, with `memory` after the
/// decision on that observation and `now`. `Err` names the invariant the step would break; the
/// caller counts it, halts the runner for the pass and sends nothing.
pub fn guard(
    step: &Step,
    spec: &RunnerSpec,
    obs: &RunnerObservation,
    memory: &RunnerMemory,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    guard_with(&RULES, step, spec, obs, memory, actor, now)
}

pub(crate) fn guard_with(
    rules: &[(Invariant, &str, Rule)],
    step: &Step,
    spec: &RunnerSpec,
    obs: &RunnerObservation,
    memory: &RunnerMemory,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    // Nothing can be verified on a world with a resource missing or a malformed record.
    let world = assess(spec, obs).map_err(|halt| Refusal {
        invariant: Invariant::HaltedUntouched,
        message: format!("{}: {}", halt.reason, halt.message),
    })?;
    let context = Context {
        step,
        spec,
        obs,
        memory,
        actor,
        world: &world,
        now,
    };
    for (invariant, _, rule) in rules {
        rule(&context).map_err(|message| Refusal {
            invariant: *invariant,
            message: format!("{}: {message}", step.describe()),
        })?;
    }
    Ok(())
}

fn expected_account(c: &Context<'_>) -> Result<(), String> {
    match &c.spec.expected_account_id {
        Some(expected) if *expected != c.obs.account_id => Err(format!(
            "acting in account {} but expectedAccountId is {expected}",
            c.obs.account_id
        )),
        _ => Ok(()),
    }
}

// ---- 5. a halted or paused runner receives no mutation (an operator's repair is exempt) ----

fn paused(c: &Context<'_>) -> Result<(), String> {
    match c.actor == Actor::Controller && c.spec.paused {
        true => Err("the runner is paused".into()),
        false => Ok(()),
    }
}

fn halted(c: &Context<'_>) -> Result<(), String> {
    match (&c.world.halt, c.actor) {
        (Some(halt), Actor::Controller) => Err(format!("the runner is halted: {}", halt.reason)),
        _ => Ok(()),
    }
}

fn sticky_halt(c: &Context<'_>) -> Result<(), String> {
    let sticky = c
        .memory
        .sticky_halt_in_force(c.spec.desired(), c.obs.record.version());
    match (sticky, c.actor) {
        (Some(sticky), Actor::Controller) => {
            Err(format!("the runner is halted: {}", sticky.reason))
        }
        _ => Ok(()),
    }
}

// ---- 1. traffic only to a shard with `required` healthy targets ----

fn switch_target<'c>(c: &'c Context<'_>) -> Option<(Shard, &'c ShardFacts)> {
    match c.step {
        Step::SwitchListener { to } => Some((*to, &c.world.facts[*to])),
        _ => None,
    }
}

fn short_of_required(c: &Context<'_>) -> Result<(), String> {
    // `required` follows the in-flight attempt's own capacity (from its mark), else the ASG's.
    match switch_target(c) {
        Some((to, f)) if f.healthy_targets < f.required => Err(format!(
            "{to} has {} healthy targets, {} required",
            f.healthy_targets, f.required
        )),
        _ => Ok(()),
    }
}

fn no_capacity(c: &Context<'_>) -> Result<(), String> {
    match switch_target(c) {
        Some((to, f)) if f.desired_capacity == 0 => {
            Err(format!("{to} is at capacity 0: its instances are going"))
        }
        _ => Ok(()),
    }
}

// ---- 2. the record says only what is true ----

fn record_write<'c>(c: &'c Context<'_>) -> Option<(&'c StatusRecord, Option<i64>)> {
    match c.step {
        Step::WriteRecord {
            record,
            expected_version,
            ..
        } => Some((record, *expected_version)),
        _ => None,
    }
}

fn record_version(c: &Context<'_>) -> Result<(), String> {
    match record_write(c) {
        Some((_, expected)) if expected != c.world.record_version => Err(format!(
            "the record is at version {:?}, the step was decided on {:?}",
            c.world.record_version, expected
        )),
        _ => Ok(()),
    }
}

fn recorded_active<'c>(c: &'c Context<'_>) -> Option<(Shard, &'c ShardFacts)> {
    let (record, _) = record_write(c)?;
    let active = record.active_shard?;
    Some((active, &c.world.facts[active]))
}

fn active_unhealthy(c: &Context<'_>) -> Result<(), String> {
    match recorded_active(c) {
        Some((active, f)) if !f.healthy => Err(format!(
            "{active} would be recorded active but is not healthy"
        )),
        _ => Ok(()),
    }
}

fn active_not_serving(c: &Context<'_>) -> Result<(), String> {
    match recorded_active(c) {
        Some((active, f)) if !f.serving => Err(format!(
            "{active} would be recorded active but is not serving"
        )),
        _ => Ok(()),
    }
}

fn deployed_unhealthy(c: &Context<'_>) -> Result<(), String> {
    let Some((record, _)) = record_write(c) else {
        return Ok(());
    };
    match record
        .deployed_shards
        .iter()
        .find(|&&s| !c.world.record.is_deployed(s) && !c.world.facts[s].healthy)
    {
        Some(shard) => Err(format!(
            "{shard} would be added to deployed_shards but is not healthy"
        )),
        None => Ok(()),
    }
}

// ---- 3. nothing provisioned onto a shard that is not our own attempt ----

fn mark_not_desired(c: &Context<'_>) -> Result<(), String> {
    let Step::WriteMark { shard, mark } = c.step else {
        return Ok(());
    };
    let (desired, revision) = c.spec.desired();
    match mark.is_for(desired, revision) && *shard == desired {
        true => Ok(()),
        false => Err(format!("the mark is not for the desired {desired}")),
    }
}

fn foreign_healthy(c: &Context<'_>) -> Result<(), String> {
    let Step::WriteMark { shard, .. } = c.step else {
        return Ok(());
    };
    // Our own attempt (in flight, or left behind and taking no traffic) may be started afresh;
    // anybody else's healthy shard may not.
    let f = &c.world.facts[*shard];
    match f.healthy && !f.own_attempt {
        true => Err(format!(
            "{shard} is healthy but neither deployed nor switchyard's own provision"
        )),
        false => Ok(()),
    }
}

fn no_in_flight_mark(c: &Context<'_>) -> Result<(), String> {
    match c.step {
        Step::ConfigureShard { shard, .. } | Step::AttachTargetGroup { shard }
            if c.world.facts[*shard].mark.in_flight().is_none() =>
        {
            Err(format!("{shard} carries no in-flight mark of switchyard's"))
        }
        _ => Ok(()),
    }
}

fn live_or_recorded(c: &Context<'_>) -> Result<(), String> {
    let shard = match c.step {
        Step::WriteMark { shard, .. }
        | Step::ConfigureShard { shard, .. }
        | Step::AttachTargetGroup { shard } => *shard,
        _ => return Ok(()),
    };
    let f = &c.world.facts[shard];
    match f.active || f.deployed {
        true => Err(format!("{shard} is active or deployed")),
        false => Ok(()),
    }
}

// ---- 4. a live shard is kept, and a shard that took traffic drains before it goes ----

/// The shard a step shrinks, and whether it goes to zero.
fn shrunk(c: &Context<'_>) -> Option<(Shard, bool)> {
    match c.step {
        Step::ScaleToZero { shard } => Some((*shard, true)),
        Step::ConfigureShard {
            shard, capacity, ..
        } if *capacity < c.world.facts[*shard].desired_capacity => Some((*shard, false)),
        _ => None,
    }
}

fn shrinks_active(c: &Context<'_>) -> Result<(), String> {
    match shrunk(c) {
        Some((shard, _)) if c.world.facts[shard].active => Err(format!("{shard} is active")),
        _ => Ok(()),
    }
}

fn shrinks_traffic(c: &Context<'_>) -> Result<(), String> {
    match shrunk(c) {
        Some((shard, _)) if c.world.facts[shard].takes_traffic => {
            Err(format!("{shard} takes traffic"))
        }
        _ => Ok(()),
    }
}

/// Refuses a scale to zero before `until` (invariant 4's drain).
fn drains_until(
    c: &Context<'_>,
    until: impl Fn(Shard) -> Option<DateTime<Utc>>,
) -> Result<(), String> {
    match shrunk(c) {
        Some((shard, true)) => match until(shard) {
            Some(until) if c.now < until => {
                Err(format!("{shard} took traffic and drains until {until}"))
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// A retired shard drains from the recorded switch (`deployment_ts`).
fn drain_recorded(c: &Context<'_>) -> Result<(), String> {
    drains_until(c, |shard| {
        let ts = c.world.record.deployment_ts?;
        c.world.facts[shard]
            .deployed
            .then(|| ts + c.spec.settings.drain_delay)
    })
}

/// Any shard drains from when this controller saw traffic leave it, or, just started, from its
/// first look (it cannot know what the listener did before).
fn drain_seen(c: &Context<'_>) -> Result<(), String> {
    drains_until(c, |shard| {
        c.memory.drained_at(shard, c.spec.settings.drain_delay)
    })
}

// ---- 6. an attempt at most once ----

fn failed_revision(c: &Context<'_>) -> Result<(), String> {
    let Step::WriteMark { shard, mark } = c.step else {
        return Ok(());
    };
    match c.obs.asg(*shard).and_then(|asg| asg.mark()) {
        Some(Ok(existing))
            if existing.state == MarkState::Failed
                && existing.is_for(*shard, mark.revision.as_deref()) =>
        {
            Err(format!(
                "revision {} already failed on {shard}; only `switchyard retry` clears that",
                mark.revision.as_deref().unwrap_or("(unchanged)")
            ))
        }
        _ => Ok(()),
    }
}

fn attempt_in_flight(c: &Context<'_>) -> Result<(), String> {
    let Step::WriteMark { shard, mark } = c.step else {
        return Ok(());
    };
    let Some(Ok(existing)) = c.obs.asg(*shard).and_then(|asg| asg.mark()) else {
        return Ok(());
    };
    // A new mark over the live attempt of the same shard and revision starts it afresh: only
    // for an attempt this controller saw left and returned to, or paused past its deadline;
    // never because a controller restarted (restarts carry no such memory).
    let same_attempt = existing.state == MarkState::Provisioning
        && existing.is_for(*shard, mark.revision.as_deref());
    let seen_interrupted = c.memory.abandoned[*shard].as_ref() == Some(&existing.id)
        || c.memory.paused_over.as_ref() == Some(&existing.id);
    match same_attempt && !seen_interrupted {
        true => Err(format!(
            "the attempt {} of revision {} on {shard} is in flight; it is not started again",
            existing.id,
            mark.revision.as_deref().unwrap_or("(unchanged)")
        )),
        false => Ok(()),
    }
}

fn mark_deleted(c: &Context<'_>) -> Result<(), String> {
    let Step::DeleteMark { shard } = c.step else {
        return Ok(());
    };
    if c.actor == Actor::Operator {
        return Ok(());
    }
    let f = &c.world.facts[*shard];
    let provisioning = matches!(
        f.mark,
        MarkStatus::InFlight { .. } | MarkStatus::Abandoned { .. }
    );
    // History on a deployed shard, or an abandoned attempt that holds nothing.
    let history = f.deployed && provisioning;
    let released =
        matches!(f.mark, MarkStatus::Abandoned { .. }) && !f.has_capacity && !f.takes_traffic;
    match history || released {
        true => Ok(()),
        false => Err(
            "only an operator clears a failed mark; the controller clears only the mark of a \
             recorded attempt or of an abandoned attempt that holds nothing"
                .into(),
        ),
    }
}
