//! When the loop looks at a runner next: at once after a step (unless it repeats the last one),
//! at a timed wait's end if that comes before the cadence, never later than the cadence.

use std::time::Duration;

use chrono::Duration as Span;
use tokio::time::Instant;

use super::{Tracked, requeue, until};
use crate::controller::Reconciled;
use crate::core::testkit::{ShardState, blue_live, spec, t};
use crate::core::{RunnerMemory, Shard, Step, decide};

const CADENCE: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(30));

/// A runner mid-deployment (green about to be provisioned), having taken `applied`.
fn reconciled(applied: Option<Step>) -> Reconciled {
    let s = spec();
    let decision = decide(
        &s,
        &blue_live(&s, ShardState::down(), Shard::Blue),
        &RunnerMemory::default(),
        t(0),
    );
    assert!(decision.in_transition());
    Reconciled {
        decision,
        applied,
        error: None,
    }
}

#[test]
fn a_step_is_followed_by_a_look_at_once_unless_it_repeats_the_last_one() {
    let at = Instant::now();
    let mut tracked = Tracked::new(at);
    let blue = Step::ScaleToZero { shard: Shard::Blue };
    let green = Step::ScaleToZero {
        shard: Shard::Green,
    };
    let mut next = |applied: &Step| {
        requeue(
            &mut tracked,
            "runner-a",
            &reconciled(Some(applied.clone())),
            CADENCE,
            at,
            None,
        );
        tracked.due - at
    };
    assert_eq!(next(&blue), Duration::ZERO);
    // The world did not show the step's effect: the same step again waits for the cadence.
    assert_eq!(next(&blue), CADENCE.0);
    assert_eq!(next(&green), Duration::ZERO);
}

#[test]
fn a_wait_that_ends_before_the_cadence_is_looked_at_when_it_ends_never_after() {
    let at = Instant::now();
    let mut tracked = Tracked::new(at);
    let mut next = |wake: Option<Duration>| {
        requeue(
            &mut tracked,
            "runner-a",
            &reconciled(None),
            CADENCE,
            at,
            wake.map(|w| at + w),
        );
        tracked.due - at
    };
    assert_eq!(next(None), CADENCE.0);
    assert_eq!(
        next(Some(Duration::from_millis(700))),
        Duration::from_millis(700)
    );
    // Looks within a longer wait keep the cadence.
    assert_eq!(next(Some(Duration::from_secs(100))), CADENCE.0);
}

#[test]
fn the_delay_to_a_wake_is_rounded_up_to_the_timers_millisecond() {
    let now = t(0);
    assert_eq!(
        until(now, now + Span::microseconds(1_500)),
        Duration::from_millis(2)
    );
    assert_eq!(until(now, now + Span::seconds(6)), Duration::from_secs(6));
    assert_eq!(until(now, now - Span::seconds(1)), Duration::ZERO);
}

#[test]
fn a_world_settling_after_a_step_is_looked_at_sooner_and_sooner_less_often_up_to_the_cadence() {
    let at = Instant::now();
    let mut tracked = Tracked::new(at);
    let step = Step::ScaleToZero { shard: Shard::Blue };
    let mut next = |applied: Option<&Step>, wake: Option<Duration>| {
        requeue(
            &mut tracked,
            "runner-a",
            &reconciled(applied.cloned()),
            CADENCE,
            at,
            wake.map(|w| at + w),
        );
        (tracked.due - at).as_millis()
    };
    assert_eq!(next(Some(&step), None), 0);
    let looks: Vec<u128> = (0..10).map(|_| next(None, None)).collect();
    assert_eq!(
        looks,
        [100, 150, 225, 337, 506, 759, 1139, 1708, 2000, 2000]
    );
    // A timed wait after a step keeps its cadence (and its wake): nothing settles by polling.
    assert_eq!(next(Some(&step), None), 0);
    assert_eq!(next(None, Some(Duration::from_secs(60))), 2000);
    assert_eq!(next(None, None), 2000);
}
