//! Liveness and readiness, as `/healthz` and `/readyz` report them.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};

/// A loop that has not ticked for this many intervals is considered stuck.
pub const MISSED_TICKS: u32 = 3;

/// Which instance acts on the world. Without leader election every instance is the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Standby,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Standby => "standby",
        }
    }
}

#[derive(Debug)]
struct State {
    last_tick: DateTime<Utc>,
    interval: Duration,
    ready: bool,
    role: Role,
}

/// Shared between the control loop (which ticks) and the HTTP server (which asks).
#[derive(Clone)]
pub struct Health {
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("state", &*self.lock())
            .finish()
    }
}

impl Health {
    /// `interval`: the longest the loop may sleep between two passes (its `syncInterval`).
    pub fn new(interval: Duration) -> Health {
        Health::with_clock(interval, Arc::new(SystemClock))
    }

    /// The clock says what "now" is when a probe asks; tests drive it.
    pub fn with_clock(interval: Duration, clock: Arc<dyn Clock>) -> Health {
        // Counting start-up as a tick gives the first pass (which may observe thousands of
        // runners) its full allowance before the liveness probe fails.
        let last_tick = clock.now();
        Health {
            clock,
            state: Arc::new(Mutex::new(State {
                last_tick,
                interval,
                ready: false,
                role: Role::Leader,
            })),
        }
    }

    /// The control loop is alive: it finished (or started) a pass at `now`.
    pub fn mark_tick(&self, now: DateTime<Utc>) {
        let mut state = self.lock();
        // A late tick from a slow task must not move liveness backwards.
        if now > state.last_tick {
            state.last_tick = now;
        }
    }

    /// Ready: the desired-state file is loaded and the account verified.
    pub fn set_ready(&self, ready: bool) {
        self.lock().ready = ready;
    }

    pub fn set_interval(&self, interval: Duration) {
        self.lock().interval = interval;
    }

    pub fn set_role(&self, role: Role) {
        self.lock().role = role;
    }

    /// `Ok` with the body of a healthy `/healthz`, `Err` with why not.
    pub fn liveness(&self) -> Result<String, String> {
        let now = self.clock.now();
        let state = self.lock();
        let allowed = state.interval * MISSED_TICKS;
        let since = (now - state.last_tick).to_std().unwrap_or(Duration::ZERO);
        if since <= allowed {
            Ok(format!(
                "ok: last control loop tick {}s ago\n",
                since.as_secs()
            ))
        } else {
            Err(format!(
                "control loop stalled: last tick at {} ({}s ago, more than {} intervals of {}s)\n",
                state.last_tick.to_rfc3339(),
                since.as_secs(),
                MISSED_TICKS,
                state.interval.as_secs_f64()
            ))
        }
    }

    /// `Ok` with the body of a ready `/readyz`, `Err` with why not.
    pub fn readiness(&self) -> Result<String, String> {
        let state = self.lock();
        if state.ready {
            Ok(format!("ready\nrole: {}\n", state.role.as_str()))
        } else {
            Err(format!(
                "not ready: the desired-state file is not loaded or the account not verified yet\nrole: {}\n",
                state.role.as_str()
            ))
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
