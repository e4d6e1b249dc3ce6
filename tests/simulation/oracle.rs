//! The invariant checker's view of the world: what a runner's resources say, read from the
//! simulated world's snapshot with code of its own, written from the contract's words (record
//! format, mark format, "healthy", `required`, "takes traffic"). Nothing here calls the core's
//! parsers or helpers: a checker that shares the checked code's reading agrees with it every
//! time, bugs included.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchyard::cloud::sim::WorldSnapshot;
use switchyard::core::{Listener, RunnerSpec, Shard, ShardPair};

/// The tag key of the durable mark, as the contract names it.
pub const MARK_TAG: &str = "switchyard/deployment";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Missing,
    Malformed(String),
    Ok {
        active: Option<Shard>,
        deployed: Vec<Shard>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkState {
    Provisioning,
    Failed,
}

/// A mark as the contract describes it: `{"id", "shard", "revision", "capacity", "started",
/// "state"}`. `capacity` is optional here only so that marks written before it was specified
/// can still be read; their attempt's capacity is then what the harness saw the attempt start
/// with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRead {
    pub id: String,
    pub shard: Shard,
    pub revision: Option<String>,
    pub capacity: Option<u32>,
    pub started: DateTime<Utc>,
    pub state: MarkState,
}

/// What the mark tag on a shard's ASG holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkTag {
    None,
    /// Present but not a mark of this shard (garbled, or naming the other shard).
    Unreadable(String),
    Read(MarkRead),
}

impl MarkTag {
    pub fn read(&self) -> Option<&MarkRead> {
        match self {
            MarkTag::Read(m) => Some(m),
            _ => None,
        }
    }
}

fn shard_named(v: &Value) -> Option<Shard> {
    match v.as_str() {
        Some("blue") => Some(Shard::Blue),
        Some("green") => Some(Shard::Green),
        _ => None,
    }
}

thread_local! {
    /// Texts already read: the checker reads the same few records and marks thousands of
    /// times per seed.
    static MARKS: RefCell<HashMap<String, Result<MarkRead, String>>> = RefCell::new(HashMap::new());
    static RECORDS: RefCell<HashMap<String, Record>> = RefCell::new(HashMap::new());
}

fn memo<T: Clone>(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<String, T>>>,
    text: &str,
    read: impl FnOnce(&str) -> T,
) -> T {
    if let Some(hit) = cache.with(|c| c.borrow().get(text).cloned()) {
        return hit;
    }
    let value = read(text);
    cache.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(text.to_owned(), value.clone());
    });
    value
}

/// docs/how-it-decides.md's mark, read from the tag's text.
pub fn parse_mark(text: &str) -> Result<MarkRead, String> {
    memo(&MARKS, text, read_mark)
}

fn read_mark(text: &str) -> Result<MarkRead, String> {
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
        return Err("not a JSON object".into());
    };
    let id = match o.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("id".into()),
    };
    let shard = o.get("shard").and_then(shard_named).ok_or("shard")?;
    let revision = match o.get("revision") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("revision".into()),
    };
    let capacity = match o.get("capacity") {
        None => None,
        Some(v) => match v.as_u64().and_then(|c| u32::try_from(c).ok()) {
            Some(c) if c >= 1 => Some(c),
            _ => return Err("capacity".into()),
        },
    };
    let started = o
        .get("started")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .ok_or("started")?
        .with_timezone(&Utc);
    let state = match o.get("state").and_then(Value::as_str) {
        Some("provisioning") => MarkState::Provisioning,
        Some("failed") => MarkState::Failed,
        _ => return Err("state".into()),
    };
    Ok(MarkRead {
        id,
        shard,
        revision,
        capacity,
        started,
        state,
    })
}

/// docs/how-it-decides.md: `ceil(capacity * minHealthyPercent / 100)`.
pub fn required(capacity: u32, min_healthy_percent: u32) -> u32 {
    let product = u64::from(capacity) * u64::from(min_healthy_percent);
    product.div_ceil(100) as u32
}

/// What the harness knows about attempts beyond the world: the capacity each attempt (mark id)
/// started with, for marks that do not carry it.
pub type AttemptCapacities = BTreeMap<String, u32>;

#[derive(Debug, Clone)]
pub struct ShardView {
    pub exists: bool,
    pub desired: u32,
    pub min: u32,
    pub instances: usize,
    pub healthy_targets: u32,
    /// The capacity `required` is computed from: the in-flight mark's, else the ASG's desired.
    pub capacity: u32,
    pub required: u32,
    /// docs/how-it-decides.md: desired capacity >= 1 and at least `required` instances InService, Healthy and
    /// `healthy` in the shard's TG.
    pub healthy: bool,
    /// docs/how-it-decides.md "takes traffic": the listener forwards to this shard's TG, alone or beside the
    /// other.
    pub takes_traffic: bool,
    pub tg_attached: bool,
    pub mark: MarkTag,
    /// The mark is the controller's own in-flight provision (docs/how-it-decides.md).
    pub in_flight: bool,
}

#[derive(Debug, Clone)]
pub struct RunnerView {
    pub missing: Vec<String>,
    pub record: Record,
    pub record_version: Option<i64>,
    pub shards: ShardPair<ShardView>,
    pub forward: Vec<String>,
    /// docs/how-it-decides.md "serving": the shard whose TG the listener forwards to, alone.
    pub serving: Option<Shard>,
}

/// A halt the world proves, and the rule that demands it.
#[derive(Debug, Clone)]
pub struct MustHalt {
    /// `inv5`, or `inv5-traffic` for docs/how-it-decides.md's "a shard that takes traffic is explained
    /// only by the in-flight mark of the current desired shard and revision" (or, with the
    /// other shard recorded active, by a mark of ours whose traffic goes back to it).
    pub rule: &'static str,
    pub why: String,
}

impl RunnerView {
    pub fn of(
        world: &WorldSnapshot,
        spec: &RunnerSpec,
        attempts: &AttemptCapacities,
    ) -> RunnerView {
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
        let parameter = world
            .parameters
            .iter()
            .find(|p| p.name == spec.status_parameter);
        let record = match parameter {
            None => Record::Missing,
            Some(p) => parse_record(&p.value),
        };
        let (active, deployed) = match &record {
            Record::Ok { active, deployed } => (*active, deployed.clone()),
            _ => (None, Vec::new()),
        };
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
            let mark = match asg.and_then(|a| a.tags.get(MARK_TAG)) {
                None => MarkTag::None,
                Some(text) => match parse_mark(text) {
                    Ok(m) if m.shard == shard => MarkTag::Read(m),
                    Ok(m) => MarkTag::Unreadable(format!("names {}", m.shard)),
                    Err(why) => MarkTag::Unreadable(why),
                },
            };
            // docs/how-it-decides.md: the controller's own in-flight provision is a `provisioning` mark for the
            // desired shard and revision, on a shard neither active nor deployed.
            let in_flight = active != Some(shard)
                && !deployed.contains(&shard)
                && shard == spec.active_shard
                && mark.read().is_some_and(|m| {
                    m.state == MarkState::Provisioning && m.revision == spec.revision
                });
            let capacity = if in_flight {
                let m = mark.read().expect("in flight means read");
                m.capacity
                    .or_else(|| attempts.get(&m.id).copied())
                    .unwrap_or(desired)
            } else {
                desired
            };
            let required = required(capacity, spec.settings.min_healthy_percent);
            ShardView {
                exists: asg.is_some() && tg.is_some(),
                desired,
                min: asg.map_or(0, |a| a.min_size),
                instances: asg.map_or(0, |a| a.instances.len()),
                healthy_targets,
                capacity,
                required,
                healthy: desired >= 1 && capacity >= 1 && healthy_targets >= required,
                takes_traffic: forward.contains(&names.target_group_arn),
                tg_attached: asg
                    .is_some_and(|a| a.target_group_arns.contains(&names.target_group_arn)),
                mark,
                in_flight,
            }
        });
        RunnerView {
            missing,
            record,
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
            .any(|s| self.shards[s].takes_traffic && self.shards[s].healthy)
    }

    pub fn some_shard_healthy(&self) -> bool {
        Shard::ALL.into_iter().any(|s| self.shards[s].healthy)
    }

    /// The mark on `shard` is for exactly the desired shard and revision (any state).
    pub fn own_mark(&self, spec: &RunnerSpec, shard: Shard) -> Option<&MarkRead> {
        self.shards[shard]
            .mark
            .read()
            .filter(|m| shard == spec.active_shard && m.revision == spec.revision)
    }

    /// docs/how-it-decides.md: the controller's own in-flight provision of the desired state.
    pub fn own_in_flight(&self, spec: &RunnerSpec, shard: Shard) -> bool {
        self.shards[shard].in_flight && self.own_mark(spec, shard).is_some()
    }

    /// `shard` takes traffic alone, unrecorded, with a mark of ours, while the record names the
    /// other shard active: an attempt that failed or was left after its switch, whose traffic
    /// the controller switches back to the recorded shard (docs/how-it-decides.md).
    fn switched_back_to_come(&self, shard: Shard) -> bool {
        self.serving == Some(shard)
            && !self.deployed(shard)
            && self.active().is_some_and(|a| a != shard)
            && self.shards[shard].mark.read().is_some()
    }

    /// A halt the observation alone proves (docs/how-it-decides.md), or none. Conservative: only what the
    /// contract states outright, so that a halt missing here is a controller bug, not a
    /// judgement.
    pub fn must_halt(&self, spec: &RunnerSpec) -> Option<MustHalt> {
        let plain = |why: String| Some(MustHalt { rule: "inv5", why });
        if !self.missing.is_empty() {
            return plain(format!("ResourceMissing: {}", self.missing.join(", ")));
        }
        let (active, deployed) = match &self.record {
            Record::Malformed(e) => return plain(format!("StatusRecordMalformed: {e}")),
            Record::Missing => (None, &Vec::new()),
            Record::Ok { active, deployed } => (*active, deployed),
        };
        if let Some(a) = active {
            if !deployed.contains(&a) {
                return plain(format!(
                    "StatusRecordInconsistent: {a} active, not deployed"
                ));
            }
            if !self.shards[a].healthy {
                return plain(format!("ActiveShardUnhealthy: {a}"));
            }
        }
        for s in Shard::ALL {
            let v = &self.shards[s];
            if !v.healthy || active == Some(s) || deployed.contains(&s) {
                continue;
            }
            let Some(mark) = v.mark.read() else {
                return plain(format!(
                    "InactiveShardHealthyNotDeployed: {s} healthy, neither active nor \
                     deployed, with no readable mark"
                ));
            };
            // docs/how-it-decides.md: a shard that takes traffic is explained only by the in-flight mark
            // of the current desired shard and revision.
            if v.takes_traffic
                && mark.state == MarkState::Provisioning
                && !self.own_in_flight(spec, s)
                && !self.switched_back_to_come(s)
            {
                return Some(MustHalt {
                    rule: "inv5-traffic",
                    why: format!(
                        "InactiveShardHealthyNotDeployed: {s} healthy and taking traffic, its \
                         mark (provisioning, revision {:?}) is not the desired state's",
                        mark.revision
                    ),
                });
            }
        }
        if let Some(a) = active
            && self.serving != Some(a)
        {
            let explained = self.serving.is_some_and(|s| self.switched_back_to_come(s));
            if !explained {
                return plain(format!(
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
            // Decide and guard read the same observation: a refusal means they disagree.
            _ => false,
        }
    }

    /// docs/how-it-decides.md's end state: the desired shard active, alone deployed, serving and healthy; the
    /// other shard scaled to zero with nothing left running.
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

    /// What the runner looks like for the purpose of "did the world move": the facts a step's
    /// guard judges.
    pub fn digest(&self) -> String {
        let shard = |s: Shard| {
            let v = &self.shards[s];
            format!(
                "{}:{}/{}/{}/{}/{:?}",
                s, v.desired, v.healthy_targets, v.healthy, v.takes_traffic, v.mark
            )
        };
        format!(
            "{:?} {:?} {:?} {} {}",
            self.record,
            self.record_version,
            self.forward,
            shard(Shard::Blue),
            shard(Shard::Green)
        )
    }
}

/// docs/how-it-decides.md's record rules, written out again on purpose (not the core's parser).
pub fn parse_record(text: &str) -> Record {
    memo(&RECORDS, text, read_record)
}

fn read_record(text: &str) -> Record {
    let malformed = |why: &str| Record::Malformed(why.to_owned());
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return malformed("not a JSON object");
    };
    let active = match object.get("active_shard") {
        None | Some(Value::Null) => None,
        Some(v) => match shard_named(v) {
            Some(s) => Some(s),
            None => return malformed("active_shard"),
        },
    };
    match object.get("deployment_ts") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if DateTime::parse_from_rfc3339(s).is_ok() => {}
        Some(_) => return malformed("deployment_ts"),
    }
    let deployed = match object.get("deployed_shards") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                match shard_named(item) {
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

/// The `deployment_ts` of a well-formed record, if it has one.
pub fn deployment_ts(text: &str) -> Option<DateTime<Utc>> {
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    o.get("deployment_ts")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_mark_reads() {
        let m = parse_mark(r#"{"id":"d-1","shard":"green","revision":"42","capacity":2,"started":"2026-11-22T10:00:00Z","state":"provisioning"}"#).unwrap();
        assert_eq!(m.capacity, Some(2));
        assert_eq!(m.state, MarkState::Provisioning);
        assert_eq!(m.revision.as_deref(), Some("42"));
    }

    #[test]
    fn broken_marks_are_unreadable() {
        for text in [
            "",
            "{",
            "[]",
            r#"{"id":"","shard":"green","started":"2026-11-22T10:00:00Z","state":"failed"}"#,
            r#"{"id":"a","shard":"red","started":"2026-11-22T10:00:00Z","state":"failed"}"#,
            r#"{"id":"a","shard":"blue","started":"yesterday","state":"failed"}"#,
            r#"{"id":"a","shard":"blue","started":"2026-11-22T10:00:00Z","state":"done"}"#,
            r#"{"id":"a","shard":"blue","capacity":0,"started":"2026-11-22T10:00:00Z","state":"failed"}"#,
        ] {
            assert!(parse_mark(text).is_err(), "{text:?} read as a mark");
        }
    }

    #[test]
    fn required_rounds_up() {
        assert_eq!(required(3, 50), 2);
        assert_eq!(required(2, 100), 2);
        assert_eq!(required(1, 50), 1);
        assert_eq!(required(0, 100), 0);
    }
}
