//! The process's leadership, shared by the elector (which renews the lease), the gate (which
//! asks before every mutation) and the controller loop (which skips acting while standby).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{info, warn};

use super::item::{Claimant, LeaseItem, LeaseWrite};
use super::machine::{LeadershipView, Machine, Plan, Refusal, Timing};
use super::store::StoreError;

/// What the controller loop asks before it acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// May mutate, in this term of leadership. A new term means another replica may have
    /// acted since this process last led: what it remembered is no longer its own story.
    Leader { term: u64 },
    /// Observes and reports only.
    Standby,
}

impl Standing {
    pub fn is_leader(self) -> bool {
        matches!(self, Standing::Leader { .. })
    }
}

/// Told of every change of the view (the leader flag, the holder, the term).
pub trait LeadershipObserver: Send + Sync + 'static {
    fn changed(&self, view: &LeadershipView);
}

/// For tests and one-shot commands that publish nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLeadershipObserver;

impl LeadershipObserver for NoLeadershipObserver {
    fn changed(&self, _: &LeadershipView) {}
}

struct Shared {
    machine: Machine,
    in_flight: usize,
    published: LeadershipView,
}

struct Elected {
    lease_name: String,
    shared: Mutex<Shared>,
    /// Wakes the elector: the last mutation in flight ended, or the gate stepped down.
    wake: Notify,
    /// Wakes whoever waits for the view to change (`acquire`).
    changed: Notify,
    observer: Arc<dyn LeadershipObserver>,
}

/// Cheap to clone; clones share the lease.
#[derive(Clone)]
pub struct Leadership(Inner);

#[derive(Clone)]
enum Inner {
    /// No leader election: the only writer, always (docs/high-availability.md).
    Sole(Claimant),
    Elected(Arc<Elected>),
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Leadership").field(&self.view()).finish()
    }
}

impl Leadership {
    /// Without `controller.leaderElection`.
    pub fn sole(me: Claimant) -> Leadership {
        Leadership(Inner::Sole(me))
    }

    pub fn elected(
        machine: Machine,
        lease_name: impl Into<String>,
        observer: Arc<dyn LeadershipObserver>,
    ) -> Leadership {
        let published = machine.view();
        observer.changed(&published);
        Leadership(Inner::Elected(Arc::new(Elected {
            lease_name: lease_name.into(),
            shared: Mutex::new(Shared {
                machine,
                in_flight: 0,
                published,
            }),
            wake: Notify::new(),
            changed: Notify::new(),
            observer,
        })))
    }

    pub fn is_elected(&self) -> bool {
        matches!(self.0, Inner::Elected(_))
    }

    pub fn lease_name(&self) -> Option<&str> {
        match &self.0 {
            Inner::Sole(_) => None,
            Inner::Elected(e) => Some(&e.lease_name),
        }
    }

    pub fn view(&self) -> LeadershipView {
        match &self.0 {
            Inner::Sole(me) => LeadershipView {
                leader: true,
                term: 0,
                transitions: 0,
                me: me.clone(),
                holder: Some(me.clone()),
                reason: "no leader election: the only writer".to_owned(),
            },
            Inner::Elected(e) => lock(&e.shared).published.clone(),
        }
    }

    pub fn standing(&self) -> Standing {
        match &self.0 {
            Inner::Sole(_) => Standing::Leader { term: 0 },
            Inner::Elected(e) => {
                let shared = lock(&e.shared);
                let view = &shared.published;
                if view.leader {
                    Standing::Leader { term: view.term }
                } else {
                    Standing::Standby
                }
            }
        }
    }

    /// How long a mutation may take: `None` without leader election (the cloud's own timeouts
    /// bound it).
    pub fn mutation_timeout(&self) -> Option<Duration> {
        match &self.0 {
            Inner::Sole(_) => None,
            Inner::Elected(e) => Some(lock(&e.shared).machine.timing().mutation_timeout()),
        }
    }

    /// Leave to send one mutation that takes at most `timeout`, held until the permit is
    /// dropped (a release waits for it). Refused unless the lease has more than `timeout`
    /// left; a holder whose lease ran too short steps down here.
    pub fn permit(&self, timeout: Duration) -> Result<MutationPermit, Refusal> {
        let Inner::Elected(e) = &self.0 else {
            return Ok(MutationPermit(None));
        };
        let result = e.update(|shared| {
            let result = shared.machine.permit(Instant::now(), timeout);
            if result.is_ok() {
                shared.in_flight += 1;
            }
            result
        });
        match result {
            Ok(()) => Ok(MutationPermit(Some(Arc::clone(e)))),
            Err(refusal) => {
                e.wake.notify_one();
                Err(refusal)
            }
        }
    }

    /// Stop mutating at once; the elector then releases the lease once no mutation is in
    /// flight, and stops.
    pub fn shut_down(&self) {
        if let Inner::Elected(e) = &self.0 {
            e.update(|shared| shared.machine.shut_down());
            e.wake.notify_one();
        }
    }

    /// Waits until this process leads, at most `within`.
    pub async fn acquired(&self, within: Duration) -> bool {
        let Inner::Elected(e) = &self.0 else {
            return true;
        };
        let deadline = Instant::now() + within;
        loop {
            let changed = e.changed.notified();
            if lock(&e.shared).published.leader {
                return true;
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(deadline) => return lock(&e.shared).published.leader,
            }
        }
    }

    /// Waits until the view changes (or `until`).
    pub(super) async fn woken(&self, until: Option<Instant>) {
        let Inner::Elected(e) = &self.0 else {
            return;
        };
        match until {
            Some(at) => {
                tokio::select! {
                    () = e.wake.notified() => {}
                    () = tokio::time::sleep_until(at) => {}
                }
            }
            None => e.wake.notified().await,
        }
    }

    pub(super) fn plan(&self) -> Plan {
        match &self.0 {
            Inner::Sole(_) => Plan::Stopped,
            Inner::Elected(e) => e.update(|shared| {
                let in_flight = shared.in_flight;
                shared.machine.plan(Instant::now(), in_flight)
            }),
        }
    }

    pub(super) fn on_read(
        &self,
        result: Result<Option<LeaseItem>, StoreError>,
        started: Instant,
        done: Instant,
    ) {
        if let Inner::Elected(e) = &self.0 {
            e.update(|shared| shared.machine.on_read(result, started, done));
        }
    }

    pub(super) fn on_write(
        &self,
        write: &LeaseWrite,
        started: Instant,
        done: Instant,
        result: Result<LeaseItem, StoreError>,
    ) {
        if let Inner::Elected(e) = &self.0 {
            e.update(|shared| shared.machine.on_write(write, started, done, result));
        }
    }

    pub(super) fn me(&self) -> Claimant {
        match &self.0 {
            Inner::Sole(me) => me.clone(),
            Inner::Elected(e) => lock(&e.shared).machine.me().clone(),
        }
    }

    pub(super) fn timing(&self) -> Option<Timing> {
        match &self.0 {
            Inner::Sole(_) => None,
            Inner::Elected(e) => Some(lock(&e.shared).machine.timing()),
        }
    }
}

impl Elected {
    /// Runs `f` on the machine, then publishes the view if it changed (logging the change).
    fn update<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        let (result, changed) = {
            let mut shared = lock(&self.shared);
            let result = f(&mut shared);
            let view = shared.machine.view();
            if view == shared.published {
                (result, None)
            } else {
                let before = std::mem::replace(&mut shared.published, view.clone());
                // Told under the lock, so that observers see the changes in order.
                self.observer.changed(&view);
                (result, Some((before, view)))
            }
        };
        if let Some((before, after)) = changed {
            log_change(&self.lease_name, &before, &after);
            self.changed.notify_waiters();
        }
        result
    }
}

fn log_change(lease: &str, before: &LeadershipView, after: &LeadershipView) {
    let holder = after
        .holder
        .as_ref()
        .map_or("nobody", |h| h.identity.as_str());
    match (before.leader, after.leader) {
        (false, true) => info!(
            lease,
            replica = %after.me,
            term = after.term,
            "leading: {}",
            after.reason
        ),
        // Letting go on purpose (shutdown, a handover) is no warning; losing the lease is.
        (true, false) if after.reason == "shutting down" || after.reason.starts_with("handing") => {
            info!(
                lease,
                replica = %after.me,
                "standing down, no more mutations: {}",
                after.reason
            )
        }
        (true, false) => warn!(
            lease,
            replica = %after.me,
            holder,
            "standing down, no more mutations: {}",
            after.reason
        ),
        _ if before.holder != after.holder => {
            info!(lease, replica = %after.me, holder, "the lease holder is {holder}")
        }
        _ => {}
    }
}

/// Held while one mutation is in flight.
#[must_use = "the mutation is covered only while the permit is held"]
pub struct MutationPermit(Option<Arc<Elected>>);

impl Drop for MutationPermit {
    fn drop(&mut self) {
        if let Some(e) = self.0.take() {
            let drained = {
                let mut shared = lock(&e.shared);
                shared.in_flight = shared.in_flight.saturating_sub(1);
                shared.in_flight == 0
            };
            if drained {
                e.wake.notify_one();
            }
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Every update leaves the machine whole; a panic elsewhere must not stop the lease.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}
