//! The gauges each decision sets: `runner_phase`, `runner_halted`, `runner_condition` and the six
//! `shard_*` families, 41 series per runner. They are kept as one small value per runner and
//! written out at scrape time (as kube-state-metrics does) rather than registered as 41 series
//! apiece: at 1,000 runners the registered series held some 4 MiB of hash tables and atomics,
//! about a sixth of the daemon's memory (BENCHMARKS.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::core::{ConditionType, Decision, HaltReason, Phase, Shard, ShardFacts, ShardPair};

/// What the last decision said about one runner, as its gauges show it.
#[derive(Debug, Clone)]
struct Values {
    phase: Phase,
    halted: Option<HaltReason>,
    /// In the order of `ConditionType::ALL`.
    conditions: [bool; ConditionType::ALL.len()],
    /// `None` when the observation could not judge the shards (a resource missing, a malformed
    /// record): an old value would claim a health nobody has seen, so the series go until it can.
    shards: Option<ShardPair<ShardValues>>,
}

#[derive(Debug, Clone)]
struct ShardValues {
    healthy: bool,
    active: bool,
    deployed: bool,
    serving: bool,
    healthy_targets: u32,
    desired_capacity: u32,
}

impl Values {
    fn holds(&self, condition: ConditionType) -> bool {
        ConditionType::ALL
            .iter()
            .zip(self.conditions)
            .any(|(&c, holds)| c == condition && holds)
    }
}

impl From<&ShardFacts> for ShardValues {
    fn from(f: &ShardFacts) -> ShardValues {
        ShardValues {
            healthy: f.healthy,
            active: f.active,
            deployed: f.deployed,
            serving: f.serving,
            healthy_targets: f.healthy_targets,
            desired_capacity: f.desired_capacity,
        }
    }
}

impl From<&Decision> for Values {
    fn from(decision: &Decision) -> Values {
        Values {
            phase: decision.phase,
            halted: decision.halt.as_ref().map(|h| h.reason),
            conditions: ConditionType::ALL
                .map(|kind| decision.conditions.iter().any(|c| c.kind == kind)),
            shards: decision
                .shards
                .as_ref()
                .map(|reports| ShardPair::from_fn(|shard| (&reports[shard].facts).into())),
        }
    }
}

/// The decision gauges of every runner published so far; a [`Collector`] that the registry
/// asks for them on each scrape.
#[derive(Debug, Clone, Default)]
pub(super) struct DecisionGauges {
    runners: Arc<Mutex<HashMap<Arc<str>, Values>>>,
}

impl DecisionGauges {
    /// Publishes `decision` for `runner`; true when the runner had none published before.
    pub(super) fn set(&self, runner: &Arc<str>, decision: &Decision) -> bool {
        self.lock()
            .insert(Arc::clone(runner), decision.into())
            .is_none()
    }

    pub(super) fn forget(&self, runner: &str) {
        self.lock().remove(runner);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Values>> {
        // Every update replaces a whole value; a panic elsewhere while it was held leaves it usable.
        self.runners.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Collector for DecisionGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A copy, sorted by runner, so that a scrape neither holds up reconciles while it writes
        // nor lists runners in a different order each time.
        let mut runners: Vec<(Arc<str>, Values)> = self
            .lock()
            .iter()
            .map(|(name, values)| (Arc::clone(name), values.clone()))
            .collect();
        runners.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let e = &mut encoder;
        let runners = &runners[..];
        family(
            e,
            "runner_phase",
            "1 for the runner's current phase, 0 for every other phase",
            rows(runners, "phase", Phase::ALL, Phase::as_str, |v, p| {
                Some(v.phase == p)
            }),
        )?;
        family(
            e,
            "runner_halted",
            "1 when the runner is halted for this reason",
            rows(
                runners,
                "reason",
                HaltReason::ALL,
                HaltReason::as_str,
                |v, r| Some(v.halted == Some(r)),
            ),
        )?;
        family(
            e,
            "runner_condition",
            "1 when the condition holds for the runner",
            rows(
                runners,
                "condition",
                ConditionType::ALL,
                ConditionType::as_str,
                |v, c| Some(v.holds(c)),
            ),
        )?;
        for f in SHARD_FAMILIES {
            let shard_rows = rows(runners, "shard", Shard::ALL, Shard::as_str, |v, shard| {
                Some((f.value)(&v.shards.as_ref()?[shard]))
            });
            family(e, f.name, f.help, shard_rows)?;
        }
        Ok(())
    }
}

/// A `shard_*` family: a value of each shard of each runner whose shards were judged.
struct ShardFamily {
    name: &'static str,
    help: &'static str,
    value: fn(&ShardValues) -> i64,
}

const SHARD_FAMILIES: [ShardFamily; 6] = [
    ShardFamily {
        name: "shard_healthy",
        help: "1 when the shard has at least the required healthy targets",
        value: |s| i64::from(s.healthy),
    },
    ShardFamily {
        name: "shard_active",
        help: "1 when the status record names the shard active",
        value: |s| i64::from(s.active),
    },
    ShardFamily {
        name: "shard_deployed",
        help: "1 when the status record lists the shard in deployed_shards",
        value: |s| i64::from(s.deployed),
    },
    ShardFamily {
        name: "shard_serving",
        help: "1 when the listener forwards (only) to the shard's target group",
        value: |s| i64::from(s.serving),
    },
    ShardFamily {
        name: "shard_healthy_targets",
        help: "Instances InService, Healthy and healthy in the shard's target group",
        value: |s| i64::from(s.healthy_targets),
    },
    ShardFamily {
        name: "shard_desired_capacity",
        help: "Desired capacity of the shard's Auto Scaling group",
        value: |s| i64::from(s.desired_capacity),
    },
];

/// A series: runner, label key, label value, value.
type Row<'a> = (&'a str, &'static str, &'static str, i64);

/// The series of one family: for each runner, one per member of `all` (labelled `key`) that
/// `value` has a value for.
fn rows<'a, T: Copy + 'a, V: Into<i64>, const N: usize>(
    runners: &'a [(Arc<str>, Values)],
    key: &'static str,
    all: [T; N],
    label: fn(T) -> &'static str,
    value: impl Fn(&Values, T) -> Option<V> + Copy + 'a,
) -> impl Iterator<Item = Row<'a>> + 'a {
    runners.iter().flat_map(move |(runner, v)| {
        all.into_iter()
            .filter_map(move |t| Some((runner.as_ref(), key, label(t), value(v, t)?.into())))
    })
}

/// One gauge family: a series per row of (runner, label key, label value, value). A family
/// without series is left out, as the registry leaves out an empty `Family`.
fn family<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl Iterator<Item = Row<'a>>,
) -> Result<(), std::fmt::Error> {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (runner, key, label, value) in rows {
        let labels = [("runner", runner), (key, label)];
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}
