//! The one place where leadership is checked before a mutation (docs/invariants.md and
//! docs/high-availability.md, invariant 9): a `Cloud` that lets observations through and sends a
//! mutation only with a permit from the lease. The loop, `repair`, `retry` and `run --once` all
//! mutate through it.

use std::time::Duration;

use tokio::time::Instant;

use super::leadership::{Leadership, Standing};
use crate::cloud::{Applied, Cloud, CloudError, Detail};
use crate::core::{RunnerObservation, RunnerSpec, Step};

pub struct LeaderGate<C> {
    inner: C,
    leadership: Leadership,
}

impl<C> LeaderGate<C> {
    pub fn new(inner: C, leadership: Leadership) -> LeaderGate<C> {
        LeaderGate { inner, leadership }
    }

    pub fn inner(&self) -> &C {
        &self.inner
    }

    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }
}

impl<C: Cloud> Cloud for LeaderGate<C> {
    async fn account_id(&self) -> Result<String, CloudError> {
        self.inner.account_id().await
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        self.inner.observe(runners, detail).await
    }

    /// With leader election, the mutation is sent only while the lease has more than the
    /// mutation timeout left, and abandoned (an unknown outcome, decided on from a fresh
    /// observation) once that timeout has passed: it can never land after the lease could
    /// have been taken. The deadline is looked at before the call each time the call is
    /// polled, so that a process frozen mid-call (SIGSTOP, a paused VM) wakes up to the
    /// timeout rather than to sending.
    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        let Some(timeout) = self.leadership.mutation_timeout() else {
            return self.inner.apply(runner, step).await;
        };
        let _permit = self
            .leadership
            .permit(timeout)
            .map_err(|refusal| CloudError::NotLeader {
                message: format!("{} not sent: {refusal}", step.describe()),
            })?;
        let deadline = Instant::now() + timeout;
        let call = self.inner.apply(runner, step);
        tokio::pin!(call);
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(deadline) => Err(timed_out(step, timeout)),
            answer = &mut call => answer,
        }
    }

    fn standing(&self) -> Standing {
        self.leadership.standing()
    }
}

fn timed_out(step: &Step, timeout: Duration) -> CloudError {
    tracing::warn!(
        step = step.name(),
        timeout_ms = timeout.as_millis() as u64,
        "the mutation did not finish within the lease's mutation timeout; its outcome is unknown"
    );
    CloudError::Timeout {
        service: "switchyard",
        operation: step.name(),
    }
}
