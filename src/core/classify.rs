//! The operators' runbook turned into code: per-shard facts, the classification table of
//! docs/how-it-decides.md, and the runner-level halts that an observation alone proves.

use serde::Serialize;

use super::halt::Halt;
use super::mark::{Mark, MarkState};
use super::observation::{
    AsgObservation, Found, HealthCheckSettings, RunnerObservation, TargetGroupObservation,
};
use super::runbook;
use super::shard::{Shard, ShardPair};
use super::spec::RunnerSpec;
use super::status_record::StatusRecord;

/// The deployment mark on a shard's ASG, read relative to the desired state
/// (docs/how-it-decides.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum MarkStatus {
    None,
    /// The tag is there but does not parse: treated as somebody else's.
    Unreadable {
        error: String,
    },
    /// `provisioning` for the desired shard and revision: our in-flight deployment.
    InFlight {
        mark: Mark,
    },
    /// `failed` for the desired shard and revision.
    Failed {
        mark: Mark,
    },
    /// `provisioning` for anything else: an attempt of ours that the desired state left behind.
    Abandoned {
        mark: Mark,
    },
    /// `failed` for another shard or revision: history.
    Stale {
        mark: Mark,
    },
}

impl MarkStatus {
    fn read(spec: &RunnerSpec, shard: Shard, asg: &AsgObservation) -> MarkStatus {
        let (desired, revision) = spec.desired();
        match asg.mark() {
            None => MarkStatus::None,
            Some(Err(e)) => MarkStatus::Unreadable {
                error: e.to_string(),
            },
            Some(Ok(mark)) if mark.shard != shard => MarkStatus::Unreadable {
                error: format!("the mark on {shard} names {}", mark.shard),
            },
            Some(Ok(mark)) => {
                let current = shard == desired && mark.is_for(shard, revision);
                match (mark.state, current) {
                    (MarkState::Provisioning, true) => MarkStatus::InFlight { mark },
                    (MarkState::Failed, true) => MarkStatus::Failed { mark },
                    (MarkState::Provisioning, false) => MarkStatus::Abandoned { mark },
                    (MarkState::Failed, false) => MarkStatus::Stale { mark },
                }
            }
        }
    }

    pub fn in_flight(&self) -> Option<&Mark> {
        match self {
            MarkStatus::InFlight { mark } => Some(mark),
            _ => None,
        }
    }

    pub fn failed(&self) -> Option<&Mark> {
        match self {
            MarkStatus::Failed { mark } => Some(mark),
            _ => None,
        }
    }

    /// The mark says the controller's own deployment of the desired state owns this shard.
    pub fn is_current(&self) -> bool {
        matches!(
            self,
            MarkStatus::InFlight { .. } | MarkStatus::Failed { .. }
        )
    }

    /// Any attempt of the controller's own, current or left behind (docs/how-it-decides.md): such a
    /// shard is never "somebody else's healthy shard".
    pub fn is_ours(&self) -> bool {
        !matches!(self, MarkStatus::None | MarkStatus::Unreadable { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardFacts {
    pub healthy: bool,
    pub active: bool,
    pub deployed: bool,
    pub serving: bool,
    pub healthy_targets: u32,
    pub required: u32,
    pub desired_capacity: u32,
    pub min_size: u32,
    pub max_size: u32,
    pub instances: usize,
    /// Capacity asked for or instances still there.
    pub has_capacity: bool,
    pub revision: Option<String>,
    pub target_group_attached: bool,
    pub mark: MarkStatus,
}

/// The rows of the runbook table, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ShardClass {
    /// healthy, active: the expected state of the active shard. Nothing to do.
    ActiveHealthy,
    /// unhealthy, active: the active shard is down. Halt.
    ActiveUnhealthy,
    /// unhealthy, inactive, deployed: finish its shut-down and clean-up.
    InactiveUnhealthyDeployed,
    /// healthy, inactive, deployed: a provisioned shard before its old twin was shut down, or
    /// the old twin itself. Continue the deployment.
    InactiveHealthyDeployed,
    /// unhealthy, inactive, never deployed (or cleaned up): nothing, or provision it if desired.
    NotDeployed,
    /// healthy, inactive, not deployed: halt, unless it is our own in-flight provision.
    InactiveHealthyNotDeployed { own_in_flight: bool },
}

impl ShardClass {
    pub fn of(facts: &ShardFacts) -> ShardClass {
        match (facts.healthy, facts.active, facts.deployed) {
            (true, true, _) => ShardClass::ActiveHealthy,
            (false, true, _) => ShardClass::ActiveUnhealthy,
            (false, false, true) => ShardClass::InactiveUnhealthyDeployed,
            (true, false, true) => ShardClass::InactiveHealthyDeployed,
            (false, false, false) => ShardClass::NotDeployed,
            (true, false, false) => ShardClass::InactiveHealthyNotDeployed {
                own_in_flight: facts.mark.is_ours(),
            },
        }
    }

    /// The table's "meaning" column.
    pub fn meaning(self) -> &'static str {
        match self {
            ShardClass::ActiveHealthy => "expected state of the active shard",
            ShardClass::ActiveUnhealthy => "active shard is down",
            ShardClass::InactiveUnhealthyDeployed | ShardClass::NotDeployed => {
                "expected state of an inactive shard"
            }
            ShardClass::InactiveHealthyDeployed => {
                "a provisioned shard before its old twin was shut down, or the old twin itself"
            }
            ShardClass::InactiveHealthyNotDeployed {
                own_in_flight: true,
            } => "the controller's own in-flight provision",
            ShardClass::InactiveHealthyNotDeployed {
                own_in_flight: false,
            } => "Inactive shard appears healthy, aborting to avoid unsafe deploy",
        }
    }
}

/// Everything the core derives from one observation before deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub record: StatusRecord,
    pub record_version: Option<i64>,
    pub facts: ShardPair<ShardFacts>,
    pub classes: ShardPair<ShardClass>,
    /// The shard the listener forwards to, only to.
    pub serving: Option<Shard>,
    /// The target groups the listener forwards to, as observed.
    pub forward_to: Vec<String>,
    /// Each shard's TG health-check settings, where known.
    pub health_checks: ShardPair<Option<HealthCheckSettings>>,
    /// A halt this observation proves, first in the order of docs/how-it-decides.md's precedence.
    pub halt: Option<Halt>,
}

/// Healthy targets: instances of the ASG that are InService and Healthy and, where target health
/// was read, `healthy` in the shard's TG. Targets that are not instances of the ASG (a terminated
/// instance lingering in the TG) do not count.
pub fn healthy_targets(asg: &AsgObservation, tg: &TargetGroupObservation) -> u32 {
    let healthy_instances = asg.instances.iter().filter(|i| i.in_service() && i.healthy);
    match &tg.targets {
        Some(targets) => healthy_instances
            .filter(|i| targets.iter().any(|t| t.id == i.id && t.state == "healthy"))
            .count() as u32,
        // Not read: with ELB health checks the instance health already reflects the TG.
        None if asg.health_check_type == "ELB" => healthy_instances.count() as u32,
        None => 0,
    }
}

/// The observation proves a resource is missing or the record is malformed: nothing else can be
/// judged, so this is the whole answer.
pub fn assess(spec: &RunnerSpec, obs: &RunnerObservation) -> Result<Assessment, Halt> {
    if let Some(halt) = missing_resource(spec, obs) {
        return Err(halt);
    }
    let record = obs
        .record
        .parse()
        .map_err(|e| runbook::record_malformed(spec, obs, &e.0))?;
    let listener = obs.listener.present().expect("checked by missing_resource");
    let serving = Shard::ALL.into_iter().find(|&s| {
        listener.forward_to.len() == 1 && listener.forward_to[0] == spec.shards[s].target_group_arn
    });
    let facts = ShardPair::from_fn(|shard| {
        let asg = obs.asg(shard).expect("checked by missing_resource");
        let tg = obs
            .target_group(shard)
            .expect("checked by missing_resource");
        let healthy_targets = healthy_targets(asg, tg);
        let required = spec.required_for(asg.desired_capacity);
        ShardFacts {
            healthy: asg.desired_capacity >= 1 && healthy_targets >= required,
            active: record.active_shard == Some(shard),
            deployed: record.is_deployed(shard),
            serving: serving == Some(shard),
            healthy_targets,
            required,
            desired_capacity: asg.desired_capacity,
            min_size: asg.min_size,
            max_size: asg.max_size,
            instances: asg.instances.len(),
            has_capacity: asg.has_capacity(),
            revision: asg.launch_template_version.clone(),
            target_group_attached: asg
                .target_group_arns
                .iter()
                .any(|arn| *arn == spec.shards[shard].target_group_arn),
            mark: MarkStatus::read(spec, shard, asg),
        }
    });
    let classes = facts.map(|_, f| ShardClass::of(f));
    let mut assessment = Assessment {
        record_version: obs.record.version(),
        record,
        facts,
        classes,
        serving,
        forward_to: listener.forward_to.clone(),
        health_checks: ShardPair::from_fn(|s| obs.target_group(s).and_then(|tg| tg.health_check)),
        halt: None,
    };
    assessment.halt = runner_halt(spec, &assessment);
    Ok(assessment)
}

fn missing_resource(spec: &RunnerSpec, obs: &RunnerObservation) -> Option<Halt> {
    let mut missing = Vec::new();
    for shard in Shard::ALL {
        if matches!(obs.shards[shard].asg, Found::Missing) {
            missing.push(format!(
                "Auto Scaling group {} ({shard})",
                spec.shards[shard].auto_scaling_group
            ));
        }
        if matches!(obs.shards[shard].target_group, Found::Missing) {
            missing.push(format!(
                "target group {} ({shard})",
                spec.shards[shard].target_group_arn
            ));
        }
    }
    if matches!(obs.listener, Found::Missing) {
        missing.push(format!("listener {}", spec.listener_arn));
    }
    (!missing.is_empty()).then(|| runbook::resource_missing(spec, &missing.join(", ")))
}

/// The runner-level checks of docs/how-it-decides.md that need a readable world, most specific
/// first.
fn runner_halt(spec: &RunnerSpec, a: &Assessment) -> Option<Halt> {
    let record = &a.record;
    if let Some(active) = record.active_shard
        && !record.is_deployed(active)
    {
        return Some(runbook::record_inconsistent(spec, active));
    }
    let (desired, _) = spec.desired();
    let new = &a.facts[desired];
    // Traffic already moved to the in-flight shard, which failed, and the old one died too.
    if let Some(old) = record.active_shard.filter(|&s| s != desired)
        && new.serving
        && !new.deployed
        && new.mark.is_current()
        && !new.healthy
        && !a.facts[old].healthy
    {
        return Some(runbook::rollback_impossible(spec, desired, old));
    }
    if let Some(active) = record.active_shard
        && !a.facts[active].healthy
    {
        return Some(runbook::active_unhealthy(spec, active, &a.facts[active]));
    }
    for shard in Shard::ALL {
        if a.classes[shard]
            == (ShardClass::InactiveHealthyNotDeployed {
                own_in_flight: false,
            })
        {
            return Some(runbook::inactive_healthy_not_deployed(
                spec,
                shard,
                &a.facts[shard],
                record,
            ));
        }
    }
    if let Some(active) = record.active_shard
        && a.serving != Some(active)
    {
        // The controller's own deployment explains traffic on the desired shard: a crash between
        // Switching and Recording, or a rollback under way.
        // A mark on a deployed shard is history (docs/how-it-decides.md): it explains nothing.
        let explained = a.serving == Some(desired)
            && active != desired
            && !new.deployed
            && new.mark.is_current();
        if !explained {
            return Some(runbook::traffic_mismatch(spec, active, &a.forward_to));
        }
    }
    None
}
