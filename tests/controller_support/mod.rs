//! A controller over the simulated cloud on tokio's paused clock: minutes of deployment pass in
//! milliseconds. `Recording` wraps the cloud and keeps every step the cloud accepted, so tests
//! can count side effects across controller restarts.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchyard::clock::{Clock, TokioClock};
use switchyard::cloud::sim::SimCloud;
use switchyard::cloud::{Applied, Cloud, CloudError, Detail};
use switchyard::config::{self, Config};
use switchyard::controller::Controller;
use switchyard::core::{
    self, Actor, Decision, HaltReason, Listener, Phase, RecordWrite, Refusal, RunnerMemory,
    RunnerObservation, RunnerSpec, Step,
};
use switchyard::telemetry::{Health, Metrics, StatusBoard};

pub const LISTENER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/2";
/// A host-header rule of that listener, for runners on a rule (`Scenario::on_rule`).
pub const RULE: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/lb/1/2/3";
pub const PARAMETER: &str = "/switchyard/runner/runner-a/deployment_status";
pub const BLUE_ASG: &str = "runner-a-blue";
pub const GREEN_ASG: &str = "runner-a-green";
pub const BLUE_TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/runner-a-blue/1";
pub const GREEN_TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/runner-a-green/2";
/// blue active, deployed, serving, healthy on revision 1.
pub const BLUE_LIVE: &str =
    r#"{"active_shard":"blue","deployment_ts":"2026-01-01T00:00:00Z","deployed_shards":["blue"]}"#;

/// How the world starts, and what the runner wants.
pub struct Scenario {
    pub desired: &'static str,
    pub revision: &'static str,
    /// The record's raw value; `None`: no parameter.
    pub record: Option<&'static str>,
    pub blue_capacity: u32,
    pub green_capacity: u32,
    pub serving: &'static str,
    pub paused: bool,
    /// Extra lines under `controller:` (indented by four spaces).
    pub controller_extra: &'static str,
    /// Extra lines under `simulated:` (indented by four spaces).
    pub simulated_extra: &'static str,
    /// The runner's traffic goes through `RULE` (`listenerRuleArn`) instead of `LISTENER`.
    pub on_rule: bool,
}

impl Scenario {
    /// blue live on revision 1; the file asks for green on revision 2.
    pub fn blue_to_green() -> Scenario {
        Scenario {
            desired: "green",
            revision: "2",
            record: Some(BLUE_LIVE),
            blue_capacity: 2,
            green_capacity: 0,
            serving: "blue",
            paused: false,
            controller_extra: "",
            simulated_extra: "",
            on_rule: false,
        }
    }

    /// Nothing deployed yet; the file asks for blue.
    pub fn first(record: Option<&'static str>) -> Scenario {
        Scenario {
            desired: "blue",
            revision: "2",
            record,
            blue_capacity: 0,
            green_capacity: 0,
            ..Scenario::blue_to_green()
        }
    }

    pub fn yaml(&self) -> String {
        let record = self
            .record
            .map(|r| format!("        record: '{r}'\n"))
            .unwrap_or_default();
        format!(
            r#"controller:
  cloud: simulated
{controller_extra}  simulated:
    bootTime: 5s
{simulated_extra}    world:
      runner-a:
{record}        serving: {serving}
        shards:
          blue: {{ capacity: {blue}, revision: "1" }}
          green: {{ capacity: {green}, revision: "1" }}
  listen: 127.0.0.1:0
  syncInterval: 30s
  transitionInterval: 2s
defaults:
  capacity: 2
  minHealthyPercent: 100
  healthCheckGracePeriod: 10s
  stabilityDuration: 20s
  postSwitchCheck: 60s
  drainDelay: 10s
  progressDeadline: 5m
runners:
  - name: runner-a
    activeShard: {desired}
    revision: "{revision}"
    paused: {paused}
    {listener}
    shards:
      blue: {{ autoScalingGroup: {BLUE_ASG}, targetGroupArn: {BLUE_TG} }}
      green: {{ autoScalingGroup: {GREEN_ASG}, targetGroupArn: {GREEN_TG} }}
"#,
            listener = if self.on_rule {
                format!("listenerRuleArn: {RULE}")
            } else {
                format!("listenerArn: {LISTENER}")
            },
            controller_extra = self.controller_extra,
            simulated_extra = self.simulated_extra,
            serving = self.serving,
            blue = self.blue_capacity,
            green = self.green_capacity,
            desired = self.desired,
            revision = self.revision,
            paused = self.paused,
        )
    }

    pub fn config(&self) -> Config {
        parse(&self.yaml())
    }
}

pub fn parse(yaml: &str) -> Config {
    config::parse(yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// Something done to the world or the file from inside a cloud call.
pub type Hook = Box<dyn FnOnce() + Send>;

/// When the cloud was asked what: `observe`, or the name of a step it accepted.
pub type Asked = (DateTime<Utc>, &'static str);

/// The simulated cloud, keeping every step it accepted.
#[derive(Clone)]
pub struct Recording {
    pub sim: SimCloud,
    pub applied: Arc<Mutex<Vec<Step>>>,
    /// Run once, inside the next observation: something that lands while a pass is under way.
    pub during_next_observe: Arc<Mutex<Option<Hook>>>,
    /// When the cloud was asked what: `observe`, or the name of a step it accepted.
    pub timeline: Arc<Mutex<Vec<Asked>>>,
}

impl Recording {
    pub fn steps(&self) -> Vec<Step> {
        self.applied.lock().unwrap().clone()
    }

    pub fn count(&self, matches: impl Fn(&Step) -> bool) -> usize {
        self.steps().iter().filter(|s| matches(s)).count()
    }

    pub fn switches(&self) -> usize {
        self.count(|s| matches!(s, Step::SwitchListener { .. }))
    }

    /// When the cloud was asked `what` (`observe`, or a step's name), in order.
    pub fn times_of(&self, what: &str) -> Vec<DateTime<Utc>> {
        self.timeline
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, w)| *w == what)
            .map(|(t, _)| *t)
            .collect()
    }

    pub fn activations(&self) -> usize {
        self.count(|s| {
            matches!(
                s,
                Step::WriteRecord {
                    purpose: RecordWrite::Activate { .. },
                    ..
                }
            )
        })
    }
}

impl Cloud for Recording {
    async fn account_id(&self) -> Result<String, CloudError> {
        self.sim.account_id().await
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        self.timeline
            .lock()
            .unwrap()
            .push((self.sim.now(), "observe"));
        let observed = self.sim.observe(runners, detail).await;
        let hook = self.during_next_observe.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        observed
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        let applied = self.sim.apply(runner, step).await;
        if applied.is_ok() {
            self.applied.lock().unwrap().push(step.clone());
            self.timeline
                .lock()
                .unwrap()
                .push((self.sim.now(), step.name()));
        }
        applied
    }
}

pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub struct Harness {
    pub cloud: Arc<Recording>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub board: StatusBoard,
    pub config: Arc<Config>,
    pub controller: Controller<Recording>,
    /// Every decision of every pass, in order.
    pub seen: Vec<Decision>,
}

impl Harness {
    /// Must run inside `#[tokio::test(start_paused = true)]`.
    pub fn new(config: Config) -> Harness {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(start()));
        let sim = SimCloud::new(
            &config.controller.simulated,
            &config.runners,
            Arc::clone(&clock),
        );
        let cloud = Arc::new(Recording {
            sim,
            applied: Arc::default(),
            during_next_observe: Arc::default(),
            timeline: Arc::default(),
        });
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new("test"));
        let board = StatusBoard::new();
        let controller = controller(&cloud, &clock, &metrics, &board, &config);
        Harness {
            cloud,
            clock,
            metrics,
            board,
            config,
            controller,
            seen: Vec::new(),
        }
    }

    pub fn sim(&self) -> &SimCloud {
        &self.cloud.sim
    }

    /// What `repair` and `retry` do: the operator's step through the guard, then applied. The
    /// guard's verdict is returned; a refused step is not applied.
    pub async fn operator_applies(
        &self,
        spec: &RunnerSpec,
        obs: &RunnerObservation,
        step: &Step,
    ) -> Result<(), Refusal> {
        let now = self.clock.now();
        core::guard(
            step,
            spec,
            obs,
            &RunnerMemory::default(),
            Actor::Operator,
            now,
        )?;
        self.sim()
            .apply(spec, step)
            .await
            .expect("apply the operator's step");
        Ok(())
    }

    /// A crash: the controller and all it remembered are gone; a new one starts on the same world.
    pub fn restart(&mut self) {
        self.controller = controller(
            &self.cloud,
            &self.clock,
            &self.metrics,
            &self.board,
            &self.config,
        );
    }

    pub fn reconfigure(&mut self, config: Config) {
        for spec in &config.runners {
            self.sim().ensure_runner(spec);
        }
        self.config = Arc::new(config);
        self.controller.set_config(Arc::clone(&self.config));
    }

    /// One pass, then the transition interval passes.
    pub async fn tick(&mut self) -> Decision {
        let decisions = self.controller.run_once().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (_, decision) = decisions.into_iter().next().expect("runner-a was observed");
        self.seen.push(decision.clone());
        decision
    }

    /// Passes until `done` holds, at most `limit` of them.
    pub async fn until(&mut self, limit: usize, done: impl Fn(&Decision) -> bool) -> Decision {
        for _ in 0..limit {
            let decision = self.tick().await;
            if done(&decision) {
                return decision;
            }
        }
        panic!(
            "not done after {limit} passes; last decision: {:#?}\nsteps: {:#?}",
            self.seen.last(),
            self.cloud.steps()
        );
    }

    pub async fn converge(&mut self) -> Decision {
        self.until(200, |d| d.phase == Phase::Converged && d.step.is_none())
            .await
    }

    pub async fn halt(&mut self, reason: HaltReason) -> Decision {
        self.until(200, |d| d.halt.as_ref().is_some_and(|h| h.reason == reason))
            .await
    }

    /// Never halted so far.
    pub fn never_halted(&self) {
        if let Some(d) = self.seen.iter().find(|d| d.halt.is_some()) {
            panic!("halted: {:#?}", d.halt);
        }
    }

    pub fn record(&self) -> Option<(String, i64)> {
        self.sim().parameter(PARAMETER)
    }

    pub fn serving(&self) -> Vec<String> {
        self.sim()
            .listener_targets(&Listener::Rule(RULE.into()))
            .or_else(|| {
                self.sim()
                    .listener_targets(&Listener::Default(LISTENER.into()))
            })
            .unwrap_or_default()
    }

    pub fn capacity(&self, asg: &str) -> u32 {
        self.sim().asg(asg).expect("asg exists").desired_capacity
    }

    /// A sample's value in the Prometheus text, by metric name and label values.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = self.metrics.encode();
        text.lines()
            .filter(|l| l.starts_with(&format!("switchyard_{name}")))
            .filter(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .find_map(|l| l.rsplit(' ').next()?.parse().ok())
    }
}

fn controller(
    cloud: &Arc<Recording>,
    clock: &Arc<dyn Clock>,
    metrics: &Arc<Metrics>,
    board: &StatusBoard,
    config: &Arc<Config>,
) -> Controller<Recording> {
    Controller::new(
        Arc::clone(cloud),
        Arc::clone(clock),
        Arc::clone(metrics),
        board.clone(),
        Health::with_clock(config.controller.sync_interval, Arc::clone(clock)),
        Arc::clone(config),
    )
}
