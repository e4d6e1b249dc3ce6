//! The little a controller keeps between observations. Everything here may be lost in a restart;
//! losing it only makes the controller wait longer (a healthy streak starts over).

use chrono::{DateTime, Utc};

use super::halt::HaltReason;
use super::shard::{Shard, ShardPair};

/// Since when something has held without a break, for one deployment attempt (mark id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streak {
    pub mark_id: String,
    pub since: DateTime<Utc>,
}

/// A halt learnt from a mutation's answer rather than from an observation; it holds until the
/// world moves on (see `clears`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickyHalt {
    pub reason: HaltReason,
    pub message: String,
    /// ConcurrentModification: the record version seen after the conflict; any later write
    /// (for example `repair`) clears the halt.
    pub record_version: Option<i64>,
    /// ResourceMissing from an update (a launch template): a new desired state clears it.
    pub desired: (Shard, Option<String>),
}

impl StickyHalt {
    /// Whether the world has moved on since the halt was learnt.
    pub fn clears(&self, desired: (Shard, Option<&str>), record_version: Option<i64>) -> bool {
        match self.reason {
            HaltReason::ConcurrentModification => record_version != self.record_version,
            _ => (desired.0, desired.1) != (self.desired.0, self.desired.1.as_deref()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerMemory {
    /// The in-flight shard's continuous healthy streak (after its grace period).
    pub healthy_streak: Option<Streak>,
    /// When traffic moved to the in-flight shard and it has stayed healthy since.
    pub verified_since: Option<Streak>,
    pub sticky_halt: Option<StickyHalt>,
    /// The mark (id) of the in-flight attempt this controller has pursued without a break. A
    /// mark found past its deadline that this controller was not pursuing (the desired state
    /// left it and came back, or the controller was down) never ran to a verdict.
    pub pursuing: Option<String>,
    /// Per shard, the last attempt (mark id) seen abandoned by a change of the desired state.
    /// Should the desired state come back to it, it starts afresh rather than on its old clock.
    pub abandoned: ShardPair<Option<String>>,
}

impl RunnerMemory {
    /// The sticky halt, unless the world has moved on since it was learnt.
    pub fn sticky_halt_in_force(
        &self,
        desired: (Shard, Option<&str>),
        record_version: Option<i64>,
    ) -> Option<&StickyHalt> {
        self.sticky_halt
            .as_ref()
            .filter(|s| !s.clears(desired, record_version))
    }
}
