//! The one gate every mutation passes (docs/invariants.md). Decide proposes, guard disposes:
//! whoever proposed a step (the loop, `repair`, `retry`), it is checked here against a fresh
//! observation, and a refusal is a halt and a metric, never a silent skip.

use serde::Serialize;

use super::classify::{Assessment, MarkStatus, assess};
use super::mark::MarkState;
use super::memory::RunnerMemory;
use super::observation::RunnerObservation;
use super::spec::RunnerSpec;
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
    /// 4. The active and the serving shard are never scaled down.
    LiveShardKept,
    /// 5. A halted or paused runner receives no mutation from the controller.
    HaltedUntouched,
    /// 6. A failed (shard, revision) is not provisioned again until an operator retries.
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
}

pub(crate) type Check = fn(&Context<'_>) -> Result<(), String>;

/// Each invariant's check, in one table so that a test can take any one of them out.
pub(crate) const CHECKS: [(Invariant, Check); 7] = [
    (Invariant::ExpectedAccount, expected_account),
    (Invariant::HaltedUntouched, halted_untouched),
    (Invariant::HealthyTrafficTarget, healthy_traffic_target),
    (Invariant::HonestRecord, honest_record),
    (Invariant::NoForeignProvision, no_foreign_provision),
    (Invariant::LiveShardKept, live_shard_kept),
    (Invariant::FailedOnce, failed_once),
];

pub fn guard(
    step: &Step,
    spec: &RunnerSpec,
    obs: &RunnerObservation,
    memory: &RunnerMemory,
    actor: Actor,
) -> Result<(), Refusal> {
    guard_with(&CHECKS, step, spec, obs, memory, actor)
}

pub(crate) fn guard_with(
    checks: &[(Invariant, Check)],
    step: &Step,
    spec: &RunnerSpec,
    obs: &RunnerObservation,
    memory: &RunnerMemory,
    actor: Actor,
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
    };
    for (invariant, check) in checks {
        check(&context).map_err(|message| Refusal {
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

fn halted_untouched(c: &Context<'_>) -> Result<(), String> {
    if c.actor == Actor::Operator {
        return Ok(());
    }
    if c.spec.paused {
        return Err("the runner is paused".into());
    }
    if let Some(halt) = &c.world.halt {
        return Err(format!("the runner is halted: {}", halt.reason));
    }
    if let Some(sticky) = c
        .memory
        .sticky_halt_in_force(c.spec.desired(), c.obs.record.version())
    {
        return Err(format!("the runner is halted: {}", sticky.reason));
    }
    Ok(())
}

fn healthy_traffic_target(c: &Context<'_>) -> Result<(), String> {
    let Step::SwitchListener { to } = c.step else {
        return Ok(());
    };
    // `required` follows the shard's own desired capacity (docs/how-it-decides.md: a shard is
    // judged by what its ASG asks for; the provisioning step sets that to the configured capacity).
    let facts = &c.world.facts[*to];
    if facts.healthy_targets < facts.required || facts.desired_capacity == 0 {
        return Err(format!(
            "{to} has {} healthy targets, {} required",
            facts.healthy_targets, facts.required
        ));
    }
    Ok(())
}

fn honest_record(c: &Context<'_>) -> Result<(), String> {
    let Step::WriteRecord {
        record,
        expected_version,
        ..
    } = c.step
    else {
        return Ok(());
    };
    if *expected_version != c.world.record_version {
        return Err(format!(
            "the record is at version {:?}, the step was decided on {:?}",
            c.world.record_version, expected_version
        ));
    }
    if let Some(active) = record.active_shard {
        let facts = &c.world.facts[active];
        if !facts.healthy || !facts.serving {
            return Err(format!(
                "{active} would be recorded active but is {} and {}",
                if facts.healthy {
                    "healthy"
                } else {
                    "not healthy"
                },
                if facts.serving {
                    "serving"
                } else {
                    "not serving"
                }
            ));
        }
    }
    for shard in &record.deployed_shards {
        if !c.world.record.is_deployed(*shard) && !c.world.facts[*shard].healthy {
            return Err(format!(
                "{shard} would be added to deployed_shards but is not healthy"
            ));
        }
    }
    Ok(())
}

fn no_foreign_provision(c: &Context<'_>) -> Result<(), String> {
    let shard = match c.step {
        Step::WriteMark { shard, mark } => {
            let (desired, revision) = c.spec.desired();
            if !mark.is_for(desired, revision) || *shard != desired {
                return Err(format!("the mark is not for the desired {desired}"));
            }
            // Our own attempt (in flight or left behind) may be started afresh; anybody
            // else's healthy shard may not.
            if c.world.facts[*shard].healthy && !c.world.facts[*shard].mark.is_ours() {
                return Err(format!(
                    "{shard} is healthy but neither deployed nor switchyard's own provision"
                ));
            }
            *shard
        }
        Step::ConfigureShard { shard, .. } | Step::AttachTargetGroup { shard } => {
            if !matches!(c.world.facts[*shard].mark, MarkStatus::InFlight { .. }) {
                return Err(format!("{shard} carries no in-flight mark of switchyard's"));
            }
            *shard
        }
        _ => return Ok(()),
    };
    let facts = &c.world.facts[shard];
    if facts.active || facts.deployed {
        return Err(format!("{shard} is active or deployed"));
    }
    Ok(())
}

fn live_shard_kept(c: &Context<'_>) -> Result<(), String> {
    let (shard, shrinks) = match c.step {
        Step::ScaleToZero { shard } => (*shard, true),
        Step::ConfigureShard {
            shard, capacity, ..
        } => (*shard, *capacity < c.world.facts[*shard].desired_capacity),
        _ => return Ok(()),
    };
    let facts = &c.world.facts[shard];
    let takes_traffic = c
        .world
        .forward_to
        .contains(&c.spec.shards[shard].target_group_arn);
    if shrinks && (facts.active || facts.serving || takes_traffic) {
        return Err(format!(
            "{shard} is {}",
            if facts.active { "active" } else { "serving" }
        ));
    }
    Ok(())
}

fn failed_once(c: &Context<'_>) -> Result<(), String> {
    match c.step {
        Step::WriteMark { shard, mark } => {
            if let Some(Ok(existing)) = c.obs.asg(*shard).and_then(|asg| asg.mark())
                && existing.state == MarkState::Failed
                && existing.is_for(*shard, mark.revision.as_deref())
            {
                return Err(format!(
                    "revision {} already failed on {shard}; only `switchyard retry` clears that",
                    mark.revision.as_deref().unwrap_or("(unchanged)")
                ));
            }
            Ok(())
        }
        Step::DeleteMark { shard } if c.actor == Actor::Controller => {
            let facts = &c.world.facts[*shard];
            let retired = facts.deployed && !facts.active && !facts.serving;
            let provisioning = match facts.mark {
                MarkStatus::Abandoned { .. } => true,
                MarkStatus::InFlight { .. } => retired,
                _ => false,
            };
            if provisioning && !facts.has_capacity {
                Ok(())
            } else {
                Err(
                    "only an operator clears a failed mark; the controller clears only the \
                     mark of an abandoned attempt or a retired shard that holds nothing"
                        .into(),
                )
            }
        }
        _ => Ok(()),
    }
}
