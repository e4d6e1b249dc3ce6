//! The file exactly as written: serde types that mirror docs/configuration.md key by key. Values
//! that later validation must point at are `Spanned`, so that a problem found after parsing still
//! names its line.

use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_saphyr::Spanned;

use super::resolve::SetKeys;
use crate::cloud::budget::{
    DEFAULT_AUTOSCALING, DEFAULT_DYNAMODB, DEFAULT_ELBV2, DEFAULT_SSM, DEFAULT_STS, MAX_RATE,
};
use crate::cloud::sim::SimSettings;
use crate::core::{RunnerSettings, Shard};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9254";
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TRANSITION_INTERVAL: Duration = Duration::from_secs(2);
pub const DEFAULT_STATUS_PARAMETER: &str = "/switchyard/runner/{runner}/deployment_status";

/// The desired-state file of switchyard: which shard of each runner must be active.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "switchyard desired-state file")]
pub struct RawFile {
    /// How the controller itself runs.
    pub controller: RawController,
    /// Settings that apply to every runner unless the runner overrides them.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// The runners, each with exactly two shards.
    #[serde(default)]
    pub runners: Vec<RawRunner>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawCloud {
    Aws,
    Simulated,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawController {
    /// Which cloud to act on: `aws`, or the built-in `simulated` one.
    #[schemars(with = "RawCloud")]
    pub cloud: Spanned<RawCloud>,
    /// Required with `cloud: aws`.
    pub aws: Option<RawAws>,
    /// Settings of the built-in simulated cloud.
    #[serde(default)]
    pub simulated: SimSettings,
    /// Address of /metrics, /healthz, /readyz and /api/v1/status.
    #[schemars(with = "Option<String>", extend("default" = DEFAULT_LISTEN))]
    pub listen: Option<Spanned<String>>,
    /// Observation period for runners at rest.
    #[schemars(with = "Option<HumanDuration>", extend("default" = "30s"))]
    pub sync_interval: Option<Spanned<HumanDuration>>,
    /// Observation period for runners mid-deployment.
    #[schemars(with = "Option<HumanDuration>", extend("default" = "2s"))]
    pub transition_interval: Option<Spanned<HumanDuration>>,
    /// Run several replicas, one of which (the lease holder) mutates.
    pub leader_election: Option<super::leader_election::RawLeaderElection>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAws {
    #[schemars(with = "String")]
    pub region: Spanned<String>,
    /// The only AWS account the controller may act in: 12 digits, quoted.
    #[schemars(with = "String", regex(pattern = r"^[0-9]{12}$"))]
    pub expected_account_id: Spanned<String>,
    /// A local AWS-compatible endpoint, for tests.
    #[schemars(with = "Option<String>")]
    pub endpoint_url: Option<Spanned<String>>,
    /// The API budget: requests per second switchyard sends to each service at most. Defaults
    /// sit below AWS's default quotas.
    #[serde(default)]
    pub max_requests_per_second: RawRequestRates,
}

/// `controller.aws.maxRequestsPerSecond`: whole requests per second, per service.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequestRates {
    /// SSM (GetParameters, PutParameter); AWS's default quota for reads is 40/s.
    #[schemars(with = "Option<u32>", range(min = 1, max = MAX_RATE), extend("default" = DEFAULT_SSM))]
    pub ssm: Option<Spanned<u32>>,
    /// Auto Scaling; its describe calls refill at about 10/s.
    #[schemars(with = "Option<u32>", range(min = 1, max = MAX_RATE), extend("default" = DEFAULT_AUTOSCALING))]
    pub autoscaling: Option<Spanned<u32>>,
    /// Elastic Load Balancing; its describe calls refill at 10/s.
    #[schemars(with = "Option<u32>", range(min = 1, max = MAX_RATE), extend("default" = DEFAULT_ELBV2))]
    pub elbv2: Option<Spanned<u32>>,
    /// STS (GetCallerIdentity).
    #[schemars(with = "Option<u32>", range(min = 1, max = MAX_RATE), extend("default" = DEFAULT_STS))]
    pub sts: Option<Spanned<u32>>,
    /// DynamoDB, for the lease of leader election.
    #[schemars(with = "Option<u32>", range(min = 1, max = MAX_RATE), extend("default" = DEFAULT_DYNAMODB))]
    pub dynamodb: Option<Spanned<u32>>,
}

/// The keys of `defaults`; every one of them may also be set on a runner.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDefaults {
    /// Instances per shard (min = desired = max).
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = 2))]
    pub capacity: Option<Spanned<u32>>,
    /// Share of `capacity` that must be healthy for the shard to count as healthy.
    #[schemars(with = "Option<u32>", range(min = 1, max = 100), extend("default" = 100))]
    pub min_healthy_percent: Option<Spanned<u32>>,
    /// After a shard is provisioned, health is not judged for this long.
    #[schemars(with = "Option<HumanDuration>", extend("default" = "60s"))]
    pub health_check_grace_period: Option<Spanned<HumanDuration>>,
    /// The new shard must be continuously healthy this long before traffic moves.
    #[schemars(with = "Option<HumanDuration>", extend("default" = "120s"))]
    pub stability_duration: Option<Spanned<HumanDuration>>,
    /// After traffic moves, the new shard must stay healthy this long before the record is written.
    #[schemars(with = "Option<HumanDuration>", extend("default" = "30s"))]
    pub post_switch_check: Option<Spanned<HumanDuration>>,
    /// After the record is written, wait this long before the old shard is scaled to zero.
    #[schemars(with = "Option<HumanDuration>", extend("default" = "60s"))]
    pub drain_delay: Option<Spanned<HumanDuration>>,
    /// Provision to stable must finish within this, else the deployment fails and rolls back.
    #[schemars(with = "Option<HumanDuration>", extend("default" = "15m"))]
    pub progress_deadline: Option<Spanned<HumanDuration>>,
    /// SSM parameter holding the runner's status record; `{runner}` stands for its name.
    #[schemars(with = "Option<String>", extend("default" = DEFAULT_STATUS_PARAMETER))]
    pub status_parameter: Option<Spanned<String>>,
}

/// One runner. Every key of `defaults` may be overridden here as well.
// The override keys are spelled out rather than `#[serde(flatten)]`ed: serde cannot combine
// flatten with deny_unknown_fields, and flatten would also lose the key paths of errors.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["listenerArn"]}, {"required": ["listenerRuleArn"]}]))]
pub struct RawRunner {
    /// `[a-z0-9-]`, 1 to 63 characters, unique in the file.
    #[schemars(with = "String", regex(pattern = r"^[a-z0-9-]{1,63}$"))]
    pub name: Spanned<String>,
    /// The desired state: the shard that must be active.
    pub active_shard: Shard,
    /// Launch template version the active shard must run.
    #[schemars(with = "Option<Revision>")]
    pub revision: Option<Spanned<Revision>>,
    /// Observe and report, never mutate.
    #[serde(default)]
    pub paused: bool,
    /// The ALB listener whose default action forwards the runner's traffic. Exactly one of
    /// `listenerArn` and `listenerRuleArn`.
    #[schemars(with = "Option<String>")]
    pub listener_arn: Option<Spanned<String>>,
    /// The listener rule (e.g. a host-header rule on a shared ALB) whose forward action carries
    /// the runner's traffic. Exactly one of `listenerArn` and `listenerRuleArn`.
    #[schemars(with = "Option<String>")]
    pub listener_rule_arn: Option<Spanned<String>>,
    pub shards: RawShards,

    /// Overrides `defaults.capacity`.
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub capacity: Option<Spanned<u32>>,
    /// Overrides `defaults.minHealthyPercent`.
    #[schemars(with = "Option<u32>", range(min = 1, max = 100))]
    pub min_healthy_percent: Option<Spanned<u32>>,
    /// Overrides `defaults.healthCheckGracePeriod`.
    #[schemars(with = "Option<HumanDuration>")]
    pub health_check_grace_period: Option<Spanned<HumanDuration>>,
    /// Overrides `defaults.stabilityDuration`.
    #[schemars(with = "Option<HumanDuration>")]
    pub stability_duration: Option<Spanned<HumanDuration>>,
    /// Overrides `defaults.postSwitchCheck`.
    #[schemars(with = "Option<HumanDuration>")]
    pub post_switch_check: Option<Spanned<HumanDuration>>,
    /// Overrides `defaults.drainDelay`.
    #[schemars(with = "Option<HumanDuration>")]
    pub drain_delay: Option<Spanned<HumanDuration>>,
    /// Overrides `defaults.progressDeadline`.
    #[schemars(with = "Option<HumanDuration>")]
    pub progress_deadline: Option<Spanned<HumanDuration>>,
    /// Overrides `defaults.statusParameter`.
    #[schemars(with = "Option<String>")]
    pub status_parameter: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawShards {
    pub blue: RawShard,
    pub green: RawShard,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawShard {
    #[schemars(with = "String")]
    pub auto_scaling_group: Spanned<String>,
    #[schemars(with = "String")]
    pub target_group_arn: Spanned<String>,
}

/// A duration written the human way: `90s`, `15m`, `1h`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 90s, 15m or 1h")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(text.trim())
                    .map(HumanDuration)
                    .map_err(|e| {
                        E::custom(format!(
                            "invalid duration {text:?}: {e} (write e.g. 90s, 15m or 1h)"
                        ))
                    })
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration such as 90s, 15m, 1h or 1h 30m.",
            "pattern": r"^\s*[0-9]+\s*[a-zA-Z]+(\s*[0-9]+\s*[a-zA-Z]+)*\s*$"
        })
    }
}

/// A launch template version. YAML readers see an unquoted `42` as a number; operators should not
/// have to remember the quotes, so both spellings mean the string "42".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision(pub String);

impl<'de> Deserialize<'de> for Revision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RevisionVisitor;
        impl Visitor<'_> for RevisionVisitor {
            type Value = Revision;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a launch template version (a string or a non-negative integer)")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Revision, E> {
                Ok(Revision(text.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Revision, E> {
                Ok(Revision(n.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Revision, E> {
                if n < 0 {
                    return Err(E::invalid_value(de::Unexpected::Signed(n), &self));
                }
                Ok(Revision(n.to_string()))
            }
        }
        // `deserialize_str` keeps the text as written ("0042" stays "0042"); the integer arms
        // serve deserializers that type scalars themselves.
        deserializer.deserialize_str(RevisionVisitor)
    }
}

impl JsonSchema for Revision {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Revision".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "integer"],
            "minimum": 0,
            "description": "Launch template version the active shard must run."
        })
    }
}

impl RawDefaults {
    pub fn set_keys(&self) -> SetKeys<'_> {
        SetKeys {
            capacity: self.capacity.as_ref(),
            min_healthy_percent: self.min_healthy_percent.as_ref(),
            health_check_grace_period: self.health_check_grace_period.as_ref(),
            stability_duration: self.stability_duration.as_ref(),
            progress_deadline: self.progress_deadline.as_ref(),
        }
    }

    /// `RunnerSettings::default()` with this section's values laid over it.
    pub fn base_settings(&self) -> RunnerSettings {
        let mut s = RunnerSettings::default();
        overlay(
            &mut s,
            self.capacity.as_ref(),
            self.min_healthy_percent.as_ref(),
            [
                self.health_check_grace_period.as_ref(),
                self.stability_duration.as_ref(),
                self.post_switch_check.as_ref(),
                self.drain_delay.as_ref(),
                self.progress_deadline.as_ref(),
            ],
        );
        s
    }
}

impl RawRunner {
    pub fn set_keys(&self) -> SetKeys<'_> {
        SetKeys {
            capacity: self.capacity.as_ref(),
            min_healthy_percent: self.min_healthy_percent.as_ref(),
            health_check_grace_period: self.health_check_grace_period.as_ref(),
            stability_duration: self.stability_duration.as_ref(),
            progress_deadline: self.progress_deadline.as_ref(),
        }
    }

    /// The runner's settings: `base` (the merged `defaults`) with its own keys laid over it.
    pub fn settings(&self, base: &RunnerSettings) -> RunnerSettings {
        let mut s = base.clone();
        overlay(
            &mut s,
            self.capacity.as_ref(),
            self.min_healthy_percent.as_ref(),
            [
                self.health_check_grace_period.as_ref(),
                self.stability_duration.as_ref(),
                self.post_switch_check.as_ref(),
                self.drain_delay.as_ref(),
                self.progress_deadline.as_ref(),
            ],
        );
        s
    }
}

type SpannedDuration<'a> = Option<&'a Spanned<HumanDuration>>;

fn overlay(
    s: &mut RunnerSettings,
    capacity: Option<&Spanned<u32>>,
    min_healthy_percent: Option<&Spanned<u32>>,
    [grace, stability, post_switch, drain, deadline]: [SpannedDuration<'_>; 5],
) {
    if let Some(v) = capacity {
        s.capacity = v.value;
    }
    if let Some(v) = min_healthy_percent {
        s.min_healthy_percent = v.value;
    }
    for (slot, v) in [
        (&mut s.health_check_grace_period, grace),
        (&mut s.stability_duration, stability),
        (&mut s.post_switch_check, post_switch),
        (&mut s.drain_delay, drain),
        (&mut s.progress_deadline, deadline),
    ] {
        if let Some(v) = v {
            *slot = v.value.0;
        }
    }
}
