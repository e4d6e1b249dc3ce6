//! End to end, all real: the daemon against moto's server, Debian's Prometheus scraping it on
//! loopback with the shipped rules, Debian's Alertmanager receiving their alerts, and a webhook
//! receiver here. A halt fires and reaches the receiver with the runner, the reason, the repair
//! command and the runbook URL; `switchyard repair` resolves it and the receiver gets the
//! resolution. A failed deployment does the same with its alert, resolved by naming the old
//! shard again. Meanwhile every dashboard query returns data from that Prometheus, and
//! `promtool check metrics` passes on the daemon's own `/metrics`.
//!
//! The rules run as shipped but for their `for:` durations, divided by 30: the test scrapes and
//! evaluates every second where production does every 30 s, so an alert waits the same number of
//! evaluations, in seconds instead of minutes. The durations themselves are tested by promtool
//! (deploy/prometheus/switchyard.rules.test.yaml).

mod e2e_support;
mod monitoring;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_support::{Daemon, Desired, World, record_json, world};
use monitoring::{
    Alertmanager, Notification, Prometheus, RULES, RUNBOOK_BASE, Webhook, alerts,
    dashboard_queries, printed, promtool, read, wait_until,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The factor between production's scrape and evaluation interval (30 s) and this test's (1 s).
const TIME_SCALE: u64 = 30;
const ALERT_WAIT: Duration = Duration::from_secs(90);

/// The shipped rules with every `for:` divided by [`TIME_SCALE`], written into `dir`.
fn rules_in_test_time(dir: &Path) -> PathBuf {
    let mut scaled = 0;
    let text: String = read(RULES)
        .lines()
        .map(|line| {
            let indent = &line[..line.len() - line.trim_start().len()];
            match line.trim_start().strip_prefix("for: ") {
                Some(duration) => {
                    scaled += 1;
                    let seconds = humantime::parse_duration(duration)
                        .unwrap_or_else(|e| panic!("for: {duration}: {e}"))
                        .as_secs();
                    format!("{indent}for: {}s\n", seconds / TIME_SCALE)
                }
                None => format!("{line}\n"),
            }
        })
        .collect();
    assert_eq!(
        scaled,
        alerts().iter().filter(|a| a.for_.is_some()).count(),
        "every for: of {RULES} is scaled"
    );
    let path = dir.join("switchyard.rules.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Marks every instance of `asg` unhealthy as soon as it shows up, as a revision that never
/// passes its health checks would look, until `stop` fires.
fn keep_unhealthy(w: &World, asg: String, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let client = w.autoscaling();
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            let groups = client
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(&asg)
                .send()
                .await
                .expect("describe");
            for i in groups.auto_scaling_groups()[0].instances() {
                if i.health_status() == Some("Healthy") {
                    client
                        .set_instance_health()
                        .instance_id(i.instance_id().unwrap())
                        .health_status("Unhealthy")
                        .send()
                        .await
                        .expect("set instance health");
                }
            }
            // Polls a real process, far more often than the grace period: no instance of this
            // shard is ever judged healthy.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// Deletes the world's launch template, so that provisioning any revision of it fails.
fn delete_launch_template(w: &World) {
    let venv = Command::new("bash")
        .arg(e2e_support::repo().join("e2e/moto.sh"))
        .output()
        .expect("run e2e/moto.sh");
    let python = Path::new(String::from_utf8(venv.stdout).unwrap().trim()).join("python");
    let out = Command::new(python)
        .arg(e2e_support::repo().join("e2e/moto_world.py"))
        .args([&w.endpoint, "delete-launch-template", &w.launch_template_id])
        .output()
        .expect("run moto_world.py");
    assert!(out.status.success(), "delete-launch-template failed");
}

/// The first alert the receiver got with this name, runner and status, and when it came.
fn notified(
    webhook: &Webhook,
    alertname: &str,
    runner: &str,
    status: &str,
) -> Option<(Instant, Value)> {
    webhook.received().iter().find_map(|n: &Notification| {
        n.alerts()
            .find(|a| {
                a["labels"]["alertname"] == alertname
                    && a["labels"]["runner"] == runner
                    && a["status"] == status
            })
            .map(|a| (n.at, a.clone()))
    })
}

struct Stack {
    webhook: Webhook,
    alertmanager: Alertmanager,
    prometheus: Prometheus,
    daemon: Daemon,
}

impl Stack {
    /// Everything a failed wait needs to be understood.
    fn context(&self) -> String {
        let alerts = self.prometheus.alerts();
        let received: Vec<Value> = self
            .webhook
            .received()
            .into_iter()
            .map(|n| n.body)
            .collect();
        format!(
            "--- Prometheus alerts\n{alerts:#?}\n--- received\n{received:#?}\n{}\n{}\n--- daemon log\n{}",
            self.prometheus.log(),
            self.alertmanager.log(),
            self.daemon.log()
        )
    }

    async fn wait_for_notification(
        &self,
        alertname: &str,
        runner: &str,
        status: &str,
    ) -> (Instant, Value) {
        wait_until(
            &format!("the receiver to get {alertname} {status} for {runner}"),
            ALERT_WAIT,
            || notified(&self.webhook, alertname, runner, status),
            || self.context(),
        )
        .await
    }

    /// Instant query of one dashboard panel's target, e.g. `panel "Runners" target "A"`.
    fn panel(&self, place: &str) -> Vec<Value> {
        let query = dashboard_queries()
            .into_iter()
            .find(|q| q.place == place)
            .unwrap_or_else(|| panic!("no dashboard query at {place}"));
        self.prometheus.query(&query.expr)
    }
}

/// The single value of an instant vector of one sample.
fn single(result: &[Value]) -> f64 {
    assert_eq!(result.len(), 1, "{result:#?}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

fn desired(active: &'static str, revision: Option<&'static str>) -> Desired {
    Desired { active, revision }
}

#[tokio::test(flavor = "multi_thread")]
async fn halts_and_failed_deployments_reach_a_human_and_resolve() {
    // r0 converged on blue, until green is deployed by hand behind switchyard's back; r1 rolls a
    // revision that never becomes healthy; r2 deploys green and succeeds; r3's launch template
    // is gone, so its deployment halts with ResourceMissing and a reconcile error.
    let mut w = world("alert", 3).await;
    let gone = world("alertlt", 1).await;
    delete_launch_template(&gone);
    w.runners.push(gone.runners[0].clone());
    let names: Vec<String> = w.runners.iter().map(|r| r.name.clone()).collect();
    let (r0, r1, r2, r3) = (&names[0], &names[1], &names[2], &names[3]);
    w.settings.grace = "2s";
    w.settings.progress_deadline = "8s";
    let mut wanted = vec![
        desired("blue", None),
        desired("green", Some("2")),
        desired("green", None),
        desired("green", Some("2")),
    ];
    w.write_config_each(&wanted);
    let stop = CancellationToken::new();
    let poisoner = keep_unhealthy(&w, w.runners[1].green_asg.clone(), stop.clone());

    let dir = tempfile::tempdir().unwrap();
    let webhook = Webhook::start();
    let alertmanager = Alertmanager::start(dir.path(), webhook.port);
    let daemon = w.daemon();
    let prometheus = Prometheus::start(
        dir.path(),
        &rules_in_test_time(dir.path()),
        &format!("127.0.0.1:{}", daemon.port),
        alertmanager.port,
    );
    let stack = Stack {
        webhook,
        alertmanager,
        prometheus,
        daemon,
    };
    wait_until(
        "Prometheus to scrape the daemon",
        Duration::from_secs(30),
        || {
            let up = stack.prometheus.query(r#"up{job="switchyard"}"#);
            (up.len() == 1 && up[0]["value"][1] == "1").then_some(())
        },
        || stack.context(),
    )
    .await;

    // The failed deployment and the missing launch template reach the receiver.
    let (_, failed) = stack
        .wait_for_notification("SwitchyardDeploymentFailed", r1, "firing")
        .await;
    assert_eq!(failed["labels"]["severity"], "warning");
    assert_eq!(
        failed["annotations"]["runbook_url"],
        format!("{RUNBOOK_BASE}#switchyarddeploymentfailed")
    );
    let description = failed["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains(&format!("switchyard retry --runner {r1}")),
        "{description}"
    );
    // The world agrees: the attempt is marked failed and blue still serves.
    let r1_world = w.snapshot_of(1).await;
    let mark = r1_world.green.mark().expect("r1's green carries the mark");
    assert_eq!(mark["state"], "failed");
    assert_eq!(r1_world.listener, vec![w.runners[1].blue_tg.clone()]);
    let (_, missing) = stack
        .wait_for_notification("SwitchyardRunnerHalted", r3, "firing")
        .await;
    assert_eq!(missing["labels"]["reason"], "ResourceMissing");

    // r2's deployment succeeded: the world says so.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let snapshot = w.snapshot_of(2).await;
        let record = record_json(&snapshot);
        if record["active_shard"] == "green"
            && record["deployed_shards"] == serde_json::json!(["green"])
            && (snapshot.blue.capacity.0, snapshot.blue.capacity.1) == (0, 0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{r2} not deployed on green: {snapshot:?}\n{}",
            stack.context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Someone deploys r0's green by hand: InactiveShardHealthyNotDeployed.
    let edited = Instant::now();
    w.set_capacity(&w.runners[0].green_asg, 2).await;
    let halted_series = format!(
        r#"switchyard_runner_halted{{runner="{r0}",reason="InactiveShardHealthyNotDeployed"}} 1"#
    );
    let halted = wait_until(
        "the daemon to export r0's halt",
        Duration::from_secs(30),
        || {
            stack
                .daemon
                .metrics()
                .lines()
                .any(|l| l == halted_series)
                .then(Instant::now)
        },
        || stack.context(),
    )
    .await;
    let (received, halt) = stack
        .wait_for_notification("SwitchyardRunnerHalted", r0, "firing")
        .await;
    assert_eq!(halt["labels"]["reason"], "InactiveShardHealthyNotDeployed");
    assert_eq!(halt["labels"]["severity"], "critical");
    assert_eq!(
        halt["annotations"]["runbook_url"],
        format!("{RUNBOOK_BASE}#switchyardrunnerhalted")
    );
    let description = halt["annotations"]["description"].as_str().unwrap();
    for needle in [
        format!("Runner {r0} is halted: InactiveShardHealthyNotDeployed."),
        format!("switchyard repair mark-deployed --runner {r0} --shard green;"),
    ] {
        assert!(description.contains(&needle), "{needle:?} in {description}");
    }

    // Every dashboard query returns data from this Prometheus, and the fleet panels count what
    // this test made.
    for q in dashboard_queries() {
        assert!(
            !stack.prometheus.query(&q.expr).is_empty(),
            "{} returns no data: {}",
            q.place,
            q.expr
        );
    }
    assert_eq!(single(&stack.panel(r#"panel "Runners" target "A""#)), 4.0);
    assert_eq!(single(&stack.panel(r#"panel "Halted" target "A""#)), 2.0);
    assert_eq!(
        single(&stack.panel(r#"panel "Failed deployments" target "A""#)),
        1.0
    );
    assert_eq!(single(&stack.panel(r#"panel "Leaders" target "A""#)), 1.0);

    // Exactly the alerts this world calls for, and none pending.
    let mut firing: Vec<(String, String, String)> = stack
        .prometheus
        .alerts()
        .iter()
        .map(|a| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&a["labels"]["alertname"]),
                text(&a["labels"]["runner"]),
                text(&a["state"]),
            )
        })
        .collect();
    firing.sort();
    let firing_as =
        |alert: &str, runner: &String| (alert.to_string(), runner.clone(), "firing".to_string());
    assert_eq!(
        firing,
        vec![
            firing_as("SwitchyardDeploymentFailed", r1),
            firing_as("SwitchyardRunnerHalted", r0),
            firing_as("SwitchyardRunnerHalted", r3),
        ],
        "{}",
        stack.context()
    );

    // The runbook's repair: green was meant to be deployed. The world records it, the halt
    // clears, and the receiver hears that it did.
    let repair = w.switchyard(&[
        "repair",
        "mark-deployed",
        "--runner",
        r0,
        "--shard",
        "green",
        "--yes",
    ]);
    assert_eq!(repair.status.code(), Some(0));
    let repaired = Instant::now();
    let record = record_json(&w.snapshot_of(0).await);
    assert_eq!(
        record["deployed_shards"],
        serde_json::json!(["blue", "green"])
    );
    let (resolved, _) = stack
        .wait_for_notification("SwitchyardRunnerHalted", r0, "resolved")
        .await;

    // The failed deployment: the operator names blue again for r1.
    wanted[1] = desired("blue", None);
    w.write_config_each(&wanted);
    let reverted = Instant::now();
    let (failure_resolved, _) = stack
        .wait_for_notification("SwitchyardDeploymentFailed", r1, "resolved")
        .await;
    let r1_world = w.snapshot_of(1).await;
    assert_eq!(r1_world.listener, vec![w.runners[1].blue_tg.clone()]);
    assert_eq!(r1_world.green.capacity.1, 0);

    // Nothing else ever reached a human.
    for n in stack.webhook.received() {
        for a in n.alerts() {
            let name = a["labels"]["alertname"].as_str().unwrap_or_default();
            assert!(
                ["SwitchyardRunnerHalted", "SwitchyardDeploymentFailed"].contains(&name),
                "unexpected notification: {a:#?}"
            );
        }
    }

    // The daemon's own exposition, as curl or promtool reads it, is clean.
    let exposition = stack.daemon.metrics();
    let check = promtool(&["check", "metrics"], &exposition);
    assert!(
        check.status.success() && check.stdout.is_empty() && check.stderr.is_empty(),
        "{}\n--- /metrics\n{exposition}",
        printed(&check)
    );

    eprintln!(
        "alert path, scrape and evaluation every 1 s, for: 2 s, group_wait 1 s:\n  \
         out-of-band edit -> halt exported: {:.1} s\n  \
         halt exported -> receiver: {:.1} s\n  \
         repair written -> resolution at the receiver: {:.1} s\n  \
         desired state reverted -> failure resolved at the receiver: {:.1} s",
        (halted - edited).as_secs_f64(),
        (received - halted).as_secs_f64(),
        (resolved - repaired).as_secs_f64(),
        (failure_resolved - reverted).as_secs_f64(),
    );

    stop.cancel();
    poisoner.await.unwrap();
    let Stack { daemon, .. } = stack;
    assert_eq!(daemon.stop(), Some(0));
}
