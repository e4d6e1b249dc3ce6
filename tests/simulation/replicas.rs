//! Deterministic simulation with two replicas (docs/high-availability.md): two real control loops,
//! each behind its own lease gate and elector, against one simulated world and its DynamoDB lease
//! table, while the desired state keeps changing and the replicas are paused (their tasks frozen,
//! then resumed), frozen between the gate and the call, killed, cut off from DynamoDB only, or
//! stopped with SIGTERM. The checker reads the lease table itself at the moment each mutation
//! lands: invariant 9 holds when the replica that sent it is the holder named there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchyard::clock::{Clock, TokioClock};
use switchyard::cloud::sim::{Fault, FaultRule, SimCloud, SimLeaseStore};
use switchyard::cloud::{Applied, Cloud, CloudError, Detail};
use switchyard::config::{self, Config};
use switchyard::controller::Controller;
use switchyard::core::{RunnerObservation, RunnerSpec, Step};
use switchyard::lease::{
    Claimant, Elector, LeaderGate, Leadership, LeaseItem, LeaseStore, LeaseWrite, Machine, Mode,
    NoLeadershipObserver, StoreError, Timing,
};
use switchyard::telemetry::{Health, Metrics, StatusBoard};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::oracle::{AttemptCapacities, RunnerView};
use super::{Rng, TraceHash};

const TABLE: &str = "switchyard-leases";
const LEASE: &str = "simulation";
const TIMING: Timing = Timing {
    lease_duration: Duration::from_secs(15),
    renew_interval: Duration::from_secs(5),
};
const RUNNERS: usize = 2;
const REPLICAS: usize = 2;
/// Events happen in this window; then the world is left alone to converge.
const ACTIVE: Duration = Duration::from_secs(900);
const QUIET: Duration = Duration::from_secs(420);

pub fn replicas_replay_command(seed: u64) -> String {
    format!("SWITCHYARD_SEED={seed} cargo test --test simulation -- replicas_replay --nocapture")
}

#[derive(Debug, Clone)]
enum Event {
    /// The desired shard of a runner flips (a new deployment).
    Flip(usize),
    /// A new revision for a runner (a deployment onto the other shard too).
    Revision(usize, &'static str),
    /// The replica's tasks are frozen, then resumed.
    Pause(usize, Duration),
    /// The replica's next mutation is held between the gate's check and the call.
    FreezeMidCall(usize, Duration),
    /// SIGKILL; a new process starts `down` later.
    Kill(usize, Duration),
    /// SIGTERM: it releases the lease; a new process starts `down` later.
    Terminate(usize, Duration),
    /// Its DynamoDB calls fail (throttled or timed out), nothing else does.
    CutOff(usize, Duration),
    /// A fault on the shared lease table's next write, whoever makes it.
    LeaseFault(Fault),
}

struct History {
    seed: u64,
    events: Vec<(Duration, Event)>,
}

impl History {
    fn generate(seed: u64) -> History {
        let mut rng = Rng::new(seed ^ 0x1ea5_e000);
        let mut events = Vec::new();
        let mut t = Duration::from_secs(rng.range(5, 60));
        while t < ACTIVE {
            let r = rng.below(REPLICAS as u64) as usize;
            let event = match rng.weighted(&[6, 3, 3, 2, 3, 2, 3, 2]) {
                0 => Event::Flip(rng.below(RUNNERS as u64) as usize),
                1 => Event::Revision(rng.below(RUNNERS as u64) as usize, rng.pick(&["1", "2"])),
                2 => Event::Pause(r, Duration::from_secs(rng.range(1, 45))),
                3 => Event::FreezeMidCall(r, Duration::from_secs(rng.range(1, 40))),
                4 => Event::Kill(r, Duration::from_secs(rng.range(0, 60))),
                5 => Event::Terminate(r, Duration::from_secs(rng.range(0, 30))),
                6 => Event::CutOff(r, Duration::from_secs(rng.range(2, 40))),
                _ => Event::LeaseFault(rng.pick(&[
                    Fault::LostResponse,
                    Fault::Timeout,
                    Fault::Throttled,
                    Fault::Transient,
                ])),
            };
            events.push((t, event));
            t += Duration::from_secs(rng.range(5, 90));
        }
        History { seed, events }
    }
}

// ---------------------------------------------------------------------------------------------
// What the checker sees.

struct Checker {
    /// The desired-state file in force.
    config: Arc<Config>,
    /// Per runner: bumped on every change of its desired state.
    epoch: BTreeMap<String, u32>,
    /// (runner, epoch) -> the attempts (mark ids) provisioned in it.
    attempts: BTreeMap<(String, u32), BTreeSet<String>>,
    /// (runner, epoch) whose deployment failed: liveness is not judged on it (a deployment
    /// interrupted by many leader changes may run past its progress deadline, as it should).
    failed: BTreeSet<(String, u32)>,
    hash: TraceHash,
    tail: Vec<String>,
    verbose: bool,
    start: DateTime<Utc>,
    now: Box<dyn Fn() -> DateTime<Utc> + Send>,
    failure: Option<String>,
    mutations: u64,
    takeovers: u64,
    /// Runners whose end state liveness did not judge (failed or halted for a human).
    exempt: u64,
}

impl Checker {
    fn trace(&mut self, line: String) {
        let t = (self.now)() - self.start;
        let line = format!("{:>7.1}s {line}", t.num_milliseconds() as f64 / 1000.0);
        self.hash.add(&line);
        if self.verbose {
            println!("{line}");
        }
        self.tail.push(line);
        if self.tail.len() > 80 {
            self.tail.remove(0);
        }
    }

    fn breach(&mut self, what: String) {
        if self.failure.is_none() {
            self.trace(format!("BREACH {what}"));
            self.failure = Some(what);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Stops a replica's tasks from being polled while frozen, as SIGSTOP stops a process.
#[derive(Default)]
struct Freeze {
    frozen: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Freeze {
    fn set(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
        if !frozen {
            for w in lock(&self.wakers).drain(..) {
                w.wake();
            }
        }
    }
}

/// A task that is not polled while its process is frozen.
struct Frozen<F> {
    inner: Pin<Box<F>>,
    freeze: Arc<Freeze>,
}

impl<F: Future> Future for Frozen<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.freeze.frozen.load(Ordering::SeqCst) {
            lock(&self.freeze.wakers).push(cx.waker().clone());
            return Poll::Pending;
        }
        self.inner.as_mut().poll(cx)
    }
}

fn frozen<F: Future>(f: F, freeze: &Arc<Freeze>) -> Frozen<F> {
    Frozen {
        inner: Box::pin(f),
        freeze: Arc::clone(freeze),
    }
}

/// The world as one replica reaches it, below its lease gate.
struct Probe {
    sim: SimCloud,
    checker: Arc<Mutex<Checker>>,
    me: Claimant,
    /// The next mutation waits this long after the gate let it through.
    hold_next: Mutex<Option<Duration>>,
}

impl Cloud for Probe {
    async fn account_id(&self) -> Result<String, CloudError> {
        self.sim.account_id().await
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        self.sim.observe(runners, detail).await
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        // The desired state the step was decided for, before any hold lets the file move on.
        let epoch = lock(&self.checker)
            .epoch
            .get(&runner.name)
            .copied()
            .unwrap_or(0);
        let hold = lock(&self.hold_next).take();
        if let Some(hold) = hold {
            lock(&self.checker).trace(format!(
                "{} frozen for {hold:?} between the gate and {}",
                self.me.identity,
                step.name()
            ));
            tokio::time::sleep(hold).await;
        }
        let holder = self.sim.lease(TABLE, LEASE).and_then(|i| i.holder);
        let pre = self.sim.snapshot();
        let result = self.sim.apply(runner, step).await;
        let landed = result.is_ok() || self.sim.snapshot() != pre;
        let mut c = lock(&self.checker);
        c.mutations += 1;
        c.trace(format!(
            "{} apply {} {} {:?} -> {}",
            self.me.identity,
            runner.name,
            step.name(),
            step.shard(),
            match &result {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            }
        ));
        if landed && !holder.as_ref().is_some_and(|h| h.is(&self.me)) {
            c.breach(format!(
                "invariant 9: {} {} landed from {} while the lease names {}",
                runner.name,
                step.describe(),
                self.me.identity,
                holder.map_or("nobody".to_owned(), |h| h.identity)
            ));
        }
        if landed && matches!(step, Step::FailDeployment { .. }) {
            c.failed.insert((runner.name.clone(), epoch));
        }
        if landed && let Step::WriteMark { mark, .. } = step {
            let ids = c.attempts.entry((runner.name.clone(), epoch)).or_default();
            ids.insert(mark.id.clone());
            if ids.len() > 1 {
                let ids = format!("{ids:?}");
                c.breach(format!(
                    "invariant 6: {} got a second attempt {ids} for one desired state: a leader \
                     change added an attempt",
                    runner.name
                ));
            }
        }
        result
    }
}

/// A replica's lease calls, which the driver can cut off (DynamoDB unreachable from it alone).
struct Reach {
    store: SimLeaseStore,
    cut: Arc<AtomicBool>,
    /// Timed out rather than refused, when cut off.
    silent: bool,
}

impl Reach {
    fn refused(&self, operation: &'static str) -> StoreError {
        if self.silent {
            StoreError::Unknown { operation }
        } else {
            StoreError::Unavailable {
                operation,
                message: "throttled: cut off".into(),
            }
        }
    }
}

impl LeaseStore for Reach {
    async fn read(&self, lease: &str) -> Result<Option<LeaseItem>, StoreError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(self.refused("GetItem"));
        }
        self.store.read(lease).await
    }

    async fn write(
        &self,
        lease: &str,
        me: &Claimant,
        lease_duration: Duration,
        write: &LeaseWrite,
    ) -> Result<LeaseItem, StoreError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(self.refused(write.operation()));
        }
        self.store.write(lease, me, lease_duration, write).await
    }
}

/// One process of one replica.
struct Process {
    me: Claimant,
    leadership: Leadership,
    updates: watch::Sender<Arc<Config>>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    freeze: Arc<Freeze>,
    cut: Arc<AtomicBool>,
    probe: Arc<LeaderGate<Probe>>,
    board: StatusBoard,
}

struct Slot {
    process: Option<Process>,
    generation: u32,
    restart_at: Option<Duration>,
}

struct Driver {
    history: History,
    specs: Vec<RunnerSpec>,
    sim: SimCloud,
    clock: Arc<dyn Clock>,
    checker: Arc<Mutex<Checker>>,
    slots: Vec<Slot>,
    origin: Instant,
    /// When each replica's pause or cut-off ends.
    thaw_at: Vec<Option<Duration>>,
    reconnect_at: Vec<Option<Duration>>,
    rng: Rng,
    leader_seen: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReplicasOutcome {
    pub trace: u64,
    pub mutations: u64,
    pub takeovers: u64,
    pub exempt: u64,
    pub failure: Option<String>,
}

/// Runs one seed of two replicas. `verbose` prints the whole trace.
pub fn run_replicas_seed(seed: u64, verbose: bool) -> ReplicasOutcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async { Driver::new(History::generate(seed), verbose).run().await })
}

fn file() -> String {
    let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012";
    let mut world = String::new();
    let mut runners = String::new();
    for i in 0..RUNNERS {
        let _ = write!(
            world,
            "      r{i}:\n        record: '{{\"active_shard\":\"blue\",\"deployment_ts\":\"2026-11-22T09:00:00Z\",\"deployed_shards\":[\"blue\"]}}'\n        serving: blue\n        healthCheckType: ELB\n        shards:\n          blue: {{ capacity: 2, revision: \"1\" }}\n"
        );
        // Every other runner switches through a host-header rule of one shared listener, so
        // that the replicas' ModifyRule calls pass through the lease gate too.
        let listener = if i % 2 == 1 {
            format!("listenerRuleArn: {arn}:listener-rule/app/lb-shared/1/80/r{i}")
        } else {
            format!("listenerArn: {arn}:listener/app/lb-r{i}/1")
        };
        let _ = write!(
            runners,
            "  - name: r{i}\n    activeShard: blue\n    revision: \"1\"\n    {listener}\n    shards:\n      blue: {{ autoScalingGroup: r{i}-blue, targetGroupArn: {arn}:targetgroup/r{i}-blue/1 }}\n      green: {{ autoScalingGroup: r{i}-green, targetGroupArn: {arn}:targetgroup/r{i}-green/2 }}\n"
        );
    }
    format!(
        r#"controller:
  cloud: simulated
  aws:
    region: us-east-1
    expectedAccountId: "123456789012"
  simulated:
    accountId: "123456789012"
    bootTime: 5s
    terminationTime: 2s
    world:
{world}  listen: 127.0.0.1:0
  syncInterval: 30s
  transitionInterval: 2s
defaults:
  capacity: 2
  healthCheckGracePeriod: 10s
  stabilityDuration: 20s
  postSwitchCheck: 20s
  drainDelay: 10s
  progressDeadline: 180s
runners:
{runners}"#
    )
}

impl Driver {
    fn new(history: History, verbose: bool) -> Driver {
        let config = config::parse(&file(), Path::new("replicas.yaml"))
            .unwrap_or_else(|e| panic!("the replicas' file is invalid: {e}"));
        let start = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .expect("a valid time")
            .with_timezone(&Utc);
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(start));
        let sim = SimCloud::new(
            &config.controller.simulated,
            &config.runners,
            Arc::clone(&clock),
        );
        sim.create_lease_table(TABLE);
        let now = {
            let clock = Arc::clone(&clock);
            Box::new(move || clock.now())
        };
        let rng = Rng::new(history.seed.rotate_left(29));
        Driver {
            specs: config.runners.clone(),
            checker: Arc::new(Mutex::new(Checker {
                config: Arc::new(config),
                epoch: BTreeMap::new(),
                attempts: BTreeMap::new(),
                failed: BTreeSet::new(),
                hash: TraceHash::default(),
                tail: Vec::new(),
                verbose,
                start,
                now,
                failure: None,
                mutations: 0,
                takeovers: 0,
                exempt: 0,
            })),
            history,
            sim,
            clock,
            slots: (0..REPLICAS)
                .map(|_| Slot {
                    process: None,
                    generation: 0,
                    restart_at: Some(Duration::ZERO),
                })
                .collect(),
            origin: Instant::now(),
            thaw_at: vec![None; REPLICAS],
            reconnect_at: vec![None; REPLICAS],
            rng,
            leader_seen: None,
        }
    }

    fn elapsed(&self) -> Duration {
        Instant::now() - self.origin
    }

    fn trace(&self, line: String) {
        lock(&self.checker).trace(line);
    }

    async fn run(mut self) -> ReplicasOutcome {
        let end = ACTIVE + QUIET;
        let mut next = 0;
        loop {
            let now = self.elapsed();
            while next < self.history.events.len() && self.history.events[next].0 <= now {
                let event = self.history.events[next].1.clone();
                self.play(&event, now);
                next += 1;
            }
            self.timers(now);
            self.watch_leader();
            if lock(&self.checker).failure.is_some() || now >= end {
                break;
            }
            let mut wake = (now + Duration::from_secs(1)).min(end);
            if let Some((t, _)) = self.history.events.get(next) {
                wake = wake.min(*t);
            }
            tokio::time::sleep_until(self.origin + wake).await;
        }
        self.converged();
        for i in 0..REPLICAS {
            self.kill(i);
        }
        let c = lock(&self.checker);
        let failure = c.failure.as_ref().map(|f| {
            let mut report = format!(
                "replicas seed {} failed: {f}\n--- last events ---\n",
                self.history.seed
            );
            for line in &c.tail {
                let _ = writeln!(report, "{line}");
            }
            let _ = write!(
                report,
                "replay: {}",
                replicas_replay_command(self.history.seed)
            );
            report
        });
        ReplicasOutcome {
            trace: c.hash.0,
            mutations: c.mutations,
            takeovers: c.takeovers,
            exempt: c.exempt,
            failure,
        }
    }

    /// Restarts, thaws and reconnections that fall due.
    fn timers(&mut self, now: Duration) {
        for i in 0..REPLICAS {
            if self.slots[i].process.is_none() && self.slots[i].restart_at.is_some_and(|t| t <= now)
            {
                self.start(i);
            }
            if self.thaw_at[i].is_some_and(|t| t <= now) {
                self.thaw_at[i] = None;
                if let Some(p) = &self.slots[i].process {
                    p.freeze.set(false);
                    self.trace(format!("{} resumes", p.me.identity));
                }
            }
            if self.reconnect_at[i].is_some_and(|t| t <= now) {
                self.reconnect_at[i] = None;
                if let Some(p) = &self.slots[i].process {
                    p.cut.store(false, Ordering::SeqCst);
                    self.trace(format!("{} reaches DynamoDB again", p.me.identity));
                }
            }
        }
    }

    /// Traces changes of the lease holder, as the table says.
    fn watch_leader(&mut self) {
        let holder = self
            .sim
            .lease(TABLE, LEASE)
            .and_then(|i| i.holder)
            .map(|h| h.identity);
        if holder != self.leader_seen {
            let mut c = lock(&self.checker);
            if holder.is_some() {
                c.takeovers += 1;
            }
            c.trace(format!("the lease names {holder:?}"));
            drop(c);
            self.leader_seen = holder;
        }
    }

    fn start(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        slot.generation += 1;
        slot.restart_at = None;
        let me = Claimant::new(
            format!("replica-{i}.{}", slot.generation),
            format!("token-{i}-{}", slot.generation),
        );
        let config = Arc::clone(&lock(&self.checker).config);
        let leadership = Leadership::elected(
            Machine::new(me.clone(), Mode::Daemon, TIMING, Instant::now()),
            LEASE,
            Arc::new(NoLeadershipObserver),
        );
        let probe = Arc::new(LeaderGate::new(
            Probe {
                sim: self.sim.clone(),
                checker: Arc::clone(&self.checker),
                me: me.clone(),
                hold_next: Mutex::new(None),
            },
            leadership.clone(),
        ));
        let board = StatusBoard::with_clock(Arc::clone(&self.clock));
        let controller = Controller::new(
            Arc::clone(&probe),
            Arc::clone(&self.clock),
            Arc::new(Metrics::new("simulation")),
            board.clone(),
            Health::with_clock(config.controller.sync_interval, Arc::clone(&self.clock)),
            Arc::clone(&config),
        );
        let cut = Arc::new(AtomicBool::new(false));
        let silent = self.rng.chance(50);
        let elector = Elector::new(
            leadership.clone(),
            Reach {
                store: self.sim.lease_store(TABLE),
                cut: Arc::clone(&cut),
                silent,
            },
        );
        let (updates, rx) = watch::channel(config);
        let shutdown = CancellationToken::new();
        let freeze = Arc::new(Freeze::default());
        let elector_task = {
            let shutdown = shutdown.clone();
            tokio::spawn(frozen(
                async move {
                    let mut elector = elector;
                    let _ = elector.first_read().await;
                    elector.run(shutdown).await;
                },
                &freeze,
            ))
        };
        let loop_task = tokio::spawn(frozen(controller.run(rx, shutdown.clone()), &freeze));
        self.trace(format!("{} starts", me.identity));
        self.slots[i].process = Some(Process {
            me,
            leadership,
            updates,
            shutdown,
            tasks: vec![elector_task, loop_task],
            freeze,
            cut,
            probe,
            board,
        });
    }

    fn kill(&mut self, i: usize) {
        if let Some(p) = self.slots[i].process.take() {
            for task in &p.tasks {
                task.abort();
            }
            self.trace(format!("{} is killed", p.me.identity));
        }
        self.thaw_at[i] = None;
        self.reconnect_at[i] = None;
    }

    fn publish(&mut self, runner: usize) {
        let config = {
            let mut c = lock(&self.checker);
            *c.epoch.entry(self.specs[runner].name.clone()).or_default() += 1;
            let mut config = (*c.config).clone();
            config.runners = self.specs.clone();
            c.config = Arc::new(config);
            Arc::clone(&c.config)
        };
        for slot in &self.slots {
            if let Some(p) = &slot.process {
                let _ = p.updates.send(Arc::clone(&config));
            }
        }
    }

    fn play(&mut self, event: &Event, now: Duration) {
        self.trace(format!("event {event:?}"));
        match event {
            Event::Flip(r) => {
                self.specs[*r].active_shard = self.specs[*r].active_shard.other();
                self.publish(*r);
            }
            Event::Revision(r, revision) => {
                if self.specs[*r].revision.as_deref() != Some(*revision) {
                    self.specs[*r].revision = Some((*revision).to_owned());
                    self.specs[*r].active_shard = self.specs[*r].active_shard.other();
                    self.publish(*r);
                }
            }
            Event::Pause(i, d) => {
                if let Some(p) = &self.slots[*i].process {
                    p.freeze.set(true);
                    self.thaw_at[*i] = Some(now + *d);
                }
            }
            Event::FreezeMidCall(i, d) => {
                if let Some(p) = &self.slots[*i].process {
                    *lock(&p.probe.inner().hold_next) = Some(*d);
                }
            }
            Event::Kill(i, down) => {
                self.kill(*i);
                self.slots[*i].restart_at = Some(now + *down);
            }
            Event::Terminate(i, down) => {
                if let Some(p) = self.slots[*i].process.take() {
                    // SIGTERM reaches a frozen process only once it runs again.
                    p.freeze.set(false);
                    p.shutdown.cancel();
                    p.leadership.shut_down();
                    self.trace(format!("{} gets SIGTERM", p.me.identity));
                    // Its tasks finish by themselves (the elector releases the lease first).
                }
                self.thaw_at[*i] = None;
                self.reconnect_at[*i] = None;
                self.slots[*i].restart_at = Some(now + *down);
            }
            Event::CutOff(i, d) => {
                if let Some(p) = &self.slots[*i].process {
                    p.cut.store(true, Ordering::SeqCst);
                    self.reconnect_at[*i] = Some(now + *d);
                }
            }
            Event::LeaseFault(fault) => {
                self.sim
                    .inject(FaultRule::on("dynamodb", "UpdateItem", fault.clone()))
            }
        }
    }

    /// Liveness: once left alone, somebody leads and every runner reaches its desired state.
    fn converged(&mut self) {
        if lock(&self.checker).failure.is_some() {
            return;
        }
        let world = self.sim.snapshot();
        let (config, epoch, failed) = {
            let c = lock(&self.checker);
            (Arc::clone(&c.config), c.epoch.clone(), c.failed.clone())
        };
        let leader = self
            .slots
            .iter()
            .filter_map(|s| s.process.as_ref())
            .find(|p| p.leadership.view().leader);
        for spec in &config.runners {
            let now = (
                spec.name.clone(),
                epoch.get(&spec.name).copied().unwrap_or(0),
            );
            if failed.contains(&now) {
                self.trace(format!(
                    "{}: its last deployment failed; not judged",
                    spec.name
                ));
                lock(&self.checker).exempt += 1;
                continue;
            }
            // docs/how-it-decides.md: traffic left on an attempt the desired state moved away from
            // is a halt for a human (the single-controller simulation exempts it the same way).
            let halt = leader
                .and_then(|p| p.board.runner(&spec.name))
                .and_then(|r| r.halted);
            if let Some(halt) = halt {
                if ["TrafficMismatch", "InactiveShardHealthyNotDeployed"]
                    .contains(&halt.reason.as_str())
                {
                    self.trace(format!("{} halted {}; not judged", spec.name, halt.reason));
                    lock(&self.checker).exempt += 1;
                    continue;
                }
                lock(&self.checker).breach(format!(
                    "{} halted {} at the end: {}",
                    spec.name, halt.reason, halt.message
                ));
                return;
            }
            if let Err(why) =
                RunnerView::of(&world, spec, &AttemptCapacities::new()).converged(spec)
            {
                let reported = leader
                    .and_then(|p| p.board.runner(&spec.name))
                    .map_or("no leader".to_owned(), |r| {
                        format!("{}: {}", r.phase, r.next)
                    });
                lock(&self.checker).breach(format!(
                    "liveness: {} not converged {QUIET:?} after the last event: {why} (the \
                     leader reports {reported})",
                    spec.name
                ));
                return;
            }
        }
        let leads = self
            .slots
            .iter()
            .filter_map(|s| s.process.as_ref())
            .filter(|p| p.leadership.view().leader)
            .count();
        if leads != 1 {
            lock(&self.checker).breach(format!("{leads} replicas lead at the end"));
        }
    }
}
