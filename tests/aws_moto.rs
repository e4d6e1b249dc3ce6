//! The AWS adapter against moto's server on loopback: the real SDK over real HTTP.
//!
//! One moto server serves the whole test binary; the tests take turns (a lock) and each starts
//! from `POST /moto-api/reset` and a world built through the real APIs by `e2e/moto_world.py`.
//! `e2e/moto.sh` installs moto into `e2e/.venv` when it is missing, so these tests always run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::Value;
use switchyard::cloud::aws::AwsCloud;
use switchyard::cloud::budget::Priority;
use switchyard::cloud::{Applied, Cloud, CloudError, Detail, RequestObserver};
use switchyard::config::AwsSettings;
use switchyard::core::{
    FailOutcome, Found, Listener, MARK_TAG, Mark, MarkState, RecordObservation, RecordWrite,
    RunnerObservation, RunnerSettings, RunnerSpec, Shard, ShardPair, ShardSpec, StatusRecord, Step,
};

/// moto's default account. The server runs without `MOTO_ACCOUNT_ID` so that moto derives the
/// account from the access key (a role session assumed into another account acts there): that
/// is how the credential-refresh test changes accounts.
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

#[path = "e2e_support/moto.rs"]
mod moto;

use moto::{Moto, repo};

fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| moto::start(None))
}

/// Requests as the adapter reported them.
#[derive(Default)]
struct Recorder(Mutex<Vec<(&'static str, &'static str, &'static str)>>);

impl RequestObserver for Recorder {
    fn request(&self, service: &'static str, op: &'static str, outcome: &'static str, _: Duration) {
        self.0.lock().unwrap().push((service, op, outcome));
    }
}

impl Recorder {
    fn take(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for (_, op, _) in self.take() {
            *counts.entry(op).or_insert(0) += 1;
        }
        counts
    }
}

struct World {
    _turn: tokio::sync::MutexGuard<'static, ()>,
    endpoint: String,
    python: PathBuf,
    launch_template_id: String,
    runners: Vec<RunnerSpec>,
    cloud: AwsCloud,
    recorder: Arc<Recorder>,
}

/// Resets moto and builds `runners` runners: blue active, deployed, serving and at capacity 2;
/// green at 0.
async fn world(runners: usize) -> World {
    build_world(runners, false).await
}

/// As `world`, but the runners share one listener through host-header rules, and the listener's
/// default action forwards to a target group of no runner.
async fn world_on_rules(runners: usize) -> World {
    build_world(runners, true).await
}

async fn build_world(runners: usize, on_rules: bool) -> World {
    // Async-aware so a waiting test yields; it does not poison when a test fails.
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    let moto = moto();
    moto::http("127.0.0.1", moto.port, "POST", "/moto-api/reset").expect("reset moto");
    let out = Command::new(&moto.python)
        .arg(repo().join("e2e/moto_world.py"))
        .args([&moto.endpoint, "sy", &runners.to_string()])
        .args(if on_rules { &["2", "rules"][..] } else { &[] })
        .stderr(Stdio::inherit())
        .output()
        .expect("run moto_world.py");
    assert!(out.status.success(), "moto_world.py failed");
    let world: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runners = world["runners"]
        .as_array()
        .unwrap()
        .iter()
        .map(runner_spec)
        .collect();
    let recorder = Arc::new(Recorder::default());
    let cloud = AwsCloud::connect_with_credentials(
        &settings(&moto.endpoint),
        recorder.clone(),
        "testing",
        "testing",
    )
    .await
    .unwrap();
    World {
        _turn: turn,
        endpoint: moto.endpoint.clone(),
        python: moto.python.clone(),
        launch_template_id: world["launchTemplateId"].as_str().unwrap().to_string(),
        runners,
        cloud,
        recorder,
    }
}

fn settings(endpoint: &str) -> AwsSettings {
    AwsSettings {
        region: REGION.to_string(),
        expected_account_id: ACCOUNT.to_string(),
        endpoint_url: Some(endpoint.to_string()),
        max_requests_per_second: Default::default(),
    }
}

fn runner_spec(runner: &Value) -> RunnerSpec {
    let shard = |s: &str| ShardSpec {
        auto_scaling_group: runner["shards"][s]["autoScalingGroup"]
            .as_str()
            .unwrap()
            .to_string(),
        target_group_arn: runner["shards"][s]["targetGroupArn"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    RunnerSpec {
        name: runner["name"].as_str().unwrap().to_string(),
        active_shard: Shard::Blue,
        revision: None,
        paused: false,
        listener: match runner["listenerRuleArn"].as_str() {
            Some(rule) => Listener::Rule(rule.to_string()),
            None => Listener::Default(runner["listenerArn"].as_str().unwrap().to_string()),
        },
        shards: ShardPair {
            blue: shard("blue"),
            green: shard("green"),
        },
        settings: RunnerSettings::default(),
        status_parameter: runner["statusParameter"].as_str().unwrap().to_string(),
        expected_account_id: Some(ACCOUNT.to_string()),
    }
}

impl World {
    async fn observe(&self, detail: Detail) -> Vec<RunnerObservation> {
        let specs: Vec<&RunnerSpec> = self.runners.iter().collect();
        self.cloud.observe(&specs, detail).await.unwrap()
    }

    async fn observe_one(&self, detail: Detail) -> RunnerObservation {
        self.cloud
            .observe(&[&self.runners[0]], detail)
            .await
            .unwrap()
            .remove(0)
    }

    async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await
    }

    async fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk().await)
    }

    async fn apply(&self, step: Step) -> Result<Applied, CloudError> {
        self.cloud.apply(&self.runners[0], &step).await
    }
}

fn asg(obs: &RunnerObservation, shard: Shard) -> &switchyard::core::AsgObservation {
    obs.asg(shard).expect("asg present")
}

fn mark(state: MarkState) -> Mark {
    Mark {
        id: "d-7".to_string(),
        shard: Shard::Green,
        revision: Some("2".to_string()),
        capacity: Some(2),
        started: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
        state,
    }
}

#[tokio::test]
async fn observe_reads_every_piece_of_the_world() {
    let w = world(1).await;
    assert_eq!(w.cloud.account_id().await.unwrap(), ACCOUNT);
    let obs = w.observe_one(Detail::Full).await;
    let spec = &w.runners[0];

    assert_eq!(obs.runner, spec.name);
    assert_eq!(obs.account_id, ACCOUNT);
    assert_eq!(
        obs.record,
        RecordObservation::Present {
            value: r#"{"active_shard":"blue","deployment_ts":"2026-03-10T19:19:53Z","deployed_shards":["blue"]}"#
                .to_string(),
            version: 1,
        }
    );

    let blue = asg(&obs, Shard::Blue);
    assert_eq!(blue.name, spec.shards.blue.auto_scaling_group);
    assert_eq!(
        (blue.min_size, blue.desired_capacity, blue.max_size),
        (2, 2, 2)
    );
    assert_eq!(blue.launch_template_version.as_deref(), Some("1"));
    assert_eq!(blue.health_check_type, "ELB");
    assert_eq!(
        blue.target_group_arns,
        vec![spec.shards.blue.target_group_arn.clone()]
    );
    assert_eq!(blue.tags.get("team").map(String::as_str), Some("runners"));
    assert_eq!(blue.instances.len(), 2);
    assert!(blue.instances.iter().all(|i| i.in_service() && i.healthy));

    let blue_tg = obs.target_group(Shard::Blue).expect("blue tg");
    let targets = blue_tg.targets.as_ref().expect("full reads target health");
    let mut target_ids: Vec<_> = targets.iter().map(|t| t.id.clone()).collect();
    let mut instance_ids: Vec<_> = blue.instances.iter().map(|i| i.id.clone()).collect();
    target_ids.sort();
    instance_ids.sort();
    assert_eq!(target_ids, instance_ids);
    assert!(targets.iter().all(|t| t.state == "healthy"));
    let check = blue_tg.health_check.expect("health-check settings");
    assert_eq!(
        (check.interval_seconds, check.unhealthy_threshold_count),
        (10, 3)
    );

    let green = asg(&obs, Shard::Green);
    assert_eq!(
        (green.min_size, green.desired_capacity, green.max_size),
        (0, 0, 0)
    );
    assert!(green.instances.is_empty() && !green.has_capacity());
    let green_tg = obs.target_group(Shard::Green).expect("green tg");
    assert_eq!(
        green_tg.targets, None,
        "no capacity: target health not read"
    );
    assert!(green_tg.health_check.is_some());

    assert_eq!(
        obs.listener.present().expect("listener").forward_to,
        vec![spec.shards.blue.target_group_arn.clone()]
    );
    let record = obs.record.parse().unwrap();
    assert_eq!(record.active_shard, Some(Shard::Blue));
    assert_eq!(record.deployed_shards, vec![Shard::Blue]);
}

#[tokio::test]
async fn an_unhealthy_instance_shows_in_the_observation() {
    let w = world(1).await;
    let before = w.observe_one(Detail::Full).await;
    let victim = asg(&before, Shard::Blue).instances[0].id.clone();
    w.autoscaling()
        .await
        .set_instance_health()
        .instance_id(&victim)
        .health_status("Unhealthy")
        .send()
        .await
        .unwrap();
    let after = w.observe_one(Detail::Light).await;
    let instances = &asg(&after, Shard::Blue).instances;
    assert!(!instances.iter().find(|i| i.id == victim).unwrap().healthy);
    assert_eq!(instances.iter().filter(|i| i.healthy).count(), 1);
}

#[tokio::test]
async fn light_observations_batch_and_skip_target_health_of_elb_checked_groups() {
    let w = world(1).await;
    let cold = w.observe_one(Detail::Light).await;
    assert_eq!(
        w.recorder.counts(),
        BTreeMap::from([
            ("GetCallerIdentity", 1),
            ("GetParameters", 1),
            ("DescribeAutoScalingGroups", 1),
            ("DescribeListeners", 1),
            ("DescribeTargetGroups", 1),
        ])
    );
    assert_eq!(cold.target_group(Shard::Blue).unwrap().targets, None);

    let at_rest = w.observe_one(Detail::Light).await;
    let counts = w.recorder.counts();
    eprintln!("1 runner, Light, at rest: {counts:?}");
    assert_eq!(
        counts,
        BTreeMap::from([
            ("GetParameters", 1),
            ("DescribeAutoScalingGroups", 1),
            ("DescribeListeners", 1),
        ])
    );
    assert_eq!(at_rest, cold);

    let full = w.observe_one(Detail::Full).await;
    assert_eq!(
        w.recorder.counts(),
        BTreeMap::from([
            ("GetParameters", 1),
            ("DescribeAutoScalingGroups", 1),
            ("DescribeListeners", 1),
            // green has no capacity: its existence is checked instead of its health
            ("DescribeTargetGroups", 1),
            ("DescribeTargetHealth", 1),
        ])
    );
    assert_eq!(
        full.target_group(Shard::Blue)
            .unwrap()
            .targets
            .as_ref()
            .unwrap()
            .len(),
        2
    );
    assert!(w.recorder.take().is_empty());
}

#[tokio::test]
async fn fifty_runners_at_rest_take_nine_calls() {
    let w = world(50).await;
    let cold = w.observe(Detail::Light).await;
    assert_eq!(cold.len(), 50);
    let cold_counts = w.recorder.counts();
    eprintln!("50 runners, Light, first observation: {cold_counts:?}");
    assert_eq!(
        cold_counts,
        BTreeMap::from([
            ("GetCallerIdentity", 1),
            ("GetParameters", 5),
            ("DescribeAutoScalingGroups", 1),
            ("DescribeListeners", 3),
            ("DescribeTargetGroups", 5),
        ])
    );
    let at_rest = w.observe(Detail::Light).await;
    let counts = w.recorder.counts();
    eprintln!("50 runners, Light, at rest: {counts:?}");
    assert_eq!(
        counts,
        BTreeMap::from([
            ("GetParameters", 5),
            ("DescribeAutoScalingGroups", 1),
            ("DescribeListeners", 3),
        ])
    );
    for (obs, spec) in at_rest.iter().zip(&w.runners) {
        assert_eq!(obs.runner, spec.name);
        assert_eq!(obs.record.version(), Some(1));
        assert_eq!(
            asg(obs, Shard::Blue).name,
            spec.shards.blue.auto_scaling_group
        );
        assert_eq!(asg(obs, Shard::Blue).instances.len(), 2);
        assert_eq!(
            obs.listener.present().unwrap().forward_to,
            vec![spec.shards.blue.target_group_arn.clone()]
        );
        assert!(obs.target_group(Shard::Green).is_some());
    }
}

#[tokio::test]
async fn every_step_changes_the_world_as_a_fresh_observation_shows() {
    let w = world(1).await;
    let spec = w.runners[0].clone();
    let green_tg = spec.shards.green.target_group_arn.clone();
    w.autoscaling()
        .await
        .detach_load_balancer_target_groups()
        .auto_scaling_group_name(&spec.shards.green.auto_scaling_group)
        .target_group_arns(&green_tg)
        .send()
        .await
        .unwrap();
    assert!(
        asg(&w.observe_one(Detail::Full).await, Shard::Green)
            .target_group_arns
            .is_empty()
    );

    let provisioning = mark(MarkState::Provisioning);
    w.apply(Step::WriteMark {
        shard: Shard::Green,
        mark: provisioning.clone(),
    })
    .await
    .unwrap();
    let obs = w.observe_one(Detail::Full).await;
    assert_eq!(
        asg(&obs, Shard::Green).mark(),
        Some(Ok(provisioning.clone()))
    );
    assert_eq!(asg(&obs, Shard::Blue).mark(), None);

    let applied = w
        .apply(Step::ConfigureShard {
            shard: Shard::Green,
            capacity: 2,
            revision: Some("2".to_string()),
        })
        .await
        .unwrap();
    assert_eq!(applied, Applied::Done);
    let obs = w.observe_one(Detail::Full).await;
    let green = asg(&obs, Shard::Green);
    assert_eq!(green.launch_template_version.as_deref(), Some("2"));
    assert_eq!(
        (green.min_size, green.desired_capacity, green.max_size),
        (2, 2, 2)
    );
    assert_eq!(green.instances.len(), 2);
    assert_eq!(
        asg(&obs, Shard::Blue).launch_template_version.as_deref(),
        Some("1")
    );

    w.apply(Step::AttachTargetGroup {
        shard: Shard::Green,
    })
    .await
    .unwrap();
    let obs = w.observe_one(Detail::Full).await;
    assert_eq!(
        asg(&obs, Shard::Green).target_group_arns,
        vec![green_tg.clone()]
    );

    w.apply(Step::SwitchListener { to: Shard::Green })
        .await
        .unwrap();
    let obs = w.observe_one(Detail::Full).await;
    assert_eq!(
        obs.listener.present().unwrap().forward_to,
        vec![green_tg.clone()]
    );

    let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 5, 0).unwrap();
    let record = obs.record.parse().unwrap().with_active(Shard::Green, now);
    let written = w
        .apply(Step::WriteRecord {
            record: record.clone(),
            expected_version: Some(1),
            purpose: RecordWrite::Activate {
                shard: Shard::Green,
                started: provisioning.started,
            },
        })
        .await
        .unwrap();
    let json = r#"{"active_shard":"green","deployment_ts":"2026-11-22T10:05:00Z","deployed_shards":["blue","green"]}"#;
    assert_eq!(record.to_json(), json);
    assert_eq!(
        written,
        Applied::RecordWritten {
            version: 2,
            read_back: Some((json.to_string(), 2)),
        }
    );
    let obs = w.observe_one(Detail::Light).await;
    assert_eq!(
        obs.record,
        RecordObservation::Present {
            value: json.to_string(),
            version: 2
        }
    );

    w.apply(Step::ScaleToZero { shard: Shard::Blue })
        .await
        .unwrap();
    let obs = w.observe_one(Detail::Full).await;
    let blue = asg(&obs, Shard::Blue);
    assert_eq!((blue.min_size, blue.desired_capacity), (0, 0));
    assert_eq!(blue.max_size, 2, "max is left alone");
    assert!(blue.instances.is_empty());

    w.apply(Step::FailDeployment {
        shard: Shard::Green,
        mark: provisioning.clone(),
        outcome: FailOutcome::Failed,
    })
    .await
    .unwrap();
    let obs = w.observe_one(Detail::Light).await;
    assert_eq!(
        asg(&obs, Shard::Green).mark(),
        Some(Ok(mark(MarkState::Failed)))
    );

    w.apply(Step::DeleteMark {
        shard: Shard::Green,
    })
    .await
    .unwrap();
    let obs = w.observe_one(Detail::Light).await;
    let green = asg(&obs, Shard::Green);
    assert!(!green.tags.contains_key(MARK_TAG));
    assert_eq!(green.tags.get("team").map(String::as_str), Some("runners"));

    let mutations: Vec<_> = w
        .recorder
        .take()
        .into_iter()
        .filter(|(_, op, _)| {
            !op.starts_with("Describe") && !matches!(*op, "GetParameters" | "GetCallerIdentity")
        })
        .map(|(service, op, outcome)| format!("{service} {op} {outcome}"))
        .collect();
    assert_eq!(
        mutations,
        [
            "autoscaling CreateOrUpdateTags success",
            "autoscaling UpdateAutoScalingGroup success",
            "autoscaling AttachLoadBalancerTargetGroups success",
            "elbv2 ModifyListener success",
            "ssm PutParameter success",
            "ssm GetParameter success",
            "autoscaling UpdateAutoScalingGroup success",
            "autoscaling CreateOrUpdateTags success",
            "autoscaling DeleteTags success",
        ]
    );
}

/// The same ARN with an id no resource has.
fn unknown_id(arn: &str) -> String {
    let (prefix, id) = arn.rsplit_once('/').unwrap();
    assert_ne!(id, "0000000000000000");
    format!("{prefix}/0000000000000000")
}

#[tokio::test]
async fn resources_deleted_out_of_band_are_missing() {
    let w = world(2).await;
    let spec = w.runners[0].clone();
    let ssm = aws_sdk_ssm::Client::new(&w.sdk().await);
    ssm.delete_parameter()
        .name(&spec.status_parameter)
        .send()
        .await
        .unwrap();
    w.autoscaling()
        .await
        .delete_auto_scaling_group()
        .auto_scaling_group_name(&spec.shards.green.auto_scaling_group)
        .force_delete(true)
        .send()
        .await
        .unwrap();
    // A runner naming a target group and a listener that do not exist, observed in the same
    // batch as a healthy one.
    let mut ghost = w.runners[1].clone();
    ghost.shards.green.target_group_arn = unknown_id(&ghost.shards.green.target_group_arn);
    ghost.listener = Listener::Default(unknown_id(ghost.listener.arn()));

    let observed = w
        .cloud
        .observe(&[&spec, &ghost, &w.runners[1]], Detail::Full)
        .await
        .unwrap();
    assert_eq!(observed[0].record, RecordObservation::Missing);
    assert_eq!(observed[0].shards.green.asg, Found::Missing);
    assert!(observed[0].asg(Shard::Blue).is_some());
    assert_eq!(observed[1].shards.green.target_group, Found::Missing);
    assert_eq!(observed[1].listener, Found::Missing);
    assert!(observed[1].target_group(Shard::Blue).is_some());
    assert!(observed[2].target_group(Shard::Green).is_some());
    assert!(observed[2].listener.present().is_some());
    assert_eq!(observed[2].record.version(), Some(1));

    let err = w
        .apply(Step::ConfigureShard {
            shard: Shard::Green,
            capacity: 2,
            revision: None,
        })
        .await
        .unwrap_err();
    match err {
        CloudError::ResourceMissing { what, .. } => {
            assert!(
                what.contains(&spec.shards.green.auto_scaling_group),
                "{what}"
            )
        }
        other => panic!("expected ResourceMissing, got {other:?}"),
    }
}

#[tokio::test]
async fn a_deleted_launch_template_is_resource_missing() {
    let w = world(1).await;
    w.observe_one(Detail::Full).await;
    let out = Command::new(&w.python)
        .arg(repo().join("e2e/moto_world.py"))
        .args([&w.endpoint, "delete-launch-template", &w.launch_template_id])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = w
        .apply(Step::ConfigureShard {
            shard: Shard::Green,
            capacity: 2,
            revision: Some("2".to_string()),
        })
        .await
        .unwrap_err();
    match &err {
        CloudError::ResourceMissing { what, .. } => {
            assert!(what.starts_with("launch template"), "{what}")
        }
        other => panic!("expected ResourceMissing, got {other:?}"),
    }
    assert_eq!(err.kind(), "resource_missing");
    let obs = w.observe_one(Detail::Light).await;
    assert_eq!(
        asg(&obs, Shard::Green).desired_capacity,
        0,
        "nothing changed"
    );
}

#[tokio::test]
async fn the_first_write_of_a_missing_record_creates_it() {
    let w = world(1).await;
    let spec = &w.runners[0];
    aws_sdk_ssm::Client::new(&w.sdk().await)
        .delete_parameter()
        .name(&spec.status_parameter)
        .send()
        .await
        .unwrap();
    let record = StatusRecord::parse("{}")
        .unwrap()
        .with_deployed(Shard::Blue);
    let written = w
        .apply(Step::WriteRecord {
            record,
            expected_version: None,
            purpose: RecordWrite::Repair { shard: Shard::Blue },
        })
        .await
        .unwrap();
    assert_eq!(
        written,
        Applied::RecordWritten {
            version: 1,
            read_back: Some((r#"{"deployed_shards":["blue"]}"#.to_string(), 1)),
        }
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_transient_and_counted() {
    let port = moto::free_port();
    let recorder = Arc::new(Recorder::default());
    let cloud = AwsCloud::connect_with_credentials(
        &settings(&format!("http://127.0.0.1:{port}")),
        recorder.clone(),
        "testing",
        "testing",
    )
    .await
    .unwrap();
    let err = cloud.account_id().await.unwrap_err();
    assert!(
        matches!(err, CloudError::Transient { service: "sts", .. }),
        "{err:?}"
    );
    assert_eq!(recorder.take(), vec![("sts", "GetCallerIdentity", "error")]);
}

/// A credentials provider whose answer the test changes, as a refreshing role session or a
/// rotated key would change it.
#[derive(Debug, Clone)]
struct Refreshing(Arc<Mutex<aws_sdk_sts::config::Credentials>>);

impl aws_credential_types::provider::ProvideCredentials for Refreshing {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Ok(self
            .0
            .lock()
            .unwrap()
            .clone()))
    }
}

/// Credentials of a role session in `account`: moto answers GetCallerIdentity (and acts) in the
/// account of the role that was assumed.
async fn role_session(w: &World, account: &str) -> aws_sdk_sts::config::Credentials {
    let out = aws_sdk_sts::Client::new(&w.sdk().await)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/switchyard"))
        .role_session_name("switchyard")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    aws_sdk_sts::config::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        Some(expiring_soon()),
        "role-session",
    )
}

/// Close enough to expiry that the adapter asks the provider chain again before every
/// mutation (as it does in the last minutes of a role session), so the test's swap is seen.
fn expiring_soon() -> std::time::SystemTime {
    std::time::SystemTime::now() + Duration::from_secs(330)
}

fn static_keys() -> aws_sdk_sts::config::Credentials {
    aws_sdk_sts::config::Credentials::new(
        "testing",
        "testing",
        None,
        Some(expiring_soon()),
        "static",
    )
}

#[tokio::test]
async fn the_account_is_checked_again_before_a_mutation_after_a_credential_refresh() {
    let w = world(1).await;
    let spec = w.runners[0].clone();
    let chain = Refreshing(Arc::new(Mutex::new(static_keys())));
    let recorder = Arc::new(Recorder::default());
    let cloud = AwsCloud::connect_with_provider(
        &settings(&w.endpoint),
        recorder.clone(),
        aws_credential_types::provider::SharedCredentialsProvider::new(chain.clone()),
    )
    .await
    .unwrap();
    let ops =
        |r: &Recorder| -> Vec<&'static str> { r.take().into_iter().map(|(_, op, _)| op).collect() };
    assert_eq!(cloud.account_id().await.unwrap(), ACCOUNT);
    assert_eq!(ops(&recorder), ["GetCallerIdentity"]);

    // Same credentials: the mutation needs no second STS call.
    let provisioning = mark(MarkState::Provisioning);
    let write_mark = Step::WriteMark {
        shard: Shard::Green,
        mark: provisioning.clone(),
    };
    cloud.apply(&spec, &write_mark).await.unwrap();
    assert_eq!(ops(&recorder), ["CreateOrUpdateTags"]);

    // A refresh to another key in the same account: STS is asked once, the mutation proceeds.
    *chain.0.lock().unwrap() = role_session(&w, ACCOUNT).await;
    cloud
        .apply(
            &spec,
            &Step::DeleteMark {
                shard: Shard::Green,
            },
        )
        .await
        .unwrap();
    assert_eq!(ops(&recorder), ["GetCallerIdentity", "DeleteTags"]);
    cloud.apply(&spec, &write_mark).await.unwrap();
    assert_eq!(
        ops(&recorder),
        ["CreateOrUpdateTags"],
        "verified once per key"
    );

    // A refresh into another account: the mutation is refused before it is sent.
    *chain.0.lock().unwrap() = role_session(&w, "111111111111").await;
    let scale_down = Step::ScaleToZero { shard: Shard::Blue };
    let err = cloud.apply(&spec, &scale_down).await.unwrap_err();
    match &err {
        CloudError::Api { code, message, .. } => {
            assert_eq!(code, switchyard::cloud::aws::WRONG_ACCOUNT);
            assert!(
                message.contains("111111111111") && message.contains(ACCOUNT),
                "{message}"
            );
        }
        other => panic!("expected a wrong-account refusal, got {other:?}"),
    }
    assert!(!err.is_retryable(), "not a transient error to retry");
    assert_eq!(
        ops(&recorder),
        ["GetCallerIdentity"],
        "no UpdateAutoScalingGroup sent"
    );
    // The observation made with the new credentials names the new account, so the
    // controller's guard refuses the step on the fresh observation as well.
    let obs = cloud
        .observe(&[&spec], Detail::Full)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(obs.account_id, "111111111111");
    let refused = switchyard::core::guard(
        &scale_down,
        &spec,
        &obs,
        &switchyard::core::RunnerMemory::default(),
        switchyard::core::Actor::Controller,
        chrono::Utc::now(),
    );
    assert!(refused.is_err(), "the guard refuses in the other account");

    // Nothing changed in the expected account: blue still at 2, the mark still there.
    *chain.0.lock().unwrap() = static_keys();
    let obs = cloud
        .observe(&[&spec], Detail::Light)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(obs.account_id, ACCOUNT);
    assert_eq!(asg(&obs, Shard::Blue).desired_capacity, 2);
    assert_eq!(asg(&obs, Shard::Green).mark(), Some(Ok(provisioning)));
}

/// Runners on rules of one listener: their rules are read in one DescribeRules call, no
/// listener is read, the switch of one rule is one ModifyRule (its actions were remembered from
/// the observation) that leaves its conditions and every other rule as they were, and a rule
/// deleted out of band is missing for its runner alone.
#[tokio::test]
async fn runners_on_rules_share_one_describe_rules_call_and_switch_alone() {
    let w = world_on_rules(3).await;
    let obs = w.observe(Detail::Light).await;
    let counts = w.recorder.counts();
    assert_eq!(counts.get("DescribeRules"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("DescribeListeners"), None, "{counts:?}");
    for (o, spec) in obs.iter().zip(&w.runners) {
        assert!(spec.listener.is_rule());
        assert_eq!(
            o.listener.present().expect("rule").forward_to,
            [spec.shards.blue.target_group_arn.as_str()]
        );
    }

    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&w.sdk().await);
    let describe = |arn: String| {
        let elb = elb.clone();
        async move {
            elb.describe_rules()
                .rule_arns(arn)
                .send()
                .await
                .unwrap()
                .rules()[0]
                .clone()
        }
    };
    let arn = |i: usize| w.runners[i].listener.arn().to_string();
    let before = describe(arn(0)).await;
    let other = format!("{:?}", describe(arn(1)).await);
    w.recorder.take();
    w.apply(Step::SwitchListener { to: Shard::Green })
        .await
        .unwrap();
    assert_eq!(
        w.recorder.take(),
        vec![("elbv2", "ModifyRule", "success")],
        "one ModifyRule, no describe: the rule's actions came with the observation"
    );
    let after = describe(arn(0)).await;
    assert_eq!(
        after
            .actions()
            .iter()
            .filter_map(|a| a.target_group_arn())
            .collect::<Vec<_>>(),
        [w.runners[0].shards.green.target_group_arn.as_str()]
    );
    assert_eq!(
        format!("{:?}", after.conditions()),
        format!("{:?}", before.conditions())
    );
    assert_eq!(format!("{:?}", describe(arn(1)).await), other);

    elb.delete_rule().rule_arn(arn(1)).send().await.unwrap();
    let obs = w.observe(Detail::Light).await;
    assert_eq!(obs[1].listener, Found::Missing);
    assert_eq!(
        obs[0].listener.present().expect("rule").forward_to,
        [w.runners[0].shards.green.target_group_arn.as_str()]
    );
    assert!(obs[2].listener.present().is_some());
}

/// What the adapter reported, in order: requests sent and waits for the API budget.
#[derive(Default)]
struct BudgetLog(Mutex<Vec<String>>);

impl RequestObserver for BudgetLog {
    fn request(&self, _: &'static str, op: &'static str, outcome: &'static str, _: Duration) {
        self.0.lock().unwrap().push(format!("{op} {outcome}"));
    }

    fn budget_waiting(&self, service: &'static str, _: Priority, delta: i64) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{service} waiting {delta:+}"));
    }

    fn budget_waited(&self, service: &'static str, _: Priority, waited: Duration) {
        assert!(waited > Duration::ZERO, "{service} waited no time");
        self.0.lock().unwrap().push(format!("{service} waited"));
    }
}

/// Every request the adapter sends first takes its service's API budget: with one STS request a
/// second, a second GetCallerIdentity right after the first waits, and is sent only after.
#[tokio::test]
async fn a_request_beyond_the_budget_waits_before_it_is_sent() {
    let w = world(1).await;
    let log = Arc::new(BudgetLog::default());
    let mut slow = settings(&w.endpoint);
    slow.max_requests_per_second.sts = 1;
    let cloud = AwsCloud::connect_with_credentials(&slow, log.clone(), "testing", "testing")
        .await
        .unwrap();
    for _ in 0..2 {
        let id = tokio::time::timeout(Duration::from_secs(10), cloud.account_id())
            .await
            .expect("the budget admits a request a second");
        assert_eq!(id.unwrap(), ACCOUNT);
    }
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            "GetCallerIdentity success",
            "sts waiting +1",
            "sts waiting -1",
            "sts waited",
            "GetCallerIdentity success",
        ]
    );
}
