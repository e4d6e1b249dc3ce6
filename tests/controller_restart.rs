//! Crash and restart at every step boundary: after the k-th applied step the controller is
//! dropped with everything it remembered, and a new one continues on the same world. It must
//! converge, never halt on its own work, and never repeat a step's side effect.

mod controller_support;

use controller_support::*;
use switchyard::core::{Shard, StatusRecord, Step};

/// The kind and target of a step: what must not happen twice.
fn key(step: &Step) -> String {
    format!("{}:{:?}", step.name(), step.shard())
}

#[tokio::test(start_paused = true)]
async fn a_restart_after_any_step_converges_without_repeating_one() {
    let mut baseline = Harness::new(Scenario::blue_to_green().config());
    baseline.converge().await;
    baseline.never_halted();
    let expected: Vec<String> = baseline.cloud.steps().iter().map(key).collect();
    assert!(
        expected.len() >= 6,
        "a deployment takes several steps: {expected:?}"
    );

    for k in 1..expected.len() {
        let mut h = Harness::new(Scenario::blue_to_green().config());
        h.until(200, |_| true).await;
        while h.cloud.steps().len() < k {
            h.tick().await;
        }
        assert_eq!(h.cloud.steps().len(), k, "one step per pass");
        h.restart();
        h.converge().await;
        h.never_halted();

        let taken: Vec<String> = h.cloud.steps().iter().map(key).collect();
        assert_eq!(taken, expected, "crash after step {k}");
        assert_eq!(h.cloud.switches(), 1, "crash after step {k}");
        assert_eq!(h.cloud.activations(), 1, "crash after step {k}");
        let (value, _) = h.record().unwrap();
        let record = StatusRecord::parse(&value).unwrap();
        assert_eq!(
            record.active_shard,
            Some(Shard::Green),
            "crash after step {k}"
        );
        assert_eq!(
            record.deployed_shards,
            vec![Shard::Green],
            "crash after step {k}"
        );
        assert_eq!(h.serving(), vec![GREEN_TG.to_owned()]);
        assert_eq!(h.capacity(BLUE_ASG), 0);
    }
}

/// A crash loop through a bad revision (restarts every few seconds, for longer than the
/// deadline): the deadline is durable, so the one attempt fails and no restart adds another.
#[tokio::test(start_paused = true)]
async fn a_crash_loop_never_turns_a_bad_revision_into_a_deploy_loop() {
    let never_healthy = Scenario {
        simulated_extra: "    revisions:\n      \"2\": { healthy: false }\n",
        ..Scenario::blue_to_green()
    };
    let mut h = Harness::new(never_healthy.config());
    // Five minutes of deadline and more: a restart after every second pass.
    for _ in 0..100 {
        h.tick().await;
        h.tick().await;
        h.restart();
    }
    // A controller just started cannot know whether traffic left green a moment ago, so green
    // is released one drainDelay after the restarts stop.
    for _ in 0..10 {
        h.tick().await;
    }
    h.never_halted();
    assert_eq!(
        h.cloud.count(|s| matches!(s, Step::WriteMark { .. })),
        1,
        "one attempt of revision 2: {:?}",
        h.cloud.steps()
    );
    assert_eq!(
        h.cloud.count(|s| matches!(s, Step::FailDeployment { .. })),
        1
    );
    assert_eq!(h.capacity(GREEN_ASG), 0);
    assert_eq!(h.serving(), vec![BLUE_TG.to_owned()]);
}
