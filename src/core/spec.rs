//! What a runner must look like: the desired-state file's runner entry with defaults merged in.
//! The config module builds these; the core only reads them.

use std::time::Duration;

use serde::Serialize;

use super::shard::{Shard, ShardPair};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardSpec {
    pub auto_scaling_group: String,
    pub target_group_arn: String,
}

/// What sends a runner's traffic to one shard: a listener's default action (`listenerArn`), or
/// one rule of a listener (`listenerRuleArn`), so that many runners can share one ALB behind
/// host-header or path rules. Either way only its forward action is ever read or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "arn")]
pub enum Listener {
    /// The listener's default action.
    Default(String),
    /// One listener rule's action; the listener's default action and other rules are not ours.
    Rule(String),
}

impl Listener {
    pub fn arn(&self) -> &str {
        match self {
            Listener::Default(arn) | Listener::Rule(arn) => arn,
        }
    }

    pub fn is_rule(&self) -> bool {
        matches!(self, Listener::Rule(_))
    }

    /// `listener <arn>` or `listener rule <arn>`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Listener::Default(arn) => format!("listener {arn}"),
            Listener::Rule(arn) => format!("listener rule {arn}"),
        }
    }

    /// The AWS CLI command that points it at `target_group_arn` alone.
    pub fn forward_command(&self, target_group_arn: &str) -> String {
        match self {
            Listener::Default(arn) => format!(
                "aws elbv2 modify-listener --listener-arn {arn} --default-actions Type=forward,TargetGroupArn={target_group_arn}"
            ),
            Listener::Rule(arn) => format!(
                "aws elbv2 modify-rule --rule-arn {arn} --actions Type=forward,TargetGroupArn={target_group_arn}"
            ),
        }
    }
}

/// The per-runner settings of `defaults`, after overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerSettings {
    pub capacity: u32,
    pub min_healthy_percent: u32,
    pub health_check_grace_period: Duration,
    pub stability_duration: Duration,
    pub post_switch_check: Duration,
    pub drain_delay: Duration,
    pub progress_deadline: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            capacity: 2,
            min_healthy_percent: 100,
            health_check_grace_period: Duration::from_secs(60),
            stability_duration: Duration::from_secs(120),
            post_switch_check: Duration::from_secs(30),
            drain_delay: Duration::from_secs(60),
            progress_deadline: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerSpec {
    pub name: String,
    pub active_shard: Shard,
    pub revision: Option<String>,
    pub paused: bool,
    pub listener: Listener,
    pub shards: ShardPair<ShardSpec>,
    pub settings: RunnerSettings,
    /// The SSM parameter name, `{runner}` already substituted.
    pub status_parameter: String,
    /// `controller.aws.expectedAccountId`, when the cloud is AWS (invariant 8).
    pub expected_account_id: Option<String>,
}

impl RunnerSpec {
    /// What a deployment is aimed at; a change of it abandons any attempt in flight.
    pub fn desired(&self) -> (Shard, Option<&str>) {
        (self.active_shard, self.revision.as_deref())
    }

    /// Healthy targets a shard of `capacity` needs: ceil(capacity * minHealthyPercent / 100),
    /// and never fewer than one.
    pub fn required_for(&self, capacity: u32) -> u32 {
        let needed =
            (u64::from(capacity) * u64::from(self.settings.min_healthy_percent)).div_ceil(100);
        (needed as u32).max(1)
    }
}
