//! One fresh look at the world for one runner, as the `Cloud` reports it. Pure data.

use std::collections::BTreeMap;

use serde::Serialize;

use super::mark::{MARK_TAG, Mark, MarkError};
use super::shard::{Shard, ShardPair};
use super::status_record::{RecordError, StatusRecord};

/// The status record parameter as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordObservation {
    /// No such parameter: nothing deployed yet.
    Missing,
    Present {
        value: String,
        version: i64,
    },
}

impl RecordObservation {
    pub fn version(&self) -> Option<i64> {
        match self {
            RecordObservation::Missing => None,
            RecordObservation::Present { version, .. } => Some(*version),
        }
    }

    pub fn parse(&self) -> Result<StatusRecord, RecordError> {
        match self {
            RecordObservation::Missing => Ok(StatusRecord::default()),
            RecordObservation::Present { value, .. } => StatusRecord::parse(value),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub id: String,
    /// ASG lifecycle state, e.g. `Pending`, `InService`, `Terminating`.
    pub lifecycle: String,
    /// ASG health status is `Healthy`.
    pub healthy: bool,
}

impl Instance {
    pub fn in_service(&self) -> bool {
        self.lifecycle == "InService"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AsgObservation {
    pub name: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_capacity: u32,
    /// The launch template version the ASG launches, i.e. the shard's revision.
    pub launch_template_version: Option<String>,
    pub instances: Vec<Instance>,
    pub tags: BTreeMap<String, String>,
    pub target_group_arns: Vec<String>,
    /// `ELB` or `EC2`.
    pub health_check_type: String,
}

impl AsgObservation {
    pub fn mark(&self) -> Option<Result<Mark, MarkError>> {
        self.tags.get(MARK_TAG).map(|v| Mark::parse(v))
    }

    /// Capacity or instances left: something still runs or is asked to.
    pub fn has_capacity(&self) -> bool {
        self.desired_capacity > 0 || self.min_size > 0 || !self.instances.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckSettings {
    pub interval_seconds: u32,
    pub unhealthy_threshold_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetHealth {
    pub id: String,
    /// ELBv2 target state: `healthy`, `initial`, `unhealthy`, `draining`, `unused`, ...
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetGroupObservation {
    pub arn: String,
    /// `None` when target health was not read on this observation (at rest, ELB health checks).
    pub targets: Option<Vec<TargetHealth>>,
    pub health_check: Option<HealthCheckSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerObservation {
    pub arn: String,
    /// Target groups the forward action sends traffic to (weight > 0).
    pub forward_to: Vec<String>,
}

/// A configured resource that may have been deleted out of band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<T> {
    Present(T),
    Missing,
}

impl<T> Found<T> {
    pub fn present(&self) -> Option<&T> {
        match self {
            Found::Present(t) => Some(t),
            Found::Missing => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardObservation {
    pub asg: Found<AsgObservation>,
    pub target_group: Found<TargetGroupObservation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerObservation {
    pub runner: String,
    /// The account the cloud acts in (STS GetCallerIdentity, verified at start).
    pub account_id: String,
    pub record: RecordObservation,
    pub shards: ShardPair<ShardObservation>,
    pub listener: Found<ListenerObservation>,
}

impl RunnerObservation {
    pub fn asg(&self, shard: Shard) -> Option<&AsgObservation> {
        self.shards[shard].asg.present()
    }

    pub fn target_group(&self, shard: Shard) -> Option<&TargetGroupObservation> {
        self.shards[shard].target_group.present()
    }
}
