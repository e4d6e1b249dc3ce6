//! The phase machine of docs/how-it-decides.md: from one assessed observation, the phase the runner
//! is in and the one step that moves it on. Waits are judged against `now`; nothing is remembered
//! that the world (the record and the mark) does not also say, except healthy streaks.

use chrono::{DateTime, Utc};

use super::attempt::Attempt;
use super::classify::{Assessment, MarkStatus, ShardFacts, assess};
use super::condition::{Condition, ConditionType};
use super::decision::{Decision, ShardReport};
use super::halt::{Halt, HaltReason};
use super::mark::{Mark, MarkState};
use super::memory::{RunnerMemory, Traffic};
use super::observation::RunnerObservation;
use super::phase::Phase;
use super::shard::{Shard, ShardPair};
use super::spec::RunnerSpec;
use super::step::{RecordWrite, Step};

/// The phase, the step (if any) and what is awaited, before halts and `paused` are applied.
pub(super) struct Plan {
    phase: Phase,
    step: Option<Step>,
    pub(super) next: String,
    /// When the timed wait ends (`Decision::wake`).
    wake: Option<DateTime<Utc>>,
}

impl Plan {
    /// Waiting for something with no known end: the shard to become healthy, instances to
    /// terminate, a person.
    pub(super) fn wait(phase: Phase, next: impl Into<String>) -> Plan {
        Plan {
            phase,
            step: None,
            next: next.into(),
            wake: None,
        }
    }

    /// Waiting until `until`, a timed wait's end: grace, stability, the post-switch check, a
    /// drain.
    pub(super) fn wait_until(phase: Phase, until: DateTime<Utc>, next: impl Into<String>) -> Plan {
        Plan {
            wake: Some(until),
            ..Plan::wait(phase, next)
        }
    }

    /// A wait that another timed wait may end sooner: wakes at whichever ends first.
    pub(super) fn waking_by(mut self, at: Option<DateTime<Utc>>) -> Plan {
        if self.step.is_none()
            && let Some(at) = at
        {
            self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
        }
        self
    }

    pub(super) fn act(phase: Phase, step: Step) -> Plan {
        Plan {
            phase,
            next: step.describe(),
            step: Some(step),
            wake: None,
        }
    }
}

/// The heart of the controller: from the runner's desired state, one fresh observation of its
/// world, what this controller remembers (`memory`, which may be empty after a restart) and
/// `now`, the runner's phase, conditions, any halt, and the one step that moves it on
/// (docs/how-it-decides.md, §4). Pure: it reads no clock and calls nothing. The step it proposes is
/// only a proposal:
/// `guard` checks it again on the observation taken right before the call.
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
    remember(spec, &world, &mut memory, now);
    let shards = Some(reports(&world));
    let sticky = memory.sticky_halt.as_ref().map(|s| Halt {
        reason: s.reason,
        message: s.message.clone(),
        ..sticky_runbook(spec, s.reason, &s.message)
    });
    if let Some(halt) = world.halt.clone().or(sticky) {
        memory.clear_streaks();
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
    let (step, next, wake) = if spec.paused {
        conditions.push(Condition::new(
            ConditionType::Paused,
            "Paused",
            "paused: true in the desired-state file",
        ));
        let next = match &plan.step {
            Some(step) => format!("paused (would: {})", step.describe()),
            None => format!("paused ({})", plan.next),
        };
        (None, next, None)
    } else {
        (plan.step, plan.next, plan.wake)
    };
    Decision {
        phase: plan.phase,
        halt: None,
        conditions,
        shards,
        step,
        next,
        wake,
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
        wake: None,
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

/// What this observation adds to the controller's memory, in one place: traffic seen on each
/// shard (for the drain rule), attempts seen abandoned or paused over. Streaks are kept by
/// `Attempt::track`.
fn remember(spec: &RunnerSpec, world: &Assessment, memory: &mut RunnerMemory, now: DateTime<Utc>) {
    memory.watching_since.get_or_insert(now);
    for shard in Shard::ALL {
        let f = &world.facts[shard];
        memory.traffic[shard] = match (f.takes_traffic, memory.traffic[shard]) {
            (true, _) => Some(Traffic::Taking),
            (false, Some(Traffic::Taking)) => Some(Traffic::LeftBy(now)),
            (false, seen) => seen,
        };
        if let MarkStatus::Abandoned { mark } = &f.mark {
            memory.abandoned[shard] = Some(mark.id.clone());
        }
    }
    if let Some(mark) = world.facts[spec.active_shard].mark.in_flight() {
        let deadline = mark.started + spec.settings.progress_deadline;
        if spec.paused {
            memory.paused_over = Some(mark.id.clone());
        } else if memory.paused_over.as_ref() == Some(&mark.id) && now < deadline {
            // Resumed before its deadline: the attempt's clock is its own again, and a deadline
            // it misses from here fails it.
            memory.paused_over = None;
        }
    }
}

/// The runbook's order: traffic back where the record says, the old shard retired, what our
/// left-behind attempts hold released, and only then the desired shard pursued.
fn plan(
    spec: &RunnerSpec,
    world: &Assessment,
    memory: &mut RunnerMemory,
    now: DateTime<Utc>,
) -> Plan {
    let desired = spec.active_shard;
    let f = &world.facts;
    let active = world.record.active_shard;

    // A mark lives only while its attempt does: on a deployed shard it is history
    // (docs/how-it-decides.md).
    if let Some(shard) = Shard::ALL
        .into_iter()
        .find(|&s| f[s].deployed && provisioning(&f[s].mark))
    {
        let phase = if f[shard].active {
            Phase::Recording
        } else {
            Phase::CleaningUp
        };
        return Plan::act(phase, Step::DeleteMark { shard });
    }
    if let Some(plan) = switch_back(spec, world) {
        return plan;
    }
    // A deployed shard that is not active is on its way out: drain, shut down, clean up. This
    // comes first even for the desired shard: the runbook re-provisions from clean.
    if let Some(old) = Shard::ALL
        .into_iter()
        .find(|&s| f[s].deployed && active != Some(s))
    {
        return retire(spec, world, memory, old, now);
    }
    // Capacity left by an attempt of ours that the desired state moved away from.
    if let Some(left) = Shard::ALL.into_iter().find(|&s| {
        s != desired
            && !f[s].active
            && !f[s].deployed
            && leftover_of_ours(&f[s].mark)
            && asks_capacity(&f[s])
            && !f[s].takes_traffic
    }) {
        return release(spec, memory, left, now, Phase::ShuttingDown);
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
            && !f[s].takes_traffic
    }) {
        return Plan::act(Phase::CleaningUp, Step::DeleteMark { shard: left });
    }
    if active == Some(desired) {
        memory.clear_streaks();
        return Plan::wait(Phase::Converged, "nothing to do");
    }
    match &f[desired].mark {
        MarkStatus::Failed { mark } => failed(spec, world, memory, mark, now),
        MarkStatus::InFlight { mark } => Attempt::new(spec, world, mark).plan(memory, now),
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
        _ if asks_capacity(&f[desired]) && !f[desired].takes_traffic => {
            release(spec, memory, desired, now, Phase::ShuttingDown)
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

/// A `provisioning` mark, of the current desired state or not.
fn provisioning(mark: &MarkStatus) -> bool {
    matches!(
        mark,
        MarkStatus::InFlight { .. } | MarkStatus::Abandoned { .. }
    )
}

/// Traffic on an attempt of ours that is over (failed, or abandoned for a new desired state)
/// goes back to the recorded active shard, which is healthy (else assess halted
/// `RollbackImpossible`): the rollback of a failed post-switch check, and the abandonment of an
/// attempt after its switch (docs/how-it-decides.md).
fn switch_back(spec: &RunnerSpec, world: &Assessment) -> Option<Plan> {
    let active = world.record.active_shard?;
    let attempt = world.serving.filter(|&s| s != active)?;
    let f = &world.facts[attempt];
    if f.deployed {
        return None;
    }
    let phase = match &f.mark {
        MarkStatus::Failed { .. } => Phase::Failed,
        MarkStatus::Abandoned { .. } | MarkStatus::Stale { .. } => Phase::Switching,
        _ => return None,
    };
    let mut plan = Plan::act(phase, Step::SwitchListener { to: active });
    plan.next = format!(
        "switching traffic back from {attempt} to {active}, the recorded active shard: the \
         attempt on {attempt} {} (runner {})",
        if phase == Phase::Failed {
            "failed"
        } else {
            "was abandoned for a new desired state"
        },
        spec.name
    );
    Some(plan)
}

/// Scales a shard that is no deployment's any more to zero once the drain rule allows it
/// (invariant 4: not within `drainDelay` of the listener leaving it), waiting until then.
fn release(
    spec: &RunnerSpec,
    memory: &RunnerMemory,
    shard: Shard,
    now: DateTime<Utc>,
    phase: Phase,
) -> Plan {
    match memory.drained_at(shard, spec.settings.drain_delay) {
        Some(at) if now >= at => Plan::act(phase, Step::ScaleToZero { shard }),
        Some(at) => {
            let waiting = if phase == Phase::Failed {
                Phase::Failed
            } else {
                Phase::Draining
            };
            Plan::wait_until(
                waiting,
                at,
                format!("draining {shard} until {at} before it is scaled to zero"),
            )
        }
        None => Plan::wait(
            Phase::Draining,
            format!("{shard} still takes traffic; it is not scaled down while it does"),
        ),
    }
}

/// Provisioning starts: a new mark, started now, carrying the attempt's capacity.
pub(super) fn write_mark(spec: &RunnerSpec, shard: Shard, now: DateTime<Utc>) -> Plan {
    Plan::act(
        Phase::Provisioning,
        Step::WriteMark {
            shard,
            mark: Mark {
                id: now.format("%Y%m%dT%H%M%S%.3fZ").to_string(),
                shard,
                revision: spec.revision.clone(),
                capacity: Some(spec.settings.capacity),
                started: now,
                state: MarkState::Provisioning,
            },
        },
    )
}

fn retire(
    spec: &RunnerSpec,
    world: &Assessment,
    memory: &RunnerMemory,
    old: Shard,
    now: DateTime<Utc>,
) -> Plan {
    let f = &world.facts[old];
    if f.takes_traffic {
        return Plan::wait(
            Phase::Draining,
            format!("{old} is still serving; it is not shut down while traffic goes to it"),
        );
    }
    if asks_capacity(f) {
        // The recorded switch starts the drain on the normal path; traffic this controller saw
        // leave later (a listener edited by hand), or could not see at all (it just started),
        // starts it later.
        let drain = spec.settings.drain_delay;
        let until = [
            world.record.deployment_ts.map(|ts| ts + drain),
            memory.drained_at(old, drain),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(until) = until
            && now < until
        {
            return Plan::wait_until(
                Phase::Draining,
                until,
                format!("draining {old} until {until}"),
            );
        }
        return Plan::act(Phase::ShuttingDown, Step::ScaleToZero { shard: old });
    }
    if f.instances > 0 {
        return Plan::wait(
            Phase::ShuttingDown,
            format!("waiting for {old}'s {} instances to terminate", f.instances),
        );
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

/// The desired shard's deployment failed: traffic went back (`switch_back`); the shard is
/// drained and scaled down. Nothing is provisioned again (docs/how-it-decides.md, invariant 6).
fn failed(
    spec: &RunnerSpec,
    world: &Assessment,
    memory: &RunnerMemory,
    mark: &Mark,
    now: DateTime<Utc>,
) -> Plan {
    let shard = mark.shard;
    let f = &world.facts[shard];
    if asks_capacity(f) && !f.takes_traffic {
        return release(spec, memory, shard, now, Phase::Failed);
    }
    Plan::wait(
        Phase::Failed,
        format!(
            "deployment failed; waiting for a new desired state or `switchyard retry --runner {}`",
            spec.name
        ),
    )
}
