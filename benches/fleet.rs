//! Fleet scale on one replica: N converged runners on the simulated cloud (default 10,000,
//! `SWITCHYARD_BENCH_RUNNERS` to change). Prints the wall time of a steady pass and the cloud
//! calls per runner per steady tick, the figure that keeps a fleet inside AWS's API rate limits
//! (target: at most ~0.2). Results are kept in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchyard::clock::Clock;
use switchyard::cloud::sim::{ManualClock, RunnerWorld, SimCloud};
use switchyard::config::{self, Config};
use switchyard::controller::Controller;
use switchyard::core::Phase;
use switchyard::telemetry::{Health, Metrics, StatusBoard};

const LIVE: &str =
    r#"{"active_shard":"blue","deployment_ts":"2026-01-01T00:00:00Z","deployed_shards":["blue"]}"#;

fn fleet_file(runners: usize) -> String {
    let mut text = String::from(
        "controller:\n  cloud: simulated\n  syncInterval: 30s\n  transitionInterval: 2s\nrunners:\n",
    );
    for i in 0..runners {
        let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012";
        text.push_str(&format!(
            "  - name: runner-{i}\n    activeShard: blue\n    listenerArn: {arn}:listener/app/lb-{i}/1\n    shards:\n      blue: {{ autoScalingGroup: runner-{i}-blue, targetGroupArn: {arn}:targetgroup/runner-{i}-blue/1 }}\n      green: {{ autoScalingGroup: runner-{i}-green, targetGroupArn: {arn}:targetgroup/runner-{i}-green/2 }}\n"
        ));
    }
    text
}

fn converged_world(config: &mut Config) {
    let world: BTreeMap<String, RunnerWorld> = config
        .runners
        .iter()
        .map(|r| {
            let mut w = RunnerWorld {
                record: Some(LIVE.to_string()),
                ..RunnerWorld::default()
            };
            w.shards.blue.capacity = 2;
            (r.name.clone(), w)
        })
        .collect();
    config.controller.simulated.world = world;
}

fn main() {
    let runners: usize = std::env::var("SWITCHYARD_BENCH_RUNNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let text = fleet_file(runners);
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
