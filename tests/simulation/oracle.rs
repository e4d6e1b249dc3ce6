//! The invariant checker's view of the world: what a runner's resources say, computed from the
//! simulated world's snapshot with no help from the core (the record is parsed here, health is
//! counted here), so that a bug in the core cannot hide itself from the check.

use serde_json::Value;
use switchyard::cloud::sim::WorldSnapshot;
use switchyard::core::{Listener, MARK_TAG, Mark, MarkState, RunnerSpec, Shard, ShardPair};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Missing,
    Malformed(String),
    Ok {
        active: Option<Shard>,
        deployed: Vec<Shard>,
    },
}

#[derive(Debug, Clone)]
pub struct ShardView {
    pub exists: bool,
    pub desired: u32,
    pub min: u32,
    pub instances: usize,
    pub healthy_targets: u32,
    pub required: u32,
    /// docs/how-it-decides.md: desired capacity >= 1 and at least `required` instances InService,
    /// Healthy and
    /// `healthy` in the shard's TG.
    pub healthy: bool,
    /// The listener forwards to this shard's TG (perhaps among others).
    pub in_listener: bool,
    /// The mark tag, if it parses and names this shard.
    pub mark: Option<Mark>,
}

#[derive(Debug, Clone)]
pub struct RunnerView {
    pub missing: Vec<String>,
    pub record: Record,
    pub record_version: Option<i64>,
    pub shards: ShardPair<ShardView>,
    pub forward: Vec<String>,
    /// The shard whose TG is the listener's only target.
    pub serving: Option<Shard>,
}

impl RunnerView {
    pub fn of(world: &WorldSnapshot, spec: &RunnerSpec) -> RunnerView {
        let mut missing = Vec::new();
        // The oracle's own reading of the world: a rule is looked up among the rules only, so
        // a runner on a rule can never be judged by a listener's default action.
        let (routes, kind) = match &spec.listener {
            Listener::Default(_) => (&world.listeners, "listener"),
            Listener::Rule(_) => (&world.rules, "listener rule"),
        };
        let listener = routes.iter().find(|l| l.arn == spec.listener.arn());
        if listener.is_none() {
            missing.push(format!("{kind} {}", spec.listener.arn()));
        }
        let forward = listener.map(|l| l.forward_to.clone()).unwrap_or_default();
        let serving = Shard::ALL
            .into_iter()
            .find(|&s| forward.len() == 1 && forward[0] == spec.shards[s].target_group_arn);
        let shards = ShardPair::from_fn(|shard| {
            let names = &spec.shards[shard];
            let asg = world
                .asgs
                .iter()
                .find(|a| a.name == names.auto_scaling_group);
            let tg = world
                .target_groups
                .iter()
                .find(|t| t.arn == names.target_group_arn);
            if asg.is_none() {
                missing.push(format!("ASG {}", names.auto_scaling_group));
            }
            if tg.is_none() {
                missing.push(format!("TG {}", names.target_group_arn));
            }
            let desired = asg.map_or(0, |a| a.desired_capacity);
            let healthy_targets = match (asg, tg) {
                (Some(asg), Some(tg)) => asg
                    .instances
                    .iter()
                    .filter(|i| i.lifecycle == "InService" && i.healthy)
                    .filter(|i| {
                        tg.targets
                            .iter()
                            .any(|t| t.id == i.id && t.state == "healthy")
                    })
                    .count() as u32,
                _ => 0,
            };
            let mark = asg
                .and_then(|a| a.tags.get(MARK_TAG))
                .and_then(|v| Mark::parse(v).ok())
                .filter(|m| m.shard == shard);
            // docs/how-it-decides.md: the in-flight attempt's own capacity (from its mark), else
            // the ASG's; ceil(capacity * minHealthyPercent / 100), written out here on purpose.
            let in_flight = mark.as_ref().filter(|m| {
                m.state == MarkState::Provisioning
                    && shard == spec.active_shard
                    && m.revision == spec.revision
            });
            let capacity = in_flight.and_then(|m| m.capacity).unwrap_or(desired);
            let percent = spec.settings.min_healthy_percent;
            let required = ((capacity * percent).div_ceil(100)).max(1);
            ShardView {
                exists: asg.is_some() && tg.is_some(),
                desired,
                min: asg.map_or(0, |a| a.min_size),
                instances: asg.map_or(0, |a| a.instances.len()),
                healthy_targets,
                required,
                healthy: desired >= 1 && healthy_targets >= required,
                in_listener: forward.contains(&names.target_group_arn),
                mark,
            }
        });
        let parameter = world
            .parameters
            .iter()
            .find(|p| p.name == spec.status_parameter);
        RunnerView {
            missing,
            record: match parameter {
                None => Record::Missing,
                Some(p) => parse_record(&p.value),
            },
            record_version: parameter.map(|p| p.version),
            shards,
            forward,
            serving,
        }
    }

    pub fn active(&self) -> Option<Shard> {
        match &self.record {
            Record::Ok { active, .. } => *active,
            _ => None,
        }
    }

    pub fn deployed(&self, shard: Shard) -> bool {
        matches!(&self.record, Record::Ok { deployed, .. } if deployed.contains(&shard))
    }

    /// Traffic reaches enough healthy targets: the listener forwards to a healthy shard's TG.
    pub fn serving_ok(&self) -> bool {
        Shard::ALL
            .into_iter()
            .any(|s| self.shards[s].in_listener && self.shards[s].healthy)
    }

    pub fn some_shard_healthy(&self) -> bool {
        Shard::ALL.into_iter().any(|s| self.shards[s].healthy)
    }

    /// The mark says: the controller's own attempt at exactly the desired shard and revision.
    pub fn own_mark(&self, spec: &RunnerSpec, shard: Shard) -> Option<&Mark> {
        self.shards[shard]
            .mark
            .as_ref()
            .filter(|m| shard == spec.active_shard && m.revision == spec.revision)
    }

    /// A halt the observation alone proves (docs/how-it-decides.md), or none. Conservative: only
    /// what the spec states outright, so that a halt missing here is a controller bug, not a
    /// judgement.
    pub fn must_halt(&self) -> Option<String> {
        if !self.missing.is_empty() {
            return Some(format!("ResourceMissing: {}", self.missing.join(", ")));
        }
        let (active, deployed) = match &self.record {
            Record::Malformed(e) => return Some(format!("StatusRecordMalformed: {e}")),
            Record::Missing => (None, &Vec::new()),
            Record::Ok { active, deployed } => (*active, deployed),
        };
        if let Some(a) = active {
            if !deployed.contains(&a) {
                return Some(format!(
                    "StatusRecordInconsistent: {a} active, not deployed"
                ));
            }
            if !self.shards[a].healthy {
                return Some(format!("ActiveShardUnhealthy: {a}"));
            }
        }
        for s in Shard::ALL {
            let v = &self.shards[s];
            if v.healthy && active != Some(s) && !deployed.contains(&s) && v.mark.is_none() {
                return Some(format!(
                    "InactiveShardHealthyNotDeployed: {s} healthy with no mark"
                ));
            }
        }
        if let Some(a) = active
            && self.serving != Some(a)
        {
            // An unrecorded attempt of the controller's own serving alone: the in-flight one
            // (a crash between the switch and the record), or one that failed or was abandoned
            // after its switch, whose traffic goes back to the recorded shard
            // (docs/how-it-decides.md).
            let explained = self
                .serving
                .is_some_and(|s| s != a && !deployed.contains(&s) && self.shards[s].mark.is_some());
            if !explained {
                return Some(format!(
                    "TrafficMismatch: {a} active, listener on {:?}",
                    self.forward
                ));
            }
        }
        None
    }

    /// Whether a halt reason the controller reports is true of this world (docs/how-it-decides.md).
    /// `foreign_write`: someone other than this controller wrote the record since it started.
    pub fn honest(&self, reason: &str, spec: &RunnerSpec, foreign_write: bool) -> bool {
        let active = self.active();
        let record_inconsistent = matches!(&self.record, Record::Ok { active: Some(a), deployed } if !deployed.contains(a));
        match reason {
            "ResourceMissing" => {
                !self.missing.is_empty()
                    || spec.revision.as_deref() == Some(super::history::BAD_REVISIONS[2])
            }
            "StatusRecordMalformed" => matches!(self.record, Record::Malformed(_)),
            "StatusRecordInconsistent" => record_inconsistent,
            "ActiveShardUnhealthy" | "RollbackImpossible" => {
                active.is_some_and(|a| !self.shards[a].healthy)
            }
            "InactiveShardHealthyNotDeployed" => Shard::ALL
                .into_iter()
                .any(|s| self.shards[s].healthy && active != Some(s) && !self.deployed(s)),
            "TrafficMismatch" => active.is_some_and(|a| self.serving != Some(a)),
            "ConcurrentModification" => foreign_write,
            // In the simulation nothing moves between the two observations of a reconcile, so
            // a refusal means decide proposed what the guard forbids.
            _ => false,
        }
    }

    /// docs/how-it-decides.md's end state: the desired shard active, alone deployed, serving and
    /// healthy; the other shard scaled to zero with nothing left running.
    pub fn converged(&self, spec: &RunnerSpec) -> Result<(), String> {
        let d = spec.active_shard;
        let o = d.other();
        let want = Record::Ok {
            active: Some(d),
            deployed: vec![d],
        };
        let problems: Vec<String> = [
            (self.record != want).then(|| format!("record {:?}", self.record)),
            (self.serving != Some(d)).then(|| format!("listener on {:?}", self.forward)),
            (!self.shards[d].healthy).then(|| format!("{d} not healthy")),
            (self.shards[o].desired + self.shards[o].min > 0 || self.shards[o].instances > 0)
                .then(|| format!("{o} still has capacity or instances")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// docs/how-it-decides.md's record rules, written out again on purpose (not the core's parser).
pub fn parse_record(text: &str) -> Record {
    let malformed = |why: &str| Record::Malformed(why.to_owned());
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return malformed("not a JSON object");
    };
    let shard = |v: &Value| match v.as_str() {
        Some("blue") => Some(Shard::Blue),
        Some("green") => Some(Shard::Green),
        _ => None,
    };
    let active = match object.get("active_shard") {
        None | Some(Value::Null) => None,
        Some(v) => match shard(v) {
            Some(s) => Some(s),
            None => return malformed("active_shard"),
        },
    };
    match object.get("deployment_ts") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {}
        Some(_) => return malformed("deployment_ts"),
    }
    let deployed = match object.get("deployed_shards") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                match shard(item) {
                    Some(s) if !out.contains(&s) => out.push(s),
                    _ => return malformed("deployed_shards"),
                }
            }
            out
        }
        Some(_) => return malformed("deployed_shards"),
    };
    Record::Ok { active, deployed }
}

pub fn mark_is(mark: &Mark, state: MarkState) -> bool {
    mark.state == state
}
