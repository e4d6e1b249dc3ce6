//! The mutation retry policy three ways: the pure rule, the classifier on the SDK's own
//! context, and the adapter's real clients against a fake AWS that counts the attempts it gets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_sdk_autoscaling::types::Tag;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum};
use aws_sdk_ssm::operation::put_parameter::PutParameterError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::{Input, Output};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;
use tokio::io::AsyncReadExt;

use super::*;
use crate::cloud::aws::operations::{
    ATTACH_LOAD_BALANCER_TARGET_GROUPS, CREATE_OR_UPDATE_TAGS, DELETE_TAGS,
    DESCRIBE_AUTO_SCALING_GROUPS, DESCRIBE_LISTENERS, GET_CALLER_IDENTITY, GET_PARAMETERS,
    MODIFY_LISTENER, Operation, PUT_PARAMETER, UPDATE_AUTO_SCALING_GROUP,
};
use crate::cloud::aws::{ATTEMPT_TIMEOUT, AwsCloud, MAX_ATTEMPTS};
use crate::cloud::{CloudError, NoObserver};
use crate::config::AwsSettings;

// --- the rule ---

fn answered(status: u16, code: &str) -> Attempt<'_> {
    Attempt::Answered {
        status,
        code: Some(code),
    }
}

#[test]
fn a_mutation_is_retried_only_when_it_was_refused_or_never_sent() {
    use MutationRetry::*;
    let cases = [
        (Attempt::NeverConnected, NotSent),
        (answered(400, "ThrottlingException"), Throttled),
        (answered(400, "Throttling"), Throttled),
        (answered(400, "TooManyUpdates"), Throttled),
        (answered(500, "ResourceContention"), Throttled),
        (
            Attempt::Answered {
                status: 429,
                code: None,
            },
            Throttled,
        ),
        (Attempt::Unanswered, Forbidden),
        (answered(500, "InternalFailure"), Forbidden),
        (answered(503, "ServiceUnavailable"), Forbidden),
        (
            Attempt::Answered {
                status: 502,
                code: None,
            },
            Forbidden,
        ),
        (answered(400, "RequestTimeout"), Forbidden),
        (answered(400, "ValidationError"), Forbidden),
    ];
    for (attempt, expected) in cases {
        assert_eq!(mutation_retry(attempt), expected, "{attempt:?}");
    }
}

// --- real connection failures, as hyper reports them ---

/// A loopback port nothing listens on.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A loopback server that reads a request and closes the connection without answering.
async fn closing_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
        }
    });
    addr
}

/// What hyper's client says when a GET to `addr` fails.
async fn hyper_failure(addr: SocketAddr) -> hyper_util::client::legacy::Error {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let uri: hyper::Uri = format!("http://{addr}/").parse().unwrap();
    client.get(uri).await.expect_err("the exchange must fail")
}

/// The `ConnectorError` the SDK's hyper client makes of a hyper failure (aws-smithy-http-client
/// `downcast_error`): an answer cut off is "other" with a transient kind, the rest I/O.
fn as_the_sdk_reports(err: hyper_util::client::legacy::Error) -> ConnectorError {
    let cut_off = StdError::source(&err)
        .and_then(|s| s.downcast_ref::<hyper::Error>())
        .is_some_and(|h| h.is_incomplete_message());
    if cut_off {
        ConnectorError::other(Box::new(err), Some(ErrorKind::TransientError))
    } else {
        ConnectorError::io(Box::new(err))
    }
}

#[tokio::test]
async fn a_refused_connection_never_connected_and_a_closed_one_did() {
    let refused = hyper_failure(closed_port()).await;
    assert!(refused.is_connect(), "{refused:?}");
    assert!(never_connected(&refused));
    assert!(never_connected(&as_the_sdk_reports(refused)));

    let closed = hyper_failure(closing_server().await).await;
    assert!(!closed.is_connect(), "{closed:?}");
    assert!(!never_connected(&closed));
    assert!(!never_connected(&as_the_sdk_reports(closed)));

    let io = |kind| std::io::Error::from(kind);
    assert!(never_connected(&io(std::io::ErrorKind::ConnectionRefused)));
    assert!(never_connected(&io(std::io::ErrorKind::AddrNotAvailable)));
    assert!(!never_connected(&io(std::io::ErrorKind::HostUnreachable)));
    assert!(!never_connected(&io(std::io::ErrorKind::ConnectionReset)));
    assert!(!never_connected(&io(std::io::ErrorKind::BrokenPipe)));
}

// --- the classifier on the SDK's context ---

fn context(
    result: Result<(), OrchestratorError<OperationError>>,
    status: Option<u16>,
) -> InterceptorContext {
    let mut ctx = InterceptorContext::new(Input::erase("input"));
    if let Some(status) = status {
        ctx.set_response(HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::empty(),
        ));
    }
    ctx.set_output_or_error(result.map(|()| Output::erase("output")));
    ctx
}

fn put_parameter_error(code: &str) -> OrchestratorError<OperationError> {
    OrchestratorError::operation(OperationError::erase(PutParameterError::generic(
        ErrorMetadata::builder().code(code).message("m").build(),
    )))
}

fn throttling(action: &RetryAction) -> bool {
    matches!(
        action,
        RetryAction::RetryIndicated(RetryReason::RetryableError {
            kind: ErrorKind::ThrottlingError,
            ..
        })
    )
}

#[tokio::test]
async fn the_classifier_reads_what_the_sdk_hands_it() {
    let classifier = MutationRetryClassifier::new().reading::<PutParameterError>();
    let classify = |ctx: InterceptorContext| classifier.classify_retry(&ctx);

    assert_eq!(
        classify(context(Ok(()), Some(200))),
        RetryAction::NoActionIndicated
    );
    assert!(throttling(&classify(context(
        Err(put_parameter_error("ThrottlingException")),
        Some(400)
    ))));
    assert_eq!(
        classify(context(
            Err(put_parameter_error("InternalFailure")),
            Some(500)
        )),
        RetryAction::RetryForbidden
    );
    assert_eq!(
        classify(context(
            Err(OrchestratorError::timeout("attempt timeout".into())),
            None
        )),
        RetryAction::RetryForbidden
    );
    assert_eq!(
        classify(context(
            Err(OrchestratorError::response("unreadable".into())),
            Some(200)
        )),
        RetryAction::RetryForbidden
    );
    let refused = as_the_sdk_reports(hyper_failure(closed_port()).await);
    assert_eq!(
        classify(context(Err(OrchestratorError::connector(refused)), None)),
        RetryAction::transient_error()
    );
    let cut_off = as_the_sdk_reports(hyper_failure(closing_server().await).await);
    assert_eq!(
        classify(context(Err(OrchestratorError::connector(cut_off)), None)),
        RetryAction::RetryForbidden
    );

    // AWS's hint how long to wait is kept.
    let mut ctx = context(Err(put_parameter_error("ThrottlingException")), Some(400));
    ctx.response_mut()
        .unwrap()
        .headers_mut()
        .insert("x-amz-retry-after", "1500");
    assert_eq!(
        classifier.classify_retry(&ctx),
        RetryAction::RetryIndicated(RetryReason::RetryableError {
            kind: ErrorKind::ThrottlingError,
            retry_after: Some(Duration::from_millis(1500)),
        })
    );
}

#[test]
fn an_error_type_the_classifier_was_not_told_about_is_not_retried_unless_429() {
    let blind = MutationRetryClassifier::new();
    let ctx = context(Err(put_parameter_error("ThrottlingException")), Some(400));
    assert_eq!(blind.classify_retry(&ctx), RetryAction::RetryForbidden);
    let ctx = context(Err(put_parameter_error("Whatever")), Some(429));
    assert!(throttling(&blind.classify_retry(&ctx)));
}

#[test]
fn the_classifier_runs_after_the_sdks_own() {
    assert!(
        MutationRetryClassifier::new().priority()
            > RetryClassifierPriority::transient_error_classifier()
    );
}

// --- the adapter's clients against a fake AWS ---

/// What the fake AWS does with every attempt it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// Never answers: the attempt timeout ends the attempt.
    Hang,
    /// Answers with an AWS error.
    Error { status: u16, code: &'static str },
    /// AWS's throttling error code of the operation's service.
    Throttle,
    /// The connection is refused (a real hyper connect error).
    Refused,
    /// The request is read and the connection closed without an answer (a real hyper error).
    CutOff,
    /// The connection is reset after the request was sent.
    Reset,
}

/// An `HttpClient` for the SDK that plays AWS: it records the operation of every attempt.
#[derive(Debug, Clone)]
struct FakeAws {
    reply: Reply,
    attempts: Arc<Mutex<Vec<String>>>,
    cut_off_at: SocketAddr,
}

/// The operation an SDK request calls: JSON protocols name it in `X-Amz-Target`, query
/// protocols in the form's `Action`.
fn operation_of(request: &HttpRequest) -> String {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let body = std::str::from_utf8(request.body().bytes().unwrap_or_default()).unwrap();
    body.split('&')
        .find_map(|field| field.strip_prefix("Action="))
        .unwrap_or_else(|| panic!("no operation in {body:?}"))
        .to_string()
}

fn error_response(json: bool, status: u16, code: &str) -> HttpResponse {
    let (content_type, body) = if json {
        (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"{code}","message":"fake {code}"}}"#),
        )
    } else {
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                 <Message>fake {code}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            ),
        )
    };
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response.headers_mut().insert("content-type", content_type);
    response
}

impl HttpConnector for FakeAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let json = request.headers().get("x-amz-target").is_some();
        self.attempts.lock().unwrap().push(operation_of(&request));
        let (reply, cut_off_at) = (self.reply, self.cut_off_at);
        HttpConnectorFuture::new(async move {
            match reply {
                Reply::Hang => std::future::pending().await,
                Reply::Error { status, code } => Ok(error_response(json, status, code)),
                Reply::Throttle => {
                    let code = if json {
                        "ThrottlingException"
                    } else {
                        "Throttling"
                    };
                    Ok(error_response(json, 400, code))
                }
                Reply::Refused => Err(as_the_sdk_reports(hyper_failure(closed_port()).await)),
                Reply::CutOff => Err(as_the_sdk_reports(hyper_failure(cut_off_at).await)),
                Reply::Reset => Err(ConnectorError::io(Box::new(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                )))),
            }
        })
    }
}

impl HttpClient for FakeAws {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// The adapter as `connect` builds it (standard retry, timeouts, both client sets), talking to
/// the fake.
async fn cloud(fake: &FakeAws) -> AwsCloud {
    let settings = AwsSettings {
        region: "us-east-1".to_string(),
        expected_account_id: "123456789012".to_string(),
        endpoint_url: Some("http://127.0.0.1:9".to_string()),
        max_requests_per_second: Default::default(),
    };
    let config = AwsCloud::loader(&settings)
        .unwrap()
        .http_client(fake.clone())
        .load()
        .await;
    let credentials = aws_sdk_sts::config::Credentials::new("AKID", "secret", None, None, "test");
    AwsCloud::from_sdk_config(
        config,
        aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        &settings,
        Arc::new(NoObserver),
    )
}

/// Sends one call of `op` through the adapter's `call`, which picks the clients by effect.
async fn send(cloud: &AwsCloud, op: &'static Operation) -> Result<(), CloudError> {
    let tag = || {
        Tag::builder()
            .resource_id("g")
            .resource_type("auto-scaling-group")
            .key("k")
            .value("v")
            .build()
    };
    let what = op.name;
    match op.name {
        "PutParameter" => cloud
            .call(op, what, |c| {
                c.ssm
                    .put_parameter()
                    .name("/p")
                    .value("{}")
                    .overwrite(true)
                    .send()
            })
            .await
            .map(drop),
        "GetParameters" => cloud
            .call(op, what, |c| c.ssm.get_parameters().names("/p").send())
            .await
            .map(drop),
        "UpdateAutoScalingGroup" => cloud
            .call(op, what, |c| {
                c.autoscaling
                    .update_auto_scaling_group()
                    .auto_scaling_group_name("g")
                    .min_size(0)
                    .desired_capacity(0)
                    .send()
            })
            .await
            .map(drop),
        "AttachLoadBalancerTargetGroups" => cloud
            .call(op, what, |c| {
                c.autoscaling
                    .attach_load_balancer_target_groups()
                    .auto_scaling_group_name("g")
                    .target_group_arns("arn:tg")
                    .send()
            })
            .await
            .map(drop),
        "CreateOrUpdateTags" => cloud
            .call(op, what, |c| {
                c.autoscaling.create_or_update_tags().tags(tag()).send()
            })
            .await
            .map(drop),
        "DeleteTags" => cloud
            .call(op, what, |c| c.autoscaling.delete_tags().tags(tag()).send())
            .await
            .map(drop),
        "DescribeAutoScalingGroups" => cloud
            .call(op, what, |c| {
                c.autoscaling
                    .describe_auto_scaling_groups()
                    .auto_scaling_group_names("g")
                    .send()
            })
            .await
            .map(drop),
        "ModifyListener" => cloud
            .call(op, what, |c| {
                c.elbv2
                    .modify_listener()
                    .listener_arn("arn:l")
                    .default_actions(
                        Action::builder()
                            .r#type(ActionTypeEnum::Forward)
                            .target_group_arn("arn:tg")
                            .build(),
                    )
                    .send()
            })
            .await
            .map(drop),
        "ModifyRule" => cloud
            .call(op, what, |c| {
                c.elbv2
                    .modify_rule()
                    .rule_arn("arn:r")
                    .actions(
                        Action::builder()
                            .r#type(ActionTypeEnum::Forward)
                            .target_group_arn("arn:tg")
                            .build(),
                    )
                    .send()
            })
            .await
            .map(drop),
        "DescribeRules" => cloud
            .call(op, what, |c| {
                c.elbv2.describe_rules().rule_arns("arn:r").send()
            })
            .await
            .map(drop),
        "DescribeListeners" => cloud
            .call(op, what, |c| {
                c.elbv2.describe_listeners().listener_arns("arn:l").send()
            })
            .await
            .map(drop),
        "GetCallerIdentity" => cloud
            .call(op, what, |c| c.sts.get_caller_identity().send())
            .await
            .map(drop),
        other => panic!("no request for {other}"),
    }
}

/// What one call of `op` came to: the attempts AWS got, the error, and the (paused) time taken.
async fn outcome(op: &'static Operation, reply: Reply) -> (usize, CloudError, Duration) {
    let fake = FakeAws {
        reply,
        attempts: Arc::default(),
        cut_off_at: closing_server().await,
    };
    let cloud = cloud(&fake).await;
    let started = tokio::time::Instant::now();
    let err = send(&cloud, op)
        .await
        .expect_err("the fake never answers with success");
    let attempts = fake.attempts.lock().unwrap().clone();
    assert!(
        attempts.iter().all(|a| a == op.name),
        "{}: {attempts:?}",
        op.name
    );
    (attempts.len(), err, started.elapsed())
}

const MUTATIONS: [&Operation; 6] = [
    PUT_PARAMETER,
    UPDATE_AUTO_SCALING_GROUP,
    ATTACH_LOAD_BALANCER_TARGET_GROUPS,
    CREATE_OR_UPDATE_TAGS,
    DELETE_TAGS,
    MODIFY_LISTENER,
];

/// One read per service.
const READS: [&Operation; 4] = [
    GET_PARAMETERS,
    DESCRIBE_AUTO_SCALING_GROUPS,
    DESCRIBE_LISTENERS,
    GET_CALLER_IDENTITY,
];

const ALL: u32 = MAX_ATTEMPTS;

/// Attempts AWS gets, and the `kind` of the error the controller gets.
type Expected = (u32, &'static str);

/// For each reply: what a mutation comes to, then what a read comes to.
const TABLE: [(Reply, Expected, Expected); 8] = [
    (Reply::Hang, (1, "timeout"), (ALL, "timeout")),
    (Reply::CutOff, (1, "timeout"), (ALL, "timeout")),
    (Reply::Reset, (1, "timeout"), (ALL, "timeout")),
    (
        Reply::Error {
            status: 500,
            code: "InternalFailure",
        },
        (1, "timeout"),
        (ALL, "transient"),
    ),
    (
        Reply::Error {
            status: 503,
            code: "ServiceUnavailable",
        },
        (1, "timeout"),
        (ALL, "transient"),
    ),
    (Reply::Throttle, (ALL, "throttled"), (ALL, "throttled")),
    (Reply::Refused, (ALL, "transient"), (ALL, "transient")),
    (
        Reply::Error {
            status: 400,
            code: "ValidationError",
        },
        (1, "api"),
        (1, "api"),
    ),
];

#[tokio::test(start_paused = true)]
async fn mutations_are_sent_again_only_after_a_refusal_and_reads_after_any_transient_failure() {
    for (reply, mutation, read) in TABLE {
        for (ops, (attempts, kind)) in [(&MUTATIONS[..], mutation), (&READS[..], read)] {
            for &op in ops {
                let (got, err, _) = outcome(op, reply).await;
                assert_eq!(
                    (got, err.kind()),
                    (attempts as usize, kind),
                    "{} after {reply:?}: {err:?}",
                    op.name
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_held_mutation_comes_back_as_unknown_after_one_attempt_timeout() {
    let (attempts, err, took) = outcome(MODIFY_LISTENER, Reply::Hang).await;
    assert_eq!(attempts, 1);
    assert_eq!(
        err,
        CloudError::Timeout {
            service: "elbv2",
            operation: "ModifyListener",
        }
    );
    assert!(
        took >= ATTEMPT_TIMEOUT && took < ATTEMPT_TIMEOUT + Duration::from_secs(1),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn refusals_only_some_services_use_are_read_from_their_own_error_types() {
    // Neither is throttling to the SDK, both are refusals: SSM's concurrent PutParameter, and
    // Auto Scaling's pending update (a 500).
    for (op, status, code) in [
        (PUT_PARAMETER, 400, "TooManyUpdates"),
        (UPDATE_AUTO_SCALING_GROUP, 500, "ResourceContention"),
    ] {
        let (attempts, err, _) = outcome(op, Reply::Error { status, code }).await;
        assert_eq!(
            (attempts, err.kind()),
            (ALL as usize, "throttled"),
            "{code}"
        );
    }
}
