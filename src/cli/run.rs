//! `switchyard run`: the daemon (or, with `--once`, one pass and a summary).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use switchyard::clock::{Clock, SystemClock};
use switchyard::cloud::sim::SimCloud;
use switchyard::config::{self, Config, ReloadOutcome};
use switchyard::controller::Controller;
use switchyard::core::Decision;
use switchyard::lease::{LeaderGate, Mode, replica_identity};
use switchyard::telemetry::{Health, LeadershipPublisher, Metrics, StatusBoard, serve};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::lease::Lease;
use super::table::Table;
use super::{AnyCloud, Output, emit, exit, load, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One observe/decide/act pass over all runners, then exit.
    #[arg(long)]
    once: bool,
    /// This replica's name in the lease, `status` and logs (default: host or pod name and pid).
    #[arg(long, env = "SWITCHYARD_REPLICA_ID", value_name = "ID")]
    replica_id: Option<String>,
}

pub async fn run(path: &Path, args: Args, output: Output) -> anyhow::Result<u8> {
    let config = Arc::new(load(path)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
    metrics.config_loaded(clock.now().timestamp_millis() as f64 / 1000.0);
    let cloud = AnyCloud::connect(&config, metrics.clone(), Arc::clone(&clock)).await?;
    let board = StatusBoard::new();
    let health = Health::with_clock(config.controller.sync_interval, Arc::clone(&clock));
    let publisher = Arc::new(LeadershipPublisher {
        metrics: Arc::clone(&metrics),
        health: health.clone(),
        board: board.clone(),
        lease: config
            .controller
            .leader_election
            .as_ref()
            .map(|l| l.lease_name.clone()),
    });
    let identity = replica_identity(args.replica_id.as_deref());
    let mode = if args.once {
        Mode::Operator
    } else {
        Mode::Daemon
    };
    let mut lease = Lease::new(&config, identity, mode, publisher.clone());
    publisher.publish(&lease.leadership.view());
    let cloud = Arc::new(LeaderGate::new(cloud, lease.leadership.clone()));
    let mut controller = Controller::new(
        Arc::clone(&cloud),
        Arc::clone(&clock),
        Arc::clone(&metrics),
        board.clone(),
        health.clone(),
        Arc::clone(&config),
    );
    let account = controller.verify_account().await?;
    info!(account = %account, region = cloud.inner().region(), runners = config.runners.len(), "account verified");

    if args.once {
        lease.lead(metrics.clone()).await?;
        let decisions = controller.run_once().await;
        lease.release().await;
        summary(&decisions, output)?;
        // A runner left out could not be observed; its error has been logged.
        return Ok(if decisions.len() == config.runners.len() {
            exit::OK
        } else {
            exit::ERROR
        });
    }

    let cancel = CancellationToken::new();
    tokio::spawn(stop_on_signal(cancel.clone()));
    lease.cancel_on_failure(cancel.clone());
    lease.start(metrics.clone()).await?;
    let listen = config.controller.listen;
    let (address, server) = serve(
        listen,
        Arc::clone(&metrics),
        board,
        health.clone(),
        cancel.clone(),
    )
    .await
    .with_context(|| {
        format!(
            "cannot listen on {listen} (controller.listen in {}); another process holds it, or \
             choose another address there",
            path.display()
        )
    })?;
    info!(%address, "listening");
    health.set_ready(true);
    let on_reload = {
        let metrics = Arc::clone(&metrics);
        let clock = Arc::clone(&clock);
        Arc::new(move |outcome: ReloadOutcome| {
            let now = clock.now();
            metrics.config_reload(outcome.as_str(), now.timestamp_millis() as f64 / 1000.0);
        })
    };
    let mut updates = config::watch(
        path.to_path_buf(),
        Arc::clone(&config),
        on_reload,
        cancel.clone(),
    );
    if let Some(sim) = cloud.inner().simulated() {
        updates = with_sim_resources(sim.clone(), updates, cancel.clone());
    }
    controller.run(updates, cancel).await;
    // The loop has finished its call in flight: hand the lease over at once, so that a
    // rolling update does not wait a lease duration for the next leader.
    lease.release().await;
    // The server stops with the same token; its in-flight requests finish first.
    let _ = server.await;
    if lease.failed() {
        anyhow::bail!("the task keeping the lease ended unexpectedly; see the log");
    }
    Ok(exit::OK)
}

/// SIGTERM (Kubernetes) or SIGINT (Ctrl-C): stop after the calls in flight.
async fn stop_on_signal(cancel: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        () = terminate => info!("SIGTERM: shutting down"),
    }
    cancel.cancel();
}

/// A runner added to the file while the simulated cloud runs gets its simulated resources
/// before the controller first observes it, as it would have them in AWS.
fn with_sim_resources(
    sim: SimCloud,
    mut updates: watch::Receiver<Arc<Config>>,
    cancel: CancellationToken,
) -> watch::Receiver<Arc<Config>> {
    let (tx, rx) = watch::channel(Arc::clone(&updates.borrow()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                changed = updates.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let config = Arc::clone(&updates.borrow_and_update());
                    for spec in &config.runners {
                        sim.ensure_runner(spec);
                    }
                    if tx.send(config).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

fn summary(decisions: &[(String, Decision)], output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => {
            let runners: Vec<_> = decisions
                .iter()
                .map(|(name, d)| {
                    json!({
                        "runner": name,
                        "phase": d.phase,
                        "halt": d.halt.as_ref().map(|h| h.reason),
                        "next": d.next,
                    })
                })
                .collect();
            print_json(&runners)
        }
        Output::Table => {
            let mut table = Table::new(["RUNNER", "PHASE", "HALT", "NEXT"]);
            for (name, d) in decisions {
                table.row([
                    name.clone(),
                    d.phase.to_string(),
                    d.halt
                        .as_ref()
                        .map_or("-".to_owned(), |h| h.reason.to_string()),
                    d.next.clone(),
                ]);
            }
            emit(&table.render(""))
        }
    }
}
