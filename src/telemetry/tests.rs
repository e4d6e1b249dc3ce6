//! Tests of the telemetry surface as its consumers see it: rendered metric text, status JSON,
//! probe answers and the real HTTP server on loopback.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::clock::Clock;
use crate::cloud::RequestObserver;
use crate::core::classify::MarkStatus;
use crate::core::{
    Condition, ConditionType, Decision, Halt, HaltReason, Phase, RunnerMemory, RunnerSettings,
    RunnerSpec, Shard, ShardClass, ShardFacts, ShardPair, ShardReport, ShardSpec,
};

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn spec(name: &str) -> RunnerSpec {
    RunnerSpec {
        name: name.into(),
        active_shard: Shard::Green,
        revision: Some("42".into()),
        paused: false,
        listener: crate::core::Listener::Default("arn:listener".into()),
        shards: ShardPair::from_fn(|s| ShardSpec {
            auto_scaling_group: format!("{name}-{s}"),
            target_group_arn: format!("arn:tg/{name}-{s}"),
        }),
        settings: RunnerSettings::default(),
        status_parameter: format!("/switchyard/runner/{name}/deployment_status"),
        expected_account_id: None,
    }
}

fn report(shard: Shard, healthy: bool, active: bool, deployed: bool, serving: bool) -> ShardReport {
    let facts = ShardFacts {
        healthy,
        active,
        deployed,
        serving,
        takes_traffic: serving,
        healthy_targets: if healthy { 2 } else { 0 },
        required: 2,
        desired_capacity: if healthy { 2 } else { 0 },
        min_size: 0,
        max_size: 2,
        instances: if healthy { 2 } else { 0 },
        has_capacity: healthy,
        revision: Some(if active { "41" } else { "42" }.into()),
        target_group_attached: true,
        mark: MarkStatus::None,
        own_attempt: false,
    };
    ShardReport {
        shard,
        class: ShardClass::of(&facts),
        facts,
    }
}

/// Blue active and serving; green being provisioned and already healthy.
fn mid_deployment() -> ShardPair<ShardReport> {
    ShardPair {
        blue: report(Shard::Blue, true, true, true, true),
        green: report(Shard::Green, true, false, true, false),
    }
}

fn decision(phase: Phase, halt: Option<HaltReason>, conditions: &[ConditionType]) -> Decision {
    Decision {
        phase,
        halt: halt.map(|reason| Halt {
            reason,
            message: format!("{reason} happened"),
            runbook: "look at it".into(),
            repair: Some("switchyard repair mark-deployed --runner runner-a --shard blue".into()),
        }),
        conditions: conditions
            .iter()
            .map(|&kind| Condition::new(kind, format!("{}Reason", kind.as_str()), "because"))
            .collect(),
        shards: Some(mid_deployment()),
        step: None,
        next: "wait for green to be stable".into(),
        wake: None,
        memory: RunnerMemory::default(),
    }
}

/// The value of one exact series (`name{labels}`) in the rendered text.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn series_count(text: &str, prefix: &str) -> usize {
    text.lines().filter(|l| l.starts_with(prefix)).count()
}

// ---------------------------------------------------------------------------------------------
// Metrics

#[test]
fn every_spec_metric_is_rendered_with_its_labels() {
    let m = Metrics::new("1.2.3");
    m.observe_decision(
        "runner-a",
        &decision(
            Phase::WaitingForStability,
            None,
            &[ConditionType::Progressing],
        ),
    );
    m.deployment_finished(
        "runner-a",
        "succeeded",
        Duration::from_secs(300),
        1_800_000_000.0,
    );
    m.phase_finished(Phase::Switching, Duration::from_millis(250));
    drop(m.reconcile_timer());
    m.reconcile_error("runner-a", "throttled");
    m.invariant_refused("runner-a", "TrafficToUnhealthyTarget");
    m.config_reload("success", 1_700_000_000.0);
    m.set_leader(true);
    m.request("ssm", "GetParameters", "success", Duration::from_millis(20));
    let text = m.encode();

    let expected: &[(&str, f64)] = &[
        (r#"switchyard_build_info{version="1.2.3"}"#, 1.0),
        (
            r#"switchyard_runner_phase{runner="runner-a",phase="WaitingForStability"}"#,
            1.0,
        ),
        (
            r#"switchyard_runner_halted{runner="runner-a",reason="ActiveShardUnhealthy"}"#,
            0.0,
        ),
        (
            r#"switchyard_runner_condition{runner="runner-a",condition="Progressing"}"#,
            1.0,
        ),
        (
            r#"switchyard_shard_healthy{runner="runner-a",shard="green"}"#,
            1.0,
        ),
        (
            r#"switchyard_shard_active{runner="runner-a",shard="blue"}"#,
            1.0,
        ),
        (
            r#"switchyard_shard_active{runner="runner-a",shard="green"}"#,
            0.0,
        ),
        (
            r#"switchyard_shard_deployed{runner="runner-a",shard="green"}"#,
            1.0,
        ),
        (
            r#"switchyard_shard_serving{runner="runner-a",shard="blue"}"#,
            1.0,
        ),
        (
            r#"switchyard_shard_serving{runner="runner-a",shard="green"}"#,
            0.0,
        ),
        (
            r#"switchyard_shard_healthy_targets{runner="runner-a",shard="green"}"#,
            2.0,
        ),
        (
            r#"switchyard_shard_desired_capacity{runner="runner-a",shard="blue"}"#,
            2.0,
        ),
        (
            r#"switchyard_deployments_total{runner="runner-a",outcome="succeeded"}"#,
            1.0,
        ),
        (
            r#"switchyard_deployments_total{runner="runner-a",outcome="rolled_back"}"#,
            0.0,
        ),
        (
            r#"switchyard_deployment_duration_seconds_count{outcome="succeeded"}"#,
            1.0,
        ),
        (
            r#"switchyard_deployment_duration_seconds_sum{outcome="succeeded"}"#,
            300.0,
        ),
        (
            r#"switchyard_phase_duration_seconds_count{phase="Switching"}"#,
            1.0,
        ),
        ("switchyard_reconcile_duration_seconds_count", 1.0),
        (
            r#"switchyard_reconcile_errors_total{runner="runner-a",kind="throttled"}"#,
            1.0,
        ),
        (
            r#"switchyard_cloud_requests_total{service="ssm",operation="GetParameters",outcome="success"}"#,
            1.0,
        ),
        (
            r#"switchyard_cloud_request_duration_seconds_count{service="ssm",operation="GetParameters"}"#,
            1.0,
        ),
        (
            r#"switchyard_invariant_refusals_total{runner="runner-a",invariant="TrafficToUnhealthyTarget"}"#,
            1.0,
        ),
        (r#"switchyard_config_reloads_total{outcome="success"}"#, 1.0),
        (
            "switchyard_config_last_reload_success_timestamp_seconds",
            1_700_000_000.0,
        ),
        (
            r#"switchyard_last_successful_deployment_timestamp_seconds{runner="runner-a"}"#,
            1_800_000_000.0,
        ),
        ("switchyard_leader", 1.0),
    ];
    for (series, want) in expected {
        assert_eq!(value(&text, series), Some(*want), "{series} in\n{text}");
    }
    for (name, kind) in [
        ("switchyard_deployments", "counter"),
        ("switchyard_reconcile_errors", "counter"),
        ("switchyard_cloud_requests", "counter"),
        ("switchyard_invariant_refusals", "counter"),
        ("switchyard_config_reloads", "counter"),
        ("switchyard_deployment_duration_seconds", "histogram"),
        ("switchyard_phase_duration_seconds", "histogram"),
        ("switchyard_reconcile_duration_seconds", "histogram"),
        ("switchyard_cloud_request_duration_seconds", "histogram"),
        ("switchyard_runner_phase", "gauge"),
        ("switchyard_leader", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} is a {kind} in\n{text}"
        );
    }
    // A histogram has finite buckets under +Inf: 0.25 s lands in the 0.5 s bucket.
    assert_eq!(
        value(
            &text,
            r#"switchyard_phase_duration_seconds_bucket{le="0.5",phase="Switching"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn the_api_budget_exports_who_waits_and_for_how_long() {
    use crate::cloud::budget::Priority;
    let m = Metrics::new("0");
    m.budget_waiting("ssm", Priority::Sweep, 3);
    m.budget_waiting("ssm", Priority::Step, 1);
    m.budget_waiting("ssm", Priority::Step, -1);
    m.budget_waited("ssm", Priority::Step, Duration::from_millis(250));
    m.budget_waited("ssm", Priority::Step, Duration::from_millis(500));
    let text = m.encode();
    for (series, want) in [
        (
            r#"switchyard_api_budget_waiting_requests{service="ssm",priority="sweep"}"#,
            3.0,
        ),
        (
            r#"switchyard_api_budget_waiting_requests{service="ssm",priority="step"}"#,
            0.0,
        ),
        (
            r#"switchyard_api_budget_wait_seconds_total{service="ssm",priority="step"}"#,
            0.75,
        ),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series} in\n{text}");
    }
    assert!(text.contains("# TYPE switchyard_api_budget_waiting_requests gauge\n"));
    assert!(text.contains("# TYPE switchyard_api_budget_wait_seconds counter\n"));
}

#[test]
fn phase_halt_and_conditions_are_one_hot() {
    let m = Metrics::new("0");
    m.observe_decision(
        "r",
        &decision(Phase::Provisioning, None, &[ConditionType::Progressing]),
    );
    m.observe_decision(
        "r",
        &decision(
            Phase::Halted,
            Some(HaltReason::TrafficMismatch),
            &[
                ConditionType::Halted,
                ConditionType::StabilityWindowTooShort,
            ],
        ),
    );
    let text = m.encode();

    assert_eq!(
        series_count(&text, r#"switchyard_runner_phase{runner="r","#),
        Phase::ALL.len()
    );
    for phase in Phase::ALL {
        let want = if phase == Phase::Halted { 1.0 } else { 0.0 };
        let series = format!(
            r#"switchyard_runner_phase{{runner="r",phase="{}"}}"#,
            phase.as_str()
        );
        assert_eq!(value(&text, &series), Some(want), "{series}");
    }
    assert_eq!(
        series_count(&text, r#"switchyard_runner_halted{runner="r","#),
        HaltReason::ALL.len()
    );
    for reason in HaltReason::ALL {
        let want = if reason == HaltReason::TrafficMismatch {
            1.0
        } else {
            0.0
        };
        let series = format!(r#"switchyard_runner_halted{{runner="r",reason="{reason}"}}"#);
        assert_eq!(value(&text, &series), Some(want), "{series}");
    }
    for condition in ConditionType::ALL {
        let want = matches!(
            condition,
            ConditionType::Halted | ConditionType::StabilityWindowTooShort
        );
        let series = format!(
            r#"switchyard_runner_condition{{runner="r",condition="{}"}}"#,
            condition.as_str()
        );
        assert_eq!(
            value(&text, &series),
            Some(f64::from(u8::from(want))),
            "{series}"
        );
    }

    // The halt clears by itself once the world is consistent again.
    m.observe_decision(
        "r",
        &decision(Phase::Converged, None, &[ConditionType::Ready]),
    );
    let text = m.encode();
    assert_eq!(
        value(
            &text,
            r#"switchyard_runner_halted{runner="r",reason="TrafficMismatch"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            r#"switchyard_runner_phase{runner="r",phase="Converged"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"switchyard_runner_phase{runner="r",phase="Halted"}"#
        ),
        Some(0.0)
    );
}

#[test]
fn shard_series_go_when_the_observation_cannot_judge_shards() {
    let m = Metrics::new("0");
    m.observe_decision("r", &decision(Phase::Converged, None, &[]));
    assert_eq!(series_count(&m.encode(), "switchyard_shard_healthy{"), 2);

    let mut broken = decision(Phase::Halted, Some(HaltReason::ResourceMissing), &[]);
    broken.shards = None;
    m.observe_decision("r", &broken);
    let text = m.encode();
    assert_eq!(series_count(&text, "switchyard_shard_"), 0, "{text}");
    assert_eq!(
        value(
            &text,
            r#"switchyard_runner_halted{runner="r",reason="ResourceMissing"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn shard_series_come_back_with_the_next_judged_observation() {
    let m = Metrics::new("0");
    m.observe_decision("r", &decision(Phase::Converged, None, &[]));
    let mut broken = decision(Phase::Halted, Some(HaltReason::ResourceMissing), &[]);
    broken.shards = None;
    m.observe_decision("r", &broken);
    m.observe_decision("r", &decision(Phase::Converged, None, &[]));
    let text = m.encode();
    assert_eq!(
        series_count(&text, "switchyard_shard_healthy{"),
        2,
        "{text}"
    );
    // The values reach the exposition, not series that were taken out of it.
    let shards = decision(Phase::Converged, None, &[])
        .shards
        .expect("judged");
    for (shard, report) in shards.iter() {
        assert_eq!(
            value(
                &text,
                &format!(
                    r#"switchyard_shard_desired_capacity{{runner="r",shard="{}"}}"#,
                    shard.as_str()
                )
            ),
            Some(f64::from(report.facts.desired_capacity)),
            "{text}"
        );
    }
}

/// The decision gauges are written at scrape time: each family once, its series contiguous and
/// its runners in order, with a runner's shards left out while they cannot be judged.
#[test]
fn each_decision_family_is_written_once_with_its_runners_in_order() {
    let m = Metrics::new("0");
    let mut broken = decision(Phase::Halted, Some(HaltReason::ResourceMissing), &[]);
    broken.shards = None;
    m.observe_decision("c", &decision(Phase::Converged, None, &[]));
    m.observe_decision("a", &decision(Phase::Switching, None, &[]));
    m.observe_decision("b", &broken);
    let text = m.encode();
    for family in [
        "runner_phase",
        "runner_halted",
        "runner_condition",
        "shard_healthy",
        "shard_active",
        "shard_deployed",
        "shard_serving",
        "shard_healthy_targets",
        "shard_desired_capacity",
    ] {
        let name = format!("switchyard_{family}");
        assert_eq!(
            text.matches(&format!("# TYPE {name} gauge\n")).count(),
            1,
            "{text}"
        );
        // Every line of the family, from its HELP on, is contiguous.
        let lines: Vec<&str> = text.lines().collect();
        let first = lines
            .iter()
            .position(|l| l.starts_with(&format!("# HELP {name} ")))
            .expect("a HELP line");
        let runners: Vec<&str> = lines[first + 2..]
            .iter()
            .take_while(|l| l.starts_with(&format!("{name}{{")))
            .map(|l| l.split('"').nth(1).expect("a runner label"))
            .collect();
        assert_eq!(
            runners.len(),
            series_count(&text, &format!("{name}{{")),
            "{family}: not contiguous in\n{text}"
        );
        let mut sorted = runners.clone();
        sorted.sort();
        assert_eq!(runners, sorted, "{family}: runners out of order");
        let shards_of_b = runners.contains(&"b");
        assert_eq!(shards_of_b, !family.starts_with("shard_"), "{family}");
    }
    assert_eq!(
        value(
            &text,
            r#"switchyard_runner_phase{runner="a",phase="Switching"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"switchyard_runner_phase{runner="c",phase="Switching"}"#
        ),
        Some(0.0)
    );
}

#[test]
fn a_runner_forgotten_and_added_again_is_published_afresh() {
    let m = Metrics::new("0");
    m.observe_decision("r", &decision(Phase::Converged, None, &[]));
    m.forget_runner("r");
    m.observe_decision(
        "r",
        &decision(Phase::Halted, Some(HaltReason::ResourceMissing), &[]),
    );
    let text = m.encode();
    assert_eq!(
        value(
            &text,
            r#"switchyard_runner_phase{runner="r",phase="Halted"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"switchyard_runner_phase{runner="r",phase="Converged"}"#
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        series_count(&text, r#"switchyard_runner_phase{runner="r""#),
        12
    );
}

#[test]
fn forget_runner_removes_every_series_of_that_runner_only() {
    let m = Metrics::new("0");
    for runner in ["gone", "kept"] {
        m.observe_decision(
            runner,
            &decision(Phase::Converged, None, &[ConditionType::Ready]),
        );
        m.deployment_finished(runner, "succeeded", Duration::from_secs(60), 1.0);
        m.deployment_finished(runner, "failed", Duration::from_secs(60), 2.0);
        m.reconcile_error(runner, "timeout");
        m.invariant_refused(runner, "ActiveNeverScaledDown");
    }
    m.forget_runner("gone");
    let text = m.encode();

    assert!(!text.contains(r#"runner="gone""#), "{text}");
    for prefix in [
        r#"switchyard_runner_phase{runner="kept""#,
        r#"switchyard_runner_halted{runner="kept""#,
        r#"switchyard_runner_condition{runner="kept""#,
        r#"switchyard_shard_serving{runner="kept""#,
        r#"switchyard_deployments_total{runner="kept""#,
        r#"switchyard_reconcile_errors_total{runner="kept""#,
        r#"switchyard_invariant_refusals_total{runner="kept""#,
        r#"switchyard_last_successful_deployment_timestamp_seconds{runner="kept""#,
    ] {
        assert!(series_count(&text, prefix) > 0, "{prefix} in\n{text}");
    }
    // Fleet-wide series are not per runner and stay.
    assert_eq!(
        value(
            &text,
            r#"switchyard_deployment_duration_seconds_count{outcome="failed"}"#
        ),
        Some(2.0)
    );
}

#[test]
fn only_successes_set_their_timestamps() {
    let m = Metrics::new("0");
    m.deployment_finished("r", "rolled_back", Duration::from_secs(90), 5.0);
    m.config_reload("error", 7.0);
    let text = m.encode();
    assert_eq!(
        value(
            &text,
            r#"switchyard_last_successful_deployment_timestamp_seconds{runner="r"}"#
        ),
        None
    );
    assert_eq!(
        value(
            &text,
            r#"switchyard_deployments_total{runner="r",outcome="rolled_back"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "switchyard_config_last_reload_success_timestamp_seconds"
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&text, r#"switchyard_config_reloads_total{outcome="error"}"#),
        Some(1.0)
    );

    m.config_reload("success", 9.0);
    m.set_leader(false);
    let text = m.encode();
    assert_eq!(
        value(
            &text,
            "switchyard_config_last_reload_success_timestamp_seconds"
        ),
        Some(9.0)
    );
    assert_eq!(value(&text, "switchyard_leader"), Some(0.0));
}

#[test]
fn the_last_reload_outcome_stays_until_the_next_one() {
    let m = Metrics::new("0");
    // (last load successful, its timestamp, reloads counted by outcome success and error)
    let state = |m: &Metrics| {
        let text = m.encode();
        let reloads = |outcome: &str| {
            value(
                &text,
                &format!(r#"switchyard_config_reloads_total{{outcome="{outcome}"}}"#),
            )
        };
        (
            value(&text, "switchyard_config_last_reload_successful"),
            value(
                &text,
                "switchyard_config_last_reload_success_timestamp_seconds",
            ),
            reloads("success"),
            reloads("error"),
        )
    };
    // Both outcomes start at 0, so that increase() sees the first rejected file.
    assert_eq!(state(&m), (Some(0.0), Some(0.0), Some(0.0), Some(0.0)));
    m.config_loaded(3.0);
    // The start-up load is a successful load, not a reload.
    assert_eq!(state(&m), (Some(1.0), Some(3.0), Some(0.0), Some(0.0)));
    m.config_reload("error", 7.0);
    assert_eq!(state(&m), (Some(0.0), Some(3.0), Some(0.0), Some(1.0)));
    m.config_reload("success", 9.0);
    assert_eq!(state(&m), (Some(1.0), Some(9.0), Some(1.0), Some(1.0)));
}

#[test]
fn reconcile_timer_records_when_dropped() {
    let m = Metrics::new("0");
    let timer = m.reconcile_timer();
    assert_eq!(
        value(&m.encode(), "switchyard_reconcile_duration_seconds_count"),
        Some(0.0)
    );
    drop(timer);
    assert_eq!(
        value(&m.encode(), "switchyard_reconcile_duration_seconds_count"),
        Some(1.0)
    );
}

// ---------------------------------------------------------------------------------------------
// Status board

#[test]
fn conditions_cover_every_type_and_transition_times_move_only_on_flips() {
    let board = StatusBoard::new();
    let s = spec("runner-a");
    board.update(
        &s,
        &decision(Phase::Provisioning, None, &[ConditionType::Progressing]),
        t(0),
    );
    board.update(
        &s,
        &decision(
            Phase::WaitingForStability,
            None,
            &[ConditionType::Progressing],
        ),
        t(10),
    );
    let status = board.runner("runner-a").unwrap();
    assert_eq!(status.conditions.len(), ConditionType::ALL.len());
    let progressing = status
        .conditions
        .iter()
        .find(|c| c.kind == "Progressing")
        .unwrap();
    assert_eq!(progressing.status, ConditionValue::True);
    assert_eq!(progressing.reason, "ProgressingReason");
    assert_eq!(progressing.last_transition_time, t(0));

    board.update(
        &s,
        &decision(Phase::Converged, None, &[ConditionType::Ready]),
        t(20),
    );
    let status = board.runner("runner-a").unwrap();
    let by = |kind: &str| {
        status
            .conditions
            .iter()
            .find(|c| c.kind == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(by("Progressing").status, ConditionValue::False);
    assert_eq!(by("Progressing").last_transition_time, t(20));
    assert_eq!(by("Progressing").reason, "");
    assert_eq!(by("Ready").status, ConditionValue::True);
    assert_eq!(by("Ready").last_transition_time, t(20));
    // Never true, never flipped: still the time the runner was first reported.
    assert_eq!(by("Halted").status, ConditionValue::False);
    assert_eq!(by("Halted").last_transition_time, t(0));
    assert_eq!(status.phase, "Converged");
}

#[test]
fn runner_status_carries_spec_decision_and_shards() {
    let board = StatusBoard::new();
    let mut d = decision(Phase::Halted, Some(HaltReason::ActiveShardUnhealthy), &[]);
    let mut pair = mid_deployment();
    pair.green.facts.deployed = false;
    pair.green.facts.mark = MarkStatus::Unreadable { error: "x".into() };
    pair.green.class = ShardClass::InactiveHealthyNotDeployed {
        own_in_flight: true,
    };
    d.shards = Some(pair);
    board.update(&spec("runner-a"), &d, t(0));
    let status = board.runner("runner-a").unwrap();

    assert_eq!(status.desired_shard, Shard::Green);
    assert_eq!(status.desired_revision.as_deref(), Some("42"));
    assert_eq!(status.active_shard, Some(Shard::Blue));
    assert_eq!(status.next, "wait for green to be stable");
    let halted = status.halted.unwrap();
    assert_eq!(halted.reason, "ActiveShardUnhealthy");
    assert!(halted.repair.unwrap().contains("repair mark-deployed"));
    assert_eq!(status.shards.len(), 2);
    assert_eq!(status.shards[0].shard, Shard::Blue);
    assert_eq!(status.shards[0].class, "ActiveHealthy");
    assert_eq!(status.shards[1].class, "OwnInFlightProvision");
    assert_eq!(status.shards[1].revision.as_deref(), Some("42"));

    d.shards = None;
    board.update(&spec("runner-a"), &d, t(1));
    let status = board.runner("runner-a").unwrap();
    assert!(status.shards.is_empty());
    assert_eq!(status.active_shard, None);
}

#[test]
fn only_the_last_twenty_events_are_kept() {
    let board = StatusBoard::new();
    // Events may come before the first decision is published.
    for i in 0..25 {
        board.record_event("r", Event::normal(t(i), "Step", format!("event {i}")));
    }
    assert!(board.runner("r").is_none(), "no decision yet");
    board.update(&spec("r"), &decision(Phase::Converged, None, &[]), t(30));
    let events = board.runner("r").unwrap().events;
    assert_eq!(events.len(), EVENTS_PER_RUNNER);
    assert_eq!(events.first().unwrap().message, "event 5");
    assert_eq!(events.last().unwrap().message, "event 24");

    board.record_event("r", Event::warning(t(40), "Halted", "late"));
    let events = board.runner("r").unwrap().events;
    assert_eq!(events.len(), EVENTS_PER_RUNNER);
    assert_eq!(events.last().unwrap().kind, EventType::Warning);
    assert_eq!(events.first().unwrap().message, "event 6");
}

#[test]
fn retain_and_remove_drop_runners_gone_from_the_config() {
    let board = StatusBoard::new();
    for name in ["a", "b", "c"] {
        board.update(&spec(name), &decision(Phase::Converged, None, &[]), t(0));
    }
    board.retain(&["a".to_owned(), "c".to_owned()]);
    board.remove("c");
    let names: Vec<_> = board
        .snapshot()
        .runners
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a"]);
}

#[test]
fn status_json_is_camel_case_and_reads_back() {
    let board = StatusBoard::with_clock(ManualClock::at(t(60)));
    board.update(
        &spec("r"),
        &decision(Phase::Converged, None, &[ConditionType::Ready]),
        t(0),
    );
    board.record_event("r", Event::normal(t(1), "Converged", "done"));
    let doc = board.snapshot();
    let json = serde_json::to_value(&doc).unwrap();

    let runner = &json["runners"][0];
    assert_eq!(json["generatedAt"], "2027-01-15T08:01:00Z");
    assert_eq!(runner["desiredShard"], "green");
    assert_eq!(runner["activeShard"], "blue");
    assert_eq!(runner["desiredRevision"], "42");
    assert_eq!(runner["phase"], "Converged");
    assert_eq!(runner["conditions"][0]["type"], "Ready");
    assert_eq!(runner["conditions"][0]["status"], "True");
    assert_eq!(runner["conditions"][1]["status"], "False");
    assert_eq!(
        runner["conditions"][0]["lastTransitionTime"],
        "2027-01-15T08:00:00Z"
    );
    assert_eq!(runner["shards"][0]["healthyTargets"], 2);
    assert_eq!(runner["shards"][0]["desiredCapacity"], 2);
    assert_eq!(runner["events"][0]["type"], "Normal");
    assert!(runner["halted"].is_null());

    let back: StatusDocument = serde_json::from_value(json).unwrap();
    assert_eq!(back, doc);
}

// ---------------------------------------------------------------------------------------------
// Health

/// A clock the test moves by hand.
struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn at(time: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(time)))
    }
    fn set(&self, time: DateTime<Utc>) {
        *self.0.lock().unwrap() = time;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

#[test]
fn liveness_allows_three_intervals_without_a_tick() {
    let clock = ManualClock::at(t(0));
    let health = Health::with_clock(Duration::from_secs(10), clock.clone());
    assert!(health.liveness().is_ok(), "start-up counts as a tick");

    clock.set(t(30));
    assert!(health.liveness().is_ok(), "exactly three intervals");
    clock.set(t(31));
    let why = health.liveness().unwrap_err();
    assert!(why.contains("stalled") && why.contains("31s ago"), "{why}");

    health.mark_tick(t(31));
    assert!(health.liveness().is_ok());
    // A stale tick from a slow task does not move liveness backwards.
    health.mark_tick(t(0));
    clock.set(t(60));
    assert!(health.liveness().is_ok());

    clock.set(t(100));
    assert!(health.liveness().is_err());
    health.set_interval(Duration::from_secs(30));
    assert!(health.liveness().is_ok(), "69s is within 3 x 30s");
}

#[test]
fn readiness_waits_for_config_and_account_and_states_the_role() {
    let health = Health::with_clock(Duration::from_secs(10), ManualClock::at(t(0)));
    let why = health.readiness().unwrap_err();
    assert!(why.starts_with("not ready"), "{why}");
    health.set_ready(true);
    assert_eq!(health.readiness().unwrap(), "ready\nrole: leader\n");
    health.set_role(Role::Standby);
    assert!(health.readiness().unwrap().contains("role: standby"));
}

#[test]
fn log_format_parses_the_flag_values() {
    assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
    assert_eq!("human".parse::<LogFormat>(), Ok(LogFormat::Human));
    assert!("yaml".parse::<LogFormat>().unwrap_err().contains("yaml"));
    assert_eq!(LogFormat::default(), LogFormat::Human);
}

// ---------------------------------------------------------------------------------------------
// HTTP server and client

/// A plain HTTP/1.1 GET over a raw socket: status code, headers and body as text.
async fn raw_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    raw_get_with(addr, path, "").await
}

async fn raw_get_accepting(addr: SocketAddr, path: &str, accept: &str) -> (u16, String, String) {
    raw_get_with(addr, path, &format!("Accept: {accept}\r\n")).await
}

async fn raw_get_with(addr: SocketAddr, path: &str, headers: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head.to_ascii_lowercase(), body.to_owned())
}

struct Server {
    addr: SocketAddr,
    clock: Arc<ManualClock>,
    health: Health,
    board: StatusBoard,
    cancel: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

async fn start() -> Server {
    let metrics = Arc::new(Metrics::new("9.9.9"));
    metrics.observe_decision("runner-a", &decision(Phase::Converged, None, &[]));
    let board = StatusBoard::new();
    for name in ["runner-a", "runner-b"] {
        board.update(
            &spec(name),
            &decision(Phase::Converged, None, &[ConditionType::Ready]),
            t(0),
        );
    }
    let clock = ManualClock::at(t(0));
    let health = Health::with_clock(Duration::from_secs(10), clock.clone());
    let cancel = CancellationToken::new();
    let (addr, handle) = serve(
        "127.0.0.1:0".parse().unwrap(),
        metrics,
        board.clone(),
        health.clone(),
        cancel.clone(),
    )
    .await
    .unwrap();
    Server {
        addr,
        clock,
        health,
        board,
        cancel,
        handle,
    }
}

#[tokio::test]
async fn server_binds_loopback_and_serves_metrics() {
    let server = start().await;
    assert!(server.addr.ip().is_loopback());
    assert_ne!(server.addr.port(), 0);

    let (code, head, body) = raw_get_accepting(
        server.addr,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        head.contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.contains("# TYPE switchyard_deployments counter\n"));
    assert!(body.ends_with("# EOF\n"));
    assert_eq!(
        value(&body, r#"switchyard_build_info{version="9.9.9"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(
            &body,
            r#"switchyard_runner_phase{runner="runner-a",phase="Converged"}"#
        ),
        Some(1.0)
    );

    // Without OpenMetrics in Accept (curl, promtool): the classic text format, whose counter
    // families carry `_total`.
    let (code, head, text) = raw_get(server.addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        text.contains("# TYPE switchyard_deployments_total counter\n"),
        "{text}"
    );
    assert!(!text.contains("# EOF"));
    assert_eq!(
        value(&text, r#"switchyard_build_info{version="9.9.9"}"#),
        Some(1.0)
    );

    let (code, _, _) = raw_get(server.addr, "/nope").await;
    assert_eq!(code, 404);

    server.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), server.handle)
        .await
        .expect("the server stops on cancel")
        .unwrap();
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn healthz_and_readyz_follow_the_loop() {
    let server = start().await;
    let (code, _, body) = raw_get(server.addr, "/healthz").await;
    assert_eq!(code, 200, "{body}");

    server.clock.set(t(31));
    let (code, _, body) = raw_get(server.addr, "/healthz").await;
    assert_eq!(code, 503);
    assert!(body.contains("stalled"), "{body}");
    server.health.mark_tick(t(31));
    assert_eq!(raw_get(server.addr, "/healthz").await.0, 200);

    let (code, _, body) = raw_get(server.addr, "/readyz").await;
    assert_eq!(code, 503);
    assert!(body.starts_with("not ready"), "{body}");
    server.health.set_ready(true);
    let (code, _, body) = raw_get(server.addr, "/readyz").await;
    assert_eq!(code, 200);
    assert!(
        body.starts_with("ready\n") && body.contains("role: leader"),
        "{body}"
    );
    server.cancel.cancel();
}

#[tokio::test]
async fn status_api_reads_back_with_fetch_status_and_filters_by_runner() {
    let server = start().await;
    server
        .board
        .record_event("runner-b", Event::warning(t(5), "Halted", "oops"));
    let base = format!("http://{}/", server.addr);
    let doc = fetch_status(&base).await.unwrap();
    let names: Vec<_> = doc.runners.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["runner-a", "runner-b"]);
    assert_eq!(doc.runners[1].events[0].message, "oops");
    assert_eq!(doc.runners[0], server.board.runner("runner-a").unwrap());

    let (code, head, body) = raw_get(server.addr, "/api/v1/status?runner=runner-b").await;
    assert_eq!(code, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    let filtered: StatusDocument = serde_json::from_str(&body).unwrap();
    assert_eq!(filtered.runners.len(), 1);
    assert_eq!(filtered.runners[0].name, "runner-b");

    let (code, _, body) = raw_get(server.addr, "/api/v1/status?runner=nobody").await;
    assert_eq!(code, 404);
    assert!(body.contains("nobody"), "{body}");
    server.cancel.cancel();
}

#[tokio::test]
async fn fetch_status_errors_name_the_url() {
    let server = start().await;
    let base = format!("http://{}/elsewhere", server.addr);
    let err = fetch_status(&base).await.unwrap_err();
    assert!(matches!(err, FetchError::Status { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("{base}/api/v1/status")),
        "{err}"
    );
    server.cancel.cancel();
    server.handle.await.unwrap();

    // Nothing listens there any more.
    let base = format!("http://{}", server.addr);
    let err = fetch_status(&base).await.unwrap_err();
    assert!(matches!(err, FetchError::Request { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("{base}/api/v1/status")),
        "{err}"
    );

    let err = fetch_status("https://example.invalid").await.unwrap_err();
    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("https://example.invalid"), "{err}");
}
