//! The phase machine of SPEC §4.
use chrono::{DateTime, Utc};

use super::decision::Decision;
use super::memory::RunnerMemory;
use super::observation::RunnerObservation;
use super::spec::RunnerSpec;

pub fn decide(
    _spec: &RunnerSpec,
    _obs: &RunnerObservation,
    _memory: &RunnerMemory,
    _now: DateTime<Utc>,
) -> Decision {
    unimplemented!("in progress")
}
