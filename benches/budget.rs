//! The API budget at fleet scale: N converged runners at rest (default 10,000,
//! `SWITCHYARD_BENCH_RUNNERS`) on the simulated cloud with AWS's default quotas on (`apiQuotas`),
//! the real control loop on tokio's paused clock, with the budget (the defaults of
//! `controller.aws.maxRequestsPerSecond`) for `SWITCHYARD_BENCH_MINUTES` simulated minutes
//! (default 60) and without it for at most 10 (the throttling storm costs far more CPU per
//! simulated minute). Prints the throttled responses per simulated hour, the age of the oldest
//! observation at rest, how long one runner's deployment step (its fresh observation and a
//! mutation) waits while the fleet is swept, and how long one runner's whole deployment through
//! the loop takes meanwhile. Results are kept in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as WallInstant};

mod common;

use chrono::{DateTime, Utc};
use common::{converged_world, fleet_file};
use switchyard::clock::{Clock, TokioClock};
use switchyard::cloud::budget::{Budget, RequestRates};
use switchyard::cloud::sim::SimCloud;
use switchyard::cloud::{Applied, Cloud, CloudError, Detail, NoObserver};
use switchyard::config::{self, Config};
use switchyard::controller::Controller;
use switchyard::core::{MARK_TAG, RunnerObservation, RunnerSpec, Shard, Step};
use switchyard::telemetry::{Health, Metrics, StatusBoard};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The fleet's controller settings: AWS's quotas on in the simulated cloud.
const FLEET_CONTROLLER: &str = "controller:\n  cloud: simulated\n  simulated: { apiQuotas: true }\n  syncInterval: 30s\n  transitionInterval: 2s\n";

/// How often a deployment step is tried while the fleet is swept.
const STEP_EVERY: Duration = Duration::from_secs(7);
/// When runner-0 is told to deploy green, from the start.
const DEPLOY_AT: Duration = Duration::from_secs(180);
/// The defaults' grace, stability, post-switch check and drain, and the simulated termination.
const MANDATED: Duration = Duration::from_secs(60 + 120 + 30 + 60 + 2);

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
    /// A deployment step's fresh observation and mutation.
    steps: Vec<Duration>,
    /// Of those, the ones taken while a sweep was under way.
    steps_during_sweeps: usize,
    steps_failed: usize,
    /// Runners never observed by the end.
    never_observed: usize,
    /// runner-0's blue -> green, from the edit to the world converged.
    deployment: Option<Duration>,
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
        let (tx, rx) = tokio::sync::watch::channel(Arc::new(config.clone()));
        let cancel = CancellationToken::new();
        let started = Instant::now();
        let end = started + Duration::from_secs(60 * minutes);
        let loop_task = tokio::spawn(controller.run(rx, cancel.clone()));

        let mut figures = Figures::default();
        let mut next_step = started + STEP_EVERY;
        let mut probe = 0;
        let mut deploying: Option<Instant> = None;
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = Instant::now();
            // A runner never observed counts as observed at the start.
            let (oldest, never) = {
                let seen = cloud.observed_at.lock().unwrap();
                let oldest = seen.iter().map(|at| now - at.unwrap_or(started)).max();
                (
                    oldest.unwrap_or_default(),
                    seen.iter().filter(|at| at.is_none()).count(),
                )
            };
            figures.never_observed = never;
            match figures.all_seen_after {
                Some(_) => figures.oldest.push(oldest),
                None if never == 0 => figures.all_seen_after = Some(now - started),
                None => {}
            }
            if now - started >= DEPLOY_AT && deploying.is_none() && figures.deployment.is_none() {
                let mut edited = config.clone();
                edited.runners[0].active_shard = Shard::Green;
                tx.send(Arc::new(edited)).unwrap();
                deploying = Some(now);
            }
            if let Some(edit) = deploying
                && converged_green(&sim, &config.runners[0])
            {
                figures.deployment = Some(now - edit);
                deploying = None;
            }
            if now >= next_step {
                next_step = now + STEP_EVERY;
                if cloud.sweeping.load(Ordering::SeqCst) > 0 {
                    figures.steps_during_sweeps += 1;
                }
                // Runners spread over the fleet (not runner-0); their green shard is already at
                // zero, so the mutation changes nothing the controller would react to.
                let spec = &config.runners[1 + (probe * 7919) % (config.runners.len() - 1)];
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
            }
        }
        cancel.cancel();
        let _ = loop_task.await;
        figures.requests = sim.calls().values().sum();
        figures.throttled = sim.over_quota();
        figures
    })
}

/// The world says the deployment is over: the record names green, blue has no instances left,
/// and green carries no deployment mark.
fn converged_green(sim: &SimCloud, spec: &RunnerSpec) -> bool {
    let record = sim
        .parameter(&spec.status_parameter)
        .map(|(value, _)| value)
        .unwrap_or_default();
    let blue = sim.asg(&spec.shards[Shard::Blue].auto_scaling_group);
    let green = sim.asg(&spec.shards[Shard::Green].auto_scaling_group);
    record.contains(r#""active_shard":"green""#)
        && blue.is_some_and(|b| b.desired_capacity == 0 && b.instances.is_empty())
        && green.is_some_and(|g| !g.tags.contains_key(MARK_TAG))
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
    // `cargo bench` passes --bench; `cargo test --all-targets` (make test) runs this without it,
    // in a debug build: a small fleet for a few minutes only shows that it still runs.
    let full = std::env::args().any(|a| a == "--bench");
    let runners = env("SWITCHYARD_BENCH_RUNNERS", if full { 10_000 } else { 300 }).max(2) as usize;
    let minutes = env("SWITCHYARD_BENCH_MINUTES", if full { 60 } else { 4 }).max(1);
    let mut config = config::parse(
        &fleet_file(FLEET_CONTROLLER, runners),
        std::path::Path::new("fleet.yaml"),
    )
    .expect("valid fleet");
    converged_world(&mut config);
    let rates = RequestRates::default();

    println!(
        "budget: {runners} runners at rest on the simulated cloud with AWS's quotas (SSM reads 40/s; ELB and Auto Scaling describes: bucket 40, 10/s), syncInterval 30s; runner-0 deploys blue -> green {} s in (mandated waits {} s)",
        DEPLOY_AT.as_secs(),
        MANDATED.as_secs()
    );
    if !full {
        println!("  (a short run; `cargo bench --bench budget` runs the full size)");
    }
    for budget in [false, true] {
        let minutes = if budget { minutes } else { minutes.min(10) };
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
        println!("  {name}, {minutes} simulated minutes:");
        println!(
            "    throttled responses: {:.0} per simulated hour ({} of {} requests)",
            per_hour(f.throttled),
            f.throttled,
            f.requests
        );
        match f.all_seen_after {
            Some(after) => println!(
                "    every runner observed after {}; then the oldest observation at rest was {}",
                secs(after),
                summary(&f.oldest, secs)
            ),
            None => println!(
                "    {} of {runners} runners never observed",
                f.never_observed
            ),
        }
        println!(
            "    one runner's deployment step (fresh observation + mutation), every {} s ({} of them while a sweep was under way): waited {}; throttled {}",
            STEP_EVERY.as_secs(),
            f.steps_during_sweeps,
            summary(&f.steps, ms),
            f.steps_failed
        );
        match f.deployment {
            Some(took) => println!(
                "    runner-0's deployment through the loop: {} from the edit to converged = {:.2} x the mandated waits",
                secs(took),
                took.as_secs_f64() / MANDATED.as_secs_f64()
            ),
            None => {
                println!("    runner-0's deployment through the loop: not converged by the end")
            }
        }
        println!("    wall time: {:.1?}", wall.elapsed());
    }
}
