//! The shipped alert rules and dashboard, checked without a cluster: promtool's own checks and
//! the promtool unit tests of every alert; the conventions every alert keeps (severity, fixed
//! summary, templated description, a runbook_url whose anchor docs/alerts.md has, its `for:`
//! justified there); every dashboard query parsed by promtool; every metric the rules and the
//! dashboard name exported by the daemon; and `promtool check metrics` clean on every family.
//! The end-to-end half (a real Prometheus and Alertmanager) is tests/e2e_alerts.rs.

mod monitoring;

use std::collections::BTreeSet;
use std::time::Duration;

use monitoring::{
    ALERT_DOCS, Alert, DASHBOARD, RULES, RULES_TESTS, RUNBOOK_BASE, alerts, dashboard_queries,
    metric_names, printed, promtool, read, yaml,
};
use serde_json::Value;
use switchyard::cloud::RequestObserver;
use switchyard::core::classify::MarkStatus;
use switchyard::core::{
    Condition, ConditionType, Decision, Halt, HaltReason, Phase, RunnerMemory, Shard, ShardClass,
    ShardFacts, ShardPair, ShardReport,
};
use switchyard::telemetry::{Metrics, openmetrics_to_text};

#[test]
fn promtool_accepts_the_rules() {
    let out = promtool(&["check", "rules", RULES], "");
    let text = printed(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("SUCCESS: {} rules found", alerts().len())),
        "{text}"
    );
}

#[test]
fn promtool_unit_tests_of_every_alert_pass() {
    let out = promtool(&["test", "rules", RULES_TESTS], "");
    assert!(out.status.success(), "{}", printed(&out));
}

#[test]
fn every_alert_is_tested_firing_with_its_annotations_and_not_firing() {
    let tests = yaml(RULES_TESTS);
    let cases: Vec<&Value> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
        .collect();
    let names: BTreeSet<String> = alerts().into_iter().map(|a| a.name).collect();
    for case in &cases {
        let name = case["alertname"].as_str().expect("alertname");
        assert!(
            names.contains(name),
            "{RULES_TESTS} tests unknown alert {name}"
        );
    }
    for name in &names {
        let of_alert = || cases.iter().filter(|c| c["alertname"] == name.as_str());
        let expected = |c: &&&Value| c["exp_alerts"].as_array().map_or(0, Vec::len);
        assert!(
            of_alert().any(|c| expected(&c) == 0),
            "{name}: no case where it does not fire"
        );
        let firing: Vec<&Value> = of_alert()
            .filter(|c| expected(c) > 0)
            .flat_map(|c| c["exp_alerts"].as_array().unwrap())
            .collect();
        assert!(!firing.is_empty(), "{name}: no case where it fires");
        for alert in firing {
            assert!(
                alert["exp_labels"]["severity"].is_string(),
                "{name}: a firing case does not check severity"
            );
            for key in ["summary", "description", "runbook_url"] {
                assert!(
                    alert["exp_annotations"][key].is_string(),
                    "{name}: a firing case does not check the {key} annotation"
                );
            }
        }
    }
}

#[test]
fn every_alert_keeps_the_conventions() {
    let alerts = alerts();
    assert!(!alerts.is_empty());
    for Alert {
        name,
        labels,
        annotations,
        ..
    } in &alerts
    {
        assert!(name.starts_with("Switchyard"), "{name}");
        let severity = labels["severity"].as_str().unwrap_or_default();
        assert!(
            ["warning", "critical"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        let text = |key: &str| annotations[key].as_str().unwrap_or_default().to_string();
        let summary = text("summary");
        assert!(
            !summary.is_empty() && !summary.contains("{{"),
            "{name}: the summary is fixed text: {summary:?}"
        );
        assert!(
            text("description").contains("{{"),
            "{name}: the description is templated"
        );
        assert_eq!(
            text("runbook_url"),
            format!("{RUNBOOK_BASE}#{}", name.to_lowercase()),
            "{name}: runbook_url"
        );
        let mut keys: Vec<&String> = annotations.keys().collect();
        keys.sort();
        assert_eq!(keys, ["description", "runbook_url", "summary"], "{name}");
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The docs' sections of level 2: (anchor, text up to the next one).
fn doc_sections() -> Vec<(String, String)> {
    let docs = read(ALERT_DOCS);
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in docs.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            sections.push((anchor(heading), String::new()));
        } else if let Some((_, text)) = sections.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    sections
}

#[test]
fn the_docs_have_each_alert_at_its_anchor_with_its_for_justified() {
    let sections = doc_sections();
    let alerts = alerts();
    for alert in &alerts {
        let anchor = alert.name.to_lowercase();
        let (_, text) = sections
            .iter()
            .find(|(a, _)| *a == anchor)
            .unwrap_or_else(|| panic!("{ALERT_DOCS} has no section at #{anchor}"));
        for what in ["**Means**", "**Look at**", "**Resolve**", "**`for:`**"] {
            assert!(
                text.contains(what),
                "{ALERT_DOCS}#{anchor} does not say {what}"
            );
        }
        let stated = match &alert.for_ {
            Some(duration) => format!("**`for:`** {duration}."),
            None => "**`for:`** none.".to_string(),
        };
        assert!(
            text.contains(&stated),
            "{ALERT_DOCS}#{anchor} must state the rule's duration as {stated:?}"
        );
    }
    for (anchor, _) in &sections {
        if anchor.starts_with("switchyard") {
            assert!(
                alerts.iter().any(|a| a.name.to_lowercase() == *anchor),
                "{ALERT_DOCS}#{anchor} documents an alert that does not exist"
            );
        }
    }
}

#[test]
fn promtool_parses_every_dashboard_query() {
    let queries = dashboard_queries();
    assert!(queries.len() >= 20, "{} queries", queries.len());
    let mut places: Vec<&str> = queries.iter().map(|q| q.place.as_str()).collect();
    places.sort();
    let before = places.len();
    places.dedup();
    assert_eq!(
        places.len(),
        before,
        "panel titles and refIds name one query each"
    );
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, q) in queries.iter().enumerate() {
        // JSON strings are YAML strings.
        rules.push_str(&format!(
            "      - record: dashboard_query_{i}\n        expr: {}\n",
            serde_json::to_string(&q.expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-queries.yaml");
    std::fs::write(&path, &rules).unwrap();
    let out = promtool(&["check", "rules", path.to_str().unwrap()], "");
    let listing: String = queries
        .iter()
        .enumerate()
        .map(|(i, q)| format!("dashboard_query_{i}: {} ({})\n", q.expr, q.place))
        .collect();
    assert!(out.status.success(), "{}\n{listing}", printed(&out));
}

/// A registry with a series in every family, through the same calls the controller makes.
fn every_family() -> Metrics {
    let m = Metrics::new("1.2.3");
    let facts = |healthy: bool, active: bool| ShardFacts {
        healthy,
        active,
        deployed: active,
        serving: active,
        takes_traffic: active,
        healthy_targets: 2,
        required: 2,
        desired_capacity: 2,
        min_size: 2,
        max_size: 2,
        instances: 2,
        has_capacity: true,
        revision: Some("1".into()),
        target_group_attached: true,
        mark: MarkStatus::None,
        own_attempt: false,
    };
    let report = |shard, facts: ShardFacts| ShardReport {
        shard,
        class: ShardClass::of(&facts),
        facts,
    };
    m.observe_decision(
        "runner-a",
        &Decision {
            phase: Phase::Halted,
            halt: Some(Halt {
                reason: HaltReason::InactiveShardHealthyNotDeployed,
                message: "halted".into(),
                runbook: "runbook".into(),
                repair: None,
            }),
            conditions: vec![Condition::new(ConditionType::Halted, "Halted", "halted")],
            shards: Some(ShardPair {
                blue: report(Shard::Blue, facts(true, true)),
                green: report(Shard::Green, facts(true, false)),
            }),
            step: None,
            next: "halted".into(),
            wake: None,
            memory: RunnerMemory::default(),
        },
    );
    m.deployment_finished("runner-a", "succeeded", Duration::from_secs(300), 1.0);
    m.phase_finished(Phase::Switching, Duration::from_millis(250));
    drop(m.reconcile_timer());
    m.reconcile_error("runner-a", "throttled");
    m.invariant_refused("runner-a", "HealthyTrafficTarget");
    m.config_loaded(1.0);
    m.config_reload("error", 2.0);
    m.set_leader(true);
    m.request(
        "autoscaling",
        "DescribeAutoScalingGroups",
        "throttled",
        Duration::from_millis(20),
    );
    m
}

#[test]
fn the_rules_and_the_dashboard_name_only_metrics_the_daemon_exports() {
    let exported: BTreeSet<String> = every_family()
        .encode()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let mut named = metric_names(&read(RULES));
    for q in dashboard_queries() {
        named.extend(metric_names(&q.expr));
    }
    assert!(named.len() > 10);
    for name in named {
        assert!(
            exported.contains(&name),
            "{name} is used by {RULES} or {DASHBOARD} but not exported; exported: {exported:#?}"
        );
    }
}

#[test]
fn promtool_check_metrics_is_clean_on_every_family() {
    let text = openmetrics_to_text(&every_family().encode());
    let out = promtool(&["check", "metrics"], &text);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{}\n--- exposition\n{text}",
        printed(&out)
    );
}
