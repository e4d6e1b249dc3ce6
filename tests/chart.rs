//! The Helm chart's default rendering, snapshotted so that any change to what `helm install`
//! creates shows in review (`cargo insta review` to accept one). The chart's other checks (lint,
//! Kubernetes and CRD schemas, the rendered desired-state file) are scripts/check-chart.sh.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// helm 3.18.0, pinned, installed into .tools/ by the same script `make test` uses.
fn helm() -> std::path::PathBuf {
    let tools = Command::new("bash")
        .arg(Path::new(ROOT).join("scripts/tools.sh"))
        .output()
        .expect("run scripts/tools.sh");
    assert!(
        tools.status.success(),
        "scripts/tools.sh could not install helm:\n{}",
        String::from_utf8_lossy(&tools.stderr)
    );
    Path::new(String::from_utf8(tools.stdout).unwrap().trim()).join("helm")
}

fn render(args: &[&str]) -> String {
    let output = Command::new(helm())
        .current_dir(ROOT)
        .args([
            "template",
            "switchyard",
            "charts/switchyard",
            "--namespace",
            "switchyard",
        ])
        .args(args)
        .output()
        .expect("run helm");
    assert!(
        output.status.success(),
        "helm template {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("helm prints UTF-8")
}

#[test]
fn the_default_rendering_is_reviewed() {
    insta::assert_snapshot!("default_rendering", render(&[]));
}

#[test]
fn two_replicas_without_a_lease_are_refused() {
    let output = Command::new(helm())
        .current_dir(ROOT)
        .args(["template", "switchyard", "charts/switchyard"])
        .args([
            "--set",
            "replicaCount=2",
            "--set",
            "leaderElection.enabled=false",
        ])
        .output()
        .expect("run helm");
    assert!(!output.status.success(), "two writers were rendered");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("replicaCount > 1 needs leaderElection.enabled"),
        "{stderr}"
    );
}

#[test]
fn a_runner_edit_restarts_no_pod_but_a_controller_edit_does() {
    let checksum = |args: &[&str]| {
        let rendered = render(args);
        rendered
            .lines()
            .find_map(|l| l.trim().strip_prefix("checksum/controller: "))
            .map(str::to_string)
            .expect("a checksum/controller annotation")
    };
    let runner = [
        "--set",
        "config.runners[0].name=runner-a",
        "--set",
        "config.runners[0].activeShard=green",
        "--set",
        "config.runners[0].listenerArn=arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/a/1/2",
        "--set",
        "config.runners[0].shards.blue.autoScalingGroup=a-blue",
        "--set",
        "config.runners[0].shards.blue.targetGroupArn=tg-blue",
        "--set",
        "config.runners[0].shards.green.autoScalingGroup=a-green",
        "--set",
        "config.runners[0].shards.green.targetGroupArn=tg-green",
    ];
    let base = checksum(&[]);
    assert_eq!(
        checksum(&runner),
        base,
        "a runner edit must be hot-reloaded"
    );
    assert_ne!(
        checksum(&["--set", "config.controller.aws.region=eu-west-1"]),
        base,
        "a region change needs a restart"
    );
}

/// `prometheusRule.runbookBaseUrl` points every alert's runbook link at the operators' own copy
/// of docs/alerts.md, keeping each alert's anchor; the ServiceMonitor keeps switchyard's labels.
#[test]
fn runbook_links_follow_the_configured_base_and_labels_are_honoured() {
    let rendered = render(&[
        "--api-versions",
        "monitoring.coreos.com/v1",
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "prometheusRule.runbookBaseUrl=https://wiki.example.com/switchyard/alerts",
    ]);
    let links: Vec<&str> = rendered
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook_url: "))
        .collect();
    assert!(links.len() >= 10, "{links:?}");
    for link in &links {
        assert!(
            link.starts_with("https://wiki.example.com/switchyard/alerts#switchyard"),
            "{link}"
        );
    }
    assert!(rendered.contains("honorLabels: true"));
}
