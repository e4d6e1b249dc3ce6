//! When each timed wait ends (`Decision::wake`): the instant the loop looks again. A look one
//! moment before it still waits; a look at it moves on. Waking is only ever a time to look: the
//! step comes from the observation made then, and the guard still judges it.

use super::decide_tests::{at, green_failed_sick, green_marked, green_sick, watching};
use super::decision::Decision;
use super::memory::{RunnerMemory, Traffic};
use super::observation::RunnerObservation;
use super::phase::Phase;
use super::shard::Shard::{Blue, Green};
use super::spec::RunnerSpec;
use super::step::{RecordWrite, Step};
use super::testkit::*;

fn wakes_at(d: &Decision, secs: i64) {
    assert_eq!(d.wake, Some(t(secs)), "{d:#?}");
}

/// The wait `d` is in ends at `end`: a look a second before it, on the same world, still waits
/// and names the same end. Returns the decision of the look at `end`.
fn held_until(s: &RunnerSpec, obs: &RunnerObservation, d: &Decision, end: i64) -> Decision {
    wakes_at(d, end);
    let before = at(s, obs, &d.memory, end - 1);
    assert_eq!(
        before.step, None,
        "a step before the wait ended: {before:#?}"
    );
    wakes_at(&before, end);
    at(s, obs, &before.memory, end)
}

/// Green's record written at t(230): green active, deployed and serving; blue still deployed.
fn recorded(s: &RunnerSpec, blue: ShardState) -> RunnerObservation {
    let record = r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:03:50Z","deployed_shards":["blue","green"]}"#;
    world(s, Some(record), blue, ShardState::up("2"), Green)
}

#[test]
fn the_grace_period_wakes_at_its_end_and_stability_is_judged_from_there() {
    let s = spec();
    let obs = blue_live(&s, green_marked(), Blue);
    // The mark started at t(0); healthCheckGracePeriod is 60 s.
    let d = at(&s, &obs, &RunnerMemory::default(), 5);
    assert_eq!(d.phase, Phase::WaitingForGracePeriod);
    let d = held_until(&s, &obs, &d, 60);
    assert_eq!(d.phase, Phase::WaitingForStability);
    assert_eq!(
        d.memory.healthy_streak.as_ref().map(|s| s.since),
        Some(t(60))
    );
}

#[test]
fn the_stability_window_wakes_at_its_end_and_looks_inside_it_keep_that_end() {
    let s = spec();
    let healthy = blue_live(&s, green_marked(), Blue);
    let d = at(&s, &healthy, &RunnerMemory::default(), 60);
    wakes_at(&d, 180);
    // Looks on the transition cadence within the window neither move its end nor act.
    let d = at(&s, &healthy, &d.memory, 62);
    assert_eq!((d.phase, &d.step), (Phase::WaitingForStability, &None));
    // The look at the window's end is the last one it needs.
    let d = held_until(&s, &healthy, &d, 180);
    assert_eq!(d.step, Some(Step::SwitchListener { to: Green }));
    assert_eq!(d.wake, None, "a step to take is no timed wait");
}

#[test]
fn an_unhealthy_look_restarts_the_window_and_its_end_with_it() {
    let s = spec();
    let healthy = blue_live(&s, green_marked(), Blue);
    let sick = blue_live(&s, green_sick(), Blue);
    let d = at(&s, &healthy, &RunnerMemory::default(), 60);
    wakes_at(&d, 180);
    // Not healthy: when it will be is the cloud's business; only the deadline is timed.
    let d = at(&s, &sick, &d.memory, 100);
    assert_eq!(d.phase, Phase::WaitingForStability);
    wakes_at(&d, 900);
    let d = at(&s, &healthy, &d.memory, 110);
    let d = held_until(&s, &healthy, &d, 230);
    assert_eq!(d.step, Some(Step::SwitchListener { to: Green }));
}

#[test]
fn a_window_that_would_end_past_the_progress_deadline_wakes_at_the_deadline() {
    let s = spec();
    let healthy = blue_live(&s, green_marked(), Blue);
    // progressDeadline is 900 s from the mark's start: a streak from 850 cannot finish.
    let d = at(&s, &healthy, &RunnerMemory::default(), 850);
    let d = held_until(&s, &healthy, &d, 900);
    assert!(matches!(d.step, Some(Step::FailDeployment { .. })), "{d:?}");
}

#[test]
fn the_post_switch_check_wakes_at_its_end() {
    let s = spec();
    let switched = blue_live(&s, green_marked(), Green);
    // The first look that shows traffic on green starts the check (30 s).
    let d = at(&s, &switched, &RunnerMemory::default(), 200);
    assert_eq!(d.phase, Phase::VerifyingAfterSwitch);
    let d = held_until(&s, &switched, &d, 230);
    assert!(
        matches!(
            d.step,
            Some(Step::WriteRecord {
                purpose: RecordWrite::Activate { .. },
                ..
            })
        ),
        "{d:?}"
    );
}

#[test]
fn a_first_deployment_already_serving_wakes_when_its_verification_ends() {
    let s = spec();
    let up = world(&s, Some("{}"), ShardState::down(), green_marked(), Green);
    let d = at(&s, &up, &RunnerMemory::default(), 100);
    wakes_at(&d, 220);
    // Stable at 220 with nothing to switch: the verification runs from there.
    let d = at(&s, &up, &d.memory, 220);
    assert_eq!((d.phase, &d.step), (Phase::VerifyingAfterSwitch, &None));
    let d = held_until(&s, &up, &d, 250);
    assert!(matches!(d.step, Some(Step::WriteRecord { .. })), "{d:?}");
}

/// The drain runs `drainDelay` from the recorded switch, or (invariant 4) from when this
/// controller saw the listener leave the shard, if that was later (a listener edited by hand).
#[test]
fn the_drain_wakes_when_the_later_of_its_two_starts_has_drained() {
    let s = spec();
    let obs = recorded(&s, ShardState::up("1"));
    let d = at(&s, &obs, &watching(), 231);
    assert_eq!(d.phase, Phase::Draining);
    let d = held_until(&s, &obs, &d, 290);
    assert_eq!(d.step, Some(Step::ScaleToZero { shard: Blue }));
    let mut memory = watching();
    memory.traffic.blue = Some(Traffic::LeftBy(t(260)));
    let d = at(&s, &obs, &memory, 270);
    let d = held_until(&s, &obs, &d, 320);
    assert_eq!(d.step, Some(Step::ScaleToZero { shard: Blue }));
}

/// A capacity raised by hand on the in-flight shard is restored to the attempt's once the shard
/// has drained after the listener left it: that drain is a timed wait of its own, which ends
/// before the stability window here.
#[test]
fn a_shrink_held_back_by_a_drain_wakes_when_the_drain_ends() {
    let s = spec();
    let raised = green_marked().capacity(3).healthy(3);
    let obs = blue_live(&s, raised, Blue);
    let mut memory = watching();
    memory.traffic.green = Some(Traffic::LeftBy(t(500)));
    let d = at(&s, &obs, &memory, 530);
    assert_eq!(d.phase, Phase::WaitingForStability);
    let d = held_until(&s, &obs, &d, 560);
    assert!(
        matches!(d.step, Some(Step::ConfigureShard { capacity: 2, .. })),
        "{d:?}"
    );
}

#[test]
fn a_rolled_back_shard_drains_until_its_wake_before_it_is_released() {
    let s = spec();
    let failed = green_failed_sick();
    // Traffic seen on green at 201, back on blue at 202: green drains until 262.
    let d = at(&s, &blue_live(&s, failed.clone(), Green), &watching(), 201);
    assert_eq!(d.step, Some(Step::SwitchListener { to: Blue }));
    let back = blue_live(&s, failed, Blue);
    let d = at(&s, &back, &d.memory, 202);
    assert_eq!((d.phase, &d.step), (Phase::Failed, &None));
    let d = held_until(&s, &back, &d, 262);
    assert_eq!(d.step, Some(Step::ScaleToZero { shard: Green }));
}

#[test]
fn no_wake_without_a_timed_wait() {
    let s = spec();
    // A step to take.
    let d = at(
        &s,
        &blue_live(&s, ShardState::down(), Blue),
        &RunnerMemory::default(),
        0,
    );
    assert_eq!((d.step.is_some(), d.wake), (true, None), "{d:?}");
    // Instances terminating: the cloud's business, looked at on the cadence.
    let terminating = recorded(&s, ShardState::down().unhealthy(2));
    let d = at(&s, &terminating, &watching(), 300);
    assert_eq!(
        (d.phase, &d.step, d.wake),
        (Phase::ShuttingDown, &None, None)
    );
    // At rest.
    let done = r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:03:50Z","deployed_shards":["green"]}"#;
    let converged = world(
        &s,
        Some(done),
        ShardState::down(),
        ShardState::up("2"),
        Green,
    );
    let d = at(&s, &converged, &watching(), 400);
    assert_eq!((d.phase, d.wake), (Phase::Converged, None));
    // Halted: nothing is pursued, so nothing is timed.
    let d = at(
        &s,
        &blue_live(&s, ShardState::up("2"), Blue),
        &RunnerMemory::default(),
        0,
    );
    assert_eq!((d.phase, d.wake), (Phase::Halted, None));
    // Paused inside a wait: observed and reported, not pursued.
    let mut paused = spec();
    paused.paused = true;
    let d = at(
        &paused,
        &blue_live(&paused, green_marked(), Blue),
        &RunnerMemory::default(),
        5,
    );
    assert_eq!((d.phase, d.wake), (Phase::WaitingForGracePeriod, None));
}
