//! The simulated AWS resources. Instances store only the times of their events (in service at,
//! terminating since); their states are computed from `now` whenever they are looked at, so that
//! the world is a pure function of the events applied to it and the time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::faults::{CallCounts, Faults};
use super::settings::{RevisionBehaviour, RunnerWorld, SimSettings, WorldHealthCheck};
use crate::core::{
    AsgObservation, HealthCheckSettings, Instance, Listener, ListenerObservation, RunnerSpec,
    Shard, TargetHealth,
};

#[derive(Debug, Clone)]
pub(super) struct SimInstance {
    pub id: String,
    /// The launch template version it was launched from.
    pub revision: Option<String>,
    pub in_service_at: DateTime<Utc>,
    pub terminating_since: Option<DateTime<Utc>>,
    /// ASG health set by hand (SetInstanceHealth).
    pub health_override: Option<bool>,
    /// Target health set by hand.
    pub target_override: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct Asg {
    pub name: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_capacity: u32,
    pub launch_template_version: Option<String>,
    pub instances: Vec<SimInstance>,
    pub tags: BTreeMap<String, String>,
    pub target_group_arns: Vec<String>,
    pub health_check_type: String,
}

#[derive(Debug, Clone)]
pub(super) struct TargetGroup {
    pub health_check: HealthCheckSettings,
}

#[derive(Debug, Clone)]
pub(super) struct Parameter {
    pub value: String,
    pub version: i64,
}

/// One instance as seen at some moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub id: String,
    pub revision: Option<String>,
    /// `Pending`, `InService` or `Terminating`.
    pub lifecycle: &'static str,
    /// ASG health status `Healthy`.
    pub healthy: bool,
    /// State in the target groups it is registered in.
    pub target_state: String,
}

/// One ASG as seen at some moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsgView {
    pub name: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_capacity: u32,
    pub launch_template_version: Option<String>,
    pub instances: Vec<InstanceView>,
    pub tags: BTreeMap<String, String>,
    pub target_group_arns: Vec<String>,
    pub health_check_type: String,
}

impl AsgView {
    pub fn observation(&self) -> AsgObservation {
        AsgObservation {
            name: self.name.clone(),
            min_size: self.min_size,
            max_size: self.max_size,
            desired_capacity: self.desired_capacity,
            launch_template_version: self.launch_template_version.clone(),
            instances: self
                .instances
                .iter()
                .map(|i| Instance {
                    id: i.id.clone(),
                    lifecycle: i.lifecycle.to_owned(),
                    healthy: i.healthy,
                })
                .collect(),
            tags: self.tags.clone(),
            target_group_arns: self.target_group_arns.clone(),
            health_check_type: self.health_check_type.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupView {
    pub arn: String,
    pub health_check: HealthCheckSettings,
    pub targets: Vec<TargetHealth>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterView {
    pub name: String,
    pub value: String,
    pub version: i64,
}

/// Everything in the world at one moment, in a stable order: two worlds are the same exactly
/// when their snapshots are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldSnapshot {
    pub account_id: String,
    pub asgs: Vec<AsgView>,
    pub target_groups: Vec<TargetGroupView>,
    pub listeners: Vec<ListenerObservation>,
    /// Listener rules, by rule ARN, with the target groups of their forward action.
    pub rules: Vec<ListenerObservation>,
    pub parameters: Vec<ParameterView>,
}

#[derive(Debug)]
pub(super) struct World {
    pub account_id: String,
    pub boot_time: Duration,
    pub termination_time: Duration,
    pub revisions: BTreeMap<String, RevisionBehaviour>,
    /// Per-runner initial state, kept for runners added after start.
    pub initial: BTreeMap<String, RunnerWorld>,
    pub next_instance: u64,
    pub asgs: BTreeMap<String, Asg>,
    pub target_groups: BTreeMap<String, TargetGroup>,
    /// Listener ARN -> the target groups its forward action sends to.
    pub listeners: BTreeMap<String, Vec<String>>,
    /// Listener rule ARN -> the target groups its forward action sends to. Rules are modelled
    /// apart from listeners: a runner on a rule never touches a listener's default action.
    pub rules: BTreeMap<String, Vec<String>>,
    pub parameters: BTreeMap<String, Parameter>,
    /// Every resource ever created, so that one deleted out of band is never created again.
    pub created: BTreeSet<String>,
    pub faults: Faults,
    pub calls: CallCounts,
    /// AWS's request quotas, when `apiQuotas` is on.
    pub quotas: Option<super::quotas::Quotas>,
    /// Requests refused by the quotas.
    pub over_quota: u64,
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl World {
    pub fn new(settings: &SimSettings) -> World {
        World {
            account_id: settings.account_id.clone(),
            boot_time: settings.boot_time,
            termination_time: settings.termination_time,
            revisions: settings.revisions.clone(),
            initial: settings.world.clone(),
            next_instance: 0,
            asgs: BTreeMap::new(),
            target_groups: BTreeMap::new(),
            listeners: BTreeMap::new(),
            rules: BTreeMap::new(),
            parameters: BTreeMap::new(),
            created: BTreeSet::new(),
            faults: Faults::default(),
            calls: CallCounts::new(),
            quotas: None,
            over_quota: 0,
        }
    }

    fn behaviour(&self, revision: Option<&str>) -> RevisionBehaviour {
        revision
            .and_then(|r| self.revisions.get(r))
            .cloned()
            .unwrap_or_default()
    }

    pub fn revision_exists(&self, revision: &str) -> bool {
        self.behaviour(Some(revision)).exists
    }

    /// Creates the runner's resources that were never created; a resource deleted out of band
    /// stays deleted. Instances of a shard with capacity are already in service at `now`.
    pub fn ensure_runner(&mut self, spec: &RunnerSpec, now: DateTime<Utc>) {
        let initial = self.initial.get(&spec.name).cloned().unwrap_or_default();
        let health_check = initial.health_check.unwrap_or_default();
        for shard in Shard::ALL {
            let names = &spec.shards[shard];
            let shard_world = initial.shards.get(shard);
            if self
                .created
                .insert(format!("asg:{}", names.auto_scaling_group))
            {
                let revision = Some(shard_world.revision.clone());
                let instances = (0..shard_world.capacity)
                    .map(|_| self.new_instance(revision.clone(), now))
                    .collect();
                self.asgs.insert(
                    names.auto_scaling_group.clone(),
                    Asg {
                        name: names.auto_scaling_group.clone(),
                        min_size: shard_world.capacity,
                        max_size: shard_world.capacity,
                        desired_capacity: shard_world.capacity,
                        launch_template_version: revision,
                        instances,
                        tags: shard_world.tags.clone(),
                        target_group_arns: vec![names.target_group_arn.clone()],
                        health_check_type: initial.health_check_type.as_str().to_owned(),
                    },
                );
            }
            if self
                .created
                .insert(format!("tg:{}", names.target_group_arn))
            {
                self.target_groups.insert(
                    names.target_group_arn.clone(),
                    TargetGroup {
                        health_check: settings_of(health_check),
                    },
                );
            }
        }
        let (kind, routes) = match &spec.listener {
            Listener::Default(_) => ("listener", &mut self.listeners),
            Listener::Rule(_) => ("rule", &mut self.rules),
        };
        let arn = spec.listener.arn();
        if self.created.insert(format!("{kind}:{arn}")) {
            let forward = initial
                .serving
                .shard()
                .map(|s| vec![spec.shards[s].target_group_arn.clone()])
                .unwrap_or_default();
            routes.insert(arn.to_owned(), forward);
        }
        if let Some(value) = initial.record
            && self
                .created
                .insert(format!("parameter:{}", spec.status_parameter))
        {
            self.parameters.insert(
                spec.status_parameter.clone(),
                Parameter { value, version: 1 },
            );
        }
    }

    fn new_instance(
        &mut self,
        revision: Option<String>,
        in_service_at: DateTime<Utc>,
    ) -> SimInstance {
        self.next_instance += 1;
        SimInstance {
            id: format!("i-{:017x}", self.next_instance),
            revision,
            in_service_at,
            terminating_since: None,
            health_override: None,
            target_override: None,
        }
    }

    fn gone(&self, instance: &SimInstance, now: DateTime<Utc>) -> bool {
        instance
            .terminating_since
            .is_some_and(|t| t + to_chrono(self.termination_time) <= now)
    }

    fn app_healthy(&self, instance: &SimInstance, now: DateTime<Utc>) -> bool {
        let behaviour = self.behaviour(instance.revision.as_deref());
        behaviour.healthy
            && behaviour
                .fails_after
                .is_none_or(|d| now < instance.in_service_at + to_chrono(d))
    }

    fn view_instance(&self, asg: &Asg, instance: &SimInstance, now: DateTime<Utc>) -> InstanceView {
        let pending = now < instance.in_service_at;
        let lifecycle = if instance.terminating_since.is_some() {
            "Terminating"
        } else if pending {
            "Pending"
        } else {
            "InService"
        };
        let target_state = if instance.terminating_since.is_some() {
            "draining".to_owned()
        } else if let Some(state) = &instance.target_override {
            state.clone()
        } else if pending {
            "initial".to_owned()
        } else if instance
            .health_override
            .unwrap_or_else(|| self.app_healthy(instance, now))
        {
            "healthy".to_owned()
        } else {
            "unhealthy".to_owned()
        };
        // With ELB health checks the ASG takes the target group's verdict; with EC2 checks only
        // a broken machine (here: a hand-set status) is unhealthy.
        let healthy = match instance.health_override {
            Some(h) => h,
            None if pending || instance.terminating_since.is_some() => true,
            None if asg.health_check_type == "ELB" => target_state == "healthy",
            None => true,
        };
        InstanceView {
            id: instance.id.clone(),
            revision: instance.revision.clone(),
            lifecycle,
            healthy,
            target_state,
        }
    }

    /// The ASG's instances as the APIs show them: those terminated are gone.
    fn instance_views<'a>(
        &'a self,
        asg: &'a Asg,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = InstanceView> + 'a {
        asg.instances
            .iter()
            .filter(move |i| !self.gone(i, now))
            .map(move |i| self.view_instance(asg, i, now))
    }

    pub fn view_asg(&self, name: &str, now: DateTime<Utc>) -> Option<AsgView> {
        let asg = self.asgs.get(name)?;
        Some(AsgView {
            name: asg.name.clone(),
            min_size: asg.min_size,
            max_size: asg.max_size,
            desired_capacity: asg.desired_capacity,
            launch_template_version: asg.launch_template_version.clone(),
            instances: self.instance_views(asg, now).collect(),
            tags: asg.tags.clone(),
            target_group_arns: asg.target_group_arns.clone(),
            health_check_type: asg.health_check_type.clone(),
        })
    }

    /// The registered targets: the instances of every ASG the target group is attached to.
    pub fn target_health(&self, arn: &str, now: DateTime<Utc>) -> Option<Vec<TargetHealth>> {
        self.target_groups.get(arn)?;
        // Only the attached ASGs' instances are looked at: viewing every ASG of the world for
        // each target group made a fleet's observation quadratic in its size.
        Some(
            self.asgs
                .values()
                .filter(|asg| asg.target_group_arns.iter().any(|a| a == arn))
                .flat_map(|asg| self.instance_views(asg, now))
                .map(|i| TargetHealth {
                    id: i.id,
                    state: i.target_state,
                })
                .collect(),
        )
    }

    /// Brings the ASG's instances in line with its desired capacity at `now`, as the ASG itself
    /// would: launches from the current launch template version, or terminates first the
    /// instances of other versions, then those not serving, then the oldest.
    pub fn scale(&mut self, name: &str, now: DateTime<Utc>) {
        let Some(asg) = self.asgs.get(name) else {
            return;
        };
        let desired = asg.desired_capacity as usize;
        let revision = asg.launch_template_version.clone();
        let mut instances: Vec<SimInstance> = asg
            .instances
            .iter()
            .filter(|i| !self.gone(i, now))
            .cloned()
            .collect();
        let live = instances
            .iter()
            .filter(|i| i.terminating_since.is_none())
            .count();
        if live < desired {
            let boot = self
                .behaviour(revision.as_deref())
                .boot_time
                .unwrap_or(self.boot_time);
            for _ in live..desired {
                let instance = self.new_instance(revision.clone(), now + to_chrono(boot));
                instances.push(instance);
            }
        } else if live > desired {
            let asg = &self.asgs[name];
            let mut victims: Vec<(bool, bool, u64, usize)> = instances
                .iter()
                .enumerate()
                .filter(|(_, i)| i.terminating_since.is_none())
                .map(|(index, i)| {
                    let view = self.view_instance(asg, i, now);
                    let serving = view.lifecycle == "InService" && view.healthy;
                    let age = u64::from_str_radix(&i.id[2..], 16).unwrap_or(0);
                    (i.revision == revision, serving, age, index)
                })
                .collect();
            victims.sort();
            for &(_, _, _, index) in victims.iter().take(live - desired) {
                instances[index].terminating_since = Some(now);
            }
        }
        self.asgs.get_mut(name).expect("checked above").instances = instances;
    }

    pub fn snapshot(&self, now: DateTime<Utc>) -> WorldSnapshot {
        WorldSnapshot {
            account_id: self.account_id.clone(),
            asgs: self
                .asgs
                .keys()
                .filter_map(|name| self.view_asg(name, now))
                .collect(),
            target_groups: self
                .target_groups
                .iter()
                .map(|(arn, tg)| TargetGroupView {
                    arn: arn.clone(),
                    health_check: tg.health_check,
                    targets: self.target_health(arn, now).unwrap_or_default(),
                })
                .collect(),
            listeners: self
                .listeners
                .iter()
                .map(|(arn, forward_to)| ListenerObservation {
                    arn: arn.clone(),
                    forward_to: forward_to.clone(),
                })
                .collect(),
            rules: self
                .rules
                .iter()
                .map(|(arn, forward_to)| ListenerObservation {
                    arn: arn.clone(),
                    forward_to: forward_to.clone(),
                })
                .collect(),
            parameters: self
                .parameters
                .iter()
                .map(|(name, p)| ParameterView {
                    name: name.clone(),
                    value: p.value.clone(),
                    version: p.version,
                })
                .collect(),
        }
    }

    /// The listeners or the rules, whichever `listener` is one of.
    pub fn routes(&mut self, listener: &Listener) -> &mut BTreeMap<String, Vec<String>> {
        match listener {
            Listener::Default(_) => &mut self.listeners,
            Listener::Rule(_) => &mut self.rules,
        }
    }

    /// PutParameter with Overwrite: creates the parameter at version 1 or bumps its version.
    pub fn put_parameter(&mut self, name: &str, value: String) -> i64 {
        self.created.insert(format!("parameter:{name}"));
        let parameter = self.parameters.entry(name.to_owned()).or_insert(Parameter {
            value: String::new(),
            version: 0,
        });
        parameter.value = value;
        parameter.version += 1;
        parameter.version
    }
}

fn settings_of(h: WorldHealthCheck) -> HealthCheckSettings {
    HealthCheckSettings {
        interval_seconds: h.interval_seconds,
        unhealthy_threshold_count: h.unhealthy_threshold_count,
    }
}
