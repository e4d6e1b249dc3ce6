//! One seed: build the world its history starts from, run the real control loop (the one
//! `switchyard run` runs) on tokio's paused clock, play the history's events at their times,
//! and check every invariant at every change of the world.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchyard::clock::{Clock, TokioClock};
use switchyard::cloud::sim::{SimCloud, WorldSnapshot};
use switchyard::cloud::{Applied, Cloud, CloudError, Detail};
use switchyard::config::{self, Config};
use switchyard::controller::Controller;
use switchyard::core::{MarkState, RunnerObservation, RunnerSpec, Shard, Step};
use switchyard::telemetry::{Health, Metrics, StatusBoard};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::history::*;
use super::oracle::{Record, RunnerView};
use super::{Rng, TraceHash};

const ACCOUNT: &str = "123456789012";
const OTHER_ACCOUNT: &str = "210987654321";
/// How often the checker looks at the world between events, for what time alone changes.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How long traffic may stay on unhealthy targets, with a healthy shard available and the
/// runner not halted, before it counts as downtime the controller caused: a rollback takes two
/// steps, each possibly delayed by the capped backoff (30 s) after API faults.
const DOWNTIME_LIMIT: Duration = Duration::from_secs(150);
/// Trace lines kept for a failure report.
const TAIL: usize = 60;

pub fn replay_command(seed: u64) -> String {
    format!("SWITCHYARD_SEED={seed} cargo test --test simulation -- replay --nocapture")
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub calm: bool,
    /// The hash of every event, call and answer, in order.
    pub trace: u64,
    pub simulated: Duration,
    pub steps: u64,
    pub failure: Option<String>,
    pub kinds: Vec<&'static str>,
    /// ModifyRule calls made: switches of runners on listener rules.
    pub rule_switches: u64,
}

/// Runs one seed. `verbose` prints the whole trace as it happens.
pub fn run_seed(seed: u64, verbose: bool) -> Outcome {
    let history = History::generate(seed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    // Built inside the runtime: the clocks must read tokio's paused time.
    runtime.block_on(async { Driver::new(&history, verbose).run().await })
}

/// Everything the checker knows, shared by the probe (which sees every call) and the driver
/// (which plays the events).
struct Checker {
    calm: bool,
    /// The desired-state file in force.
    config: Arc<Config>,
    /// Per runner: bumped on every change of its desired shard or revision (invariant 6).
    epoch: BTreeMap<String, u32>,
    /// (runner, epoch, shard, revision) whose deployment failed in that epoch.
    failed: BTreeSet<(String, u32, Shard, Option<String>)>,
    /// The world as the current controller last observed it, per runner.
    observed: BTreeMap<String, Arc<WorldSnapshot>>,
    /// Runners whose record someone else wrote since the current controller started.
    foreign_writes: BTreeSet<String>,
    /// Runners of a calm history halted as docs/how-it-decides.md prescribes (traffic on an attempt
    /// the desired state left): a human must act, so liveness is not judged on them.
    exempt: BTreeSet<String>,
    /// The controller dies after this many more calls.
    crash_after: Option<u32>,
    dead: bool,
    rng: Rng,
    hash: TraceHash,
    tail: VecDeque<String>,
    verbose: bool,
    now: Box<dyn Fn() -> DateTime<Utc> + Send>,
    start: DateTime<Utc>,
    failure: Option<String>,
    steps: u64,
}

impl Checker {
    fn trace(&mut self, line: String) {
        let t = (self.now)() - self.start;
        let line = format!("{:>7.1}s {line}", t.num_milliseconds() as f64 / 1000.0);
        self.hash.add(&line);
        if self.verbose {
            println!("{line}");
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    fn breach(&mut self, what: String) {
        if self.failure.is_none() {
            self.trace(format!("BREACH {what}"));
            self.failure = Some(what);
        }
    }

    /// Counts one finished call towards a pending crash.
    fn after_call(&mut self) {
        match self.crash_after {
            Some(0) => {
                self.crash_after = None;
                self.dead = true;
                self.trace("controller crashes".into());
            }
            Some(n) => self.crash_after = Some(n - 1),
            None => {}
        }
    }

    /// Every check of one mutation the controller made, against the world just before and
    /// just after it (nothing else moves in between).
    fn on_apply(
        &mut self,
        spec: &RunnerSpec,
        step: &Step,
        pre: &WorldSnapshot,
        post: &WorldSnapshot,
        result: &Result<Applied, CloudError>,
    ) {
        self.steps += 1;
        let name = &spec.name;
        let shard = step.shard();
        self.trace(format!(
            "apply {name} {} {:?} -> {}",
            step.name(),
            shard,
            match result {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.kind().to_owned(),
            }
        ));
        if self.config.runner(name) != Some(spec) {
            return self.breach(format!(
                "{name}: mutated with a spec that is not the file in force"
            ));
        }
        if pre.account_id != ACCOUNT {
            return self.breach(format!(
                "invariant 8: {name}: {} in account {}",
                step.name(),
                pre.account_id
            ));
        }
        if spec.paused {
            return self.breach(format!("invariant 5: {name} is paused: {}", step.name()));
        }
        let before = RunnerView::of(pre, spec);
        let after = RunnerView::of(post, spec);
        if let Some(halt) = before.must_halt() {
            return self.breach(format!(
                "invariant 5: {name} must be halted ({halt}) but got {}",
                step.describe()
            ));
        }
        if let Some(problem) = step_breach(spec, step, &before) {
            return self.breach(format!("{name}: {} : {problem}", step.describe()));
        }
        if self.calm && matches!(step, Step::FailDeployment { .. }) {
            return self.breach(format!(
                "{name}: a calm history failed a deployment: {}",
                step.describe()
            ));
        }
        let epoch = self.epoch.get(name).copied().unwrap_or(0);
        if let Step::WriteMark { shard, mark } = step
            && self
                .failed
                .contains(&(name.clone(), epoch, *shard, mark.revision.clone()))
        {
            return self.breach(format!(
                "invariant 6: {name}: {shard} revision {:?} failed and is provisioned again \
                 without a change of the desired state",
                mark.revision
            ));
        }
        for s in Shard::ALL {
            let was = before.shards[s].mark.as_ref().map(|m| m.state);
            if let Some(mark) = &after.shards[s].mark
                && mark.state == MarkState::Failed
                && was != Some(MarkState::Failed)
            {
                self.failed
                    .insert((name.clone(), epoch, s, mark.revision.clone()));
            }
        }
        // A mark moves no traffic and no instance; it only says which capacity the attempt
        // is judged against from now on (docs/how-it-decides.md).
        let moves_nothing = matches!(step, Step::WriteMark { .. });
        if !moves_nothing && before.serving_ok() && !after.serving_ok() {
            return self.breach(format!(
                "zero downtime: {name}: {} took traffic off healthy targets",
                step.describe()
            ));
        }
        if matches!(step, Step::WriteRecord { .. })
            && after.record_version.unwrap_or(0) > before.record_version.unwrap_or(0) + 1
        {
            self.foreign_writes.insert(name.clone());
        }
    }
}

/// The per-step rules of docs/how-it-decides.md and docs/invariants.md, judged on the world right
/// before the step.
fn step_breach(spec: &RunnerSpec, step: &Step, w: &RunnerView) -> Option<String> {
    let active = w.active();
    match step {
        Step::WriteMark { shard, .. }
        | Step::ConfigureShard { shard, .. }
        | Step::AttachTargetGroup { shard } => {
            let s = &w.shards[*shard];
            if active == Some(*shard) || w.deployed(*shard) {
                return Some(format!(
                    "invariant 3: provisioning onto the active or a deployed shard {shard}"
                ));
            }
            let marked = w
                .own_mark(spec, *shard)
                .is_some_and(|m| m.state == MarkState::Provisioning);
            if !matches!(step, Step::WriteMark { .. }) && !marked {
                return Some(format!(
                    "docs/how-it-decides.md: provisioning {shard} without a durable mark for the desired state"
                ));
            }
            // Writing the mark again on our own in-flight attempt (one found past its
            // deadline without having been pursued starts afresh) is not provisioning onto
            // somebody else's shard.
            if s.healthy && !marked {
                return Some(format!(
                    "invariant 3: provisioning onto healthy {shard}, not deployed and not our \
                     own in-flight provision"
                ));
            }
            if let Step::ConfigureShard { capacity, .. } = step
                && s.in_listener
                && *capacity < s.desired
            {
                return Some(format!(
                    "invariant 4: serving {shard} scaled down from {} to {capacity}",
                    s.desired
                ));
            }
            None
        }
        Step::SwitchListener { to } => {
            let s = &w.shards[*to];
            (!s.healthy).then(|| {
                format!(
                    "invariant 1: traffic moved to {to} with {} of {} healthy targets \
                     (capacity {})",
                    s.healthy_targets, s.required, s.desired
                )
            })
        }
        // Serving: the listener's only target (docs/how-it-decides.md), or any target of it that
        // carries healthy capacity; an unhealthy shard that a hand-split listener also names is not
        // live traffic.
        Step::ScaleToZero { shard } => {
            let s = &w.shards[*shard];
            (active == Some(*shard) || w.serving == Some(*shard) || (s.in_listener && s.healthy))
                .then(|| format!("invariant 4: the active or serving shard {shard} scaled down"))
        }
        Step::WriteRecord { record, .. } => {
            if matches!(w.record, Record::Malformed(_)) {
                return Some("a malformed record overwritten".into());
            }
            if let Some(a) = record.active_shard
                && !(w.shards[a].healthy && w.serving == Some(a))
            {
                return Some(format!(
                    "invariant 2: {a} recorded active while not healthy and serving"
                ));
            }
            record
                .deployed_shards
                .iter()
                .find(|&&s| !w.deployed(s) && !w.shards[s].healthy)
                .map(|s| format!("invariant 2: unhealthy {s} added to deployed_shards"))
        }
        Step::FailDeployment { .. } | Step::DeleteMark { .. } => None,
    }
}

fn lock(checker: &Mutex<Checker>) -> MutexGuard<'_, Checker> {
    checker.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The cloud as one controller incarnation sees it: the simulated cloud, watched. Once its
/// controller has crashed, nothing it asks reaches the world any more.
struct Probe {
    sim: SimCloud,
    checker: Arc<Mutex<Checker>>,
}

impl Probe {
    fn gone(&self, operation: &'static str) -> Option<CloudError> {
        lock(&self.checker).dead.then(|| CloudError::Transient {
            service: "switchyard",
            operation,
            message: "the controller has crashed".into(),
        })
    }
}

impl Cloud for Probe {
    async fn account_id(&self) -> Result<String, CloudError> {
        if let Some(e) = self.gone("GetCallerIdentity") {
            return Err(e);
        }
        let result = self.sim.account_id().await;
        let mut c = lock(&self.checker);
        c.trace(format!("account -> {result:?}"));
        c.after_call();
        result
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        if let Some(e) = self.gone("observe") {
            return Err(e);
        }
        let result = self.sim.observe(runners, detail).await;
        let names: Vec<&str> = runners.iter().map(|r| r.name.as_str()).collect();
        let mut c = lock(&self.checker);
        c.trace(format!(
            "observe {names:?} {detail:?} -> {}",
            result.as_ref().map_or_else(|e| e.kind(), |_| "ok")
        ));
        if result.is_ok() {
            let world = Arc::new(self.sim.snapshot());
            for name in names {
                c.observed.insert(name.to_owned(), Arc::clone(&world));
            }
        }
        c.after_call();
        result
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        if let Some(e) = self.gone(step.name()) {
            return Err(e);
        }
        let pre = self.sim.snapshot();
        let result = self.sim.apply(runner, step).await;
        let post = self.sim.snapshot();
        let repeat = {
            let mut c = lock(&self.checker);
            c.on_apply(runner, step, &pre, &post, &result);
            // Invariant 7: the same step again (a retry after a crash or an unknown outcome)
            // changes nothing. The record is exempt: SSM counts every put as a version, and
            // the controller never repeats a write without a fresh observation.
            let took_effect = result.is_ok() || pre != post;
            took_effect
                && !matches!(step, Step::WriteRecord { .. })
                && self.sim.armed_faults() == 0
                && c.rng.chance(20)
        };
        let mut c = if repeat {
            let again = self.sim.apply(runner, step).await;
            let twice = self.sim.snapshot();
            let mut c = lock(&self.checker);
            c.trace(format!("repeat {} -> {}", step.name(), again.is_ok()));
            if twice != post {
                c.breach(format!(
                    "invariant 7: repeating {} changed the world",
                    step.describe()
                ));
            }
            c
        } else {
            lock(&self.checker)
        };
        c.after_call();
        result
    }
}

/// One controller process: its loop task and what it was handed.
struct Incarnation {
    updates: watch::Sender<Arc<Config>>,
    board: StatusBoard,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

struct Driver<'h> {
    history: &'h History,
    /// Every runner the history knows, in or out of the file.
    specs: Vec<RunnerSpec>,
    in_file: Vec<bool>,
    sim: SimCloud,
    clock: Arc<dyn Clock>,
    checker: Arc<Mutex<Checker>>,
    controller: Option<Incarnation>,
    restart_at: Option<Duration>,
    /// What a human saved before editing by hand, to put back later.
    saved_listener: BTreeMap<usize, Vec<String>>,
    saved_record: BTreeMap<usize, Option<String>>,
    downtime_since: BTreeMap<String, Duration>,
    origin: Instant,
}

impl<'h> Driver<'h> {
    fn new(history: &'h History, verbose: bool) -> Driver<'h> {
        let parsed =
            config::parse(&yaml(history), Path::new("simulation.yaml")).unwrap_or_else(|e| {
                panic!("seed {}: the generated file is invalid: {e}", history.seed)
            });
        let specs = parsed.runners.clone();
        let start = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .expect("a valid time")
            .with_timezone(&Utc);
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(start));
        let sim = SimCloud::new(&parsed.controller.simulated, &specs, Arc::clone(&clock));
        let in_file: Vec<bool> = history.runners.iter().map(|r| r.in_file).collect();
        let now = {
            let clock = Arc::clone(&clock);
            Box::new(move || clock.now())
        };
        let mut config = parsed;
        config.runners = filtered(&specs, &in_file);
        let checker = Checker {
            calm: history.calm,
            config: Arc::new(config),
            epoch: BTreeMap::new(),
            failed: BTreeSet::new(),
            observed: BTreeMap::new(),
            foreign_writes: BTreeSet::new(),
            exempt: BTreeSet::new(),
            crash_after: None,
            dead: false,
            rng: Rng::new(history.seed.rotate_left(17)),
            hash: TraceHash::default(),
            tail: VecDeque::new(),
            verbose,
            now,
            start,
            failure: None,
            steps: 0,
        };
        Driver {
            history,
            specs,
            in_file,
            sim,
            clock,
            checker: Arc::new(Mutex::new(checker)),
            controller: None,
            restart_at: Some(Duration::ZERO),
            saved_listener: BTreeMap::new(),
            saved_record: BTreeMap::new(),
            downtime_since: BTreeMap::new(),
            origin: Instant::now(),
        }
    }

    fn elapsed(&self) -> Duration {
        Instant::now() - self.origin
    }

    fn trace(&self, line: String) {
        lock(&self.checker).trace(line);
    }

    async fn run(mut self) -> Outcome {
        let events = &self.history.events;
        let mut next = 0;
        loop {
            let now = self.elapsed();
            // Checked before this moment's events: the board still shows what the controller
            // decided on the world as it was.
            self.check(now);
            while next < events.len() && events[next].0 <= now {
                self.play(&events[next].1);
                next += 1;
            }
            if lock(&self.checker).dead {
                self.stop().await;
            }
            if self.controller.is_none() && self.restart_at.is_some_and(|t| t <= now) {
                self.start();
            }
            if lock(&self.checker).failure.is_some() || now >= self.history.end {
                break;
            }
            let mut wake = (now + CHECK_EVERY).min(self.history.end);
            if let Some((t, _)) = events.get(next) {
                wake = wake.min(*t);
            }
            if let Some(t) = self.restart_at.filter(|_| self.controller.is_none()) {
                wake = wake.min(t.max(now));
            }
            tokio::time::sleep_until(self.origin + wake).await;
        }
        self.stop().await;
        let c = lock(&self.checker);
        let failure = c.failure.as_ref().map(|f| {
            let mut report = format!(
                "seed {} failed: {f}\n--- last events ---\n",
                self.history.seed
            );
            for line in &c.tail {
                let _ = writeln!(report, "{line}");
            }
            let _ = write!(report, "replay: {}", replay_command(self.history.seed));
            report
        });
        Outcome {
            seed: self.history.seed,
            calm: self.history.calm,
            trace: c.hash.0,
            simulated: self.elapsed(),
            steps: c.steps,
            failure,
            kinds: self.history.kinds().collect(),
            rule_switches: self
                .sim
                .calls()
                .get(&("elbv2", "ModifyRule"))
                .copied()
                .unwrap_or(0),
        }
    }

    fn start(&mut self) {
        {
            let mut c = lock(&self.checker);
            c.dead = false;
            c.crash_after = None;
            c.observed.clear();
            c.foreign_writes.clear();
            c.trace("controller starts".into());
        }
        self.restart_at = None;
        self.downtime_since.clear();
        let config = Arc::clone(&lock(&self.checker).config);
        let probe = Arc::new(Probe {
            sim: self.sim.clone(),
            checker: Arc::clone(&self.checker),
        });
        let board = StatusBoard::with_clock(Arc::clone(&self.clock));
        let controller = Controller::new(
            probe,
            Arc::clone(&self.clock),
            Arc::new(Metrics::new("simulation")),
            board.clone(),
            Health::with_clock(config.controller.sync_interval, Arc::clone(&self.clock)),
            Arc::clone(&config),
        );
        let (updates, rx) = watch::channel(config);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(controller.run(rx, cancel.clone()));
        self.controller = Some(Incarnation {
            updates,
            board,
            cancel,
            task,
        });
    }

    async fn stop(&mut self) {
        if let Some(incarnation) = self.controller.take() {
            incarnation.cancel.cancel();
            incarnation.task.abort();
            let _ = incarnation.task.await;
        }
    }

    /// A new desired-state file, as the file watcher would deliver it.
    fn publish(&mut self) {
        let config = {
            let mut c = lock(&self.checker);
            let mut config = (*c.config).clone();
            config.runners = filtered(&self.specs, &self.in_file);
            c.config = Arc::new(config);
            Arc::clone(&c.config)
        };
        if let Some(incarnation) = &self.controller {
            let _ = incarnation.updates.send(config);
        }
    }

    fn new_epoch(&self, runner: usize) {
        *lock(&self.checker)
            .epoch
            .entry(self.specs[runner].name.clone())
            .or_default() += 1;
    }

    fn asg(&self, runner: usize, shard: Shard) -> &str {
        &self.specs[runner].shards[shard].auto_scaling_group
    }

    fn tg(&self, runner: usize, shard: Shard) -> String {
        self.specs[runner].shards[shard].target_group_arn.clone()
    }

    fn play(&mut self, event: &Event) {
        self.trace(format!("event {event}"));
        match event {
            Event::Flip(r) => {
                self.specs[*r].active_shard = self.specs[*r].active_shard.other();
                self.new_epoch(*r);
                self.publish();
            }
            Event::Revision(r, revision) => {
                if self.specs[*r].revision.as_deref() != Some(*revision) {
                    self.specs[*r].revision = Some((*revision).to_owned());
                    self.new_epoch(*r);
                }
                self.publish();
            }
            Event::Pause(r, paused) => {
                self.specs[*r].paused = *paused;
                self.publish();
            }
            Event::Capacity(r, capacity) => {
                self.specs[*r].settings.capacity = *capacity;
                self.publish();
            }
            Event::ToggleInFile(r) => {
                self.in_file[*r] = !self.in_file[*r];
                if self.in_file[*r] {
                    self.sim.ensure_runner(&self.specs[*r]);
                }
                self.new_epoch(*r);
                self.publish();
            }
            Event::InstancesFail { runner, shard, all } => {
                let asg = self.asg(*runner, *shard).to_owned();
                if *all {
                    self.sim.set_instances_healthy(&asg, Some(false));
                } else if let Some(first) = self
                    .sim
                    .asg(&asg)
                    .and_then(|a| a.instances.first().cloned())
                {
                    self.sim.set_target_state(&first.id, Some("unhealthy"));
                }
            }
            Event::InstancesRecover { runner, shard } => {
                let asg = self.asg(*runner, *shard).to_owned();
                self.sim.set_instances_healthy(&asg, None);
                for i in self.sim.asg(&asg).map(|a| a.instances).unwrap_or_default() {
                    self.sim.set_target_state(&i.id, None);
                }
            }
            Event::Fault(rule) => self.sim.inject(rule.clone()),
            Event::Crash { after_calls, down } => {
                if self.controller.is_some() {
                    lock(&self.checker).crash_after = Some(*after_calls);
                    self.restart_at = Some(self.elapsed() + *down);
                }
            }
            Event::ListenerByHand { runner, to } => {
                let listener = self.specs[*runner].listener.clone();
                let current = self.sim.listener_targets(&listener).unwrap_or_default();
                self.saved_listener.entry(*runner).or_insert(current);
                let targets = match to {
                    Some(s) => vec![self.tg(*runner, *s)],
                    None => Shard::ALL.map(|s| self.tg(*runner, s)).to_vec(),
                };
                let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
                self.sim.set_listener_targets(&listener, &targets);
            }
            Event::ListenerRestored(runner) => {
                if let Some(saved) = self.saved_listener.remove(runner) {
                    let listener = self.specs[*runner].listener.clone();
                    let targets: Vec<&str> = saved.iter().map(String::as_str).collect();
                    self.sim.set_listener_targets(&listener, &targets);
                }
            }
            Event::RecordByHand { runner, edit } => {
                let parameter = self.specs[*runner].status_parameter.clone();
                let current = self.sim.parameter(&parameter).map(|(v, _)| v);
                self.saved_record.entry(*runner).or_insert(current);
                match edit {
                    RecordEdit::Valid { active, deployed } => {
                        let value = serde_json::json!({
                            "active_shard": active.map(Shard::as_str),
                            "deployment_ts": "2026-11-22T09:00:00Z",
                            "deployed_shards": deployed.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                        });
                        self.sim.put_parameter(&parameter, &value.to_string());
                    }
                    RecordEdit::Garbled(text) => {
                        self.sim.put_parameter(&parameter, text);
                    }
                    RecordEdit::Deleted => self.sim.delete_parameter(&parameter),
                }
                self.foreign_write(*runner);
            }
            Event::RecordRestored(runner) => {
                if let Some(saved) = self.saved_record.remove(runner) {
                    let parameter = self.specs[*runner].status_parameter.clone();
                    match saved {
                        Some(value) => {
                            self.sim.put_parameter(&parameter, &value);
                        }
                        None => self.sim.delete_parameter(&parameter),
                    }
                    self.foreign_write(*runner);
                }
            }
            Event::AsgDeleted { runner, shard } => {
                let asg = self.asg(*runner, *shard).to_owned();
                self.sim.delete_asg(&asg);
            }
            Event::ScaledByHand {
                runner,
                shard,
                capacity,
            } => {
                let asg = self.asg(*runner, *shard).to_owned();
                self.sim.set_desired_capacity(&asg, *capacity);
            }
        }
    }

    fn foreign_write(&self, runner: usize) {
        lock(&self.checker)
            .foreign_writes
            .insert(self.specs[runner].name.clone());
    }

    /// What time alone can break: honest halts, downtime, liveness.
    fn check(&mut self, now: Duration) {
        let Some(incarnation) = &self.controller else {
            return;
        };
        let world = self.sim.snapshot();
        let mut c = lock(&self.checker);
        let config = Arc::clone(&c.config);
        // A runner taken out of the file is nobody's to serve: its downtime clock starts again
        // when it comes back.
        self.downtime_since
            .retain(|name, _| config.runners.iter().any(|r| r.name == *name));
        let deadline = self
            .history
            .events
            .last()
            .map_or(Duration::ZERO, |(t, _)| *t)
            + liveness_bound();
        for spec in &config.runners {
            let status = incarnation.board.runner(&spec.name);
            let halt = status.as_ref().and_then(|s| s.halted.as_ref());
            if let Some(halt) = halt {
                let honest = c.observed.get(&spec.name).is_none_or(|seen| {
                    let refused_account =
                        halt.reason == "InvariantRefused" && seen.account_id != ACCOUNT;
                    // A launch template version that does not exist is a fact of the world the
                    // observation cannot show; the halt stays reported until the next
                    // successful observation, even when the file already names another one.
                    let missing_template = halt.reason == "ResourceMissing"
                        && halt
                            .message
                            .contains(&format!("launch template version {} ", BAD_REVISIONS[2]));
                    refused_account
                        || missing_template
                        || RunnerView::of(seen, spec).honest(
                            &halt.reason,
                            spec,
                            c.foreign_writes.contains(&spec.name),
                        )
                });
                if !honest {
                    return c.breach(format!(
                        "honest halts: {} halted {} ({}), not true of the world it observed",
                        spec.name, halt.reason, halt.message
                    ));
                }
                // docs/how-it-decides.md: an old mark explains no live traffic. With no shard
                // recorded active (a first deployment the desired state left), traffic on the left
                // attempt halts InactiveShardHealthyNotDeployed.
                let abandoned_serving = matches!(
                    halt.reason.as_str(),
                    "TrafficMismatch" | "InactiveShardHealthyNotDeployed"
                ) && c.observed.get(&spec.name).is_some_and(|seen| {
                    let view = RunnerView::of(seen, spec);
                    view.serving.is_some_and(|s| {
                        view.shards[s].mark.is_some() && view.own_mark(spec, s).is_none()
                    })
                });
                if abandoned_serving {
                    c.exempt.insert(spec.name.clone());
                } else if c.calm {
                    return c.breach(format!(
                        "{} halted {} in a calm history: {}",
                        spec.name, halt.reason, halt.message
                    ));
                }
            }
            let view = RunnerView::of(&world, spec);
            let down = halt.is_none()
                && !spec.paused
                && view.missing.is_empty()
                && view.active().is_some()
                && view.some_shard_healthy()
                && !view.serving_ok();
            if down {
                let since = *self.downtime_since.entry(spec.name.clone()).or_insert(now);
                if now - since > DOWNTIME_LIMIT {
                    return c.breach(format!(
                        "zero downtime: {} not halted, a shard healthy, yet the listener has \
                         forwarded to unhealthy targets {:?} for {:?}",
                        spec.name,
                        view.forward,
                        now - since
                    ));
                }
            } else {
                self.downtime_since.remove(&spec.name);
            }
            // Known, reported: a first deployment onto the listener's shard whose attempt the
            // desired state left waits for a human (see TESTING.md, "Open findings").
            let stranded = status.as_ref().is_some_and(|s| {
                s.next
                    .contains("serving capacity that is not this deployment's")
            });
            if c.calm && now >= deadline && !c.exempt.contains(&spec.name) && !stranded {
                let converged = view.converged(spec).and_then(|()| match status {
                    Some(s) if s.phase == "Converged" => Ok(()),
                    other => Err(format!("phase {:?}", other.map(|s| s.phase))),
                });
                if let Err(why) = converged {
                    return c.breach(format!(
                        "liveness: {} not converged {:?} after the last edit: {why}",
                        spec.name,
                        liveness_bound()
                    ));
                }
            }
        }
    }
}

fn filtered(specs: &[RunnerSpec], in_file: &[bool]) -> Vec<RunnerSpec> {
    specs
        .iter()
        .zip(in_file)
        .filter(|(_, keep)| **keep)
        .map(|(s, _)| s.clone())
        .collect()
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// The desired-state file and the simulated world the history starts from.
fn yaml(h: &History) -> String {
    let mut world = String::new();
    let mut runners = String::new();
    for r in &h.runners {
        let blue = if r.live { r.capacity } else { 0 };
        let record = if r.live {
            "        record: '{\"active_shard\":\"blue\",\"deployment_ts\":\"2026-11-22T09:00:00Z\",\"deployed_shards\":[\"blue\"]}'\n"
        } else {
            ""
        };
        let _ = write!(
            world,
            "      {name}:\n{record}        serving: {serving}\n        healthCheckType: {hc}\n        shards:\n          blue: {{ capacity: {blue}, revision: \"1\" }}\n",
            name = r.name,
            serving = if r.live { Shard::Blue } else { r.serving },
            hc = if r.elb_health_checks { "ELB" } else { "EC2" },
        );
        let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012";
        let _ = write!(
            runners,
            "  - name: {name}\n    activeShard: {desired}\n    revision: \"{revision}\"\n    paused: {paused}\n    capacity: {capacity}\n    minHealthyPercent: {mhp}\n    {listener}\n    shards:\n      blue: {{ autoScalingGroup: {name}-blue, targetGroupArn: {arn}:targetgroup/{name}-blue/1 }}\n      green: {{ autoScalingGroup: {name}-green, targetGroupArn: {arn}:targetgroup/{name}-green/2 }}\n",
            name = r.name,
            listener = if r.on_rule {
                format!(
                    "listenerRuleArn: {arn}:listener-rule/app/lb-shared/1/80/{}",
                    r.name
                )
            } else {
                format!("listenerArn: {arn}:listener/app/lb-{}/1", r.name)
            },
            desired = r.desired,
            revision = r.revision,
            paused = r.paused,
            capacity = r.capacity,
            mhp = r.min_healthy_percent,
        );
    }
    let [healthy_never, fails, missing] = BAD_REVISIONS;
    format!(
        r#"controller:
  cloud: simulated
  aws:
    region: us-east-1
    expectedAccountId: "{ACCOUNT}"
  simulated:
    accountId: "{account}"
    bootTime: {boot}
    terminationTime: {termination}
    revisions:
      "4": {{ bootTime: {slow} }}
      "{healthy_never}": {{ healthy: false }}
      "{fails}": {{ failsAfter: 40s }}
      "{missing}": {{ exists: false }}
    world:
{world}  listen: 127.0.0.1:0
  syncInterval: {sync}
  transitionInterval: {transition}
defaults:
  healthCheckGracePeriod: {grace}
  stabilityDuration: {stability}
  postSwitchCheck: {post}
  drainDelay: {drain}
  progressDeadline: {deadline}
runners:
{runners}"#,
        account = if h.wrong_account {
            OTHER_ACCOUNT
        } else {
            ACCOUNT
        },
        boot = secs(BOOT),
        termination = secs(TERMINATION),
        slow = secs(SLOW_BOOT),
        sync = secs(SYNC_INTERVAL),
        transition = secs(TRANSITION_INTERVAL),
        grace = secs(GRACE),
        stability = secs(STABILITY),
        post = secs(POST_SWITCH),
        drain = secs(DRAIN),
        deadline = secs(PROGRESS_DEADLINE),
    )
}
