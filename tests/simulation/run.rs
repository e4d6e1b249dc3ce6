//! One seed: build the world its history starts from, run the real control loop (the one
//! `switchyard run` runs) on tokio's paused clock, play the history's events at their times
//! (and interposed edits at the moments of the controller's calls they wait for), and check
//! every invariant at every change of the world.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchyard::clock::{Clock, TokioClock};
use switchyard::cloud::sim::SimCloud;
use switchyard::config::{self, Config};
use switchyard::controller::Controller;
use switchyard::core::{RunnerSpec, Shard};
use switchyard::telemetry::{Health, Metrics, StatusBoard};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::checker::{ACCOUNT, Checker, Trigger, short_of_attempt};
use super::history::*;
use super::oracle::MARK_TAG;
use super::probe::{Probe, lock};

const OTHER_ACCOUNT: &str = "210987654321";
/// How often the checker looks at the world between events, for what time alone changes.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How long traffic may stay on unhealthy targets, with a healthy shard available and the
/// runner not halted, before it counts as downtime the controller caused: a rollback takes two
/// steps, each possibly delayed by the capped backoff (30 s) after API faults.
const DOWNTIME_LIMIT: Duration = Duration::from_secs(150);

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
    /// Breaches of checks named in SWITCHYARD_SIM_IGNORE (which do not fail the seed).
    pub ignored: Vec<String>,
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

/// One controller process: its loop task and what it was handed.
struct Incarnation {
    updates: watch::Sender<Arc<Config>>,
    board: StatusBoard,
    metrics: Arc<Metrics>,
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
    nudge: Arc<Notify>,
    controller: Option<Incarnation>,
    restart_at: Option<Duration>,
    /// Events to play, by time and then in the order they were scheduled.
    agenda: BTreeMap<(Duration, u64), Event>,
    scheduled: u64,
    /// When the desired-state file was last edited (liveness counts from it).
    last_edit: Duration,
    /// What a human saved before editing by hand, to put back later.
    saved_listener: BTreeMap<usize, Vec<String>>,
    saved_record: BTreeMap<usize, Option<String>>,
    downtime_since: BTreeMap<String, Duration>,
    /// Calm runners halted as the contract demands: a human must act, liveness is not judged.
    exempt: Vec<String>,
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
        let checker = Checker::new(
            history.calm,
            history.wrong_account,
            Arc::new(config),
            history.latency,
            history.seed,
            verbose,
            now,
            start,
        );
        let mut agenda = BTreeMap::new();
        for (i, (t, e)) in history.events.iter().enumerate() {
            agenda.insert((*t, i as u64), e.clone());
        }
        Driver {
            history,
            specs,
            in_file,
            sim,
            clock,
            checker: Arc::new(Mutex::new(checker)),
            nudge: Arc::new(Notify::new()),
            controller: None,
            restart_at: Some(Duration::ZERO),
            scheduled: agenda.len() as u64,
            agenda,
            last_edit: Duration::ZERO,
            saved_listener: BTreeMap::new(),
            saved_record: BTreeMap::new(),
            downtime_since: BTreeMap::new(),
            exempt: Vec::new(),
            origin: Instant::now(),
        }
    }

    fn elapsed(&self) -> Duration {
        Instant::now() - self.origin
    }

    fn trace(&self, line: String) {
        lock(&self.checker).trace(line);
    }

    fn schedule(&mut self, at: Duration, event: Event) {
        self.agenda.insert((at, self.scheduled), event);
        self.scheduled += 1;
    }

    async fn run(mut self) -> Outcome {
        loop {
            let now = self.elapsed();
            // Checked before this moment's events: the board still shows what the controller
            // decided on the world as it was.
            self.check(now);
            while let Some(entry) = self.agenda.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let event = entry.remove();
                self.play(&event).await;
            }
            loop {
                let fired = lock(&self.checker).fired.pop_front();
                let Some((edit, undo)) = fired else { break };
                self.play(&edit).await;
                if let Some((delay, undo)) = undo {
                    self.schedule(now + delay, undo);
                }
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
            if let Some((t, _)) = self.agenda.keys().next() {
                wake = wake.min(*t);
            }
            if let Some(t) = self.restart_at.filter(|_| self.controller.is_none()) {
                wake = wake.min(t.max(now));
            }
            tokio::select! {
                () = tokio::time::sleep_until(self.origin + wake) => {}
                () = self.nudge.notified() => {}
            }
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
            trace: c.hash(),
            simulated: self.elapsed(),
            steps: c.steps,
            failure,
            ignored: c.ignored.clone(),
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
        let (incarnation, config) = {
            let mut c = lock(&self.checker);
            (c.controller_starts(), Arc::clone(&c.config))
        };
        self.restart_at = None;
        self.downtime_since.clear();
        let metrics = Arc::new(Metrics::new("simulation"));
        let probe = Arc::new(Probe {
            sim: self.sim.clone(),
            checker: Arc::clone(&self.checker),
            incarnation,
            nudge: Arc::clone(&self.nudge),
        });
        let board = StatusBoard::with_clock(Arc::clone(&self.clock));
        let controller = Controller::new(
            probe,
            Arc::clone(&self.clock),
            Arc::clone(&metrics),
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
            metrics,
            cancel,
            task,
        });
    }

    /// The process ends at once (SIGKILL): whatever call is in flight stays where it was.
    async fn stop(&mut self) {
        if let Some(incarnation) = self.controller.take() {
            incarnation.task.abort();
            let _ = incarnation.task.await;
            incarnation.cancel.cancel();
            let exposition = incarnation.metrics.encode();
            lock(&self.checker).check_refusals(&exposition);
        }
    }

    /// A new desired-state file, as the file watcher would deliver it.
    fn publish(&mut self) {
        self.last_edit = self.elapsed();
        // The guard's refusals are read from the controller's /metrics text here and when the
        // controller stops: a counter only goes away with its runner's leaving the file, so
        // this sees every refusal but one made in the very pass during which the file dropped
        // its runner. (Rendering the text at every check would double the run time.)
        if let Some(incarnation) = &self.controller {
            let exposition = incarnation.metrics.encode();
            lock(&self.checker).check_refusals(&exposition);
        }
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

    fn asg(&self, runner: usize, shard: Shard) -> &str {
        &self.specs[runner].shards[shard].auto_scaling_group
    }

    fn tg(&self, runner: usize, shard: Shard) -> String {
        self.specs[runner].shards[shard].target_group_arn.clone()
    }

    async fn play(&mut self, event: &Event) {
        self.trace(format!("event {event}"));
        match event {
            Event::Flip(r) => {
                self.specs[*r].active_shard = self.specs[*r].active_shard.other();
                self.publish();
            }
            Event::Revision(r, revision) => {
                self.specs[*r].revision = Some((*revision).to_owned());
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
                } else if self.controller.is_some() {
                    lock(&self.checker).left_file(&self.specs[*r].name);
                }
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
            Event::Kill { down } => {
                if self.controller.is_some() {
                    self.trace("controller killed".into());
                    self.stop().await;
                    self.restart_at = Some(self.elapsed() + *down);
                }
            }
            Event::Interpose {
                runner,
                when,
                edit,
                undo,
            } => {
                let mut c = lock(&self.checker);
                let expires =
                    c.now() + chrono::Duration::from_std(TRIGGER_EXPIRY).expect("a short duration");
                c.triggers.push(Trigger {
                    runner: self.specs[*runner].name.clone(),
                    when: *when,
                    edit: (**edit).clone(),
                    undo: undo.as_ref().map(|(d, e)| (*d, (**e).clone())),
                    expires,
                });
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
                    RecordEdit::Empty => {
                        self.sim.put_parameter(&parameter, "{}");
                    }
                    RecordEdit::Deleted => self.sim.delete_parameter(&parameter),
                }
                self.edited_by_hand(*runner);
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
                    self.edited_by_hand(*runner);
                }
            }
            Event::MarkByHand {
                runner,
                shard,
                edit,
            } => {
                let asg = self.asg(*runner, *shard).to_owned();
                let tag = self
                    .sim
                    .asg(&asg)
                    .and_then(|a| a.tags.get(MARK_TAG).cloned());
                if let Some(text) = tag {
                    match edited_mark(&text, *edit) {
                        Some(value) => self.sim.set_tag(&asg, MARK_TAG, &value),
                        None => self.sim.remove_tag(&asg, MARK_TAG),
                    }
                    self.edited_by_hand(*runner);
                }
            }
            Event::TargetGroupDetached { runner, shard } => {
                let (asg, tg) = (
                    self.asg(*runner, *shard).to_owned(),
                    self.tg(*runner, *shard),
                );
                self.sim.detach_target_group(&asg, &tg);
            }
            Event::TargetGroupAttached { runner, shard } => {
                let (asg, tg) = (
                    self.asg(*runner, *shard).to_owned(),
                    self.tg(*runner, *shard),
                );
                if let Some(a) = self.sim.asg(&asg)
                    && !a.target_group_arns.contains(&tg)
                {
                    self.sim.attach_target_group(&asg, &tg);
                }
            }
            Event::ShrinkServing { runner } => {
                let listener = self.specs[*runner].listener.clone();
                let forward = self.sim.listener_targets(&listener).unwrap_or_default();
                for shard in Shard::ALL {
                    let asg = self.asg(*runner, shard).to_owned();
                    if forward.contains(&self.tg(*runner, shard))
                        && let Some(a) = self.sim.asg(&asg)
                        && a.desired_capacity > 1
                    {
                        self.sim.set_desired_capacity(&asg, a.desired_capacity - 1);
                    }
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
        let world = self.sim.snapshot();
        lock(&self.checker).world_moved(&world);
    }

    fn edited_by_hand(&self, runner: usize) {
        lock(&self.checker).edited_by_hand(&self.specs[runner].name);
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
        let edits_to_come = c.edits_pending()
            || self.agenda.values().any(|e| {
                e.is_edit() || matches!(e, Event::Interpose { edit, undo, .. } if edit.is_edit() || undo.as_ref().is_some_and(|(_, u)| u.is_edit()))
            });
        let settled = !edits_to_come && now >= self.last_edit + liveness_bound();
        for spec in &config.runners {
            let status = incarnation.board.runner(&spec.name);
            let halt = status.as_ref().and_then(|s| s.halted.as_ref());
            let seen = c.observed(&spec.name);
            if let Some(halt) = halt {
                let refused_account =
                    halt.reason == "InvariantRefused" && self.history.wrong_account;
                // A launch template version that does not exist is a fact of the world the
                // observation cannot show; the halt stays reported until the next successful
                // observation, even when the file already names another one.
                let missing_template = halt.reason == "ResourceMissing"
                    && halt
                        .message
                        .contains(&format!("launch template version {} ", BAD_REVISIONS[2]));
                let foreign = c.foreign_write(&spec.name);
                // A halt learnt from a call's answer (a resource deleted after the observation)
                // is true of the world as it is now.
                let honest = seen.is_empty()
                    || refused_account
                    || missing_template
                    || c.runner_view(&world, spec)
                        .honest(&halt.reason, spec, foreign)
                    || seen.iter().any(|o| {
                        c.runner_view(&o.world, &o.spec)
                            .honest(&halt.reason, &o.spec, foreign)
                    });
                if !honest {
                    // A target group detached from its ASG leaves instances healthy by their
                    // ASG's account, yet not registered in the shard's TG.
                    let detached = seen.iter().any(|o| {
                        let v = c.runner_view(&o.world, &o.spec);
                        Shard::ALL.into_iter().any(|s| !v.shards[s].tg_attached)
                    });
                    // An active shard still carrying its attempt's mark, judged by the mark.
                    let active_marked = halt.reason == "ActiveShardUnhealthy"
                        && seen.iter().any(|o| {
                            let v = c.runner_view(&o.world, &o.spec);
                            v.active()
                                .is_some_and(|a| v.shards[a].mark.read().is_some())
                        });
                    let rule = match (detached, active_marked) {
                        (true, _) => "honest-detached",
                        (_, true) => "honest-active-mark",
                        _ => "honest",
                    };
                    return c.breach(
                        rule,
                        format!(
                            "{} halted {} ({}), not true of the world it observed",
                            spec.name, halt.reason, halt.message
                        ),
                    );
                }
                if c.calm && !self.exempt.contains(&spec.name) {
                    // The contract demands some halts a calm history can reach (an attempt on
                    // the listener's shard in a first deployment that the desired state left):
                    // a human acts then. Any other halt of a calm history is a bug.
                    let demanded = seen
                        .iter()
                        .any(|o| c.must_halt(&o.world, &o.spec).is_some());
                    if demanded {
                        self.exempt.push(spec.name.clone());
                    } else {
                        return c.breach(
                            if halt.reason == "TrafficMismatch" {
                                "calm-halt-traffic"
                            } else {
                                "calm-halt"
                            },
                            format!(
                                "{} halted {} in a calm history: {}",
                                spec.name, halt.reason, halt.message
                            ),
                        );
                    }
                }
            }
            let view = c.runner_view(&world, spec);
            let down = halt.is_none()
                && !spec.paused
                && view.missing.is_empty()
                && view.active().is_some()
                && view.some_shard_healthy()
                && !view.serving_ok();
            if down {
                let since = *self.downtime_since.entry(spec.name.clone()).or_insert(now);
                if now - since > DOWNTIME_LIMIT {
                    let short = Shard::ALL.into_iter().any(|s| {
                        view.shards[s].takes_traffic && short_of_attempt(spec, &view.shards[s])
                    });
                    return c.breach(
                        if short {
                            "downtime-capacity"
                        } else {
                            "downtime"
                        },
                        format!(
                            "{} not halted, a shard healthy, yet the listener has forwarded to \
                             unhealthy targets {:?} for {:?}",
                            spec.name,
                            view.forward,
                            now - since
                        ),
                    );
                }
            } else {
                self.downtime_since.remove(&spec.name);
            }
            // Known, reported: a first deployment onto the listener's shard whose attempt the
            // desired state left waits for a human (see TESTING.md, "Known behaviour").
            let stranded = status.as_ref().is_some_and(|s| {
                s.next
                    .contains("serving capacity that is not this deployment's")
            });
            if c.calm && settled && !self.exempt.contains(&spec.name) && !stranded {
                let converged = view.converged(spec).and_then(|()| match status {
                    Some(s) if s.phase == "Converged" => Ok(()),
                    other => Err(format!("phase {:?}", other.map(|s| s.phase))),
                });
                if let Err(why) = converged {
                    return c.breach(
                        "liveness",
                        format!(
                            "{} not converged {:?} after the last edit: {why}",
                            spec.name,
                            liveness_bound()
                        ),
                    );
                }
            }
        }
    }
}

/// The mark's text after a human's edit (`None`: the tag deleted). Edited as plain JSON, so
/// that whatever keys the controller writes stay as they were.
fn edited_mark(text: &str, edit: MarkEdit) -> Option<String> {
    let mut value: Value = match serde_json::from_str(text) {
        Ok(Value::Object(o)) => Value::Object(o),
        _ => return (edit != MarkEdit::Delete).then(|| text.to_owned()),
    };
    let o = value.as_object_mut().expect("an object");
    match edit {
        MarkEdit::Delete => return None,
        MarkEdit::Garble => return Some(text[..text.len() / 2].to_owned()),
        MarkEdit::ToggleState => {
            let state = if o.get("state").and_then(Value::as_str) == Some("failed") {
                "provisioning"
            } else {
                "failed"
            };
            o.insert("state".into(), state.into());
        }
        MarkEdit::Revision(r) => {
            o.insert("revision".into(), r.into());
        }
        MarkEdit::NewId => {
            o.insert("id".into(), "by-hand".into());
        }
        MarkEdit::Backdate => {
            o.insert("started".into(), "2026-11-22T09:00:00Z".into());
        }
    }
    Some(value.to_string())
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
            "  - name: {name}\n    activeShard: {desired}\n    revision: \"{revision}\"\n    paused: {paused}\n    capacity: {capacity}\n    minHealthyPercent: {mhp}\n{deadline}    {listener}\n    shards:\n      blue: {{ autoScalingGroup: {name}-blue, targetGroupArn: {arn}:targetgroup/{name}-blue/1 }}\n      green: {{ autoScalingGroup: {name}-green, targetGroupArn: {arn}:targetgroup/{name}-green/2 }}\n",
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
            deadline = r
                .deadline
                .map(|d| format!("    progressDeadline: {}\n", secs(d)))
                .unwrap_or_default(),
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
