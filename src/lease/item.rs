//! The lease as it is stored (one item per `leaseName`), and the conditional writes that are the
//! only way it changes.

use std::fmt;
use std::time::Duration;

/// Who holds, asks for or is promised the lease: a name for people and a token that is unique
/// to one process, so that two processes given the same name (a restarted pod, a copied
/// setting) are never taken for one another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claimant {
    /// Pod name or host name and pid, or `--replica-id`: shown in `status` and logs.
    pub identity: String,
    /// Unique per process: conditions compare this, never the identity.
    pub token: String,
}

impl Claimant {
    pub fn new(identity: impl Into<String>, token: impl Into<String>) -> Claimant {
        Claimant {
            identity: identity.into(),
            token: token.into(),
        }
    }

    pub fn is(&self, other: &Claimant) -> bool {
        self.token == other.token
    }
}

impl fmt::Display for Claimant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.identity)
    }
}

/// The lease item. Every acquire, renew and release bumps `version`; a standby judges expiry
/// only by watching `version` stand still on its own monotonic clock, never by a time written
/// here (clocks of different hosts need not agree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseItem {
    pub version: u64,
    /// `None`: released.
    pub holder: Option<Claimant>,
    /// The holder's `leaseDuration`: a standby waits for the longer of this and its own, so
    /// that replicas configured differently (mid rolling update) never cut a lease short.
    pub lease_duration: Duration,
    /// A one-shot command (`repair`, `retry`, `run --once`) asks the holder to hand over.
    pub handover_to: Option<Claimant>,
    /// Released for this claimant only: everybody else treats the lease as held by it.
    pub reserved_for: Option<Claimant>,
}

impl LeaseItem {
    /// Whether `me` may take it now without waiting: released, and reserved for nobody else.
    pub fn free_for(&self, me: &Claimant) -> bool {
        self.holder.is_none() && self.reserved_for.as_ref().is_none_or(|r| r.is(me))
    }

    pub fn held_by(&self, me: &Claimant) -> bool {
        self.holder.as_ref().is_some_and(|h| h.is(me))
    }

    /// Whoever the lease is held or kept for.
    pub fn owner(&self) -> Option<&Claimant> {
        self.holder.as_ref().or(self.reserved_for.as_ref())
    }
}

/// One conditional write. The writer is always the process's own claimant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseWrite {
    /// The item does not exist yet: create it, held by us, at version 1.
    Create,
    /// The lease is free for us, or has stood still at `from` for a whole lease duration: take
    /// it, on condition that it is still at `from`.
    Take { from: u64 },
    /// We hold it at `from`: bump the version (the lease runs again from the moment this
    /// request was started).
    Renew { from: u64 },
    /// Ask the holder of version `at` to hand over to us (the version is not bumped: asking
    /// does not extend anybody's lease).
    RequestHandover { at: u64 },
    /// We hold it at `from`: let go, keeping it for `reserve_for` if given.
    Release {
        from: u64,
        reserve_for: Option<Claimant>,
    },
}

impl LeaseWrite {
    /// The DynamoDB operation that carries it.
    pub fn operation(&self) -> &'static str {
        match self {
            LeaseWrite::Create => "PutItem",
            _ => "UpdateItem",
        }
    }

    /// What it does, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            LeaseWrite::Create => "create",
            LeaseWrite::Take { .. } => "take",
            LeaseWrite::Renew { .. } => "renew",
            LeaseWrite::RequestHandover { .. } => "request handover",
            LeaseWrite::Release { .. } => "release",
        }
    }

    /// The item after this write, given the item before it (`None`: absent), or `None` when
    /// its condition does not hold. The one definition of the writes' conditions and effects:
    /// the simulated table applies it, and the DynamoDB expressions are tested against it.
    pub fn apply(
        &self,
        before: Option<&LeaseItem>,
        me: &Claimant,
        lease_duration: Duration,
    ) -> Option<LeaseItem> {
        let held = |holder: Option<Claimant>, version: u64| LeaseItem {
            version,
            holder,
            lease_duration,
            handover_to: None,
            reserved_for: None,
        };
        match (self, before) {
            (LeaseWrite::Create, None) => Some(held(Some(me.clone()), 1)),
            (LeaseWrite::Take { from }, Some(item)) if item.version == *from => {
                Some(held(Some(me.clone()), from + 1))
            }
            (LeaseWrite::Renew { from }, Some(item))
                if item.version == *from && item.held_by(me) =>
            {
                Some(LeaseItem {
                    version: from + 1,
                    lease_duration,
                    ..item.clone()
                })
            }
            (LeaseWrite::RequestHandover { at }, Some(item))
                if item.version == *at && item.holder.is_some() =>
            {
                Some(LeaseItem {
                    handover_to: Some(me.clone()),
                    ..item.clone()
                })
            }
            (LeaseWrite::Release { from, reserve_for }, Some(item))
                if item.version == *from && item.held_by(me) =>
            {
                Some(LeaseItem {
                    reserved_for: reserve_for.clone(),
                    lease_duration: item.lease_duration,
                    ..held(None, from + 1)
                })
            }
            _ => None,
        }
    }
}
