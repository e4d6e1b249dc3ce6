//! Each invariant of docs/invariants.md against a step that breaks it, and proof that each test
//! depends on its own check: with that check taken out of the guard, the same step goes through.

use proptest::prelude::*;

use super::decide::decide;
use super::guard::{Actor, Invariant, RULES, Refusal, guard, guard_with};
use super::halt::HaltReason;
use super::mark::MarkState::{Failed, Provisioning};
use super::memory::{RunnerMemory, StickyHalt, Traffic};
use super::observation::RunnerObservation;
use super::shard::Shard::{self, Blue, Green};
use super::shard::ShardPair;
use super::spec::RunnerSpec;
use super::status_record::StatusRecord;
use super::step::{FailOutcome, RecordWrite, Step};
use super::testkit::*;

/// A violation: the step, the world it is tried on, who proposes it, and the rule (one branch
/// of one invariant's check) that must refuse it.
struct Case {
    name: &'static str,
    spec: RunnerSpec,
    obs: RunnerObservation,
    memory: RunnerMemory,
    now: i64,
    step: Step,
    actor: Actor,
    breaks: (Invariant, &'static str),
}

impl Case {
    fn new(name: &'static str, obs: RunnerObservation, step: Step) -> Case {
        Case {
            name,
            spec: spec(),
            obs,
            memory: RunnerMemory::default(),
            now: 1_000,
            step,
            actor: Actor::Controller,
            breaks: (Invariant::ExpectedAccount, ""),
        }
    }

    fn by(mut self, actor: Actor) -> Case {
        self.actor = actor;
        self
    }

    fn breaks(mut self, invariant: Invariant, rule: &'static str) -> Case {
        self.breaks = (invariant, rule);
        self
    }

    fn run(&self, rules: &[(Invariant, &str, super::guard::Rule)]) -> Result<(), Refusal> {
        guard_with(
            rules,
            &self.step,
            &self.spec,
            &self.obs,
            &self.memory,
            self.actor,
            t(self.now),
        )
    }
}

fn record(text: &str) -> StatusRecord {
    StatusRecord::parse(text).unwrap()
}

fn new_mark(shard: Shard, revision: &str) -> super::mark::Mark {
    mark(shard, Some(revision), 100, Provisioning)
}

fn write_mark(revision: &str) -> Step {
    Step::WriteMark {
        shard: Green,
        mark: new_mark(Green, revision),
    }
}

const BOTH_DEPLOYED: &str = r#"{"active_shard":"blue","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["blue","green"]}"#;
const GREEN_ACTIVE_BLUE_RETIRING: &str = r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["blue","green"]}"#;

fn cases() -> Vec<Case> {
    use Invariant::*;
    let s = spec();
    let steady = || blue_live(&s, ShardState::down(), Blue);
    let in_flight = || ShardState::up("2").marked(Green, Some("2"), 0, Provisioning);
    let green_half =
        ShardState::up("2")
            .healthy(1)
            .unhealthy(1)
            .marked(Green, Some("2"), 0, Provisioning);
    let activate = |text: &str| Step::WriteRecord {
        record: record(text).with_active(Green, t(300)),
        expected_version: Some(7),
        purpose: RecordWrite::Activate {
            shard: Green,
            started: t(0),
        },
    };
    let mut other_account = steady();
    other_account.account_id = "999999999999".into();
    let mut paused = Case::new("any step on a paused runner", steady(), write_mark("2"))
        .breaks(HaltedUntouched, "paused");
    paused.spec.paused = true;
    let mut sticky = Case::new(
        "any step while a halt learnt from a write holds",
        steady(),
        write_mark("2"),
    )
    .breaks(HaltedUntouched, "sticky_halt");
    sticky.memory.sticky_halt = Some(StickyHalt {
        reason: HaltReason::ConcurrentModification,
        message: "someone else wrote".into(),
        record_version: Some(7),
        desired: (Green, Some("2".into())),
    });
    let mut leftover_drain = Case::new(
        "scaling down a left-behind attempt within drainDelay of traffic leaving it",
        blue_live(
            &s,
            ShardState::up("1").marked(Green, Some("1"), 0, Provisioning),
            Blue,
        ),
        Step::ScaleToZero { shard: Green },
    )
    .breaks(LiveShardKept, "drain_seen");
    leftover_drain.memory.traffic.green = Some(Traffic::LeftBy(t(100)));
    leftover_drain.now = 130;
    let mut retired_drain = Case::new(
        "scaling the retired shard down within drainDelay of the recorded switch",
        world(
            &s,
            Some(GREEN_ACTIVE_BLUE_RETIRING),
            ShardState::up("1"),
            ShardState::up("2"),
            Green,
        ),
        Step::ScaleToZero { shard: Blue },
    )
    .breaks(LiveShardKept, "drain_recorded");
    retired_drain.now = 30;
    let mut no_capacity = Case::new(
        "traffic to a shard whose ASG is going to zero",
        blue_live(&s, in_flight().capacity(0), Blue),
        Step::SwitchListener { to: Green },
    )
    .breaks(HealthyTrafficTarget, "no_capacity");
    no_capacity.now = 1_000;
    vec![
        Case::new(
            "any step in another account",
            other_account,
            write_mark("2"),
        )
        .by(Actor::Operator)
        .breaks(ExpectedAccount, "account"),
        paused,
        Case::new(
            "any step on a halted runner",
            world(
                &s,
                Some(BLUE_ACTIVE),
                ShardState::up("1").healthy(1).unhealthy(1),
                ShardState::down(),
                Blue,
            ),
            write_mark("2"),
        )
        .breaks(HaltedUntouched, "halted"),
        sticky,
        Case::new(
            "traffic to a shard short of healthy targets",
            blue_live(&s, green_half.clone(), Blue),
            Step::SwitchListener { to: Green },
        )
        .breaks(HealthyTrafficTarget, "short_of_required"),
        no_capacity,
        Case::new(
            "a record write decided on an older version",
            steady(),
            Step::WriteRecord {
                record: record(BLUE_ACTIVE),
                expected_version: Some(6),
                purpose: RecordWrite::Repair { shard: Blue },
            },
        )
        .by(Actor::Operator)
        .breaks(HonestRecord, "version"),
        Case::new(
            "active_shard naming a deployed shard that is not healthy",
            world(
                &s,
                Some(BOTH_DEPLOYED),
                ShardState::up("1"),
                green_half.clone(),
                Green,
            ),
            activate(BOTH_DEPLOYED),
        )
        .by(Actor::Operator)
        .breaks(HonestRecord, "active_unhealthy"),
        Case::new(
            "active_shard naming a shard that is not serving",
            blue_live(&s, in_flight(), Blue),
            activate(BLUE_ACTIVE),
        )
        .breaks(HonestRecord, "active_not_serving"),
        Case::new(
            "deployed_shards gaining an unhealthy shard (even by an operator)",
            blue_live(&s, green_half.clone(), Blue),
            Step::WriteRecord {
                record: record(BLUE_ACTIVE).with_deployed(Green),
                expected_version: Some(7),
                purpose: RecordWrite::Repair { shard: Green },
            },
        )
        .by(Actor::Operator)
        .breaks(HonestRecord, "deployed_unhealthy"),
        Case::new(
            "a mark for a revision that is not desired",
            steady(),
            write_mark("3"),
        )
        .breaks(NoForeignProvision, "mark_not_desired"),
        Case::new(
            "a mark on somebody else's healthy shard",
            blue_live(&s, ShardState::up("2"), Blue),
            write_mark("2"),
        )
        .by(Actor::Operator)
        .breaks(NoForeignProvision, "foreign_healthy"),
        Case::new(
            "capacity onto a shard without our in-flight mark",
            steady(),
            Step::ConfigureShard {
                shard: Green,
                capacity: 2,
                revision: Some("2".into()),
            },
        )
        .breaks(NoForeignProvision, "no_in_flight_mark"),
        Case::new(
            "capacity onto a deployed shard",
            world(
                &s,
                Some(BOTH_DEPLOYED),
                ShardState::up("1"),
                ShardState::down().marked(Green, Some("2"), 0, Provisioning),
                Blue,
            ),
            Step::ConfigureShard {
                shard: Green,
                capacity: 2,
                revision: Some("2".into()),
            },
        )
        .by(Actor::Operator)
        .breaks(NoForeignProvision, "live_or_recorded"),
        Case::new(
            "scaling the active shard down (traffic moved off it by hand)",
            blue_live(&s, ShardState::up("2"), Green),
            Step::ScaleToZero { shard: Blue },
        )
        .by(Actor::Operator)
        .breaks(LiveShardKept, "active"),
        Case::new(
            "scaling the serving (not yet recorded) shard down",
            blue_live(&s, in_flight(), Green),
            Step::ScaleToZero { shard: Green },
        )
        .breaks(LiveShardKept, "takes_traffic"),
        leftover_drain,
        retired_drain,
        Case::new(
            "provisioning a revision that already failed on that shard",
            blue_live(
                &s,
                ShardState::down().marked(Green, Some("2"), 0, Failed),
                Blue,
            ),
            write_mark("2"),
        )
        .breaks(FailedOnce, "failed_revision"),
        Case::new(
            "a second attempt over the one in flight (a restarted controller)",
            blue_live(&s, green_half.clone(), Blue),
            write_mark("2"),
        )
        .breaks(FailedOnce, "attempt_in_flight"),
        Case::new(
            "the controller clearing a failed mark by itself",
            blue_live(
                &s,
                ShardState::down().marked(Green, Some("2"), 0, Failed),
                Blue,
            ),
            Step::DeleteMark { shard: Green },
        )
        .breaks(FailedOnce, "mark_deleted"),
    ]
}

#[test]
fn every_rule_refuses_its_violation() {
    for case in cases() {
        let refusal = case.run(&RULES).expect_err(case.name);
        assert_eq!(
            refusal.invariant, case.breaks.0,
            "{}: {}",
            case.name, refusal.message
        );
    }
}

/// Each rule is one branch of one invariant's check: taken out alone, its own case goes
/// through, so no rule is covered only by another that happens to refuse the same step.
#[test]
fn every_rule_test_fails_when_its_rule_is_taken_out() {
    for case in cases() {
        let without: Vec<_> = RULES
            .iter()
            .copied()
            .filter(|(_, rule, _)| *rule != case.breaks.1)
            .collect();
        let outcome = case.run(&without);
        assert!(
            outcome.is_ok(),
            "{}: still refused without rule {}: {outcome:?}",
            case.name,
            case.breaks.1
        );
    }
}

#[test]
fn every_rule_of_the_guard_is_covered_by_a_case() {
    let covered: Vec<_> = cases().iter().map(|c| c.breaks).collect();
    for (invariant, rule, _) in RULES {
        assert!(
            covered.contains(&(invariant, rule)),
            "{invariant:?}/{rule} has no case"
        );
    }
}

#[test]
fn an_attempt_seen_abandoned_or_paused_past_its_deadline_may_start_afresh() {
    let s = spec();
    let obs = blue_live(
        &s,
        ShardState::down().marked(Green, Some("2"), 0, Provisioning),
        Blue,
    );
    let allowed = |memory: &RunnerMemory| {
        guard(
            &write_mark("2"),
            &s,
            &obs,
            memory,
            Actor::Controller,
            t(1_000),
        )
        .is_ok()
    };
    let mut memory = RunnerMemory::default();
    assert!(
        !allowed(&memory),
        "a restarted controller starts no new attempt"
    );
    memory.abandoned.green = Some("m0".into());
    assert!(allowed(&memory), "seen abandoned and returned to");
    memory.abandoned.green = None;
    memory.paused_over = Some("m0".into());
    assert!(allowed(&memory), "seen paused past its deadline");
}

#[test]
fn a_drained_shard_may_go() {
    let s = spec();
    let obs = blue_live(
        &s,
        ShardState::up("1").marked(Green, Some("1"), 0, Provisioning),
        Blue,
    );
    let mut memory = RunnerMemory::default();
    memory.traffic.green = Some(Traffic::LeftBy(t(100)));
    let step = Step::ScaleToZero { shard: Green };
    assert!(guard(&step, &s, &obs, &memory, Actor::Controller, t(159)).is_err());
    assert!(guard(&step, &s, &obs, &memory, Actor::Controller, t(160)).is_ok());
    // Never seen taking traffic, but only watched since 500: it may have, just before.
    memory.traffic.green = None;
    memory.watching_since = Some(t(500));
    assert!(guard(&step, &s, &obs, &memory, Actor::Controller, t(520)).is_err());
    assert!(guard(&step, &s, &obs, &memory, Actor::Controller, t(560)).is_ok());
}

#[test]
fn an_operator_may_repair_a_halted_runner() {
    let s = spec();
    let obs = blue_live(&s, ShardState::up("2"), Blue);
    let step = Step::WriteRecord {
        record: record(BLUE_ACTIVE).with_deployed(Green),
        expected_version: Some(7),
        purpose: RecordWrite::Repair { shard: Green },
    };
    let (memory, now) = (RunnerMemory::default(), t(1_000));
    assert!(guard(&step, &s, &obs, &memory, Actor::Controller, now).is_err());
    assert!(guard(&step, &s, &obs, &memory, Actor::Operator, now).is_ok());
}

#[test]
fn a_malformed_record_is_never_overwritten() {
    let s = spec();
    let obs = world(
        &s,
        Some("{garbled"),
        ShardState::up("1"),
        ShardState::down(),
        Blue,
    );
    let step = Step::WriteRecord {
        record: record(BLUE_ACTIVE),
        expected_version: Some(7),
        purpose: RecordWrite::Repair { shard: Blue },
    };
    assert!(
        guard(
            &step,
            &s,
            &obs,
            &RunnerMemory::default(),
            Actor::Operator,
            t(0)
        )
        .is_err()
    );
}

fn arb_shard_state() -> impl Strategy<Value = ShardState> {
    let marks = prop_oneof![
        Just(None),
        (
            any::<bool>(),
            prop_oneof![Just("1"), Just("2")],
            0i64..2_000,
            any::<bool>()
        )
            .prop_map(|(blue, rev, started, failed)| {
                let shard = if blue { Blue } else { Green };
                Some(
                    mark(
                        shard,
                        Some(rev),
                        started,
                        if failed { Failed } else { Provisioning },
                    )
                    .to_tag_value()
                    .unwrap(),
                )
            }),
        Just(Some("{garbled".to_string())),
    ];
    (
        0u32..4,
        0u32..4,
        0u32..3,
        prop_oneof![Just("1"), Just("2")],
        any::<bool>(),
        marks,
    )
        .prop_map(
            |(capacity, healthy, unhealthy, revision, attached, mark)| ShardState {
                capacity,
                healthy: healthy.min(capacity.max(healthy)),
                unhealthy,
                revision,
                attached,
                mark,
            },
        )
}

fn arb_record() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("{}")),
        Just(Some(BLUE_ACTIVE)),
        Just(Some(
            r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["green"]}"#
        )),
        Just(Some(
            r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["blue","green"]}"#
        )),
        Just(Some(
            r#"{"active_shard":"blue","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["green","blue"]}"#
        )),
        Just(Some(r#"{"deployed_shards":["blue"]}"#)),
        Just(Some(r#"{"active_shard":"blue"}"#)),
        Just(Some("nonsense")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Whatever the world, the core never proposes a step its own guard refuses.
    #[test]
    fn no_step_the_core_proposes_is_refused_by_the_guard(
        record in arb_record(),
        blue in arb_shard_state(),
        green in arb_shard_state(),
        serving_blue in any::<bool>(),
        desired_blue in any::<bool>(),
        revision in prop_oneof![Just(None), Just(Some("1")), Just(Some("2"))],
        paused in any::<bool>(),
        now in 0i64..3_000,
        streak in prop_oneof![Just(None), (0i64..3_000).prop_map(Some)],
        verified in prop_oneof![Just(None), (0i64..3_000).prop_map(Some)],
        interrupted in 0u8..3,
        traffic in prop_oneof![Just(None), Just(Some(Traffic::Taking)), (0i64..3_000).prop_map(|at| Some(Traffic::LeftBy(t(at))))],
        watching in prop_oneof![Just(None), (0i64..3_000).prop_map(Some)],
    ) {
        let mut s = spec();
        s.active_shard = if desired_blue { Blue } else { Green };
        s.revision = revision.map(String::from);
        s.paused = paused;
        let obs = world(&s, record, blue, green, if serving_blue { Blue } else { Green });
        let memory = RunnerMemory {
            healthy_streak: streak.map(|since| super::memory::Streak { mark_id: "m0".into(), since: t(since) }),
            verified_since: verified.map(|since| super::memory::Streak { mark_id: "m0".into(), since: t(since) }),
            paused_over: (interrupted == 1).then(|| "m0".to_string()),
            abandoned: ShardPair { blue: None, green: (interrupted == 2).then(|| "m0".to_string()) },
            traffic: ShardPair { blue: traffic, green: traffic },
            watching_since: watching.map(t),
            ..RunnerMemory::default()
        };
        let d = decide(&s, &obs, &memory, t(now));
        if let Some(step) = &d.step {
            prop_assert!(d.halt.is_none() && !paused);
            let verdict = guard(step, &s, &obs, &d.memory, Actor::Controller, t(now));
            prop_assert!(verdict.is_ok(), "{:?} refused: {:?}\nworld: {:?}", step, verdict, obs);
        }
        if let Some(Step::FailDeployment { outcome: FailOutcome::RolledBack, .. }) = &d.step {
            prop_assert!(obs.record.parse().unwrap().active_shard.is_some());
        }
        // A timed wait ends after now, and holds until it ends: the loop that wakes at its end
        // has missed no step by sleeping until then.
        if let Some(wake) = d.wake {
            prop_assert!(d.step.is_none() && wake > t(now), "{:?}", d);
            let before = decide(&s, &obs, &d.memory, wake - chrono::Duration::milliseconds(1));
            prop_assert!(before.step.is_none(), "a step before the wake at {}: {:?}", wake, before);
        }
    }
}

#[test]
fn a_shrink_that_is_not_to_zero_waits_for_the_drain_too() {
    let s = spec();
    let obs = blue_live(
        &s,
        ShardState::up("2")
            .capacity(3)
            .healthy(3)
            .marked(Green, Some("2"), 0, Provisioning),
        Blue,
    );
    let mut memory = RunnerMemory::default();
    memory.traffic.green = Some(Traffic::LeftBy(t(500)));
    let step = Step::ConfigureShard {
        shard: Green,
        capacity: 2,
        revision: Some("2".into()),
    };
    assert!(guard(&step, &s, &obs, &memory, Actor::Controller, t(530)).is_err());
    assert!(guard(&step, &s, &obs, &memory, Actor::Controller, t(560)).is_ok());
}
