//! The phase machine of docs/how-it-decides.md: from one assessed observation, the phase the runner
//! is in and the one step that moves it on. Waits are judged against `now`; nothing is remembered
//! that the world (the record and the mark) does not also say, except healthy streaks.

use chrono::{DateTime, Utc};

use super::classify::{Assessment, MarkStatus, ShardFacts, assess};
use super::condition::{Condition, ConditionType};
use super::decision::{Decision, ShardReport};
use super::halt::{Halt, HaltReason};
use super::mark::{Mark, MarkState};
use super::memory::{RunnerMemory, Streak};
use super::observation::RunnerObservation;
use super::phase::Phase;
use super::shard::{Shard, ShardPair};
use super::spec::RunnerSpec;
use super::step::{FailOutcome, RecordWrite, Step};

/// The phase, the step (if any) and what is awaited, before halts and `paused` are applied.
struct Plan {
    phase: Phase,
    step: Option<Step>,
    next: String,
}

impl Plan {
    fn wait(phase: Phase, next: impl Into<String>) -> Plan {
        Plan {
            phase,
            step: None,
            next: next.into(),
        }
    }

    fn act(phase: Phase, step: Step) -> Plan {
        Plan {
            phase,
            next: step.describe(),
            step: Some(step),
        }
    }
}

pub fn decide(
    spec: &RunnerSpec,
    obs: &RunnerObservation,
    memory: &RunnerMemory,
    now: DateTime<Utc>,
) -> Decision {
    let mut memory = memory.clone();
    if memory
        .sticky_halt_in_force(spec.desired(), obs.record.version())
        .is_none()
    {
        memory.sticky_halt = None;
    }
    let world = match assess(spec, obs) {
        Ok(world) => world,
        Err(halt) => return halted(spec, halt, None, memory),
    };
    let shards = Some(reports(&world));
    let sticky = memory.sticky_halt.as_ref().map(|s| Halt {
        reason: s.reason,
        message: s.message.clone(),
        ..sticky_runbook(spec, s.reason, &s.message)
    });
    if let Some(halt) = world.halt.clone().or(sticky) {
        memory.healthy_streak = None;
        memory.verified_since = None;
        return halted(spec, halt, shards, memory);
    }

    let plan = plan(spec, &world, &mut memory, now);
    let mut conditions = warnings(spec, &world);
    match plan.phase {
        Phase::Converged => conditions.push(Condition::new(
            ConditionType::Ready,
            "Converged",
            format!("{} is active", spec.active_shard),
        )),
        Phase::Failed => {}
        phase => conditions.push(Condition::new(
            ConditionType::Progressing,
            phase.as_str(),
            plan.next.clone(),
        )),
    }
    if let Some(mark) = world.facts[spec.active_shard].mark.failed()
        && world.record.active_shard != Some(spec.active_shard)
    {
        conditions.push(Condition::new(
            ConditionType::DeploymentFailed,
            "DeploymentFailed",
            format!(
                "the deployment of revision {} to {} started {} failed; it is not retried until \
                 the desired state changes or `switchyard retry --runner {}`",
                mark.revision.as_deref().unwrap_or("(unchanged)"),
                mark.shard,
                mark.started,
                spec.name
            ),
        ));
    }
    if spec.paused {
        // A paused runner is observed, not pursued: its deadline does not run out on it.
        memory.pursuing = None;
    }
    let (step, next) = if spec.paused {
        conditions.push(Condition::new(
            ConditionType::Paused,
            "Paused",
            "paused: true in the desired-state file",
        ));
        let next = match &plan.step {
            Some(step) => format!("paused (would: {})", step.describe()),
            None => format!("paused ({})", plan.next),
        };
        (None, next)
    } else {
        (plan.step, plan.next)
    };
    Decision {
        phase: plan.phase,
        halt: None,
        conditions,
        shards,
        step,
        next,
        memory,
    }
}

fn halted(
    spec: &RunnerSpec,
    halt: Halt,
    shards: Option<ShardPair<ShardReport>>,
    memory: RunnerMemory,
) -> Decision {
    let mut conditions = Vec::new();
    if spec.paused {
        conditions.push(Condition::new(
            ConditionType::Paused,
            "Paused",
            "paused: true in the desired-state file",
        ));
    }
    Decision {
        phase: Phase::Halted,
        halt: None,
        conditions,
        shards,
        step: None,
        next: String::new(),
        memory,
    }
    .halted(halt)
}

fn sticky_runbook(spec: &RunnerSpec, reason: HaltReason, message: &str) -> Halt {
    match reason {
        HaltReason::ConcurrentModification => {
            super::runbook::concurrent_modification(spec, message)
        }
        _ => super::runbook::update_resource_missing(spec, message),
    }
}

fn reports(world: &Assessment) -> ShardPair<ShardReport> {
    ShardPair::from_fn(|shard| ShardReport {
        shard,
        facts: world.facts[shard].clone(),
        class: world.classes[shard],
    })
}

/// Warning conditions: things to tell a human that need no action from the controller.
fn warnings(spec: &RunnerSpec, world: &Assessment) -> Vec<Condition> {
    let mut conditions = Vec::new();
    let desired = spec.active_shard;
    let f = &world.facts;
    if let Some(revision) = &spec.revision
        && world.record.active_shard == Some(desired)
        && f[desired].revision.as_ref() != Some(revision)
    {
        conditions.push(Condition::new(
            ConditionType::RevisionMismatch,
            "RevisionMismatch",
            format!(
                "active shard {desired} runs revision {} but {revision} is desired; the active \
                 shard is never changed in place: name the other shard in activeShard to roll it",
                f[desired].revision.as_deref().unwrap_or("(none)")
            ),
        ));
    }
    let other = desired.other();
    if !f[other].active
        && !f[other].deployed
        && !f[other].healthy
        && asks_capacity(&f[other])
        && !leftover_of_ours(&f[other].mark)
    {
        conditions.push(Condition::new(
            ConditionType::InactiveShardHasCapacity,
            "InactiveShardHasCapacity",
            format!(
                "{other} is neither active, deployed nor desired, and still has desired capacity \
                 {}; switchyard leaves it alone",
                f[other].desired_capacity
            ),
        ));
    }
    if let Some(tg) = spec_tg_settings(world, desired) {
        let window = u64::from(tg.0) * u64::from(tg.1);
        if spec.settings.stability_duration.as_secs() < window {
            conditions.push(Condition::new(
                ConditionType::StabilityWindowTooShort,
                "StabilityWindowTooShort",
                format!(
                    "stabilityDuration {}s is shorter than the target group's \
                     UnhealthyThresholdCount x HealthCheckIntervalSeconds = {window}s: a shard \
                     could look stable while failing checks not yet counted",
                    spec.settings.stability_duration.as_secs()
                ),
            ));
        }
    }
    conditions
}

fn spec_tg_settings(world: &Assessment, shard: Shard) -> Option<(u32, u32)> {
    world.health_checks[shard].map(|h| (h.unhealthy_threshold_count, h.interval_seconds))
}

/// Capacity asked for (as opposed to instances still terminating).
fn asks_capacity(f: &ShardFacts) -> bool {
    f.desired_capacity > 0 || f.min_size > 0
}

/// A mark of an attempt of ours that the desired state has left behind.
fn leftover_of_ours(mark: &MarkStatus) -> bool {
    matches!(
        mark,
        MarkStatus::Abandoned { .. } | MarkStatus::Stale { .. }
    )
}

fn plan(
    spec: &RunnerSpec,
    world: &Assessment,
    memory: &mut RunnerMemory,
    now: DateTime<Utc>,
) -> Plan {
    let desired = spec.active_shard;
    let f = &world.facts;
    let active = world.record.active_shard;
    if active == Some(desired) || f[desired].mark.in_flight().is_none() {
        memory.pursuing = None;
    }
    for shard in Shard::ALL {
        if let MarkStatus::Abandoned { mark } = &f[shard].mark {
            memory.abandoned[shard] = Some(mark.id.clone());
        }
    }

    // A deployed shard that is not active is on its way out: drain, shut down, clean up. This
    // comes first even for the desired shard: the runbook re-provisions from clean.
    if let Some(old) = Shard::ALL
        .into_iter()
        .find(|&s| f[s].deployed && active != Some(s))
    {
        return retire(spec, world, old, now);
    }
    // Capacity left by an attempt of ours that the desired state moved away from.
    if let Some(left) = Shard::ALL.into_iter().find(|&s| {
        s != desired
            && !f[s].active
            && !f[s].deployed
            && leftover_of_ours(&f[s].mark)
            && asks_capacity(&f[s])
            && !takes_traffic(spec, world, s)
    }) {
        return Plan::act(Phase::ShuttingDown, Step::ScaleToZero { shard: left });
    }
    // Once an abandoned attempt holds nothing, its mark goes: should the desired state come
    // back to that shard and revision, the old mark would pass for a live attempt whose clock
    // started long ago, and fail it before it could become stable.
    if let Some(left) = Shard::ALL.into_iter().find(|&s| {
        s != desired
            && !f[s].active
            && !f[s].deployed
            && matches!(f[s].mark, MarkStatus::Abandoned { .. })
            && !f[s].has_capacity
            && !takes_traffic(spec, world, s)
    }) {
        return Plan::act(Phase::CleaningUp, Step::DeleteMark { shard: left });
    }
    if active == Some(desired) {
        memory.healthy_streak = None;
        memory.verified_since = None;
        return Plan::wait(Phase::Converged, "nothing to do");
    }
    match &f[desired].mark {
        MarkStatus::Failed { mark } => failed(spec, world, mark),
        MarkStatus::InFlight { mark } => in_flight(spec, world, mark, memory, now),
        // Only reachable on a first deployment (otherwise TrafficMismatch halts): live traffic
        // on capacity that no current mark of ours explains. Neither scaling it down nor
        // provisioning onto it is safe; a human decides.
        _ if f[desired].serving && f[desired].has_capacity => Plan::wait(
            Phase::Provisioning,
            format!(
                "{desired} is serving capacity that is not this deployment's; if it runs what \
                 you want: switchyard repair mark-deployed --runner {} --shard {desired} --active",
                spec.name
            ),
        ),
        _ if asks_capacity(&f[desired]) && !takes_traffic(spec, world, desired) => {
            Plan::act(Phase::ShuttingDown, Step::ScaleToZero { shard: desired })
        }
        _ if f[desired].instances > 0 => Plan::wait(
            Phase::ShuttingDown,
            format!(
                "waiting for {desired}'s {} leftover instances to terminate before provisioning",
                f[desired].instances
            ),
        ),
        _ => write_mark(spec, desired, now),
    }
}

/// The listener sends the shard traffic, alone or (edited by hand) with the other: such a
/// shard is never scaled down, whatever the record says (invariant 4).
fn takes_traffic(spec: &RunnerSpec, world: &Assessment, shard: Shard) -> bool {
    world
        .forward_to
        .contains(&spec.shards[shard].target_group_arn)
}

/// Provisioning starts: a new mark, started now.
fn write_mark(spec: &RunnerSpec, shard: Shard, now: DateTime<Utc>) -> Plan {
    Plan::act(
        Phase::Provisioning,
        Step::WriteMark {
            shard,
            mark: Mark {
                id: now.format("%Y%m%dT%H%M%S%.3fZ").to_string(),
                shard,
                revision: spec.revision.clone(),
                started: now,
                state: MarkState::Provisioning,
            },
        },
    )
}

fn retire(spec: &RunnerSpec, world: &Assessment, old: Shard, now: DateTime<Utc>) -> Plan {
    let f = &world.facts[old];
    if takes_traffic(spec, world, old) {
        return Plan::wait(
            Phase::Draining,
            format!("{old} is still serving; it is not shut down while traffic goes to it"),
        );
    }
    if asks_capacity(f) {
        if let Some(ts) = world.record.deployment_ts {
            let until = ts + spec.settings.drain_delay;
            if now < until {
                return Plan::wait(Phase::Draining, format!("draining {old} until {until}"));
            }
        }
        return Plan::act(Phase::ShuttingDown, Step::ScaleToZero { shard: old });
    }
    if f.instances > 0 {
        return Plan::wait(
            Phase::ShuttingDown,
            format!("waiting for {old}'s {} instances to terminate", f.instances),
        );
    }
    // The `provisioning` mark of the provision that deployed it goes before the shard leaves
    // the record: should the desired state return to it, the old mark would pass for a live
    // attempt whose clock started long ago. A `failed` mark stays: it is what keeps a failed
    // revision from being tried again (invariant 6).
    if matches!(
        f.mark,
        MarkStatus::InFlight { .. } | MarkStatus::Abandoned { .. }
    ) {
        return Plan::act(Phase::CleaningUp, Step::DeleteMark { shard: old });
    }
    Plan::act(
        Phase::CleaningUp,
        Step::WriteRecord {
            record: world.record.without_deployed(old),
            expected_version: world.record_version,
            purpose: RecordWrite::CleanUp { shard: old },
        },
    )
}

/// The desired shard's deployment failed: roll traffic back if it had moved, then scale the
/// shard down. Nothing is provisioned again (docs/how-it-decides.md, invariant 6).
fn failed(spec: &RunnerSpec, world: &Assessment, mark: &Mark) -> Plan {
    let shard = mark.shard;
    let f = &world.facts[shard];
    let previous = world.record.active_shard;
    if f.serving
        && let Some(previous) = previous
    {
        return Plan::act(Phase::Failed, Step::SwitchListener { to: previous });
    }
    if asks_capacity(f) && !takes_traffic(spec, world, shard) {
        return Plan::act(Phase::Failed, Step::ScaleToZero { shard });
    }
    Plan::wait(
        Phase::Failed,
        format!(
            "deployment failed; waiting for a new desired state or `switchyard retry --runner {}`",
            spec.name
        ),
    )
}

fn in_flight(
    spec: &RunnerSpec,
    world: &Assessment,
    mark: &Mark,
    memory: &mut RunnerMemory,
    now: DateTime<Utc>,
) -> Plan {
    let shard = mark.shard;
    let f = &world.facts[shard];
    let settings = &spec.settings;
    // On a first deployment the listener may point at the new shard before anything happened
    // (nothing is live yet), so serving alone does not mean traffic was moved: only a
    // verification this controller started does. After a restart that is re-earned from scratch.
    let verifying = memory
        .verified_since
        .as_ref()
        .is_some_and(|s| s.mark_id == mark.id);
    let switched = f.serving && (world.record.active_shard.is_some() || verifying);
    let pursued = memory.pursuing.as_deref() == Some(mark.id.as_str());
    let returned = memory.abandoned[shard].as_deref() == Some(mark.id.as_str());
    let stale = !pursued && now >= mark.started + settings.progress_deadline;
    // An attempt the desired state left and came back to, or a mark past its deadline that this
    // controller was not pursuing (it was paused, out of the file, or the controller was down
    // across the deadline), never ran to a verdict: failing it would fail a revision never
    // judged, and never try it again (invariant 6). It starts afresh. One this controller
    // pursued up to its deadline fails below.
    if !switched && (returned || stale) {
        memory.healthy_streak = None;
        memory.verified_since = None;
        return write_mark(spec, shard, now);
    }
    memory.pursuing = Some(mark.id.clone());
    // Once traffic is on the shard (alone, or beside the other by a hand-edited listener), a
    // hand-raised capacity is kept: it is never shrunk live.
    let live_target = takes_traffic(spec, world, shard);
    let capacity = if live_target {
        settings.capacity.max(f.desired_capacity)
    } else {
        settings.capacity
    };
    let wrong_revision = spec.revision.is_some() && f.revision != spec.revision;
    // Nor is a healthy serving shard grown: `required` follows its desired capacity, so it
    // would turn unhealthy until the new instances boot, and fail its own post-switch check.
    let live = live_target && f.healthy;
    if !live
        && (f.desired_capacity != capacity
            || f.min_size != capacity
            || f.max_size != capacity
            || wrong_revision)
    {
        return Plan::act(
            Phase::Provisioning,
            Step::ConfigureShard {
                shard,
                capacity,
                revision: spec.revision.clone(),
            },
        );
    }
    if !f.target_group_attached {
        return Plan::act(Phase::Provisioning, Step::AttachTargetGroup { shard });
    }
    let fail = |outcome| {
        Plan::act(
            Phase::Failed,
            Step::FailDeployment {
                shard,
                mark: mark.failed(),
                outcome,
            },
        )
    };

    if switched {
        // Traffic has moved: the shard must stay healthy for postSwitchCheck.
        memory.healthy_streak = None;
        if !f.healthy {
            memory.verified_since = None;
            return match world.record.active_shard {
                // The old shard is healthy, or assess would have halted RollbackImpossible.
                Some(_) => fail(FailOutcome::RolledBack),
                None => fail(FailOutcome::Failed),
            };
        }
        let verified = continue_streak(&mut memory.verified_since, mark, now);
        let until = verified + settings.post_switch_check;
        if now < until {
            return Plan::wait(
                Phase::VerifyingAfterSwitch,
                format!("{shard} serving; verifying it stays healthy until {until}"),
            );
        }
        return Plan::act(
            Phase::Recording,
            Step::WriteRecord {
                record: world.record.with_active(shard, now),
                expected_version: world.record_version,
                purpose: RecordWrite::Activate {
                    shard,
                    started: mark.started,
                },
            },
        );
    }

    if !f.serving {
        memory.verified_since = None;
    }
    if now >= mark.started + settings.progress_deadline {
        memory.healthy_streak = None;
        return fail(FailOutcome::Failed);
    }
    let grace_end = mark.started + settings.health_check_grace_period;
    if now < grace_end {
        memory.healthy_streak = None;
        return Plan::wait(
            Phase::WaitingForGracePeriod,
            format!("health of {shard} is not judged until {grace_end}"),
        );
    }
    if !f.healthy {
        memory.healthy_streak = None;
        return Plan::wait(
            Phase::WaitingForStability,
            format!(
                "{shard} not healthy yet: {} of {} healthy targets (deadline {})",
                f.healthy_targets,
                f.required,
                mark.started + settings.progress_deadline
            ),
        );
    }
    let streak = continue_streak(&mut memory.healthy_streak, mark, now);
    let stable_at = streak + settings.stability_duration;
    if now < stable_at {
        return Plan::wait(
            Phase::WaitingForStability,
            format!("{shard} healthy since {streak}; stable at {stable_at}"),
        );
    }
    memory.verified_since = Some(Streak {
        mark_id: mark.id.clone(),
        since: now,
    });
    if f.serving {
        // First deployment onto the shard the listener already names: no switch to make.
        return Plan::wait(
            Phase::VerifyingAfterSwitch,
            format!("{shard} stable and already serving; verifying it stays healthy"),
        );
    }
    Plan::act(Phase::Switching, Step::SwitchListener { to: shard })
}

/// The start of a streak that holds now: kept if it belongs to this attempt, else starting now.
fn continue_streak(slot: &mut Option<Streak>, mark: &Mark, now: DateTime<Utc>) -> DateTime<Utc> {
    let since = slot
        .as_ref()
        .filter(|s| s.mark_id == mark.id)
        .map_or(now, |s| s.since);
    *slot = Some(Streak {
        mark_id: mark.id.clone(),
        since,
    });
    since
}
