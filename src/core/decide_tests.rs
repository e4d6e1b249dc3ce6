//! The phase machine of docs/how-it-decides.md, one transition at a time.

use super::condition::ConditionType;
use super::decide::decide;
use super::decision::Decision;
use super::guard::{Actor, guard};
use super::halt::HaltReason;
use super::mark::MarkState::{Failed, Provisioning};
use super::memory::{RunnerMemory, StickyHalt};
use super::observation::RunnerObservation;
use super::phase::Phase;
use super::shard::Shard::{Blue, Green};
use super::spec::RunnerSpec;
use super::step::{FailOutcome, RecordWrite, Step};
use super::testkit::*;

/// Decides, and checks that whatever the core proposes the guard lets through.
pub(super) fn at(
    spec: &RunnerSpec,
    obs: &RunnerObservation,
    memory: &RunnerMemory,
    secs: i64,
) -> Decision {
    let d = decide(spec, obs, memory, t(secs));
    if let Some(step) = &d.step {
        guard(step, spec, obs, &d.memory, Actor::Controller, t(secs))
            .expect("the guard refused the core's own step");
    }
    d
}

/// Green's in-flight attempt, booted but not healthy.
pub(super) fn green_sick() -> ShardState {
    green_marked().healthy(0).unhealthy(2)
}

/// Green's attempt, failed and not yet scaled down.
pub(super) fn green_failed_sick() -> ShardState {
    ShardState::up("2")
        .healthy(0)
        .unhealthy(2)
        .marked(Green, Some("2"), 0, Failed)
}

pub(super) fn green_marked() -> ShardState {
    ShardState::up("2").marked(Green, Some("2"), 0, Provisioning)
}

/// A controller that has watched the runner for a long time and never saw traffic on a shard
/// that is not serving now: drains run from what it saw. One just started (`default()`) cannot
/// know whether the listener left a shard a moment ago, and drains from its first look.
pub(super) fn watching() -> RunnerMemory {
    RunnerMemory {
        watching_since: Some(t(-100_000)),
        ..RunnerMemory::default()
    }
}

fn has(d: &Decision, kind: ConditionType) -> bool {
    d.conditions.iter().any(|c| c.kind == kind)
}

#[test]
fn provisioning_writes_the_mark_first() {
    let s = spec();
    let d = at(
        &s,
        &blue_live(&s, ShardState::down(), Blue),
        &RunnerMemory::default(),
        0,
    );
    assert_eq!(d.phase, Phase::Provisioning);
    match &d.step {
        Some(Step::WriteMark { shard: Green, mark }) => {
            assert_eq!(mark.state, Provisioning);
            assert_eq!(mark.revision.as_deref(), Some("2"));
            assert_eq!(mark.started, t(0));
        }
        other => panic!("expected the mark, got {other:?}"),
    }
    assert!(has(&d, ConditionType::Progressing));
}

#[test]
fn provisioning_then_sets_revision_and_capacity_then_attaches_the_tg() {
    let s = spec();
    let mem = RunnerMemory::default();
    let green = ShardState::down().marked(Green, Some("2"), 0, Provisioning);
    let d = at(&s, &blue_live(&s, green, Blue), &mem, 1);
    assert_eq!(
        d.step,
        Some(Step::ConfigureShard {
            shard: Green,
            capacity: 2,
            revision: Some("2".into())
        })
    );
    let green = green_sick().detached();
    let d = at(&s, &blue_live(&s, green, Blue), &mem, 2);
    assert_eq!(d.step, Some(Step::AttachTargetGroup { shard: Green }));
    assert_eq!(d.phase, Phase::Provisioning);
}

#[test]
fn no_health_judgment_during_the_grace_period() {
    let s = spec();
    let obs = blue_live(&s, green_marked(), Blue);
    let d = at(&s, &obs, &RunnerMemory::default(), 59);
    assert_eq!(d.phase, Phase::WaitingForGracePeriod);
    assert_eq!(d.step, None);
    assert_eq!(
        d.memory.healthy_streak, None,
        "no streak starts inside the grace period"
    );
}

#[test]
fn stability_needs_a_continuous_streak_and_an_unhealthy_look_restarts_it() {
    let s = spec();
    let healthy = blue_live(&s, green_marked(), Blue);
    let sick = blue_live(&s, green_marked().healthy(1).unhealthy(1), Blue);
    let d = at(&s, &healthy, &RunnerMemory::default(), 60);
    assert_eq!(d.phase, Phase::WaitingForStability);
    let d = at(&s, &healthy, &d.memory, 179);
    assert_eq!(d.phase, Phase::WaitingForStability, "119 s is not 120 s");
    let broken = at(&s, &sick, &d.memory, 170);
    assert_eq!(broken.memory.healthy_streak, None);
    let d2 = at(&s, &healthy, &broken.memory, 180);
    assert_eq!(
        d2.phase,
        Phase::WaitingForStability,
        "the streak started again at 180"
    );
    let d = at(&s, &healthy, &d.memory, 180);
    assert_eq!(d.phase, Phase::Switching);
    assert_eq!(d.step, Some(Step::SwitchListener { to: Green }));
}

#[test]
fn a_restarted_controller_starts_the_streak_again() {
    let s = spec();
    let healthy = blue_live(&s, green_marked(), Blue);
    let d = at(&s, &healthy, &RunnerMemory::default(), 500);
    assert_eq!(d.phase, Phase::WaitingForStability);
    assert_eq!(at(&s, &healthy, &d.memory, 620).phase, Phase::Switching);
}

#[test]
fn past_the_progress_deadline_the_deployment_fails() {
    let s = spec();
    let sick = blue_live(&s, green_sick(), Blue);
    let waiting = at(&s, &sick, &RunnerMemory::default(), 899);
    assert_eq!(waiting.phase, Phase::WaitingForStability);
    let d = at(&s, &sick, &waiting.memory, 900);
    assert_eq!(d.phase, Phase::Failed);
    match d.step {
        Some(Step::FailDeployment {
            shard: Green,
            mark,
            outcome: FailOutcome::Failed,
        }) => {
            assert_eq!(mark.state, Failed);
            assert_eq!(mark.id, "m0");
        }
        other => panic!("{other:?}"),
    }
}

/// The deadline is durable: a controller that starts (after a crash, however many) and finds
/// an attempt past it fails the attempt, healthy or not; it never starts it afresh, so a
/// crash-looping controller cannot turn a bad revision into a deploy loop.
#[test]
fn a_restarted_controller_fails_an_attempt_past_its_deadline() {
    let s = spec();
    for green in [green_sick(), green_marked()] {
        let obs = blue_live(&s, green, Blue);
        let d = at(&s, &obs, &RunnerMemory::default(), 900);
        assert!(
            matches!(d.step, Some(Step::FailDeployment { ref mark, .. }) if mark.id == "m0"),
            "{d:?}"
        );
    }
}

/// Only a controller that watched the runner paused over the attempt may start it afresh once
/// the deadline ran out during the pause; resumed in time, the attempt keeps its own clock.
#[test]
fn an_attempt_paused_past_its_deadline_starts_afresh() {
    let s = spec();
    let mut paused = spec();
    paused.paused = true;
    let sick = blue_live(&s, green_sick(), Blue);
    let during = at(&paused, &sick, &RunnerMemory::default(), 100);
    assert_eq!(during.memory.paused_over.as_deref(), Some("m0"));
    let after = at(&s, &sick, &during.memory, 901);
    assert!(
        matches!(after.step, Some(Step::WriteMark { ref mark, .. }) if mark.started == t(901)),
        "{after:?}"
    );
    let resumed = at(&s, &sick, &during.memory, 200);
    assert_eq!(resumed.memory.paused_over, None);
    let later = at(&s, &sick, &resumed.memory, 900);
    assert!(
        matches!(later.step, Some(Step::FailDeployment { .. })),
        "{later:?}"
    );
}

/// Simulation seed 16: an attempt at green abandoned by a flip to blue and scaled to zero; long
/// after, the file names green on the same revision again. The controller that saw it abandoned
/// starts it afresh rather than failing it on its old clock.
#[test]
fn an_abandoned_attempt_the_desired_state_returns_to_starts_afresh() {
    let s = spec();
    let empty = ShardState::down().marked(Green, Some("2"), 0, Provisioning);
    let obs = blue_live(&s, empty, Blue);
    let mut memory = RunnerMemory::default();
    memory.abandoned.green = Some("m0".into());
    let d = at(&s, &obs, &memory, 2_301);
    assert_eq!(d.phase, Phase::Provisioning);
    match d.step {
        Some(Step::WriteMark { shard: Green, mark }) => {
            assert_eq!((mark.started, mark.state), (t(2_301), Provisioning));
        }
        other => panic!("expected a fresh mark, got {other:?}"),
    }
    // A controller that did not see it left resumes it within its deadline, and fails it after.
    let d = at(&s, &obs, &RunnerMemory::default(), 899);
    assert!(matches!(d.step, Some(Step::ConfigureShard { .. })), "{d:?}");
    let d = at(&s, &obs, &RunnerMemory::default(), 2_301);
    assert!(matches!(d.step, Some(Step::FailDeployment { .. })), "{d:?}");
}

/// Simulation seed 220: a mark written on blue, then the file flips to green before blue got
/// any capacity. Left in place, the mark passed for a live attempt when the file flipped back
/// two minutes later, and its old start failed the deployment a minute in.
#[test]
fn the_mark_of_an_abandoned_attempt_that_holds_nothing_is_deleted() {
    let mut s = spec();
    s.active_shard = Blue;
    let left = ShardState::down().marked(Green, Some("2"), 0, Provisioning);
    let obs = blue_live(&s, left, Blue);
    let d = at(&s, &obs, &RunnerMemory::default(), 1);
    assert_eq!(
        (d.phase, d.step),
        (Phase::CleaningUp, Some(Step::DeleteMark { shard: Green }))
    );
    // With capacity left it is scaled down first; a failed mark is never the controller's to
    // clear.
    let busy = ShardState::up("2").marked(Green, Some("2"), 0, Provisioning);
    let obs = blue_live(&s, busy, Blue);
    let d = at(&s, &obs, &watching(), 1);
    assert_eq!(d.step, Some(Step::ScaleToZero { shard: Green }));
    // Just started, the controller cannot tell whether green took traffic a moment ago.
    let d = at(&s, &obs, &RunnerMemory::default(), 1);
    assert_eq!((d.phase, &d.step), (Phase::Draining, &None));
    assert_eq!(
        at(&s, &obs, &d.memory, 61).step,
        Some(Step::ScaleToZero { shard: Green })
    );
    let failed = ShardState::down().marked(Green, Some("2"), 0, Failed);
    let obs = blue_live(&s, failed, Blue);
    assert_eq!(at(&s, &obs, &RunnerMemory::default(), 1).step, None);
}

#[test]
fn a_failed_deployment_scales_the_shard_down_and_is_never_retried() {
    let s = spec();
    let failed = green_failed_sick();
    let d = at(&s, &blue_live(&s, failed, Blue), &watching(), 901);
    assert_eq!(
        (d.phase, d.step),
        (Phase::Failed, Some(Step::ScaleToZero { shard: Green }))
    );
    let gone = ShardState::down().marked(Green, Some("2"), 0, Failed);
    let obs = blue_live(&s, gone, Blue);
    for later in [1_000, 100_000, 10_000_000] {
        let d = at(&s, &obs, &RunnerMemory::default(), later);
        assert_eq!((d.phase, &d.step), (Phase::Failed, &None));
        assert!(has(&d, ConditionType::DeploymentFailed));
        assert!(d.next.contains("switchyard retry --runner runner-a"));
    }
    // A new desired state (another revision) is pursued: its mark is written.
    let mut next = spec();
    next.revision = Some("3".into());
    let d = at(&next, &obs, &RunnerMemory::default(), 2_000);
    assert!(
        matches!(d.step, Some(Step::WriteMark { shard: Green, .. })),
        "{d:?}"
    );
}

#[test]
fn verifying_after_switch_then_recording() {
    let s = spec();
    let switched = blue_live(&s, green_marked(), Green);
    let d = at(&s, &switched, &RunnerMemory::default(), 200);
    assert_eq!(d.phase, Phase::VerifyingAfterSwitch);
    assert_eq!(
        at(&s, &switched, &d.memory, 229).phase,
        Phase::VerifyingAfterSwitch
    );
    let d = at(&s, &switched, &d.memory, 230);
    assert_eq!(d.phase, Phase::Recording);
    match d.step {
        Some(Step::WriteRecord {
            record,
            expected_version: Some(7),
            purpose:
                RecordWrite::Activate {
                    shard: Green,
                    started,
                },
        }) => {
            assert_eq!(started, t(0));
            assert_eq!(
                record.to_json(),
                format!(
                    r#"{{"active_shard":"green","deployment_ts":"{}","deployed_shards":["blue","green"]}}"#,
                    t(230).format("%Y-%m-%dT%H:%M:%SZ")
                )
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_post_switch_failure_is_marked_then_rolled_back_then_scaled_down() {
    let s = spec();
    let sick = green_sick();
    let d = at(
        &s,
        &blue_live(&s, sick, Green),
        &RunnerMemory::default(),
        200,
    );
    assert!(
        matches!(
            d.step,
            Some(Step::FailDeployment {
                outcome: FailOutcome::RolledBack,
                ..
            })
        ),
        "{d:?}"
    );
    let failed = green_failed_sick();
    let d = at(&s, &blue_live(&s, failed.clone(), Green), &d.memory, 201);
    assert_eq!(d.step, Some(Step::SwitchListener { to: Blue }));
    // Green took traffic until the switch back: it drains before it goes (invariant 4).
    let back = blue_live(&s, failed, Blue);
    let d = at(&s, &back, &d.memory, 202);
    assert_eq!((d.phase, &d.step), (Phase::Failed, &None));
    let d = at(&s, &back, &d.memory, 261);
    assert_eq!(d.step, None);
    let d = at(&s, &back, &d.memory, 262);
    assert_eq!(d.step, Some(Step::ScaleToZero { shard: Green }));
}

fn verifying(since: i64) -> RunnerMemory {
    RunnerMemory {
        verified_since: Some(super::memory::Streak {
            mark_id: "m0".into(),
            since: t(since),
        }),
        ..RunnerMemory::default()
    }
}

#[test]
fn a_first_deployment_onto_the_shard_the_listener_names_still_waits_for_grace_and_stability() {
    let s = spec();
    let booting = green_sick();
    let obs = world(&s, Some("{}"), ShardState::down(), booting, Green);
    assert_eq!(
        at(&s, &obs, &RunnerMemory::default(), 10).phase,
        Phase::WaitingForGracePeriod
    );
    assert_eq!(
        at(&s, &obs, &RunnerMemory::default(), 100).phase,
        Phase::WaitingForStability
    );
    let up = world(&s, Some("{}"), ShardState::down(), green_marked(), Green);
    let d = at(&s, &up, &RunnerMemory::default(), 100);
    let d = at(&s, &up, &d.memory, 220);
    assert_eq!(
        (d.phase, &d.step),
        (Phase::VerifyingAfterSwitch, &None),
        "no switch to make"
    );
    let d = at(&s, &up, &d.memory, 250);
    assert!(matches!(d.step, Some(Step::WriteRecord { .. })), "{d:?}");
}

#[test]
fn a_first_deployment_that_fails_after_the_switch_has_nothing_to_switch_back_to() {
    let s = spec();
    let sick = green_sick();
    let d = at(
        &s,
        &world(&s, Some("{}"), ShardState::down(), sick, Green),
        &verifying(190),
        200,
    );
    assert!(
        matches!(
            d.step,
            Some(Step::FailDeployment {
                outcome: FailOutcome::Failed,
                ..
            })
        ),
        "{d:?}"
    );
    // Still serving: it is never scaled down under live traffic.
    let failed = green_failed_sick();
    let d = at(
        &s,
        &world(&s, Some("{}"), ShardState::down(), failed, Green),
        &RunnerMemory::default(),
        201,
    );
    assert_eq!((d.phase, d.step), (Phase::Failed, None));
}

#[test]
fn a_first_deployment_starts_from_a_missing_parameter_or_an_empty_record() {
    let s = spec();
    for record in [None, Some("{}")] {
        let d = at(
            &s,
            &world(&s, record, ShardState::down(), ShardState::down(), Blue),
            &RunnerMemory::default(),
            0,
        );
        assert!(
            matches!(d.step, Some(Step::WriteMark { shard: Green, .. })),
            "{record:?}: {d:?}"
        );
        let switched = world(&s, record, ShardState::down(), green_marked(), Green);
        let d = at(&s, &switched, &verifying(300), 300);
        let d = at(&s, &switched, &d.memory, 330);
        match d.step {
            Some(Step::WriteRecord {
                record: r,
                expected_version,
                ..
            }) => {
                assert_eq!(r.deployed_shards, vec![Green]);
                assert_eq!(expected_version, record.map(|_| 7));
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Simulation seed 2328: green retired while its old `provisioning` mark stayed; when the file
/// named green again on the same revision, the mark passed for a live attempt started long
/// ago, and the deployment failed twelve seconds in. The mark now goes before the clean-up.
#[test]
fn a_retired_shard_loses_its_mark_before_it_leaves_the_record() {
    let s = spec();
    let record = r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:03:50Z","deployed_shards":["blue","green"]}"#;
    let old = ShardState::down().marked(Blue, Some("1"), 0, Provisioning);
    let obs = world(&s, Some(record), old, ShardState::up("2"), Green);
    let d = at(&s, &obs, &RunnerMemory::default(), 10_000);
    assert_eq!(
        (d.phase, d.step),
        (Phase::CleaningUp, Some(Step::DeleteMark { shard: Blue }))
    );
    // Seed 1442: a failed mark stays, or the failed revision would be provisioned again.
    let failed = ShardState::down().marked(Blue, Some("1"), 0, Failed);
    let obs = world(&s, Some(record), failed, ShardState::up("2"), Green);
    let d = at(&s, &obs, &RunnerMemory::default(), 10_000);
    assert!(matches!(d.step, Some(Step::WriteRecord { .. })), "{d:?}");
}

#[test]
fn after_recording_the_old_shard_is_drained_shut_down_and_cleaned_up() {
    let s = spec();
    let record = r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:03:50Z","deployed_shards":["blue","green"]}"#;
    let mem = watching();
    let obs = world(
        &s,
        Some(record),
        ShardState::up("1"),
        ShardState::up("2"),
        Green,
    );
    let d = at(&s, &obs, &mem, 289);
    assert_eq!((d.phase, &d.step), (Phase::Draining, &None));
    let d = at(&s, &obs, &mem, 290);
    assert_eq!(
        (d.phase, d.step),
        (Phase::ShuttingDown, Some(Step::ScaleToZero { shard: Blue }))
    );
    let terminating = world(
        &s,
        Some(record),
        ShardState::down().unhealthy(2),
        ShardState::up("2"),
        Green,
    );
    let d = at(&s, &terminating, &mem, 300);
    assert_eq!((d.phase, &d.step), (Phase::ShuttingDown, &None));
    let empty = world(
        &s,
        Some(record),
        ShardState::down(),
        ShardState::up("2"),
        Green,
    );
    let d = at(&s, &empty, &mem, 310);
    assert_eq!(d.phase, Phase::CleaningUp);
    match d.step {
        Some(Step::WriteRecord {
            record,
            purpose: RecordWrite::CleanUp { shard: Blue },
            ..
        }) => assert_eq!(
            record.to_json(),
            r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:03:50Z","deployed_shards":["green"]}"#
        ),
        other => panic!("{other:?}"),
    }
    let done = r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:03:50Z","deployed_shards":["green"]}"#;
    let d = at(
        &s,
        &world(
            &s,
            Some(done),
            ShardState::down(),
            ShardState::up("2"),
            Green,
        ),
        &mem,
        320,
    );
    assert_eq!((d.phase, &d.step), (Phase::Converged, &None));
    assert!(has(&d, ConditionType::Ready));
}

#[test]
fn a_deployed_desired_shard_is_cleaned_up_before_it_is_provisioned_again() {
    let s = spec();
    // green is the old twin of a blue deployment still draining; the operator flips back.
    let record = r#"{"active_shard":"blue","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["blue","green"]}"#;
    let obs = world(
        &s,
        Some(record),
        ShardState::up("1"),
        ShardState::up("2"),
        Blue,
    );
    assert_eq!(at(&s, &obs, &watching(), 10).phase, Phase::Draining);
    assert_eq!(
        at(&s, &obs, &watching(), 60).step,
        Some(Step::ScaleToZero { shard: Green })
    );
}

#[test]
fn a_change_of_desired_state_abandons_the_attempt() {
    // The operator names blue again while green is half provisioned.
    let mut s = spec();
    s.active_shard = Blue;
    let half = green_sick();
    let d = at(&s, &blue_live(&s, half, Blue), &watching(), 50);
    assert_eq!(
        (d.phase, d.step.clone()),
        (
            Phase::ShuttingDown,
            Some(Step::ScaleToZero { shard: Green })
        ),
        "{d:?}"
    );
    assert_eq!(
        (d.phase, d.step),
        (
            Phase::ShuttingDown,
            Some(Step::ScaleToZero { shard: Green })
        )
    );
    // A new revision for the same shard: the old attempt is scaled away, then a new mark.
    let mut s = spec();
    s.revision = Some("3".into());
    let d = at(&s, &blue_live(&s, green_marked(), Blue), &watching(), 50);
    assert_eq!(d.step, Some(Step::ScaleToZero { shard: Green }));
    let emptied = ShardState::down().marked(Green, Some("2"), 0, Provisioning);
    let d = at(
        &s,
        &blue_live(&s, emptied, Blue),
        &RunnerMemory::default(),
        60,
    );
    assert!(
        matches!(d.step, Some(Step::WriteMark { ref mark, .. }) if mark.revision.as_deref() == Some("3")),
        "{d:?}"
    );
}

#[test]
fn a_paused_runner_reports_but_takes_no_step() {
    let mut s = spec();
    s.paused = true;
    let d = at(
        &s,
        &blue_live(&s, ShardState::down(), Blue),
        &RunnerMemory::default(),
        0,
    );
    assert_eq!((d.phase, &d.step), (Phase::Provisioning, &None));
    assert!(has(&d, ConditionType::Paused));
    assert!(
        d.next.contains("would: write the deployment mark on green"),
        "{}",
        d.next
    );
}

#[test]
fn a_converged_runner_on_another_revision_is_warned_not_changed() {
    let s = spec();
    let record = r#"{"active_shard":"green","deployed_shards":["green"]}"#;
    let d = at(
        &s,
        &world(
            &s,
            Some(record),
            ShardState::down(),
            ShardState::up("1"),
            Green,
        ),
        &RunnerMemory::default(),
        0,
    );
    assert_eq!((d.phase, &d.step), (Phase::Converged, &None));
    assert!(has(&d, ConditionType::RevisionMismatch));
}

#[test]
fn an_inactive_shard_with_foreign_capacity_is_warned_not_touched() {
    let mut s = spec();
    s.active_shard = Blue;
    let stray = ShardState::down().capacity(2).unhealthy(2);
    let d = at(&s, &blue_live(&s, stray, Blue), &RunnerMemory::default(), 0);
    assert_eq!((d.phase, &d.step), (Phase::Converged, &None));
    assert!(has(&d, ConditionType::InactiveShardHasCapacity));
}

#[test]
fn a_stability_window_shorter_than_the_health_checks_is_warned() {
    let mut s = spec();
    s.settings.stability_duration = std::time::Duration::from_secs(20);
    let d = at(
        &s,
        &blue_live(&s, ShardState::down(), Blue),
        &RunnerMemory::default(),
        0,
    );
    assert!(has(&d, ConditionType::StabilityWindowTooShort));
    let d = at(
        &spec(),
        &blue_live(&s, ShardState::down(), Blue),
        &RunnerMemory::default(),
        0,
    );
    assert!(!has(&d, ConditionType::StabilityWindowTooShort));
}

#[test]
fn halted_runners_get_no_step_and_name_the_reason() {
    let s = spec();
    let d = at(
        &s,
        &blue_live(&s, ShardState::up("2"), Blue),
        &RunnerMemory::default(),
        0,
    );
    assert_eq!(d.phase, Phase::Halted);
    assert_eq!(d.step, None);
    assert_eq!(
        d.halt.as_ref().unwrap().reason,
        HaltReason::InactiveShardHealthyNotDeployed
    );
    assert!(has(&d, ConditionType::Halted));
    assert!(d.next.contains("switchyard repair mark-deployed"));
}

#[test]
fn concurrent_modification_holds_until_the_record_changes_again() {
    let s = spec();
    let obs = blue_live(&s, ShardState::down(), Blue);
    let mem = RunnerMemory {
        sticky_halt: Some(StickyHalt {
            reason: HaltReason::ConcurrentModification,
            message: "version 8, expected 7".into(),
            record_version: Some(7),
            desired: (Green, Some("2".into())),
        }),
        ..RunnerMemory::default()
    };
    let d = at(&s, &obs, &mem, 0);
    assert_eq!(d.halt.unwrap().reason, HaltReason::ConcurrentModification);
    let mut repaired = obs.clone();
    repaired.record = super::observation::RecordObservation::Present {
        value: BLUE_ACTIVE.into(),
        version: 8,
    };
    let d = at(&s, &repaired, &mem, 0);
    assert_eq!(d.halt, None);
    assert_eq!(d.memory.sticky_halt, None);
}

#[test]
fn a_missing_launch_template_holds_until_the_desired_state_changes() {
    let s = spec();
    let obs = blue_live(&s, ShardState::down(), Blue);
    let mem = RunnerMemory {
        sticky_halt: Some(StickyHalt {
            reason: HaltReason::ResourceMissing,
            message: "launch template version 2 does not exist".into(),
            record_version: None,
            desired: (Green, Some("2".into())),
        }),
        ..RunnerMemory::default()
    };
    assert_eq!(
        at(&s, &obs, &mem, 0).halt.unwrap().reason,
        HaltReason::ResourceMissing
    );
    let mut fixed = spec();
    fixed.revision = Some("3".into());
    assert_eq!(at(&fixed, &obs, &mem, 0).halt, None);
}

/// Simulation seed 1005752: an attempt left by a flip (it could not be scaled down: the
/// listener's target on a first deployment) and returned to within its deadline resumed on its
/// old clock, and failed 15 s later. Returned to, it starts afresh.
#[test]
fn an_attempt_returned_to_after_it_was_abandoned_starts_afresh() {
    let s = spec();
    let obs = blue_live(&s, green_sick(), Blue);
    let mut memory = RunnerMemory::default();
    memory.abandoned.green = Some("m0".into());
    let d = at(&s, &obs, &memory, 100);
    assert!(
        matches!(d.step, Some(Step::WriteMark { ref mark, .. }) if mark.started == t(100)),
        "{d:?}"
    );
    // Without that memory (a restart) the attempt is simply resumed.
    let d = at(&s, &obs, &RunnerMemory::default(), 100);
    assert_eq!(d.phase, Phase::WaitingForStability);
}

/// Issue: a wiped record with a live shard behind the listener. Blue, deployed long ago, still
/// carries the `provisioning` mark of the attempt that deployed it; the record is set to `{}`
/// and the file names green. An old mark explains no live traffic: halt, mutate nothing.
#[test]
fn a_wiped_record_with_a_live_shard_behind_the_listener_halts() {
    let s = spec();
    let blue = ShardState::up("1").marked(Blue, Some("1"), 0, Provisioning);
    for record in [Some("{}"), None] {
        let obs = world(&s, record, blue.clone(), ShardState::down(), Blue);
        let d = at(&s, &obs, &watching(), 5_000);
        assert_eq!(d.step, None, "{d:?}");
        assert_eq!(
            d.halt.map(|h| h.reason),
            Some(HaltReason::InactiveShardHealthyNotDeployed)
        );
    }
    // The same mark on a shard that takes no traffic is an attempt of ours left behind.
    let obs = world(&s, Some("{}"), blue, ShardState::down(), Green);
    let d = at(&s, &obs, &watching(), 5_000);
    assert!(d.halt.is_none(), "{d:?}");
}

/// Issue: `required` followed whatever the ASG said. The attempt provisions capacity 2 (its
/// mark says so); scaled out of band to 1 during the post-switch check, its one healthy
/// instance is 1 of 2 required, not 1 of 1: the attempt is rolled back, never recorded.
#[test]
fn required_comes_from_the_attempts_own_capacity() {
    let s = spec();
    let halved = green_marked().capacity(1).healthy(1);
    let obs = blue_live(&s, halved, Green);
    let d = at(&s, &obs, &verifying(200), 210);
    let green = &d.shards.as_ref().unwrap().green.facts;
    assert_eq!((green.required, green.healthy), (2, false));
    assert!(
        matches!(
            d.step,
            Some(Step::FailDeployment {
                outcome: FailOutcome::RolledBack,
                ..
            })
        ),
        "{d:?}"
    );
    // A converged runner's shard is judged by its ASG: a capacity edited in the file applies to
    // the next attempt and never halts it.
    let mut bigger = spec();
    bigger.settings.capacity = 5;
    let obs = world(
        &bigger,
        Some(
            r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["green"]}"#,
        ),
        ShardState::down(),
        ShardState::up("2"),
        Green,
    );
    let d = at(&bigger, &obs, &watching(), 5_000);
    assert_eq!((d.phase, d.halt), (Phase::Converged, None));
}

/// docs/how-it-decides.md: the desired state changes back during `VerifyingAfterSwitch`: no halt;
/// traffic goes back to the recorded shard, the attempt's shard drains, is scaled to zero, and its
/// mark goes.
#[test]
fn a_change_after_the_switch_switches_back_then_drains_and_releases() {
    let mut s = spec();
    s.active_shard = Blue;
    let switched = blue_live(&s, green_marked(), Green);
    let d = at(&s, &switched, &watching(), 200);
    assert_eq!(d.halt, None, "{d:?}");
    assert_eq!(
        (d.phase, d.step.clone()),
        (Phase::Switching, Some(Step::SwitchListener { to: Blue }))
    );
    let back = blue_live(&s, green_marked(), Blue);
    let d = at(&s, &back, &d.memory, 202);
    assert_eq!((d.phase, &d.step), (Phase::Draining, &None));
    let d = at(&s, &back, &d.memory, 262);
    assert_eq!(d.step, Some(Step::ScaleToZero { shard: Green }));
    let empty = blue_live(
        &s,
        ShardState::down().marked(Green, Some("2"), 0, Provisioning),
        Blue,
    );
    let d = at(&s, &empty, &d.memory, 300);
    assert_eq!(d.step, Some(Step::DeleteMark { shard: Green }));
    // With blue down there is nothing to switch back to.
    let dead_blue = world(
        &s,
        Some(BLUE_ACTIVE),
        ShardState::up("1").healthy(0).unhealthy(2),
        green_marked(),
        Green,
    );
    let d = at(&s, &dead_blue, &watching(), 200);
    assert_eq!(
        (d.step, d.halt.map(|h| h.reason)),
        (None, Some(HaltReason::RollbackImpossible))
    );
}

/// docs/how-it-decides.md: once the record names the attempt's shard deployed, its mark goes.
#[test]
fn the_mark_of_a_recorded_attempt_is_deleted() {
    let s = spec();
    let record = r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["blue","green"]}"#;
    let obs = world(&s, Some(record), ShardState::up("1"), green_marked(), Green);
    let d = at(&s, &obs, &watching(), 240);
    assert_eq!(
        (d.phase, d.step),
        (Phase::Recording, Some(Step::DeleteMark { shard: Green }))
    );
}

/// Simulation seed 3388 (`drain-resize`): the listener left the in-flight shard, raised by hand
/// to 3; the attempt's capacity of 2 is restored only once the shard has drained.
#[test]
fn a_shard_the_listener_just_left_is_not_shrunk_before_it_drains() {
    let s = spec();
    let raised = green_marked().capacity(3).healthy(3);
    let obs = blue_live(&s, raised, Blue);
    let mut memory = watching();
    memory.traffic.green = Some(super::memory::Traffic::LeftBy(t(500)));
    let d = at(&s, &obs, &memory, 530);
    assert!(
        !matches!(d.step, Some(Step::ConfigureShard { capacity: 2, .. })),
        "{d:?}"
    );
    let d = at(&s, &obs, &memory, 560);
    assert!(
        matches!(d.step, Some(Step::ConfigureShard { capacity: 2, .. })),
        "{d:?}"
    );
}
