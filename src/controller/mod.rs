//! The control loop: which runners to look at when, one batched observation for all of them,
//! one reconcile per runner (concurrently, at most one step in flight each), requeue, repeat.
//! Config changes trigger an immediate pass; errors back off per runner; cancellation stops the
//! loop after the calls in flight.

mod account;
mod reconcile;
#[cfg(test)]
mod requeue_tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use account::{AccountError, AccountGuard};
pub use reconcile::{Context, Reconciled, RunnerState, check_write, observe_one, reconcile};

use crate::clock::Clock;
use crate::cloud::{Cloud, CloudError, Detail};
use crate::config::Config;
use crate::core::{Decision, RunnerObservation, RunnerSpec, Step};
use crate::lease::Standing;
use crate::telemetry::{Event, Health, Metrics, StatusBoard};

/// Runners reconciled at once; each has at most one step in flight.
const CONCURRENCY: usize = 16;
/// Runners observed at once within a pass. A multiple of every batch size of the clouds (10
/// parameters, 100 ASGs, 20 listeners, rules or target groups a call; a runner has two ASGs and
/// two target groups), so that chunking the fleet costs no call more.
const OBSERVE_CHUNK: usize = 500;
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

struct Tracked {
    state: RunnerState,
    due: Instant,
    /// Boxed: only a failing runner has one, and every runner's entry would carry its size.
    backoff: Option<Box<ExponentialBackoff>>,
    /// The step the last reconcile took, if it took one.
    last_applied: Option<Step>,
    /// The next delay while the world settles after a step (`requeue`).
    settling: Option<Duration>,
}

impl Tracked {
    fn new(now: Instant) -> Tracked {
        Tracked {
            state: RunnerState::default(),
            due: now,
            backoff: None,
            last_applied: None,
            settling: None,
        }
    }

    /// Capped exponential backoff with jitter, per runner; each runner's jitter is seeded from
    /// its name so that runners failing together spread out.
    fn next_backoff(&mut self, runner: &str) -> Duration {
        let backoff = self.backoff.get_or_insert_with(|| {
            Box::new(
                ExponentialBuilder::default()
                    .with_min_delay(BACKOFF_MIN)
                    .with_max_delay(BACKOFF_MAX)
                    .with_jitter()
                    .with_jitter_seed(seed(runner))
                    .without_max_times()
                    .build(),
            )
        });
        backoff.next().unwrap_or(BACKOFF_MAX).min(BACKOFF_MAX)
    }
}

fn seed(name: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub struct Controller<C: Cloud> {
    ctx: Context<C>,
    health: Health,
    config: Arc<Config>,
    /// Boxed: a runner's entry is some 500 bytes, and the table keeps about twice as many slots
    /// as runners.
    runners: HashMap<String, Box<Tracked>>,
    /// The term of leadership the runners' memories were built in (docs/high-availability.md).
    term: Option<u64>,
}

impl<C: Cloud> Controller<C> {
    pub fn new(
        cloud: Arc<C>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        board: StatusBoard,
        health: Health,
        config: Arc<Config>,
    ) -> Controller<C> {
        let account = AccountGuard::for_config(&config);
        let mut controller = Controller {
            ctx: Context {
                cloud,
                clock,
                metrics,
                board,
                account,
                cancel: CancellationToken::new(),
                latest: None,
                standing: Standing::Standby,
            },
            health,
            config: Arc::clone(&config),
            runners: HashMap::new(),
            term: None,
        };
        controller.set_config(config);
        controller
    }

    /// Checks the account the cloud acts in against the expected one (invariant 8). Call at
    /// start-up; the loop checks again before its first mutation.
    pub async fn verify_account(&self) -> Result<String, AccountError> {
        self.ctx
            .account
            .verify(self.ctx.cloud.as_ref())
            .await
            .map(str::to_owned)
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// One observe/decide/act pass over every runner, in the file's order. Runners whose
    /// observation failed are left out (the error is logged and counted).
    pub async fn run_once(&mut self) -> Vec<(String, Decision)> {
        let names: Vec<String> = self.config.runners.iter().map(|r| r.name.clone()).collect();
        self.pass(&names).await
    }

    /// The daemon: passes over the runners as they fall due, an immediate pass over all of them
    /// when the configuration changes, until `cancel` fires.
    pub async fn run(
        mut self,
        mut config_rx: watch::Receiver<Arc<Config>>,
        cancel: CancellationToken,
    ) {
        self.ctx.cancel = cancel.clone();
        self.ctx.latest = Some(config_rx.clone());
        let mut watching = true;
        let mut trimmed = Instant::now();
        loop {
            let now = Instant::now();
            // Wake at least every syncInterval so that liveness holds with no runner due.
            let deadline = self
                .runners
                .values()
                .map(|t| t.due)
                .min()
                .unwrap_or(now + self.config.controller.sync_interval)
                .min(now + self.config.controller.sync_interval);
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                changed = config_rx.changed(), if watching => match changed {
                    Ok(()) => {
                        let config = Arc::clone(&config_rx.borrow_and_update());
                        info!(runners = config.runners.len(), "configuration changed");
                        self.set_config(config);
                    }
                    // The watcher is gone: the last configuration stays in force.
                    Err(_) => watching = false,
                },
                () = tokio::time::sleep_until(deadline) => {}
            }
            let now = Instant::now();
            let due: Vec<String> = self
                .config
                .runners
                .iter()
                .filter(|r| self.runners.get(&r.name).is_some_and(|t| t.due <= now))
                .map(|r| r.name.clone())
                .collect();
            self.pass(&due).await;
            if trimmed.elapsed() >= self.config.controller.sync_interval {
                crate::runtime::release_free_memory();
                trimmed = Instant::now();
            }
        }
        info!("control loop stopped");
    }

    /// Takes a new desired-state file: removed runners are forgotten, added ones tracked, and
    /// every runner falls due at once.
    pub fn set_config(&mut self, config: Arc<Config>) {
        let names: Vec<String> = config.runners.iter().map(|r| r.name.clone()).collect();
        let named: HashSet<&str> = names.iter().map(String::as_str).collect();
        self.runners.retain(|name, _| {
            let keep = named.contains(name.as_str());
            if !keep {
                info!(runner = %name, "runner removed from the desired-state file; forgetting it");
                self.ctx.metrics.forget_runner(name);
            }
            keep
        });
        self.ctx.board.retain(&names);
        let now = Instant::now();
        for name in &names {
            self.runners
                .entry(name.clone())
                .or_insert_with(|| Box::new(Tracked::new(now)))
                .due = now;
        }
        self.health.set_interval(config.controller.sync_interval);
        self.config = config;
    }

    async fn pass(&mut self, names: &[String]) -> Vec<(String, Decision)> {
        // Runners observed together are requeued from the same instant, so that they fall due
        // together again and the next observation stays one batch (docs/operations.md); requeueing
        // each from the moment its own reconcile finished would split the fleet into more and more
        // batches, each making the same describe calls for fewer runners.
        let started = Instant::now();
        self.take_standing();
        let config = Arc::clone(&self.config);
        // Positions in the file by name: a pass over 10,000 runners must not search the file
        // once per runner.
        let position: HashMap<&str, usize> = config
            .runners
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.as_str(), i))
            .collect();
        let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
        let specs: Vec<&RunnerSpec> = config
            .runners
            .iter()
            .filter(|r| wanted.contains(r.name.as_str()))
            .collect();
        let (full, light): (Vec<&RunnerSpec>, Vec<&RunnerSpec>) = specs.iter().partition(|s| {
            self.runners
                .get(&s.name)
                .is_none_or(|t| t.state.detail() == Detail::Full)
        });
        // Observed and reconciled a chunk at a time, so that a pass holds the observations of a
        // chunk of runners at once rather than of the whole fleet (at 10,000 runners that peak
        // stayed in the heap as some 30 MiB of free memory).
        let chunks = full
            .chunks(OBSERVE_CHUNK)
            .map(|c| (c, Detail::Full))
            .chain(light.chunks(OBSERVE_CHUNK).map(|c| (c, Detail::Light)));
        let mut decisions = HashMap::with_capacity(specs.len());
        for (batch, detail) in chunks {
            if detail == Detail::Light {
                // A sweep of the runners at rest can take a minute under the API budget; runners
                // mid-deployment that fell due meanwhile are looked at between its chunks, on
                // their own cadence, rather than after it.
                let now = Instant::now();
                let fallen_due: Vec<&RunnerSpec> = config
                    .runners
                    .iter()
                    .filter(|r| {
                        self.runners
                            .get(&r.name)
                            .is_some_and(|t| t.due <= now && t.state.detail() == Detail::Full)
                    })
                    .collect();
                self.batch(
                    &config,
                    &fallen_due,
                    Detail::Full,
                    &position,
                    now,
                    &mut decisions,
                )
                .await;
            }
            self.batch(&config, batch, detail, &position, started, &mut decisions)
                .await;
        }
        // In the file's order. Taken out by name rather than sorted: a decision is large, and
        // a sort moved every one of them several times through a scratch buffer of the fleet's
        // size (a fifteenth of a steady pass's CPU at 1,000 runners).
        let mut ordered = Vec::with_capacity(decisions.len());
        for spec in &config.runners {
            if decisions.is_empty() {
                break;
            }
            ordered.extend(decisions.remove_entry(&spec.name));
        }
        self.health.mark_tick(self.ctx.clock.now());
        ordered
    }

    /// Observes `batch` at once and reconciles each of its runners, requeued from `started`.
    /// A runner's latest decision replaces an earlier one of the same pass.
    async fn batch(
        &mut self,
        config: &Arc<Config>,
        batch: &[&RunnerSpec],
        detail: Detail,
        position: &HashMap<&str, usize>,
        started: Instant,
        decisions: &mut HashMap<String, Decision>,
    ) {
        let work = match observe_batch(self.ctx.cloud.as_ref(), batch, detail).await {
            Ok(observations) => self.take_tracked(batch, observations, position, started),
            Err(e) => {
                for spec in batch {
                    self.observe_failed(spec, &e);
                }
                return;
            }
        };
        let ctx = &self.ctx;
        let runners = &config.runners;
        let intervals = (
            config.controller.transition_interval,
            config.controller.sync_interval,
        );
        let mut reconciled = futures::stream::iter(work)
            .map(|(i, obs, tracked)| {
                reconcile_tracked(ctx, &runners[i], obs, tracked, intervals, started)
            })
            .buffer_unordered(CONCURRENCY);
        while let Some((name, decision, tracked)) = reconciled.next().await {
            match self.runners.get_mut(&name) {
                Some(slot) => *slot = tracked,
                None => {
                    self.runners.insert(name.clone(), tracked);
                }
            }
            decisions.insert(name, decision);
        }
    }

    /// The runners' observations paired with their state, taken out of `runners` for the
    /// reconcile (and put back after it) in place: a key made anew every pass would be a
    /// long-lived allocation among the pass's transient ones, which keeps the heap fragmented.
    /// Indices into the file's runners rather than references: the reconcile futures must be
    /// `Send` for every lifetime, which borrowed tuples defeat.
    fn take_tracked(
        &mut self,
        batch: &[&RunnerSpec],
        observations: Vec<RunnerObservation>,
        position: &HashMap<&str, usize>,
        started: Instant,
    ) -> Vec<(usize, RunnerObservation, Box<Tracked>)> {
        let mut work = Vec::with_capacity(batch.len());
        for (spec, obs) in batch.iter().zip(observations) {
            let index = position.get(spec.name.as_str()).copied();
            let tracked = self
                .runners
                .get_mut(&spec.name)
                .map(|t| std::mem::replace(t, Box::new(Tracked::new(started))));
            if let (Some(i), Some(tracked)) = (index, tracked) {
                work.push((i, obs, tracked));
            }
        }
        work
    }

    /// Whether this pass may act, and in which term. A new leader starts from a fresh
    /// observation, like a restart (docs/high-availability.md): what it remembered while another
    /// replica may have been acting is not its own story.
    fn take_standing(&mut self) {
        let standing = self.ctx.cloud.standing();
        if let Standing::Leader { term } = standing
            && self.term != Some(term)
        {
            if self.term.is_some() {
                info!(
                    term,
                    "leading again: starting from the world, as after a restart"
                );
            }
            for tracked in self.runners.values_mut() {
                tracked.state = RunnerState::default();
            }
            self.term = Some(term);
        }
        self.ctx.standing = standing;
    }

    fn observe_failed(&mut self, spec: &RunnerSpec, e: &CloudError) {
        self.ctx.metrics.reconcile_error(&spec.name, e.kind());
        warn!(runner = %spec.name, "observation failed: {e}");
        self.ctx.board.record_event(
            &spec.name,
            Event::warning(self.ctx.clock.now(), "ObservationFailed", e.to_string()),
        );
        if let Some(tracked) = self.runners.get_mut(&spec.name) {
            let delay = tracked.next_backoff(&spec.name);
            tracked.due = Instant::now() + delay;
        }
    }
}

async fn reconcile_tracked<C: Cloud>(
    ctx: &Context<C>,
    spec: &RunnerSpec,
    obs: RunnerObservation,
    mut tracked: Box<Tracked>,
    intervals: (Duration, Duration),
    observed_at: Instant,
) -> (String, Decision, Box<Tracked>) {
    let result = reconcile(ctx, spec, obs, &mut tracked.state).await;
    let wake = result
        .decision
        .wake
        .and_then(|wake| Instant::now().checked_add(until(ctx.clock.now(), wake)));
    requeue(
        &mut tracked,
        &spec.name,
        &result,
        intervals,
        observed_at,
        wake,
    );
    (spec.name.clone(), result.decision, tracked)
}

/// The first look at a world settling after a step, and how the delay grows from look to look
/// up to the transition interval: an effect that lands within a second (a simulated cloud's
/// termination) is seen within a third of a second of it; one that takes minutes (AWS's) costs
/// about eight looks more than the cadence would.
const SETTLE_FIRST: Duration = Duration::from_millis(100);
const SETTLE_GROWTH: f64 = 1.5;

/// When the runner is observed next. Just stepped: at once, to take the next step or start the
/// next wait from the step's effect (unless it took the same step the time before: a world slow
/// to show a step's effect is looked at on the cadence, not hammered). Mid-deployment: every
/// transition interval; at rest: every sync interval; after an error: backed off. And at the
/// latest when the timed wait the decision is in ends (`wake`), so that a deployment takes its
/// waits and not the ticks rounding them up; observations within a wait keep their cadence. A
/// world settling after a step with no known end (instances booting or terminating) is looked at
/// after a delay growing from `SETTLE_FIRST` to the cadence.
fn requeue(
    tracked: &mut Tracked,
    runner: &str,
    result: &Reconciled,
    (transition, sync): (Duration, Duration),
    observed_at: Instant,
    wake: Option<Instant>,
) {
    if result.error.is_some() {
        tracked.last_applied = None;
        tracked.settling = None;
        tracked.due = observed_at + tracked.next_backoff(runner);
        return;
    }
    tracked.backoff = None;
    let settling = tracked.settling.take();
    let delay = match &result.applied {
        Some(step)
            if !tracked
                .last_applied
                .as_ref()
                .is_some_and(|l| repeats(l, step)) =>
        {
            tracked.settling = Some(SETTLE_FIRST);
            Duration::ZERO
        }
        Some(_) => transition,
        // Waiting on the cloud (instances booting or terminating) with no known end.
        None if result.decision.in_transition() && wake.is_none() => match settling {
            Some(delay) if delay < transition => {
                tracked.settling = Some(delay.mul_f64(SETTLE_GROWTH));
                delay
            }
            _ => transition,
        },
        None if result.decision.in_transition() => transition,
        None => sync,
    };
    tracked.last_applied = result.applied.clone();
    tracked.due = wake.map_or(observed_at + delay, |wake| wake.min(observed_at + delay));
}

/// The same kind of step on the same shard.
fn repeats(last: &Step, step: &Step) -> bool {
    last.name() == step.name() && last.shard() == step.shard()
}

/// From `now` to `wake` on the wall clock, as a delay for the loop's timer: rounded up to the
/// timer's millisecond, so that the pass it starts never reads a clock short of `wake`.
fn until(now: DateTime<Utc>, wake: DateTime<Utc>) -> Duration {
    let ahead = (wake - now).to_std().unwrap_or(Duration::ZERO);
    Duration::from_millis(u64::try_from(ahead.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
}

async fn observe_batch<C: Cloud>(
    cloud: &C,
    specs: &[&RunnerSpec],
    detail: Detail,
) -> Result<Vec<RunnerObservation>, CloudError> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    cloud.observe(specs, detail).await
}
