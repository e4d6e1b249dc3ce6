//! The deployment in flight: docs/how-it-decides.md's phases from `Provisioning` to `Recording`,
//! one function each, in the table's order. The healthy streaks they judge change in one place,
//! `track`.

use chrono::{DateTime, Utc};

use super::classify::{Assessment, ShardFacts};
use super::decide::{Plan, write_mark};
use super::mark::Mark;
use super::memory::{RunnerMemory, Streak};
use super::phase::Phase;
use super::shard::Shard;
use super::spec::RunnerSpec;
use super::step::{FailOutcome, RecordWrite, Step};

/// The attempt a `provisioning` mark for the desired shard and revision describes.
pub(super) struct Attempt<'a> {
    spec: &'a RunnerSpec,
    world: &'a Assessment,
    mark: &'a Mark,
    shard: Shard,
    facts: &'a ShardFacts,
}

/// Where the attempt stands on its clock, i.e. what is judged now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Within `healthCheckGracePeriod` of the mark's start: health is not judged.
    Grace { until: DateTime<Utc> },
    /// Between the grace period and the switch, within `progressDeadline`: the shard builds its
    /// healthy streak.
    Stability,
    /// Traffic is on the shard: it must stay healthy for `postSwitchCheck`.
    Switched,
}

impl<'a> Attempt<'a> {
    pub(super) fn new(spec: &'a RunnerSpec, world: &'a Assessment, mark: &'a Mark) -> Self {
        Attempt {
            spec,
            world,
            mark,
            shard: mark.shard,
            facts: &world.facts[mark.shard],
        }
    }

    pub(super) fn plan(&self, memory: &mut RunnerMemory, now: DateTime<Utc>) -> Plan {
        let switched = self.switched(memory);
        if !switched && self.starts_afresh(memory, now) {
            memory.clear_streaks();
            return write_mark(self.spec, self.shard, now);
        }
        if switched && !self.facts.healthy {
            memory.clear_streaks();
            return self.fail(match self.world.record.active_shard {
                // The old shard is healthy, or assess would have halted RollbackImpossible.
                Some(_) => FailOutcome::RolledBack,
                None => FailOutcome::Failed,
            });
        }
        if !switched && now >= self.deadline() {
            // Provision -> stable did not finish in time; nothing more is provisioned for it.
            memory.clear_streaks();
            return self.fail(FailOutcome::Failed);
        }
        if let Some(step) = self.provision(memory, now) {
            return Plan::act(Phase::Provisioning, step);
        }
        let stage = self.stage(switched, now);
        self.track(memory, stage, now);
        let plan = match stage {
            Stage::Grace { until } => Plan::wait_until(
                Phase::WaitingForGracePeriod,
                self.before_deadline(until),
                format!("health of {} is not judged until {until}", self.shard),
            ),
            Stage::Stability => self.stability(memory, now),
            Stage::Switched => self.verify(memory, now),
        };
        plan.waking_by(self.shrink_due(memory, now))
    }

    /// The capacity this attempt provisions: its mark's, or the file's for a mark without one.
    fn attempt_capacity(&self) -> u32 {
        self.mark.capacity.unwrap_or(self.spec.settings.capacity)
    }

    /// When the drain that keeps a hand-raised capacity ends, if a shrink to the attempt's
    /// capacity waits for it (`provision`): a timed wait of its own.
    fn shrink_due(&self, memory: &RunnerMemory, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let f = self.facts;
        if f.takes_traffic || f.desired_capacity <= self.attempt_capacity() {
            return None;
        }
        memory
            .drained_at(self.shard, self.spec.settings.drain_delay)
            .filter(|&at| now < at)
    }

    fn deadline(&self) -> DateTime<Utc> {
        self.mark.started + self.spec.settings.progress_deadline
    }

    /// The end of a wait before the switch, or the progress deadline if that comes first: the
    /// attempt fails at its deadline rather than at the next look after it.
    fn before_deadline(&self, until: DateTime<Utc>) -> DateTime<Utc> {
        until.min(self.deadline())
    }

    /// Traffic was moved to the shard. On a first deployment the listener may name the new
    /// shard before anything happened (nothing is live yet), so serving alone proves nothing
    /// there: only a verification this controller started does, re-earned after a restart.
    fn switched(&self, memory: &RunnerMemory) -> bool {
        let verifying = memory
            .verified_since
            .as_ref()
            .is_some_and(|s| s.mark_id == self.mark.id);
        self.facts.serving && (self.world.record.active_shard.is_some() || verifying)
    }

    /// An attempt the desired state left and came back to, or whose deadline ran out while this
    /// controller watched the runner paused, never ran to a verdict: it starts afresh, with a
    /// new mark. Found past its deadline otherwise (after a restart, however many) it fails:
    /// a crash-looping controller never turns a bad revision into a deploy loop
    /// (docs/how-it-decides.md).
    fn starts_afresh(&self, memory: &RunnerMemory, now: DateTime<Utc>) -> bool {
        let this = Some(self.mark.id.as_str());
        let returned = memory.abandoned[self.shard].as_deref() == this;
        let paused_out = memory.paused_over.as_deref() == this && now >= self.deadline();
        returned || paused_out
    }

    /// `Provisioning` after the mark: the attempt's revision and capacity, then its TG.
    fn provision(&self, memory: &RunnerMemory, now: DateTime<Utc>) -> Option<Step> {
        let f = self.facts;
        let attempt = self.attempt_capacity();
        // Once traffic is on the shard (alone, or beside the other by a hand-edited listener),
        // or until it has drained after the listener left it, a hand-raised capacity is kept:
        // it is never shrunk live (invariant 4). Nor is a healthy live shard touched at all:
        // new instances would only add risk while it serves.
        let draining = memory
            .drained_at(self.shard, self.spec.settings.drain_delay)
            .is_none_or(|at| now < at);
        let capacity = if f.takes_traffic || draining {
            attempt.max(f.desired_capacity)
        } else {
            attempt
        };
        let wrong_revision = self.spec.revision.is_some() && f.revision != self.spec.revision;
        let live = f.takes_traffic && f.healthy;
        let sized =
            f.desired_capacity == capacity && f.min_size == capacity && f.max_size == capacity;
        if !live && (!sized || wrong_revision) {
            return Some(Step::ConfigureShard {
                shard: self.shard,
                capacity,
                revision: self.spec.revision.clone(),
            });
        }
        (!f.target_group_attached).then_some(Step::AttachTargetGroup { shard: self.shard })
    }

    fn stage(&self, switched: bool, now: DateTime<Utc>) -> Stage {
        let grace_end = self.mark.started + self.spec.settings.health_check_grace_period;
        if switched {
            Stage::Switched
        } else if now < grace_end {
            Stage::Grace { until: grace_end }
        } else {
            Stage::Stability
        }
    }

    /// The one place the streaks change. The healthy streak runs while stability is judged and
    /// the shard stays healthy. The verification runs while traffic is on the shard and it stays
    /// healthy, from the first observation that shows it there; on a first deployment onto the
    /// shard the listener already names, from the moment the shard is judged stable.
    fn track(&self, memory: &mut RunnerMemory, stage: Stage, now: DateTime<Utc>) {
        let f = self.facts;
        match stage {
            Stage::Grace { .. } => memory.healthy_streak = None,
            Stage::Stability if f.healthy => {
                let since = continue_streak(&mut memory.healthy_streak, self.mark, now);
                if f.serving && now >= since + self.spec.settings.stability_duration {
                    continue_streak(&mut memory.verified_since, self.mark, now);
                }
            }
            Stage::Stability => memory.healthy_streak = None,
            Stage::Switched => {
                memory.healthy_streak = None;
                continue_streak(&mut memory.verified_since, self.mark, now);
            }
        }
        if stage != Stage::Switched && !f.serving {
            memory.verified_since = None;
        }
    }

    /// `WaitingForStability`, then `Switching`.
    fn stability(&self, memory: &RunnerMemory, now: DateTime<Utc>) -> Plan {
        let (f, shard) = (self.facts, self.shard);
        let Some(streak) = memory.healthy_streak.as_ref().filter(|_| f.healthy) else {
            // When the shard turns healthy is the cloud's business; only the deadline is timed.
            return Plan::wait_until(
                Phase::WaitingForStability,
                self.deadline(),
                format!(
                    "{shard} not healthy yet: {} of {} healthy targets (deadline {})",
                    f.healthy_targets,
                    f.required,
                    self.deadline()
                ),
            );
        };
        let stable_at = streak.since + self.spec.settings.stability_duration;
        if now < stable_at {
            // Looked at again when the window ends: the streak is judged on an observation
            // made at that instant, the last of the window.
            return Plan::wait_until(
                Phase::WaitingForStability,
                self.before_deadline(stable_at),
                format!(
                    "{shard} healthy since {}; stable at {stable_at}",
                    streak.since
                ),
            );
        }
        if f.serving {
            // A first deployment onto the shard the listener already names: no switch to make;
            // the verification `track` started runs from now.
            return Plan::wait_until(
                Phase::VerifyingAfterSwitch,
                self.verified_until(memory, now),
                format!("{shard} stable and already serving; verifying it stays healthy"),
            );
        }
        Plan::act(Phase::Switching, Step::SwitchListener { to: shard })
    }

    /// When the post-switch check ends: `postSwitchCheck` after the verification began (now,
    /// when it begins with this look).
    fn verified_until(&self, memory: &RunnerMemory, now: DateTime<Utc>) -> DateTime<Utc> {
        let since = memory.verified_since.as_ref().map_or(now, |s| s.since);
        since + self.spec.settings.post_switch_check
    }

    /// `VerifyingAfterSwitch`, then `Recording`.
    fn verify(&self, memory: &RunnerMemory, now: DateTime<Utc>) -> Plan {
        let until = self.verified_until(memory, now);
        if now < until {
            return Plan::wait_until(
                Phase::VerifyingAfterSwitch,
                until,
                format!(
                    "{} serving; verifying it stays healthy until {until}",
                    self.shard
                ),
            );
        }
        Plan::act(
            Phase::Recording,
            Step::WriteRecord {
                record: self.world.record.with_active(self.shard, now),
                expected_version: self.world.record_version,
                purpose: RecordWrite::Activate {
                    shard: self.shard,
                    started: self.mark.started,
                },
            },
        )
    }

    fn fail(&self, outcome: FailOutcome) -> Plan {
        Plan::act(
            Phase::Failed,
            Step::FailDeployment {
                shard: self.shard,
                mark: self.mark.failed(),
                outcome,
            },
        )
    }
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
