//! What the core concludes from one observation.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::classify::{ShardClass, ShardFacts};
use super::condition::{Condition, ConditionType};
use super::halt::Halt;
use super::memory::RunnerMemory;
use super::phase::Phase;
use super::shard::{Shard, ShardPair};
use super::step::Step;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub phase: Phase,
    pub halt: Option<Halt>,
    /// Conditions that hold now; any other condition type is false.
    pub conditions: Vec<Condition>,
    /// Per-shard facts and the runbook row; `None` when the observation was too broken to tell
    /// (a resource missing, a malformed record).
    pub shards: Option<ShardPair<ShardReport>>,
    /// The one mutation to take next, if any. Never set while halted or paused.
    pub step: Option<Step>,
    /// What happens next, for people: the step, or what is being waited for.
    pub next: String,
    /// When the timed wait the runner is in ends (grace period, stability window, post-switch
    /// check, drain): the loop observes the runner again at that instant, so that the step the
    /// wait holds back is taken when it falls due rather than at the next `transitionInterval`.
    /// Only ever a time to look: the step is decided, and guarded, on that observation. `None`
    /// when no timed wait is running (a step to take, the cloud to finish something, a halt,
    /// a pause, or rest).
    #[serde(skip)]
    pub wake: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub memory: RunnerMemory,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardReport {
    pub shard: Shard,
    #[serde(flatten)]
    pub facts: ShardFacts,
    pub class: ShardClass,
}

impl Decision {
    pub fn in_transition(&self) -> bool {
        self.phase.in_transition()
    }

    /// This decision, reported halted with `halt`: no step, phase `Halted`, the `Halted`
    /// condition instead of `Ready`/`Progressing`, and the command that resolves it as `next`.
    /// The one place a halt is turned into a decision, whether the observation proved it (decide)
    /// or a mutation's answer did (the controller).
    pub fn halted(mut self, halt: Halt) -> Decision {
        self.conditions.retain(|c| {
            !matches!(
                c.kind,
                ConditionType::Ready | ConditionType::Progressing | ConditionType::Halted
            )
        });
        self.conditions.push(Condition::new(
            ConditionType::Halted,
            halt.reason.as_str(),
            halt.message.clone(),
        ));
        self.phase = Phase::Halted;
        self.step = None;
        self.wake = None;
        self.next = match &halt.repair {
            Some(repair) => format!("halted: {}; resolve with: {repair}", halt.reason),
            None => format!("halted: {}", halt.reason),
        };
        self.halt = Some(halt);
        self
    }
}
