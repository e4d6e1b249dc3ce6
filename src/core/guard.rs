//! The one gate every mutation passes (SPEC §6).
use serde::Serialize;

use super::memory::RunnerMemory;
use super::observation::RunnerObservation;
use super::spec::RunnerSpec;
use super::step::Step;

/// Who proposes the step: the loop, or an operator's command (`repair`, `retry`), which is meant
/// to resolve a halt and so is not stopped by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Controller,
    Operator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Invariant {
    HealthyTrafficTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub invariant: Invariant,
    pub message: String,
}

pub fn guard(
    _step: &Step,
    _spec: &RunnerSpec,
    _obs: &RunnerObservation,
    _memory: &RunnerMemory,
    _actor: Actor,
) -> Result<(), Refusal> {
    Ok(())
}
