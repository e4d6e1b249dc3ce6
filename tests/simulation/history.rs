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
        events.sort_by_key(|(t, _)| *t);
        let last = events.last().map_or(Duration::ZERO, |(t, _)| *t);
        let end = last + liveness_bound() + Duration::from_secs(60);
        History {
            seed,
            calm,
            wrong_account,
            runners,
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
        Event::InstancesFail { .. } => "instances fail",
        Event::InstancesRecover { .. } => "instances recover",
        Event::Fault(rule) => match rule.fault {
            Fault::Throttled => "api: throttled",
            Fault::Transient => "api: 5xx",
            Fault::Timeout => "api: timeout",
            Fault::LostResponse => "api: lost response",
            Fault::ConcurrentWrite { .. } => "oob: concurrent record writer",
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
        12 => {
            let value = if rng.chance(50) {
                "{}".to_owned()
            } else {
                rng.pick(&GARBLED).to_owned()
            };
            out.push((
                Duration::ZERO,
                Event::Fault(FaultRule::on(
                    "ssm",
                    "PutParameter",
                    Fault::ConcurrentWrite { value },
                )),
            ));
        }
        _ => out.push((Duration::ZERO, Event::Flip(runner))),
    }
    out
}
