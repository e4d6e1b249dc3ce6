//! Every halt reason, reported by name with no mutation; and the operator's way out of each
//! that has one (repair, retry), through the same guard.

mod controller_support;

use controller_support::*;
use switchyard::cloud::Detail;
use switchyard::cloud::sim::{Fault, FaultRule};
use switchyard::controller::observe_one;
use switchyard::core::{
    self, Actor, HaltReason, MarkState, Phase, RecordWrite, RunnerMemory, Shard, StatusRecord, Step,
};

async fn halts_with(mut h: Harness, reason: HaltReason) -> Harness {
    let d = h.halt(reason).await;
    assert_eq!(d.phase, Phase::Halted);
    assert!(d.step.is_none());
    let halt = d.halt.unwrap();
    assert!(!halt.runbook.is_empty());
    let status = h.board.runner("runner-a").unwrap();
    assert_eq!(status.halted.unwrap().reason, reason.as_str());
    assert_eq!(
        h.metric(
            "runner_halted",
            &[("runner", "runner-a"), ("reason", reason.as_str())]
        ),
        Some(1.0)
    );
    // Halted runners get no mutation, however long they wait.
    let before = h.cloud.steps().len();
    for _ in 0..30 {
        h.tick().await;
    }
    assert_eq!(
        h.cloud.steps().len(),
        before,
        "{reason} received a mutation"
    );
    h
}

fn world(record: Option<&'static str>, blue: u32, green: u32, serving: &'static str) -> Harness {
    Harness::new(
        Scenario {
            record,
            blue_capacity: blue,
            green_capacity: green,
            serving,
            ..Scenario::blue_to_green()
        }
        .config(),
    )
}

#[tokio::test(start_paused = true)]
async fn active_shard_unhealthy() {
    halts_with(
        world(Some(BLUE_LIVE), 0, 0, "blue"),
        HaltReason::ActiveShardUnhealthy,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn inactive_shard_healthy_not_deployed_then_repaired() {
    // green is up, unrecorded and unmarked; the file wants blue, which is live.
    let h = Harness::new(
        Scenario {
            desired: "blue",
            revision: "1",
            green_capacity: 2,
            ..Scenario::blue_to_green()
        }
        .config(),
    );
    let mut h = halts_with(h, HaltReason::InactiveShardHealthyNotDeployed).await;

    // `switchyard repair mark-deployed --runner runner-a --shard green`, as the CLI does it.
    let spec = h.config.runners[0].clone();
    let obs = observe_one(h.sim(), &spec, Detail::Full).await.unwrap();
    let record = obs.record.parse().unwrap().with_deployed(Shard::Green);
    let step = Step::WriteRecord {
        record,
        expected_version: obs.record.version(),
        purpose: RecordWrite::Repair {
            shard: Shard::Green,
        },
    };
    h.operator_applies(&spec, &obs, &step).await.unwrap();

    // The halt clears by itself; green, deployed but not desired, is shut down and cleaned up.
    h.converge().await;
    let (value, _) = h.record().unwrap();
    assert_eq!(
        StatusRecord::parse(&value).unwrap().deployed_shards,
        vec![Shard::Blue]
    );
    assert_eq!(h.capacity(GREEN_ASG), 0);
}

#[tokio::test(start_paused = true)]
async fn the_guard_refuses_a_repair_onto_an_unhealthy_shard() {
    let mut h = world(Some(BLUE_LIVE), 2, 0, "blue");
    h.tick().await;
    let spec = h.config.runners[0].clone();
    let obs = observe_one(h.sim(), &spec, Detail::Full).await.unwrap();
    let step = Step::WriteRecord {
        record: obs
            .record
            .parse()
            .unwrap()
            .with_active(Shard::Green, h.sim().now()),
        expected_version: obs.record.version(),
        purpose: RecordWrite::Repair {
            shard: Shard::Green,
        },
    };
    assert!(h.operator_applies(&spec, &obs, &step).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn status_record_malformed() {
    halts_with(
        world(Some("[]"), 2, 0, "blue"),
        HaltReason::StatusRecordMalformed,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn status_record_inconsistent() {
    let record =
        r#"{"active_shard":"blue","deployment_ts":"2026-01-01T00:00:00Z","deployed_shards":[]}"#;
    halts_with(
        world(Some(record), 2, 0, "blue"),
        HaltReason::StatusRecordInconsistent,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn resource_missing() {
    let h = world(Some(BLUE_LIVE), 2, 0, "blue");
    h.sim().delete_asg(GREEN_ASG);
    halts_with(h, HaltReason::ResourceMissing).await;
}

#[tokio::test(start_paused = true)]
async fn a_missing_launch_template_version_is_a_sticky_resource_missing_halt() {
    let scenario = Scenario {
        simulated_extra: "    revisions:\n      \"2\": { exists: false }\n",
        ..Scenario::blue_to_green()
    };
    let h = halts_with(Harness::new(scenario.config()), HaltReason::ResourceMissing).await;
    assert_eq!(h.capacity(BLUE_ASG), 2);
    assert_eq!(h.serving(), vec![BLUE_TG.to_owned()]);
}

#[tokio::test(start_paused = true)]
async fn traffic_mismatch() {
    halts_with(
        world(Some(BLUE_LIVE), 2, 0, "green"),
        HaltReason::TrafficMismatch,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn concurrent_modification_of_the_record() {
    let h = Harness::new(Scenario::blue_to_green().config());
    h.sim().inject(FaultRule::on(
        "ssm",
        "PutParameter",
        Fault::ConcurrentWrite {
            value: r#"{"active_shard":"blue","deployment_ts":"2026-02-02T00:00:00Z","deployed_shards":["blue"]}"#
                .into(),
        },
    ));
    let h = halts_with(h, HaltReason::ConcurrentModification).await;
    assert_eq!(
        h.cloud.activations(),
        1,
        "the one write that met the conflict"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_deployment_is_retried_after_the_mark_is_cleared() {
    let scenario = Scenario {
        simulated_extra: "    revisions:\n      \"2\": { healthy: false }\n",
        ..Scenario::blue_to_green()
    };
    let mut h = Harness::new(scenario.config());
    h.until(400, |d| d.phase == Phase::Failed && d.step.is_none())
        .await;

    // The revision is fixed, and the operator runs `switchyard retry --runner runner-a`.
    h.sim().set_revision_behaviour("2", Default::default());
    let spec = h.config.runners[0].clone();
    let obs = observe_one(h.sim(), &spec, Detail::Full).await.unwrap();
    let mark = obs.asg(Shard::Green).unwrap().mark().unwrap().unwrap();
    assert_eq!(mark.state, MarkState::Failed);
    let step = Step::DeleteMark {
        shard: Shard::Green,
    };
    // Only an operator clears a failed mark.
    assert!(
        core::guard(
            &step,
            &spec,
            &obs,
            &RunnerMemory::default(),
            Actor::Controller,
            h.clock.now()
        )
        .is_err()
    );
    h.operator_applies(&spec, &obs, &step).await.unwrap();

    h.converge().await;
    let (value, _) = h.record().unwrap();
    assert_eq!(
        StatusRecord::parse(&value).unwrap().active_shard,
        Some(Shard::Green)
    );
    assert_eq!(h.cloud.count(|s| matches!(s, Step::WriteMark { .. })), 2);
}
