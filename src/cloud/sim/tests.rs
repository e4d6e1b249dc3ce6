use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::executor::block_on;

use super::*;
use crate::cloud::{Applied, Cloud, CloudError, Detail};
use crate::core::{
    Found, MARK_TAG, Mark, MarkState, RecordObservation, RecordWrite, RunnerObservation,
    RunnerSettings, RunnerSpec, Shard, ShardPair, ShardSpec, StatusRecord, Step,
};

const STEADY: &str = r#"
world:
  runner-a:
    record: '{"active_shard":"blue","deployment_ts":"2026-11-01T00:00:00Z","deployed_shards":["blue"]}'
    shards:
      blue: { capacity: 2, revision: "1" }
revisions:
  "bad": { healthy: false }
  "flaky": { failsAfter: 30s }
  "slow": { bootTime: 20s }
  "gone": { exists: false }
"#;

fn t0() -> DateTime<Utc> {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

fn spec(name: &str) -> RunnerSpec {
    RunnerSpec {
        name: name.to_owned(),
        active_shard: Shard::Green,
        revision: Some("2".to_owned()),
        paused: false,
        listener: Listener::Default(format!(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/{name}/1"
        )),
        shards: ShardPair::from_fn(|s| ShardSpec {
            auto_scaling_group: format!("{name}-{s}"),
            target_group_arn: format!(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}-{s}/1"
            ),
        }),
        settings: RunnerSettings::default(),
        status_parameter: format!("/switchyard/runner/{name}/deployment_status"),
        expected_account_id: None,
    }
}

struct Fixture {
    clock: ManualClock,
    cloud: SimCloud,
    spec: RunnerSpec,
}

impl Fixture {
    fn new(yaml: &str) -> Fixture {
        let settings: SimSettings = serde_saphyr::from_str(yaml).unwrap();
        let clock = ManualClock::starting_at(t0());
        let spec = spec("runner-a");
        let cloud = SimCloud::new(
            &settings,
            std::slice::from_ref(&spec),
            Arc::new(clock.clone()),
        );
        Fixture { clock, cloud, spec }
    }

    fn asg(&self, shard: Shard) -> AsgView {
        self.cloud
            .asg(&self.spec.shards[shard].auto_scaling_group)
            .unwrap()
    }

    fn tg(&self, shard: Shard) -> &str {
        &self.spec.shards[shard].target_group_arn
    }

    fn apply(&self, step: &Step) -> Result<Applied, CloudError> {
        block_on(self.cloud.apply(&self.spec, step))
    }

    fn observe(&self, detail: Detail) -> RunnerObservation {
        block_on(self.cloud.observe(&[&self.spec], detail))
            .unwrap()
            .remove(0)
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    fn configure(
        &self,
        shard: Shard,
        capacity: u32,
        revision: &str,
    ) -> Result<Applied, CloudError> {
        self.apply(&Step::ConfigureShard {
            shard,
            capacity,
            revision: Some(revision.to_owned()),
        })
    }
}

fn lifecycles(asg: &AsgView) -> Vec<(&'static str, bool, &str)> {
    asg.instances
        .iter()
        .map(|i| (i.lifecycle, i.healthy, i.target_state.as_str()))
        .collect()
}

fn mark(state: MarkState) -> Mark {
    Mark {
        id: "d-1".to_owned(),
        shard: Shard::Green,
        revision: Some("2".to_owned()),
        capacity: Some(2),
        started: t0(),
        state,
    }
}

// ---- settings ----

#[test]
fn empty_settings_take_the_documented_defaults() {
    let settings: SimSettings = serde_saphyr::from_str("{}").unwrap();
    assert_eq!(settings, SimSettings::default());
    assert_eq!(settings.account_id, "123456789012");
    assert_eq!(settings.boot_time, Duration::from_secs(5));
    assert_eq!(settings.termination_time, Duration::from_secs(2));
}

#[test]
fn full_settings_parse_with_humantime_durations() {
    let yaml = r#"
accountId: "210987654321"
bootTime: 1m
terminationTime: 500ms
revisions:
  "7": { healthy: true, failsAfter: 90s, bootTime: 10s, exists: true }
world:
  runner-a:
    record: "{}"
    serving: green
    healthCheckType: EC2
    healthCheck: { intervalSeconds: 10, unhealthyThresholdCount: 3 }
    shards:
      green:
        capacity: 3
        revision: "7"
        tags: { team: ci }
"#;
    let s: SimSettings = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(s.account_id, "210987654321");
    assert_eq!(s.boot_time, Duration::from_secs(60));
    assert_eq!(s.termination_time, Duration::from_millis(500));
    assert_eq!(
        s.revisions["7"],
        RevisionBehaviour {
            healthy: true,
            fails_after: Some(Duration::from_secs(90)),
            boot_time: Some(Duration::from_secs(10)),
            exists: true,
        }
    );
    let w = &s.world["runner-a"];
    assert_eq!(w.record.as_deref(), Some("{}"));
    assert_eq!(w.serving, WorldServing::Green);
    assert_eq!(w.health_check_type, HealthCheckType::Ec2);
    assert_eq!(w.health_check.unwrap().unhealthy_threshold_count, 3);
    assert_eq!(w.shards.green.capacity, 3);
    assert_eq!(w.shards.green.tags["team"], "ci");
    // The shard left out keeps its defaults.
    assert_eq!(w.shards.blue, ShardWorld::default());
    assert_eq!(w.shards.blue.revision, "1");
}

#[test]
fn unknown_keys_and_bad_durations_are_rejected() {
    let err = serde_saphyr::from_str::<SimSettings>("bootTyme: 5s").unwrap_err();
    assert!(err.to_string().contains("bootTyme"), "{err}");
    let err = serde_saphyr::from_str::<SimSettings>("bootTime: soon").unwrap_err();
    assert!(err.to_string().contains("not a duration"), "{err}");
    let err = serde_saphyr::from_str::<SimSettings>("world: {a: {shards: {red: {}}}}").unwrap_err();
    assert!(err.to_string().contains("red"), "{err}");
}

#[test]
fn world_entries_for_unconfigured_runners_are_reported() {
    let s: SimSettings = serde_saphyr::from_str("world: {runner-a: {}, runner-typo: {}}").unwrap();
    assert_eq!(
        s.unknown_world_runners(&[spec("runner-a")]),
        ["runner-typo"]
    );
}

// ---- the initial world ----

#[test]
fn the_initial_world_is_steady_and_matches_the_settings() {
    let f = Fixture::new(STEADY);
    let obs = f.observe(Detail::Full);
    assert_eq!(obs.account_id, "123456789012");
    let RecordObservation::Present { value, version } = &obs.record else {
        panic!("record missing");
    };
    assert!(value.contains("\"active_shard\":\"blue\""));
    assert_eq!(*version, 1);
    let blue = obs.asg(Shard::Blue).unwrap();
    assert_eq!(
        (blue.min_size, blue.desired_capacity, blue.max_size),
        (2, 2, 2)
    );
    assert_eq!(blue.launch_template_version.as_deref(), Some("1"));
    assert_eq!(blue.health_check_type, "ELB");
    assert!(blue.instances.iter().all(|i| i.in_service() && i.healthy));
    assert_eq!(blue.target_group_arns, [f.tg(Shard::Blue)]);
    let targets = obs
        .target_group(Shard::Blue)
        .unwrap()
        .targets
        .clone()
        .unwrap();
    assert_eq!(targets.len(), 2);
    assert!(targets.iter().all(|t| t.state == "healthy"));
    let green = obs.asg(Shard::Green).unwrap();
    assert_eq!(green.desired_capacity, 0);
    assert!(green.instances.is_empty());
    assert_eq!(
        obs.listener.present().unwrap().forward_to,
        [f.tg(Shard::Blue)]
    );
    let hc = obs
        .target_group(Shard::Green)
        .unwrap()
        .health_check
        .unwrap();
    assert_eq!((hc.interval_seconds, hc.unhealthy_threshold_count), (30, 2));
}

#[test]
fn a_runner_without_world_settings_starts_empty_with_no_record() {
    let f = Fixture::new("{}");
    let obs = f.observe(Detail::Full);
    assert_eq!(obs.record, RecordObservation::Missing);
    for shard in Shard::ALL {
        assert!(!obs.asg(shard).unwrap().has_capacity());
    }
    assert_eq!(
        obs.listener.present().unwrap().forward_to,
        [f.tg(Shard::Blue)]
    );
}

#[test]
fn instance_ids_are_deterministic() {
    let a = Fixture::new(STEADY);
    let b = Fixture::new(STEADY);
    a.configure(Shard::Green, 2, "2").unwrap();
    b.configure(Shard::Green, 2, "2").unwrap();
    assert_eq!(a.cloud.world_digest(), b.cloud.world_digest());
    assert_eq!(a.asg(Shard::Blue).instances[0].id, "i-00000000000000001");
}

// ---- instances over time ----

#[test]
fn instances_boot_serve_and_terminate_on_the_clock() {
    let f = Fixture::new(STEADY);
    f.configure(Shard::Green, 2, "2").unwrap();
    assert_eq!(
        lifecycles(&f.asg(Shard::Green)),
        [("Pending", true, "initial"), ("Pending", true, "initial")]
    );
    f.advance(4);
    assert_eq!(f.asg(Shard::Green).instances[0].lifecycle, "Pending");
    f.advance(1);
    assert_eq!(
        lifecycles(&f.asg(Shard::Green)),
        [
            ("InService", true, "healthy"),
            ("InService", true, "healthy")
        ]
    );
    let green = f.asg(Shard::Green);
    assert!(
        green
            .instances
            .iter()
            .all(|i| i.revision.as_deref() == Some("2"))
    );

    f.apply(&Step::ScaleToZero {
        shard: Shard::Green,
    })
    .unwrap();
    let green = f.asg(Shard::Green);
    assert_eq!(
        (green.min_size, green.desired_capacity, green.max_size),
        (0, 0, 2)
    );
    assert_eq!(
        lifecycles(&green),
        [
            ("Terminating", true, "draining"),
            ("Terminating", true, "draining")
        ]
    );
    f.advance(1);
    assert_eq!(f.asg(Shard::Green).instances.len(), 2);
    f.advance(1);
    assert!(f.asg(Shard::Green).instances.is_empty());
    assert_eq!(f.cloud.target_health(f.tg(Shard::Green)).unwrap(), []);
}

#[test]
fn scaling_in_terminates_other_revisions_first() {
    let f = Fixture::new(STEADY);
    f.configure(Shard::Blue, 3, "2").unwrap();
    f.configure(Shard::Blue, 1, "2").unwrap();
    let blue = f.asg(Shard::Blue);
    let by_revision: Vec<_> = blue
        .instances
        .iter()
        .map(|i| (i.revision.as_deref().unwrap(), i.lifecycle))
        .collect();
    assert_eq!(
        by_revision,
        [("1", "Terminating"), ("1", "Terminating"), ("2", "Pending")]
    );
}

#[test]
fn an_unhealthy_revision_comes_into_service_but_never_passes_checks() {
    let f = Fixture::new(STEADY);
    f.configure(Shard::Green, 1, "bad").unwrap();
    f.advance(5);
    assert_eq!(
        lifecycles(&f.asg(Shard::Green)),
        [("InService", false, "unhealthy")]
    );
    f.advance(3600);
    assert_eq!(
        lifecycles(&f.asg(Shard::Green)),
        [("InService", false, "unhealthy")]
    );
}

#[test]
fn a_flaky_revision_fails_after_its_time_in_service() {
    let f = Fixture::new(STEADY);
    f.configure(Shard::Green, 1, "flaky").unwrap();
    f.advance(5 + 29);
    assert_eq!(
        lifecycles(&f.asg(Shard::Green)),
        [("InService", true, "healthy")]
    );
    f.advance(1);
    assert_eq!(
        lifecycles(&f.asg(Shard::Green)),
        [("InService", false, "unhealthy")]
    );
}

#[test]
fn a_revision_can_override_the_boot_time() {
    let f = Fixture::new(STEADY);
    f.configure(Shard::Green, 1, "slow").unwrap();
    f.advance(19);
    assert_eq!(f.asg(Shard::Green).instances[0].lifecycle, "Pending");
    f.advance(1);
    assert_eq!(f.asg(Shard::Green).instances[0].lifecycle, "InService");
}

#[test]
fn a_missing_launch_template_version_fails_without_any_effect() {
    let f = Fixture::new(STEADY);
    let before = f.cloud.snapshot();
    let err = f.configure(Shard::Green, 2, "gone").unwrap_err();
    match &err {
        CloudError::ResourceMissing { what, .. } => {
            assert!(what.contains("launch template version gone"), "{what}");
            assert!(what.contains("runner-a-green"), "{what}");
        }
        other => panic!("expected ResourceMissing, got {other:?}"),
    }
    assert_eq!(f.cloud.snapshot(), before);
}

#[test]
fn with_ec2_health_checks_only_the_target_group_sees_a_broken_app() {
    let f = Fixture::new(
        "world: {runner-a: {healthCheckType: EC2}}\nrevisions: {bad: {healthy: false}}",
    );
    f.configure(Shard::Green, 1, "bad").unwrap();
    f.advance(5);
    assert_eq!(
        lifecycles(&f.asg(Shard::Green)),
        [("InService", true, "unhealthy")]
    );
    // At rest the ASG alone cannot tell, so even a light observation reads target health.
    let obs = f.observe(Detail::Light);
    let targets = obs
        .target_group(Shard::Green)
        .unwrap()
        .targets
        .clone()
        .unwrap();
    assert_eq!(targets[0].state, "unhealthy");
}

#[test]
fn hand_set_health_overrides_the_revision() {
    let f = Fixture::new(STEADY);
    let asg = f.spec.shards.blue.auto_scaling_group.clone();
    let first = f.asg(Shard::Blue).instances[0].id.clone();
    f.cloud.set_instances_healthy(&asg, Some(false));
    assert_eq!(
        lifecycles(&f.asg(Shard::Blue)),
        [
            ("InService", false, "unhealthy"),
            ("InService", false, "unhealthy")
        ]
    );
    f.cloud.set_instances_healthy(&asg, None);
    f.cloud.set_target_state(&first, Some("unhealthy"));
    // ELB health checks: the ASG takes the target group's verdict.
    assert_eq!(
        lifecycles(&f.asg(Shard::Blue)),
        [
            ("InService", false, "unhealthy"),
            ("InService", true, "healthy")
        ]
    );
    f.cloud.set_target_state(&first, None);
    f.cloud.set_instance_healthy(&first, Some(false));
    assert!(!f.asg(Shard::Blue).instances[0].healthy);
    assert!(f.asg(Shard::Blue).instances[1].healthy);
}

// ---- every step ----

fn record_step(json: &str) -> Step {
    Step::WriteRecord {
        record: StatusRecord::parse(json).unwrap(),
        expected_version: Some(1),
        purpose: RecordWrite::Repair { shard: Shard::Blue },
    }
}

/// Every step, each applied to a world where it changes something.
fn all_steps() -> Vec<Step> {
    vec![
        Step::WriteMark {
            shard: Shard::Green,
            mark: mark(MarkState::Provisioning),
        },
        Step::ConfigureShard {
            shard: Shard::Green,
            capacity: 2,
            revision: Some("2".to_owned()),
        },
        Step::AttachTargetGroup {
            shard: Shard::Green,
        },
        Step::SwitchListener { to: Shard::Green },
        record_step(r#"{"active_shard":"green","deployed_shards":["blue","green"]}"#),
        Step::ScaleToZero { shard: Shard::Blue },
        Step::FailDeployment {
            shard: Shard::Green,
            mark: mark(MarkState::Provisioning),
            outcome: crate::core::FailOutcome::Failed,
        },
        Step::DeleteMark {
            shard: Shard::Green,
        },
    ]
}

#[test]
fn each_step_has_its_effect() {
    let f = Fixture::new(STEADY);
    let green_asg = f.spec.shards.green.auto_scaling_group.clone();
    f.cloud.detach_target_group(&green_asg, f.tg(Shard::Green));
    let steps = all_steps();

    f.apply(&steps[0]).unwrap();
    let tag = f.asg(Shard::Green).tags[MARK_TAG].clone();
    assert_eq!(Mark::parse(&tag).unwrap(), mark(MarkState::Provisioning));

    f.apply(&steps[1]).unwrap();
    let green = f.asg(Shard::Green);
    assert_eq!(
        (green.min_size, green.desired_capacity, green.max_size),
        (2, 2, 2)
    );
    assert_eq!(green.launch_template_version.as_deref(), Some("2"));
    assert!(green.target_group_arns.is_empty());

    f.apply(&steps[2]).unwrap();
    assert_eq!(f.asg(Shard::Green).target_group_arns, [f.tg(Shard::Green)]);
    assert_eq!(f.cloud.target_health(f.tg(Shard::Green)).unwrap().len(), 2);

    f.apply(&steps[3]).unwrap();
    assert_eq!(
        f.cloud.listener_targets(&f.spec.listener).unwrap(),
        [f.tg(Shard::Green)]
    );

    let applied = f.apply(&steps[4]).unwrap();
    let json = r#"{"active_shard":"green","deployed_shards":["blue","green"]}"#;
    assert_eq!(
        applied,
        Applied::RecordWritten {
            version: 2,
            read_back: Some((json.to_owned(), 2)),
        }
    );
    assert_eq!(
        f.cloud.parameter(&f.spec.status_parameter),
        Some((json.to_owned(), 2))
    );

    f.apply(&steps[5]).unwrap();
    let blue = f.asg(Shard::Blue);
    assert_eq!(
        (blue.min_size, blue.desired_capacity, blue.max_size),
        (0, 0, 2)
    );

    f.apply(&steps[6]).unwrap();
    let tag = f.asg(Shard::Green).tags[MARK_TAG].clone();
    assert_eq!(Mark::parse(&tag).unwrap().state, MarkState::Failed);

    f.apply(&steps[7]).unwrap();
    assert!(!f.asg(Shard::Green).tags.contains_key(MARK_TAG));

    let calls = f.cloud.calls();
    assert_eq!(calls[&("autoscaling", "CreateOrUpdateTags")], 2);
    assert_eq!(calls[&("autoscaling", "UpdateAutoScalingGroup")], 2);
    assert_eq!(calls[&("autoscaling", "AttachLoadBalancerTargetGroups")], 1);
    assert_eq!(calls[&("autoscaling", "DeleteTags")], 1);
    assert_eq!(calls[&("elbv2", "ModifyListener")], 1);
    assert_eq!(calls[&("ssm", "PutParameter")], 1);
    assert_eq!(calls[&("ssm", "GetParameter")], 1);
}

#[test]
fn applying_any_step_twice_leaves_the_world_as_applying_it_once() {
    for (index, step) in all_steps().iter().enumerate() {
        let f = Fixture::new(STEADY);
        // Put the world where the step has something to do.
        for earlier in &all_steps()[..index] {
            f.apply(earlier).unwrap();
        }
        f.advance(7);
        f.apply(step).unwrap();
        let once = f.cloud.snapshot();
        f.apply(step).unwrap();
        let mut twice = f.cloud.snapshot();
        // SSM bumps the version on every put, even of the same value; the controller's version
        // check, not the sim, deals with that.
        if let Step::WriteRecord { .. } = step {
            assert_eq!(twice.parameters[0].version, once.parameters[0].version + 1);
            twice.parameters[0].version = once.parameters[0].version;
        }
        assert_eq!(once, twice, "{}", step.name());
    }
}

#[test]
fn an_oversized_mark_is_rejected_by_the_api() {
    let f = Fixture::new(STEADY);
    let mut big = mark(MarkState::Provisioning);
    big.id = "x".repeat(300);
    let err = f
        .apply(&Step::WriteMark {
            shard: Shard::Green,
            mark: big,
        })
        .unwrap_err();
    assert!(
        matches!(err, CloudError::Api { ref code, .. } if code == "ValidationError"),
        "{err:?}"
    );
    assert!(!f.asg(Shard::Green).tags.contains_key(MARK_TAG));
}

// ---- resources deleted out of band ----

#[test]
fn mutating_a_deleted_asg_fails_and_never_recreates_it() {
    let f = Fixture::new(STEADY);
    let green = f.spec.shards.green.auto_scaling_group.clone();
    f.cloud.delete_asg(&green);
    for step in all_steps() {
        if step.shard() != Some(Shard::Green) || matches!(step, Step::SwitchListener { .. }) {
            continue;
        }
        match f.apply(&step) {
            Err(CloudError::ResourceMissing { what, .. }) => {
                assert_eq!(
                    what,
                    format!("Auto Scaling group {green}"),
                    "{}",
                    step.name()
                )
            }
            other => panic!("{}: expected ResourceMissing, got {other:?}", step.name()),
        }
    }
    f.cloud.ensure_runner(&f.spec);
    assert!(f.cloud.asg(&green).is_none());
    let obs = f.observe(Detail::Full);
    assert_eq!(obs.shards.green.asg, Found::Missing);
    assert!(obs.asg(Shard::Blue).is_some());
}

#[test]
fn a_deleted_target_group_or_listener_is_reported_missing() {
    let f = Fixture::new(STEADY);
    let green_asg = f.spec.shards.green.auto_scaling_group.clone();
    f.cloud.detach_target_group(&green_asg, f.tg(Shard::Green));
    f.cloud.delete_target_group(f.tg(Shard::Green));
    for step in [
        Step::AttachTargetGroup {
            shard: Shard::Green,
        },
        Step::SwitchListener { to: Shard::Green },
    ] {
        match f.apply(&step) {
            Err(CloudError::ResourceMissing { what, .. }) => {
                assert!(what.starts_with("target group "), "{what}")
            }
            other => panic!("expected ResourceMissing, got {other:?}"),
        }
    }
    assert!(f.asg(Shard::Green).target_group_arns.is_empty());
    assert_eq!(
        f.cloud.listener_targets(&f.spec.listener).unwrap(),
        [f.tg(Shard::Blue)]
    );

    f.cloud.delete_listener(&f.spec.listener);
    let err = f
        .apply(&Step::SwitchListener { to: Shard::Blue })
        .unwrap_err();
    assert!(
        matches!(err, CloudError::ResourceMissing { ref what, .. } if what.starts_with("listener "))
    );
    f.cloud.ensure_runner(&f.spec);
    let obs = f.observe(Detail::Full);
    assert_eq!(obs.listener, Found::Missing);
    assert_eq!(obs.shards.green.target_group, Found::Missing);
}

#[test]
fn a_deleted_parameter_reads_as_missing_and_a_write_creates_it() {
    let f = Fixture::new(STEADY);
    f.cloud.delete_parameter(&f.spec.status_parameter);
    assert_eq!(f.observe(Detail::Light).record, RecordObservation::Missing);
    let applied = f.apply(&record_step("{}")).unwrap();
    assert_eq!(
        applied,
        Applied::RecordWritten {
            version: 1,
            read_back: Some(("{}".to_owned(), 1)),
        }
    );
}

#[test]
fn out_of_band_edits_show_in_the_next_observation() {
    let f = Fixture::new(STEADY);
    let blue = f.spec.shards.blue.auto_scaling_group.clone();
    f.cloud.garble_parameter(&f.spec.status_parameter);
    f.cloud
        .set_listener_targets(&f.spec.listener, &[f.tg(Shard::Blue), f.tg(Shard::Green)]);
    f.cloud.set_desired_capacity(&blue, 3);
    f.cloud.set_tag(&blue, MARK_TAG, "junk");
    let obs = f.observe(Detail::Full);
    assert!(obs.record.parse().is_err());
    assert_eq!(obs.record.version(), Some(2));
    assert_eq!(obs.listener.present().unwrap().forward_to.len(), 2);
    let asg = obs.asg(Shard::Blue).unwrap();
    assert_eq!(
        (asg.min_size, asg.desired_capacity, asg.max_size),
        (2, 3, 3)
    );
    assert_eq!(asg.instances.len(), 3);
    assert!(asg.mark().unwrap().is_err());
    f.cloud.remove_tag(&blue, MARK_TAG);
    assert!(f.asg(Shard::Blue).tags.is_empty());
}

#[test]
fn a_runner_added_later_gets_its_resources_once() {
    let f = Fixture::new(STEADY);
    let b = spec("runner-b");
    assert!(f.cloud.asg("runner-b-blue").is_none());
    f.cloud.ensure_runner(&b);
    let before = f.cloud.snapshot();
    assert!(f.cloud.asg("runner-b-blue").is_some());
    f.cloud.ensure_runner(&b);
    assert_eq!(f.cloud.snapshot(), before);
    let obs = block_on(f.cloud.observe(&[&f.spec, &b], Detail::Full)).unwrap();
    assert_eq!(obs.len(), 2);
    assert_eq!(obs[1].runner, "runner-b");
}

#[test]
fn clones_share_one_world() {
    let f = Fixture::new(STEADY);
    let other = f.cloud.clone();
    other.set_listener_targets(&f.spec.listener, &[]);
    assert_eq!(
        f.cloud.listener_targets(&f.spec.listener).unwrap(),
        Vec::<String>::new()
    );
}

// ---- observation economy ----

#[test]
fn light_observations_skip_target_health_of_elb_checked_shards() {
    let f = Fixture::new(STEADY);
    let obs = f.observe(Detail::Light);
    assert_eq!(obs.target_group(Shard::Blue).unwrap().targets, None);
    assert_eq!(obs.target_group(Shard::Green).unwrap().targets, None);
    assert_eq!(
        f.cloud.calls().get(&("elbv2", "DescribeTargetHealth")),
        None
    );

    let obs = f.observe(Detail::Full);
    assert!(obs.target_group(Shard::Blue).unwrap().targets.is_some());
    // Green has no capacity: nothing to read.
    assert_eq!(obs.target_group(Shard::Green).unwrap().targets, None);
    assert_eq!(f.cloud.calls()[&("elbv2", "DescribeTargetHealth")], 1);
}

#[test]
fn observations_are_batched_across_runners() {
    let specs: Vec<RunnerSpec> = (0..25).map(|i| spec(&format!("r{i:02}"))).collect();
    let clock = ManualClock::starting_at(t0());
    let cloud = SimCloud::new(&SimSettings::default(), &specs, Arc::new(clock));
    let refs: Vec<&RunnerSpec> = specs.iter().collect();
    let obs = block_on(cloud.observe(&refs, Detail::Light)).unwrap();
    assert_eq!(obs.len(), 25);
    assert!(obs.iter().zip(&specs).all(|(o, s)| o.runner == s.name));
    let calls = cloud.calls();
    assert_eq!(calls[&("ssm", "GetParameters")], 3);
    assert_eq!(calls[&("autoscaling", "DescribeAutoScalingGroups")], 1);
    // At rest the health-check settings come from the adapter's cache: no call.
    assert_eq!(calls.get(&("elbv2", "DescribeTargetGroups")), None);
    assert_eq!(calls[&("elbv2", "DescribeListeners")], 2);
    assert_eq!(calls.len(), 3);
    cloud.reset_calls();
    block_on(cloud.observe(&refs, Detail::Full)).unwrap();
    assert_eq!(cloud.calls()[&("elbv2", "DescribeTargetGroups")], 3);

    let many: Vec<RunnerSpec> = (0..101).map(|i| spec(&format!("m{i:03}"))).collect();
    let cloud = SimCloud::new(
        &SimSettings::default(),
        &many,
        Arc::new(ManualClock::starting_at(t0())),
    );
    let refs: Vec<&RunnerSpec> = many.iter().collect();
    block_on(cloud.observe(&refs, Detail::Light)).unwrap();
    assert_eq!(
        cloud.calls()[&("autoscaling", "DescribeAutoScalingGroups")],
        3
    );
    assert!(
        block_on(cloud.observe(&[], Detail::Full))
            .unwrap()
            .is_empty()
    );
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String, String)>>);

impl crate::cloud::RequestObserver for Recorder {
    fn request(
        &self,
        service: &'static str,
        operation: &'static str,
        outcome: &'static str,
        _: Duration,
    ) {
        self.0
            .lock()
            .unwrap()
            .push((service.into(), operation.into(), outcome.into()));
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
            .into_iter()
            .map(|(s, o, r)| format!("{s} {o} {r}"))
            .collect()
    }
}

#[test]
fn every_request_reaches_the_observer_with_its_outcome() {
    let f = Fixture::new(STEADY);
    let recorder = Arc::new(Recorder::default());
    let cloud = f.cloud.clone().with_observer(recorder.clone());
    assert_eq!(block_on(cloud.account_id()).unwrap(), "123456789012");
    block_on(cloud.observe(&[&f.spec], Detail::Full)).unwrap();
    assert_eq!(
        recorder.take(),
        [
            "sts GetCallerIdentity success",
            "ssm GetParameters success",
            "autoscaling DescribeAutoScalingGroups success",
            "elbv2 DescribeTargetGroups success",
            "elbv2 DescribeListeners success",
            "elbv2 DescribeTargetHealth success",
        ]
    );
    cloud.delete_asg(&f.spec.shards.green.auto_scaling_group);
    cloud.inject(FaultRule::on("ssm", "PutParameter", Fault::Throttled));
    cloud.inject(FaultRule::on(
        "elbv2",
        "ModifyListener",
        Fault::LostResponse,
    ));
    let _ = block_on(cloud.apply(
        &f.spec,
        &Step::ScaleToZero {
            shard: Shard::Green,
        },
    ));
    let _ = block_on(cloud.apply(&f.spec, &record_step("{}")));
    let _ = block_on(cloud.apply(&f.spec, &Step::SwitchListener { to: Shard::Blue }));
    assert_eq!(
        recorder.take(),
        [
            "autoscaling UpdateAutoScalingGroup error",
            "ssm PutParameter throttled",
            "elbv2 ModifyListener timeout",
        ]
    );
    assert_eq!(f.cloud.calls()[&("sts", "GetCallerIdentity")], 1);
}

// ---- faults ----

#[test]
fn throttling_and_server_errors_fail_a_request_without_effect() {
    let f = Fixture::new(STEADY);
    f.cloud
        .inject(FaultRule::on("ssm", "GetParameters", Fault::Throttled));
    let err = block_on(f.cloud.observe(&[&f.spec], Detail::Full)).unwrap_err();
    assert!(matches!(
        err,
        CloudError::Throttled {
            operation: "GetParameters",
            ..
        }
    ));
    assert!(err.is_retryable());
    // Used up: the next observation goes through.
    f.observe(Detail::Full);

    let before = f.cloud.snapshot();
    f.cloud
        .inject(FaultRule::on("elbv2", "ModifyListener", Fault::Transient));
    let err = f
        .apply(&Step::SwitchListener { to: Shard::Green })
        .unwrap_err();
    assert!(matches!(err, CloudError::Transient { .. }));
    assert_eq!(f.cloud.snapshot(), before);
}

#[test]
fn a_timeout_is_not_applied() {
    let f = Fixture::new(STEADY);
    let before = f.cloud.snapshot();
    f.cloud.inject(FaultRule::any(Fault::Timeout).times(2));
    for _ in 0..2 {
        let err = f.configure(Shard::Green, 2, "2").unwrap_err();
        assert_eq!(
            err,
            CloudError::Timeout {
                service: "autoscaling",
                operation: "UpdateAutoScalingGroup"
            }
        );
    }
    assert_eq!(f.cloud.snapshot(), before);
    assert_eq!(f.cloud.armed_faults(), 0);
    f.configure(Shard::Green, 2, "2").unwrap();
    assert_eq!(f.asg(Shard::Green).desired_capacity, 2);
}

#[test]
fn a_lost_response_takes_effect_but_reports_a_timeout() {
    let f = Fixture::new(STEADY);
    f.cloud.inject(FaultRule::on(
        "elbv2",
        "ModifyListener",
        Fault::LostResponse,
    ));
    let err = f
        .apply(&Step::SwitchListener { to: Shard::Green })
        .unwrap_err();
    assert!(matches!(
        err,
        CloudError::Timeout {
            operation: "ModifyListener",
            ..
        }
    ));
    assert_eq!(
        f.cloud.listener_targets(&f.spec.listener).unwrap(),
        [f.tg(Shard::Green)]
    );

    f.cloud
        .inject(FaultRule::on("ssm", "PutParameter", Fault::LostResponse));
    let err = f
        .apply(&record_step(r#"{"active_shard":"blue"}"#))
        .unwrap_err();
    assert!(matches!(
        err,
        CloudError::Timeout {
            operation: "PutParameter",
            ..
        }
    ));
    assert_eq!(
        f.cloud.parameter(&f.spec.status_parameter),
        Some((r#"{"active_shard":"blue"}"#.to_owned(), 2))
    );
    // No read-back was attempted after the lost answer.
    assert_eq!(f.cloud.calls().get(&("ssm", "GetParameter")), None);
}

#[test]
fn a_concurrent_writer_shows_in_the_version_we_get_back() {
    let f = Fixture::new(STEADY);
    f.cloud.inject(FaultRule::any(Fault::ConcurrentWrite {
        value: r#"{"active_shard":"green"}"#.to_owned(),
    }));
    // Reads are not affected by a concurrent-write rule.
    f.observe(Detail::Full);
    let applied = f.apply(&record_step("{}")).unwrap();
    // Ours landed on top of theirs: version 1 -> theirs 2 -> ours 3.
    assert_eq!(
        applied,
        Applied::RecordWritten {
            version: 3,
            read_back: Some(("{}".to_owned(), 3)),
        }
    );
}

#[test]
fn a_writer_after_ours_shows_in_the_read_back() {
    let f = Fixture::new(STEADY);
    f.cloud.inject(FaultRule::any(Fault::WriteAfter {
        value: r#"{"active_shard":"green"}"#.to_owned(),
    }));
    let applied = f.apply(&record_step("{}")).unwrap();
    // Ours got the next version (2); theirs landed on top (3) before our read-back.
    assert_eq!(
        applied,
        Applied::RecordWritten {
            version: 2,
            read_back: Some((r#"{"active_shard":"green"}"#.to_owned(), 3)),
        }
    );
    assert_eq!(f.cloud.armed_faults(), 0);
}

#[test]
fn a_failed_read_back_still_reports_the_write() {
    let f = Fixture::new(STEADY);
    f.cloud
        .inject(FaultRule::on("ssm", "GetParameter", Fault::Throttled));
    let applied = f.apply(&record_step("{}")).unwrap();
    assert_eq!(
        applied,
        Applied::RecordWritten {
            version: 2,
            read_back: None,
        }
    );
    assert_eq!(
        f.cloud.parameter(&f.spec.status_parameter),
        Some(("{}".to_owned(), 2))
    );
}

#[test]
fn the_fault_table_names_every_operation_the_sim_makes() {
    let f = Fixture::new(STEADY);
    block_on(f.cloud.account_id()).unwrap();
    f.observe(Detail::Full);
    for step in all_steps() {
        f.apply(&step).unwrap();
    }
    // A runner on a listener rule makes the rule calls.
    let on_rule = rule_spec("runner-r", "app/shared/1/2/3");
    f.cloud.ensure_runner(&on_rule);
    block_on(f.cloud.observe(&[&on_rule], Detail::Full)).unwrap();
    block_on(
        f.cloud
            .apply(&on_rule, &Step::SwitchListener { to: Shard::Green }),
    )
    .unwrap();
    for key in f.cloud.calls().keys() {
        assert!(OPERATIONS.contains(key), "{key:?} missing from OPERATIONS");
    }
    assert_eq!(f.cloud.calls().len(), OPERATIONS.len());
}

// ---- listener rules ----

fn rule_spec(name: &str, rule: &str) -> RunnerSpec {
    RunnerSpec {
        listener: Listener::Rule(format!(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/{rule}"
        )),
        ..spec(name)
    }
}

/// Two runners on rules of one listener: observed in one DescribeRules call, and a switch of
/// one rule leaves the other rule, and every listener, as they were.
#[test]
fn runners_on_rules_of_one_listener_are_observed_together_and_switched_apart() {
    let yaml = "
world:
  runner-a: { serving: blue, shards: { blue: { capacity: 2 } } }
  runner-b: { serving: blue, shards: { blue: { capacity: 2 } } }
";
    let settings: SimSettings = serde_saphyr::from_str(yaml).unwrap();
    let a = rule_spec("runner-a", "app/shared/1/80/a");
    let b = rule_spec("runner-b", "app/shared/1/80/b");
    let plain = spec("runner-c");
    let clock = ManualClock::starting_at(t0());
    let cloud = SimCloud::new(
        &settings,
        &[a.clone(), b.clone(), plain.clone()],
        Arc::new(clock),
    );
    let before = cloud.snapshot();
    let obs = block_on(cloud.observe(&[&a, &b, &plain], Detail::Light)).unwrap();
    assert_eq!(
        obs[0].listener.present().unwrap().forward_to,
        [a.shards.blue.target_group_arn.as_str()]
    );
    assert_eq!(obs[1].listener.present().unwrap().arn, b.listener.arn());
    assert_eq!(cloud.calls()[&("elbv2", "DescribeRules")], 1);
    assert_eq!(cloud.calls()[&("elbv2", "DescribeListeners")], 1);

    block_on(cloud.apply(&a, &Step::SwitchListener { to: Shard::Green })).unwrap();
    assert_eq!(cloud.calls()[&("elbv2", "ModifyRule")], 1);
    assert!(!cloud.calls().contains_key(&("elbv2", "ModifyListener")));
    let after = cloud.snapshot();
    assert_eq!(
        cloud.listener_targets(&a.listener).unwrap(),
        [a.shards.green.target_group_arn.as_str()]
    );
    let rule_of =
        |snap: &WorldSnapshot, arn: &str| snap.rules.iter().find(|r| r.arn == arn).cloned();
    assert_eq!(
        rule_of(&after, b.listener.arn()),
        rule_of(&before, b.listener.arn())
    );
    assert_eq!(after.listeners, before.listeners);
}

#[test]
fn a_deleted_rule_is_missing_and_cannot_be_switched() {
    let f = Fixture::new(STEADY);
    let on_rule = rule_spec("runner-a", "app/shared/1/80/a");
    f.cloud.ensure_runner(&on_rule);
    f.cloud.delete_listener(&on_rule.listener);
    let obs = block_on(f.cloud.observe(&[&on_rule], Detail::Full)).unwrap();
    assert_eq!(obs[0].listener, Found::Missing);
    let err = block_on(
        f.cloud
            .apply(&on_rule, &Step::SwitchListener { to: Shard::Green }),
    )
    .unwrap_err();
    assert!(
        matches!(err, CloudError::ResourceMissing { ref what, .. } if what.starts_with("listener rule ")),
        "{err:?}"
    );
    // Deleted for good: the rule is not recreated behind the operator's back.
    f.cloud.ensure_runner(&on_rule);
    assert_eq!(f.cloud.listener_targets(&on_rule.listener), None);
}
