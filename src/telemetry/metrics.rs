//! Every metric of docs/metrics.md. The names and labels are a contract with the shipped alert
//! rules and dashboards: change them only together with those.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::decision_gauges::DecisionGauges;
use crate::cloud::RequestObserver;
use crate::cloud::budget::Priority;
use crate::core::{Decision, Phase};

/// The outcomes of `switchyard_deployments_total`, created at zero for every runner so that
/// `increase()` in alert rules sees the first deployment of each kind.
pub const DEPLOYMENT_OUTCOMES: [&str; 3] = ["succeeded", "failed", "rolled_back"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunnerLabels {
    runner: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeploymentLabels {
    runner: Arc<str>,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseOnlyLabels {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    runner: Arc<str>,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudLabels {
    service: String,
    operation: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudOperationLabels {
    service: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BudgetLabels {
    service: String,
    priority: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvariantLabels {
    runner: Arc<str>,
    invariant: String,
}

type F64Gauge = Gauge<f64, std::sync::atomic::AtomicU64>;
type F64Counter = Counter<f64, std::sync::atomic::AtomicU64>;
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

// A deployment spans grace period, stability window, post-switch check and drain: minutes.
fn deployment_buckets() -> Histogram {
    Histogram::new([
        30.0, 60.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0,
    ])
}

// Action phases take a call's time, waiting phases up to the progress deadline.
fn phase_buckets() -> Histogram {
    Histogram::new([
        0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
    ])
}

// One API round trip, including the SDK's own retries with backoff (capped at 30 s).
fn request_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

/// What the registry holds of one runner. The name is shared by every label set of the runner's
/// registered series (and by its decision gauges) rather than copied into each.
#[derive(Debug)]
struct RunnerSeries {
    name: Arc<str>,
    /// Series whose label values are open-ended strings: remembered so that `forget_runner` can
    /// find them, because a `Family` cannot be searched by one label.
    error_kinds: BTreeSet<String>,
    invariants: BTreeSet<String>,
    outcomes: BTreeSet<String>,
}

impl RunnerSeries {
    fn new(name: &str) -> RunnerSeries {
        RunnerSeries {
            name: Arc::from(name),
            error_kinds: BTreeSet::new(),
            invariants: BTreeSet::new(),
            outcomes: BTreeSet::new(),
        }
    }
}

pub struct Metrics {
    registry: Registry,
    decisions: DecisionGauges,
    deployments: Family<DeploymentLabels, Counter>,
    deployment_duration: HistogramFamily<OutcomeLabels>,
    phase_duration: HistogramFamily<PhaseOnlyLabels>,
    reconcile_duration: Histogram,
    reconcile_errors: Family<ErrorLabels, Counter>,
    cloud_requests: Family<CloudLabels, Counter>,
    cloud_request_duration: HistogramFamily<CloudOperationLabels>,
    budget_waiting: Family<BudgetLabels, Gauge>,
    budget_waited: Family<BudgetLabels, F64Counter>,
    invariant_refusals: Family<InvariantLabels, Counter>,
    config_reloads: Family<OutcomeLabels, Counter>,
    config_last_reload_success: F64Gauge,
    config_last_reload_successful: Gauge,
    last_successful_deployment: Family<RunnerLabels, F64Gauge>,
    leader: Gauge,
    leader_transitions: Counter,
    series: Mutex<HashMap<Arc<str>, RunnerSeries>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(version: &str) -> Metrics {
        let mut registry = Registry::with_prefix("switchyard");

        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: version.to_owned(),
            })
            .set(1);
        registry.register(
            "build_info",
            "The running switchyard version; always 1",
            build_info,
        );

        let metrics = Metrics {
            decisions: DecisionGauges::default(),
            deployments: Family::default(),
            deployment_duration: Family::new_with_constructor(deployment_buckets),
            phase_duration: Family::new_with_constructor(phase_buckets),
            reconcile_duration: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            reconcile_errors: Family::default(),
            cloud_requests: Family::default(),
            cloud_request_duration: Family::new_with_constructor(request_buckets),
            budget_waiting: Family::default(),
            budget_waited: Family::default(),
            invariant_refusals: Family::default(),
            config_reloads: Family::default(),
            config_last_reload_success: F64Gauge::default(),
            config_last_reload_successful: Gauge::default(),
            last_successful_deployment: Family::default(),
            leader: Gauge::default(),
            leader_transitions: Counter::default(),
            series: Mutex::new(HashMap::new()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        // runner_phase, runner_halted, runner_condition and shard_*, written at scrape time.
        r.register_collector(Box::new(metrics.decisions.clone()));
        r.register(
            "deployments",
            "Finished deployments by outcome",
            metrics.deployments.clone(),
        );
        r.register(
            "deployment_duration_seconds",
            "Time from provisioning to the end of a deployment",
            metrics.deployment_duration.clone(),
        );
        r.register(
            "phase_duration_seconds",
            "Time runners spent in each deployment phase",
            metrics.phase_duration.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time of one observe/decide/act pass",
            metrics.reconcile_duration.clone(),
        );
        r.register(
            "reconcile_errors",
            "Failed reconcile passes by error kind",
            metrics.reconcile_errors.clone(),
        );
        r.register(
            "cloud_requests",
            "Cloud API requests by outcome (success, throttled, timeout, error)",
            metrics.cloud_requests.clone(),
        );
        r.register(
            "cloud_request_duration_seconds",
            "Cloud API request latency",
            metrics.cloud_request_duration.clone(),
        );
        r.register(
            "api_budget_waiting_requests",
            "Requests waiting for the API budget of their service, by priority (step, sweep)",
            metrics.budget_waiting.clone(),
        );
        r.register(
            "api_budget_wait_seconds",
            "Time requests spent waiting for the API budget of their service",
            metrics.budget_waited.clone(),
        );
        r.register(
            "invariant_refusals",
            "Mutations the safety guard refused, by invariant",
            metrics.invariant_refusals.clone(),
        );
        r.register(
            "config_reloads",
            "Desired-state file reloads by outcome (success, error)",
            metrics.config_reloads.clone(),
        );
        r.register(
            "config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful load of the desired-state file",
            metrics.config_last_reload_success.clone(),
        );
        // Not in docs/metrics.md's table: the alert on a rejected file needs to know that the file
        // now in place is the rejected one, which neither the counter (a broken file is counted
        // once) nor the success timestamp (no reload happens while nobody edits) can tell.
        r.register(
            "config_last_reload_successful",
            "1 if the last load of the desired-state file succeeded, 0 if it was rejected and the last valid file stays in force",
            metrics.config_last_reload_successful.clone(),
        );
        r.register(
            "last_successful_deployment_timestamp_seconds",
            "Unix time of the runner's last successful deployment",
            metrics.last_successful_deployment.clone(),
        );
        r.register(
            "leader",
            "1 while this instance may mutate (always 1 without leader election)",
            metrics.leader.clone(),
        );
        r.register(
            "leader_transitions",
            "Changes of switchyard_leader, both ways",
            metrics.leader_transitions.clone(),
        );
        // At zero from the start, so that increase() sees the first rejected file.
        for outcome in ["success", "error"] {
            let _ = metrics.config_reloads.get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            });
        }
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The OpenMetrics text exposition (Prometheus scrapes it natively).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a label value.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }

    /// Publishes what one reconcile concluded about a runner.
    pub fn observe_decision(&self, runner: &str, decision: &Decision) {
        let name = self.runner(runner, |_| {});
        if self.decisions.set(&name, decision) {
            for outcome in DEPLOYMENT_OUTCOMES {
                // Only creates the zero series; the read guard is not needed.
                let _ = self
                    .deployments
                    .get_or_create(&deployment_labels(&name, outcome));
            }
        }
    }

    /// Removes every series of a runner that is no longer in the desired-state file.
    pub fn forget_runner(&self, runner: &str) {
        let Some(series) = self.lock_series().remove(runner) else {
            // Nothing was ever published for it.
            return;
        };
        let name = &series.name;
        self.decisions.forget(name);
        for outcome in DEPLOYMENT_OUTCOMES
            .iter()
            .copied()
            .chain(series.outcomes.iter().map(String::as_str))
        {
            self.deployments.remove(&deployment_labels(name, outcome));
        }
        for kind in &series.error_kinds {
            self.reconcile_errors.remove(&ErrorLabels {
                runner: Arc::clone(name),
                kind: kind.clone(),
            });
        }
        for invariant in &series.invariants {
            self.invariant_refusals.remove(&InvariantLabels {
                runner: Arc::clone(name),
                invariant: invariant.clone(),
            });
        }
        self.last_successful_deployment.remove(&RunnerLabels {
            runner: Arc::clone(name),
        });
    }

    /// `outcome`: `succeeded`, `failed` or `rolled_back`; `duration` from provisioning on.
    pub fn deployment_finished(
        &self,
        runner: &str,
        outcome: &str,
        duration: Duration,
        now_unix_seconds: f64,
    ) {
        let name = self.runner(runner, |s| {
            s.outcomes.insert(outcome.to_owned());
        });
        self.deployments
            .get_or_create(&deployment_labels(&name, outcome))
            .inc();
        self.deployment_duration
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .observe(duration.as_secs_f64());
        if outcome == "succeeded" {
            self.last_successful_deployment
                .get_or_create(&RunnerLabels { runner: name })
                .set(now_unix_seconds);
        }
    }

    pub fn phase_finished(&self, phase: Phase, duration: Duration) {
        self.phase_duration
            .get_or_create(&PhaseOnlyLabels {
                phase: phase.as_str().to_owned(),
            })
            .observe(duration.as_secs_f64());
    }

    /// Records `reconcile_duration_seconds` when dropped, so that every exit path of a pass
    /// (early returns and `?` included) is timed.
    pub fn reconcile_timer(&self) -> ReconcileTimer {
        ReconcileTimer {
            histogram: self.reconcile_duration.clone(),
            started: Instant::now(),
        }
    }

    pub fn reconcile_error(&self, runner: &str, kind: &str) {
        let name = self.runner(runner, |s| {
            s.error_kinds.insert(kind.to_owned());
        });
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                runner: name,
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub fn invariant_refused(&self, runner: &str, invariant: &str) {
        let name = self.runner(runner, |s| {
            s.invariants.insert(invariant.to_owned());
        });
        self.invariant_refusals
            .get_or_create(&InvariantLabels {
                runner: name,
                invariant: invariant.to_owned(),
            })
            .inc();
    }

    /// The file loaded at start-up: a successful load, though not a reload.
    pub fn config_loaded(&self, now_unix_seconds: f64) {
        self.config_last_reload_success.set(now_unix_seconds);
        self.config_last_reload_successful.set(1);
    }

    /// `outcome`: `success` or `error`.
    pub fn config_reload(&self, outcome: &str, now_unix_seconds: f64) {
        self.config_reloads
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
        if outcome == "success" {
            self.config_loaded(now_unix_seconds);
        } else {
            self.config_last_reload_successful.set(0);
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Raises `leader_transitions_total` to `total`, the lease's own count (which sees every
    /// change, however quickly one follows another).
    pub fn set_leader_transitions(&self, total: u64) {
        let counted = self.leader_transitions.get();
        if total > counted {
            self.leader_transitions.inc_by(total - counted);
        }
    }

    /// The runner's shared name, its entry made on first use; `note` records in the entry the
    /// series about to be made, so that `forget_runner` finds them.
    fn runner(&self, runner: &str, note: impl FnOnce(&mut RunnerSeries)) -> Arc<str> {
        let mut all = self.lock_series();
        // Looked up by `&str` first: the entry exists on every pass but the first.
        if !all.contains_key(runner) {
            let series = RunnerSeries::new(runner);
            all.insert(Arc::clone(&series.name), series);
        }
        let series = all.get_mut(runner).expect("inserted above");
        note(series);
        Arc::clone(&series.name)
    }

    fn lock_series(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, RunnerSeries>> {
        // The map holds only label names; a panic elsewhere while it was held leaves it usable.
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RequestObserver for Metrics {
    fn request(
        &self,
        service: &'static str,
        operation: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.cloud_requests
            .get_or_create(&CloudLabels {
                service: service.to_owned(),
                operation: operation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.cloud_request_duration
            .get_or_create(&CloudOperationLabels {
                service: service.to_owned(),
                operation: operation.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    fn budget_waiting(&self, service: &'static str, priority: Priority, delta: i64) {
        self.budget_waiting
            .get_or_create(&budget_labels(service, priority))
            .inc_by(delta);
    }

    fn budget_waited(&self, service: &'static str, priority: Priority, waited: Duration) {
        self.budget_waited
            .get_or_create(&budget_labels(service, priority))
            .inc_by(waited.as_secs_f64());
    }
}

fn budget_labels(service: &str, priority: Priority) -> BudgetLabels {
    BudgetLabels {
        service: service.to_owned(),
        priority: priority.as_str().to_owned(),
    }
}

/// Times one reconcile pass; see [`Metrics::reconcile_timer`].
#[must_use = "the pass is timed until the timer is dropped"]
#[derive(Debug)]
pub struct ReconcileTimer {
    histogram: Histogram,
    started: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

fn deployment_labels(runner: &Arc<str>, outcome: &str) -> DeploymentLabels {
    DeploymentLabels {
        runner: Arc::clone(runner),
        outcome: outcome.to_owned(),
    }
}
