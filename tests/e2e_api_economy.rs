//! End to end: AWS calls per steady tick (docs/operations.md), measured from the daemon's own
//! `switchyard_cloud_requests_total` against moto's server, for 1 and 50 runners at rest.
//! The figures are printed (BENCHMARKS.md keeps them) and bounded, so that a change that
//! makes every tick more expensive fails here.

mod e2e_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e_support::{Daemon, Desired, world};

/// `switchyard_reconcile_duration_seconds_count`: one per runner per pass.
fn reconciles(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_reconcile_duration_seconds_count "))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Calls per operation and runner-reconciles over `ticks` steady ticks of every runner.
async fn steady(daemon: &Daemon, runners: usize, ticks: usize) -> (BTreeMap<String, f64>, f64) {
    let wanted = (runners * ticks) as f64;
    let m0 = daemon.metrics();
    let (calls0, rec0) = (e2e_support::requests(&m0), reconciles(&m0));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = daemon.metrics();
        let done = reconciles(&m) - rec0;
        if done >= wanted {
            let calls = e2e_support::requests(&m)
                .into_iter()
                .map(|(op, n)| (op.clone(), n - calls0.get(&op).copied().unwrap_or(0.0)))
                .filter(|(_, n)| *n > 0.0)
                .collect();
            return (calls, done);
        }
        assert!(Instant::now() < deadline, "the daemon stopped ticking");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn measure(prefix: &str, runners: usize) -> f64 {
    let mut w = world(prefix, runners).await;
    w.settings.sync_interval = "1s";
    w.write_config(&Desired {
        active: "blue",
        revision: None,
    });
    let daemon = w.daemon();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let doc = daemon.status().await;
        if doc.runners.len() == runners && doc.runners.iter().all(|r| r.phase == "Converged") {
            break;
        }
        assert!(Instant::now() < deadline, "not converged: {doc:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Past the first (full) observation and the cold caches: at rest from here on.
    steady(&daemon, runners, 1).await;
    let ticks = 5;
    let (calls, reconciled) = steady(&daemon, runners, ticks).await;
    let total: f64 = calls.values().sum();
    let per_runner_tick = total / reconciled;
    let per_tick = per_runner_tick * runners as f64;
    eprintln!(
        "AWS calls per steady tick, {runners} runner(s): {per_tick:.2} per tick, \
         {per_runner_tick:.3} per runner per tick; over {reconciled} runner-reconciles: {calls:?}"
    );
    for op in calls.keys() {
        assert!(
            matches!(
                op.as_str(),
                "GetParameters" | "DescribeAutoScalingGroups" | "DescribeListeners"
            ),
            "at rest only the batched reads are made, not {op}: {calls:?}"
        );
    }
    assert_eq!(daemon.stop(), Some(0));
    per_tick
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_calls_per_steady_tick() {
    // One SSM read, one Auto Scaling describe, one listener describe.
    let one = measure("eco1", 1).await;
    assert!(one <= 3.0 + 1e-9, "1 runner: {one} calls per tick");
    // 5 GetParameters (10 names each), 1 DescribeAutoScalingGroups (100 groups), 3
    // DescribeListeners (20 ARNs each): 9 calls, 0.18 per runner, inside the 0.2 target.
    let fifty = measure("eco50", 50).await;
    assert!(
        fifty / 50.0 <= 0.2 + 1e-9,
        "50 runners: {fifty} calls per tick"
    );
}
