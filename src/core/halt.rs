//! Why a runner stopped, and what a human does about it (docs/how-it-decides.md).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum HaltReason {
    ActiveShardUnhealthy,
    InactiveShardHealthyNotDeployed,
    StatusRecordMalformed,
    StatusRecordInconsistent,
    ResourceMissing,
    TrafficMismatch,
    ConcurrentModification,
    RollbackImpossible,
    /// A mutation the core proposed was refused by the guard (docs/invariants.md).
    InvariantRefused,
}

impl HaltReason {
    pub const ALL: [HaltReason; 9] = [
        HaltReason::ActiveShardUnhealthy,
        HaltReason::InactiveShardHealthyNotDeployed,
        HaltReason::StatusRecordMalformed,
        HaltReason::StatusRecordInconsistent,
        HaltReason::ResourceMissing,
        HaltReason::TrafficMismatch,
        HaltReason::ConcurrentModification,
        HaltReason::RollbackImpossible,
        HaltReason::InvariantRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HaltReason::ActiveShardUnhealthy => "ActiveShardUnhealthy",
            HaltReason::InactiveShardHealthyNotDeployed => "InactiveShardHealthyNotDeployed",
            HaltReason::StatusRecordMalformed => "StatusRecordMalformed",
            HaltReason::StatusRecordInconsistent => "StatusRecordInconsistent",
            HaltReason::ResourceMissing => "ResourceMissing",
            HaltReason::TrafficMismatch => "TrafficMismatch",
            HaltReason::ConcurrentModification => "ConcurrentModification",
            HaltReason::RollbackImpossible => "RollbackImpossible",
            HaltReason::InvariantRefused => "InvariantRefused",
        }
    }
}

impl std::fmt::Display for HaltReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A halt as reported: the reason, what is wrong here, the runbook step, and the command that
/// resolves it where one exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Halt {
    pub reason: HaltReason,
    pub message: String,
    pub runbook: String,
    pub repair: Option<String>,
}
