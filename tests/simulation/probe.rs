//! The cloud as one controller incarnation sees it: the simulated cloud, watched. Every call
//! takes simulated time (its request travels, it lands, its answer travels back), and while it
//! does the world and the file go on moving: the driver plays events, and edits waiting for a
//! moment of this runner's calls (after an observation, while a mutation is in flight) land
//! exactly then. Once its controller has crashed, nothing it asks reaches the world any more.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use switchyard::cloud::sim::SimCloud;
use switchyard::cloud::{Applied, Cloud, CloudError, Detail};
use switchyard::core::{RunnerObservation, RunnerSpec, Step};
use tokio::sync::Notify;

use super::checker::Checker;

/// The least time an answer takes when an edit must land before it arrives: the driver plays
/// the edit while the controller waits.
const LEAST: Duration = Duration::from_millis(1);

pub fn lock(checker: &Mutex<Checker>) -> MutexGuard<'_, Checker> {
    checker.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct Probe {
    pub sim: SimCloud,
    pub checker: Arc<Mutex<Checker>>,
    pub incarnation: u32,
    /// Wakes the driver to play edits whose moment came.
    pub nudge: Arc<Notify>,
}

impl Probe {
    fn gone(&self, operation: &'static str) -> Option<CloudError> {
        let c = lock(&self.checker);
        (c.dead || c.incarnation != self.incarnation).then(|| CloudError::Transient {
            service: "switchyard",
            operation,
            message: "the controller has crashed".into(),
        })
    }

    async fn travel(duration: Duration) {
        if !duration.is_zero() {
            tokio::time::sleep(duration).await;
        }
    }

    /// The answer's travel; at least LEAST when edits fired, so that they land first.
    async fn answer(&self, duration: Duration, fired: bool) {
        if fired {
            self.nudge.notify_one();
            Self::travel(duration.max(LEAST)).await;
        } else {
            Self::travel(duration).await;
        }
    }
}

impl Cloud for Probe {
    async fn account_id(&self) -> Result<String, CloudError> {
        if let Some(e) = self.gone("GetCallerIdentity") {
            return Err(e);
        }
        let (request, answer) = lock(&self.checker).latency();
        Self::travel(request).await;
        if let Some(e) = self.gone("GetCallerIdentity") {
            return Err(e);
        }
        let result = self.sim.account_id().await;
        {
            let mut c = lock(&self.checker);
            c.trace(format!("account -> {result:?}"));
            c.after_call();
        }
        Self::travel(answer).await;
        result
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        if let Some(e) = self.gone("observe") {
            return Err(e);
        }
        let (request, answer) = lock(&self.checker).latency();
        Self::travel(request).await;
        if let Some(e) = self.gone("observe") {
            return Err(e);
        }
        let result = self.sim.observe(runners, detail).await;
        let names: Vec<&str> = runners.iter().map(|r| r.name.as_str()).collect();
        let fired = {
            let mut c = lock(&self.checker);
            c.trace(format!(
                "observe {names:?} {detail:?} -> {}",
                result.as_ref().map_or_else(|e| e.kind(), |_| "ok")
            ));
            let fired = result.is_ok() && {
                let world = Arc::new(self.sim.snapshot());
                c.on_observe(self.incarnation, runners, &world)
            };
            c.after_call();
            fired
        };
        self.answer(answer, fired).await;
        result
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        if let Some(e) = self.gone(step.name()) {
            return Err(e);
        }
        let (sent, fired, (request, answer)) = {
            let mut c = lock(&self.checker);
            let (sent, fired) = c.on_send(self.incarnation, runner, step);
            (sent, fired, c.latency())
        };
        if fired {
            self.nudge.notify_one();
            Self::travel(request.max(LEAST)).await;
        } else {
            Self::travel(request).await;
        }
        if let Some(e) = self.gone(step.name()) {
            return Err(e);
        }
        let pre = self.sim.snapshot();
        let result = self.sim.apply(runner, step).await;
        let post = self.sim.snapshot();
        let (repeat, fired) = {
            let mut c = lock(&self.checker);
            let fired = c.on_land(self.incarnation, runner, step, &sent, &pre, &post, &result);
            // Invariant 7: the same step again (a retry after a crash or an unknown outcome)
            // changes nothing. The record is exempt: SSM counts every put as a version, and
            // the controller never repeats a write without a fresh observation.
            let took_effect = result.is_ok() || pre != post;
            let repeat = took_effect
                && !matches!(step, Step::WriteRecord { .. })
                && self.sim.armed_faults() == 0
                && c.rng.chance(20);
            (repeat, fired)
        };
        if repeat {
            let again = self.sim.apply(runner, step).await;
            let twice = self.sim.snapshot();
            let mut c = lock(&self.checker);
            c.trace(format!("repeat {} -> {}", step.name(), again.is_ok()));
            if twice != post {
                c.breach(
                    "inv7",
                    format!("repeating {} changed the world", step.describe()),
                );
            }
        }
        lock(&self.checker).after_call();
        self.answer(answer, fired).await;
        result
    }
}
