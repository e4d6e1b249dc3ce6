//! The end-to-end harness: moto's server on a free loopback port (one per test binary), worlds
//! built through the real AWS APIs by `e2e/moto_world.py`, the real `switchyard` binary run
//! against them with a desired-state file written per test, and the world read back with the
//! Rust SDK.
//!
//! Tests share one moto server and run in parallel: each builds its own world under its own
//! name prefix (its own VPC, ALB, target groups, ASGs and parameters), so no test sees another's
//! resources and none needs a reset.

#![allow(dead_code)] // each e2e binary uses its own part of the harness

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard::telemetry::{RunnerStatus, StatusDocument, fetch_status};

/// The account moto acts in (`MOTO_ACCOUNT_ID`) and the file expects.
pub const ACCOUNT: &str = "210987654321";
pub const REGION: &str = "us-east-1";
pub const MARK_TAG: &str = "switchyard/deployment";

mod gate;
mod moto;
pub mod proxy;
mod recorder;

#[allow(unused_imports)] // only some e2e binaries hold requests back
pub use gate::Gate;
use moto::Moto;
pub use moto::{http, repo};
#[allow(unused_imports)] // only the replica tests record requests
pub use recorder::{Recorder, Seen};

fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| moto::start(Some(ACCOUNT)))
}

/// moto's port on loopback (starting moto if this binary has not yet).
pub fn moto_port() -> u16 {
    moto().port
}

/// One runner of a world, as `moto_world.py` built it.
#[derive(Debug, Clone)]
pub struct Runner {
    pub name: String,
    /// The listener whose default action carries the runner's traffic, or, for a runner on a
    /// rule, the shared listener the rule belongs to.
    pub listener_arn: String,
    /// A runner on a listener rule (`world_on_rules`): the rule.
    pub listener_rule_arn: Option<String>,
    pub parameter: String,
    pub blue_asg: String,
    pub green_asg: String,
    pub blue_tg: String,
    pub green_tg: String,
}

impl Runner {
    pub fn asg(&self, shard: &str) -> &str {
        if shard == "blue" {
            &self.blue_asg
        } else {
            &self.green_asg
        }
    }

    pub fn tg(&self, shard: &str) -> &str {
        if shard == "blue" {
            &self.blue_tg
        } else {
            &self.green_tg
        }
    }
}

/// The settings of a test's desired-state file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub expected_account: String,
    pub sync_interval: &'static str,
    pub transition_interval: &'static str,
    pub grace: &'static str,
    pub stability: &'static str,
    pub post_switch: &'static str,
    pub drain: &'static str,
    pub progress_deadline: &'static str,
    pub capacity: u32,
    /// More keys of `controller:`, each line indented by two spaces (e.g. leaderElection).
    pub controller_extra: String,
}

impl Default for Settings {
    /// Short enough for a deployment to take seconds, long enough that the stability window
    /// spans several observations.
    fn default() -> Settings {
        Settings {
            expected_account: ACCOUNT.to_string(),
            sync_interval: "1s",
            transition_interval: "300ms",
            grace: "1s",
            stability: "2s",
            post_switch: "1s",
            drain: "1s",
            progress_deadline: "60s",
            capacity: 2,
            controller_extra: String::new(),
        }
    }
}

/// What a runner of the file says.
#[derive(Debug, Clone)]
pub struct Desired {
    pub active: &'static str,
    pub revision: Option<&'static str>,
}

pub struct World {
    pub endpoint: String,
    pub runners: Vec<Runner>,
    pub launch_template_id: String,
    /// `world_on_rules`: the target group the shared listener's default action forwards to.
    pub default_target_group: Option<String>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub settings: Settings,
    sdk: aws_config::SdkConfig,
}

/// Builds `runners` runners named `<prefix>-r<i>`: blue active, deployed, serving, at capacity
/// 2 and launch template version 1; green at 0; the status record naming blue.
pub async fn world(prefix: &str, runners: usize) -> World {
    build_world(prefix, runners, false).await
}

/// As `world`, but the runners share one listener through host-header rules (each rule forwards
/// to its runner's blue), and the listener's default action forwards to a target group of no
/// runner (`World::default_target_group`).
pub async fn world_on_rules(prefix: &str, runners: usize) -> World {
    build_world(prefix, runners, true).await
}

async fn build_world(prefix: &str, runners: usize, on_rules: bool) -> World {
    let moto = moto();
    let mut args = vec![
        moto.endpoint.clone(),
        prefix.to_string(),
        runners.to_string(),
    ];
    if on_rules {
        args.extend(["2".to_string(), "rules".to_string()]);
    }
    let out = Command::new(&moto.python)
        .arg(repo().join("e2e/moto_world.py"))
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run moto_world.py");
    assert!(out.status.success(), "moto_world.py failed");
    let built: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_string();
    let runners = built["runners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Runner {
            name: text(&r["name"]),
            listener_arn: r["listenerArn"]
                .as_str()
                .map_or_else(|| text(&built["listenerArn"]), str::to_string),
            listener_rule_arn: r["listenerRuleArn"].as_str().map(str::to_string),
            parameter: text(&r["statusParameter"]),
            blue_asg: text(&r["shards"]["blue"]["autoScalingGroup"]),
            green_asg: text(&r["shards"]["green"]["autoScalingGroup"]),
            blue_tg: text(&r["shards"]["blue"]["targetGroupArn"]),
            green_tg: text(&r["shards"]["green"]["targetGroupArn"]),
        })
        .collect();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "testing", "testing", None, None, "e2e",
        ))
        .load()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.yaml");
    World {
        endpoint: moto.endpoint.clone(),
        runners,
        launch_template_id: text(&built["launchTemplateId"]),
        default_target_group: built["defaultTargetGroupArn"].as_str().map(str::to_string),
        dir,
        config,
        settings: Settings::default(),
        sdk,
    }
}

/// The world of one runner as the tests compare it: everything switchyard could mutate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Value and version; `None` when the parameter does not exist.
    pub record: Option<(String, i64)>,
    pub listener: Vec<String>,
    pub blue: AsgState,
    pub green: AsgState,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsgState {
    pub exists: bool,
    /// min, desired, max
    pub capacity: (i32, i32, i32),
    pub template_version: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub target_groups: Vec<String>,
    /// Instance id and ASG health status, sorted by id.
    pub instances: Vec<(String, String)>,
}

impl AsgState {
    pub fn mark(&self) -> Option<Value> {
        self.tags
            .get(MARK_TAG)
            .map(|v| serde_json::from_str(v).expect("the mark is JSON"))
    }
}

impl World {
    pub fn runner(&self) -> &Runner {
        &self.runners[0]
    }

    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk)
    }

    pub fn elb(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk)
    }

    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.sdk)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// Writes the desired-state file: every runner of the world with the same desired state.
    pub fn write_config(&self, desired: &Desired) {
        let desired: Vec<Desired> = self.runners.iter().map(|_| desired.clone()).collect();
        self.write_config_each(&desired);
    }

    pub fn write_config_each(&self, desired: &[Desired]) {
        self.write_file(desired, false);
    }

    /// Writes the desired-state file with every runner `paused: true`.
    pub fn write_config_paused(&self, desired: &Desired) {
        let desired: Vec<Desired> = self.runners.iter().map(|_| desired.clone()).collect();
        self.write_file(&desired, true);
    }

    fn write_file(&self, desired: &[Desired], paused: bool) {
        let s = &self.settings;
        let mut yaml = format!(
            "controller:
  cloud: aws
  aws:
    region: {REGION}
    expectedAccountId: \"{}\"
    endpointUrl: {}
  listen: 127.0.0.1:0
  syncInterval: {}
  transitionInterval: {}
{}defaults:
  capacity: {}
  minHealthyPercent: 100
  healthCheckGracePeriod: {}
  stabilityDuration: {}
  postSwitchCheck: {}
  drainDelay: {}
  progressDeadline: {}
runners:
",
            s.expected_account,
            self.endpoint,
            s.sync_interval,
            s.transition_interval,
            s.controller_extra,
            s.capacity,
            s.grace,
            s.stability,
            s.post_switch,
            s.drain,
            s.progress_deadline,
        );
        for (r, d) in self.runners.iter().zip(desired) {
            yaml.push_str(&format!(
                "  - name: {}
    activeShard: {}
    {}
    statusParameter: {}
    shards:
      blue: {{ autoScalingGroup: {}, targetGroupArn: {} }}
      green: {{ autoScalingGroup: {}, targetGroupArn: {} }}
",
                r.name,
                d.active,
                match &r.listener_rule_arn {
                    Some(rule) => format!("listenerRuleArn: {rule}"),
                    None => format!("listenerArn: {}", r.listener_arn),
                },
                r.parameter,
                r.blue_asg,
                r.blue_tg,
                r.green_asg,
                r.green_tg
            ));
            if let Some(revision) = d.revision {
                yaml.push_str(&format!("    revision: \"{revision}\"\n"));
            }
            if paused {
                yaml.push_str("    paused: true\n");
            }
        }
        // Written to a temporary name and renamed, as editors and Kubernetes do, so the
        // daemon's watcher never reads half a file.
        let tmp = self.dir.path().join(".switchyard.yaml.tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    /// Runs the real binary to completion with the fake credentials in the environment.
    pub fn switchyard(&self, args: &[&str]) -> Output {
        let out = command(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run switchyard");
        eprintln!(
            "switchyard {args:?} -> {:?}\n--- stdout\n{}--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts the real binary with piped stdin and stdout, for interactive commands.
    pub fn command(&self, args: &[&str]) -> Child {
        command(&self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchyard")
    }

    /// `repair mark-deployed --runner <first runner> --shard <shard>` without `--yes`, stopped
    /// at its question: it has shown the record it would write and waits for the operator.
    pub fn repair_awaiting_confirmation(&self, shard: &str) -> AwaitingConfirmation {
        let mut child = self.command(&[
            "repair",
            "mark-deployed",
            "--runner",
            &self.runner().name,
            "--shard",
            shard,
        ]);
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        // The record as repair read it comes last, then the prompt (which waits on stdin).
        let shown = stdout
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.starts_with("after:"))
            .expect("repair shows the record it would write");
        AwaitingConfirmation {
            child,
            stdout,
            shown,
        }
    }

    pub fn daemon(&self) -> Daemon {
        Daemon::start(&self.config, &[])
    }

    /// `switchyard run` with more environment (another access key, a replica id, a shorter
    /// attempt timeout).
    pub fn daemon_with(&self, env: &[(&str, &str)]) -> Daemon {
        Daemon::start(&self.config, env)
    }

    pub async fn snapshot(&self) -> Snapshot {
        self.snapshot_of(0).await
    }

    pub async fn snapshot_of(&self, i: usize) -> Snapshot {
        let r = &self.runners[i];
        let record = match self.ssm().get_parameter().name(&r.parameter).send().await {
            Ok(out) => out
                .parameter()
                .map(|p| (p.value().unwrap_or_default().to_string(), p.version())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                None
            }
            Err(e) => panic!("GetParameter: {e:?}"),
        };
        let actions = match &r.listener_rule_arn {
            Some(rule) => self.rule(rule).await.actions().to_vec(),
            None => self
                .elb()
                .describe_listeners()
                .listener_arns(&r.listener_arn)
                .send()
                .await
                .expect("describe listener")
                .listeners()[0]
                .default_actions()
                .to_vec(),
        };
        let listener = actions
            .iter()
            .filter_map(|a| a.target_group_arn().map(str::to_string))
            .collect();
        Snapshot {
            record,
            listener,
            blue: self.asg_state(&r.blue_asg).await,
            green: self.asg_state(&r.green_asg).await,
        }
    }

    /// One listener rule as DescribeRules shows it.
    pub async fn rule(&self, arn: &str) -> aws_sdk_elasticloadbalancingv2::types::Rule {
        self.elb()
            .describe_rules()
            .rule_arns(arn)
            .send()
            .await
            .expect("describe rule")
            .rules()[0]
            .clone()
    }

    pub async fn asg_state(&self, name: &str) -> AsgState {
        let out = self
            .autoscaling()
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .expect("describe auto scaling groups");
        let Some(group) = out.auto_scaling_groups().first() else {
            return AsgState::default();
        };
        let mut instances: Vec<(String, String)> = group
            .instances()
            .iter()
            .map(|i| {
                (
                    i.instance_id().unwrap_or_default().to_string(),
                    i.health_status().unwrap_or_default().to_string(),
                )
            })
            .collect();
        instances.sort();
        AsgState {
            exists: true,
            capacity: (
                group.min_size().unwrap_or_default(),
                group.desired_capacity().unwrap_or_default(),
                group.max_size().unwrap_or_default(),
            ),
            template_version: group
                .launch_template()
                .and_then(|t| t.version())
                .map(str::to_string),
            tags: group
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            target_groups: group.target_group_arns().to_vec(),
            instances,
        }
    }

    /// Marks instances `Unhealthy` in their ASG, as a failing health check would.
    pub async fn set_unhealthy(&self, instances: &[String]) {
        for id in instances {
            self.autoscaling()
                .set_instance_health()
                .instance_id(id)
                .health_status("Unhealthy")
                .send()
                .await
                .expect("set instance health");
        }
    }

    pub async fn put_record(&self, value: &str) {
        self.ssm()
            .put_parameter()
            .name(&self.runner().parameter)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .expect("put parameter");
    }

    pub async fn set_capacity(&self, asg: &str, size: i32) {
        self.autoscaling()
            .update_auto_scaling_group()
            .auto_scaling_group_name(asg)
            .min_size(size)
            .max_size(size)
            .desired_capacity(size)
            .send()
            .await
            .expect("update auto scaling group");
    }

    /// Creates or overwrites one tag on an ASG, as an operator (or an older switchyard) would.
    pub async fn put_tag(&self, asg: &str, key: &str, value: &str) {
        self.autoscaling()
            .create_or_update_tags()
            .tags(
                aws_sdk_autoscaling::types::Tag::builder()
                    .resource_id(asg)
                    .resource_type("auto-scaling-group")
                    .key(key)
                    .value(value)
                    .propagate_at_launch(false)
                    .build(),
            )
            .send()
            .await
            .expect("create or update tags");
    }

    pub async fn forward_to(&self, tg: &str) {
        let forward = aws_sdk_elasticloadbalancingv2::types::Action::builder()
            .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
            .target_group_arn(tg)
            .build();
        if let Some(rule) = &self.runner().listener_rule_arn {
            self.elb()
                .modify_rule()
                .rule_arn(rule)
                .actions(forward.clone())
                .send()
                .await
                .expect("modify rule");
            return;
        }
        self.elb()
            .modify_listener()
            .listener_arn(&self.runner().listener_arn)
            .default_actions(forward)
            .send()
            .await
            .expect("modify listener");
    }
}

fn command(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["--log-format", "json", "--config"])
        .arg(config)
        // The default provider chain takes these first; the rest of the chain is pointed
        // nowhere so that no real profile or instance role is ever picked up.
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "info");
    cmd
}

/// An interactive `repair` waiting for its confirmation. Its stdout stays open until the
/// answer, so that nothing it prints afterwards meets a closed pipe.
pub struct AwaitingConfirmation {
    child: Child,
    stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
    /// The `after:` line: the record repair would write.
    pub shown: String,
}

impl AwaitingConfirmation {
    /// Types `answer` and a newline; the exit and what was printed after the question.
    pub fn answer(mut self, answer: &str) -> Output {
        use std::io::Write;
        writeln!(self.child.stdin.take().unwrap(), "{answer}").unwrap();
        let rest: Vec<String> = self.stdout.map_while(Result::ok).collect();
        let mut out = self.child.wait_with_output().unwrap();
        out.stdout = rest.join("\n").into_bytes();
        out
    }
}

/// `switchyard run` in the background; SIGTERM when dropped.
pub struct Daemon {
    child: Child,
    pub base: String,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut child = command(config)
            .envs(env.iter().copied())
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchyard run");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = Arc::clone(&log);
            // Keeps reading so that the daemon never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(event) = serde_json::from_str::<Value>(&line)
                        && event["message"] == "listening"
                        && let Some(address) = event["address"].as_str()
                    {
                        let _ = tx.send(address.to_string());
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let address = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the daemon did not start listening:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let port = address.rsplit(':').next().unwrap().parse().unwrap();
        Daemon {
            child,
            base: format!("http://{address}"),
            port,
            log,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub async fn status(&self) -> StatusDocument {
        fetch_status(&self.base).await.expect("GET /api/v1/status")
    }

    /// Polls `/api/v1/status` until `done` holds for the first runner, or fails at `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&RunnerStatus) -> bool,
    ) -> RunnerStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let doc = self.status().await;
            if let Some(r) = doc.runners.first()
                && done(r)
            {
                return r.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last status: {:#?}\n--- daemon log\n{}",
                doc.runners.first(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn metrics(&self) -> String {
        http("127.0.0.1", self.port, "GET", "/metrics").expect("GET /metrics")
    }

    /// `switchyard_cloud_requests_total` per operation (all outcomes summed).
    /// Waits until the daemon has made `n` more observations (DescribeAutoScalingGroups calls).
    pub async fn wait_observations(&self, n: f64) {
        let count = |d: &Daemon| {
            d.requests()
                .get("DescribeAutoScalingGroups")
                .copied()
                .unwrap_or(0.0)
        };
        let target = count(self) + n;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while count(self) < target {
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon stopped observing"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn requests(&self) -> BTreeMap<String, f64> {
        requests(&self.metrics())
    }

    /// SIGKILL, as a crash or an OOM kill: the daemon gets no chance to finish anything.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the daemon");
        self.child.wait().expect("reap the daemon");
    }

    /// The sum of a metric's samples whose name and labels start with `prefix`, e.g.
    /// `switchyard_config_reloads_total{outcome="success"`.
    pub fn metric(&self, prefix: &str) -> f64 {
        self.metrics()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    }

    /// SIGTERM, then the exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.terminate()
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`) without waiting.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{name} failed");
    }

    /// Waits (bounded) for the process to exit on its own; its exit code.
    pub fn wait_exit(mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the daemon did not exit within {timeout:?}:\n{}",
            self.log()
        );
    }

    fn terminate(&mut self) -> Option<i32> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.code();
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Marks every instance of `asg` unhealthy as soon as it shows up, as a revision that never
/// passes its health checks would look; stops when `stop` fires.
pub fn keep_unhealthy(
    w: &World,
    asg: String,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
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
            // Polls a real process; far shorter than the grace period, so no instance is
            // ever judged healthy.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

pub fn requests(metrics: &str) -> BTreeMap<String, f64> {
    let mut counts = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("switchyard_cloud_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Some(op) = labels
            .split(',')
            .find_map(|l| l.strip_prefix("operation=\""))
            .map(|o| o.trim_end_matches('"'))
        else {
            continue;
        };
        *counts.entry(op.to_string()).or_insert(0.0) += value.trim().parse::<f64>().unwrap();
    }
    counts
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The record's JSON object.
pub fn record_json(snapshot: &Snapshot) -> Value {
    serde_json::from_str(&snapshot.record.as_ref().expect("record present").0).unwrap()
}
