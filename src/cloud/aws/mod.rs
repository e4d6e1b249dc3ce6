//! The `Cloud` interface over the AWS SDK: SSM for the status record, Auto Scaling for the
//! shards, ELBv2 for target health and the listener, STS for the account (SPEC §10).
//!
//! Retries belong to the SDK alone (standard mode, configured once in `connect`); every call
//! has an attempt and an operation timeout. A call that times out is reported as
//! `CloudError::Timeout` and never repeated here: the controller decides from a fresh
//! observation.

mod apply;
mod errors;
mod observe;
pub mod operations;

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use thiserror::Error;

use self::operations::{GET_CALLER_IDENTITY, Operation};
use crate::cloud::{Applied, Cloud, CloudError, Detail, RequestObserver};
use crate::config::AwsSettings;
use crate::core::{HealthCheckSettings, RunnerObservation, RunnerSpec, Step};

/// Attempts per call, the first included, for the SDK's standard retry mode.
pub const MAX_ATTEMPTS: u32 = 3;
/// One HTTP attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole call, retries and their backoff included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Health-check settings of a target group change rarely and only matter for a warning.
pub const TARGET_GROUP_SETTINGS_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConnectError {
    #[error("controller.aws.region must not be empty")]
    NoRegion,
    #[error("controller.aws.endpointUrl {0:?} must start with http:// or https://")]
    BadEndpoint(String),
}

/// The launch template an ASG uses, remembered from the last observation so that setting a new
/// version does not need another describe call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateRef {
    pub id: Option<String>,
    pub name: Option<String>,
    /// The template sits in a mixed instances policy rather than on the group itself.
    pub mixed: bool,
}

#[derive(Debug, Clone, Copy)]
struct CachedSettings {
    read_at: Instant,
    settings: Option<HealthCheckSettings>,
}

pub struct AwsCloud {
    ssm: aws_sdk_ssm::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    sts: aws_sdk_sts::Client,
    observer: Arc<dyn RequestObserver>,
    region: String,
    account_id: Mutex<Option<String>>,
    target_groups: Mutex<HashMap<String, CachedSettings>>,
    templates: Mutex<HashMap<String, TemplateRef>>,
}

impl std::fmt::Debug for AwsCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCloud")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl AwsCloud {
    /// Credentials from the default provider chain: environment, profile, web identity (IRSA),
    /// container and instance roles.
    pub async fn connect(
        settings: &AwsSettings,
        observer: Arc<dyn RequestObserver>,
    ) -> Result<AwsCloud, ConnectError> {
        let loader = Self::loader(settings)?;
        Ok(Self::from_sdk_config(
            &loader.load().await,
            settings,
            observer,
        ))
    }

    /// With fixed credentials instead of the provider chain: for tests against a local endpoint.
    pub async fn connect_with_credentials(
        settings: &AwsSettings,
        observer: Arc<dyn RequestObserver>,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<AwsCloud, ConnectError> {
        let credentials = aws_sdk_sts::config::Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "switchyard-static",
        );
        let loader = Self::loader(settings)?.credentials_provider(credentials);
        Ok(Self::from_sdk_config(
            &loader.load().await,
            settings,
            observer,
        ))
    }

    fn loader(settings: &AwsSettings) -> Result<aws_config::ConfigLoader, ConnectError> {
        if settings.region.trim().is_empty() {
            return Err(ConnectError::NoRegion);
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            );
        if let Some(url) = &settings.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConnectError::BadEndpoint(url.clone()));
            }
            loader = loader.endpoint_url(url);
        }
        Ok(loader)
    }

    fn from_sdk_config(
        config: &aws_config::SdkConfig,
        settings: &AwsSettings,
        observer: Arc<dyn RequestObserver>,
    ) -> AwsCloud {
        AwsCloud {
            ssm: aws_sdk_ssm::Client::new(config),
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            observer,
            region: settings.region.clone(),
            account_id: Mutex::new(None),
            target_groups: Mutex::new(HashMap::new()),
            templates: Mutex::new(HashMap::new()),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Runs one SDK call, reports it to the observer, and maps its error. `what` names the
    /// resource the call is about, for `ResourceMissing`.
    async fn call<T, E>(
        &self,
        op: &'static Operation,
        what: &str,
        request: impl Future<Output = Result<T, SdkError<E>>>,
    ) -> Result<T, CloudError>
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let started = Instant::now();
        let result = request
            .await
            .map_err(|e| errors::classify(op, what, errors::failure_of(e)));
        let outcome = match &result {
            Ok(_) => "success",
            Err(CloudError::Throttled { .. }) => "throttled",
            Err(CloudError::Timeout { .. }) => "timeout",
            Err(_) => "error",
        };
        self.observer
            .request(op.service, op.name, outcome, started.elapsed());
        if let Err(e) = &result {
            tracing::debug!(service = op.service, operation = op.name, error = %e, "AWS call failed");
        }
        result
    }

    /// Asks STS, every time: the account check before the first mutation after a credential
    /// refresh must see the credentials in force now.
    async fn caller_account(&self) -> Result<String, CloudError> {
        let out = self
            .call(
                GET_CALLER_IDENTITY,
                "caller identity",
                self.sts.get_caller_identity().send(),
            )
            .await?;
        let account = out.account().unwrap_or_default().to_string();
        if account.is_empty() {
            return Err(CloudError::Api {
                service: GET_CALLER_IDENTITY.service,
                operation: GET_CALLER_IDENTITY.name,
                code: "NoAccount".to_string(),
                message: "GetCallerIdentity returned no account".to_string(),
            });
        }
        *self.account_id.lock().expect("account lock") = Some(account.clone());
        Ok(account)
    }

    /// The account for observations: STS once, then the cached answer.
    async fn cached_account(&self) -> Result<String, CloudError> {
        if let Some(account) = self.account_id.lock().expect("account lock").clone() {
            return Ok(account);
        }
        self.caller_account().await
    }
}

impl Cloud for AwsCloud {
    async fn account_id(&self) -> Result<String, CloudError> {
        self.caller_account().await
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        self.observe_runners(runners, detail).await
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        self.apply_step(runner, step).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::NoObserver;

    fn settings(region: &str, endpoint: Option<&str>) -> AwsSettings {
        AwsSettings {
            region: region.to_string(),
            expected_account_id: "123456789012".to_string(),
            endpoint_url: endpoint.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn settings_are_checked_before_anything_is_loaded() {
        let bad = AwsCloud::connect(
            &settings("us-east-1", Some("127.0.0.1:5000")),
            Arc::new(NoObserver),
        )
        .await
        .unwrap_err();
        assert_eq!(bad, ConnectError::BadEndpoint("127.0.0.1:5000".to_string()));
        let none = AwsCloud::connect(&settings(" ", None), Arc::new(NoObserver))
            .await
            .unwrap_err();
        assert_eq!(none, ConnectError::NoRegion);
    }
}
