//! The API budget at fleet scale: N converged runners at rest (default 10,000,
//! `SWITCHYARD_BENCH_RUNNERS`) on the simulated cloud with AWS's default quotas on (`apiQuotas`),
//! the real control loop on tokio's paused clock for `SWITCHYARD_BENCH_MINUTES` simulated minutes
//! (default 60), once without the budget and once with it (the defaults of
//! `controller.aws.maxRequestsPerSecond`). Prints the throttled responses per simulated hour, the
//! age of the oldest observation at rest, and how long one runner's deployment step (its fresh
//! observation and a mutation) waits while the fleet is swept. Results are kept in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as WallInstant};

use chrono::{DateTime, Utc};
use switchyard::clock::{Clock, TokioClock};
use switchyard::cloud::budget::{Budget, RequestRates};
use switchyard::cloud::sim::{RunnerWorld, SimCloud};
use switchyard::cloud::{Applied, Cloud, CloudError, Detail, NoObserver};
use switchyard::config::{self, Config};
use switchyard::controller::Controller;
use switchyard::core::{RunnerObservation, RunnerSpec, Shard, Step};
use switchyard::telemetry::{Health, Metrics, StatusBoard};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const LIVE: &str =
    r#"{"active_shard":"blue","deployment_ts":"2026-01-01T00:00:00Z","deployed_shards":["blue"]}"#;
/// How often a deployment step is tried while the fleet is swept.
const STEP_EVERY: Duration = Duration::from_secs(7);

fn fleet_file(runners: usize) -> String {
    let mut text = String::from(
        "controller:\n  cloud: simulated\n  simulated: { apiQuotas: true }\n  syncInterval: 30s\n  transitionInterval: 2s\nrunners:\n",
    );
    for i in 0..runners {
        let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012";
        text.push_str(&format!(
            "  - name: runner-{i}\n    activeShard: blue\n    listenerArn: {arn}:listener/app/lb-{i}/1\n    shards:\n      blue: {{ autoScalingGroup: runner-{i}-blue, targetGroupArn: {arn}:targetgroup/runner-{i}-blue/1 }}\n      green: {{ autoScalingGroup: runner-{i}-green, targetGroupArn: {arn}:targetgroup/runner-{i}-green/2 }}\n"
        ));
    }
    text
}

fn converged(config: &mut Config) {
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

/// The simulated cloud as the controller uses it, watched from outside: when each runner was
/// last observed (the start of the observation that succeeded), and whether a sweep is under way.
struct Watched {
    sim: SimCloud,
    index: BTreeMap<String, usize>,
    observed_at: Mutex<Vec<Option<Instant>>>,
    sweeping: AtomicUsize,
}

impl Cloud for Watched {
    async fn account_id(&self) -> Result<String, CloudError> {
        self.sim.account_id().await
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        let started = Instant::now();
        self.sweeping.fetch_add(1, Ordering::SeqCst);
        let result = self.sim.observe(runners, detail).await;
        self.sweeping.fetch_sub(1, Ordering::SeqCst);
        if result.is_ok() {
            let mut seen = self.observed_at.lock().unwrap();
            for r in runners {
                seen[self.index[&r.name]] = Some(started);
            }
        }
        result
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        self.sim.apply(runner, step).await
    }
}

#[derive(Default)]
struct Figures {
    requests: u64,
    throttled: u64,
    /// Oldest observation age, sampled every second once every runner was observed.
    oldest: Vec<Duration>,
    /// The first moment every runner had been observed.
    all_seen_after: Option<Duration>,
    /// A deployment step's fresh observation and mutation, while a sweep was under way.
    steps: Vec<Duration>,
    steps_failed: usize,
    /// The same fresh observation sent at a sweep's priority.
    queued: Vec<Duration>,
}

fn run(config: &Config, budget: bool, minutes: u64) -> Figures {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let start: DateTime<Utc> = "2026-11-24T00:00:00Z".parse().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(start));
        let mut sim = SimCloud::new(
            &config.controller.simulated,
            &config.runners,
            Arc::clone(&clock),
        );
        if budget {
            sim = sim.with_budget(Arc::new(Budget::new(
                &RequestRates::default(),
                Arc::new(NoObserver),
            )));
        }
        let cloud = Arc::new(Watched {
            sim: sim.clone(),
            index: config
                .runners
                .iter()
                .enumerate()
                .map(|(i, r)| (r.name.clone(), i))
                .collect(),
            observed_at: Mutex::new(vec![None; config.runners.len()]),
            sweeping: AtomicUsize::new(0),
        });
        let sync = config.controller.sync_interval;
        let controller = Controller::new(
            Arc::clone(&cloud),
            clock,
            Arc::new(Metrics::new("bench")),
            StatusBoard::new(),
            Health::new(sync),
            Arc::new(config.clone()),
        );
        let (_tx, rx) = tokio::sync::watch::channel(Arc::new(config.clone()));
        let cancel = CancellationToken::new();
        let started = Instant::now();
        let end = started + Duration::from_secs(60 * minutes);
        let loop_task = tokio::spawn(controller.run(rx, cancel.clone()));

        let mut figures = Figures::default();
        let mut next_step = started + STEP_EVERY;
        let mut probe = 0;
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = Instant::now();
            let oldest = {
                let seen = cloud.observed_at.lock().unwrap();
                seen.iter()
                    .map(|at| at.map(|at| now - at))
                    .try_fold(Duration::ZERO, |max, age| age.map(|a| max.max(a)))
            };
            match (oldest, figures.all_seen_after) {
                (Some(age), Some(_)) => figures.oldest.push(age),
                (Some(_), None) => figures.all_seen_after = Some(now - started),
                (None, _) => {}
            }
            if now >= next_step && cloud.sweeping.load(Ordering::SeqCst) > 0 {
                next_step = now + STEP_EVERY;
                // A runner spread over the fleet; its green shard is already at zero, so the
                // mutation changes nothing the controller would react to.
                let spec = &config.runners[(probe * 7919) % config.runners.len()];
                probe += 1;
                let step = Instant::now();
                let done = async {
                    sim.observe(&[spec], Detail::Fresh).await?;
                    sim.apply(
                        spec,
                        &Step::ScaleToZero {
                            shard: Shard::Green,
                        },
                    )
                    .await
                };
                match done.await {
                    Ok(_) => figures.steps.push(step.elapsed()),
                    Err(_) => figures.steps_failed += 1,
                }
                let queued = Instant::now();
                if sim.observe(&[spec], Detail::Full).await.is_ok() {
                    figures.queued.push(queued.elapsed());
                }
            }
        }
        cancel.cancel();
        let _ = loop_task.await;
        figures.requests = sim.calls().values().sum();
        figures.throttled = sim.over_quota();
        figures
    })
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn summary(samples: &[Duration], unit: fn(Duration) -> String) -> String {
    if samples.is_empty() {
        return "none".to_owned();
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
    format!(
        "median {}, mean {}, max {} ({} samples)",
        unit(sorted[sorted.len() / 2]),
        unit(mean),
        unit(sorted[sorted.len() - 1]),
        sorted.len()
    )
}

fn main() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runners = env("SWITCHYARD_BENCH_RUNNERS", 10_000) as usize;
    let minutes = env("SWITCHYARD_BENCH_MINUTES", 60).max(1);
    let mut config = config::parse(&fleet_file(runners), std::path::Path::new("fleet.yaml"))
        .expect("valid fleet");
    converged(&mut config);
    let rates = RequestRates::default();

    println!(
        "budget: {runners} runners at rest on the simulated cloud with AWS's quotas (SSM reads 40/s; ELB and Auto Scaling describes: bucket 40, 10/s), syncInterval 30s, {minutes} simulated minutes"
    );
    for budget in [false, true] {
        let wall = WallInstant::now();
        let f = run(&config, budget, minutes);
        let per_hour = |n: u64| n as f64 * 60.0 / minutes as f64;
        let name = if budget {
            format!(
                "with the budget (ssm {}/s, autoscaling {}/s, elbv2 {}/s)",
                rates.ssm, rates.autoscaling, rates.elbv2
            )
        } else {
            "without the budget".to_owned()
        };
        println!("  {name}:");
        println!(
            "    throttled responses: {:.0} per simulated hour ({} of {} requests)",
            per_hour(f.throttled),
            f.throttled,
            f.requests
        );
        match f.all_seen_after {
            Some(after) => println!(
                "    every runner observed after {}; oldest observation at rest since: {}",
                secs(after),
                summary(&f.oldest, secs)
            ),
            None => println!("    some runner was never observed"),
        }
        println!(
            "    one runner's deployment step (fresh observation + mutation) while the fleet is swept: waited {}; failed {}",
            summary(&f.steps, ms),
            f.steps_failed
        );
        println!(
            "    the same fresh observation at a sweep's priority: waited {}",
            summary(&f.queued, ms)
        );
        println!("    wall time: {:.1?}", wall.elapsed());
    }
}
