//! End to end: runners on host-header rules of one shared ALB listener (`listenerRuleArn`,
//! docs/configuration.md), with the real binary against moto's server. The checks read the
//! listener and its rules with the SDK themselves, never from switchyard's report.

mod e2e_support;

use std::time::Duration;

use e2e_support::{Desired, World, stdout, world_on_rules};

const DEPLOY: Duration = Duration::from_secs(60);

fn desired(active: &'static str) -> Desired {
    Desired {
        active,
        revision: None,
    }
}

fn rule_of(w: &World, i: usize) -> String {
    w.runners[i]
        .listener_rule_arn
        .clone()
        .expect("a runner on a rule")
}

/// The shared listener's default action, as DescribeListeners returns it, in full.
async fn default_actions(w: &World) -> String {
    let out = w
        .elb()
        .describe_listeners()
        .listener_arns(&w.runner().listener_arn)
        .send()
        .await
        .expect("describe the shared listener");
    format!("{:?}", out.listeners()[0].default_actions())
}

#[tokio::test(flavor = "multi_thread")]
async fn deploying_a_runner_on_a_rule_changes_only_its_rules_forward_action() {
    let w = world_on_rules("rules-deploy", 2).await;
    let (a, b) = (w.runners[0].clone(), w.runners[1].clone());
    let default_tg = w.default_target_group.clone().unwrap();
    w.write_config_each(&[desired("green"), desired("blue")]);
    let rule_a = w.rule(&rule_of(&w, 0)).await;
    let rule_b = format!("{:?}", w.rule(&rule_of(&w, 1)).await);
    let listener = default_actions(&w).await;
    assert!(listener.contains(&default_tg), "{listener}");

    let daemon = w.daemon();
    daemon
        .wait_for("runner a converged on green", DEPLOY, |r| {
            r.phase == "Converged"
                && r.active_shard.map(|s| s.to_string()).as_deref() == Some("green")
        })
        .await;
    let status = daemon.status().await;
    let other = status.runners.iter().find(|r| r.name == b.name).unwrap();
    assert!(other.halted.is_none(), "{other:#?}");
    assert_eq!(daemon.stop(), Some(0));

    // Runner a: its rule forwards to green alone; priority and host-header conditions as before.
    let after_a = w.rule(&rule_of(&w, 0)).await;
    let forward: Vec<_> = after_a
        .actions()
        .iter()
        .map(|x| x.target_group_arn().unwrap_or_default().to_string())
        .collect();
    assert_eq!(forward, [a.green_tg.as_str()]);
    assert_eq!(after_a.priority(), rule_a.priority());
    assert_eq!(
        format!("{:?}", after_a.conditions()),
        format!("{:?}", rule_a.conditions())
    );
    assert!(format!("{:?}", after_a.conditions()).contains(&format!("{}.example.com", a.name)));
    let snapshot = w.snapshot().await;
    assert_eq!(
        (snapshot.blue.capacity.0, snapshot.blue.capacity.1),
        (0, 0),
        "old shard scaled down"
    );
    assert_eq!(snapshot.green.capacity, (2, 2, 2));

    // The other runner's rule and the listener's default action: byte for byte as before.
    assert_eq!(format!("{:?}", w.rule(&rule_of(&w, 1)).await), rule_b);
    assert_eq!(default_actions(&w).await, listener);
    assert_eq!(w.snapshot_of(1).await.listener, vec![b.blue_tg.clone()]);
}

/// `plan` exits 3 naming `reason`, and the daemon reports it without touching the world.
async fn assert_halts(w: &World, reason: &str) {
    let before = w.snapshot().await;
    let listener = default_actions(w).await;
    let plan = w.switchyard(&["plan"]);
    assert_eq!(plan.status.code(), Some(3), "plan exits 3 on a halt");
    assert!(stdout(&plan).contains(reason), "plan names {reason}");
    let daemon = w.daemon();
    daemon
        .wait_for(reason, Duration::from_secs(30), |r| {
            r.halted.as_ref().is_some_and(|h| h.reason == reason)
        })
        .await;
    daemon.wait_observations(3.0).await;
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(w.snapshot().await, before, "a halted runner was mutated");
    assert_eq!(default_actions(w).await, listener);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_edited_by_hand_to_the_other_shard_halts_traffic_mismatch() {
    let w = world_on_rules("rules-mismatch", 1).await;
    w.forward_to(&w.runner().green_tg.clone()).await;
    w.write_config(&desired("blue"));
    assert_halts(&w, "TrafficMismatch").await;
    let plan = w.switchyard(&["plan"]);
    assert!(
        stdout(&plan).contains(&format!(
            "aws elbv2 modify-rule --rule-arn {}",
            rule_of(&w, 0)
        )) || e2e_support::stderr(&plan).contains(&format!(
            "aws elbv2 modify-rule --rule-arn {}",
            rule_of(&w, 0)
        )),
        "the repair names the rule"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_rule_halts_resource_missing() {
    let w = world_on_rules("rules-deleted", 1).await;
    w.elb()
        .delete_rule()
        .rule_arn(rule_of(&w, 0))
        .send()
        .await
        .expect("delete the rule");
    w.write_config(&desired("green"));
    let before_blue = w.asg_state(&w.runner().blue_asg).await;
    let plan = w.switchyard(&["plan"]);
    assert_eq!(plan.status.code(), Some(3));
    assert!(stdout(&plan).contains("ResourceMissing"));
    assert!(stdout(&plan).contains(&rule_of(&w, 0)), "names the rule");
    let daemon = w.daemon();
    daemon
        .wait_for("ResourceMissing", Duration::from_secs(30), |r| {
            r.halted
                .as_ref()
                .is_some_and(|h| h.reason == "ResourceMissing")
        })
        .await;
    daemon.wait_observations(3.0).await;
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(w.asg_state(&w.runner().blue_asg).await, before_blue);
    assert_eq!(
        w.asg_state(&w.runner().green_asg).await.capacity,
        (0, 0, 0),
        "nothing provisioned behind a missing rule"
    );
}
