//! AWS failures mapped onto `CloudError`: what the controller may retry, what is unknown, what is
//! gone, and what needs a human. The SDK's own standard retry has already run when we get here
//! (for a mutation, only where `retry` allows it).

use std::error::Error as StdError;

use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::operations::{Effect, Operation};
use super::retry::{is_throttling, never_connected};
use crate::cloud::CloudError;

/// ELBv2 and SSM say "gone" with a dedicated code.
const NOT_FOUND_CODES: &[&str] = &[
    "TargetGroupNotFound",
    "TargetGroupNotFoundException",
    "ListenerNotFound",
    "ListenerNotFoundException",
    "LoadBalancerNotFound",
    "LoadBalancerNotFoundException",
    "ParameterNotFound",
];

/// A failed call, reduced to what the mapping needs. Built from the SDK's error so that the
/// mapping itself is a pure function that tests can drive code by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request could not even be built: a bug or a bad setting, not the network.
    Construction(String),
    /// The operation or attempt timeout fired: the request may have been processed.
    TimedOut,
    /// The request was known not to reach AWS (connection refused, DNS, TLS, no credentials).
    NotSent(String),
    /// The connection failed after it was made, so the request may have been sent: outcome
    /// unknown.
    Lost(String),
    /// A response came that could not be read.
    Unreadable {
        status: Option<u16>,
        message: String,
    },
    /// AWS answered with an error.
    Service {
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
}

/// Maps a failure of `op` on the resource described by `what` (e.g. `auto scaling group x`).
pub(crate) fn classify(op: &'static Operation, what: &str, failure: Failure) -> CloudError {
    let (service, operation) = (op.service, op.name);
    // A 5xx means the request reached the service, which may have applied a mutation before it
    // failed: its outcome is unknown. For a read it is only a failed read.
    let server_error = |message: String| match op.effect {
        Effect::Read => CloudError::Transient {
            service,
            operation,
            message,
        },
        Effect::Mutation => CloudError::Timeout { service, operation },
    };
    match failure {
        Failure::Construction(message) => CloudError::Api {
            service,
            operation,
            code: "RequestConstruction".to_string(),
            message,
        },
        Failure::TimedOut => CloudError::Timeout { service, operation },
        Failure::NotSent(message) => CloudError::Transient {
            service,
            operation,
            message,
        },
        Failure::Lost(_) => CloudError::Timeout { service, operation },
        Failure::Unreadable { status, message } => match status {
            Some(s) if s >= 500 => server_error(message),
            // A 2xx we could not parse was processed; anything else garbled is as good as lost.
            _ => CloudError::Timeout { service, operation },
        },
        Failure::Service {
            status,
            code,
            message,
        } => {
            let code = code.unwrap_or_else(|| format!("HTTP{status}"));
            let message = message.unwrap_or_default();
            if is_throttling(status, Some(code.as_str())) {
                return CloudError::Throttled {
                    service,
                    operation,
                    message: format!("{code}: {message}"),
                };
            }
            if let Some(what) = missing_resource(&code, &message, what) {
                return CloudError::ResourceMissing { what, message };
            }
            if status >= 500 {
                return server_error(format!("{code}: {message}"));
            }
            CloudError::Api {
                service,
                operation,
                code,
                message,
            }
        }
    }
}

/// Names the missing resource when the error says one is gone. Auto Scaling reports a missing
/// group or launch template only through a ValidationError's (or InvalidParameterValue's) text.
fn missing_resource(code: &str, message: &str, what: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let gone = lower.contains("not found")
        || lower.contains("does not exist")
        || lower.contains("doesn't exist")
        || lower.contains("could not be found");
    if (lower.contains("launch template") || lower.contains("launchtemplate")) && gone {
        return Some(format!("launch template ({what})"));
    }
    if code.starts_with("InvalidLaunchTemplate") && (code.contains("NotFound") || gone) {
        return Some(format!("launch template ({what})"));
    }
    if NOT_FOUND_CODES.contains(&code) {
        return Some(what.to_string());
    }
    if matches!(
        code,
        "ValidationError" | "InvalidParameterValue" | "ResourceNotFound"
    ) && gone
    {
        return Some(what.to_string());
    }
    None
}

/// Reduces the SDK's error to a `Failure`. The display text never holds credentials or signed
/// headers: the SDK keeps those out of its errors, and we never print the raw request.
pub(crate) fn failure_of<E>(err: SdkError<E>) -> Failure
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match err {
        SdkError::ConstructionFailure(_) => {
            Failure::Construction(DisplayErrorContext(&err).to_string())
        }
        SdkError::TimeoutError(_) => Failure::TimedOut,
        SdkError::DispatchFailure(ref dispatch) => {
            let message = DisplayErrorContext(&err).to_string();
            // The order matters: a connect timeout is a timeout that never connected.
            if never_connected(&err) {
                Failure::NotSent(message)
            } else if dispatch.is_timeout() {
                Failure::TimedOut
            } else if dispatch.is_io() || reached_http_client(&err) {
                // Includes hyper's "incomplete message": the answer was cut off.
                Failure::Lost(message)
            } else {
                // Failed before the HTTP client was given the request: credentials, signing.
                Failure::NotSent(message)
            }
        }
        SdkError::ResponseError(ref response) => Failure::Unreadable {
            status: Some(response.raw().status().as_u16()),
            message: DisplayErrorContext(&err).to_string(),
        },
        SdkError::ServiceError(ref service) => Failure::Service {
            status: service.raw().status().as_u16(),
            code: service.err().code().map(str::to_string),
            message: service.err().message().map(str::to_string),
        },
        other => Failure::Lost(DisplayErrorContext(&other).to_string()),
    }
}

/// True when the HTTP client itself failed, i.e. the request had been handed to it.
fn reached_http_client(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<hyper::Error>() || e.is::<hyper_util::client::legacy::Error>() {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::aws::operations::{
        DESCRIBE_TARGET_HEALTH, GET_PARAMETERS, MODIFY_LISTENER, PUT_PARAMETER,
        UPDATE_AUTO_SCALING_GROUP,
    };

    fn service(status: u16, code: &str, message: &str) -> Failure {
        Failure::Service {
            status,
            code: Some(code.to_string()),
            message: Some(message.to_string()),
        }
    }

    #[test]
    fn throttling_codes_are_throttled() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "TooManyUpdates",
            "RequestLimitExceeded",
            "TooManyRequestsException",
            "ResourceContention",
        ] {
            let err = classify(
                PUT_PARAMETER,
                "parameter /p",
                service(400, code, "slow down"),
            );
            assert!(
                matches!(err, CloudError::Throttled { .. }),
                "{code}: {err:?}"
            );
            assert_eq!(err.kind(), "throttled");
        }
    }

    #[test]
    fn a_throttling_status_is_throttled_whatever_the_code() {
        let err = classify(PUT_PARAMETER, "p", service(429, "Whatever", "slow"));
        assert_eq!(err.kind(), "throttled");
    }

    #[test]
    fn server_errors_fail_a_read_but_leave_a_mutation_unknown() {
        for status in [500, 503] {
            let err = classify(
                GET_PARAMETERS,
                "p",
                service(status, "InternalServerError", "boom"),
            );
            assert_eq!(err.kind(), "transient", "read, {status}");
            let err = classify(
                MODIFY_LISTENER,
                "l",
                service(status, "InternalFailure", "boom"),
            );
            assert_eq!(
                err,
                CloudError::Timeout {
                    service: "elbv2",
                    operation: "ModifyListener",
                },
                "mutation, {status}"
            );
        }
    }

    #[test]
    fn client_errors_are_api_errors() {
        let err = classify(
            PUT_PARAMETER,
            "p",
            service(400, "AccessDeniedException", "not allowed"),
        );
        assert_eq!(
            err,
            CloudError::Api {
                service: "ssm",
                operation: "PutParameter",
                code: "AccessDeniedException".into(),
                message: "not allowed".into(),
            }
        );
    }

    #[test]
    fn missing_resources_are_named() {
        let err = classify(
            UPDATE_AUTO_SCALING_GROUP,
            "auto scaling group a-blue",
            service(
                400,
                "ValidationError",
                "AutoScalingGroup name not found - a-blue",
            ),
        );
        assert_eq!(
            err,
            CloudError::ResourceMissing {
                what: "auto scaling group a-blue".into(),
                message: "AutoScalingGroup name not found - a-blue".into(),
            }
        );
        for message in [
            "The specified version 99 for the launch template lt-0abc does not exist",
            "The launch template lt-0abc was not found",
        ] {
            for code in ["ValidationError", "InvalidParameterValue"] {
                let err = classify(
                    UPDATE_AUTO_SCALING_GROUP,
                    "auto scaling group a-blue",
                    service(400, code, message),
                );
                match err {
                    CloudError::ResourceMissing { what, .. } => {
                        assert!(what.starts_with("launch template"), "{what}")
                    }
                    other => panic!("{code} {message}: {other:?}"),
                }
            }
        }
        let err = classify(
            DESCRIBE_TARGET_HEALTH,
            "target group arn:tg",
            service(
                400,
                "TargetGroupNotFound",
                "One or more target groups not found",
            ),
        );
        assert_eq!(err.kind(), "resource_missing");
        let err = classify(
            UPDATE_AUTO_SCALING_GROUP,
            "a",
            service(
                400,
                "ValidationError",
                "Desired capacity:5 must be between 0 and 2",
            ),
        );
        assert_eq!(err.kind(), "api");
    }

    #[test]
    fn unknown_outcomes_are_timeouts_and_unsent_requests_are_transient() {
        assert_eq!(
            classify(PUT_PARAMETER, "p", Failure::TimedOut).kind(),
            "timeout"
        );
        assert_eq!(
            classify(PUT_PARAMETER, "p", Failure::Lost("reset".into())).kind(),
            "timeout"
        );
        assert_eq!(
            classify(PUT_PARAMETER, "p", Failure::NotSent("refused".into())).kind(),
            "transient"
        );
        let ok_but_garbled = Failure::Unreadable {
            status: Some(200),
            message: "bad xml".into(),
        };
        assert_eq!(
            classify(PUT_PARAMETER, "p", ok_but_garbled).kind(),
            "timeout"
        );
        let garbled_5xx = Failure::Unreadable {
            status: Some(503),
            message: "bad xml".into(),
        };
        assert_eq!(
            classify(GET_PARAMETERS, "p", garbled_5xx.clone()).kind(),
            "transient"
        );
        assert_eq!(classify(PUT_PARAMETER, "p", garbled_5xx).kind(), "timeout");
    }
}
