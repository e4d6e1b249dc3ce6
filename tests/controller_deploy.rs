//! Deployments end to end over the simulated cloud: first deployments, blue/green, failures,
//! rollbacks, and a change of mind half way.

mod controller_support;

use controller_support::*;
use switchyard::core::{HaltReason, MARK_TAG, Mark, MarkState, Phase, Shard, StatusRecord, Step};

fn record(h: &Harness) -> StatusRecord {
    let (value, _) = h.record().expect("the record exists");
    StatusRecord::parse(&value).expect("the record is well formed")
}

fn mark(h: &Harness, asg: &str) -> Option<Mark> {
    let view = h.sim().asg(asg)?;
    view.tags.get(MARK_TAG).map(|v| Mark::parse(v).unwrap())
}

async fn first_deployment(record_before: Option<&'static str>) {
    let mut h = Harness::new(Scenario::first(record_before).config());
    h.converge().await;
    h.never_halted();
    let record = record(&h);
    assert_eq!(record.active_shard, Some(Shard::Blue));
    assert_eq!(record.deployed_shards, vec![Shard::Blue]);
    assert_eq!(h.serving(), vec![BLUE_TG.to_owned()]);
    assert_eq!(h.capacity(BLUE_ASG), 2);
    assert_eq!(h.capacity(GREEN_ASG), 0);
    assert_eq!(h.cloud.activations(), 1);
    assert_eq!(
        h.metric(
            "deployments_total",
            &[("runner", "runner-a"), ("outcome", "succeeded")]
        ),
        Some(1.0)
    );
}

#[tokio::test(start_paused = true)]
async fn first_deployment_from_an_empty_record() {
    first_deployment(Some("{}")).await;
}

#[tokio::test(start_paused = true)]
async fn first_deployment_from_a_missing_parameter() {
    first_deployment(None).await;
}

#[tokio::test(start_paused = true)]
async fn blue_to_green_converges_with_record_listener_and_capacities() {
    let mut h = Harness::new(Scenario::blue_to_green().config());
    let done = h.converge().await;
    h.never_halted();
    assert!(done.halt.is_none());
    let record = record(&h);
    assert_eq!(record.active_shard, Some(Shard::Green));
    assert_eq!(record.deployed_shards, vec![Shard::Green]);
    assert_eq!(h.serving(), vec![GREEN_TG.to_owned()]);
    assert_eq!(h.capacity(GREEN_ASG), 2);
    assert_eq!(h.capacity(BLUE_ASG), 0);
    assert_eq!(
        h.sim()
            .asg(GREEN_ASG)
            .unwrap()
            .launch_template_version
            .as_deref(),
        Some("2")
    );
    assert_eq!(h.cloud.switches(), 1);
    assert_eq!(h.cloud.activations(), 1);
    // Each phase of the deployment was passed through and reported.
    let phases: Vec<Phase> = h.seen.iter().map(|d| d.phase).collect();
    for phase in [
        Phase::WaitingForStability,
        Phase::Draining,
        Phase::Converged,
    ] {
        assert!(phases.contains(&phase), "{phase} not seen in {phases:?}");
    }
    assert_eq!(
        h.metric(
            "deployments_total",
            &[("runner", "runner-a"), ("outcome", "succeeded")]
        ),
        Some(1.0)
    );
    let events = h.board.runner("runner-a").unwrap().events;
    assert!(
        events.iter().any(|e| e.reason == "SwitchListener"),
        "{events:#?}"
    );
}

/// A revision that never becomes healthy fails at the progress deadline: marked failed, scaled to
/// zero, the old shard still serving, and never tried again by itself.
#[tokio::test(start_paused = true)]
async fn a_revision_never_healthy_fails_once_and_is_not_retried() {
    let scenario = Scenario {
        simulated_extra: "    revisions:\n      \"2\": { healthy: false }\n",
        ..Scenario::blue_to_green()
    };
    let mut h = Harness::new(scenario.config());
    h.until(400, |d| d.phase == Phase::Failed && d.step.is_none())
        .await;
    // An hour later: still failed, nothing provisioned again.
    for _ in 0..1800 {
        let d = h.tick().await;
        assert_eq!(d.phase, Phase::Failed);
    }
    h.never_halted();
    assert_eq!(mark(&h, GREEN_ASG).unwrap().state, MarkState::Failed);
    assert_eq!(h.capacity(GREEN_ASG), 0);
    assert_eq!(h.capacity(BLUE_ASG), 2);
    assert_eq!(h.serving(), vec![BLUE_TG.to_owned()]);
    assert_eq!(h.record().unwrap().0, BLUE_LIVE);
    assert_eq!(h.cloud.count(|s| matches!(s, Step::WriteMark { .. })), 1);
    assert_eq!(h.cloud.switches(), 0);
    assert_eq!(
        h.metric(
            "deployments_total",
            &[("runner", "runner-a"), ("outcome", "failed")]
        ),
        Some(1.0)
    );
    let last = h.seen.last().unwrap();
    assert!(
        last.conditions
            .iter()
            .any(|c| c.kind == switchyard::core::ConditionType::DeploymentFailed)
    );
}

/// Healthy long enough to take traffic, then failing while traffic is on it.
fn fails_after_switch() -> Scenario {
    Scenario {
        simulated_extra: "    revisions:\n      \"2\": { failsAfter: 40s }\n",
        ..Scenario::blue_to_green()
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_after_the_switch_switches_back() {
    let mut h = Harness::new(fails_after_switch().config());
    // Failed, and green (which took traffic) drained and scaled to zero.
    h.until(400, |d| {
        d.phase == Phase::Failed
            && d.step.is_none()
            && d.shards
                .as_ref()
                .is_some_and(|s| s.green.facts.desired_capacity == 0)
    })
    .await;
    h.never_halted();
    // Traffic went to green, then back to blue.
    assert_eq!(h.cloud.switches(), 2);
    assert_eq!(h.serving(), vec![BLUE_TG.to_owned()]);
    assert_eq!(h.record().unwrap().0, BLUE_LIVE);
    assert_eq!(mark(&h, GREEN_ASG).unwrap().state, MarkState::Failed);
    assert_eq!(h.capacity(GREEN_ASG), 0);
    assert_eq!(
        h.metric(
            "deployments_total",
            &[("runner", "runner-a"), ("outcome", "rolled_back")]
        ),
        Some(1.0)
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_is_impossible_when_the_old_shard_died_meanwhile() {
    let mut h = Harness::new(fails_after_switch().config());
    h.until(400, |d| d.phase == Phase::VerifyingAfterSwitch)
        .await;
    assert_eq!(h.serving(), vec![GREEN_TG.to_owned()]);
    h.sim().set_instances_healthy(BLUE_ASG, Some(false));
    let halted = h.halt(HaltReason::RollbackImpossible).await;
    assert_eq!(halted.phase, Phase::Halted);
    assert!(halted.step.is_none());
    // Nothing to switch back to: traffic stays where it is, nothing is scaled down.
    assert_eq!(h.cloud.switches(), 1);
    assert_eq!(h.serving(), vec![GREEN_TG.to_owned()]);
    assert_eq!(h.capacity(BLUE_ASG), 2);
    assert_eq!(
        h.metric(
            "runner_halted",
            &[("runner", "runner-a"), ("reason", "RollbackImpossible")]
        ),
        Some(1.0)
    );
}

#[tokio::test(start_paused = true)]
async fn changing_the_desired_shard_mid_deployment_abandons_the_attempt() {
    let mut h = Harness::new(Scenario::blue_to_green().config());
    h.until(100, |d| d.phase == Phase::WaitingForStability)
        .await;
    assert_eq!(h.capacity(GREEN_ASG), 2);
    // The operator changes their mind: blue (already live) stays.
    h.reconfigure(
        Scenario {
            desired: "blue",
            revision: "1",
            ..Scenario::blue_to_green()
        }
        .config(),
    );
    h.converge().await;
    h.never_halted();
    assert_eq!(h.capacity(GREEN_ASG), 0);
    assert_eq!(h.serving(), vec![BLUE_TG.to_owned()]);
    assert_eq!(h.record().unwrap().0, BLUE_LIVE);
    assert_eq!(h.cloud.switches(), 0);
}

#[tokio::test(start_paused = true)]
async fn changing_the_revision_mid_deployment_pursues_the_new_one() {
    let mut h = Harness::new(Scenario::blue_to_green().config());
    h.until(100, |d| d.phase == Phase::WaitingForStability)
        .await;
    h.reconfigure(
        Scenario {
            revision: "3",
            ..Scenario::blue_to_green()
        }
        .config(),
    );
    h.converge().await;
    h.never_halted();
    assert_eq!(record(&h).active_shard, Some(Shard::Green));
    assert_eq!(
        h.sim()
            .asg(GREEN_ASG)
            .unwrap()
            .launch_template_version
            .as_deref(),
        Some("3")
    );
    assert_eq!(h.cloud.switches(), 1);
    assert_eq!(h.cloud.activations(), 1);
}

/// The listener switch goes through but its answer is lost: the next pass sees traffic already
/// on green and does not switch again.
#[tokio::test(start_paused = true)]
async fn a_lost_answer_is_not_repeated_blindly() {
    let mut h = Harness::new(Scenario::blue_to_green().config());
    h.sim().inject(switchyard::cloud::sim::FaultRule::on(
        "elbv2",
        "ModifyListener",
        switchyard::cloud::sim::Fault::LostResponse,
    ));
    h.converge().await;
    h.never_halted();
    // The only switch was the one whose answer was lost (the recording keeps answered steps).
    assert_eq!(h.cloud.switches(), 0);
    assert_eq!(h.serving(), vec![GREEN_TG.to_owned()]);
    assert_eq!(
        h.metric(
            "reconcile_errors_total",
            &[("runner", "runner-a"), ("kind", "timeout")]
        ),
        Some(1.0)
    );
}
