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

    /// Any attempt of the controller's own, current or left behind (docs/how-it-decides.md).
    pub fn is_ours(&self) -> bool {
        !matches!(self, MarkStatus::None | MarkStatus::Unreadable { .. })
    }

    /// Whether the mark makes a healthy shard that is neither active nor deployed the
    /// controller's own (docs/how-it-decides.md's last row, §5). The in-flight attempt of the
    /// desired state always does, traffic or not (a crash between `Switching` and `Recording`). Any
    /// other attempt of ours does only while the shard takes no traffic, or while the record names
    /// the other shard active, so that traffic goes back to it (a rollback, or an attempt abandoned
    /// after its switch). Live traffic behind a wiped or lost record is explained by no old mark: a
    /// human decides.
    pub fn explains(&self, takes_traffic: bool, other_recorded_active: bool) -> bool {
        match self {
            MarkStatus::InFlight { .. } => true,
            MarkStatus::None | MarkStatus::Unreadable { .. } => false,
            MarkStatus::Failed { .. } | MarkStatus::Abandoned { .. } | MarkStatus::Stale { .. } => {
                !takes_traffic || other_recorded_active
            }
        }
    }

    /// The capacity of the attempt in flight, which `required` follows while it lasts.
    fn attempt_capacity(&self) -> Option<u32> {
        self.in_flight().and_then(|mark| mark.capacity)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardFacts {
    pub healthy: bool,
    pub active: bool,
    pub deployed: bool,
    pub serving: bool,
    /// The listener sends it traffic, alone or (edited by hand) beside the other.
    pub takes_traffic: bool,
    pub healthy_targets: u32,
    /// ceil(capacity * minHealthyPercent / 100), capacity being the in-flight attempt's own
    /// (from its mark) or else the ASG's desired capacity (docs/how-it-decides.md).
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
    /// The mark makes this shard the controller's own attempt (`MarkStatus::explains`).
    pub own_attempt: bool,
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
                own_in_flight: facts.own_attempt,
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
        // Unless the group is detached from the TG: its instances then receive no traffic,
        // however healthy the ASG thinks they are.
        None if asg.health_check_type == "ELB" && asg.target_group_arns.contains(&tg.arn) => {
            healthy_instances.count() as u32
        }
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
        let mark = MarkStatus::read(spec, shard, asg);
        // On an active or deployed shard a mark is history: such a shard is judged by its ASG.
        let recorded = record.active_shard == Some(shard) || record.is_deployed(shard);
        let attempt = mark.attempt_capacity().filter(|_| !recorded);
        let required = spec.required_for(attempt.unwrap_or(asg.desired_capacity));
        let takes_traffic = listener
            .forward_to
            .contains(&spec.shards[shard].target_group_arn);
        let other_recorded_active = record.active_shard == Some(shard.other());
        ShardFacts {
            healthy: asg.desired_capacity >= 1 && healthy_targets >= required,
            active: record.active_shard == Some(shard),
            deployed: record.is_deployed(shard),
            serving: serving == Some(shard),
            takes_traffic,
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
            own_attempt: mark.explains(takes_traffic, other_recorded_active),
            mark,
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
    // Traffic on an attempt of ours while the record names the other shard active: it goes
    // back to the recorded shard (a rollback, or an attempt abandoned after its switch), which
    // is impossible once that shard died too. The in-flight attempt keeps its traffic while
    // it is healthy (it is being verified), so it is only a rollback once it is not.
    if let Some(active) = record.active_shard
        && let Some(attempt) = a.serving.filter(|&s| s != active)
        && returns_to_active(a, attempt)
        && !a.facts[active].healthy
        && (a.facts[attempt].mark.in_flight().is_none() || !a.facts[attempt].healthy)
    {
        return Some(runbook::rollback_impossible(spec, attempt, active));
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
        // The controller's own attempt explains traffic on its shard alone: a crash between
        // Switching and Recording, a rollback under way, or an attempt abandoned after its
        // switch, whose traffic goes back to the recorded shard.
        let explained = a
            .serving
            .is_some_and(|attempt| attempt != active && returns_to_active(a, attempt));
        if !explained {
            return Some(runbook::traffic_mismatch(spec, active, &a.forward_to));
        }
    }
    None
}

/// The shard serving alone is an attempt of the controller's own that was never recorded. A
/// mark on a deployed shard is history (docs/how-it-decides.md): it explains nothing.
fn returns_to_active(a: &Assessment, attempt: Shard) -> bool {
    !a.facts[attempt].deployed && a.facts[attempt].mark.is_ours()
}
