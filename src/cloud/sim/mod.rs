//! The simulated cloud (docs/configuration.md): an in-process model of the AWS pieces switchyard
//! touches, behind the same `Cloud` interface and with the same semantics and errors as the AWS
//! adapter, driven by an injectable clock and able to produce every kind of API fault on demand.

mod api;
mod clock;
mod faults;
mod lease;
mod observe;
mod quotas;
mod settings;
mod world;

#[cfg(test)]
mod quota_tests;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use clock::ManualClock;
pub use faults::{CallCounts, Fault, FaultRule, FaultTarget, OPERATIONS};
pub use lease::{LEASE_OPERATIONS, SimLeaseStore};
pub use quotas::{DESCRIBE_BUCKET, DESCRIBE_REFILL_PER_SECOND, SSM_READS_PER_SECOND};
pub use settings::{
    HealthCheckType, RevisionBehaviour, RunnerWorld, ShardWorld, SimSettings, WorldHealthCheck,
    WorldServing, WorldShards,
};
pub use world::{AsgView, InstanceView, ParameterView, TargetGroupView, WorldSnapshot};

use crate::clock::Clock;
use crate::cloud::budget::Budget;
use crate::cloud::{NoObserver, RequestObserver};
use crate::core::{Listener, RunnerSpec, TargetHealth};
use world::World;

/// A handle on a simulated world. Clones share the world, so a test can keep one handle to
/// inspect and edit the world while the controller uses another.
#[derive(Clone)]
pub struct SimCloud {
    world: Arc<Mutex<World>>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn RequestObserver>,
    /// DynamoDB lease tables (leader election); apart from `world`, whose snapshot describes
    /// only what the controller deploys.
    leases: Arc<Mutex<lease::LeaseTables>>,
    /// The client-side API budget every request waits on, as the AWS adapter's do; `None`: no
    /// request waits.
    budget: Option<Arc<Budget>>,
}

impl std::fmt::Debug for SimCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCloud")
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

/// The outcome of one simulated request, reported to the observer once the world is unlocked.
struct Request {
    service: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

impl SimCloud {
    /// A world holding every runner's resources, in the state `settings.world` describes.
    pub fn new(settings: &SimSettings, runners: &[RunnerSpec], clock: Arc<dyn Clock>) -> SimCloud {
        let mut world = World::new(settings);
        if settings.api_quotas {
            world.quotas = Some(quotas::Quotas::new(Arc::clone(&clock)));
        }
        let now = clock.now();
        for spec in runners {
            world.ensure_runner(spec, now);
        }
        SimCloud {
            world: Arc::new(Mutex::new(world)),
            clock,
            observer: Arc::new(NoObserver),
            leases: Arc::default(),
            budget: None,
        }
    }

    /// Every request of this handle (and of clones made from it afterwards) waits on `budget`
    /// before it is sent.
    pub fn with_budget(self, budget: Arc<Budget>) -> SimCloud {
        SimCloud {
            budget: Some(budget),
            ..self
        }
    }

    /// Reports every request of this handle (and of clones made from it afterwards).
    pub fn with_observer(self, observer: Arc<dyn RequestObserver>) -> SimCloud {
        SimCloud { observer, ..self }
    }

    /// Creates the resources of a runner added to the file later. Resources that exist, or that
    /// were deleted out of band, are left as they are.
    pub fn ensure_runner(&self, spec: &RunnerSpec) {
        let now = self.clock.now();
        self.lock().ensure_runner(spec, now);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn lease_tables(&self) -> MutexGuard<'_, lease::LeaseTables> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panicking test must not hide the world from the other handles.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the world as one atomic event, then tells the observer about its requests.
    fn requests<T>(&self, f: impl FnOnce(&mut World, &mut Vec<Request>, DateTime<Utc>) -> T) -> T {
        let now = self.clock.now();
        let mut log = Vec::new();
        let result = f(&mut self.lock(), &mut log, now);
        for r in log {
            self.observer
                .request(r.service, r.operation, r.outcome, Duration::ZERO);
        }
        result
    }

    /// Out-of-band edits: what an operator or another tool does behind the controller's back.
    fn edit<T>(&self, f: impl FnOnce(&mut World, DateTime<Utc>) -> T) -> T {
        let now = self.clock.now();
        f(&mut self.lock(), now)
    }

    // ---- fault seams ----

    pub fn inject(&self, rule: FaultRule) {
        self.lock().faults.inject(rule);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Fault rules with uses left.
    pub fn armed_faults(&self) -> usize {
        self.lock().faults.armed()
    }

    /// Requests made so far per (service, operation), whatever their outcome.
    pub fn calls(&self) -> CallCounts {
        self.lock().calls.clone()
    }

    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    /// Requests refused so far for going beyond AWS's quotas (`apiQuotas`).
    pub fn over_quota(&self) -> u64 {
        self.lock().over_quota
    }

    // ---- reading ----

    pub fn snapshot(&self) -> WorldSnapshot {
        self.edit(|w, now| w.snapshot(now))
    }

    /// The whole world as text, stable across runs: equal digests mean equal worlds.
    pub fn world_digest(&self) -> String {
        format!("{:#?}", self.snapshot())
    }

    pub fn parameter(&self, name: &str) -> Option<(String, i64)> {
        self.edit(|w, _| w.parameters.get(name).map(|p| (p.value.clone(), p.version)))
    }

    pub fn asg(&self, name: &str) -> Option<AsgView> {
        self.edit(|w, now| w.view_asg(name, now))
    }

    /// What the listener's default action, or the listener rule, forwards to.
    pub fn listener_targets(&self, listener: &Listener) -> Option<Vec<String>> {
        self.edit(|w, _| w.routes(listener).get(listener.arn()).cloned())
    }

    pub fn target_health(&self, arn: &str) -> Option<Vec<TargetHealth>> {
        self.edit(|w, now| w.target_health(arn, now))
    }

    // ---- out-of-band edits ----

    pub fn set_listener_targets(&self, listener: &Listener, target_group_arns: &[&str]) {
        self.edit(|w, _| {
            if let Some(forward) = w.routes(listener).get_mut(listener.arn()) {
                *forward = target_group_arns.iter().map(|s| (*s).to_owned()).collect();
            }
        });
    }

    /// Returns the parameter's new version.
    pub fn put_parameter(&self, name: &str, value: &str) -> i64 {
        self.edit(|w, _| w.put_parameter(name, value.to_owned()))
    }

    /// Overwrites the parameter with text that is not a JSON object.
    pub fn garble_parameter(&self, name: &str) -> i64 {
        self.put_parameter(name, "{\"active_shard\": \"blue\", ")
    }

    pub fn delete_parameter(&self, name: &str) {
        self.edit(|w, _| w.parameters.remove(name));
    }

    pub fn delete_asg(&self, name: &str) {
        self.edit(|w, _| w.asgs.remove(name));
    }

    pub fn delete_target_group(&self, arn: &str) {
        self.edit(|w, _| w.target_groups.remove(arn));
    }

    /// Deletes the listener, or only the listener rule.
    pub fn delete_listener(&self, listener: &Listener) {
        self.edit(|w, _| w.routes(listener).remove(listener.arn()));
    }

    /// SetDesiredCapacity by hand; min and max widen to admit it, as an operator would.
    pub fn set_desired_capacity(&self, asg: &str, desired: u32) {
        self.edit(|w, now| {
            if let Some(a) = w.asgs.get_mut(asg) {
                a.desired_capacity = desired;
                a.min_size = a.min_size.min(desired);
                a.max_size = a.max_size.max(desired);
                w.scale(asg, now);
            }
        });
    }

    /// Sets (Some) or clears (None) the ASG health of every instance of the ASG.
    pub fn set_instances_healthy(&self, asg: &str, healthy: Option<bool>) {
        self.edit(|w, _| {
            if let Some(a) = w.asgs.get_mut(asg) {
                a.instances
                    .iter_mut()
                    .for_each(|i| i.health_override = healthy);
            }
        });
    }

    /// Sets (Some) or clears (None) the ASG health of one instance.
    pub fn set_instance_healthy(&self, instance_id: &str, healthy: Option<bool>) {
        self.edit(|w, _| {
            w.asgs
                .values_mut()
                .flat_map(|a| a.instances.iter_mut())
                .filter(|i| i.id == instance_id)
                .for_each(|i| i.health_override = healthy);
        });
    }

    /// Sets (Some) or clears (None) an instance's target health, e.g. `unhealthy`.
    pub fn set_target_state(&self, instance_id: &str, state: Option<&str>) {
        self.edit(|w, _| {
            w.asgs
                .values_mut()
                .flat_map(|a| a.instances.iter_mut())
                .filter(|i| i.id == instance_id)
                .for_each(|i| i.target_override = state.map(str::to_owned));
        });
    }

    pub fn detach_target_group(&self, asg: &str, arn: &str) {
        self.edit(|w, _| {
            if let Some(a) = w.asgs.get_mut(asg) {
                a.target_group_arns.retain(|t| t != arn);
            }
        });
    }

    /// AttachLoadBalancerTargetGroups by hand: the ASG's instances register in the TG again.
    pub fn attach_target_group(&self, asg: &str, arn: &str) {
        self.edit(|w, _| {
            if let Some(a) = w.asgs.get_mut(asg)
                && !a.target_group_arns.iter().any(|t| t == arn)
            {
                a.target_group_arns.push(arn.to_owned());
            }
        });
    }

    pub fn set_tag(&self, asg: &str, key: &str, value: &str) {
        self.edit(|w, _| {
            if let Some(a) = w.asgs.get_mut(asg) {
                a.tags.insert(key.to_owned(), value.to_owned());
            }
        });
    }

    pub fn remove_tag(&self, asg: &str, key: &str) {
        self.edit(|w, _| {
            if let Some(a) = w.asgs.get_mut(asg) {
                a.tags.remove(key);
            }
        });
    }

    /// Changes how a revision's instances behave from now on (instances already running too).
    pub fn set_revision_behaviour(&self, revision: &str, behaviour: RevisionBehaviour) {
        self.edit(|w, _| w.revisions.insert(revision.to_owned(), behaviour));
    }
}
