//! The daemon loop: hot reload over the watch channel, paused runners, the account guard,
//! and shutdown.

mod controller_support;

use std::sync::Arc;
use std::time::Duration;

use controller_support::*;
use switchyard::controller::AccountError;
use switchyard::core::{HaltReason, MARK_TAG, Phase, Shard, StatusRecord};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[tokio::test(start_paused = true)]
async fn a_new_config_on_the_watch_channel_is_pursued_and_removed_runners_forgotten() {
    // At first the file wants what the world has: blue.
    let at_rest = Scenario {
        desired: "blue",
        revision: "1",
        ..Scenario::blue_to_green()
    };
    let h = Harness::new(at_rest.config());
    let (tx, rx) = watch::channel(Arc::clone(&h.config));
    let cancel = CancellationToken::new();
    let sim = h.sim().clone();
    let metrics = Arc::clone(&h.metrics);
    let board = h.board.clone();
    let task = tokio::spawn(h.controller.run(rx, cancel.clone()));

    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(board.runner("runner-a").unwrap().phase, "Converged");
    assert_eq!(sim.asg(GREEN_ASG).unwrap().desired_capacity, 0);

    // The operator asks for green, and adds a second runner.
    let mut wanted = Scenario::blue_to_green().yaml();
    wanted.push_str(
        "  - name: runner-b\n    activeShard: blue\n    listenerArn: arn:listener/b\n    shards:\n      \
         blue: { autoScalingGroup: runner-b-blue, targetGroupArn: arn:tg/runner-b-blue }\n      \
         green: { autoScalingGroup: runner-b-green, targetGroupArn: arn:tg/runner-b-green }\n",
    );
    let wanted = parse(&wanted);
    for spec in &wanted.runners {
        sim.ensure_runner(spec);
    }
    tx.send(Arc::new(wanted)).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        board.runner("runner-b").is_some(),
        "an added runner is observed at once"
    );

    tokio::time::sleep(Duration::from_secs(300)).await;
    let (value, _) = sim.parameter(PARAMETER).unwrap();
    assert_eq!(
        StatusRecord::parse(&value).unwrap().active_shard,
        Some(Shard::Green)
    );
    assert_eq!(board.runner("runner-a").unwrap().phase, "Converged");

    // runner-b leaves the file: its series and status go.
    assert!(metrics.encode().contains("runner=\"runner-b\""));
    tx.send(Arc::new(Scenario::blue_to_green().config()))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(board.runner("runner-b").is_none());
    assert!(!metrics.encode().contains("runner=\"runner-b\""));

    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_loop_observes_at_rest_runners_at_the_sync_interval() {
    let at_rest = Scenario {
        desired: "blue",
        revision: "1",
        ..Scenario::blue_to_green()
    };
    let h = Harness::new(at_rest.config());
    let (_tx, rx) = watch::channel(Arc::clone(&h.config));
    let cancel = CancellationToken::new();
    let sim = h.sim().clone();
    let task = tokio::spawn(h.controller.run(rx, cancel.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim.reset_calls();
    // 10 minutes at rest, syncInterval 30s: about 20 observations, not 300.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let reads = sim
        .calls()
        .get(&("ssm", "GetParameters"))
        .copied()
        .unwrap_or(0);
    assert!(
        (18..=22).contains(&reads),
        "{reads} observations in 10 minutes"
    );
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_paused_runner_is_observed_but_never_mutated() {
    let scenario = Scenario {
        paused: true,
        ..Scenario::blue_to_green()
    };
    let mut h = Harness::new(scenario.config());
    let before = h.sim().world_digest();
    for _ in 0..100 {
        let d = h.tick().await;
        assert!(d.shards.is_some());
    }
    assert!(h.cloud.steps().is_empty());
    assert_eq!(h.sim().world_digest(), before);
    assert_eq!(h.serving(), vec![BLUE_TG.to_owned()]);
    assert_eq!(h.capacity(GREEN_ASG), 0);
}

fn wrong_account() -> Scenario {
    Scenario {
        controller_extra: "  aws:\n    region: us-east-1\n    expectedAccountId: \"210987654321\"\n",
        ..Scenario::blue_to_green()
    }
}

#[tokio::test(start_paused = true)]
async fn a_wrong_account_is_refused_naming_both() {
    let h = Harness::new(wrong_account().config());
    let err = h.controller.verify_account().await.unwrap_err();
    assert!(matches!(err, AccountError::Mismatch { .. }));
    let text = err.to_string();
    assert!(
        text.contains("210987654321") && text.contains("123456789012"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_loop_never_mutates_in_a_wrong_account() {
    let mut h = Harness::new(wrong_account().config());
    let d = h.tick().await;
    assert_eq!(
        d.halt.as_ref().map(|h| h.reason),
        Some(HaltReason::InvariantRefused)
    );
    assert_eq!(d.phase, Phase::Halted);
    for _ in 0..20 {
        h.tick().await;
    }
    assert!(h.cloud.steps().is_empty());
    assert_eq!(
        h.metric(
            "invariant_refusals_total",
            &[("runner", "runner-a"), ("invariant", "expected_account")]
        ),
        Some(21.0)
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_loop() {
    let h = Harness::new(Scenario::blue_to_green().config());
    let (_tx, rx) = watch::channel(Arc::clone(&h.config));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(h.controller.run(rx, cancel.clone()));
    tokio::time::sleep(Duration::from_secs(10)).await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop stops promptly")
        .unwrap();
}

/// An edit saved while a pass is under way stops every step of the old desired state that has
/// not been sent: here `paused: true` lands while the pass that would write the mark observes.
#[tokio::test(start_paused = true)]
async fn a_file_edit_during_a_pass_stops_its_steps() {
    let h = Harness::new(Scenario::blue_to_green().config());
    let (tx, rx) = watch::channel(Arc::clone(&h.config));
    let paused = Scenario {
        paused: true,
        ..Scenario::blue_to_green()
    }
    .config();
    let edit = tx.clone();
    *h.cloud.during_next_observe.lock().unwrap() = Some(Box::new(move || {
        edit.send(Arc::new(paused)).unwrap();
    }));
    let cloud = Arc::clone(&h.cloud);
    let board = h.board.clone();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(h.controller.run(rx, cancel.clone()));
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        cloud.steps(),
        vec![],
        "a step of the old desired state was sent"
    );
    assert_eq!(
        cloud.sim.asg(GREEN_ASG).unwrap().tags.get(MARK_TAG),
        None,
        "green got a mark"
    );
    assert!(
        board
            .runner("runner-a")
            .unwrap()
            .conditions
            .iter()
            .any(|c| c.reason == "Paused")
    );
    cancel.cancel();
    task.await.unwrap();
}
