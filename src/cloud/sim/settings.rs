//! `controller.simulated`: the simulated world's settings. Everything is optional, so that an empty
//! section (`simulated: {}`) gives a steady, empty world that a demo can deploy into.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::core::{RunnerSpec, Shard};

pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";
pub const DEFAULT_BOOT_TIME: Duration = Duration::from_secs(5);
pub const DEFAULT_TERMINATION_TIME: Duration = Duration::from_secs(2);
pub const DEFAULT_REVISION: &str = "1";
/// AWS's defaults for a new target group.
pub const DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS: u32 = 30;
pub const DEFAULT_UNHEALTHY_THRESHOLD_COUNT: u32 = 2;

/// Settings of the built-in simulated cloud.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimSettings {
    /// The account the simulated credentials act in.
    #[serde(default = "default_account_id")]
    pub account_id: String,
    /// How long a new instance stays `Pending` before it is `InService`.
    #[serde(
        default = "default_boot_time",
        deserialize_with = "duration_text::required"
    )]
    #[schemars(with = "String", extend("default" = "5s"))]
    pub boot_time: Duration,
    /// How long a scaled-in instance stays `Terminating` before it is gone.
    #[serde(
        default = "default_termination_time",
        deserialize_with = "duration_text::required"
    )]
    #[schemars(with = "String", extend("default" = "2s"))]
    pub termination_time: Duration,
    /// How instances of each revision (launch template version) behave; unlisted revisions boot
    /// and stay healthy.
    #[serde(default)]
    pub revisions: BTreeMap<String, RevisionBehaviour>,
    /// The initial state of each runner's resources; unlisted runners start empty (capacity 0,
    /// no status record, listener on blue).
    #[serde(default)]
    pub world: BTreeMap<String, RunnerWorld>,
    /// Throttle like AWS's default quotas: SSM reads 40/s; ELB and Auto Scaling describe calls
    /// a bucket of 40 refilling at 10/s. Off by default: an unthrottled world is easier to
    /// read in a demo.
    #[serde(default)]
    pub api_quotas: bool,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            account_id: default_account_id(),
            boot_time: DEFAULT_BOOT_TIME,
            termination_time: DEFAULT_TERMINATION_TIME,
            revisions: BTreeMap::new(),
            world: BTreeMap::new(),
            api_quotas: false,
        }
    }
}

impl SimSettings {
    /// Runners named under `world` that the file does not configure: most likely a typo, which
    /// validation can report.
    pub fn unknown_world_runners(&self, runners: &[RunnerSpec]) -> Vec<String> {
        self.world
            .keys()
            .filter(|name| !runners.iter().any(|r| &r.name == *name))
            .cloned()
            .collect()
    }
}

/// How the instances of one revision behave.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RevisionBehaviour {
    /// `false`: instances never pass their health checks.
    #[serde(default = "yes")]
    pub healthy: bool,
    /// Instances turn unhealthy this long after they came into service.
    #[serde(default, deserialize_with = "duration_text::optional")]
    #[schemars(with = "Option<String>")]
    pub fails_after: Option<Duration>,
    /// Overrides `bootTime` for this revision.
    #[serde(default, deserialize_with = "duration_text::optional")]
    #[schemars(with = "Option<String>")]
    pub boot_time: Option<Duration>,
    /// `false`: the launch template version does not exist; configuring a shard with it fails.
    #[serde(default = "yes")]
    pub exists: bool,
}

impl Default for RevisionBehaviour {
    fn default() -> Self {
        RevisionBehaviour {
            healthy: true,
            fails_after: None,
            boot_time: None,
            exists: true,
        }
    }
}

/// The initial state of one runner's resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunnerWorld {
    /// The status record's raw value (version 1); absent: no parameter.
    #[serde(default)]
    pub record: Option<String>,
    #[serde(default)]
    pub shards: WorldShards,
    /// The shard whose target group the listener forwards to.
    #[serde(default)]
    pub serving: WorldServing,
    /// The HealthCheckType of both ASGs.
    #[serde(default)]
    pub health_check_type: HealthCheckType,
    /// The health-check settings of both target groups (AWS's defaults otherwise).
    #[serde(default)]
    pub health_check: Option<WorldHealthCheck>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorldShards {
    #[serde(default)]
    pub blue: ShardWorld,
    #[serde(default)]
    pub green: ShardWorld,
}

impl WorldShards {
    pub fn get(&self, shard: Shard) -> &ShardWorld {
        match shard {
            Shard::Blue => &self.blue,
            Shard::Green => &self.green,
        }
    }
}

/// One shard's ASG at time zero. Its instances are already in service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ShardWorld {
    /// min = desired = max.
    #[serde(default)]
    pub capacity: u32,
    /// The launch template version.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Tags on the ASG, e.g. a `switchyard/deployment` mark left by an earlier run.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Default for ShardWorld {
    fn default() -> Self {
        ShardWorld {
            capacity: 0,
            revision: default_revision(),
            tags: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorldServing {
    #[default]
    Blue,
    Green,
    /// The listener forwards to neither shard.
    None,
}

impl WorldServing {
    pub fn shard(self) -> Option<Shard> {
        match self {
            WorldServing::Blue => Some(Shard::Blue),
            WorldServing::Green => Some(Shard::Green),
            WorldServing::None => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum HealthCheckType {
    /// Instance health follows the target group's health checks.
    #[default]
    #[serde(rename = "ELB")]
    Elb,
    /// Instance health follows EC2 status checks only.
    #[serde(rename = "EC2")]
    Ec2,
}

impl HealthCheckType {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCheckType::Elb => "ELB",
            HealthCheckType::Ec2 => "EC2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorldHealthCheck {
    #[serde(default = "default_interval")]
    pub interval_seconds: u32,
    #[serde(default = "default_unhealthy_threshold")]
    pub unhealthy_threshold_count: u32,
}

impl Default for WorldHealthCheck {
    fn default() -> Self {
        WorldHealthCheck {
            interval_seconds: DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS,
            unhealthy_threshold_count: DEFAULT_UNHEALTHY_THRESHOLD_COUNT,
        }
    }
}

fn default_account_id() -> String {
    DEFAULT_ACCOUNT_ID.to_owned()
}
fn default_boot_time() -> Duration {
    DEFAULT_BOOT_TIME
}
fn default_termination_time() -> Duration {
    DEFAULT_TERMINATION_TIME
}
fn default_revision() -> String {
    DEFAULT_REVISION.to_owned()
}
fn default_interval() -> u32 {
    DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS
}
fn default_unhealthy_threshold() -> u32 {
    DEFAULT_UNHEALTHY_THRESHOLD_COUNT
}
fn yes() -> bool {
    true
}

/// Durations written the way people write them (`5s`, `2m`), as in the rest of the file.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map_err(|e| D::Error::custom(format!("{text:?} is not a duration like 5s or 2m: {e}")))
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        required(d).map(Some)
    }
}
