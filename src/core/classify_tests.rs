//! The runbook table of docs/how-it-decides.md, row by row, and each runner-level halt.

use super::classify::{ShardClass, assess};
use super::halt::HaltReason;
use super::mark::MarkState;
use super::observation::{Found, RecordObservation};
use super::shard::Shard::{Blue, Green};
use super::testkit::*;

fn halt_of(obs: &super::observation::RunnerObservation) -> Option<HaltReason> {
    match assess(&spec(), obs) {
        Ok(a) => a.halt.map(|h| h.reason),
        Err(h) => Some(h.reason),
    }
}

#[test]
fn row_1_healthy_active_shard_is_expected() {
    let s = spec();
    let a = assess(&s, &blue_live(&s, ShardState::down(), Blue)).unwrap();
    assert_eq!(a.classes.blue, ShardClass::ActiveHealthy);
    assert_eq!(a.halt, None);
}

#[test]
fn row_2_unhealthy_active_shard_halts() {
    let s = spec();
    let obs = world(
        &s,
        Some(BLUE_ACTIVE),
        ShardState::up("1").healthy(1).unhealthy(1),
        ShardState::down(),
        Blue,
    );
    let a = assess(&s, &obs).unwrap();
    assert_eq!(a.classes.blue, ShardClass::ActiveUnhealthy);
    let halt = a.halt.unwrap();
    assert_eq!(halt.reason, HaltReason::ActiveShardUnhealthy);
    assert!(halt.message.contains("1 of 2"), "{}", halt.message);
}

#[test]
fn row_3_unhealthy_inactive_deployed_shard_is_expected() {
    let s = spec();
    let record = r#"{"active_shard":"blue","deployed_shards":["blue","green"]}"#;
    let a = assess(
        &s,
        &world(
            &s,
            Some(record),
            ShardState::up("1"),
            ShardState::down(),
            Blue,
        ),
    )
    .unwrap();
    assert_eq!(a.classes.green, ShardClass::InactiveUnhealthyDeployed);
    assert_eq!(a.halt, None);
}

#[test]
fn row_4_healthy_inactive_deployed_shard_is_expected() {
    let s = spec();
    let record = r#"{"active_shard":"blue","deployed_shards":["blue","green"]}"#;
    let a = assess(
        &s,
        &world(
            &s,
            Some(record),
            ShardState::up("1"),
            ShardState::up("2"),
            Blue,
        ),
    )
    .unwrap();
    assert_eq!(a.classes.green, ShardClass::InactiveHealthyDeployed);
    assert_eq!(a.halt, None);
}

#[test]
fn row_5_unhealthy_never_deployed_shard_is_expected() {
    let s = spec();
    let a = assess(&s, &blue_live(&s, ShardState::down(), Blue)).unwrap();
    assert_eq!(a.classes.green, ShardClass::NotDeployed);
    // Booting but not yet healthy is the same row.
    let booting = ShardState::down().capacity(2).healthy(1).unhealthy(1);
    let a = assess(&s, &blue_live(&s, booting, Blue)).unwrap();
    assert_eq!(a.classes.green, ShardClass::NotDeployed);
    assert_eq!(a.halt, None);
}

#[test]
fn row_6_healthy_undeployed_shard_halts_with_the_runbook_words() {
    let s = spec();
    let obs = blue_live(&s, ShardState::up("2"), Blue);
    let a = assess(&s, &obs).unwrap();
    assert_eq!(
        a.classes.green,
        ShardClass::InactiveHealthyNotDeployed {
            own_in_flight: false
        }
    );
    let halt = a.halt.unwrap();
    assert_eq!(halt.reason, HaltReason::InactiveShardHealthyNotDeployed);
    assert!(
        halt.message
            .contains("Inactive shard appears healthy, aborting to avoid unsafe deploy")
    );
    assert!(
        halt.repair
            .unwrap()
            .starts_with("switchyard repair mark-deployed --runner runner-a --shard green")
    );
}

#[test]
fn row_6_exception_our_own_in_flight_provision_does_not_halt() {
    let s = spec();
    let green = ShardState::up("2").marked(Green, Some("2"), 0, MarkState::Provisioning);
    let a = assess(&s, &blue_live(&s, green, Blue)).unwrap();
    assert_eq!(
        a.classes.green,
        ShardClass::InactiveHealthyNotDeployed {
            own_in_flight: true
        }
    );
    assert_eq!(a.halt, None);
}

#[test]
fn only_a_readable_mark_of_ours_on_that_shard_explains_a_healthy_undeployed_shard() {
    let s = spec();
    // An attempt of ours for another revision is abandoned, not foreign: it gets scaled away.
    let green = ShardState::up("2").marked(Green, Some("1"), 0, MarkState::Provisioning);
    assert_eq!(halt_of(&blue_live(&s, green, Blue)), None);
    let copied = ShardState::up("2").marked(Blue, Some("2"), 0, MarkState::Provisioning);
    assert_eq!(
        halt_of(&blue_live(&s, copied, Blue)),
        Some(HaltReason::InactiveShardHealthyNotDeployed)
    );
    let garbled = ShardState::up("2").raw_mark("{not json");
    assert_eq!(
        halt_of(&blue_live(&s, garbled, Blue)),
        Some(HaltReason::InactiveShardHealthyNotDeployed)
    );
}

#[test]
fn a_shard_at_capacity_zero_is_unhealthy_and_required_rounds_up() {
    let mut s = spec();
    s.settings.min_healthy_percent = 50;
    // 3 instances at 50%: ceil(1.5) = 2 required.
    let blue = ShardState::up("1").capacity(3).healthy(1).unhealthy(2);
    let a = assess(&s, &world(&s, None, blue, ShardState::down(), Blue)).unwrap();
    assert_eq!(a.facts.blue.required, 2);
    assert!(!a.facts.blue.healthy);
    let blue = ShardState::up("1").capacity(3).healthy(2).unhealthy(1);
    let a = assess(&s, &world(&s, None, blue, ShardState::down(), Blue)).unwrap();
    assert!(a.facts.blue.healthy);
    assert!(!a.facts.green.healthy, "capacity 0 is never healthy");
}

#[test]
fn healthy_needs_asg_health_and_target_health_and_ignores_stray_targets() {
    let s = spec();
    let mut obs = blue_live(&s, ShardState::down(), Blue);
    if let Found::Present(tg) = &mut obs.shards.blue.target_group {
        let targets = tg.targets.as_mut().unwrap();
        targets[0].state = "unhealthy".into();
        // A terminated instance lingering in the TG as healthy does not count.
        targets.push(super::observation::TargetHealth {
            id: "i-gone".into(),
            state: "healthy".into(),
        });
    }
    let a = assess(&s, &obs).unwrap();
    assert_eq!(a.facts.blue.healthy_targets, 1);
    assert_eq!(a.halt.unwrap().reason, HaltReason::ActiveShardUnhealthy);
}

#[test]
fn unread_target_health_trusts_elb_health_checks_only() {
    let s = spec();
    let mut obs = blue_live(&s, ShardState::down(), Blue);
    if let Found::Present(tg) = &mut obs.shards.blue.target_group {
        tg.targets = None;
    }
    assert_eq!(assess(&s, &obs).unwrap().facts.blue.healthy_targets, 2);
    if let Found::Present(asg) = &mut obs.shards.blue.asg {
        asg.health_check_type = "EC2".into();
    }
    assert_eq!(assess(&s, &obs).unwrap().facts.blue.healthy_targets, 0);
}

/// Simulation finding `honest-detached`: with target health unread, ELB-checked instances of a
/// group detached from its TG looked healthy though no traffic reaches them.
#[test]
fn unread_target_health_counts_nothing_for_a_group_detached_from_its_tg() {
    let s = spec();
    let mut obs = blue_live(&s, ShardState::down(), Blue);
    if let Found::Present(tg) = &mut obs.shards.blue.target_group {
        tg.targets = None;
    }
    if let Found::Present(asg) = &mut obs.shards.blue.asg {
        asg.target_group_arns.clear();
    }
    let a = assess(&s, &obs).unwrap();
    assert_eq!(a.facts.blue.healthy_targets, 0);
    assert_eq!(a.halt.unwrap().reason, HaltReason::ActiveShardUnhealthy);
}

/// Simulation finding `honest-active-mark`: a crash between the record and the deletion of the
/// mark leaves history on the active shard; it is judged by its ASG, not by the old attempt.
#[test]
fn a_mark_on_a_recorded_shard_does_not_set_its_required() {
    let s = spec();
    let record = r#"{"active_shard":"green","deployment_ts":"2027-01-15T08:00:00Z","deployed_shards":["green"]}"#;
    let scaled_in = ShardState::up("2").capacity(1).healthy(1).marked(
        Green,
        Some("2"),
        0,
        MarkState::Provisioning,
    );
    let obs = world(&s, Some(record), ShardState::down(), scaled_in, Green);
    let a = assess(&s, &obs).unwrap();
    assert_eq!((a.facts.green.required, a.facts.green.healthy), (1, true));
    assert_eq!(a.halt, None);
}

#[test]
fn halt_status_record_malformed() {
    let s = spec();
    for bad in [
        "[]",
        r#"{"active_shard":"purple"}"#,
        r#"{"deployed_shards":["blue","blue"]}"#,
        r#"{"deployment_ts":"soon"}"#,
    ] {
        let obs = world(&s, Some(bad), ShardState::up("1"), ShardState::down(), Blue);
        assert_eq!(
            halt_of(&obs),
            Some(HaltReason::StatusRecordMalformed),
            "{bad}"
        );
    }
}

#[test]
fn halt_status_record_inconsistent() {
    let s = spec();
    let obs = world(
        &s,
        Some(r#"{"active_shard":"blue","deployed_shards":[]}"#),
        ShardState::up("1"),
        ShardState::down(),
        Blue,
    );
    assert_eq!(halt_of(&obs), Some(HaltReason::StatusRecordInconsistent));
}

#[test]
fn halt_resource_missing_names_the_resource() {
    let s = spec();
    let mut obs = blue_live(&s, ShardState::down(), Blue);
    obs.shards.green.asg = Found::Missing;
    let halt = assess(&s, &obs).unwrap_err();
    assert_eq!(halt.reason, HaltReason::ResourceMissing);
    assert!(halt.message.contains("runner-a-green"), "{}", halt.message);
    let mut obs = blue_live(&s, ShardState::down(), Blue);
    obs.listener = Found::Missing;
    assert!(
        assess(&s, &obs)
            .unwrap_err()
            .message
            .contains("arn:listener")
    );
    let mut obs = blue_live(&s, ShardState::down(), Blue);
    obs.shards.blue.target_group = Found::Missing;
    assert!(
        assess(&s, &obs)
            .unwrap_err()
            .message
            .contains("arn:tg/blue")
    );
}

#[test]
fn halt_traffic_mismatch_unless_explained_by_our_deployment() {
    let s = spec();
    // Listener on green, record says blue, green is not ours: mismatch (green is unhealthy, so
    // only the traffic check fires).
    let obs = blue_live(&s, ShardState::down(), Green);
    let halt = assess(&s, &obs).unwrap().halt.unwrap();
    assert_eq!(halt.reason, HaltReason::TrafficMismatch);
    assert!(
        halt.repair
            .unwrap()
            .contains("aws elbv2 modify-listener --listener-arn arn:listener")
    );
    // Crash between Switching and Recording: our mark explains it.
    let green = ShardState::up("2").marked(Green, Some("2"), 0, MarkState::Provisioning);
    let obs = blue_live(&s, green, Green);
    assert_eq!(assess(&s, &obs).unwrap().halt, None);
    // First deployment: nothing live, the listener is not judged.
    let obs = world(
        &s,
        Some("{}"),
        ShardState::down(),
        ShardState::down(),
        Green,
    );
    assert_eq!(assess(&s, &obs).unwrap().halt, None);
    // Forwarding to both TGs is never ours.
    let mut obs = blue_live(&s, ShardState::down(), Blue);
    if let Found::Present(l) = &mut obs.listener {
        l.forward_to.push(s.shards.green.target_group_arn.clone());
    }
    assert_eq!(halt_of(&obs), Some(HaltReason::TrafficMismatch));
}

#[test]
fn halt_rollback_impossible_when_both_shards_are_down_after_a_switch() {
    let s = spec();
    let green = ShardState::up("2").healthy(0).unhealthy(2).marked(
        Green,
        Some("2"),
        0,
        MarkState::Provisioning,
    );
    let blue = ShardState::up("1").healthy(0).unhealthy(2);
    let obs = world(&s, Some(BLUE_ACTIVE), blue, green, Green);
    assert_eq!(halt_of(&obs), Some(HaltReason::RollbackImpossible));
}

#[test]
fn a_missing_parameter_and_an_empty_object_mean_the_same() {
    let s = spec();
    let missing = world(&s, None, ShardState::down(), ShardState::down(), Blue);
    let empty = world(&s, Some("{}"), ShardState::down(), ShardState::down(), Blue);
    let (a, b) = (assess(&s, &missing).unwrap(), assess(&s, &empty).unwrap());
    assert_eq!(a.record, b.record);
    assert_eq!(a.classes, b.classes);
    assert_eq!(b.record_version, Some(7));
    assert!(matches!(missing.record, RecordObservation::Missing));
}
