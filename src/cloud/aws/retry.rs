//! How the SDK's standard retry treats a mutation (docs/how-it-decides.md and docs/operations.md).
//!
//! Standard mode repeats an attempt that timed out, lost its connection or got a 5xx. For a read
//! that is harmless; for a mutation it is not: a PutParameter whose answer was lost has already
//! written, so a second one makes the version jump by two (a false `ConcurrentModification`), and
//! a ModifyListener repeated up to 30 s later acts on an observation that is 30 s old. So the
//! mutating clients carry one more retry classifier, [`MutationRetryClassifier`], which runs
//! after the SDK's own and has the last word: it lets the SDK repeat a mutation only after a
//! failure that proves the mutation was not applied (AWS throttled it, or no connection was ever
//! made), and forbids a retry after anything else. The failure then reaches the controller
//! (`CloudError::Timeout` when the outcome is unknown, see `errors`), which decides its next step
//! from a fresh observation.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use aws_smithy_runtime_api::client::interceptors::context::{
    Error as OperationError, InterceptorContext,
};
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ErrorKind;

/// Error codes AWS uses for rate limiting and for requests refused because another update of the
/// same resource is under way: the SDK's own throttling list, SSM's TooManyUpdates for concurrent
/// PutParameter calls, and Auto Scaling's ResourceContention (HTTP 500, but a refusal). Every one
/// of them says the request was turned away before it was applied.
pub(crate) const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "TooManyUpdates",
    "ResourceContention",
];

/// True for a throttling answer: a listed code, or HTTP 429 whatever the code.
pub(crate) fn is_throttling(status: u16, code: Option<&str>) -> bool {
    status == 429 || code.is_some_and(|c| THROTTLING_CODES.contains(&c))
}

/// What a failed attempt of a mutation shows about whether it was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt<'a> {
    /// No connection was ever established (refused, DNS, TLS handshake, connect timeout):
    /// nothing of the request left the machine.
    NeverConnected,
    /// AWS answered with an error; `code` when the classifier can read it.
    Answered { status: u16, code: Option<&'a str> },
    /// Possibly sent, then no usable answer: the attempt timed out, the connection failed after
    /// it was made, the answer could not be read, or the failure cannot be told apart.
    Unanswered,
}

/// Whether the SDK may send a mutation again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MutationRetry {
    /// AWS refused it for the rate: back off and send it again.
    Throttled,
    /// It never left: send it again.
    NotSent,
    /// It may have been applied: the controller must look before anything is sent again.
    Forbidden,
}

/// The policy itself, as a pure function of what the attempt shows.
pub(crate) fn mutation_retry(attempt: Attempt<'_>) -> MutationRetry {
    match attempt {
        Attempt::NeverConnected => MutationRetry::NotSent,
        Attempt::Answered { status, code } if is_throttling(status, code) => {
            MutationRetry::Throttled
        }
        // A 5xx reached the service, which may have applied the change before failing; any
        // other error answer is final, and repeating it could only repeat the error.
        Attempt::Answered { .. } | Attempt::Unanswered => MutationRetry::Forbidden,
    }
}

/// True when the chain of `err` shows that the connection itself failed, so the request never
/// left: hyper's connect errors (refused, DNS, TLS, unreachable, the connect timeout) and the
/// socket errors that only a connect can raise. (Not "host unreachable" on its own: Linux also
/// reports it when an established connection times out, after the request went out.)
pub(crate) fn never_connected(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(h) = e.downcast_ref::<hyper_util::client::legacy::Error>()
            && h.is_connect()
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            )
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Reads the AWS error code of one operation's error type out of the SDK's type-erased error.
type CodeReader = for<'e> fn(&'e OperationError) -> Option<&'e str>;

fn code_of<E>(err: &OperationError) -> Option<&str>
where
    E: ProvideErrorMetadata + StdError + fmt::Debug + Send + Sync + 'static,
{
    err.downcast_ref::<E>().and_then(|e| e.code())
}

/// The SDK retry classifier of the mutating clients: [`mutation_retry`] applied to each failed
/// attempt. It is installed on a client's config (`retry_classifier`), so every operation sent
/// through that client gets it, and it runs after the SDK's classifiers so that its answer wins.
///
/// The SDK hands a classifier the operation's error with its type erased; the classifier can
/// read the code only of the error types it was told about with [`reading`](Self::reading). An
/// error it cannot read is not throttling to it (unless its status is 429), so forgetting a type
/// costs a throttled call its SDK retries, never a mutation its safety.
#[derive(Clone, Default)]
pub struct MutationRetryClassifier {
    codes: Vec<CodeReader>,
}

impl MutationRetryClassifier {
    pub fn new() -> MutationRetryClassifier {
        MutationRetryClassifier::default()
    }

    /// Reads the codes of `E`, the error type of a mutation sent through this client (e.g.
    /// `PutParameterError`, or DynamoDB's `UpdateItemError`).
    pub fn reading<E>(mut self) -> MutationRetryClassifier
    where
        E: ProvideErrorMetadata + StdError + fmt::Debug + Send + Sync + 'static,
    {
        self.codes.push(code_of::<E>);
        self
    }

    /// What the attempt in `ctx` shows; `None` when it did not fail.
    fn attempt<'c>(&self, ctx: &'c InterceptorContext) -> Option<Attempt<'c>> {
        let Some(Err(error)) = ctx.output_or_error() else {
            return None;
        };
        if let Some(err) = error.as_operation_error() {
            return Some(Attempt::Answered {
                status: ctx.response().map_or(0, |r| r.status().as_u16()),
                code: self.codes.iter().find_map(|read| read(err)),
            });
        }
        match error.as_connector_error() {
            Some(connector) if never_connected(connector) => Some(Attempt::NeverConnected),
            _ => Some(Attempt::Unanswered),
        }
    }
}

impl fmt::Debug for MutationRetryClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutationRetryClassifier")
            .field("error_types", &self.codes.len())
            .finish()
    }
}

impl ClassifyRetry for MutationRetryClassifier {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(attempt) = self.attempt(ctx) else {
            return RetryAction::NoActionIndicated;
        };
        match mutation_retry(attempt) {
            MutationRetry::Throttled => RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                // AWS may say how long to wait; the SDK's own classifier honours it too.
                retry_after: ctx
                    .response()
                    .and_then(|r| r.headers().get("x-amz-retry-after"))
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .map(Duration::from_millis),
            }),
            MutationRetry::NotSent => RetryAction::transient_error(),
            MutationRetry::Forbidden => RetryAction::RetryForbidden,
        }
    }

    fn name(&self) -> &'static str {
        "switchyard: a mutation is retried only when it was not applied"
    }

    /// After the SDK's last classifier (transient errors), so that its verdict is final.
    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
