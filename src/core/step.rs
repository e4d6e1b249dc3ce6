//! A single mutation of the world. Every step sets a value rather than changing one by a delta,
//! so that doing it twice (after a crash or a lost response) leaves the world as doing it once.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::mark::Mark;
use super::shard::Shard;
use super::status_record::StatusRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailOutcome {
    /// Failed before traffic moved, or on a first deployment.
    Failed,
    /// Failed after traffic moved; traffic goes back to the old shard.
    RolledBack,
}

impl FailOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FailOutcome::Failed => "failed",
            FailOutcome::RolledBack => "rolled_back",
        }
    }
}

/// Why the status record is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RecordWrite {
    /// `Recording`: the last step of a provision; the deployment succeeds with it.
    Activate {
        shard: Shard,
        started: DateTime<Utc>,
    },
    /// `CleaningUp`: the old shard is dropped from `deployed_shards`.
    CleanUp { shard: Shard },
    /// `switchyard repair mark-deployed`.
    Repair { shard: Shard },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Step {
    /// CreateOrUpdateTags: the durable mark, before anything is provisioned.
    WriteMark { shard: Shard, mark: Mark },
    /// UpdateAutoScalingGroup: launch template version (if any) and min = desired = max = capacity.
    ConfigureShard {
        shard: Shard,
        capacity: u32,
        revision: Option<String>,
    },
    /// AttachLoadBalancerTargetGroups: the shard's own TG.
    AttachTargetGroup { shard: Shard },
    /// ModifyListener: forward only to this shard's TG.
    SwitchListener { to: Shard },
    /// PutParameter, then read back; `expected_version` is the version the decision saw.
    WriteRecord {
        record: StatusRecord,
        expected_version: Option<i64>,
        purpose: RecordWrite,
    },
    /// UpdateAutoScalingGroup: min = desired = 0.
    ScaleToZero { shard: Shard },
    /// CreateOrUpdateTags: the mark's state becomes `failed` (written before any clean-up).
    FailDeployment {
        shard: Shard,
        mark: Mark,
        outcome: FailOutcome,
    },
    /// DeleteTags: `switchyard retry` (a failed mark), or the controller (the mark of an
    /// abandoned attempt that holds nothing).
    DeleteMark { shard: Shard },
}

impl Step {
    /// The shard whose resources the step touches (the listener's new target for a switch;
    /// none for the record).
    pub fn shard(&self) -> Option<Shard> {
        match self {
            Step::WriteMark { shard, .. }
            | Step::ConfigureShard { shard, .. }
            | Step::AttachTargetGroup { shard }
            | Step::ScaleToZero { shard }
            | Step::FailDeployment { shard, .. }
            | Step::DeleteMark { shard } => Some(*shard),
            Step::SwitchListener { to } => Some(*to),
            Step::WriteRecord { .. } => None,
        }
    }

    /// A short human description, used in events, logs and `plan`.
    pub fn describe(&self) -> String {
        match self {
            Step::WriteMark { shard, mark } => format!(
                "write the deployment mark on {shard} (revision {})",
                mark.revision.as_deref().unwrap_or("unchanged")
            ),
            Step::ConfigureShard {
                shard,
                capacity,
                revision,
            } => match revision {
                Some(r) => {
                    format!("set {shard} to launch template version {r}, capacity {capacity}")
                }
                None => format!("set {shard} to capacity {capacity}"),
            },
            Step::AttachTargetGroup { shard } => format!("attach {shard}'s target group"),
            Step::SwitchListener { to } => format!("switch the listener to {to}"),
            Step::WriteRecord {
                record, purpose, ..
            } => match purpose {
                RecordWrite::Activate { shard, .. } => {
                    format!("record {shard} as active: {}", record.to_json())
                }
                RecordWrite::CleanUp { shard } => {
                    format!("drop {shard} from deployed_shards: {}", record.to_json())
                }
                RecordWrite::Repair { shard } => {
                    format!("repair: mark {shard} deployed: {}", record.to_json())
                }
            },
            Step::ScaleToZero { shard } => format!("scale {shard} to 0"),
            Step::FailDeployment { shard, outcome, .. } => {
                format!("mark the deployment of {shard} {}", outcome.as_str())
            }
            Step::DeleteMark { shard } => format!("delete the deployment mark on {shard}"),
        }
    }

    /// The step's name, for events and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Step::WriteMark { .. } => "WriteMark",
            Step::ConfigureShard { .. } => "ConfigureShard",
            Step::AttachTargetGroup { .. } => "AttachTargetGroup",
            Step::SwitchListener { .. } => "SwitchListener",
            Step::WriteRecord { .. } => "WriteRecord",
            Step::ScaleToZero { .. } => "ScaleToZero",
            Step::FailDeployment { .. } => "FailDeployment",
            Step::DeleteMark { .. } => "DeleteMark",
        }
    }
}
