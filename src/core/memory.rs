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

/// What this controller has seen of the listener and a shard, for the drain rule of invariant 4
/// (a shard that took traffic is scaled down only `drainDelay` after the listener left it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// The last observation showed the listener sending the shard traffic.
    Taking,
    /// Seen taking traffic before, and not at this instant: the listener left it no later.
    LeftBy(DateTime<Utc>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerMemory {
    /// The in-flight shard's continuous healthy streak (after its grace period).
    pub healthy_streak: Option<Streak>,
    /// Since when this controller has seen traffic on the in-flight shard and the shard
    /// healthy; on a first deployment (nothing to switch), since it judged the shard stable.
    pub verified_since: Option<Streak>,
    pub sticky_halt: Option<StickyHalt>,
    /// The in-flight attempt (mark id) this controller saw the runner paused over. Such an
    /// attempt may start afresh once its deadline has passed: the deadline ran while nobody
    /// pursued it. An attempt found past its deadline without this (after a restart, however
    /// often) fails: a crash loop never turns a bad revision into a deploy loop
    /// (docs/how-it-decides.md).
    pub paused_over: Option<String>,
    /// Per shard, the last attempt (mark id) seen abandoned by a change of the desired state.
    /// Should the desired state come back to it, it starts afresh rather than on its old clock.
    pub abandoned: ShardPair<Option<String>>,
    /// Per shard, what this controller has seen of traffic on it.
    pub traffic: ShardPair<Option<Traffic>>,
    /// The first observation this controller made of the runner: before it, whether and when
    /// a shard took traffic is unknown, so a drain is counted from here at the earliest.
    pub watching_since: Option<DateTime<Utc>>,
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

    /// Ends the streaks: the attempt is no longer judged healthy without a break.
    pub fn clear_streaks(&mut self) {
        self.healthy_streak = None;
        self.verified_since = None;
    }

    /// The earliest moment `shard` may be scaled down without cutting traffic short. `None`
    /// while the listener still sends it traffic, and for a memory that never observed the
    /// runner (an operator's command, which scales nothing down): `decide` always records its
    /// first observation first, so for the loop `None` only ever means "still taking traffic".
    pub fn drained_at(&self, shard: Shard, drain: std::time::Duration) -> Option<DateTime<Utc>> {
        let since = match self.traffic[shard] {
            Some(Traffic::Taking) => return None,
            Some(Traffic::LeftBy(t)) => t,
            None => self.watching_since?,
        };
        Some(since + drain)
    }
}
