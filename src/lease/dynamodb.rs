//! The lease in a DynamoDB table (SPEC §10: GetItem, PutItem and UpdateItem on the lease table
//! only), written with conditional writes only.
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
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};

use super::item::{Claimant, LeaseItem, LeaseWrite};
use super::settings::LeaseSettings;
use super::store::{KEY_ATTRIBUTE, LeaseStore, StoreError};
use crate::cloud::aws::errors::{Failure, classify, failure_of};
use crate::cloud::aws::operations::{Operation, op};
use crate::cloud::aws::{CONNECT_TIMEOUT, MAX_ATTEMPTS};
use crate::cloud::{CloudError, RequestObserver};

/// The DynamoDB calls, as the request metrics label them and the IAM policy grants them (the
/// policy test reads this table too).
pub const OPERATIONS: [Operation; 3] = [
    op("dynamodb", "GetItem", "dynamodb:GetItem"),
    op("dynamodb", "PutItem", "dynamodb:PutItem"),
    op("dynamodb", "UpdateItem", "dynamodb:UpdateItem"),
];
const GET_ITEM: &Operation = &OPERATIONS[0];
const PUT_ITEM: &Operation = &OPERATIONS[1];
const UPDATE_ITEM: &Operation = &OPERATIONS[2];

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
    table: String,
    region: String,
    observer: Arc<dyn RequestObserver>,
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
            table: settings.table.clone(),
            region: settings.region.clone(),
            observer,
        }
    }

    async fn call<T, E>(
        &self,
        op: &'static Operation,
        request: impl std::future::Future<Output = Result<T, SdkError<E>>>,
    ) -> Result<T, StoreError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let started = Instant::now();
        let result = request.await.map_err(|e| self.error(op, failure_of(e)));
        let outcome = match &result {
            Ok(_) => "success",
            Err(StoreError::Unknown { .. }) => "timeout",
            Err(StoreError::Unavailable { message, .. }) if message.contains("throttl") => {
                "throttled"
            }
            Err(_) => "error",
        };
        self.observer
            .request(op.service, op.name, outcome, started.elapsed());
        result
    }

    fn error(&self, op: &'static Operation, failure: Failure) -> StoreError {
        let (table, region) = (self.table.clone(), self.region.clone());
        if let Failure::Service {
            code: Some(code),
            message,
            ..
        } = &failure
        {
            let message = format!("{code}: {}", message.as_deref().unwrap_or_default());
            match code.as_str() {
                "ConditionalCheckFailedException" => return StoreError::Conflict,
                "ResourceNotFoundException" => {
                    return StoreError::TableMissing {
                        table,
                        region,
                        operation: op.name,
                        message,
                    };
                }
                "AccessDeniedException"
                | "AccessDenied"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "MissingAuthenticationTokenException" => {
                    return StoreError::Denied {
                        table,
                        region,
                        operation: op.name,
                        message,
                    };
                }
                _ => {}
            }
        }
        match classify(op, &format!("lease table {}", self.table), failure) {
            CloudError::Timeout { .. } => StoreError::Unknown { operation: op.name },
            CloudError::Throttled { message, .. } => StoreError::Unavailable {
                operation: op.name,
                message: format!("throttled: {message}"),
            },
            CloudError::Transient { message, .. } => StoreError::Unavailable {
                operation: op.name,
                message,
            },
            CloudError::ResourceMissing { message, .. } => StoreError::TableMissing {
                table,
                region,
                operation: op.name,
                message,
            },
            CloudError::Api { code, message, .. } => StoreError::Failed {
                table,
                region,
                operation: op.name,
                message: format!("{code}: {message}"),
            },
            other @ CloudError::NotLeader { .. } => StoreError::Failed {
                table,
                region,
                operation: op.name,
                message: other.to_string(),
            },
        }
    }

    fn failed(&self, op: &'static Operation, message: String) -> StoreError {
        StoreError::Failed {
            table: self.table.clone(),
            region: self.region.clone(),
            operation: op.name,
            message,
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
                .client
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
                self.client
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

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = include_str!("../../iam/policy.json");

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
