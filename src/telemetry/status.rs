//! The status board: what `/api/v1/status` serves and `switchyard status --server` prints.
//! The controller updates it after every reconcile; readers take snapshots.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::core::{ConditionType, Decision, RunnerSpec, Shard, ShardClass, ShardReport};

/// Events kept per runner: enough to see how a deployment went without growing without bound.
pub const EVENTS_PER_RUNNER: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDocument {
    pub generated_at: DateTime<Utc>,
    /// Which replica serves this document and which one leads (docs/high-availability.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leadership: Option<LeadershipStatus>,
    pub runners: Vec<RunnerStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadershipStatus {
    /// This replica: `--replica-id`, or host (pod) name and pid.
    pub replica: String,
    /// `leader` (may mutate) or `standby`.
    pub role: String,
    /// The replica holding the lease as this one last saw it; `None` when nobody does.
    pub leader: Option<String>,
    /// The lease name; `None` without leader election (this replica is the only writer).
    pub lease: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerStatus {
    pub name: String,
    pub desired_shard: Shard,
    pub desired_revision: Option<String>,
    /// The shard the status record names active; `None` before the first deployment or when
    /// the observation could not be read.
    pub active_shard: Option<Shard>,
    pub paused: bool,
    /// Names fixed at compile time are borrowed, not copied into every runner's status.
    pub phase: Cow<'static, str>,
    pub halted: Option<HaltStatus>,
    /// One entry per condition type, in `ConditionType::ALL` order.
    pub conditions: Vec<ConditionStatus>,
    /// Empty when the observation was too broken to judge the shards.
    pub shards: Vec<ShardStatus>,
    pub next: String,
    /// Oldest first, at most `EVENTS_PER_RUNNER`.
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HaltStatus {
    pub reason: String,
    pub message: String,
    pub runbook: String,
    pub repair: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionValue {
    True,
    False,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionStatus {
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    pub status: ConditionValue,
    pub reason: String,
    pub message: String,
    /// When `status` last flipped (or when the controller first reported the runner).
    pub last_transition_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardStatus {
    pub shard: Shard,
    pub healthy: bool,
    pub active: bool,
    pub deployed: bool,
    pub serving: bool,
    pub healthy_targets: u32,
    pub required: u32,
    pub desired_capacity: u32,
    pub revision: Option<String>,
    /// The runbook row (`ShardClass` variant name); the controller's own in-flight provision,
    /// a healthy inactive undeployed shard that is no cause to halt, is `OwnInFlightProvision`.
    pub class: Cow<'static, str>,
    /// The runbook table's "meaning" column for that row.
    pub meaning: Cow<'static, str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub time: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub reason: String,
    pub message: String,
}

impl Event {
    pub fn normal(
        time: DateTime<Utc>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Event {
        Event {
            time,
            kind: EventType::Normal,
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn warning(
        time: DateTime<Utc>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Event {
        Event {
            time,
            kind: EventType::Warning,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The runbook row's name as shown to people.
pub fn class_name(class: ShardClass) -> &'static str {
    match class {
        ShardClass::ActiveHealthy => "ActiveHealthy",
        ShardClass::ActiveUnhealthy => "ActiveUnhealthy",
        ShardClass::InactiveUnhealthyDeployed => "InactiveUnhealthyDeployed",
        ShardClass::InactiveHealthyDeployed => "InactiveHealthyDeployed",
        ShardClass::NotDeployed => "NotDeployed",
        ShardClass::InactiveHealthyNotDeployed {
            own_in_flight: false,
        } => "InactiveHealthyNotDeployed",
        ShardClass::InactiveHealthyNotDeployed {
            own_in_flight: true,
        } => "OwnInFlightProvision",
    }
}

#[derive(Debug, Default)]
struct Entry {
    /// `None` until the first `update`: events can arrive before the first decision.
    status: Option<RunnerStatus>,
    events: VecDeque<Event>,
}

/// Shared by the control loop (which writes) and the HTTP server (which reads); cheap to clone.
#[derive(Clone)]
pub struct StatusBoard {
    runners: Arc<Mutex<BTreeMap<String, Entry>>>,
    leadership: Arc<Mutex<Option<LeadershipStatus>>>,
    /// Stamps `generatedAt`; the simulated cloud's clock in the demo, so that it agrees with
    /// the times the controller reports.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard")
            .field("runners", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard::new()
    }
}

impl StatusBoard {
    pub fn new() -> StatusBoard {
        StatusBoard::with_clock(Arc::new(SystemClock))
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> StatusBoard {
        StatusBoard {
            runners: Arc::default(),
            leadership: Arc::default(),
            clock,
        }
    }

    /// Publishes a runner's latest decision.
    pub fn update(&self, spec: &RunnerSpec, decision: &Decision, now: DateTime<Utc>) {
        let mut runners = self.lock();
        if !runners.contains_key(&spec.name) {
            runners.insert(spec.name.clone(), Entry::default());
        }
        let entry = runners.get_mut(&spec.name).expect("inserted above");
        let previous = entry.status.as_ref().map_or(&[][..], |s| &s.conditions[..]);
        let conditions = ConditionType::ALL
            .into_iter()
            .map(|kind| {
                let held = decision.conditions.iter().find(|c| c.kind == kind);
                let status = if held.is_some() {
                    ConditionValue::True
                } else {
                    ConditionValue::False
                };
                let last_transition_time = match previous.iter().find(|c| c.kind == kind.as_str()) {
                    Some(before) if before.status == status => before.last_transition_time,
                    _ => now,
                };
                ConditionStatus {
                    kind: Cow::Borrowed(kind.as_str()),
                    status,
                    reason: held.map(|c| c.reason.clone()).unwrap_or_default(),
                    message: held.map(|c| c.message.clone()).unwrap_or_default(),
                    last_transition_time,
                }
            })
            .collect();
        let shards: Vec<ShardStatus> = decision
            .shards
            .as_ref()
            .map(|pair| pair.iter().map(|(_, r)| shard_status(r)).collect())
            .unwrap_or_default();
        let status = RunnerStatus {
            name: spec.name.clone(),
            desired_shard: spec.active_shard,
            desired_revision: spec.revision.clone(),
            active_shard: shards.iter().find(|s| s.active).map(|s| s.shard),
            paused: spec.paused,
            phase: Cow::Borrowed(decision.phase.as_str()),
            halted: decision.halt.as_ref().map(|h| HaltStatus {
                reason: h.reason.as_str().to_owned(),
                message: h.message.clone(),
                runbook: h.runbook.clone(),
                repair: h.repair.clone(),
            }),
            conditions,
            shards,
            next: decision.next.clone(),
            events: Vec::new(),
        };
        // An unchanged status stays where it is: replacing it every pass would place long-lived
        // allocations among the pass's transient ones and keep the heap fragmented.
        if entry.status.as_ref() != Some(&status) {
            entry.status = Some(status);
        }
    }

    pub fn record_event(&self, runner: &str, event: Event) {
        let mut runners = self.lock();
        if !runners.contains_key(runner) {
            runners.insert(runner.to_owned(), Entry::default());
        }
        let events = &mut runners.get_mut(runner).expect("inserted above").events;
        events.push_back(event);
        while events.len() > EVENTS_PER_RUNNER {
            events.pop_front();
        }
    }

    pub fn remove(&self, runner: &str) {
        self.lock().remove(runner);
    }

    /// Keeps only the runners named, e.g. those of a newly loaded desired-state file.
    pub fn retain(&self, names: &[String]) {
        let names: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        self.lock().retain(|name, _| names.contains(name.as_str()));
    }

    pub fn set_leadership(&self, leadership: LeadershipStatus) {
        *self.leadership.lock().unwrap_or_else(|e| e.into_inner()) = Some(leadership);
    }

    /// Every runner that has been decided on at least once, by name.
    pub fn snapshot(&self) -> StatusDocument {
        let leadership = self
            .leadership
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let runners = self.lock();
        StatusDocument {
            generated_at: self.clock.now(),
            leadership,
            runners: runners.values().filter_map(Entry::to_status).collect(),
        }
    }

    pub fn runner(&self, name: &str) -> Option<RunnerStatus> {
        self.lock().get(name).and_then(Entry::to_status)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // Every update replaces whole values, so a panic while the lock was held leaves
        // nothing half-written.
        self.runners.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Entry {
    fn to_status(&self) -> Option<RunnerStatus> {
        let mut status = self.status.clone()?;
        status.events = self.events.iter().cloned().collect();
        Some(status)
    }
}

fn shard_status(report: &ShardReport) -> ShardStatus {
    let f = &report.facts;
    ShardStatus {
        shard: report.shard,
        healthy: f.healthy,
        active: f.active,
        deployed: f.deployed,
        serving: f.serving,
        healthy_targets: f.healthy_targets,
        required: f.required,
        desired_capacity: f.desired_capacity,
        revision: f.revision.clone(),
        class: Cow::Borrowed(class_name(report.class)),
        meaning: Cow::Borrowed(report.class.meaning()),
    }
}
