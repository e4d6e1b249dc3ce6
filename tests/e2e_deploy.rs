//! End to end: the real `switchyard` binary deploys against moto's server (docs/how-it-decides.md,
//! §5, §7). See `e2e_support` for the harness.

mod e2e_support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use e2e_support::{Desired, World, keep_unhealthy, record_json, world};
use serde_json::json;

const DEPLOY: Duration = Duration::from_secs(60);

fn blue() -> Desired {
    Desired {
        active: "blue",
        revision: None,
    }
}

fn green(revision: Option<&'static str>) -> Desired {
    Desired {
        active: "green",
        revision,
    }
}

/// Waits until the runner is converged with `shard` active.
async fn converged_on(daemon: &e2e_support::Daemon, shard: &str) {
    daemon
        .wait_for(&format!("{shard} converged"), DEPLOY, |r| {
            r.phase == "Converged"
                && r.active_shard.map(|s| s.to_string()).as_deref() == Some(shard)
        })
        .await;
}

/// The end state of a finished blue/green deployment onto `to`.
async fn assert_deployed_on(w: &World, to: &str, from: &str) -> serde_json::Value {
    let r = w.runner();
    let after = w.snapshot().await;
    assert_eq!(
        after.listener,
        vec![r.tg(to).to_string()],
        "traffic on {to}"
    );
    let (new, old) = if to == "green" {
        (&after.green, &after.blue)
    } else {
        (&after.blue, &after.green)
    };
    assert_eq!(new.capacity, (2, 2, 2));
    assert_eq!(new.instances.len(), 2);
    assert_eq!(old.capacity.0, 0, "{from} min scaled to 0");
    assert_eq!(old.capacity.1, 0, "{from} desired scaled to 0");
    assert!(old.instances.is_empty(), "{from} has no instances left");
    let record = record_json(&after);
    assert_eq!(record["active_shard"], to);
    assert_eq!(record["deployed_shards"], json!([to]));
    record
}

#[tokio::test(flavor = "multi_thread")]
async fn first_deployment_from_an_empty_record() {
    let w = world("first", 1).await;
    let r = w.runner().clone();
    // Nothing deployed yet: the record is `{}` and blue has no capacity (the listener already
    // points at blue's empty target group, which is not judged before anything is live).
    w.put_record("{}").await;
    w.set_capacity(&r.blue_asg, 0).await;
    w.write_config(&blue());

    let started = Utc::now();
    let daemon = w.daemon();
    converged_on(&daemon, "blue").await;
    let after = w.snapshot().await;
    assert_eq!(after.listener, vec![r.blue_tg.clone()]);
    assert_eq!(after.blue.capacity, (2, 2, 2));
    assert_eq!(after.blue.instances.len(), 2);
    assert_eq!(after.green.capacity, (0, 0, 0));
    let record = record_json(&after);
    assert_eq!(record["active_shard"], "blue");
    assert_eq!(record["deployed_shards"], json!(["blue"]));
    let ts: DateTime<Utc> = record["deployment_ts"].as_str().unwrap().parse().unwrap();
    assert!(
        ts >= started - chrono::Duration::seconds(1),
        "{ts} is this deployment's"
    );
    // `{}` was version 2 (the world wrote the first record); one write made it active.
    assert_eq!(after.record.as_ref().unwrap().1, 3);
    // A mark lives only while its attempt does: recorded, it is deleted.
    assert_eq!(
        after.blue.mark(),
        None,
        "the recorded attempt's mark is gone"
    );
    assert_eq!(daemon.stop(), Some(0), "SIGTERM ends the daemon with 0");
}

#[tokio::test(flavor = "multi_thread")]
async fn blue_to_green_keeps_other_keys_and_updates_the_timestamp() {
    let w = world("b2g", 1).await;
    let r = w.runner().clone();
    w.put_record(
        r#"{"active_shard":"blue","deployment_ts":"2026-03-10T19:19:53Z","deployed_shards":["blue"],"owner":"team-runners"}"#,
    )
    .await;
    w.write_config(&green(Some("2")));
    let before = w.snapshot().await;

    let daemon = w.daemon();
    converged_on(&daemon, "green").await;
    let record = assert_deployed_on(&w, "green", "blue").await;
    assert_eq!(record["owner"], "team-runners", "other keys are preserved");
    assert_ne!(record["deployment_ts"], "2026-03-10T19:19:53Z");
    let ts: DateTime<Utc> = record["deployment_ts"].as_str().unwrap().parse().unwrap();
    assert!((Utc::now() - ts).num_seconds() < 60, "{ts} is recent");
    let after = w.snapshot().await;
    assert_eq!(after.green.template_version.as_deref(), Some("2"));
    assert_eq!(after.blue.template_version.as_deref(), Some("1"));
    assert_eq!(
        after.green.tags.get("team").map(String::as_str),
        Some("runners")
    );
    assert_eq!(after.green.target_groups, vec![r.green_tg.clone()]);
    // Two writes: activate green (deployed blue+green), then clean up (deployed green).
    assert_eq!(
        after.record.as_ref().unwrap().1,
        before.record.as_ref().unwrap().1 + 2
    );
    let metrics = daemon.metrics();
    assert!(
        metrics.contains(&format!(
            "switchyard_deployments_total{{runner=\"{}\",outcome=\"succeeded\"}} 1",
            r.name
        )),
        "{metrics}"
    );
    assert_eq!(daemon.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_of_the_file_while_the_daemon_runs_is_converged() {
    let w = world("reload", 1).await;
    w.write_config(&blue());
    let before = w.snapshot().await;
    let daemon = w.daemon();
    converged_on(&daemon, "blue").await;
    assert_eq!(w.snapshot().await, before, "converged: nothing to do");

    // The operator's edit: make green active. The daemon picks it up without a restart.
    w.write_config(&green(None));
    daemon
        .wait_for("the edit to be seen", Duration::from_secs(10), |r| {
            r.desired_shard.to_string() == "green"
        })
        .await;
    converged_on(&daemon, "green").await;
    assert_deployed_on(&w, "green", "blue").await;
    let metrics = daemon.metrics();
    assert!(
        metrics.contains("switchyard_config_reloads_total{outcome=\"success\"}"),
        "{metrics}"
    );
    assert_eq!(daemon.stop(), Some(0));
}

/// UpdateAutoScalingGroup calls that raised green's capacity, from the daemon's own metrics:
/// every provision is one such call, and so is every scale to 0.
fn updates(daemon: &e2e_support::Daemon) -> f64 {
    daemon
        .requests()
        .get("UpdateAutoScalingGroup")
        .copied()
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_that_never_becomes_healthy_fails_once_and_retry_tries_once_more() {
    let mut w = world("never", 1).await;
    let r = w.runner().clone();
    w.settings.grace = "2s";
    w.settings.progress_deadline = "5s";
    w.write_config(&green(Some("2")));
    let before = w.snapshot().await;
    let stop = tokio_util::sync::CancellationToken::new();
    let poisoner = keep_unhealthy(&w, r.green_asg.clone(), stop.clone());

    let daemon = w.daemon();
    let failed = daemon
        .wait_for("the deployment to fail", DEPLOY, |r| r.phase == "Failed")
        .await;
    assert!(
        failed
            .conditions
            .iter()
            .any(|c| c.kind == "DeploymentFailed"),
        "{failed:#?}"
    );
    // Failing scales green back to 0 (one UpdateAutoScalingGroup): wait for that step.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while w.asg_state(&r.green_asg).await.capacity.1 != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "green was not scaled to 0"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Several more passes: a deploy loop would provision again in one of them.
    daemon.wait_observations(5.0).await;
    let after = w.snapshot().await;
    assert_eq!(after.green.capacity.1, 0, "the new shard is at 0");
    assert_eq!(after.green.capacity.0, 0);
    assert_eq!(
        after.listener,
        vec![r.blue_tg.clone()],
        "blue still serving"
    );
    assert_eq!(after.blue.capacity, (2, 2, 2));
    assert!(after.blue.instances.iter().all(|(_, h)| h == "Healthy"));
    assert_eq!(after.record, before.record, "the record is untouched");
    let mark = after.green.mark().expect("mark");
    assert_eq!(mark["state"], "failed");
    assert_eq!(mark["revision"], "2");
    let first_id = mark["id"].clone();
    assert_eq!(
        updates(&daemon),
        2.0,
        "one provision and one scale to 0, no loop"
    );
    let metrics = daemon.metrics();
    assert!(
        metrics.contains(&format!(
            "switchyard_deployments_total{{runner=\"{}\",outcome=\"failed\"}} 1",
            r.name
        )),
        "{metrics}"
    );

    // `retry` deletes the failed mark; the daemon starts exactly one new attempt, which fails
    // the same way and is not followed by a third.
    let out = w.switchyard(&["retry", "--runner", &r.name]);
    assert_eq!(out.status.code(), Some(0));
    let deadline = std::time::Instant::now() + DEPLOY;
    loop {
        let green = w.asg_state(&r.green_asg).await;
        if let Some(mark) = green.mark()
            && mark["id"] != first_id
            && mark["state"] == "failed"
            && green.capacity.1 == 0
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the retry did not fail: {green:?}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.wait_observations(5.0).await;
    assert_eq!(
        updates(&daemon),
        4.0,
        "exactly one more provision and its scale to 0"
    );
    let end = w.snapshot().await;
    assert_eq!(end.listener, vec![r.blue_tg.clone()]);
    assert_eq!(end.record, before.record);
    stop.cancel();
    poisoner.await.unwrap();
    assert_eq!(daemon.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn repair_mark_deployed_then_the_runbook_flow_converges() {
    let w = world("repair", 1).await;
    let r = w.runner().clone();
    // Someone deployed green by hand: healthy, not in deployed_shards, no mark.
    w.set_capacity(&r.green_asg, 2).await;
    w.write_config(&green(None));
    let plan = w.switchyard(&["plan"]);
    assert_eq!(plan.status.code(), Some(3));
    assert!(e2e_support::stdout(&plan).contains("InactiveShardHealthyNotDeployed"));

    // Refused while green is unhealthy: nothing is written.
    let green_state = w.asg_state(&r.green_asg).await;
    let victim = green_state.instances[0].0.clone();
    w.set_unhealthy(std::slice::from_ref(&victim)).await;
    let before = w.snapshot().await;
    let refused = w.switchyard(&[
        "repair",
        "mark-deployed",
        "--runner",
        &r.name,
        "--shard",
        "green",
        "--yes",
    ]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "refused on an unhealthy shard"
    );
    assert!(
        e2e_support::stderr(&refused).contains("refused"),
        "{}",
        e2e_support::stderr(&refused)
    );
    assert_eq!(
        w.snapshot().await,
        before,
        "a refused repair writes nothing"
    );

    // Healthy again (the operator fixed the instance): repair writes green into the record.
    w.autoscaling()
        .set_instance_health()
        .instance_id(&victim)
        .health_status("Healthy")
        .send()
        .await
        .unwrap();
    let written = w.switchyard(&[
        "repair",
        "mark-deployed",
        "--runner",
        &r.name,
        "--shard",
        "green",
        "--yes",
    ]);
    assert_eq!(written.status.code(), Some(0));
    let repaired = w.snapshot().await;
    let record = record_json(&repaired);
    assert_eq!(record["active_shard"], "blue");
    assert_eq!(record["deployed_shards"], json!(["blue", "green"]));
    assert_eq!(
        repaired.record.as_ref().unwrap().1,
        before.record.as_ref().unwrap().1 + 1
    );
    // The halt has cleared by itself; the controller finishes the runbook: switch to green,
    // record it, shut blue down, clean up.
    let plan = w.switchyard(&["plan"]);
    assert_eq!(plan.status.code(), Some(2), "changes pending, no halt");

    let daemon = w.daemon();
    converged_on(&daemon, "green").await;
    assert_deployed_on(&w, "green", "blue").await;
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(w.switchyard(&["plan"]).status.code(), Some(0), "converged");
}
