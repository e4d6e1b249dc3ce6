//! Each invariant of docs/invariants.md against a step that breaks it, and proof that each test
//! depends on its own check: with that check taken out of the guard, the same step goes through.

use proptest::prelude::*;

use super::decide::decide;
use super::guard::{Actor, CHECKS, Invariant, guard, guard_with};
use super::mark::MarkState::{Failed, Provisioning};
use super::memory::RunnerMemory;
use super::observation::RunnerObservation;
use super::shard::Shard::{self, Blue, Green};
use super::spec::RunnerSpec;
use super::status_record::StatusRecord;
use super::step::{FailOutcome, RecordWrite, Step};
use super::testkit::*;

/// A violation: the step, the world it is tried on, who proposes it, and the invariant it breaks.
struct Case {
    name: &'static str,
    spec: RunnerSpec,
    obs: RunnerObservation,
    step: Step,
    actor: Actor,
    breaks: Invariant,
}

fn record(text: &str) -> StatusRecord {
    StatusRecord::parse(text).unwrap()
}

fn new_mark(shard: Shard, revision: &str) -> super::mark::Mark {
    mark(shard, Some(revision), 100, Provisioning)
}

fn cases() -> Vec<Case> {
    let s = spec();
    let steady = || blue_live(&s, ShardState::down(), Blue);
    let green_half =
        ShardState::up("2")
            .healthy(1)
            .unhealthy(1)
            .marked(Green, Some("2"), 0, Provisioning);
    let mut paused = spec();
    paused.paused = true;
    let mut other_account = steady();
    other_account.account_id = "999999999999".into();
    vec![
        Case {
            name: "traffic to a shard short of healthy targets",
            spec: s.clone(),
            obs: blue_live(&s, green_half.clone(), Blue),
            step: Step::SwitchListener { to: Green },
            actor: Actor::Controller,
            breaks: Invariant::HealthyTrafficTarget,
        },
        Case {
            name: "active_shard naming a shard that is not serving",
            spec: s.clone(),
            obs: blue_live(
                &s,
                ShardState::up("2").marked(Green, Some("2"), 0, Provisioning),
                Blue,
            ),
            step: Step::WriteRecord {
                record: record(BLUE_ACTIVE).with_active(Green, t(300)),
                expected_version: Some(7),
                purpose: RecordWrite::Activate {
                    shard: Green,
                    started: t(0),
                },
            },
            actor: Actor::Controller,
            breaks: Invariant::HonestRecord,
        },
        Case {
            name: "deployed_shards gaining an unhealthy shard (even by an operator)",
            spec: s.clone(),
            obs: blue_live(&s, green_half.clone(), Blue),
            step: Step::WriteRecord {
                record: record(BLUE_ACTIVE).with_deployed(Green),
                expected_version: Some(7),
                purpose: RecordWrite::Repair { shard: Green },
            },
            actor: Actor::Operator,
            breaks: Invariant::HonestRecord,
        },
        Case {
            name: "a record write decided on an older version",
            spec: s.clone(),
            obs: steady(),
            step: Step::WriteRecord {
                record: record(BLUE_ACTIVE),
                expected_version: Some(6),
                purpose: RecordWrite::Repair { shard: Blue },
            },
            actor: Actor::Operator,
            breaks: Invariant::HonestRecord,
        },
        Case {
            name: "a mark on somebody else's healthy shard",
            spec: s.clone(),
            obs: blue_live(&s, ShardState::up("2"), Blue),
            step: Step::WriteMark {
                shard: Green,
                mark: new_mark(Green, "2"),
            },
            actor: Actor::Operator,
            breaks: Invariant::NoForeignProvision,
        },
        Case {
            name: "capacity onto a shard without our in-flight mark",
            spec: s.clone(),
            obs: steady(),
            step: Step::ConfigureShard {
                shard: Green,
                capacity: 2,
                revision: Some("2".into()),
            },
            actor: Actor::Controller,
            breaks: Invariant::NoForeignProvision,
        },
        Case {
            name: "scaling the active shard down",
            spec: s.clone(),
            obs: steady(),
            step: Step::ScaleToZero { shard: Blue },
            actor: Actor::Controller,
            breaks: Invariant::LiveShardKept,
        },
        Case {
            name: "scaling the serving (not yet recorded) shard down",
            spec: s.clone(),
            obs: blue_live(
                &s,
                ShardState::up("2").marked(Green, Some("2"), 0, Provisioning),
                Green,
            ),
            step: Step::ScaleToZero { shard: Green },
            actor: Actor::Controller,
            breaks: Invariant::LiveShardKept,
        },
        Case {
            name: "any step on a halted runner",
            spec: s.clone(),
            obs: world(
                &s,
                Some(BLUE_ACTIVE),
                ShardState::up("1").healthy(1).unhealthy(1),
                ShardState::down(),
                Blue,
            ),
            step: Step::WriteMark {
                shard: Green,
                mark: new_mark(Green, "2"),
            },
            actor: Actor::Controller,
            breaks: Invariant::HaltedUntouched,
        },
        Case {
            name: "any step on a paused runner",
            spec: paused,
            obs: steady(),
            step: Step::WriteMark {
                shard: Green,
                mark: new_mark(Green, "2"),
            },
            actor: Actor::Controller,
            breaks: Invariant::HaltedUntouched,
        },
        Case {
            name: "provisioning a revision that already failed on that shard",
            spec: s.clone(),
            obs: blue_live(
                &s,
                ShardState::down().marked(Green, Some("2"), 0, Failed),
                Blue,
            ),
            step: Step::WriteMark {
                shard: Green,
                mark: new_mark(Green, "2"),
            },
            actor: Actor::Controller,
            breaks: Invariant::FailedOnce,
        },
        Case {
            name: "the controller clearing a failed mark by itself",
            spec: s.clone(),
            obs: blue_live(
                &s,
                ShardState::down().marked(Green, Some("2"), 0, Failed),
                Blue,
            ),
            step: Step::DeleteMark { shard: Green },
            actor: Actor::Controller,
            breaks: Invariant::FailedOnce,
        },
        Case {
            name: "any step in another account",
            spec: s.clone(),
            obs: other_account,
            step: Step::WriteMark {
                shard: Green,
                mark: new_mark(Green, "2"),
            },
            actor: Actor::Operator,
            breaks: Invariant::ExpectedAccount,
        },
    ]
}

#[test]
fn every_invariant_refuses_its_violation() {
    for case in cases() {
        let refusal = guard(
            &case.step,
            &case.spec,
            &case.obs,
            &RunnerMemory::default(),
            case.actor,
        )
        .expect_err(case.name);
        assert_eq!(
            refusal.invariant, case.breaks,
            "{}: {}",
            case.name, refusal.message
        );
    }
}

#[test]
fn every_invariant_test_fails_when_its_check_is_taken_out() {
    for case in cases() {
        let without: Vec<_> = CHECKS
            .iter()
            .copied()
            .filter(|(i, _)| *i != case.breaks)
            .collect();
        let outcome = guard_with(
            &without,
            &case.step,
            &case.spec,
            &case.obs,
            &RunnerMemory::default(),
            case.actor,
        );
        assert!(
            outcome.is_ok(),
            "{}: still refused without its check: {outcome:?}",
            case.name
        );
    }
}

#[test]
fn every_invariant_of_the_guard_is_covered_by_a_case() {
    let covered: Vec<_> = cases().iter().map(|c| c.breaks).collect();
    for (invariant, _) in CHECKS {
        assert!(covered.contains(&invariant), "{invariant:?} has no case");
    }
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
    assert!(guard(&step, &s, &obs, &RunnerMemory::default(), Actor::Controller).is_err());
    assert!(guard(&step, &s, &obs, &RunnerMemory::default(), Actor::Operator).is_ok());
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
    assert!(guard(&step, &s, &obs, &RunnerMemory::default(), Actor::Operator).is_err());
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
        pursuing in any::<bool>(),
    ) {
        let mut s = spec();
        s.active_shard = if desired_blue { Blue } else { Green };
        s.revision = revision.map(String::from);
        s.paused = paused;
        let obs = world(&s, record, blue, green, if serving_blue { Blue } else { Green });
        let memory = RunnerMemory {
            healthy_streak: streak.map(|since| super::memory::Streak { mark_id: "m0".into(), since: t(since) }),
            verified_since: verified.map(|since| super::memory::Streak { mark_id: "m0".into(), since: t(since) }),
            pursuing: pursuing.then(|| "m0".to_string()),
            ..RunnerMemory::default()
        };
        let d = decide(&s, &obs, &memory, t(now));
        if let Some(step) = &d.step {
            prop_assert!(d.halt.is_none() && !paused);
            let verdict = guard(step, &s, &obs, &d.memory, Actor::Controller);
            prop_assert!(verdict.is_ok(), "{:?} refused: {:?}\nworld: {:?}", step, verdict, obs);
        }
        if let Some(Step::FailDeployment { outcome: FailOutcome::RolledBack, .. }) = &d.step {
            prop_assert!(obs.record.parse().unwrap().active_shard.is_some());
        }
    }
}
