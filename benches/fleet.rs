//! Fleet scale on one replica: N converged runners on the simulated cloud (default 10,000,
//! `SWITCHYARD_BENCH_RUNNERS` to change). Prints the wall time of a steady pass and the cloud
//! calls per runner per steady tick, the figure that keeps a fleet inside AWS's API rate limits
//! (target: at most ~0.2). Results are kept in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
mod common;

use common::{converged_world, fleet_file};
use switchyard::clock::Clock;
use switchyard::cloud::sim::{ManualClock, SimCloud};
use switchyard::config;
use switchyard::controller::Controller;
use switchyard::core::Phase;
use switchyard::telemetry::{Health, Metrics, StatusBoard};

fn main() {
    let runners: usize = std::env::var("SWITCHYARD_BENCH_RUNNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let text = fleet_file(
        "controller:\n  cloud: simulated\n  syncInterval: 30s\n  transitionInterval: 2s\n",
        runners,
    );
    let parse_started = Instant::now();
    let mut config = config::parse(&text, std::path::Path::new("fleet.yaml")).expect("valid fleet");
    let parse_time = parse_started.elapsed();
    converged_world(&mut config);

    let start: DateTime<Utc> = "2026-11-24T00:00:00Z".parse().unwrap();
    let clock = ManualClock::starting_at(start);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let sim = SimCloud::new(
        &config.controller.simulated,
        &config.runners,
        Arc::clone(&shared),
    );
    let sync = config.controller.sync_interval;
    let mut controller = Controller::new(
        Arc::new(sim.clone()),
        shared,
        Arc::new(Metrics::new("bench")),
        StatusBoard::new(),
        Health::new(sync),
        Arc::new(config),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    println!("fleet: {runners} runners on the simulated cloud, one replica");
    println!(
        "  parse desired-state file ({:.1} MiB): {:.2?}",
        text.len() as f64 / (1024.0 * 1024.0),
        parse_time
    );
    for tick in 0..4 {
        sim.reset_calls();
        let started = Instant::now();
        let decisions = runtime.block_on(controller.run_once());
        let elapsed = started.elapsed();
        let calls: u64 = sim.calls().values().sum();
        let converged = decisions
            .iter()
            .filter(|(_, d)| d.phase == Phase::Converged)
            .count();
        let kind = if tick == 0 {
            "first pass"
        } else {
            "steady pass"
        };
        println!(
            "  {kind}: {:.2?} wall, {:.1} µs/runner, {calls} cloud calls = {:.3} per runner, {converged}/{runners} converged",
            elapsed,
            elapsed.as_secs_f64() * 1e6 / runners as f64,
            calls as f64 / runners as f64,
        );
        if tick == 1 {
            for ((service, operation), n) in sim.calls() {
                println!("      {service} {operation}: {n}");
            }
        }
        clock.advance(sync + Duration::from_secs(1));
    }
}
