//! Builders for observations in core tests: a runner's world in a few lines.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::mark::{MARK_TAG, Mark, MarkState};
use super::observation::*;
use super::shard::{Shard, ShardPair};
use super::spec::{RunnerSettings, RunnerSpec, ShardSpec};

pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

pub fn spec() -> RunnerSpec {
    RunnerSpec {
        name: "runner-a".into(),
        active_shard: Shard::Green,
        revision: Some("2".into()),
        paused: false,
        listener_arn: "arn:listener".into(),
        shards: ShardPair::from_fn(|s| ShardSpec {
            auto_scaling_group: format!("runner-a-{s}"),
            target_group_arn: format!("arn:tg/{s}"),
        }),
        settings: RunnerSettings {
            capacity: 2,
            min_healthy_percent: 100,
            health_check_grace_period: Duration::from_secs(60),
            stability_duration: Duration::from_secs(120),
            post_switch_check: Duration::from_secs(30),
            drain_delay: Duration::from_secs(60),
            progress_deadline: Duration::from_secs(900),
        },
        status_parameter: "/switchyard/runner/runner-a/deployment_status".into(),
        expected_account_id: Some("123456789012".into()),
    }
}

/// One shard's ASG and TG, described the way an operator would.
#[derive(Debug, Clone)]
pub struct ShardState {
    pub capacity: u32,
    pub healthy: u32,
    /// Instances beyond `healthy` that exist but are not healthy.
    pub unhealthy: u32,
    pub revision: &'static str,
    pub attached: bool,
    pub mark: Option<String>,
}

impl ShardState {
    pub fn up(revision: &'static str) -> ShardState {
        ShardState {
            capacity: 2,
            healthy: 2,
            unhealthy: 0,
            revision,
            attached: true,
            mark: None,
        }
    }

    pub fn down() -> ShardState {
        ShardState {
            capacity: 0,
            healthy: 0,
            unhealthy: 0,
            revision: "1",
            attached: true,
            mark: None,
        }
    }

    pub fn healthy(mut self, n: u32) -> Self {
        self.healthy = n;
        self
    }

    pub fn unhealthy(mut self, n: u32) -> Self {
        self.unhealthy = n;
        self
    }

    pub fn capacity(mut self, n: u32) -> Self {
        self.capacity = n;
        self
    }

    pub fn marked(
        mut self,
        shard: Shard,
        revision: Option<&str>,
        started: i64,
        state: MarkState,
    ) -> Self {
        self.mark = Some(
            mark(shard, revision, started, state)
                .to_tag_value()
                .unwrap(),
        );
        self
    }

    pub fn raw_mark(mut self, text: &str) -> Self {
        self.mark = Some(text.into());
        self
    }

    pub fn detached(mut self) -> Self {
        self.attached = false;
        self
    }
}

pub fn mark(shard: Shard, revision: Option<&str>, started: i64, state: MarkState) -> Mark {
    Mark {
        id: format!("m{started}"),
        shard,
        revision: revision.map(String::from),
        capacity: Some(2),
        started: t(started),
        state,
    }
}

pub fn shard_obs(spec: &RunnerSpec, shard: Shard, s: &ShardState) -> ShardObservation {
    let instance = |i: u32, healthy: bool| Instance {
        id: format!("i-{shard}-{i}"),
        lifecycle: "InService".into(),
        healthy,
    };
    let instances: Vec<Instance> = (0..s.healthy)
        .map(|i| instance(i, true))
        .chain((s.healthy..s.healthy + s.unhealthy).map(|i| instance(i, false)))
        .collect();
    let targets = instances
        .iter()
        .map(|i| TargetHealth {
            id: i.id.clone(),
            state: if i.healthy { "healthy" } else { "unhealthy" }.into(),
        })
        .collect();
    let mut tags = BTreeMap::new();
    if let Some(m) = &s.mark {
        tags.insert(MARK_TAG.to_string(), m.clone());
    }
    let tg_arn = spec.shards[shard].target_group_arn.clone();
    ShardObservation {
        asg: Found::Present(AsgObservation {
            name: spec.shards[shard].auto_scaling_group.clone(),
            min_size: s.capacity,
            max_size: s.capacity,
            desired_capacity: s.capacity,
            launch_template_version: Some(s.revision.into()),
            instances,
            tags,
            target_group_arns: if s.attached {
                vec![tg_arn.clone()]
            } else {
                vec![]
            },
            health_check_type: "ELB".into(),
        }),
        target_group: Found::Present(TargetGroupObservation {
            arn: tg_arn,
            targets: Some(targets),
            health_check: Some(HealthCheckSettings {
                interval_seconds: 10,
                unhealthy_threshold_count: 3,
            }),
        }),
    }
}

/// A runner's world: the record (`None` = no parameter), both shards, the listener's target.
pub fn world(
    spec: &RunnerSpec,
    record: Option<&str>,
    blue: ShardState,
    green: ShardState,
    serving: Shard,
) -> RunnerObservation {
    RunnerObservation {
        runner: spec.name.clone(),
        account_id: "123456789012".into(),
        record: match record {
            None => RecordObservation::Missing,
            Some(value) => RecordObservation::Present {
                value: value.into(),
                version: 7,
            },
        },
        shards: ShardPair {
            blue: shard_obs(spec, Shard::Blue, &blue),
            green: shard_obs(spec, Shard::Green, &green),
        },
        listener: Found::Present(ListenerObservation {
            arn: spec.listener_arn.clone(),
            forward_to: vec![spec.shards[serving].target_group_arn.clone()],
        }),
    }
}

pub const BLUE_ACTIVE: &str =
    r#"{"active_shard":"blue","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["blue"]}"#;

/// The usual starting point: blue active, deployed and healthy on revision 1.
pub fn blue_live(spec: &RunnerSpec, green: ShardState, serving: Shard) -> RunnerObservation {
    world(spec, Some(BLUE_ACTIVE), ShardState::up("1"), green, serving)
}
