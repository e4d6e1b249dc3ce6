//! A seed, expanded into everything that happens to the world: the initial state of each
//! runner and a timed list of events. The history is fixed before the run starts, so that the
//! controller's behaviour cannot change what is thrown at it, and a seed replays exactly.

use std::fmt;
use std::time::Duration;

use switchyard::cloud::sim::{Fault, FaultRule, OPERATIONS};
use switchyard::core::Shard;

use super::Rng;

/// The desired-state timings every seed uses; short, so that a seed covers many deployments.
pub const TRANSITION_INTERVAL: Duration = Duration::from_secs(2);
pub const SYNC_INTERVAL: Duration = Duration::from_secs(30);
pub const GRACE: Duration = Duration::from_secs(10);
pub const STABILITY: Duration = Duration::from_secs(20);
pub const POST_SWITCH: Duration = Duration::from_secs(20);
pub const DRAIN: Duration = Duration::from_secs(10);
pub const PROGRESS_DEADLINE: Duration = Duration::from_secs(180);
pub const BOOT: Duration = Duration::from_secs(5);
pub const TERMINATION: Duration = Duration::from_secs(2);
/// Revision "4" boots this slowly: longer than the grace period, well within the deadline.
pub const SLOW_BOOT: Duration = Duration::from_secs(45);

/// A deadline some runners of wild histories get instead: a never-healthy revision fails well
/// within a crash loop.
pub const SHORT_DEADLINE: Duration = Duration::from_secs(45);
/// An interposed edit whose moment has not come this long after it was armed is dropped.
pub const TRIGGER_EXPIRY: Duration = Duration::from_secs(120);

/// Revisions whose instances boot and stay healthy ("4" slowly).
pub const GOOD_REVISIONS: [&str; 3] = ["1", "2", "4"];
/// "3" never becomes healthy, "5" fails 40 s after it is in service, "9" has no launch template.
pub const BAD_REVISIONS: [&str; 3] = ["3", "5", "9"];

/// Steps of a deployment the liveness bound allows for, each one transition interval apart:
/// retire a deployed desired shard (scale, clean up), drop an abandoned attempt, then mark,
/// configure, attach, switch, record, scale down, clean up — with room for re-configuring after
/// a capacity change.
const LIVENESS_STEPS: u32 = 25;

/// Liveness: a calm history converges within the waits the spec mandates after its last edit,
/// plus a bounded slack (docs/how-it-decides.md's phases, worst case).
pub fn liveness_bound() -> Duration {
    let retire = DRAIN + TERMINATION;
    let provision = SLOW_BOOT.max(GRACE) + STABILITY + POST_SWITCH;
    let mandated = retire + TERMINATION + provision + retire;
    mandated + TRANSITION_INTERVAL * LIVENESS_STEPS + SYNC_INTERVAL
}

/// How one runner starts.
#[derive(Debug, Clone)]
pub struct RunnerSetup {
    pub name: String,
    /// In the desired-state file at the start.
    pub in_file: bool,
    /// blue recorded active, deployed and serving with capacity on revision 1; otherwise
    /// nothing deployed yet (no record, no capacity).
    pub live: bool,
    /// Where the listener points at the start when nothing is live.
    pub serving: Shard,
    pub elb_health_checks: bool,
    /// Its traffic goes through a host-header rule of the one shared listener (`listenerRuleArn`)
    /// rather than through a listener of its own.
    pub on_rule: bool,
    pub desired: Shard,
    pub revision: &'static str,
    pub capacity: u32,
    pub min_healthy_percent: u32,
    pub paused: bool,
    /// `progressDeadline` for this runner when it is not the default.
    pub deadline: Option<Duration>,
}

/// How long cloud calls take: each call's request travels, lands (the world changes at that
/// instant), and its answer travels back; other things happen meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Calls land and answer at the instant they are made.
    None,
    /// Each way takes 0 to `max_ms` milliseconds.
    Jitter { max_ms: u64 },
    /// Jitter of up to 400 ms, and one call in seven takes 1 to 10 s.
    Slow,
}

/// The moment an interposed edit waits for, for its runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// An observation including the runner has landed: the edit lands between it and anything
    /// the controller sends on the strength of it.
    Observed,
    /// A mutation of the runner has been sent and has not landed yet.
    Sending,
    /// The controller's SwitchListener for the runner has landed.
    Switched,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkEdit {
    Delete,
    Garble,
    /// `provisioning` becomes `failed` and back.
    ToggleState,
    Revision(&'static str),
    NewId,
    /// `started` an hour earlier: past any deadline.
    Backdate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordEdit {
    /// A well-formed record naming `active` (deployed with `deployed`).
    Valid {
        active: Option<Shard>,
        deployed: Vec<Shard>,
    },
    /// Text that is not a well-formed record.
    Garbled(&'static str),
    /// `{}`: nothing deployed yet, as far as the record says.
    Empty,
    Deleted,
}

pub const GARBLED: [&str; 6] = [
    "{\"active_shard\": \"blue\", ",
    "[\"blue\"]",
    "{\"active_shard\":\"purple\",\"deployed_shards\":[\"purple\"]}",
    "{\"active_shard\":\"blue\",\"deployed_shards\":[\"blue\",\"blue\"]}",
    "{\"active_shard\":\"blue\",\"deployment_ts\":\"yesterday\",\"deployed_shards\":[\"blue\"]}",
    "",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    // ---- desired-state edits ----
    Flip(usize),
    Revision(usize, &'static str),
    Pause(usize, bool),
    Capacity(usize, u32),
    /// The runner leaves the file, or comes back into it.
    ToggleInFile(usize),
    // ---- the world ----
    /// Every instance of the shard (or only its first) fails its health checks.
    InstancesFail {
        runner: usize,
        shard: Shard,
        all: bool,
    },
    InstancesRecover {
        runner: usize,
        shard: Shard,
    },
    // ---- API faults ----
    Fault(FaultRule),
    /// The controller dies after `after_calls` more cloud calls (the last of which took
    /// effect); a new one starts `down` later with nothing but the world.
    Crash {
        after_calls: u32,
        down: Duration,
    },
    // ---- out-of-band edits ----
    /// The listener switched by hand: to one shard's TG, or to both.
    ListenerByHand {
        runner: usize,
        to: Option<Shard>,
    },
    /// A human puts back the listener as it was before their edit.
    ListenerRestored(usize),
    RecordByHand {
        runner: usize,
        edit: RecordEdit,
    },
    /// A human puts back the record as it was before their edit.
    RecordRestored(usize),
    AsgDeleted {
        runner: usize,
        shard: Shard,
    },
    ScaledByHand {
        runner: usize,
        shard: Shard,
        capacity: u32,
    },
    /// SIGKILL: the controller dies at once, whatever call is in flight (a request not yet
    /// landed never lands; one that landed gets no answer); a new one starts `down` later.
    Kill {
        down: Duration,
    },
    /// `edit` lands the first time `when` happens for `runner` from now on (within
    /// TRIGGER_EXPIRY); `undo`, if any, lands its delay after that.
    Interpose {
        runner: usize,
        when: When,
        edit: Box<Event>,
        undo: Option<(Duration, Box<Event>)>,
    },
    /// The mark tag on the shard's ASG edited (or deleted) by hand.
    MarkByHand {
        runner: usize,
        shard: Shard,
        edit: MarkEdit,
    },
    TargetGroupDetached {
        runner: usize,
        shard: Shard,
    },
    TargetGroupAttached {
        runner: usize,
        shard: Shard,
    },
    /// Whatever shard the listener forwards to loses one instance of capacity, by hand.
    ShrinkServing {
        runner: usize,
    },
}

impl Event {
    /// Desired-state edits: the only events of a calm history.
    pub fn is_edit(&self) -> bool {
        matches!(
            self,
            Event::Flip(_)
                | Event::Revision(..)
                | Event::Pause(..)
                | Event::Capacity(..)
                | Event::ToggleInFile(_)
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

#[derive(Debug, Clone)]
pub struct History {
    pub seed: u64,
    /// Only desired-state edits: no faults, crashes, failures or out-of-band edits. Such a
    /// history must never halt and must converge within `liveness_bound` of its last edit.
    pub calm: bool,
    /// The simulated credentials act in another account than `expectedAccountId`.
    pub wrong_account: bool,
    pub runners: Vec<RunnerSetup>,
    pub latency: Latency,
    /// Sorted by time.
    pub events: Vec<(Duration, Event)>,
    pub end: Duration,
}

impl History {
    pub fn generate(seed: u64) -> History {
        let mut rng = Rng::new(seed);
        let calm = rng.chance(30);
        let wrong_account = !calm && rng.chance(2);
        let count = 1 + rng.weighted(&[50, 35, 15]);
        // Drawn from a generator of its own, so that every other draw of a seed, and with it
        // every recorded seed's history, stays what it was before rules were drawn.
        let mut routes = Rng::new(seed ^ 0x5275_6c65);
        let runners: Vec<RunnerSetup> = (0..count)
            .map(|i| {
                let live = rng.chance(65);
                let revisions: &[&'static str] = if calm {
                    &GOOD_REVISIONS
                } else {
                    &["1", "2", "2", "4", "3", "5", "9"]
                };
                RunnerSetup {
                    name: format!("r{i}"),
                    in_file: i < 2 || rng.chance(50),
                    live,
                    serving: rng.pick(&Shard::ALL),
                    elb_health_checks: rng.chance(70),
                    on_rule: routes.chance(40),
                    desired: rng.pick(&Shard::ALL),
                    revision: rng.pick(revisions),
                    capacity: rng.range(1, 3) as u32,
                    min_healthy_percent: rng.pick(&[100, 100, 50]),
                    paused: rng.chance(5),
                    deadline: None,
                }
            })
            .collect();
        let mut events = Vec::new();
        let mut joined = Vec::new();
        let mut now = Duration::ZERO;
        let n = rng.range(3, 14);
        for _ in 0..n {
            // Often within a deployment's span, sometimes long after: both matter.
            now += Duration::from_secs(rng.pick(&[1, 5, 15, 30, 60, 120, 300]) * rng.range(1, 3));
            if calm {
                let mut event = calm_event(&mut rng, count);
                // A runner taken out of the file is left mid-deployment, unmanaged; its attempt
                // may outlive its deadline, which is no calm history. Calm ones only join.
                if let Event::ToggleInFile(r) = event {
                    if runners[r].in_file || joined.contains(&r) {
                        event = Event::Flip(r);
                    } else {
                        joined.push(r);
                    }
                }
                // A pause lasts less than a deployment's deadline: a longer one runs the clock
                // out on an attempt (docs/how-it-decides.md counts the deadline from the mark), no
                // calm thing.
                if let Event::Pause(r, true) = event {
                    events.push((now + Duration::from_secs(20), Event::Pause(r, false)));
                }
                events.push((now, event));
            } else {
                for (delay, event) in wild_events(&mut rng, count) {
                    events.push((now + delay, event));
                }
            }
        }
        if calm {
            // Liveness is judged on a runner that is in the file and not paused at the end.
            let last = now + Duration::from_secs(1);
            for (i, r) in runners.iter().enumerate() {
                let flips = |e: &Event| match e {
                    Event::Pause(j, p) if *j == i => Some(*p),
                    _ => None,
                };
                let paused = events
                    .iter()
                    .rev()
                    .find_map(|(_, e)| flips(e))
                    .unwrap_or(r.paused);
                if paused {
                    events.push((last, Event::Pause(i, false)));
                }
            }
        }
        // Everything added since the first version of this generator comes from a stream of
        // its own, so that the draws above (and the histories of older seeds) stay as they were.
        let mut more = Rng::new(seed.rotate_left(29) ^ 0xa076_1d64_78bd_642f);
        let mut runners = runners;
        let latency = if calm {
            if more.chance(50) {
                Latency::None
            } else {
                Latency::Jitter { max_ms: 150 }
            }
        } else {
            match more.weighted(&[30, 45, 25]) {
                0 => Latency::None,
                1 => Latency::Jitter { max_ms: 400 },
                _ => Latency::Slow,
            }
        };
        if !calm {
            for r in &mut runners {
                if more.chance(20) {
                    r.deadline = Some(SHORT_DEADLINE);
                }
            }
        }
        let span = now;
        let extra = if calm {
            if more.chance(50) { more.range(1, 2) } else { 0 }
        } else if more.chance(75) {
            more.range(1, 4)
        } else {
            0
        };
        for _ in 0..extra {
            let at = Duration::from_secs(more.below(span.as_secs() + 60));
            let drawn = if calm {
                calm_interposed(&mut more, count)
            } else {
                new_wild_events(&mut more, count)
            };
            for (delay, event) in drawn {
                events.push((at + delay, event));
            }
        }
        events.sort_by_key(|(t, _)| *t);
        let last = events.last().map_or(Duration::ZERO, |(t, _)| *t);
        // A calm history's interposed edit may land up to TRIGGER_EXPIRY after it was armed,
        // and its undo 20 s after that; liveness is judged after both. (A wild history is not
        // judged on liveness: its last edits may come late or never.)
        let interposed = events
            .iter()
            .any(|(_, e)| matches!(e, Event::Interpose { .. }));
        let wait = if calm && interposed {
            TRIGGER_EXPIRY + Duration::from_secs(20)
        } else {
            Duration::ZERO
        };
        let end = last + wait + liveness_bound() + Duration::from_secs(60);
        History {
            seed,
            calm,
            wrong_account,
            runners,
            latency,
            events,
            end,
        }
    }

    /// Counts per kind of event, for the fault-mix report.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.events.iter().map(|(_, e)| kind(e))
    }
}

pub fn kind(event: &Event) -> &'static str {
    match event {
        Event::Flip(_) => "edit: flip shard",
        Event::Revision(..) => "edit: revision",
        Event::Pause(..) => "edit: pause/unpause",
        Event::Capacity(..) => "edit: capacity",
        Event::ToggleInFile(_) => "edit: runner added/removed",
        Event::Kill { .. } => "crash: SIGKILL (crash loop)",
        Event::Interpose { edit, when, .. } => match (edit.is_edit(), when) {
            (_, When::Switched) => "mid-call: serving shard scaled in after the switch",
            (true, When::Observed) => "mid-call: file edited after the observation",
            (true, _) => "mid-call: file edited while a call is in flight",
            (false, When::Observed) => "mid-call: world edited after the observation",
            (false, _) => "mid-call: world edited while a call is in flight",
        },
        Event::MarkByHand { .. } => "oob: mark tag edited",
        Event::TargetGroupDetached { .. } => "oob: target group detached",
        Event::TargetGroupAttached { .. } => "oob: target group reattached",
        Event::ShrinkServing { .. } => "oob: serving shard scaled in",
        Event::InstancesFail { .. } => "instances fail",
        Event::InstancesRecover { .. } => "instances recover",
        Event::Fault(rule) => match rule.fault {
            Fault::Throttled => "api: throttled",
            Fault::Transient => "api: 5xx",
            Fault::Timeout => "api: timeout",
            Fault::LostResponse => "api: lost response",
            Fault::ConcurrentWrite { .. } => "oob: concurrent record writer",
            Fault::WriteAfter { .. } => "oob: record writer before our read-back",
        },
        Event::Crash { .. } => "crash + restart",
        Event::ListenerByHand { .. } => "oob: listener switched",
        Event::ListenerRestored(_) => "oob: listener restored",
        Event::RecordByHand {
            edit: RecordEdit::Valid { .. },
            ..
        } => "oob: record edited",
        Event::RecordByHand {
            edit: RecordEdit::Garbled(_),
            ..
        } => "oob: record garbled",
        Event::RecordByHand {
            edit: RecordEdit::Deleted,
            ..
        } => "oob: record deleted",
        Event::RecordByHand {
            edit: RecordEdit::Empty,
            ..
        } => "oob: record wiped to {}",
        Event::RecordRestored(_) => "oob: record restored",
        Event::AsgDeleted { .. } => "oob: ASG deleted",
        Event::ScaledByHand { .. } => "oob: shard scaled",
    }
}

fn calm_event(rng: &mut Rng, runners: usize) -> Event {
    let r = rng.below(runners as u64) as usize;
    match rng.weighted(&[40, 25, 10, 15, 10]) {
        0 => Event::Flip(r),
        1 => Event::Revision(r, rng.pick(&GOOD_REVISIONS)),
        2 => Event::Pause(r, rng.chance(50)),
        3 => Event::Capacity(r, rng.range(1, 3) as u32),
        _ => Event::ToggleInFile(r),
    }
}

/// One draw of the full mix, with any follow-up (a recovery, a human undoing an edit) at its
/// delay.
fn wild_events(rng: &mut Rng, runners: usize) -> Vec<(Duration, Event)> {
    let runner = rng.below(runners as u64) as usize;
    let shard = rng.pick(&Shard::ALL);
    let later = |rng: &mut Rng| Duration::from_secs(rng.range(5, 240));
    let mut out = Vec::new();
    match rng.weighted(&[20, 10, 4, 5, 3, 8, 22, 9, 4, 6, 5, 1, 4, 3]) {
        0 => out.push((Duration::ZERO, Event::Flip(runner))),
        1 => {
            let revision = rng.pick(&["1", "2", "4", "3", "5", "9"]);
            out.push((Duration::ZERO, Event::Revision(runner, revision)));
        }
        2 => out.push((Duration::ZERO, Event::Pause(runner, rng.chance(50)))),
        3 => out.push((
            Duration::ZERO,
            Event::Capacity(runner, rng.range(1, 3) as u32),
        )),
        4 => out.push((Duration::ZERO, Event::ToggleInFile(runner))),
        5 => {
            let all = rng.chance(50);
            out.push((Duration::ZERO, Event::InstancesFail { runner, shard, all }));
            if rng.chance(75) {
                out.push((later(rng), Event::InstancesRecover { runner, shard }));
            }
        }
        6 => {
            let fault = rng.pick(&[
                Fault::Throttled,
                Fault::Transient,
                Fault::Timeout,
                Fault::LostResponse,
                Fault::LostResponse,
            ]);
            let rule = if rng.chance(20) {
                FaultRule::any(fault)
            } else {
                let (service, operation) = rng.pick(&OPERATIONS);
                FaultRule::on(service, operation, fault)
            };
            out.push((
                Duration::ZERO,
                Event::Fault(rule.times(rng.range(1, 3) as u32)),
            ));
        }
        7 => out.push((
            Duration::ZERO,
            Event::Crash {
                after_calls: rng.below(12) as u32,
                down: Duration::from_secs(rng.pick(&[0, 1, 10, 60])),
            },
        )),
        8 => {
            let to = if rng.chance(25) { None } else { Some(shard) };
            out.push((Duration::ZERO, Event::ListenerByHand { runner, to }));
            if rng.chance(60) {
                out.push((later(rng), Event::ListenerRestored(runner)));
            }
        }
        9 => {
            let edit = match rng.below(3) {
                0 => RecordEdit::Valid {
                    active: rng.pick(&[None, Some(Shard::Blue), Some(Shard::Green)]),
                    deployed: rng.pick(&[
                        vec![],
                        vec![Shard::Blue],
                        vec![Shard::Green],
                        vec![Shard::Blue, Shard::Green],
                    ]),
                },
                1 => RecordEdit::Garbled(rng.pick(&GARBLED)),
                _ => RecordEdit::Deleted,
            };
            out.push((Duration::ZERO, Event::RecordByHand { runner, edit }));
            if rng.chance(60) {
                out.push((later(rng), Event::RecordRestored(runner)));
            }
        }
        10 => out.push((
            Duration::ZERO,
            Event::ScaledByHand {
                runner,
                shard,
                capacity: rng.below(4) as u32,
            },
        )),
        11 => out.push((Duration::ZERO, Event::AsgDeleted { runner, shard })),
        12 => out.push(other_writer(rng, |value| Fault::ConcurrentWrite { value })),
        _ => out.push((Duration::ZERO, Event::Flip(runner))),
    }
    out
}

/// `edit` waiting for `when` on `runner`, and its undo.
fn interpose(
    runner: usize,
    when: When,
    edit: Event,
    undo: Option<(Duration, Event)>,
) -> (Duration, Event) {
    (
        Duration::ZERO,
        Event::Interpose {
            runner,
            when,
            edit: Box::new(edit),
            undo: undo.map(|(d, e)| (d, Box::new(e))),
        },
    )
}

/// A desired-state edit of a calm history, landing between an observation and what the
/// controller sends on it (or while a call is in flight). A pause is undone within 20 s.
fn calm_interposed(rng: &mut Rng, runners: usize) -> Vec<(Duration, Event)> {
    let runner = rng.below(runners as u64) as usize;
    let when = if rng.chance(80) {
        When::Observed
    } else {
        When::Sending
    };
    let (edit, undo) = match rng.weighted(&[40, 25, 15, 20]) {
        0 => (Event::Flip(runner), None),
        1 => (Event::Revision(runner, rng.pick(&GOOD_REVISIONS)), None),
        2 => (Event::Capacity(runner, rng.range(1, 3) as u32), None),
        _ => (
            Event::Pause(runner, true),
            Some((
                Duration::from_secs(rng.range(1, 20)),
                Event::Pause(runner, false),
            )),
        ),
    };
    vec![interpose(runner, when, edit, undo)]
}

/// One draw of the faults added for a checker that does not share the core's reading: the
/// situations of the issue that found six ways to make things worse.
fn new_wild_events(rng: &mut Rng, runners: usize) -> Vec<(Duration, Event)> {
    let runner = rng.below(runners as u64) as usize;
    let shard = rng.pick(&Shard::ALL);
    let later = |rng: &mut Rng| Duration::from_secs(rng.range(5, 240));
    let mut out = Vec::new();
    match rng.weighted(&[4, 4, 8, 6, 3, 2, 3, 2]) {
        // A wiped (or deleted) record with a live shard behind the listener, and a new
        // desired shard.
        0 => {
            let edit = if rng.chance(70) {
                RecordEdit::Empty
            } else {
                RecordEdit::Deleted
            };
            out.push((Duration::ZERO, Event::RecordByHand { runner, edit }));
            if rng.chance(70) {
                let after = Duration::from_millis(rng.below(10_000));
                out.push((after, Event::Flip(runner)));
            }
        }
        // A crash loop, often during an attempt of a revision that never becomes healthy.
        1 => {
            if rng.chance(50) {
                out.push((Duration::ZERO, Event::Revision(runner, BAD_REVISIONS[0])));
            }
            let mut t = Duration::from_secs(rng.range(3, 20));
            let until = t + Duration::from_secs(rng.range(60, 400));
            while t < until {
                let down = Duration::from_millis(rng.below(3_000));
                out.push((t, Event::Kill { down }));
                t += down + Duration::from_millis(rng.range(2_000, 8_000));
            }
        }
        // The file edited while a pass is under way.
        2 => {
            let when = if rng.chance(80) {
                When::Observed
            } else {
                When::Sending
            };
            let (edit, undo) = match rng.weighted(&[25, 25, 20, 15, 15]) {
                0 => (
                    Event::Pause(runner, true),
                    Some((later(rng), Event::Pause(runner, false))),
                ),
                1 => (Event::Flip(runner), None),
                2 => (
                    Event::Revision(runner, rng.pick(&["1", "2", "4", "3", "5", "9"])),
                    None,
                ),
                3 => (
                    Event::ToggleInFile(runner),
                    Some((later(rng), Event::ToggleInFile(runner))),
                ),
                _ => (Event::Capacity(runner, rng.range(1, 3) as u32), None),
            };
            out.push(interpose(runner, when, edit, undo));
        }
        // The world edited by someone else while a pass is under way.
        3 => {
            let when = if rng.chance(70) {
                When::Observed
            } else {
                When::Sending
            };
            let (edit, undo) = match rng.weighted(&[20, 25, 15, 15, 10, 15]) {
                0 => (
                    Event::ListenerByHand {
                        runner,
                        to: if rng.chance(25) { None } else { Some(shard) },
                    },
                    Some((later(rng), Event::ListenerRestored(runner))),
                ),
                1 => (
                    Event::RecordByHand {
                        runner,
                        edit: rng.pick(&[
                            RecordEdit::Empty,
                            RecordEdit::Deleted,
                            RecordEdit::Garbled(GARBLED[0]),
                            RecordEdit::Valid {
                                active: Some(shard),
                                deployed: vec![shard],
                            },
                        ]),
                    },
                    rng.chance(60)
                        .then(|| (later(rng), Event::RecordRestored(runner))),
                ),
                2 => (
                    Event::ScaledByHand {
                        runner,
                        shard,
                        capacity: rng.below(4) as u32,
                    },
                    None,
                ),
                3 => (
                    Event::MarkByHand {
                        runner,
                        shard,
                        edit: mark_edit(rng),
                    },
                    None,
                ),
                4 => (
                    Event::TargetGroupDetached { runner, shard },
                    rng.chance(60)
                        .then(|| (later(rng), Event::TargetGroupAttached { runner, shard })),
                ),
                _ => (
                    Event::InstancesFail {
                        runner,
                        shard,
                        all: rng.chance(50),
                    },
                    rng.chance(75)
                        .then(|| (later(rng), Event::InstancesRecover { runner, shard })),
                ),
            };
            out.push(interpose(runner, when, edit, undo));
        }
        4 => out.push((
            Duration::ZERO,
            Event::MarkByHand {
                runner,
                shard,
                edit: mark_edit(rng),
            },
        )),
        5 => {
            out.push((Duration::ZERO, Event::TargetGroupDetached { runner, shard }));
            if rng.chance(60) {
                out.push((later(rng), Event::TargetGroupAttached { runner, shard }));
            }
        }
        // The new shard scaled in by hand during its post-switch check.
        6 => out.push(interpose(
            runner,
            When::Switched,
            Event::ShrinkServing { runner },
            None,
        )),
        _ => out.push(other_writer(rng, |value| Fault::WriteAfter { value })),
    }
    out
}

/// Someone else's value (`{}` or garbage) in the record, around our next PutParameter.
fn other_writer(rng: &mut Rng, fault: fn(String) -> Fault) -> (Duration, Event) {
    let value = if rng.chance(50) {
        "{}".to_owned()
    } else {
        rng.pick(&GARBLED).to_owned()
    };
    (
        Duration::ZERO,
        Event::Fault(FaultRule::on("ssm", "PutParameter", fault(value))),
    )
}

fn mark_edit(rng: &mut Rng) -> MarkEdit {
    match rng.below(6) {
        0 => MarkEdit::Delete,
        1 => MarkEdit::Garble,
        2 => MarkEdit::ToggleState,
        3 => MarkEdit::Revision(rng.pick(&["1", "2", "3"])),
        4 => MarkEdit::NewId,
        _ => MarkEdit::Backdate,
    }
}
