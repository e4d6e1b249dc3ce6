//! End to end: every halt of docs/how-it-decides.md that moto can produce, and the wrong account,
//! with the real binary. Each case checks that nothing was mutated (record value and version,
//! listener, both ASGs' capacities, template versions, tags and instances) and that `plan` exits 3
//! naming the reason.

mod e2e_support;

use std::time::Duration;

use e2e_support::{Desired, Snapshot, World, stderr, stdout, world};

fn desired(active: &'static str) -> Desired {
    Desired {
        active,
        revision: None,
    }
}

/// `plan` exits 3 naming `reason`; `run --once` and then a few passes of the daemon leave the
/// world exactly as it was.
async fn assert_halted_read_only(w: &World, reason: &str) -> Snapshot {
    let before = w.snapshot().await;
    let plan = w.switchyard(&["plan"]);
    assert_eq!(plan.status.code(), Some(3), "plan exits 3 on a halt");
    assert!(stdout(&plan).contains(reason), "plan names {reason}");
    let json = w.switchyard(&["-o", "json", "plan"]);
    assert!(stdout(&json).contains(&format!("\"{reason}\"")));

    let once = w.switchyard(&["run", "--once"]);
    assert_eq!(once.status.code(), Some(0));
    assert!(
        stdout(&once).contains(reason),
        "run --once reports {reason}"
    );
    assert_eq!(
        w.snapshot().await,
        before,
        "run --once mutated a halted runner"
    );

    let daemon = w.daemon();
    let status = daemon
        .wait_for("the halt", Duration::from_secs(30), |r| {
            r.halted.as_ref().is_some_and(|h| h.reason == reason)
        })
        .await;
    assert_eq!(status.phase, "Halted");
    let metrics = daemon.metrics();
    assert!(
        metrics.contains(&format!(
            "switchyard_runner_halted{{runner=\"{}\",reason=\"{reason}\"}} 1",
            w.runner().name
        )),
        "{metrics}"
    );
    // A few more passes: a halt is level-triggered and stays read-only on every one.
    daemon.wait_observations(3.0).await;
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(
        w.snapshot().await,
        before,
        "the daemon mutated a halted runner"
    );
    before
}

#[tokio::test(flavor = "multi_thread")]
async fn active_shard_unhealthy() {
    let w = world("h-asu", 1).await;
    let blue = w.asg_state(&w.runner().blue_asg).await;
    w.set_unhealthy(&[blue.instances[0].0.clone()]).await;
    // A deployment is pending: it must not start from a dead shard.
    w.write_config(&desired("green"));
    assert_halted_read_only(&w, "ActiveShardUnhealthy").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inactive_shard_healthy_not_deployed() {
    let w = world("h-ishnd", 1).await;
    w.set_capacity(&w.runner().green_asg, 2).await;
    w.write_config(&desired("blue"));
    let snapshot = assert_halted_read_only(&w, "InactiveShardHealthyNotDeployed").await;
    assert_eq!(snapshot.green.capacity, (2, 2, 2), "not scaled down either");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_record_malformed() {
    let w = world("h-srm", 1).await;
    w.put_record(r#"{"active_shard":"purple","deployed_shards":["blue"]}"#)
        .await;
    w.write_config(&desired("green"));
    assert_halted_read_only(&w, "StatusRecordMalformed").await;
    // Not even repair overwrites a malformed record.
    let before = w.snapshot().await;
    let repair = w.switchyard(&[
        "repair",
        "mark-deployed",
        "--runner",
        &w.runner().name,
        "--shard",
        "blue",
        "--yes",
    ]);
    assert_eq!(repair.status.code(), Some(1));
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_record_not_json_is_malformed() {
    let w = world("h-srnj", 1).await;
    w.put_record("blue").await;
    w.write_config(&desired("blue"));
    assert_halted_read_only(&w, "StatusRecordMalformed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_record_inconsistent() {
    let w = world("h-sri", 1).await;
    w.put_record(
        r#"{"active_shard":"blue","deployment_ts":"2026-03-10T19:19:53Z","deployed_shards":[]}"#,
    )
    .await;
    w.write_config(&desired("green"));
    assert_halted_read_only(&w, "StatusRecordInconsistent").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_missing() {
    let w = world("h-rm", 1).await;
    w.autoscaling()
        .delete_auto_scaling_group()
        .auto_scaling_group_name(&w.runner().green_asg)
        .force_delete(true)
        .send()
        .await
        .unwrap();
    w.write_config(&desired("green"));
    let snapshot = assert_halted_read_only(&w, "ResourceMissing").await;
    assert!(!snapshot.green.exists, "never re-created or updated");
}

#[tokio::test(flavor = "multi_thread")]
async fn traffic_mismatch() {
    let w = world("h-tm", 1).await;
    // Someone moved traffic to green's (empty) target group by hand.
    w.forward_to(&w.runner().green_tg).await;
    w.write_config(&desired("blue"));
    let snapshot = assert_halted_read_only(&w, "TrafficMismatch").await;
    assert_eq!(snapshot.listener, vec![w.runner().green_tg.clone()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_impossible() {
    let mut w = world("h-ri", 1).await;
    let r = w.runner().clone();
    // A long check after the switch leaves time to break both shards while it runs.
    w.settings.post_switch = "60s";
    w.write_config(&desired("green"));
    let daemon = w.daemon();
    daemon
        .wait_for("the switch", Duration::from_secs(60), |s| {
            s.phase == "VerifyingAfterSwitch"
        })
        .await;
    assert_eq!(w.snapshot().await.listener, vec![r.green_tg.clone()]);
    let green = w.asg_state(&r.green_asg).await;
    let blue = w.asg_state(&r.blue_asg).await;
    w.set_unhealthy(&[blue.instances[0].0.clone()]).await;
    w.set_unhealthy(&[green.instances[0].0.clone()]).await;
    let status = daemon
        .wait_for("a halt", Duration::from_secs(30), |s| s.halted.is_some())
        .await;
    let reason = status.halted.unwrap().reason;
    let before = w.snapshot().await;
    daemon.wait_observations(3.0).await;
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(w.snapshot().await, before, "nothing mutated after the halt");
    assert_eq!(
        before.listener,
        vec![r.green_tg.clone()],
        "no switch back to a dead shard"
    );
    eprintln!("halt after both shards failed: {reason}");
    assert_eq!(reason, "RollbackImpossible");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_account_refuses_every_command() {
    let mut w = world("h-wa", 1).await;
    w.settings.expected_account = "111111111111".to_string();
    // A deployment is pending, so any command that acted would mutate.
    w.write_config(&desired("green"));
    let before = w.snapshot().await;
    let name = w.runner().name.clone();
    let commands: [&[&str]; 6] = [
        &["run", "--once"],
        &["run"],
        &["plan"],
        &["status"],
        &[
            "repair",
            "mark-deployed",
            "--runner",
            &name,
            "--shard",
            "blue",
            "--yes",
        ],
        &["retry", "--runner", &name],
    ];
    for args in commands {
        let out = w.switchyard(args);
        let said = format!("{}{}", stdout(&out), stderr(&out));
        // docs/commands.md gives 4 to run, plan, status and repair; retry's codes are 0 and 1 only.
        let expected = if args[0] == "retry" { 1 } else { 4 };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{args:?} exits {expected}"
        );
        assert!(
            said.contains("111111111111") && said.contains(e2e_support::ACCOUNT),
            "{args:?} names both accounts: {said}"
        );
    }
    assert_eq!(
        w.snapshot().await,
        before,
        "nothing mutated in the wrong account"
    );
}

/// ConcurrentModification cannot be produced from an observation (it is a race between a read
/// and a write), so `plan` cannot name it. `repair` without `--yes` opens the race
/// deterministically: it reads the record, waits for the operator's confirmation, and another
/// writer changes the record in between. The write must be refused, never overwrite.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_modification_during_repair_confirmation() {
    let w = world("h-cm", 1).await;
    let r = w.runner().clone();
    w.set_capacity(&r.green_asg, 2).await;
    w.write_config(&desired("green"));
    let repair = w.repair_awaiting_confirmation("green");
    assert!(repair.shown.contains("green"), "{}", repair.shown);

    let other = r#"{"active_shard":"blue","deployment_ts":"2026-03-11T08:00:00Z","deployed_shards":["blue"],"by":"someone-else"}"#;
    w.put_record(other).await;
    let before = w.snapshot().await;
    let out = repair.answer("yes");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("ConcurrentModification"), "{said}");
    assert_eq!(
        w.snapshot().await,
        before,
        "the other writer's record stays"
    );
    assert_eq!(before.record.as_ref().unwrap().0, other);
}
