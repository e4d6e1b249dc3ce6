//! Conditions reported per runner, Kubernetes-style (type, status, reason, message).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ConditionType {
    /// The runner is converged on its desired state.
    Ready,
    /// A deployment is under way.
    Progressing,
    Halted,
    Paused,
    DeploymentFailed,
    RevisionMismatch,
    InactiveShardHasCapacity,
    StabilityWindowTooShort,
}

impl ConditionType {
    pub const ALL: [ConditionType; 8] = [
        ConditionType::Ready,
        ConditionType::Progressing,
        ConditionType::Halted,
        ConditionType::Paused,
        ConditionType::DeploymentFailed,
        ConditionType::RevisionMismatch,
        ConditionType::InactiveShardHasCapacity,
        ConditionType::StabilityWindowTooShort,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Progressing => "Progressing",
            ConditionType::Halted => "Halted",
            ConditionType::Paused => "Paused",
            ConditionType::DeploymentFailed => "DeploymentFailed",
            ConditionType::RevisionMismatch => "RevisionMismatch",
            ConditionType::InactiveShardHasCapacity => "InactiveShardHasCapacity",
            ConditionType::StabilityWindowTooShort => "StabilityWindowTooShort",
        }
    }
}

/// A condition that holds now. Conditions not listed in a decision are false.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: ConditionType,
    pub reason: String,
    pub message: String,
}

impl Condition {
    pub fn new(kind: ConditionType, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Condition {
            kind,
            reason: reason.into(),
            message: message.into(),
        }
    }
}
