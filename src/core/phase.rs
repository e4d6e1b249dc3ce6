//! Where a runner stands in its deployment (docs/how-it-decides.md).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Phase {
    Converged,
    Provisioning,
    WaitingForGracePeriod,
    WaitingForStability,
    Switching,
    VerifyingAfterSwitch,
    Recording,
    Draining,
    ShuttingDown,
    CleaningUp,
    Failed,
    /// Not a deployment phase: the runner is halted and receives no mutation.
    Halted,
}

impl Phase {
    pub const ALL: [Phase; 12] = [
        Phase::Converged,
        Phase::Provisioning,
        Phase::WaitingForGracePeriod,
        Phase::WaitingForStability,
        Phase::Switching,
        Phase::VerifyingAfterSwitch,
        Phase::Recording,
        Phase::Draining,
        Phase::ShuttingDown,
        Phase::CleaningUp,
        Phase::Failed,
        Phase::Halted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Converged => "Converged",
            Phase::Provisioning => "Provisioning",
            Phase::WaitingForGracePeriod => "WaitingForGracePeriod",
            Phase::WaitingForStability => "WaitingForStability",
            Phase::Switching => "Switching",
            Phase::VerifyingAfterSwitch => "VerifyingAfterSwitch",
            Phase::Recording => "Recording",
            Phase::Draining => "Draining",
            Phase::ShuttingDown => "ShuttingDown",
            Phase::CleaningUp => "CleaningUp",
            Phase::Failed => "Failed",
            Phase::Halted => "Halted",
        }
    }

    /// Mid-deployment phases are observed every `transitionInterval`; the rest every
    /// `syncInterval`.
    pub fn in_transition(self) -> bool {
        !matches!(self, Phase::Converged | Phase::Failed | Phase::Halted)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
