//! The lease's view, published: `switchyard_leader` and `switchyard_leader_transitions_total`,
//! the role `/readyz` states, and who leads in `/api/v1/status`.

use std::sync::Arc;

use super::health::{Health, Role};
use super::metrics::Metrics;
use super::status::{LeadershipStatus, StatusBoard};
use crate::lease::{LeadershipObserver, LeadershipView};

pub struct LeadershipPublisher {
    pub metrics: Arc<Metrics>,
    pub health: Health,
    pub board: StatusBoard,
    /// The lease name; `None` without leader election.
    pub lease: Option<String>,
}

impl LeadershipPublisher {
    /// Publishes `view` (also the first one, before any observer is told of a change).
    pub fn publish(&self, view: &LeadershipView) {
        self.metrics.set_leader(view.leader);
        self.metrics.set_leader_transitions(view.transitions);
        let role = if view.leader {
            Role::Leader
        } else {
            Role::Standby
        };
        self.health.set_role(role);
        self.board.set_leadership(LeadershipStatus {
            replica: view.me.identity.clone(),
            role: role.as_str().to_owned(),
            leader: view.holder.as_ref().map(|h| h.identity.clone()),
            lease: self.lease.clone(),
        });
    }
}

impl LeadershipObserver for LeadershipPublisher {
    fn changed(&self, view: &LeadershipView) {
        self.publish(view);
    }
}
