//! Every invariant, judged from the world's own history with the oracle's reading of it: when a
//! mutation is sent (against what the controller had observed and the file in force at that
//! moment), when it lands (against the world just before and after), and as time passes. The
//! checker also holds the pending interposed edits and the trace.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchyard::cloud::sim::WorldSnapshot;
use switchyard::cloud::{Applied, CloudError};
use switchyard::config::Config;
use switchyard::core::{RunnerSpec, Shard, ShardPair, Step};

use super::awaiting_fixes::RULES_AWAITING_FIXES;
use super::history::{Event, Latency, When};
use super::oracle::{AttemptCapacities, MarkState, MustHalt, Record, RunnerView, ShardView};
use super::{Rng, TraceHash};

pub const ACCOUNT: &str = "123456789012";
/// Trace lines kept for a failure report.
const TAIL: usize = 60;
/// Observations kept per runner: a halt on the board was decided on one of them.
const OBSERVATIONS_KEPT: usize = 4;

/// A desired state as a controller used it: (shard, revision, paused).
type Desired = (Shard, Option<String>, bool);
/// What invariant 6 counts attempts of: (epoch, shard, revision).
type AttemptKey = (u32, Shard, Option<String>);

/// When the listener last stopped forwarding to a shard that a controller had seen take
/// traffic with instances behind it: the start of its drain (invariant 4).
#[derive(Debug, Clone, Default)]
struct Traffic {
    taking: bool,
    /// A controller saw this period of traffic (an observation, or its own switch).
    seen: bool,
    left_at: Option<DateTime<Utc>>,
}

/// A halt the controller learnt from a call's answer, which no observation shows: it must hold
/// for as long as that controller lives and the world has not moved on.
#[derive(Debug, Clone)]
enum Sticky {
    /// The record's version after the conflict; a later write by anyone clears it.
    Conflict { version: i64 },
    /// A resource the update named does not exist; a new desired state clears it.
    Missing { desired: (Shard, Option<String>) },
}

/// What the checker keeps per runner.
#[derive(Debug, Default)]
struct RunnerLog {
    /// Bumped on every change of the desired state a running controller used (invariant 6),
    /// and on edits of the record or the mark by someone else.
    epoch: u32,
    /// The epoch when the controller last observed the runner: a step is decided on that
    /// observation, so an edit landing after it is a response the step could not yet know of.
    observed_epoch: u32,
    seen_desired: Option<Desired>,
    /// Attempts (mark id, the controller incarnation that wrote it) per (epoch, shard,
    /// revision).
    attempts: BTreeMap<AttemptKey, Vec<(String, u32)>>,
    failed: BTreeSet<AttemptKey>,
    capacities: AttemptCapacities,
    traffic: ShardPair<Traffic>,
    // ---- per controller incarnation ----
    observed: VecDeque<Seen>,
    foreign_write: bool,
    sticky: Option<Sticky>,
}

/// One observation of a runner, with the desired state the controller judged it by: a halt is
/// honest if it was true of the world under the file the controller held then, even when a
/// file edit landed since.
#[derive(Debug, Clone)]
pub struct Seen {
    pub world: Arc<WorldSnapshot>,
    pub spec: RunnerSpec,
}

/// An edit waiting for its moment.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub runner: String,
    pub when: When,
    pub edit: Event,
    pub undo: Option<(Duration, Event)>,
    pub expires: DateTime<Utc>,
}

/// What the controller knew when it sent a mutation, for the checks made when it lands.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    observed: Option<Arc<WorldSnapshot>>,
    left_at: Option<DateTime<Utc>>,
    epoch: u32,
}

pub struct Checker {
    pub calm: bool,
    pub wrong_account: bool,
    /// The desired-state file in force.
    pub config: Arc<Config>,
    runners: BTreeMap<String, RunnerLog>,
    /// The current controller incarnation; calls of earlier ones never reach the world.
    pub incarnation: u32,
    /// The controller dies after this many more calls.
    pub crash_after: Option<u32>,
    pub dead: bool,
    latency: Latency,
    latency_rng: Rng,
    pub rng: Rng,
    pub triggers: Vec<Trigger>,
    /// Interposed edits whose moment came, for the driver to play at once.
    pub fired: VecDeque<(Event, Option<(Duration, Event)>)>,
    hash: TraceHash,
    pub tail: VecDeque<String>,
    verbose: bool,
    now: Box<dyn Fn() -> DateTime<Utc> + Send>,
    start: DateTime<Utc>,
    pub failure: Option<String>,
    /// Breaches of checks named in SWITCHYARD_SIM_IGNORE: counted, not stopping the seed.
    pub ignored: Vec<String>,
    ignore: BTreeSet<String>,
    pub steps: u64,
}

impl Checker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        calm: bool,
        wrong_account: bool,
        config: Arc<Config>,
        latency: Latency,
        seed: u64,
        verbose: bool,
        now: Box<dyn Fn() -> DateTime<Utc> + Send>,
        start: DateTime<Utc>,
    ) -> Checker {
        let ignore = std::env::var("SWITCHYARD_SIM_IGNORE")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .chain(RULES_AWAITING_FIXES.iter().copied())
            .map(str::to_owned)
            .collect();
        Checker {
            calm,
            wrong_account,
            config,
            runners: BTreeMap::new(),
            incarnation: 0,
            crash_after: None,
            dead: false,
            latency,
            latency_rng: Rng::new(seed.rotate_left(41) ^ 0x2545_f491_4f6c_dd1d),
            rng: Rng::new(seed.rotate_left(17)),
            triggers: Vec::new(),
            fired: VecDeque::new(),
            hash: TraceHash::default(),
            tail: VecDeque::new(),
            verbose,
            now,
            start,
            failure: None,
            ignored: Vec::new(),
            ignore,
            steps: 0,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }

    pub fn hash(&self) -> u64 {
        self.hash.0
    }

    pub fn trace(&mut self, line: String) {
        let t = self.now() - self.start;
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

    /// `check` names the rule, so that a run can list which rules a seed breaks.
    pub fn breach(&mut self, check: &str, what: String) {
        let what = format!("[{check}] {what}");
        if self.ignore.contains(check) {
            if !self
                .ignored
                .iter()
                .any(|w| w.starts_with(&format!("[{check}]")))
            {
                self.trace(format!("BREACH (ignored) {what}"));
                self.ignored.push(what);
            }
            return;
        }
        if self.failure.is_none() {
            self.trace(format!("BREACH {what}"));
            self.failure = Some(what);
        }
    }

    fn log(&mut self, name: &str) -> &mut RunnerLog {
        self.runners.entry(name.to_owned()).or_default()
    }

    /// A new controller incarnation: it knows nothing its predecessor learnt.
    pub fn controller_starts(&mut self) -> u32 {
        self.incarnation += 1;
        self.dead = false;
        self.crash_after = None;
        for log in self.runners.values_mut() {
            log.observed.clear();
            log.foreign_write = false;
            log.sticky = None;
        }
        self.trace(format!("controller {} starts", self.incarnation));
        self.incarnation
    }

    /// Someone else edited the record or the mark: whatever the controller does next is a
    /// response to that, not a repeat of an attempt (invariant 6).
    pub fn edited_by_hand(&mut self, name: &str) {
        let log = self.log(name);
        log.epoch += 1;
        log.foreign_write = true;
    }

    /// The runner left the file while a controller ran: it saw the desired state leave, and
    /// forgets the runner as a restart would.
    pub fn left_file(&mut self, name: &str) {
        let log = self.log(name);
        log.epoch += 1;
        log.sticky = None;
    }

    /// How long the next call's request and answer travel.
    pub fn latency(&mut self) -> (Duration, Duration) {
        let rng = &mut self.latency_rng;
        let ms = Duration::from_millis;
        match self.latency {
            Latency::None => (Duration::ZERO, Duration::ZERO),
            Latency::Jitter { max_ms } => (ms(rng.below(max_ms + 1)), ms(rng.below(max_ms + 1))),
            Latency::Slow => {
                let mut request = ms(rng.below(401));
                let mut answer = ms(rng.below(401));
                if rng.chance(14) {
                    let slow = ms(rng.range(1_000, 10_000));
                    if rng.chance(50) {
                        request = slow;
                    } else {
                        answer = slow;
                    }
                }
                (request, answer)
            }
        }
    }

    /// Counts one finished call towards a pending crash.
    pub fn after_call(&mut self) {
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

    /// Moves every armed trigger of `runner` for `when` to the fired queue; true if any fired.
    fn fire(&mut self, runner: &str, when: When) -> bool {
        let now = self.now();
        self.triggers.retain(|t| t.expires > now);
        let (due, keep): (Vec<Trigger>, Vec<Trigger>) = std::mem::take(&mut self.triggers)
            .into_iter()
            .partition(|t| t.runner == runner && t.when == when);
        self.triggers = keep;
        for t in &due {
            self.fired.push_back((t.edit.clone(), t.undo.clone()));
        }
        if !due.is_empty() {
            self.trace(format!(
                "{runner}: {when:?}: {} edit(s) land now",
                due.len()
            ));
        }
        !due.is_empty()
    }

    /// Whether an edit of the desired state is still to come from a trigger.
    pub fn edits_pending(&self) -> bool {
        let now = self.now();
        self.triggers.iter().any(|t| {
            t.expires > now
                && (t.edit.is_edit() || t.undo.as_ref().is_some_and(|(_, e)| e.is_edit()))
        })
    }

    fn view(&self, world: &WorldSnapshot, spec: &RunnerSpec) -> RunnerView {
        let empty = AttemptCapacities::new();
        let capacities = self
            .runners
            .get(&spec.name)
            .map_or(&empty, |l| &l.capacities);
        RunnerView::of(world, spec, capacities)
    }

    /// Follows the listener for the drain rule. `seen`: a controller sees this world.
    fn track_traffic(&mut self, spec: &RunnerSpec, view: &RunnerView, seen: bool) {
        let now = self.now();
        let traffic = &mut self.log(&spec.name).traffic;
        for s in Shard::ALL {
            let t = &mut traffic[s];
            if view.shards[s].takes_traffic {
                if !t.taking {
                    t.seen = false;
                }
                t.taking = true;
                t.seen |= seen && view.shards[s].instances > 0;
            } else if t.taking {
                t.taking = false;
                if t.seen {
                    t.left_at = Some(now);
                }
                t.seen = false;
            }
        }
    }

    /// The world changed by an event of the history (not by a controller).
    pub fn world_moved(&mut self, world: &WorldSnapshot) {
        let specs: Vec<RunnerSpec> = self.config.runners.clone();
        for spec in &specs {
            let view = self.view(world, spec);
            self.track_traffic(spec, &view, false);
        }
    }

    /// An observation by controller `incarnation` landed; true if interposed edits fire.
    pub fn on_observe(
        &mut self,
        incarnation: u32,
        specs: &[&RunnerSpec],
        world: &Arc<WorldSnapshot>,
    ) -> bool {
        let mut fired = false;
        for spec in specs {
            let desired = (spec.active_shard, spec.revision.clone(), spec.paused);
            let log = self.log(&spec.name);
            if log.seen_desired.as_ref().is_some_and(|d| *d != desired) {
                log.epoch += 1;
                // A halt learnt from a missing resource holds until the desired state changes.
                if matches!(log.sticky, Some(Sticky::Missing { .. })) {
                    log.sticky = None;
                }
            }
            log.seen_desired = Some(desired);
            log.observed_epoch = log.epoch;
            if log.observed.len() == OBSERVATIONS_KEPT {
                log.observed.pop_front();
            }
            log.observed.push_back(Seen {
                world: Arc::clone(world),
                spec: (*spec).clone(),
            });
            let view = self.view(world, spec);
            // A conflict holds the runner until someone writes the record again; a record seen
            // at another version (or gone, its versions to start afresh) has been written since.
            let log = self.log(&spec.name);
            if let Some(Sticky::Conflict { version }) = log.sticky
                && view.record_version != Some(version)
            {
                log.sticky = None;
            }
            self.track_traffic(spec, &view, true);
            if incarnation == self.incarnation {
                fired |= self.fire(&spec.name, When::Observed);
            }
        }
        fired
    }

    /// Refusals counted by the controller's guard (docs/invariants.md); none is expected but the wrong
    /// account's. `exposition` is the controller's /metrics text, read here by line.
    pub fn check_refusals(&mut self, exposition: &str) {
        for line in exposition.lines() {
            let Some(rest) = line.strip_prefix("switchyard_invariant_refusals_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            if value.trim().parse::<f64>().map_or(true, |v| v == 0.0) {
                continue;
            }
            if self.wrong_account && labels.contains("invariant=\"expected_account\"") {
                continue;
            }
            return self.breach(
                "refusal",
                format!("the guard refused a step the core proposed: {labels} = {value}"),
            );
        }
    }

    /// A mutation is sent: judged on what the controller had observed and on the file in force
    /// at this moment. Returns what the landing checks need, and whether interposed edits fire.
    pub fn on_send(&mut self, incarnation: u32, spec: &RunnerSpec, step: &Step) -> (Sent, bool) {
        let name = spec.name.clone();
        let shard = step.shard();
        self.trace(format!("send {name} {} {shard:?}", step.name()));
        let mut sent = Sent {
            epoch: self.log(&name).observed_epoch,
            ..Sent::default()
        };
        // docs/how-it-decides.md: every mutation is decided against the desired state in force at the moment
        // of the call.
        let file = self.config.runner(&name).cloned();
        let last = self
            .log(&name)
            .observed
            .back()
            .map(|o| Arc::clone(&o.world));
        let observed_active = last.map(|o| self.view(&o, spec).active());
        match file {
            None => self.breach(
                "file",
                format!(
                    "{name}: {} sent after the runner left the file",
                    step.describe()
                ),
            ),
            Some(_) if spec.paused => {
                self.breach("inv5", format!("{name} is paused: {}", step.describe()))
            }
            Some(file) if file.paused => self.breach(
                "file",
                format!(
                    "{name} was paused in the file during the pass: {}",
                    step.describe()
                ),
            ),
            Some(file) => {
                if let Some(problem) =
                    serves_old_desire(spec, &file, step, observed_active.flatten())
                {
                    self.breach("file", format!("{name}: {}: {problem}", step.describe()));
                }
            }
        }
        if self.wrong_account {
            self.breach(
                "inv8",
                format!("{name}: {} in an account other than {ACCOUNT}", step.name()),
            );
        }
        let log = self.log(&name);
        let observed = log.observed.back().map(|o| Arc::clone(&o.world));
        let sticky = log.sticky.clone();
        let Some(observed) = observed else {
            self.breach(
                "observe",
                format!("{name}: {} sent without an observation", step.describe()),
            );
            return (sent, false);
        };
        let before = self.view(&observed, spec);
        match sticky {
            Some(Sticky::Conflict { version }) if before.record_version == Some(version) => self
                .breach(
                    "inv5-sticky",
                    format!(
                        "{name} must stay halted ConcurrentModification (record at version \
                         {version} since the conflict) but got {}",
                        step.describe()
                    ),
                ),
            Some(Sticky::Missing { desired })
                if desired.0 == spec.active_shard && desired.1 == spec.revision =>
            {
                self.breach(
                    "inv5-sticky",
                    format!(
                        "{name} must stay halted ResourceMissing until the desired state changes \
                         but got {}",
                        step.describe()
                    ),
                )
            }
            Some(_) => self.log(&name).sticky = None,
            None => {}
        }
        if let Some(halt) = before.must_halt(spec) {
            self.breach(
                halt.rule,
                format!(
                    "{name} must be halted ({}) but got {}",
                    halt.why,
                    step.describe()
                ),
            );
        }
        if let Some((check, problem)) = step_breach(spec, step, &before) {
            self.breach(check, format!("{name}: {} : {problem}", step.describe()));
        }
        if self.calm && matches!(step, Step::FailDeployment { .. }) {
            self.breach(
                "calm-failed",
                format!(
                    "{name}: a calm history failed a deployment: {}",
                    step.describe()
                ),
            );
        }
        if let Some(s) = shard {
            sent.left_at = self.log(&name).traffic[s].left_at;
        }
        sent.observed = Some(observed);
        let fired = incarnation == self.incarnation && self.fire(&name, When::Sending);
        (sent, fired)
    }

    /// A mutation landed: the world just before and just after it. Returns whether interposed
    /// edits fire.
    #[allow(clippy::too_many_arguments)]
    pub fn on_land(
        &mut self,
        incarnation: u32,
        spec: &RunnerSpec,
        step: &Step,
        sent: &Sent,
        pre: &WorldSnapshot,
        post: &WorldSnapshot,
        result: &Result<Applied, CloudError>,
    ) -> bool {
        self.steps += 1;
        let name = spec.name.clone();
        let shard = step.shard();
        self.trace(format!(
            "land {name} {} {shard:?} -> {}",
            step.name(),
            match result {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.kind().to_owned(),
            }
        ));
        let now = self.now();
        let before = self.view(pre, spec);
        let after = self.view(post, spec);
        // Invariant 4's drain: a shard that took traffic is scaled down only drainDelay after
        // the listener left it.
        let shrinks = match step {
            Step::ScaleToZero { shard } => Some(*shard),
            Step::ConfigureShard {
                shard, capacity, ..
            } if *capacity < before.shards[*shard].desired => Some(*shard),
            _ => None,
        };
        if let (Some(s), Some(left)) = (shrinks, sent.left_at)
            && before.shards[s].desired > 0
        {
            let drained = (now - left).to_std().unwrap_or(Duration::ZERO);
            if drained < spec.settings.drain_delay {
                let path = match before.shards[s].mark.read().map(|m| m.state) {
                    _ if before.deployed(s) => "a deployed shard retired",
                    Some(MarkState::Failed) => "a failed attempt after it was switched back",
                    Some(MarkState::Provisioning) => "an attempt the desired state left",
                    None => "a shard without a mark",
                };
                let rule = if matches!(step, Step::ConfigureShard { .. }) {
                    "drain-resize"
                } else {
                    "drain"
                };
                self.breach(
                    rule,
                    format!(
                        "{name}: {} {:.1}s after the listener left {s} ({path}), drainDelay is \
                         {:?}",
                        step.describe(),
                        drained.as_secs_f64(),
                        spec.settings.drain_delay
                    ),
                );
            }
        }
        // The step's own effect, when nothing else moved since the controller's observation.
        let unmoved = sent
            .observed
            .as_ref()
            .is_some_and(|o| self.view(o, spec).digest() == before.digest());
        let moves_traffic = matches!(
            step,
            Step::SwitchListener { .. } | Step::ScaleToZero { .. } | Step::ConfigureShard { .. }
        );
        if moves_traffic && unmoved && before.serving_ok() && !after.serving_ok() {
            let short = matches!(step, Step::SwitchListener { to } if short_of_attempt(spec, &before.shards[*to]));
            self.breach(
                if short {
                    "downtime-capacity"
                } else {
                    "downtime"
                },
                format!(
                    "{name}: {} took traffic off healthy targets",
                    step.describe()
                ),
            );
        }
        let epoch = sent.epoch;
        for s in Shard::ALL {
            let was = before.shards[s].mark.read().map(|m| m.state);
            if let Some(mark) = after.shards[s].mark.read()
                && mark.state == MarkState::Failed
                && was != Some(MarkState::Failed)
            {
                let key = (epoch, s, mark.revision.clone());
                self.log(&name).failed.insert(key);
            }
        }
        if let Step::WriteMark { shard, .. } = step
            && let Some(mark) = after.shards[*shard].mark.read().cloned()
            && before.shards[*shard].mark.read().map(|m| &m.id) != Some(&mark.id)
        {
            let key = (epoch, *shard, mark.revision.clone());
            let capacity = spec.settings.capacity;
            let log = self.log(&name);
            log.capacities.entry(mark.id.clone()).or_insert(capacity);
            let failed = log.failed.contains(&key);
            let earlier = log.attempts.entry(key).or_default();
            if !earlier.iter().any(|(id, _)| *id == mark.id) {
                earlier.push((mark.id.clone(), incarnation));
                if earlier.len() > 1 {
                    let attempts: Vec<String> = earlier
                        .iter()
                        .map(|(id, by)| format!("{id} by controller {by}"))
                        .collect();
                    let restarted = earlier.iter().any(|(_, by)| *by != incarnation);
                    self.breach(
                        if restarted { "inv6-restart" } else { "inv6" },
                        format!(
                            "{name}: attempt {} of {shard} revision {:?} without a change of the \
                             desired state a running controller saw{} ({})",
                            attempts.len(),
                            mark.revision,
                            if failed { ", after it failed" } else { "" },
                            attempts.join(", ")
                        ),
                    );
                }
            }
        }
        // A runner that left the file meanwhile is forgotten by its controller, halts included.
        let in_file = self.config.runner(&name).is_some();
        match (step, result) {
            _ if !in_file => {}
            (Step::WriteRecord { .. }, Ok(Applied::RecordWritten { version, read_back })) => {
                let expected = sent
                    .observed
                    .as_ref()
                    .and_then(|o| self.view(o, spec).record_version)
                    .map_or(1, |v| v + 1);
                let theirs_after = read_back.as_ref().is_some_and(|(_, v)| v != version);
                if *version != expected || theirs_after {
                    let latest = read_back
                        .as_ref()
                        .map_or(*version, |(_, v)| (*v).max(*version));
                    let log = self.log(&name);
                    log.sticky = Some(Sticky::Conflict { version: latest });
                    log.foreign_write = true;
                    log.epoch += 1;
                }
            }
            (_, Err(CloudError::ResourceMissing { .. })) => {
                self.log(&name).sticky = Some(Sticky::Missing {
                    desired: (spec.active_shard, spec.revision.clone()),
                });
            }
            _ => {}
        }
        if matches!(step, Step::WriteRecord { .. })
            && after.record_version.unwrap_or(0) > before.record_version.unwrap_or(0) + 1
        {
            self.log(&name).foreign_write = true;
        }
        self.track_traffic(spec, &after, true);
        matches!(step, Step::SwitchListener { .. })
            && result.is_ok()
            && incarnation == self.incarnation
            && self.fire(&name, When::Switched)
    }

    /// The world as this controller incarnation last observed it, per runner (newest last).
    pub fn observed(&self, name: &str) -> Vec<Seen> {
        self.runners
            .get(name)
            .map(|l| l.observed.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn foreign_write(&self, name: &str) -> bool {
        self.runners.get(name).is_some_and(|l| l.foreign_write)
    }

    pub fn must_halt(&self, world: &WorldSnapshot, spec: &RunnerSpec) -> Option<MustHalt> {
        self.view(world, spec).must_halt(spec)
    }

    pub fn runner_view(&self, world: &WorldSnapshot, spec: &RunnerSpec) -> RunnerView {
        self.view(world, spec)
    }
}

/// The shard has the healthy targets its ASG's desired capacity asks for, but not those of its
/// attempt's own capacity (docs/how-it-decides.md: `required` of a shard with an in-flight mark comes from the
/// mark): a reading of `required` that follows the ASG would call it healthy.
pub fn short_of_attempt(spec: &RunnerSpec, s: &ShardView) -> bool {
    let for_asg = super::oracle::required(s.desired, spec.settings.min_healthy_percent);
    s.capacity > s.desired && s.desired >= 1 && s.healthy_targets >= for_asg
}

/// What a deployment aims at: the shard and the revision.
fn desired_of(spec: &RunnerSpec) -> (Shard, Option<&str>) {
    (spec.active_shard, spec.revision.as_deref())
}

/// A step that pursues the desired state the controller decided on, when the file in force
/// says otherwise (docs/how-it-decides.md: a file edit stops any step of the old desired state not yet sent).
/// Steps every desired state would take alike (clean-ups, switching back to the recorded
/// active shard, scaling down) are not the old desired state's.
fn serves_old_desire(
    spec: &RunnerSpec,
    file: &RunnerSpec,
    step: &Step,
    active: Option<Shard>,
) -> Option<String> {
    if desired_of(spec) == desired_of(file) {
        return None;
    }
    let pursues = match step {
        Step::WriteMark { .. }
        | Step::ConfigureShard { .. }
        | Step::AttachTargetGroup { .. }
        | Step::FailDeployment { .. } => true,
        Step::SwitchListener { to } => active != Some(*to),
        Step::WriteRecord { record, .. } => {
            record.active_shard.is_some() && record.active_shard != active
        }
        Step::ScaleToZero { .. } | Step::DeleteMark { .. } => false,
    };
    pursues.then(|| {
        format!(
            "decided for {:?}, the file in force says {:?}",
            desired_of(spec),
            desired_of(file)
        )
    })
}

/// The per-step rules of docs/how-it-decides.md and docs/invariants.md, judged on the world the controller decided on. Returns
/// the rule's name and the problem.
fn step_breach(spec: &RunnerSpec, step: &Step, w: &RunnerView) -> Option<(&'static str, String)> {
    let active = w.active();
    match step {
        Step::WriteMark { shard, .. }
        | Step::ConfigureShard { shard, .. }
        | Step::AttachTargetGroup { shard } => {
            let s = &w.shards[*shard];
            if active == Some(*shard) || w.deployed(*shard) {
                return Some((
                    "inv3",
                    format!("provisioning onto the active or a deployed shard {shard}"),
                ));
            }
            let marked = w.own_in_flight(spec, *shard);
            if !matches!(step, Step::WriteMark { .. }) && !marked {
                return Some((
                    "spec5",
                    format!("provisioning {shard} without a durable mark for the desired state"),
                ));
            }
            // Writing the mark again on our own in-flight attempt is not provisioning onto
            // somebody else's shard.
            if s.healthy && !marked {
                return Some((
                    "inv3",
                    format!(
                        "provisioning onto healthy {shard}, not deployed and not our own \
                         in-flight provision"
                    ),
                ));
            }
            if let Step::ConfigureShard { capacity, .. } = step
                && s.takes_traffic
                && *capacity < s.desired
            {
                return Some((
                    "inv4",
                    format!(
                        "{shard} takes traffic and is scaled down from {} to {capacity}",
                        s.desired
                    ),
                ));
            }
            None
        }
        Step::SwitchListener { to } => {
            let s = &w.shards[*to];
            (!s.healthy).then(|| {
                (
                    if short_of_attempt(spec, s) {
                        "inv1-capacity"
                    } else {
                        "inv1"
                    },
                    format!(
                        "traffic moved to {to} with {} healthy targets, {} required (capacity \
                         {}, ASG desired {})",
                        s.healthy_targets, s.required, s.capacity, s.desired
                    ),
                )
            })
        }
        Step::ScaleToZero { shard } => {
            let s = &w.shards[*shard];
            (active == Some(*shard) || s.takes_traffic).then(|| {
                (
                    "inv4",
                    format!("the active shard or one taking traffic ({shard}) scaled down"),
                )
            })
        }
        Step::WriteRecord { record, .. } => {
            if matches!(w.record, Record::Malformed(_)) {
                return Some(("inv2", "a malformed record overwritten".into()));
            }
            if let Some(a) = record.active_shard
                && !(w.shards[a].healthy && w.serving == Some(a))
            {
                let s = &w.shards[a];
                return Some((
                    if short_of_attempt(spec, s) {
                        "inv2-capacity"
                    } else {
                        "inv2"
                    },
                    format!(
                        "{a} recorded active while not healthy and serving ({} healthy targets, \
                         {} required of capacity {}, ASG desired {}; listener on {:?})",
                        s.healthy_targets, s.required, s.capacity, s.desired, w.forward
                    ),
                ));
            }
            record
                .deployed_shards
                .iter()
                .find(|&&s| !w.deployed(s) && !w.shards[s].healthy)
                .map(|s| ("inv2", format!("unhealthy {s} added to deployed_shards")))
        }
        Step::DeleteMark { shard } => w.shards[*shard]
            .mark
            .read()
            .is_some_and(|m| m.state == MarkState::Failed)
            .then(|| {
                (
                    "spec5",
                    format!("the failed mark on {shard} deleted (only retry or a new attempt may)"),
                )
            }),
        Step::FailDeployment { .. } => None,
    }
}
