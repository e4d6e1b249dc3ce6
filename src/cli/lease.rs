//! The lease for a command (docs/high-availability.md). Without `controller.leaderElection` the
//! process is the only writer. With it, the daemon contends for the lease and keeps it while it
//! can; a one-shot command that mutates (`repair`, `retry`, `run --once`) asks the holder to hand
//! the lease over, mutates while it holds it, and gives it back, so that it never writes next to a
//! daemon that is writing too (invariant 9).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::anyhow;
use switchyard::cloud::RequestObserver;
use switchyard::config::Config;
use switchyard::lease::{
    Elector, Leadership, LeadershipObserver, LeaseSettings, Machine, Mode, claimant,
    dynamodb::DynamoLeaseStore,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

pub struct Lease {
    pub leadership: Leadership,
    settings: Option<LeaseSettings>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// Fired if the elector ends before it was told to: the process must not run on without
    /// the task that keeps its lease (it would look alive and never lead again).
    died: CancellationToken,
    failed: Arc<AtomicBool>,
}

impl Lease {
    /// Not yet contending: call `start` (a daemon) or `lead` (a one-shot command).
    pub fn new(
        config: &Config,
        identity: String,
        mode: Mode,
        observer: Arc<dyn LeadershipObserver>,
    ) -> Lease {
        let me = claimant(identity);
        let settings = config.controller.leader_election.clone();
        let leadership = match &settings {
            None => Leadership::sole(me),
            Some(s) => Leadership::elected(
                Machine::new(me, mode, s.timing, Instant::now()),
                s.lease_name.clone(),
                observer,
            ),
        };
        Lease {
            leadership,
            settings,
            stop: CancellationToken::new(),
            task: None,
            died: CancellationToken::new(),
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `token` is cancelled if the elector ends before `release` (see `failed`).
    pub fn cancel_on_failure(&mut self, token: CancellationToken) {
        self.died = token;
    }

    /// Whether the elector ended unexpectedly.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Reads the lease once (a missing table or a denied call is an error: the process must
    /// not run without the lease it was told to hold), then keeps it in the background.
    pub async fn start(&mut self, requests: Arc<dyn RequestObserver>) -> anyhow::Result<()> {
        let Some(settings) = &self.settings else {
            return Ok(());
        };
        if self.task.is_some() {
            return Ok(());
        }
        let store = DynamoLeaseStore::connect(settings, requests).await;
        let mut elector = Elector::new(self.leadership.clone(), store);
        elector.first_read().await.map_err(|e| {
            anyhow!(
                "leader election (lease {} in table {}): {e}",
                settings.lease_name,
                settings.table
            )
        })?;
        let elector = tokio::spawn(elector.run(self.stop.clone()));
        let (stop, died, failed) = (self.stop.clone(), self.died.clone(), self.failed.clone());
        self.task = Some(tokio::spawn(async move {
            let ended = elector.await;
            if !stop.is_cancelled() {
                error!(
                    "the task keeping the lease ended unexpectedly ({ended:?}); stopping: no \
                     mutation is sent without it"
                );
                failed.store(true, Ordering::SeqCst);
                died.cancel();
            }
        }));
        Ok(())
    }

    /// For a one-shot command: waits until this process holds the lease (the holder hands it
    /// over within one renew interval; a holder that is gone loses it after a lease duration).
    pub async fn lead(&mut self, requests: Arc<dyn RequestObserver>) -> anyhow::Result<()> {
        let Some(settings) = self.settings.clone() else {
            return Ok(());
        };
        self.start(requests).await?;
        let within = settings.timing.lease_duration * 2;
        eprintln!(
            "waiting for the lease {} (table {}, region {}) to be handed over...",
            settings.lease_name, settings.table, settings.region
        );
        if self.leadership.acquired(within).await {
            return Ok(());
        }
        let holder = self
            .leadership
            .view()
            .holder
            .map_or("nobody".to_owned(), |h| h.identity);
        self.release().await;
        Err(anyhow!(
            "could not take the lease {} (table {}, region {}) within {}: {holder} holds it \
             and did not hand it over; nothing was written",
            settings.lease_name,
            settings.table,
            settings.region,
            humantime::format_duration(within)
        ))
    }

    /// Stops mutating, lets the lease go once no mutation is in flight, and waits (bounded)
    /// for that, so that a standby can take over at once.
    pub async fn release(&mut self) {
        self.stop.cancel();
        self.leadership.shut_down();
        let Some(task) = self.task.take() else {
            return;
        };
        let bound = self
            .settings
            .as_ref()
            .map_or(Duration::ZERO, |s| s.timing.lease_duration);
        if tokio::time::timeout(bound, task).await.is_err() {
            warn!("the lease was not released in time; it runs out by itself");
        }
    }
}
