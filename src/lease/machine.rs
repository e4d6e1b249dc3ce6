//! The lease state machine (docs/high-availability.md). Pure: no I/O and no clock; the monotonic
//! `now` of the process is passed in, so that tests drive it on a simulated clock.
//!
//! The rules, after AWS's DynamoDB lock client:
//! - every acquire and renew is a conditional write that bumps the record version;
//! - the holder's lease runs from the *start* of its last successful renew, on its own clock;
//!   it lets a mutation through only while more than that mutation's timeout is left, and steps
//!   down once it is not (before anybody could take the lease);
//! - a standby takes the lease only after it has seen the same version for a whole lease
//!   duration, counted from the moment its read *returned* (after the holder's write landed),
//!   so that the holder's count always ends first.

use std::time::Duration;

use tokio::time::Instant;

use super::item::{Claimant, LeaseItem, LeaseWrite};
use super::store::StoreError;

/// `leaseDuration` and `renewInterval`, and what follows from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub lease_duration: Duration,
    pub renew_interval: Duration,
}

impl Timing {
    /// The longest a mutation may take: a holder that misses one renewal still has this much
    /// of its lease left when the next renewal is due. Validation keeps `leaseDuration` at
    /// least three renew intervals, so this is at least one.
    pub fn mutation_timeout(&self) -> Duration {
        self.lease_duration
            .saturating_sub(self.renew_interval * 2)
            .max(Duration::from_millis(1))
    }

    /// A renewal that failed (throttled, unavailable) is tried again after this long, so that
    /// a holder gets several tries before its lease runs short.
    fn renew_retry(&self) -> Duration {
        self.renew_interval / 4
    }
}

/// A daemon contends for the lease and hands it over when a one-shot command asks; a one-shot
/// command (`repair`, `retry`, `run --once`) asks the holder to hand over and gives the lease
/// back when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Daemon,
    Operator,
}

/// How often a one-shot command looks whether the holder has handed over yet.
const OPERATOR_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Read,
    Write(LeaseWrite),
}

/// What the elector should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Send(Request),
    /// Until then, or until woken (`None`: only when woken, e.g. by the last mutation in
    /// flight finishing).
    Wait(Option<Instant>),
    /// Shut down; nothing more to send.
    Stopped,
}

/// Why a mutation may not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Another replica holds the lease (or nobody does yet).
    Standby { holder: Option<String> },
    /// We hold it, but less than the mutation's timeout is left.
    RunningOut { left: Duration, needed: Duration },
    /// We are letting it go (shutdown or a handover).
    Releasing,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Standby { holder: Some(h) } => write!(f, "standby: {h} holds the lease"),
            Refusal::Standby { holder: None } => f.write_str("standby: the lease is not held"),
            Refusal::RunningOut { left, needed } => write!(
                f,
                "the lease has {}ms left, not more than the mutation's timeout of {}ms",
                left.as_millis(),
                needed.as_millis()
            ),
            Refusal::Releasing => f.write_str("the lease is being released"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Standby,
    Leader {
        version: u64,
        /// The start of the last successful acquire or renew: the lease runs from here.
        basis: Instant,
        handing_over: Option<Claimant>,
    },
    Stopped,
}

/// A version of somebody else's lease, and since when we have seen it stand still.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watch {
    version: u64,
    since: Instant,
}

/// What the process's leadership looks like from outside (metrics, `/readyz`, status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadershipView {
    /// Whether mutations may be sent (each still needs enough lease left for its timeout).
    pub leader: bool,
    /// Bumped on every acquisition by a fresh acquire (not by renewing our own lease): a new
    /// term means another replica may have acted since our last one.
    pub term: u64,
    /// Changes of `leader`, both ways.
    pub transitions: u64,
    pub me: Claimant,
    /// The holder as last seen.
    pub holder: Option<Claimant>,
    /// Why the role last changed, for logs.
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Machine {
    me: Claimant,
    mode: Mode,
    timing: Timing,
    role: Role,
    next: (Request, Instant),
    watch: Option<Watch>,
    /// Whether the term we last acquired is still ours: no other holder has been seen since.
    /// Renewing our own lease after an unknown outcome continues it; anything else opens a
    /// new one.
    term_open: bool,
    term: u64,
    transitions: u64,
    was_leader: bool,
    shutting_down: bool,
    release_attempts: u32,
    /// After a failed release, when to try again.
    release_retry_at: Option<Instant>,
    holder: Option<Claimant>,
    reason: String,
}

/// Releases tried on shutdown before giving up (the lease then runs out by itself).
const RELEASE_ATTEMPTS: u32 = 3;

impl Machine {
    pub fn new(me: Claimant, mode: Mode, timing: Timing, now: Instant) -> Machine {
        Machine {
            me,
            mode,
            timing,
            role: Role::Standby,
            next: (Request::Read, now),
            watch: None,
            term_open: false,
            term: 0,
            transitions: 0,
            was_leader: false,
            shutting_down: false,
            release_attempts: 0,
            release_retry_at: None,
            holder: None,
            reason: "starting".to_owned(),
        }
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    pub fn me(&self) -> &Claimant {
        &self.me
    }

    pub fn view(&self) -> LeadershipView {
        LeadershipView {
            leader: self.is_leader(),
            term: self.term,
            transitions: self.transitions,
            me: self.me.clone(),
            holder: if self.is_leader() {
                Some(self.me.clone())
            } else {
                self.holder.clone()
            },
            reason: self.reason.clone(),
        }
    }

    /// Holds the lease and is not letting it go.
    fn is_leader(&self) -> bool {
        matches!(
            self.role,
            Role::Leader {
                handing_over: None,
                ..
            }
        ) && !self.shutting_down
    }

    fn step_down_at(&self, basis: Instant) -> Instant {
        basis + self.timing.lease_duration - self.timing.mutation_timeout()
    }

    /// How often a standby reads the lease. A little faster than the holder renews, so that
    /// a released lease (SIGTERM, a rolling update) is taken within one renew interval.
    fn poll(&self) -> Duration {
        match self.mode {
            Mode::Daemon => self.timing.renew_interval * 3 / 4,
            Mode::Operator => self.timing.renew_interval.min(OPERATOR_POLL),
        }
    }

    /// May a mutation that takes at most `timeout` be sent now? The one check every mutation
    /// passes (through the gate), right before it is sent. A holder whose lease has run too
    /// short steps down here, at once.
    pub fn permit(&mut self, now: Instant, timeout: Duration) -> Result<(), Refusal> {
        let result = match &self.role {
            Role::Leader {
                handing_over: Some(_),
                ..
            } => Err(Refusal::Releasing),
            Role::Leader { .. } if self.shutting_down => Err(Refusal::Releasing),
            Role::Leader { basis, .. } => {
                let left = (*basis + self.timing.lease_duration).saturating_duration_since(now);
                if left > timeout {
                    Ok(())
                } else {
                    Err(Refusal::RunningOut {
                        left,
                        needed: timeout,
                    })
                }
            }
            Role::Standby | Role::Stopped => Err(Refusal::Standby {
                holder: self.holder.as_ref().map(|h| h.identity.clone()),
            }),
        };
        self.expire(now);
        result
    }

    /// A holder past its step-down point stops being one.
    fn expire(&mut self, now: Instant) {
        if let Role::Leader { basis, .. } = self.role
            && now >= self.step_down_at(basis)
        {
            self.step_down(format!(
                "the lease could not be renewed in time: less than the mutation timeout ({}ms) \
                 of it is left",
                self.timing.mutation_timeout().as_millis()
            ));
            self.next = (Request::Read, now);
        }
    }

    fn step_down(&mut self, reason: String) {
        if matches!(self.role, Role::Leader { .. }) {
            self.role = if self.shutting_down {
                Role::Stopped
            } else {
                Role::Standby
            };
            self.reason = reason;
        }
        self.account();
    }

    fn become_leader(&mut self, version: u64, basis: Instant, how: &str) {
        if !matches!(self.role, Role::Leader { .. }) {
            if !self.term_open {
                self.term += 1;
            }
            self.reason = format!("{how} the lease (version {version})");
        }
        self.term_open = true;
        self.watch = None;
        self.holder = Some(self.me.clone());
        let handing_over = match &self.role {
            Role::Leader { handing_over, .. } => handing_over.clone(),
            _ => None,
        };
        self.role = Role::Leader {
            version,
            basis,
            handing_over,
        };
        self.next = (
            Request::Write(LeaseWrite::Renew { from: version }),
            basis + self.timing.renew_interval,
        );
        self.account();
    }

    /// Counts changes of the leader flag.
    fn account(&mut self) {
        let leader = self.is_leader();
        if leader != self.was_leader {
            self.transitions += 1;
            self.was_leader = leader;
        }
    }

    /// Stop mutating now; let the lease go once no mutation is in flight; then stop.
    pub fn shut_down(&mut self) {
        if !self.shutting_down {
            self.shutting_down = true;
            self.reason = "shutting down".to_owned();
        }
        if self.role == Role::Standby {
            self.role = Role::Stopped;
        }
        self.account();
    }

    /// The next thing to do at `now`, with `in_flight` mutations under way.
    pub fn plan(&mut self, now: Instant, in_flight: usize) -> Plan {
        self.expire(now);
        match &self.role {
            Role::Stopped => Plan::Stopped,
            Role::Standby if self.shutting_down => {
                self.role = Role::Stopped;
                Plan::Stopped
            }
            Role::Leader {
                version,
                basis,
                handing_over,
            } if self.shutting_down || handing_over.is_some() => {
                if in_flight > 0 {
                    // The calls in flight end before the step-down point (each is bounded by
                    // the mutation timeout); wake then at the latest to re-judge.
                    return Plan::Wait(Some(self.step_down_at(*basis)));
                }
                if let Some(at) = self.release_retry_at
                    && at > now
                {
                    return Plan::Wait(Some(at));
                }
                Plan::Send(Request::Write(LeaseWrite::Release {
                    from: *version,
                    reserve_for: handing_over.clone(),
                }))
            }
            role => {
                let (request, at) = &self.next;
                if *at <= now {
                    return Plan::Send(request.clone());
                }
                let wake = match role {
                    Role::Leader { basis, .. } => (*at).min(self.step_down_at(*basis)),
                    _ => *at,
                };
                Plan::Wait(Some(wake))
            }
        }
    }

    /// The answer to a read, started at `started` and answered at `done`.
    pub fn on_read(
        &mut self,
        result: Result<Option<LeaseItem>, StoreError>,
        started: Instant,
        done: Instant,
    ) {
        let item = match result {
            Ok(item) => item,
            Err(_) => {
                self.next = (Request::Read, done + self.retry_delay());
                return;
            }
        };
        self.holder = item.as_ref().and_then(|i| i.owner().cloned());
        if matches!(self.role, Role::Leader { .. }) {
            match &item {
                Some(i) if i.held_by(&self.me) => {
                    self.next = (Request::Write(LeaseWrite::Renew { from: i.version }), done);
                    return;
                }
                _ => self.step_down(format!(
                    "the lease is no longer ours: {}",
                    describe_owner(item.as_ref())
                )),
            }
        }
        if self.role == Role::Stopped {
            return;
        }
        self.standby_next(item, started, done);
    }

    fn retry_delay(&self) -> Duration {
        match self.role {
            Role::Leader { .. } => self.timing.renew_retry(),
            _ => self.poll(),
        }
    }

    /// What a standby does about the item it just saw (at `now`, by a read sent at `started`).
    fn standby_next(&mut self, item: Option<LeaseItem>, started: Instant, now: Instant) {
        let Some(item) = item else {
            self.next = (Request::Write(LeaseWrite::Create), now);
            return;
        };
        if item.held_by(&self.me) {
            // Ours, after an answer that was lost: nobody else has held it since our write,
            // so renewing it continues our term.
            self.next = (
                Request::Write(LeaseWrite::Renew { from: item.version }),
                now,
            );
            return;
        }
        self.term_open = false;
        if item.free_for(&self.me) {
            self.next = (Request::Write(LeaseWrite::Take { from: item.version }), now);
            return;
        }
        let since = match self.watch {
            Some(w) if w.version == item.version => w.since,
            _ => {
                self.watch = Some(Watch {
                    version: item.version,
                    since: now,
                });
                now
            }
        };
        let take_at = since + self.timing.lease_duration.max(item.lease_duration);
        let asked = item.handover_to.as_ref().is_some_and(|h| h.is(&self.me));
        if self.mode == Mode::Operator && item.holder.is_some() && !asked && take_at > now {
            self.next = (
                Request::Write(LeaseWrite::RequestHandover { at: item.version }),
                now,
            );
            return;
        }
        // The cadence runs from each read's start, so that a slow answer does not stretch it
        // past the holder's renewals: a released lease is still seen within a renew interval.
        let read_at = (started + self.poll()).max(now);
        self.next = if take_at <= read_at {
            (
                Request::Write(LeaseWrite::Take { from: item.version }),
                take_at,
            )
        } else {
            (Request::Read, read_at)
        };
    }

    /// The answer to `write`, started at `started` and answered at `done`.
    pub fn on_write(
        &mut self,
        write: &LeaseWrite,
        started: Instant,
        done: Instant,
        result: Result<LeaseItem, StoreError>,
    ) {
        match (write, result) {
            (LeaseWrite::Create | LeaseWrite::Take { .. }, Ok(item)) => {
                if self.shutting_down {
                    // Taken while shutting down: give it straight back.
                    self.role = Role::Leader {
                        version: item.version,
                        basis: started,
                        handing_over: None,
                    };
                    self.next = (Request::Read, done);
                    return;
                }
                let how = if matches!(write, LeaseWrite::Create) {
                    "created"
                } else {
                    "took"
                };
                self.term_open = false;
                self.become_leader(item.version, started, how);
            }
            (LeaseWrite::Renew { .. }, Ok(item)) => {
                self.become_leader(item.version, started, "renewed our own");
                if let (Mode::Daemon, Some(to)) = (self.mode, &item.handover_to)
                    && !to.is(&self.me)
                    && let Role::Leader { handing_over, .. } = &mut self.role
                    && handing_over.is_none()
                {
                    *handing_over = Some(to.clone());
                    self.reason = format!("handing the lease over to {to}");
                    self.next = (Request::Read, done);
                    self.account();
                }
            }
            (LeaseWrite::RequestHandover { .. }, Ok(_)) => {
                self.next = (Request::Read, done + self.poll());
            }
            (LeaseWrite::Release { reserve_for, .. }, Ok(item)) => {
                self.term_open = false;
                self.role = if self.shutting_down {
                    Role::Stopped
                } else {
                    Role::Standby
                };
                self.reason = match reserve_for {
                    Some(to) => format!("handed the lease over to {to}"),
                    None => "released the lease".to_owned(),
                };
                self.holder = item.owner().cloned();
                self.watch = Some(Watch {
                    version: item.version,
                    since: done,
                });
                self.next = (Request::Read, done + self.poll());
                self.account();
            }
            (write, Err(StoreError::Conflict)) => {
                if matches!(write, LeaseWrite::Renew { .. } | LeaseWrite::Release { .. }) {
                    self.step_down(format!(
                        "the lease changed hands: our {} found another version",
                        write.name()
                    ));
                    if self.shutting_down {
                        self.role = Role::Stopped;
                    }
                }
                self.next = (Request::Read, done);
            }
            (LeaseWrite::Release { .. }, Err(e)) => {
                // Nothing is mutated any more either way; on shutdown, try a few times and
                // then let the lease run out by itself.
                self.release_attempts += 1;
                if self.shutting_down && self.release_attempts >= RELEASE_ATTEMPTS {
                    self.role = Role::Stopped;
                    self.reason = format!("could not release the lease: {e}");
                }
                let delay = if matches!(e, StoreError::Unknown { .. }) {
                    Duration::ZERO
                } else {
                    self.timing.renew_retry()
                };
                self.release_retry_at = Some(done + delay);
                self.next = (Request::Read, done + delay);
                if matches!(e, StoreError::Unknown { .. }) {
                    // It may have landed: find out before trying again.
                    self.step_down(format!("releasing the lease: {e}"));
                    if self.shutting_down {
                        self.role = Role::Stopped;
                    }
                }
            }
            (write, Err(StoreError::Unknown { .. })) => {
                // It may or may not have landed: a read tells (a lease held by us is ours).
                let _ = write;
                self.next = (Request::Read, done);
            }
            (LeaseWrite::Renew { from }, Err(_)) => {
                self.next = (
                    Request::Write(LeaseWrite::Renew { from: *from }),
                    done + self.timing.renew_retry(),
                );
            }
            (_, Err(_)) => {
                self.next = (Request::Read, done + self.poll());
            }
        }
    }
}

fn describe_owner(item: Option<&LeaseItem>) -> String {
    match item {
        None => "the lease item is gone".to_owned(),
        Some(i) => match (&i.holder, &i.reserved_for) {
            (Some(h), _) => format!("{h} holds it (version {})", i.version),
            (None, Some(r)) => format!("it is kept for {r} (version {})", i.version),
            (None, None) => format!("it is free (version {})", i.version),
        },
    }
}
