//! The pure core: no I/O, no clock. Everything here is a function of a runner's spec, one
//! observation, the controller's memory and `now`.

mod attempt;
pub mod classify;
#[cfg(test)]
mod classify_tests;
pub mod condition;
pub mod decide;
#[cfg(test)]
mod decide_tests;
pub mod decision;
pub mod guard;
#[cfg(test)]
mod guard_tests;
pub mod halt;
pub mod mark;
pub mod memory;
pub mod observation;
#[cfg(test)]
mod parse_props;
pub mod phase;
pub mod runbook;
pub mod shard;
pub mod spec;
pub mod status_record;
pub mod step;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod wake_tests;

pub use classify::{Assessment, ShardClass, ShardFacts, assess};
pub use condition::{Condition, ConditionType};
pub use decide::decide;
pub use decision::{Decision, ShardReport};
pub use guard::{Actor, Invariant, Refusal, guard};
pub use halt::{Halt, HaltReason};
pub use mark::{MARK_TAG, Mark, MarkState};
pub use memory::{RunnerMemory, StickyHalt, Streak, Traffic};
pub use observation::*;
pub use phase::Phase;
pub use shard::{Shard, ShardPair};
pub use spec::{Listener, RunnerSettings, RunnerSpec, ShardSpec};
pub use status_record::StatusRecord;
pub use step::{FailOutcome, RecordWrite, Step};
