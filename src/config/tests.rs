use std::path::Path;
use std::time::Duration;

use super::*;
use crate::core::{Listener, RunnerSettings, Shard};

const SIM: &str = "controller:\n  cloud: simulated\n";

fn runner(name: &str, extra: &str) -> String {
    let mut text = format!(
        "  - name: {name}
    activeShard: blue
    listenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/{name}
    shards:
      blue: {{ autoScalingGroup: {name}-blue, targetGroupArn: arn:tg/{name}-blue }}
      green: {{ autoScalingGroup: {name}-green, targetGroupArn: arn:tg/{name}-green }}
"
    );
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        text.push_str("    ");
        text.push_str(line.trim_start());
        text.push('\n');
    }
    text
}

fn sim_with(defaults: &str, runners: &[String]) -> String {
    let mut text = SIM.to_owned();
    if !defaults.is_empty() {
        text.push_str("defaults:\n");
        for line in defaults.lines().filter(|l| !l.trim().is_empty()) {
            text.push_str("  ");
            text.push_str(line.trim_start());
            text.push('\n');
        }
    }
    text.push_str("runners:\n");
    for r in runners {
        text.push_str(r);
    }
    text
}

fn ok(text: &str) -> Config {
    parse(text, Path::new("test.yaml"))
        .unwrap_or_else(|e| panic!("expected valid:\n{e}\n---\n{text}"))
}

fn problems(text: &str) -> Vec<ConfigProblem> {
    match parse(text, Path::new("test.yaml")) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(e) => e.problems,
    }
}

/// The single problem reported for `path`, failing if there is none.
fn problem_at(text: &str, path: &str) -> ConfigProblem {
    let all = problems(text);
    all.iter()
        .find(|p| p.path == path)
        .cloned()
        .unwrap_or_else(|| panic!("no problem at {path} in {all:#?}"))
}

#[test]
fn minimal_file_gets_every_default() {
    let config = ok(&sim_with("", &[runner("runner-a", "")]));
    let c = &config.controller;
    assert_eq!(c.cloud, CloudKind::Simulated);
    assert_eq!(c.aws, None);
    assert_eq!(c.listen, "127.0.0.1:9254".parse().unwrap());
    assert_eq!(c.sync_interval, Duration::from_secs(30));
    assert_eq!(c.transition_interval, Duration::from_secs(2));
    let r = &config.runners[0];
    assert_eq!(r.name, "runner-a");
    assert_eq!(r.active_shard, Shard::Blue);
    assert_eq!(r.revision, None);
    assert!(!r.paused);
    assert_eq!(r.settings, RunnerSettings::default());
    assert_eq!(
        r.status_parameter,
        "/switchyard/runner/runner-a/deployment_status"
    );
    assert_eq!(r.expected_account_id, None);
    assert_eq!(r.shards.green.auto_scaling_group, "runner-a-green");
    assert_eq!(r.shards.blue.target_group_arn, "arn:tg/runner-a-blue");
}

#[test]
fn defaults_apply_to_every_runner_and_runner_keys_override_them() {
    let defaults = "capacity: 3
        minHealthyPercent: 50
        healthCheckGracePeriod: 30s
        stabilityDuration: 5m
        postSwitchCheck: 45s
        drainDelay: 2m
        progressDeadline: 1h
        statusParameter: /gitlab/dedicated/runner/{runner}/deployment_status";
    let overrides = "capacity: 5
        drainDelay: 10s
        paused: true
        revision: \"7\"
        statusParameter: /custom/{runner}";
    let config = ok(&sim_with(
        defaults,
        &[runner("runner-a", ""), runner("runner-b", overrides)],
    ));
    let inherited = RunnerSettings {
        capacity: 3,
        min_healthy_percent: 50,
        health_check_grace_period: Duration::from_secs(30),
        stability_duration: Duration::from_secs(300),
        post_switch_check: Duration::from_secs(45),
        drain_delay: Duration::from_secs(120),
        progress_deadline: Duration::from_secs(3600),
    };
    let a = config.runner("runner-a").unwrap();
    assert_eq!(a.settings, inherited);
    assert_eq!(
        a.status_parameter,
        "/gitlab/dedicated/runner/runner-a/deployment_status"
    );
    assert!(!a.paused);
    let b = config.runner("runner-b").unwrap();
    assert_eq!(
        b.settings,
        RunnerSettings {
            capacity: 5,
            drain_delay: Duration::from_secs(10),
            ..inherited
        }
    );
    assert_eq!(b.status_parameter, "/custom/runner-b");
    assert!(b.paused);
    assert_eq!(b.revision.as_deref(), Some("7"));
}

#[test]
fn controller_keys_are_read() {
    let text = "controller:
  cloud: simulated
  simulated: {}
  listen: 0.0.0.0:8080
  syncInterval: 1m
  transitionInterval: 500ms
runners: []
";
    let c = ok(text).controller;
    assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(c.sync_interval, Duration::from_secs(60));
    assert_eq!(c.transition_interval, Duration::from_millis(500));
}

#[test]
fn revision_may_be_an_integer_or_a_string() {
    let config = ok(&sim_with(
        "",
        &[
            runner("a", "revision: 42"),
            runner("b", "revision: \"42\""),
            runner("c", "revision: \"0042\""),
            runner("d", "revision: $Latest"),
        ],
    ));
    let revisions: Vec<_> = config
        .runners
        .iter()
        .map(|r| r.revision.clone().unwrap())
        .collect();
    assert_eq!(revisions, ["42", "42", "0042", "$Latest"]);
}

#[test]
fn empty_revision_is_rejected() {
    let p = problem_at(
        &sim_with("", &[runner("a", "revision: \"\"")]),
        "runners[0].revision",
    );
    assert!(p.message.contains("must not be empty"), "{p:?}");
}

const LISTENER_LINE: &str =
    "    listenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/a\n";
const RULE_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/lb/1/2/3";

#[test]
fn a_runner_may_name_a_listener_rule_instead_of_a_listener() {
    let text = sim_with("", &[runner("a", &format!("listenerRuleArn: {RULE_ARN}"))]).replacen(
        LISTENER_LINE,
        "",
        1,
    );
    let config = ok(&text);
    assert_eq!(config.runners[0].listener, Listener::Rule(RULE_ARN.into()));
    let config = ok(&sim_with("", &[runner("a", "")]));
    assert!(matches!(config.runners[0].listener, Listener::Default(_)));
}

#[test]
fn a_runner_names_exactly_one_of_listener_and_listener_rule() {
    let both = sim_with("", &[runner("a", &format!("listenerRuleArn: {RULE_ARN}"))]);
    let p = problem_at(&both, "runners[0].listenerRuleArn");
    assert!(
        p.message.contains("listenerArn is set as well")
            && p.message
                .contains("exactly one of listenerArn and listenerRuleArn"),
        "{p:?}"
    );
    assert_eq!(p.line, Some(10));

    let neither = sim_with("", &[runner("a", "")]).replacen(LISTENER_LINE, "", 1);
    let p = problem_at(&neither, "runners[0]");
    assert!(
        p.message.contains(
            "needs exactly one of listenerArn (a listener's default action) and listenerRuleArn"
        ),
        "{p:?}"
    );
}

#[test]
fn an_arn_of_the_other_kind_is_caught_naming_the_right_key() {
    let rule_as_listener = sim_with("", &[runner("a", "")]).replacen(
        LISTENER_LINE,
        &format!("    listenerArn: {RULE_ARN}\n"),
        1,
    );
    let p = problem_at(&rule_as_listener, "runners[0].listenerArn");
    assert!(p.message.contains("give it as listenerRuleArn"), "{p:?}");

    let listener = LISTENER_LINE.trim().trim_start_matches("listenerArn: ");
    let listener_as_rule = sim_with("", &[runner("a", "")]).replacen(
        LISTENER_LINE,
        &format!("    listenerRuleArn: {listener}\n"),
        1,
    );
    let p = problem_at(&listener_as_rule, "runners[0].listenerRuleArn");
    assert!(p.message.contains("give it as listenerArn"), "{p:?}");

    let empty =
        sim_with("", &[runner("a", "")]).replacen(LISTENER_LINE, "    listenerRuleArn: \"\"\n", 1);
    let p = problem_at(&empty, "runners[0].listenerRuleArn");
    assert!(p.message.contains("must not be empty"), "{p:?}");
}

#[test]
fn a_revision_that_is_not_a_scalar_is_rejected() {
    let p = problem_at(
        &sim_with("", &[runner("a", "revision: [42]")]),
        "runners[0].revision",
    );
    assert_eq!(p.line, Some(10));
}

#[test]
fn durations_take_units_and_reject_bare_numbers() {
    let config = ok(&sim_with("drainDelay: 1h 30m", &[runner("a", "")]));
    assert_eq!(
        config.runners[0].settings.drain_delay,
        Duration::from_secs(5400)
    );

    let text = sim_with("drainDelay: 90", &[runner("a", "")]);
    let p = problem_at(&text, "defaults.drainDelay");
    assert_eq!(p.line, Some(4));
    assert!(p.message.contains("invalid duration \"90\""), "{p:?}");
}

#[test]
fn aws_settings_are_read_and_the_account_reaches_every_runner() {
    let text = "controller:
  cloud: aws
  aws:
    region: eu-west-1
    expectedAccountId: \"012345678901\"
    endpointUrl: http://127.0.0.1:5000
runners:
"
    .to_owned()
        + &runner("a", "")
        + &runner("b", "");
    let config = ok(&text);
    assert_eq!(
        config.controller.aws,
        Some(AwsSettings {
            region: "eu-west-1".into(),
            expected_account_id: "012345678901".into(),
            endpoint_url: Some("http://127.0.0.1:5000".into()),
            max_requests_per_second: Default::default(),
        })
    );
    for r in &config.runners {
        assert_eq!(r.expected_account_id.as_deref(), Some("012345678901"));
    }
}

fn aws_with_budget(budget: &str) -> String {
    let mut text = "controller:
  cloud: aws
  aws:
    region: eu-west-1
    expectedAccountId: \"012345678901\"
    maxRequestsPerSecond:"
        .to_owned();
    if budget.is_empty() {
        text.push_str(" {}");
    }
    text.push('\n');
    for line in budget.lines().filter(|l| !l.trim().is_empty()) {
        text.push_str("      ");
        text.push_str(line.trim_start());
        text.push('\n');
    }
    text + "runners:\n" + &runner("a", "")
}

#[test]
fn the_api_budget_defaults_below_aws_quotas_and_takes_each_service_apart() {
    let defaults = crate::cloud::budget::RequestRates::default();
    assert_eq!(
        defaults.services(),
        [
            ("ssm", 30),
            ("autoscaling", 8),
            ("elbv2", 8),
            ("sts", 10),
            ("dynamodb", 10)
        ]
    );
    let rates = |text: &str| ok(text).controller.aws.unwrap().max_requests_per_second;
    assert_eq!(rates(&aws_with_budget("")), defaults);
    let set = rates(&aws_with_budget("ssm: 100\nelbv2: 5"));
    assert_eq!((set.ssm, set.elbv2), (100, 5));
    assert_eq!((set.autoscaling, set.sts, set.dynamodb), (8, 10, 10));
}

#[test]
fn an_api_budget_out_of_range_or_for_an_unknown_service_names_the_key_and_line() {
    let zero = problem_at(
        &aws_with_budget("ssm: 30\nelbv2: 0"),
        "controller.aws.maxRequestsPerSecond.elbv2",
    );
    assert_eq!(zero.line, Some(8), "{zero:?}");
    assert_eq!(
        zero.message,
        "0 is out of range: requests per second must be between 1 and 10000"
    );
    let huge = problem_at(
        &aws_with_budget("dynamodb: 20000"),
        "controller.aws.maxRequestsPerSecond.dynamodb",
    );
    assert_eq!(huge.line, Some(7), "{huge:?}");
    let all = problems(&aws_with_budget("ec2: 5"));
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (all[0].path.as_str(), all[0].line),
        ("controller.aws.maxRequestsPerSecond.ec2", Some(7)),
        "{all:?}"
    );
    assert!(
        all[0]
            .message
            .contains("ssm, autoscaling, elbv2, sts, dynamodb"),
        "{all:?}"
    );
    let fraction = problems(&aws_with_budget("ssm: 2.5"));
    assert_eq!(
        fraction[0].path, "controller.aws.maxRequestsPerSecond.ssm",
        "{fraction:?}"
    );
}

#[test]
fn simulated_cloud_sets_no_expected_account_even_with_aws_settings() {
    let text = "controller:
  cloud: simulated
  aws: { region: eu-west-1, expectedAccountId: \"012345678901\" }
runners:
"
    .to_owned()
        + &runner("a", "");
    let config = ok(&text);
    assert!(config.controller.aws.is_some());
    assert_eq!(config.runners[0].expected_account_id, None);
}

#[test]
fn aws_cloud_requires_aws_settings() {
    let text = "controller:\n  cloud: aws\nrunners: []\n";
    let p = problem_at(text, "controller.aws");
    assert_eq!(p.line, Some(2));
    assert!(p.message.contains("required with `cloud: aws`"), "{p:?}");
}

#[test]
fn expected_account_id_must_be_exactly_twelve_digits() {
    for bad in [
        "\"12345678901\"",
        "\"1234567890123\"",
        "\"12345678901a\"",
        "\"\"",
    ] {
        let text = format!(
            "controller:\n  cloud: aws\n  aws:\n    region: us-east-1\n    expectedAccountId: {bad}\nrunners: []\n"
        );
        let p = problem_at(&text, "controller.aws.expectedAccountId");
        assert_eq!(p.line, Some(5), "{bad}");
        assert!(p.message.contains("exactly 12 digits"), "{p:?}");
    }
}

#[test]
fn listen_must_be_a_socket_address() {
    for bad in ["localhost", "127.0.0.1", "127.0.0.1:99999"] {
        let text = format!("controller:\n  cloud: simulated\n  listen: {bad}\nrunners: []\n");
        let p = problem_at(&text, "controller.listen");
        assert_eq!(p.line, Some(3));
    }
    let ipv6 = ok("controller:\n  cloud: simulated\n  listen: \"[::1]:9254\"\nrunners: []\n");
    assert_eq!(ipv6.controller.listen, "[::1]:9254".parse().unwrap());
}

#[test]
fn zero_intervals_are_rejected() {
    let text = "controller:\n  cloud: simulated\n  syncInterval: 0s\n  transitionInterval: 0s\nrunners: []\n";
    let paths: Vec<_> = problems(text).into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        ["controller.syncInterval", "controller.transitionInterval"]
    );
}

#[test]
fn an_unknown_active_shard_names_key_path_line_and_choices() {
    let text = sim_with("", &[runner("a", "")]).replace("activeShard: blue", "activeShard: purple");
    let err = parse(&text, Path::new("config/x.yaml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config/x.yaml:5: runners[0].activeShard: unknown variant \"purple\", expected blue or green"
    );
}

#[test]
fn unknown_keys_are_rejected_wherever_they_are() {
    let top = sim_with("", &[runner("a", "")]) + "colour: red\n";
    let in_runner = sim_with("", &[runner("a", "colour: red")]);
    let in_shard = sim_with("", &[runner("a", "")]).replace(
        "targetGroupArn: arn:tg/a-blue }",
        "targetGroupArn: arn:tg/a-blue, weight: 1 }",
    );
    let in_controller = sim_with("", &[runner("a", "")])
        .replace("  cloud: simulated\n", "  cloud: simulated\n  region: x\n");
    let in_defaults = sim_with("drainDelays: 1m", &[runner("a", "")]);
    for (text, path, line, expected) in [
        (top, "colour", 10, "controller, defaults, runners"),
        (in_runner, "runners[0].colour", 10, "name, activeShard"),
        (
            in_shard,
            "runners[0].shards.blue.weight",
            8,
            "autoScalingGroup or targetGroupArn",
        ),
        (in_controller, "controller.region", 3, "cloud, aws"),
        (in_defaults, "defaults.drainDelays", 4, "drainDelay"),
    ] {
        let all = problems(&text);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(
            (all[0].path.as_str(), all[0].line),
            (path, Some(line)),
            "{all:?}"
        );
        assert!(all[0].message.starts_with("unknown field \""), "{all:?}");
        assert!(all[0].message.contains(expected), "{all:?}");
    }
}

#[test]
fn runner_names_must_be_well_formed() {
    let long = "a".repeat(64);
    for bad in ["Runner-A", "runner_a", "runner.a", long.as_str(), "\"\""] {
        let r = runner("x", "").replace("name: x", &format!("name: {bad}"));
        let p = problem_at(&sim_with("", &[r]), "runners[0].name");
        assert_eq!(p.line, Some(4), "{bad}: {p:?}");
    }
    ok(&sim_with(
        "",
        &[runner(&"a".repeat(63), ""), runner("0-9-z", "")],
    ));
}

#[test]
fn runner_names_must_be_unique() {
    let second = runner("a", "")
        .replace("a-blue", "x-blue")
        .replace("a-green", "x-green");
    let p = problem_at(&sim_with("", &[runner("a", ""), second]), "runners[1].name");
    assert!(
        p.message.contains("already the name of runners[0]"),
        "{p:?}"
    );
    assert_eq!(p.line, Some(10));
    ok(&sim_with("", &[runner("a", ""), runner("b", "")]));
}

#[test]
fn the_two_shards_need_different_asgs_and_target_groups() {
    let r = runner("a", "").replace(
        "a-green, targetGroupArn: arn:tg/a-green",
        "a-blue, targetGroupArn: arn:tg/a-blue",
    );
    let all = problems(&sim_with("", &[r]));
    let paths: Vec<_> = all.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "runners[0].shards.green.autoScalingGroup",
            "runners[0].shards.green.targetGroupArn"
        ]
    );
    assert!(all.iter().all(|p| p.line == Some(9)), "{all:?}");
}

#[test]
fn runners_may_not_share_asgs_target_groups_or_status_records() {
    let b = runner("b", "")
        .replace("b-blue,", "a-blue,")
        .replace("arn:tg/b-green", "arn:tg/a-green");
    let all = problems(&sim_with(
        "statusParameter: /shared/record",
        &[runner("a", ""), b],
    ));
    let paths: Vec<_> = all.iter().map(|p| p.path.as_str()).collect();
    // Sorted by line: the status record problem is reported at the runner's name (line 10).
    assert_eq!(
        paths,
        [
            "runners[1].statusParameter",
            "runners[1].shards.blue.autoScalingGroup",
            "runners[1].shards.green.targetGroupArn"
        ]
    );
    assert!(
        all[1]
            .message
            .contains("already used by runners[0].shards.blue"),
        "{all:?}"
    );
    assert!(
        all[0].message.contains("put {runner} in the template"),
        "{all:?}"
    );
}

#[test]
fn capacity_must_be_at_least_one() {
    let p = problem_at(
        &sim_with("", &[runner("a", "capacity: 0")]),
        "runners[0].capacity",
    );
    assert_eq!(p.line, Some(10));
    let p = problem_at(
        &sim_with("capacity: 0", &[runner("a", "")]),
        "defaults.capacity",
    );
    assert_eq!(p.line, Some(4));
    let p = problem_at(
        &sim_with("capacity: -1", &[runner("a", "")]),
        "defaults.capacity",
    );
    assert_eq!(p.line, Some(4));
    ok(&sim_with("capacity: 1", &[runner("a", "")]));
}

#[test]
fn min_healthy_percent_is_between_one_and_one_hundred() {
    for bad in [0, 101] {
        let p = problem_at(
            &sim_with("", &[runner("a", &format!("minHealthyPercent: {bad}"))]),
            "runners[0].minHealthyPercent",
        );
        assert!(p.message.contains("not between 1 and 100"), "{p:?}");
    }
    ok(&sim_with(
        "minHealthyPercent: 1",
        &[runner("a", "minHealthyPercent: 100")],
    ));
}

#[test]
fn stability_window_must_cover_two_transition_intervals() {
    let controller = "controller:\n  cloud: simulated\n  transitionInterval: 10s\n";
    let file = |defaults: &str, over: &str| {
        sim_with(defaults, &[runner("a", over)]).replace(SIM, controller)
    };

    let p = problem_at(
        &file("", "stabilityDuration: 19s"),
        "runners[0].stabilityDuration",
    );
    assert!(
        p.message
            .contains("twice controller.transitionInterval (20s)"),
        "{p:?}"
    );
    assert_eq!(p.line, Some(11));
    let p = problem_at(
        &file("stabilityDuration: 19s", ""),
        "defaults.stabilityDuration",
    );
    assert_eq!(p.line, Some(5));
    // A bad default is reported once, at the default, not again for each runner inheriting it.
    assert_eq!(problems(&file("stabilityDuration: 19s", "")).len(), 1);
    ok(&file("stabilityDuration: 20s", ""));

    // The built-in default (120s) is checked too when the interval is long.
    let slow = sim_with("", &[runner("a", "")]).replace(
        SIM,
        "controller:\n  cloud: simulated\n  transitionInterval: 61s\n",
    );
    let p = problem_at(&slow, "defaults.stabilityDuration");
    assert_eq!(p.line, None);
}

#[test]
fn progress_deadline_must_fit_grace_period_and_stability_window() {
    let p = problem_at(
        &sim_with("", &[runner("a", "progressDeadline: 2m")]),
        "runners[0].progressDeadline",
    );
    assert!(p.message.contains("(3m)"), "{p:?}");
    // A runner that lengthens its stability window past the default deadline is blamed there.
    let p = problem_at(
        &sim_with("", &[runner("a", "stabilityDuration: 15m")]),
        "runners[0].progressDeadline",
    );
    assert_eq!(p.line, Some(10));
}

#[test]
fn status_parameter_may_not_be_empty_or_contain_spaces() {
    problem_at(
        &sim_with("statusParameter: \"\"", &[runner("a", "")]),
        "defaults.statusParameter",
    );
    problem_at(
        &sim_with("", &[runner("a", "statusParameter: /a b/{runner}")]),
        "runners[0].statusParameter",
    );
}

#[test]
fn every_problem_is_reported_sorted_by_line_one_per_display_line() {
    let text = sim_with(
        "capacity: 0",
        &[
            runner("Bad_Name", "minHealthyPercent: 0"),
            runner("b", "capacity: 0"),
        ],
    );
    let err = parse(&text, Path::new("cfg.yaml")).unwrap_err();
    let lines: Vec<_> = err.to_string().lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "cfg.yaml:4: defaults.capacity: must be at least 1",
            "cfg.yaml:6: runners[0].name: \"Bad_Name\" contains 'B': only lowercase letters, digits and '-' are allowed",
            "cfg.yaml:12: runners[0].minHealthyPercent: 0 is not between 1 and 100",
            "cfg.yaml:19: runners[1].capacity: must be at least 1",
        ]
    );
}

#[test]
fn load_reads_a_file_and_names_an_unreadable_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.yaml");
    std::fs::write(&path, sim_with("", &[runner("a", "")])).unwrap();
    assert_eq!(load(&path).unwrap().runners[0].name, "a");

    let missing = dir.path().join("missing.yaml");
    let err = load(&missing).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read the file", missing.display())),
        "{err}"
    );

    std::fs::write(&path, b"controller: \xff\n").unwrap();
    assert!(load(&path).unwrap_err().to_string().contains("not UTF-8"));
}

#[test]
fn the_shipped_aws_example_is_valid() {
    let config = ok(include_str!("../../config/switchyard.yaml"));
    assert_eq!(config.controller.cloud, CloudKind::Aws);
    assert_eq!(config.runners.len(), 2);
    assert!(
        config
            .runners
            .iter()
            .all(|r| r.expected_account_id.as_deref() == Some("123456789012"))
    );
}

#[test]
fn the_shipped_demo_is_valid_and_simulated() {
    let config = ok(include_str!("../../config/demo.yaml"));
    assert_eq!(config.controller.cloud, CloudKind::Simulated);
    let names: Vec<_> = config.runners.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["runner-a", "runner-b", "runner-c"]);
    assert!(
        config
            .controller
            .simulated
            .unknown_world_runners(&config.runners)
            .is_empty()
    );
}

// --- hostile input -------------------------------------------------------------------------

/// Every hostile input must be refused, by a limit rather than by exhausting memory or time
/// (a budget that failed open would make this test hang, which the harness reports).
fn refused(text: &str) -> ConfigErrors {
    parse(text, Path::new("hostile.yaml")).expect_err("hostile input accepted")
}

/// The classic "billion laughs": nine levels of nine aliases each, 9^9 strings once expanded.
fn laughs(levels: usize) -> String {
    let mut text = String::from("  - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..levels {
        let prev = format!("*l{}", i - 1);
        text.push_str(&format!("  - &l{i} [{}]\n", [prev.as_str(); 9].join(", ")));
    }
    text
}

#[test]
fn alias_bombs_are_refused() {
    // Nine levels of nine: the typed schema meets the first list where a runner must be and
    // stops there, before anything is expanded.
    let classic = format!("{SIM}runners:\n{}", laughs(9));
    let err = refused(&classic);
    assert_eq!(err.problems[0].path, "runners[0]", "{err}");

    // Wide fan-out trips the alias budget before deserialization starts, wherever it sits.
    let mut wide = format!(
        "{SIM}runners: []\nbomb:\n  - &w0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    );
    for i in 1..6 {
        let prev = format!("*w{}", i - 1);
        wide.push_str(&format!(
            "  - &w{i} [{}]\n",
            [prev.as_str(); 100].join(", ")
        ));
    }
    let err = refused(&wide);
    assert!(err.to_string().contains("a YAML alias bomb?"), "{err}");
}

/// Legitimate anchors, such as one shared shard block, still work.
#[test]
fn anchors_and_aliases_in_moderation_are_accepted() {
    let text = format!(
        "{SIM}defaults: &d {{ capacity: 3 }}\nrunners:\n{}{}",
        runner("a", "listenerArn: &l arn:listener/shared"),
        runner("b", "listenerArn: *l"),
    )
    .replacen("    listenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/a\n", "", 1)
    .replacen("    listenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/b\n", "", 1);
    let config = ok(&text);
    assert_eq!(config.runners[1].listener.arn(), "arn:listener/shared");
}

#[test]
fn deep_nesting_is_refused() {
    for text in [
        format!("controller: {}{}\n", "[".repeat(10_000), "]".repeat(10_000)),
        format!(
            "controller: {}{}\n",
            "{a: ".repeat(10_000),
            "}".repeat(10_000)
        ),
        (0..200)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect::<String>(),
    ] {
        let err = refused(&text);
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(
            err.problems[0].message,
            "refused: nested more than 32 levels deep"
        );
    }
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    let text = format!("{SIM}runners: []\n#{}\n", "x".repeat(MAX_FILE_BYTES));
    let err = refused(&text);
    assert!(err.to_string().contains("larger than the limit"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, &text).unwrap();
    let err = load(&path).unwrap_err();
    assert!(err.to_string().contains("larger than the limit"), "{err}");
}

#[test]
fn documents_with_too_many_nodes_are_refused() {
    // Under the byte limit, but three million scalars.
    let text = format!("{SIM}runners: [{}]\n", "1,".repeat(3_000_000));
    assert!(text.len() < MAX_FILE_BYTES);
    let err = refused(&text);
    assert!(err.to_string().contains("YAML nodes"), "{err}");
}

#[test]
fn several_documents_are_refused() {
    let text = format!("{SIM}runners: []\n---\n{SIM}runners: []\n");
    let err = refused(&text);
    assert!(
        err.to_string().contains("more than one YAML document"),
        "{err}"
    );
}

#[test]
fn garbage_is_refused_without_panicking() {
    for text in [
        "",
        "\0",
        "controller",
        "[1, 2",
        "controller: {cloud: simulated}\nrunners: {}",
        "\t- x",
        "&a *a",
    ] {
        let _ = parse(text, Path::new("g.yaml")).expect_err(text);
    }
}

// --- schema --------------------------------------------------------------------------------

#[test]
fn schema_matches_snapshot() {
    insta::assert_json_snapshot!("desired_state_schema", schema());
}

#[test]
fn schema_rejects_unknown_keys_and_lists_the_top_level_sections() {
    let schema = schema();
    assert_eq!(schema["additionalProperties"], false);
    let props = schema["properties"].as_object().unwrap();
    assert_eq!(
        props.keys().collect::<Vec<_>>(),
        ["controller", "defaults", "runners"]
    );
    assert_eq!(schema["required"], serde_json::json!(["controller"]));
}

// --- restart-only changes ------------------------------------------------------------------

#[test]
fn restart_only_changes_are_named() {
    let base = ok(&sim_with("", &[runner("a", "")]));
    let mut other = base.clone();
    other.runners[0].active_shard = Shard::Green;
    other.controller.sync_interval = Duration::from_secs(5);
    assert_eq!(restart_only_change(&base, &other), None);

    let mut listen = base.clone();
    listen.controller.listen = "0.0.0.0:1".parse().unwrap();
    let message = restart_only_change(&base, &listen).unwrap();
    assert!(
        message.contains("controller.listen") && message.contains("needs a restart"),
        "{message}"
    );

    let mut cloud = base.clone();
    cloud.controller.cloud = CloudKind::Aws;
    cloud.controller.aws = Some(AwsSettings {
        region: "us-east-1".into(),
        expected_account_id: "123456789012".into(),
        endpoint_url: None,
        max_requests_per_second: Default::default(),
    });
    let message = restart_only_change(&base, &cloud).unwrap();
    assert!(
        message.contains("controller.cloud, controller.aws"),
        "{message}"
    );
}
