//! The task that keeps the lease: it asks the machine what to do, does it against the store,
//! and tells the machine what came of it, until shut down.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::leadership::Leadership;
use super::machine::{Plan, Request};
use super::store::{LeaseStore, StoreError};

/// A store error that persists is logged again at most this often.
const REPEAT_LOG: Duration = Duration::from_secs(60);

pub struct Elector<S> {
    leadership: Leadership,
    store: S,
    lease: String,
    last_error: Option<(String, Instant)>,
}

impl<S: LeaseStore> Elector<S> {
    pub fn new(leadership: Leadership, store: S) -> Elector<S> {
        let lease = leadership.lease_name().unwrap_or_default().to_owned();
        Elector {
            leadership,
            store,
            lease,
            last_error: None,
        }
    }

    /// The first read, at start-up: a missing table or a denied call is an error for the
    /// operator to fix (the process must not run without the lease it was told to take);
    /// anything transient is left to the elector's next try.
    pub async fn first_read(&mut self) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.store.read(&self.lease).await;
        if let Err(e) = &result
            && e.needs_operator()
        {
            return Err(e.clone());
        }
        self.note(&result);
        self.leadership.on_read(result, started, Instant::now());
        Ok(())
    }

    /// Keeps the lease until `shutdown` fires; then stops mutating, releases the lease once
    /// no mutation is in flight (so that a standby takes over at once), and returns.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let me = self.leadership.me();
        let Some(timing) = self.leadership.timing() else {
            return;
        };
        // A call that takes longer than a renew interval is of no use any more: the next
        // decision is better made from a fresh read.
        let budget = timing.renew_interval;
        loop {
            if shutdown.is_cancelled() {
                self.leadership.shut_down();
            }
            match self.leadership.plan() {
                Plan::Stopped => return,
                Plan::Wait(until) => {
                    tokio::select! {
                        () = self.leadership.woken(until) => {}
                        () = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
                    }
                }
                Plan::Send(Request::Read) => {
                    let started = Instant::now();
                    let result = tokio::time::timeout(budget, self.store.read(&self.lease))
                        .await
                        .unwrap_or(Err(StoreError::Unknown {
                            operation: "GetItem",
                        }));
                    self.note(&result);
                    self.leadership.on_read(result, started, Instant::now());
                }
                Plan::Send(Request::Write(write)) => {
                    let started = Instant::now();
                    let call = self
                        .store
                        .write(&self.lease, &me, timing.lease_duration, &write);
                    let result = tokio::time::timeout(budget, call).await.unwrap_or(Err(
                        StoreError::Unknown {
                            operation: write.operation(),
                        },
                    ));
                    self.note(&result);
                    self.leadership
                        .on_write(&write, started, Instant::now(), result);
                }
            }
        }
    }

    fn note<T>(&mut self, result: &Result<T, StoreError>) {
        let Err(e) = result else {
            self.last_error = None;
            return;
        };
        if matches!(e, StoreError::Conflict) {
            return;
        }
        let message = e.to_string();
        let now = Instant::now();
        let repeated = self
            .last_error
            .as_ref()
            .is_some_and(|(last, at)| *last == message && now - *at < REPEAT_LOG);
        if repeated {
            return;
        }
        if e.needs_operator() {
            error!(lease = %self.lease, "{message}");
        } else {
            warn!(lease = %self.lease, "{message}");
        }
        self.last_error = Some((message, now));
    }
}
