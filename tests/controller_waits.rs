//! The loop wakes when a timed wait ends: a deployment takes its waits, not the
//! `transitionInterval` ticks that would round each of them up. Waits here fall between the 2 s
//! ticks on purpose.

mod controller_support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use controller_support::*;
use switchyard::config::Config;
use switchyard::core::{Shard, StatusRecord};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const GRACE: i64 = 7_300;
const STABILITY: i64 = 5_300;
const POST_SWITCH: i64 = 3_700;
const DRAIN: i64 = 4_100;
/// The simulated cloud's default `terminationTime`.
const TERMINATION: i64 = 2_000;
const TRANSITION: i64 = 2_000;

fn odd_waits() -> Config {
    parse(
        &Scenario::blue_to_green()
            .yaml()
            .replace(
                "healthCheckGracePeriod: 10s",
                "healthCheckGracePeriod: 7300ms",
            )
            .replace("stabilityDuration: 20s", "stabilityDuration: 5300ms")
            .replace("postSwitchCheck: 60s", "postSwitchCheck: 3700ms")
            .replace("drainDelay: 10s", "drainDelay: 4100ms"),
    )
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

fn only(times: Vec<DateTime<Utc>>, what: &str) -> DateTime<Utc> {
    assert_eq!(times.len(), 1, "{what} taken {} times", times.len());
    times[0]
}

#[tokio::test(start_paused = true)]
async fn the_runner_is_observed_when_each_wait_ends_and_acted_on_then() {
    let h = Harness::new(odd_waits());
    let cloud = Arc::clone(&h.cloud);
    let board = h.board.clone();
    let clock = Arc::clone(&h.clock);
    let (_tx, rx) = watch::channel(Arc::clone(&h.config));
    let cancel = CancellationToken::new();
    let began = clock.now();
    let task = tokio::spawn(h.controller.run(rx, cancel.clone()));
    tokio::time::sleep(Duration::from_secs(60)).await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(board.runner("runner-a").unwrap().phase, "Converged");

    let observed = cloud.times_of("observe");
    let seen_at = |at: DateTime<Utc>, what: &str| {
        assert!(
            observed.contains(&at),
            "not observed at {at}, when {what} ended; observed at {observed:?}"
        );
    };
    // The steps of provisioning follow one another without waiting for a tick (green's TG is
    // attached already).
    let marked = only(cloud.times_of("WriteMark"), "WriteMark");
    assert_eq!(marked, began);
    assert_eq!(cloud.times_of("ConfigureShard"), vec![marked]);
    // Grace runs from the mark; the streak starts on the look at its end (green booted in 5 s).
    let grace_end = marked + ms(GRACE);
    seen_at(grace_end, "the grace period");
    // The last look of the stability window lands at its end, and traffic moves then.
    let stable = grace_end + ms(STABILITY);
    seen_at(stable, "the stability window");
    assert_eq!(
        only(cloud.times_of("SwitchListener"), "SwitchListener"),
        stable
    );
    // The post-switch check runs from the look right after the switch.
    let verified = stable + ms(POST_SWITCH);
    seen_at(verified, "the post-switch check");
    let writes = cloud.times_of("WriteRecord");
    assert_eq!(writes.len(), 2, "activate, then clean up: {writes:?}");
    assert_eq!(writes[0], verified);
    // The drain runs from the recorded deployment_ts (whole seconds, as the runbook writes it)
    // or from the look that saw the listener leave blue, whichever ends later (invariant 4).
    let (value, _) = cloud.sim.parameter(PARAMETER).unwrap();
    let record = StatusRecord::parse(&value).unwrap();
    assert_eq!(record.active_shard, Some(Shard::Green));
    let recorded = record.deployment_ts.unwrap();
    let drained = (recorded + ms(DRAIN)).max(stable + ms(DRAIN));
    seen_at(drained, "the drain");
    assert_eq!(only(cloud.times_of("ScaleToZero"), "ScaleToZero"), drained);
    // Termination is the cloud's own time, observed on the transition cadence.
    let cleaned = writes[1];
    assert!(
        cleaned >= drained + ms(TERMINATION) && cleaned <= drained + ms(TERMINATION + TRANSITION),
        "cleaned up at {cleaned}, scaled down at {drained}"
    );
    // Observations inside a wait keep their cadence: no gap longer than a transition interval.
    let during: Vec<_> = observed.iter().filter(|t| **t <= cleaned).collect();
    for pair in during.windows(2) {
        assert!(
            *pair[1] - *pair[0] <= ms(TRANSITION),
            "no look between {} and {}",
            pair[0],
            pair[1]
        );
    }
}
