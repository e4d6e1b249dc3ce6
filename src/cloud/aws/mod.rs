//! The `Cloud` interface over the AWS SDK: SSM for the status record, Auto Scaling for the
//! shards, ELBv2 for target health and the listener, STS for the account (docs/operations.md).
//!
//! Retries belong to the SDK alone (standard mode, configured once in `connect`); every call
//! has an attempt and an operation timeout. A call that times out is reported as
//! `CloudError::Timeout` and never repeated here: the controller decides from a fresh
//! observation. The SDK repeats a mutation only when it was not applied (`retry`). Every call
//! first waits for its service's API budget (`cloud::budget`), in `AwsCloud::call`.

mod apply;
mod clients;
mod credentials;
pub(crate) mod errors;
mod observe;
pub mod operations;
pub mod retry;

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use thiserror::Error;

use self::clients::Clients;
use self::credentials::CredentialCache;
use self::operations::{Effect, GET_CALLER_IDENTITY, Operation};
use crate::cloud::budget::{Budget, Priority};
use crate::cloud::{Applied, Cloud, CloudError, Detail, RequestObserver};
use crate::config::AwsSettings;
use crate::core::{HealthCheckSettings, RunnerObservation, RunnerSpec, Step};

/// Attempts per call, the first included, for the SDK's standard retry mode.
pub const MAX_ATTEMPTS: u32 = 3;
/// One HTTP attempt. A mutation whose attempt times out is not attempted again (`retry`).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortens [`ATTEMPT_TIMEOUT`] (a duration such as `2s`, at least [`MIN_ATTEMPT_TIMEOUT`]): for
/// tests that hold an answer past the attempt timeout and should not wait 10 s for it. Nothing
/// in production needs it; it can only shorten.
pub const ATTEMPT_TIMEOUT_ENV: &str = "SWITCHYARD_AWS_ATTEMPT_TIMEOUT";
pub const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(100);
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
    #[error("no AWS credentials provider is configured")]
    NoCredentialsProvider,
    #[error("{ATTEMPT_TIMEOUT_ENV}={value:?}: {reason}")]
    BadAttemptTimeout { value: String, reason: String },
}

/// The attempt timeout: [`ATTEMPT_TIMEOUT`], or shorter when [`ATTEMPT_TIMEOUT_ENV`] says so.
fn attempt_timeout(env: Option<&str>) -> Result<Duration, ConnectError> {
    let Some(value) = env else {
        return Ok(ATTEMPT_TIMEOUT);
    };
    let bad = |reason: String| ConnectError::BadAttemptTimeout {
        value: value.to_string(),
        reason,
    };
    let timeout = humantime::parse_duration(value.trim()).map_err(|e| bad(e.to_string()))?;
    if !(MIN_ATTEMPT_TIMEOUT..=ATTEMPT_TIMEOUT).contains(&timeout) {
        return Err(bad(format!(
            "must be between {} and {}",
            humantime::format_duration(MIN_ATTEMPT_TIMEOUT),
            humantime::format_duration(ATTEMPT_TIMEOUT)
        )));
    }
    Ok(timeout)
}

/// The account STS named for an access key: valid for as long as that key signs the requests.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verified {
    access_key_id: String,
    account: String,
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
    /// Every request waits here first (`call`).
    budget: Budget,
    reads: Clients,
    mutations: Clients,
    observer: Arc<dyn RequestObserver>,
    region: String,
    expected_account: String,
    credentials: CredentialCache,
    // Boxed: the state behind these locks is rarely touched, and keeping it off the struct
    // keeps `AwsCloud` (held inline in the CLI's cloud enum) small.
    verified: Box<Mutex<Option<Verified>>>,
    target_groups: Box<Mutex<HashMap<String, CachedSettings>>>,
    templates: Box<Mutex<HashMap<String, TemplateRef>>>,
    /// Each listener rule's actions as last described, by rule ARN: a switch sends them back
    /// with only the forward action replaced (ModifyRule replaces the whole list).
    rule_actions: Box<Mutex<HashMap<String, Vec<aws_sdk_elasticloadbalancingv2::types::Action>>>>,
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
        let config = Self::loader(settings)?.load().await;
        let provider = config
            .credentials_provider()
            .ok_or(ConnectError::NoCredentialsProvider)?;
        Ok(Self::from_sdk_config(config, provider, settings, observer))
    }

    /// With the given credentials provider instead of the default chain: for tests.
    pub async fn connect_with_provider(
        settings: &AwsSettings,
        observer: Arc<dyn RequestObserver>,
        provider: SharedCredentialsProvider,
    ) -> Result<AwsCloud, ConnectError> {
        let config = Self::loader(settings)?.load().await;
        Ok(Self::from_sdk_config(config, provider, settings, observer))
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
        Self::connect_with_provider(
            settings,
            observer,
            SharedCredentialsProvider::new(credentials),
        )
        .await
    }

    fn loader(settings: &AwsSettings) -> Result<aws_config::ConfigLoader, ConnectError> {
        if settings.region.trim().is_empty() {
            return Err(ConnectError::NoRegion);
        }
        let env = std::env::var(ATTEMPT_TIMEOUT_ENV).ok();
        let attempt = attempt_timeout(env.as_deref())?;
        if attempt != ATTEMPT_TIMEOUT {
            tracing::info!(
                attempt_timeout = %humantime::format_duration(attempt),
                "the AWS attempt timeout is shortened by {ATTEMPT_TIMEOUT_ENV}"
            );
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(attempt)
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

    /// Every client signs with credentials from one `CredentialCache` (and the SDK's own
    /// identity cache is off), so the access key the adapter checks is the one requests use.
    fn from_sdk_config(
        config: aws_config::SdkConfig,
        provider: SharedCredentialsProvider,
        settings: &AwsSettings,
        observer: Arc<dyn RequestObserver>,
    ) -> AwsCloud {
        let credentials = CredentialCache::new(provider);
        let config = config
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials.clone()))
            .identity_cache(IdentityCache::no_cache())
            .build();
        AwsCloud {
            budget: Budget::new(&settings.max_requests_per_second, Arc::clone(&observer)),
            reads: Clients::new(&config, Effect::Read),
            mutations: Clients::new(&config, Effect::Mutation),
            observer,
            region: settings.region.clone(),
            expected_account: settings.expected_account_id.clone(),
            credentials,
            verified: Box::new(Mutex::new(None)),
            target_groups: Box::new(Mutex::new(HashMap::new())),
            templates: Box::new(Mutex::new(HashMap::new())),
            rule_actions: Box::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Runs one SDK call, reports it to the observer, and maps its error. `what` names the
    /// resource the call is about, for `ResourceMissing`. `request` builds the call from the
    /// clients of the operation's effect, so that a mutation always goes out with the mutation
    /// retry policy.
    async fn call<T, E, F>(
        &self,
        op: &'static Operation,
        what: &str,
        request: impl FnOnce(&Clients) -> F,
    ) -> Result<T, CloudError>
    where
        F: Future<Output = Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let (clients, priority) = match op.effect {
            Effect::Read => (&self.reads, Priority::current()),
            Effect::Mutation => (&self.mutations, Priority::Step),
        };
        self.budget.admit(op.service, priority).await;
        let started = Instant::now();
        let result = request(clients)
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

    /// The access key id the next request will be signed with.
    async fn access_key_id(&self) -> Result<String, CloudError> {
        self.credentials
            .access_key_id()
            .await
            .map_err(credentials_error)
    }

    /// Asks STS, every time, and remembers which access key the answer is for.
    async fn caller_account(&self) -> Result<String, CloudError> {
        let access_key_id = self.access_key_id().await?;
        let out = self
            .call(GET_CALLER_IDENTITY, "caller identity", |c| {
                c.sts.get_caller_identity().send()
            })
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
        *self.verified.lock().expect("account lock") = Some(Verified {
            access_key_id,
            account: account.clone(),
        });
        Ok(account)
    }

    /// The account the credentials in force act in: STS's last answer while the access key is
    /// the one it was given for, STS again once the provider chain hands out another key (a
    /// refreshed role session, a rotated key). Observations carry it, so the guard sees a
    /// changed account on the fresh observation before every mutation.
    async fn current_account(&self) -> Result<String, CloudError> {
        let access_key_id = self.access_key_id().await?;
        if let Some(verified) = self.verified.lock().expect("account lock").as_ref()
            && verified.access_key_id == access_key_id
        {
            return Ok(verified.account.clone());
        }
        self.caller_account().await
    }

    /// Invariant 8 at the last moment: the adapter refuses a mutation whose credentials act in
    /// another account than `expectedAccountId`, even if the controller's observation (and its
    /// guard) ran with the credentials before a refresh.
    async fn ensure_expected_account(&self) -> Result<(), CloudError> {
        let account = self.current_account().await?;
        if account == self.expected_account {
            return Ok(());
        }
        tracing::error!(
            expected = %self.expected_account,
            actual = %account,
            "the refreshed credentials act in another account; refusing to mutate"
        );
        Err(CloudError::Api {
            service: GET_CALLER_IDENTITY.service,
            operation: GET_CALLER_IDENTITY.name,
            code: WRONG_ACCOUNT.to_string(),
            message: format!(
                "the credentials now act in account {account}, but expectedAccountId is {}; \
                 refusing to mutate",
                self.expected_account
            ),
        })
    }
}

/// The error code of a mutation refused because the credentials act in another account.
pub const WRONG_ACCOUNT: &str = "WrongAccount";
/// The error code when the provider chain found no credentials at all.
pub const NO_CREDENTIALS: &str = "NoCredentials";

/// What a newcomer without credentials reads: which sources were tried, and how to give one.
fn no_credentials_message(profile: &str) -> String {
    format!(
        "no AWS credentials found. Tried, in order: the environment (AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY), the profile \"{profile}\" in ~/.aws/config and \
         ~/.aws/credentials, web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, which \
         IRSA sets on EKS), the ECS container endpoint, and the EC2 instance metadata service. \
         Provide one: export AWS_PROFILE=<name> (run `aws sso login --profile <name>` first if it \
         uses SSO), or set the two environment variables, or run where a role is attached (an \
         instance role, or IRSA: docs/operations.md)"
    )
}

fn credentials_error(e: CredentialsError) -> CloudError {
    let message = aws_sdk_ssm::error::DisplayErrorContext(&e).to_string();
    match e {
        CredentialsError::CredentialsNotLoaded(_) => CloudError::Api {
            service: "credentials",
            operation: "ProvideCredentials",
            code: NO_CREDENTIALS.to_string(),
            message: no_credentials_message(
                &std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_string()),
            ),
        },
        CredentialsError::InvalidConfiguration(_) => CloudError::Api {
            service: "credentials",
            operation: "ProvideCredentials",
            code: "InvalidCredentialsConfiguration".to_string(),
            message,
        },
        // A provider that timed out or failed (IMDS, STS web identity) may answer next time.
        _ => CloudError::Transient {
            service: "credentials",
            operation: "ProvideCredentials",
            message,
        },
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
        Priority::of(detail)
            .scope(self.observe_runners(runners, detail))
            .await
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        self.ensure_expected_account().await?;
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
            max_requests_per_second: Default::default(),
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

    #[test]
    fn the_attempt_timeout_can_only_be_shortened() {
        assert_eq!(attempt_timeout(None), Ok(ATTEMPT_TIMEOUT));
        assert_eq!(attempt_timeout(Some("2s")), Ok(Duration::from_secs(2)));
        assert_eq!(attempt_timeout(Some(" 100ms ")), Ok(MIN_ATTEMPT_TIMEOUT));
        assert_eq!(attempt_timeout(Some("10s")), Ok(ATTEMPT_TIMEOUT));
        for bad in ["99ms", "11s", "0s", "soon", ""] {
            let err = attempt_timeout(Some(bad)).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("SWITCHYARD_AWS_ATTEMPT_TIMEOUT={bad:?}: ")),
                "{err}"
            );
        }
        assert_eq!(
            attempt_timeout(Some("11s")).unwrap_err().to_string(),
            "SWITCHYARD_AWS_ATTEMPT_TIMEOUT=\"11s\": must be between 100ms and 10s"
        );
    }
}
