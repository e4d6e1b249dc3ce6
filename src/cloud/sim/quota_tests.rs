//! AWS's request quotas in the simulated world (`apiQuotas`), and the API budget that keeps the
//! controller inside them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::executor::block_on;

use super::*;
use crate::clock::TokioClock;
use crate::cloud::budget::{Budget, RequestRates};
use crate::cloud::{Cloud, CloudError, Detail};
use crate::core::{Listener, RunnerSettings, RunnerSpec, Shard, ShardPair, ShardSpec, Step};

fn t0() -> DateTime<Utc> {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

fn fleet(n: usize) -> Vec<RunnerSpec> {
    (0..n)
        .map(|i| {
            let name = format!("runner-{i}");
            let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012";
            RunnerSpec {
                name: name.clone(),
                active_shard: Shard::Blue,
                revision: None,
                paused: false,
                listener: Listener::Default(format!("{arn}:listener/app/{name}/1")),
                shards: ShardPair::from_fn(|s| ShardSpec {
                    auto_scaling_group: format!("{name}-{s}"),
                    target_group_arn: format!("{arn}:targetgroup/{name}-{s}/1"),
                }),
                settings: RunnerSettings::default(),
                status_parameter: format!("/switchyard/runner/{name}/deployment_status"),
                expected_account_id: None,
            }
        })
        .collect()
}

/// A world of `runners` whose blue shards run `capacity` instances.
fn world(runners: &[RunnerSpec], capacity: u32, quotas: bool) -> SimSettings {
    let mut settings = SimSettings {
        api_quotas: quotas,
        ..SimSettings::default()
    };
    for r in runners {
        let mut w = RunnerWorld::default();
        w.shards.blue.capacity = capacity;
        settings.world.insert(r.name.clone(), w);
    }
    settings
}

fn observe(cloud: &SimCloud, runners: &[RunnerSpec], detail: Detail) -> Result<(), CloudError> {
    let specs: Vec<&RunnerSpec> = runners.iter().collect();
    block_on(cloud.observe(&specs, detail)).map(|_| ())
}

#[test]
fn ssm_reads_beyond_40_per_second_are_throttled_as_aws_throttles_them() {
    // 100 runners: 10 GetParameters calls per observation.
    let runners = fleet(100);
    let clock = ManualClock::starting_at(t0());
    let cloud = SimCloud::new(&world(&runners, 0, true), &runners, Arc::new(clock.clone()));
    for _ in 0..4 {
        observe(&cloud, &runners, Detail::Light).unwrap();
    }
    let err = observe(&cloud, &runners, Detail::Light).unwrap_err();
    assert_eq!(
        err,
        CloudError::Throttled {
            service: "ssm",
            operation: "GetParameters",
            message: "ThrottlingException: Rate exceeded".to_owned(),
        }
    );
    assert_eq!(err.kind(), "throttled");
    assert_eq!(cloud.calls()[&("ssm", "GetParameters")], 41);
    assert_eq!(cloud.over_quota(), 1);
    // A quarter of a second refills ten.
    clock.advance(Duration::from_millis(250));
    observe(&cloud, &runners, Detail::Light).unwrap();
    assert!(observe(&cloud, &runners, Detail::Light).is_err());
}

#[test]
fn elb_describe_calls_have_a_bucket_of_40_refilling_at_10_per_second() {
    // A full observation of 10 runners whose blue shards have capacity: one DescribeTargetGroups,
    // one DescribeListeners and ten DescribeTargetHealth calls.
    let runners = fleet(10);
    let clock = ManualClock::starting_at(t0());
    let cloud = SimCloud::new(&world(&runners, 2, true), &runners, Arc::new(clock.clone()));
    for _ in 0..3 {
        observe(&cloud, &runners, Detail::Full).unwrap();
    }
    let err = observe(&cloud, &runners, Detail::Full).unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string()),
        (
            "throttled",
            "elbv2 DescribeTargetHealth throttled: ThrottlingException: Rate exceeded".to_owned()
        )
    );
    clock.advance(Duration::from_millis(1200));
    observe(&cloud, &runners, Detail::Full).unwrap();
    assert!(observe(&cloud, &runners, Detail::Full).is_err());
}

#[test]
fn without_quotas_nothing_is_throttled() {
    let runners = fleet(100);
    let clock = ManualClock::starting_at(t0());
    let cloud = SimCloud::new(&world(&runners, 2, false), &runners, Arc::new(clock));
    for _ in 0..20 {
        observe(&cloud, &runners, Detail::Full).unwrap();
    }
    assert_eq!(cloud.over_quota(), 0);
}

#[tokio::test(start_paused = true)]
async fn with_the_budget_a_sweep_waits_its_turn_and_a_step_goes_ahead_of_it() {
    let runners = Arc::new(fleet(1000));
    let clock = Arc::new(TokioClock::starting_at(t0()));
    let budget = Arc::new(Budget::new(
        &RequestRates::default(),
        Arc::new(crate::cloud::NoObserver),
    ));
    let cloud = SimCloud::new(&world(&runners, 2, true), &runners, clock).with_budget(budget);

    let sweep = {
        let (cloud, runners) = (cloud.clone(), Arc::clone(&runners));
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let specs: Vec<&RunnerSpec> = runners.iter().collect();
            let result = cloud.observe(&specs, Detail::Light).await.map(|_| ());
            (result, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let step_started = tokio::time::Instant::now();
    let one = &runners[7];
    cloud.observe(&[one], Detail::Fresh).await.unwrap();
    cloud
        .apply(
            one,
            &Step::ScaleToZero {
                shard: Shard::Green,
            },
        )
        .await
        .unwrap();
    let step = step_started.elapsed();
    let (result, swept) = sweep.await.unwrap();
    result.unwrap();

    // 50 DescribeListeners calls at 8/s after a burst of 8; the ASG describes (20) and the SSM
    // reads (100 at 30/s) finish sooner, side by side.
    assert!(swept >= Duration::from_secs(5), "{swept:?}");
    assert!(swept < Duration::from_secs(6), "{swept:?}");
    // Its reads and its mutation took the next token of each service, not the sweep's turn.
    assert!(step <= Duration::from_millis(300), "{step:?}");
    assert_eq!(cloud.over_quota(), 0);
}
