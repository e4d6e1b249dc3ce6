//! The lease in a DynamoDB table (docs/operations.md: GetItem, PutItem and UpdateItem on the lease
//! table only), written with conditional writes only.
//!
//! The table has one key, `leaseName` (a string); one item per lease. Attributes:
//! `recordVersion` (number, bumped by every acquire, renew and release), `leaseDurationMs`,
//! `holder` and `holderToken` (absent when released), `handoverTo`/`handoverToken` (a one-shot
//! command asking for the lease), `reservedFor`/`reservedToken` (released for that one), and
//! `updatedAt` (wall-clock time of the last write, for people only: no decision reads it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};

use super::item::{Claimant, LeaseItem, LeaseWrite};
use super::settings::LeaseSettings;
use super::store::{KEY_ATTRIBUTE, LeaseStore, StoreError};
use crate::cloud::RequestObserver;
use crate::cloud::aws::errors::{Failure, failure_of};
use crate::cloud::aws::retry::MutationRetryClassifier;
use crate::cloud::aws::{CONNECT_TIMEOUT, MAX_ATTEMPTS};
use crate::cloud::budget::{Budget, Priority, RequestRates};

/// One DynamoDB call, as the request metrics label it and the IAM policy grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseOperation {
    pub service: &'static str,
    pub name: &'static str,
    pub action: &'static str,
}

/// Every DynamoDB call (the IAM policy test reads this table too).
pub const OPERATIONS: [LeaseOperation; 3] = [
    LeaseOperation {
        service: "dynamodb",
        name: "GetItem",
        action: "dynamodb:GetItem",
    },
    LeaseOperation {
        service: "dynamodb",
        name: "PutItem",
        action: "dynamodb:PutItem",
    },
    LeaseOperation {
        service: "dynamodb",
        name: "UpdateItem",
        action: "dynamodb:UpdateItem",
    },
];
const GET_ITEM: &LeaseOperation = &OPERATIONS[0];
const PUT_ITEM: &LeaseOperation = &OPERATIONS[1];
const UPDATE_ITEM: &LeaseOperation = &OPERATIONS[2];

/// DynamoDB's answers that turn a request away for the rate, before applying it.
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
];

const VERSION: &str = "recordVersion";
const DURATION: &str = "leaseDurationMs";
const HOLDER: &str = "holder";
const HOLDER_TOKEN: &str = "holderToken";
const HANDOVER: &str = "handoverTo";
const HANDOVER_TOKEN: &str = "handoverToken";
const RESERVED: &str = "reservedFor";
const RESERVED_TOKEN: &str = "reservedToken";
const UPDATED: &str = "updatedAt";

pub struct DynamoLeaseStore {
    client: aws_sdk_dynamodb::Client,
    /// PutItem and UpdateItem: repeated by the SDK only after an error that proves the write
    /// was not applied (the rule for every mutation, docs/how-it-decides.md). A renewal repeated after it landed
    /// would find its own version moved and look like a lost lease.
    writer: aws_sdk_dynamodb::Client,
    table: String,
    region: String,
    observer: Arc<dyn RequestObserver>,
    /// DynamoDB's API budget; the lease's calls are steps, never held behind anything.
    budget: Budget,
}

impl std::fmt::Debug for DynamoLeaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoLeaseStore")
            .field("table", &self.table)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl DynamoLeaseStore {
    /// Credentials from the default provider chain, as for the rest of AWS. Every call is
    /// bounded by one renew interval: a renewal that takes longer is of no use, and the
    /// elector decides what to do next from a fresh read.
    pub async fn connect(
        settings: &LeaseSettings,
        observer: Arc<dyn RequestObserver>,
    ) -> DynamoLeaseStore {
        let budget = settings.timing.renew_interval;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT.min(budget))
                    .operation_attempt_timeout(budget)
                    .operation_timeout(budget)
                    .build(),
            );
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        DynamoLeaseStore {
            client: aws_sdk_dynamodb::Client::new(&config),
            writer: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config)
                    .retry_classifier(writer_retry())
                    .build(),
            ),
            table: settings.table.clone(),
            region: settings.region.clone(),
            budget: Budget::new(
                &RequestRates {
                    dynamodb: settings.max_requests_per_second,
                    ..RequestRates::default()
                },
                Arc::clone(&observer),
            ),
            observer,
        }
    }

    async fn call<T, E>(
        &self,
        op: &'static LeaseOperation,
        request: impl std::future::Future<Output = Result<T, SdkError<E>>>,
    ) -> Result<T, StoreError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.budget.admit(op.service, Priority::Step).await;
        let started = Instant::now();
        let result = request.await.map_err(|e| self.error(op, failure_of(e)));
        let outcome = match &result {
            Ok(_) => "success",
            Err(StoreError::Unknown { .. }) => "timeout",
            Err(StoreError::Unavailable { message, .. }) if message.starts_with("throttled") => {
                "throttled"
            }
            Err(_) => "error",
        };
        self.observer
            .request(op.service, op.name, outcome, started.elapsed());
        result
    }

    fn error(&self, op: &'static LeaseOperation, failure: Failure) -> StoreError {
        map_failure(&self.table, &self.region, op.name, failure)
    }

    fn failed(&self, op: &'static LeaseOperation, message: String) -> StoreError {
        StoreError::Failed {
            table: self.table.clone(),
            region: self.region.clone(),
            operation: op.name,
            message,
        }
    }
}

/// What a failed DynamoDB call means for the lease.
pub(crate) fn map_failure(
    table: &str,
    region: &str,
    operation: &'static str,
    failure: Failure,
) -> StoreError {
    let (table, region) = (table.to_owned(), region.to_owned());
    match failure {
        Failure::TimedOut | Failure::Lost(_) => StoreError::Unknown { operation },
        Failure::Unreadable {
            status: Some(status),
            message,
        } if status >= 500 => StoreError::Unavailable { operation, message },
        // A 2xx that could not be read was processed; anything else garbled is as good as
        // lost.
        Failure::Unreadable { .. } => StoreError::Unknown { operation },
        Failure::NotSent(message) => StoreError::Unavailable { operation, message },
        Failure::Construction(message) => StoreError::Failed {
            table,
            region,
            operation,
            message,
        },
        Failure::Service {
            status,
            code,
            message,
        } => {
            let code = code.unwrap_or_else(|| format!("HTTP{status}"));
            let message = format!("{code}: {}", message.unwrap_or_default());
            match code.as_str() {
                "ConditionalCheckFailedException" => StoreError::Conflict,
                "ResourceNotFoundException" => StoreError::TableMissing {
                    table,
                    region,
                    operation,
                    message,
                },
                "AccessDeniedException"
                | "AccessDenied"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "MissingAuthenticationTokenException" => StoreError::Denied {
                    table,
                    region,
                    operation,
                    message,
                },
                c if status == 429 || THROTTLING_CODES.contains(&c) => StoreError::Unavailable {
                    operation,
                    message: format!("throttled: {message}"),
                },
                _ if status >= 500 => StoreError::Unavailable { operation, message },
                _ => StoreError::Failed {
                    table,
                    region,
                    operation,
                    message,
                },
            }
        }
    }
}

impl LeaseStore for DynamoLeaseStore {
    async fn read(&self, lease: &str) -> Result<Option<LeaseItem>, StoreError> {
        let out = self
            .call(
                GET_ITEM,
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key(KEY_ATTRIBUTE, AttributeValue::S(lease.to_owned()))
                    .consistent_read(true)
                    .send(),
            )
            .await?;
        out.item()
            .map(decode)
            .transpose()
            .map_err(|e| self.failed(GET_ITEM, e))
    }

    async fn write(
        &self,
        lease: &str,
        me: &Claimant,
        lease_duration: Duration,
        write: &LeaseWrite,
    ) -> Result<LeaseItem, StoreError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let expr = expressions(write, me, lease_duration, &now);
        if let LeaseWrite::Create = write {
            let mut put = self
                .writer
                .put_item()
                .table_name(&self.table)
                .item(KEY_ATTRIBUTE, AttributeValue::S(lease.to_owned()))
                .condition_expression(expr.condition)
                .set_expression_attribute_names(Some(expr.names));
            for (name, value) in expr.item {
                put = put.item(name, value);
            }
            self.call(PUT_ITEM, put.send()).await?;
            return write
                .apply(None, me, lease_duration)
                .ok_or_else(|| self.failed(PUT_ITEM, "a created lease item".into()));
        }
        let out = self
            .call(
                UPDATE_ITEM,
                self.writer
                    .update_item()
                    .table_name(&self.table)
                    .key(KEY_ATTRIBUTE, AttributeValue::S(lease.to_owned()))
                    .update_expression(expr.update)
                    .condition_expression(expr.condition)
                    .set_expression_attribute_names(Some(expr.names))
                    .set_expression_attribute_values(Some(expr.values))
                    .return_values(ReturnValue::AllNew)
                    .send(),
            )
            .await?;
        let attributes = out.attributes().ok_or_else(|| {
            self.failed(
                UPDATE_ITEM,
                "UpdateItem returned no attributes for ALL_NEW".into(),
            )
        })?;
        decode(attributes).map_err(|e| self.failed(UPDATE_ITEM, e))
    }
}

/// One write as DynamoDB expressions. For `Create`, `item` holds the attributes to put and
/// `update` is empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Expressions {
    pub update: String,
    pub condition: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
    pub item: Vec<(String, AttributeValue)>,
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(number: u64) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The expressions of `write` by `me`; `now` is only written for people to read.
pub fn expressions(
    write: &LeaseWrite,
    me: &Claimant,
    lease_duration: Duration,
    now: &str,
) -> Expressions {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut name = |attribute: &str| {
        let placeholder = format!("#{attribute}");
        names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    };
    let mut value = |key: &str, v: AttributeValue| {
        let placeholder = format!(":{key}");
        values.insert(placeholder.clone(), v);
        placeholder
    };
    let (update, condition, item) = match write {
        LeaseWrite::Create => (
            String::new(),
            format!("attribute_not_exists({})", name(KEY_ATTRIBUTE)),
            vec![
                (VERSION.to_owned(), n(1)),
                (DURATION.to_owned(), n(millis(lease_duration))),
                (HOLDER.to_owned(), s(&me.identity)),
                (HOLDER_TOKEN.to_owned(), s(&me.token)),
                (UPDATED.to_owned(), s(now)),
            ],
        ),
        LeaseWrite::Take { from } => (
            format!(
                "SET {} = {}, {} = {}, {} = {}, {} = {}, {} = {} REMOVE {}, {}, {}, {}",
                name(VERSION),
                value("next", n(from + 1)),
                name(DURATION),
                value("duration", n(millis(lease_duration))),
                name(HOLDER),
                value("me", s(&me.identity)),
                name(HOLDER_TOKEN),
                value("token", s(&me.token)),
                name(UPDATED),
                value("now", s(now)),
                name(HANDOVER),
                name(HANDOVER_TOKEN),
                name(RESERVED),
                name(RESERVED_TOKEN),
            ),
            format!("{} = {}", name(VERSION), value("from", n(*from))),
            Vec::new(),
        ),
        LeaseWrite::Renew { from } => (
            format!(
                "SET {} = {}, {} = {}, {} = {}",
                name(VERSION),
                value("next", n(from + 1)),
                name(DURATION),
                value("duration", n(millis(lease_duration))),
                name(UPDATED),
                value("now", s(now)),
            ),
            format!(
                "{} = {} AND {} = {}",
                name(VERSION),
                value("from", n(*from)),
                name(HOLDER_TOKEN),
                value("token", s(&me.token)),
            ),
            Vec::new(),
        ),
        LeaseWrite::RequestHandover { at } => (
            format!(
                "SET {} = {}, {} = {}",
                name(HANDOVER),
                value("me", s(&me.identity)),
                name(HANDOVER_TOKEN),
                value("token", s(&me.token)),
            ),
            format!(
                "{} = {} AND attribute_exists({})",
                name(VERSION),
                value("at", n(*at)),
                name(HOLDER_TOKEN),
            ),
            Vec::new(),
        ),
        LeaseWrite::Release { from, reserve_for } => {
            let mut set = format!(
                "SET {} = {}, {} = {}",
                name(VERSION),
                value("next", n(from + 1)),
                name(UPDATED),
                value("now", s(now)),
            );
            let mut remove = format!(
                "REMOVE {}, {}, {}, {}",
                name(HOLDER),
                name(HOLDER_TOKEN),
                name(HANDOVER),
                name(HANDOVER_TOKEN),
            );
            match reserve_for {
                Some(to) => {
                    set.push_str(&format!(
                        ", {} = {}, {} = {}",
                        name(RESERVED),
                        value("reserved", s(&to.identity)),
                        name(RESERVED_TOKEN),
                        value("reservedToken", s(&to.token)),
                    ));
                }
                None => {
                    remove.push_str(&format!(", {}, {}", name(RESERVED), name(RESERVED_TOKEN)));
                }
            }
            (
                format!("{set} {remove}"),
                format!(
                    "{} = {} AND {} = {}",
                    name(VERSION),
                    value("from", n(*from)),
                    name(HOLDER_TOKEN),
                    value("token", s(&me.token)),
                ),
                Vec::new(),
            )
        }
    };
    Expressions {
        update,
        condition,
        names,
        values,
        item,
    }
}

/// The item as DynamoDB returns it.
pub fn decode(attributes: &HashMap<String, AttributeValue>) -> Result<LeaseItem, String> {
    let text = |key: &str| -> Option<String> {
        attributes
            .get(key)
            .and_then(|v| v.as_s().ok())
            .map(String::to_owned)
    };
    let number = |key: &str| -> Result<u64, String> {
        attributes
            .get(key)
            .and_then(|v| v.as_n().ok())
            .ok_or_else(|| format!("the lease item has no number {key}"))?
            .parse()
            .map_err(|e| format!("the lease item's {key} is not a whole number: {e}"))
    };
    let claimant = |name: &str, token: &str| match (text(name), text(token)) {
        (Some(identity), Some(token)) => Some(Claimant { identity, token }),
        _ => None,
    };
    Ok(LeaseItem {
        version: number(VERSION)?,
        holder: claimant(HOLDER, HOLDER_TOKEN),
        lease_duration: Duration::from_millis(number(DURATION)?),
        handover_to: claimant(HANDOVER, HANDOVER_TOKEN),
        reserved_for: claimant(RESERVED, RESERVED_TOKEN),
    })
}

/// The lease's writes are mutations like any other: retried by the SDK only when refused or
/// never sent. A lost conditional write is a claim that may have landed; the elector reads again.
fn writer_retry() -> MutationRetryClassifier {
    MutationRetryClassifier::new()
        .reading::<PutItemError>()
        .reading::<UpdateItemError>()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = include_str!("../../iam/policy.json");

    #[test]
    fn a_lease_write_is_retried_when_throttled_and_never_when_its_condition_failed_or_it_timed_out()
    {
        use aws_smithy_runtime_api::client::interceptors::context::{
            Input, InterceptorContext, Output,
        };
        use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
        use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        use aws_smithy_types::retry::ErrorKind;

        let classify = |error: OrchestratorError<_>, status: Option<u16>| {
            let mut ctx = InterceptorContext::new(Input::erase("input"));
            if let Some(status) = status {
                ctx.set_response(
                    aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                        StatusCode::try_from(status).unwrap(),
                        SdkBody::empty(),
                    ),
                );
            }
            ctx.set_output_or_error(Err::<Output, _>(error));
            writer_retry().classify_retry(&ctx)
        };
        let meta = |code: &str| ErrorMetadata::builder().code(code).message("m").build();
        let update = |code: &str| {
            OrchestratorError::operation(
                aws_smithy_runtime_api::client::interceptors::context::Error::erase(
                    UpdateItemError::generic(meta(code)),
                ),
            )
        };
        let put = |code: &str| {
            OrchestratorError::operation(
                aws_smithy_runtime_api::client::interceptors::context::Error::erase(
                    PutItemError::generic(meta(code)),
                ),
            )
        };
        let throttled = |action: RetryAction| match action {
            RetryAction::RetryIndicated(reason) => {
                format!("{reason:?}").contains(&format!("{:?}", ErrorKind::ThrottlingError))
            }
            _ => false,
        };

        for error in [
            update("ProvisionedThroughputExceededException"),
            put("ProvisionedThroughputExceededException"),
            update("ThrottlingException"),
        ] {
            assert!(throttled(classify(error, Some(400))));
        }
        for (error, status) in [
            (update("ConditionalCheckFailedException"), Some(400)),
            (put("ConditionalCheckFailedException"), Some(400)),
            (update("InternalServerError"), Some(500)),
            (OrchestratorError::timeout("attempt timeout".into()), None),
        ] {
            assert_eq!(classify(error, status), RetryAction::RetryForbidden);
        }
    }

    fn me() -> Claimant {
        Claimant::new("pod-a", "tok-a")
    }

    #[test]
    fn the_policy_grants_the_lease_calls_on_the_lease_table_only() {
        let policy: serde_json::Value = serde_json::from_str(POLICY).unwrap();
        let statements: Vec<&serde_json::Value> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"].to_string().contains("dynamodb:"))
            .collect();
        assert_eq!(statements.len(), 1, "{statements:#?}");
        let actions: Vec<&str> = statements[0]["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = OPERATIONS.iter().map(|o| o.action).collect();
        assert_eq!(actions, ours);
        assert_eq!(
            statements[0]["Resource"],
            "arn:aws:dynamodb:*:*:table/switchyard-leases"
        );
    }

    #[test]
    fn a_renewal_is_conditioned_on_our_version_and_token_and_bumps_the_version() {
        let e = expressions(
            &LeaseWrite::Renew { from: 7 },
            &me(),
            Duration::from_secs(15),
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(
            e.condition,
            "#recordVersion = :from AND #holderToken = :token"
        );
        assert!(
            e.update.starts_with("SET #recordVersion = :next"),
            "{}",
            e.update
        );
        assert_eq!(e.values[":from"], AttributeValue::N("7".into()));
        assert_eq!(e.values[":next"], AttributeValue::N("8".into()));
        assert_eq!(e.values[":token"], AttributeValue::S("tok-a".into()));
        assert_eq!(e.values[":duration"], AttributeValue::N("15000".into()));
        // DynamoDB refuses names or values that the expressions do not use.
        for key in e.names.keys().chain(e.values.keys()) {
            assert!(
                e.update.contains(key.as_str()) || e.condition.contains(key.as_str()),
                "{key} unused"
            );
        }
    }

    #[test]
    fn every_write_uses_exactly_the_names_and_values_it_declares() {
        let writes = [
            LeaseWrite::Create,
            LeaseWrite::Take { from: 3 },
            LeaseWrite::Renew { from: 3 },
            LeaseWrite::RequestHandover { at: 3 },
            LeaseWrite::Release {
                from: 3,
                reserve_for: None,
            },
            LeaseWrite::Release {
                from: 3,
                reserve_for: Some(Claimant::new("repair", "tok-r")),
            },
        ];
        for w in writes {
            let e = expressions(&w, &me(), Duration::from_secs(15), "now");
            let text = format!("{} {}", e.update, e.condition);
            for key in e.names.keys().chain(e.values.keys()) {
                assert!(text.contains(key.as_str()), "{w:?}: {key} unused in {text}");
            }
            for token in text.split([' ', ',', '(', ')']) {
                if token.starts_with('#') {
                    assert!(e.names.contains_key(token), "{w:?}: {token} undeclared");
                }
                if token.starts_with(':') {
                    assert!(e.values.contains_key(token), "{w:?}: {token} undeclared");
                }
            }
        }
    }

    #[test]
    fn an_item_decodes_with_and_without_its_optional_parts() {
        let mut attributes: HashMap<String, AttributeValue> = [
            (KEY_ATTRIBUTE, s("switchyard")),
            (VERSION, n(4)),
            (DURATION, n(15_000)),
            (HOLDER, s("pod-a")),
            (HOLDER_TOKEN, s("tok-a")),
            (RESERVED, s("repair")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let item = decode(&attributes).unwrap();
        assert_eq!(item.version, 4);
        assert_eq!(item.holder, Some(me()));
        assert_eq!(item.lease_duration, Duration::from_secs(15));
        assert_eq!(
            item.reserved_for, None,
            "a name without its token claims nothing"
        );
        attributes.remove(VERSION);
        assert!(decode(&attributes).unwrap_err().contains("recordVersion"));
    }

    #[test]
    fn failures_map_to_what_they_mean_for_the_lease() {
        let map = |failure| map_failure("leases", "eu-west-1", "UpdateItem", failure);
        let service = |status: u16, code: &str| Failure::Service {
            status,
            code: Some(code.to_owned()),
            message: Some("text".to_owned()),
        };
        assert_eq!(
            map(service(400, "ConditionalCheckFailedException")),
            StoreError::Conflict
        );
        assert!(matches!(
            map(service(400, "ResourceNotFoundException")),
            StoreError::TableMissing { .. }
        ));
        assert!(matches!(
            map(service(400, "AccessDeniedException")),
            StoreError::Denied { .. }
        ));
        for throttled in [
            service(400, "ProvisionedThroughputExceededException"),
            service(400, "ThrottlingException"),
            service(429, "Whatever"),
        ] {
            let StoreError::Unavailable { message, .. } = map(throttled) else {
                panic!("throttling is a refusal");
            };
            assert!(message.starts_with("throttled"), "{message}");
        }
        assert!(matches!(
            map(service(500, "InternalServerError")),
            StoreError::Unavailable { .. }
        ));
        assert!(matches!(
            map(service(400, "ValidationException")),
            StoreError::Failed { .. }
        ));
        // Sent, then no answer: the write may have landed.
        assert!(matches!(map(Failure::TimedOut), StoreError::Unknown { .. }));
        assert!(matches!(
            map(Failure::Lost("reset".into())),
            StoreError::Unknown { .. }
        ));
        assert!(matches!(
            map(Failure::NotSent("refused".into())),
            StoreError::Unavailable { .. }
        ));
    }

    #[test]
    fn errors_name_the_table_the_region_and_the_create_table_command() {
        let missing = StoreError::TableMissing {
            table: "switchyard-leases".into(),
            region: "eu-west-1".into(),
            operation: "GetItem",
            message: "ResourceNotFoundException: Requested resource not found".into(),
        }
        .to_string();
        assert!(missing.contains("switchyard-leases"), "{missing}");
        assert!(missing.contains("eu-west-1"), "{missing}");
        assert!(
            missing.contains(
                "aws dynamodb create-table --table-name switchyard-leases \
                 --attribute-definitions AttributeName=leaseName,AttributeType=S \
                 --key-schema AttributeName=leaseName,KeyType=HASH \
                 --billing-mode PAY_PER_REQUEST --region eu-west-1"
            ),
            "{missing}"
        );
        let denied = StoreError::Denied {
            table: "switchyard-leases".into(),
            region: "eu-west-1".into(),
            operation: "UpdateItem",
            message: "AccessDeniedException: not authorized".into(),
        }
        .to_string();
        assert!(denied.contains("dynamodb:UpdateItem"), "{denied}");
        assert!(denied.contains("iam/policy.json"), "{denied}");
        assert!(denied.contains("create-table"), "{denied}");
    }
}
