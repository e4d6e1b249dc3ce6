//! The one interface to the world. `aws` talks to AWS; `sim` is an in-process model of the same
//! pieces. The controller cannot tell them apart.

pub mod aws;
pub mod budget;
pub mod sim;

use std::future::Future;
use std::time::Duration;

use thiserror::Error;

use crate::core::{RunnerObservation, RunnerSpec, Step};
use crate::lease::Standing;

/// How much to read for a runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// At rest: target health may be skipped for shards whose ASG uses ELB health checks.
    Light,
    /// Mid-deployment: everything, including target health of every shard that has capacity.
    Full,
    /// What `Full` reads, taken right before a mutation: its requests go ahead of sweeps in the
    /// API budget (`budget::Priority::Step`).
    Fresh,
}

impl Detail {
    /// Whether target health is read for every shard that has capacity.
    pub fn is_full(self) -> bool {
        matches!(self, Detail::Full | Detail::Fresh)
    }
}

/// What a successful mutation reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// PutParameter's new version, and the value and version read back right after.
    RecordWritten {
        version: i64,
        read_back: Option<(String, i64)>,
    },
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum CloudError {
    /// Throttling: back off and try again later.
    #[error("{service} {operation} throttled: {message}")]
    Throttled {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// 5xx and connection failures where the request is known not to have been processed.
    #[error("{service} {operation} failed transiently: {message}")]
    Transient {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// No answer: the request may or may not have taken effect. Never blindly repeated.
    #[error("{service} {operation} timed out; its outcome is unknown")]
    Timeout {
        service: &'static str,
        operation: &'static str,
    },
    /// A configured resource is gone (e.g. the launch template a revision names).
    #[error("{what} does not exist: {message}")]
    ResourceMissing { what: String, message: String },
    /// Leader election is configured and this process may not mutate now
    /// (docs/high-availability.md): it is a standby, or its lease has less than the mutation's
    /// timeout left. Nothing was sent.
    #[error("not the leader: {message}")]
    NotLeader { message: String },
    /// Anything else, with the provider's error code and message.
    #[error("{service} {operation} failed: {code}: {message}")]
    Api {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
    },
}

impl CloudError {
    /// The `kind` label of `switchyard_reconcile_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            CloudError::Throttled { .. } => "throttled",
            CloudError::Transient { .. } => "transient",
            CloudError::Timeout { .. } => "timeout",
            CloudError::ResourceMissing { .. } => "resource_missing",
            CloudError::NotLeader { .. } => "not_leader",
            CloudError::Api { .. } => "api",
        }
    }

    /// Worth backing off and trying again without a human.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CloudError::Throttled { .. }
                | CloudError::Transient { .. }
                | CloudError::Timeout { .. }
        )
    }
}

/// Told about every request a cloud makes, so that `switchyard_cloud_requests_total` and
/// `switchyard_cloud_request_duration_seconds` count the simulated cloud's calls exactly as AWS's.
pub trait RequestObserver: Send + Sync + 'static {
    /// `outcome`: `success`, `throttled`, `timeout` or `error`.
    fn request(
        &self,
        service: &'static str,
        operation: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    );

    /// `delta` more (or fewer) requests wait for `service`'s API budget at `priority`.
    fn budget_waiting(&self, _service: &'static str, _priority: budget::Priority, _delta: i64) {}

    /// A request waited `waited` for `service`'s API budget.
    fn budget_waited(
        &self,
        _service: &'static str,
        _priority: budget::Priority,
        _waited: Duration,
    ) {
    }
}

/// For tests and one-shot commands that do not export metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl RequestObserver for NoObserver {
    fn request(&self, _: &'static str, _: &'static str, _: &'static str, _: Duration) {}
}

pub trait Cloud: Send + Sync + 'static {
    /// The account the credentials act in (STS GetCallerIdentity).
    fn account_id(&self) -> impl Future<Output = Result<String, CloudError>> + Send;

    /// Observes many runners at once, batching reads across them. The result has one
    /// observation per runner, in the order given.
    fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> impl Future<Output = Result<Vec<RunnerObservation>, CloudError>> + Send;

    /// Performs exactly one step. Exactly one API mutation, except `WriteRecord`, which also
    /// reads the parameter back.
    fn apply(
        &self,
        runner: &RunnerSpec,
        step: &Step,
    ) -> impl Future<Output = Result<Applied, CloudError>> + Send;

    /// Whether this process may mutate now (docs/high-availability.md). Only the lease's gate
    /// (`lease::LeaderGate`) ever answers standby; a cloud without leader election is the only
    /// writer, in one term that never ends.
    fn standing(&self) -> Standing {
        Standing::Leader { term: 0 }
    }
}
