//! The `Cloud` interface over the simulated world: the requests the AWS adapter makes, batched
//! the same way (docs/operations.md), with the same outcomes and errors.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::faults::Fault;
use super::world::World;
use super::{Request, SimCloud};
use crate::cloud::{Applied, Cloud, CloudError, Detail};
use crate::core::{
    Found, Listener, ListenerObservation, MARK_TAG, RecordObservation, RunnerObservation,
    RunnerSpec, Shard, ShardObservation, ShardPair, Step, TargetGroupObservation,
};

const SSM_BATCH: usize = 10;
const ASG_BATCH: usize = 100;
const TARGET_GROUP_BATCH: usize = 20;
const LISTENER_BATCH: usize = 20;

/// What a request does besides its own effect.
enum Twist {
    None,
    /// Processed, answer lost.
    LoseResponse,
    /// Someone else writes the parameter: before ours, or after ours and before the read-back.
    Writer(Interloper),
}

/// Another writer of the parameter, relative to our PutParameter.
pub(super) enum Interloper {
    Before(String),
    After(String),
}

impl World {
    /// One request: counts it, applies any armed fault, runs `f` unless the fault prevents it,
    /// and logs the outcome for the observer.
    pub(super) fn request<T>(
        &mut self,
        log: &mut Vec<Request>,
        service: &'static str,
        operation: &'static str,
        f: impl FnOnce(&mut World, Option<Interloper>) -> Result<T, CloudError>,
    ) -> Result<T, CloudError> {
        *self.calls.entry((service, operation)).or_default() += 1;
        let mut record = |outcome| {
            log.push(Request {
                service,
                operation,
                outcome,
            })
        };
        let twist = match self.faults.take(service, operation) {
            None => Twist::None,
            Some(Fault::Throttled) => {
                record("throttled");
                return Err(CloudError::Throttled {
                    service,
                    operation,
                    message: "Rate exceeded".to_owned(),
                });
            }
            Some(Fault::Transient) => {
                record("error");
                return Err(CloudError::Transient {
                    service,
                    operation,
                    message: "InternalFailure: simulated service error (HTTP 500)".to_owned(),
                });
            }
            Some(Fault::Timeout) => {
                record("timeout");
                return Err(CloudError::Timeout { service, operation });
            }
            Some(Fault::LostResponse) => Twist::LoseResponse,
            Some(Fault::ConcurrentWrite { value }) => Twist::Writer(Interloper::Before(value)),
            Some(Fault::WriteAfter { value }) => Twist::Writer(Interloper::After(value)),
        };
        match twist {
            Twist::LoseResponse => {
                // Whatever it did, the caller cannot know: even an error is lost.
                let _ = f(self, None);
                record("timeout");
                Err(CloudError::Timeout { service, operation })
            }
            Twist::None | Twist::Writer(_) => {
                let interloper = match twist {
                    Twist::Writer(who) => Some(who),
                    _ => None,
                };
                let result = f(self, interloper);
                record(if result.is_ok() { "success" } else { "error" });
                result
            }
        }
    }

    fn observe(
        &mut self,
        log: &mut Vec<Request>,
        runners: &[&RunnerSpec],
        detail: Detail,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        if runners.is_empty() {
            return Ok(Vec::new());
        }
        let parameters = unique(runners.iter().map(|r| r.status_parameter.as_str()));
        let mut records = BTreeMap::new();
        for batch in parameters.chunks(SSM_BATCH) {
            self.request(log, "ssm", "GetParameters", |w, _| {
                for &name in batch {
                    // Missing names come back as InvalidParameters, not as an error.
                    if let Some(p) = w.parameters.get(name) {
                        records.insert(name, (p.value.clone(), p.version));
                    }
                }
                Ok(())
            })?;
        }

        let asg_names = unique(
            runners
                .iter()
                .flat_map(|r| Shard::ALL.map(|s| r.shards[s].auto_scaling_group.as_str())),
        );
        let mut asgs = BTreeMap::new();
        for batch in asg_names.chunks(ASG_BATCH) {
            self.request(log, "autoscaling", "DescribeAutoScalingGroups", |w, _| {
                for &name in batch {
                    if let Some(view) = w.view_asg(name, now) {
                        asgs.insert(name, view.observation());
                    }
                }
                Ok(())
            })?;
        }

        let tg_arns = unique(
            runners
                .iter()
                .flat_map(|r| Shard::ALL.map(|s| r.shards[s].target_group_arn.as_str())),
        );
        let mut health_checks = BTreeMap::new();
        let mut read_target_groups = |w: &mut Self, batch: &[&'_ str]| {
            for &arn in batch {
                if let Some(tg) = w.target_groups.get(arn) {
                    health_checks.insert(arn.to_owned(), tg.health_check);
                }
            }
        };
        if detail == Detail::Full {
            for batch in tg_arns.chunks(TARGET_GROUP_BATCH) {
                self.request(log, "elbv2", "DescribeTargetGroups", |w, _| {
                    read_target_groups(w, batch);
                    Ok(())
                })?;
            }
        } else {
            // The AWS adapter caches health-check settings (refreshed every few minutes), so a
            // light observation costs no DescribeTargetGroups call there either.
            read_target_groups(self, &tg_arns);
        }

        let mut listeners = BTreeMap::new();
        let listener_arns = unique(
            runners
                .iter()
                .filter(|r| !r.listener.is_rule())
                .map(|r| r.listener.arn()),
        );
        for batch in listener_arns.chunks(LISTENER_BATCH) {
            self.request(log, "elbv2", "DescribeListeners", |w, _| {
                for &arn in batch {
                    if let Some(forward) = w.listeners.get(arn) {
                        listeners.insert(arn, forward.clone());
                    }
                }
                Ok(())
            })?;
        }
        let mut rules = BTreeMap::new();
        let rule_arns = unique(
            runners
                .iter()
                .filter(|r| r.listener.is_rule())
                .map(|r| r.listener.arn()),
        );
        for batch in rule_arns.chunks(LISTENER_BATCH) {
            self.request(log, "elbv2", "DescribeRules", |w, _| {
                for &arn in batch {
                    if let Some(forward) = w.rules.get(arn) {
                        rules.insert(arn, forward.clone());
                    }
                }
                Ok(())
            })?;
        }

        // ELB health checks already fold target health into instance health, so at rest it is
        // read only where the ASG cannot tell (docs/operations.md).
        let health_reads = unique(runners.iter().flat_map(|r| {
            Shard::ALL.into_iter().filter_map(|s| {
                let arn = r.shards[s].target_group_arn.as_str();
                let asg = asgs.get(r.shards[s].auto_scaling_group.as_str())?;
                let wanted = asg.has_capacity()
                    && (detail == Detail::Full || asg.health_check_type != "ELB");
                (wanted && health_checks.contains_key(arn)).then_some(arn)
            })
        }));
        let mut targets = BTreeMap::new();
        for arn in health_reads {
            self.request(log, "elbv2", "DescribeTargetHealth", |w, _| {
                if let Some(health) = w.target_health(arn, now) {
                    targets.insert(arn, health);
                }
                Ok(())
            })?;
        }

        Ok(runners
            .iter()
            .map(|r| RunnerObservation {
                runner: r.name.clone(),
                account_id: self.account_id.clone(),
                record: match records.get(r.status_parameter.as_str()) {
                    None => RecordObservation::Missing,
                    Some((value, version)) => RecordObservation::Present {
                        value: value.clone(),
                        version: *version,
                    },
                },
                shards: ShardPair::from_fn(|s| {
                    let names = &r.shards[s];
                    let arn = names.target_group_arn.as_str();
                    ShardObservation {
                        asg: found(asgs.get(names.auto_scaling_group.as_str()).cloned()),
                        target_group: found(health_checks.get(arn).map(|h| {
                            TargetGroupObservation {
                                arn: arn.to_owned(),
                                targets: targets.get(arn).cloned(),
                                health_check: Some(*h),
                            }
                        })),
                    }
                }),
                listener: found(
                    match &r.listener {
                        Listener::Default(arn) => listeners.get(arn.as_str()),
                        Listener::Rule(arn) => rules.get(arn.as_str()),
                    }
                    .map(|forward| ListenerObservation {
                        arn: r.listener.arn().to_owned(),
                        forward_to: forward.clone(),
                    }),
                ),
            })
            .collect())
    }

    fn apply(
        &mut self,
        log: &mut Vec<Request>,
        spec: &RunnerSpec,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Applied, CloudError> {
        let asg_of = |shard: Shard| spec.shards[shard].auto_scaling_group.as_str();
        match step {
            Step::WriteMark { shard, mark } => {
                let value = mark.to_tag_value();
                self.request(log, "autoscaling", "CreateOrUpdateTags", |w, _| {
                    let value = value.map_err(|e| validation("CreateOrUpdateTags", e.0))?;
                    w.asg_mut(asg_of(*shard))?
                        .tags
                        .insert(MARK_TAG.to_owned(), value);
                    Ok(Applied::Done)
                })
            }
            Step::FailDeployment { shard, mark, .. } => {
                let value = mark.failed().to_tag_value();
                self.request(log, "autoscaling", "CreateOrUpdateTags", |w, _| {
                    let value = value.map_err(|e| validation("CreateOrUpdateTags", e.0))?;
                    w.asg_mut(asg_of(*shard))?
                        .tags
                        .insert(MARK_TAG.to_owned(), value);
                    Ok(Applied::Done)
                })
            }
            Step::DeleteMark { shard } => {
                self.request(log, "autoscaling", "DeleteTags", |w, _| {
                    w.asg_mut(asg_of(*shard))?.tags.remove(MARK_TAG);
                    Ok(Applied::Done)
                })
            }
            Step::ConfigureShard {
                shard,
                capacity,
                revision,
            } => self.request(log, "autoscaling", "UpdateAutoScalingGroup", |w, _| {
                let name = asg_of(*shard);
                w.asg_mut(name)?;
                // Checked before anything changes: AWS rejects the whole update.
                if let Some(r) = revision
                    && !w.revision_exists(r)
                {
                    return Err(CloudError::ResourceMissing {
                        what: format!("launch template version {r} (Auto Scaling group {name})"),
                        message: format!(
                            "ValidationError: The specified launch template version {r} does not exist"
                        ),
                    });
                }
                let asg = w.asg_mut(name)?;
                if let Some(r) = revision {
                    asg.launch_template_version = Some(r.clone());
                }
                asg.min_size = *capacity;
                asg.desired_capacity = *capacity;
                asg.max_size = *capacity;
                w.scale(name, now);
                Ok(Applied::Done)
            }),
            Step::ScaleToZero { shard } => {
                self.request(log, "autoscaling", "UpdateAutoScalingGroup", |w, _| {
                    let name = asg_of(*shard);
                    let asg = w.asg_mut(name)?;
                    asg.min_size = 0;
                    asg.desired_capacity = 0;
                    w.scale(name, now);
                    Ok(Applied::Done)
                })
            }
            Step::AttachTargetGroup { shard } => self.request(
                log,
                "autoscaling",
                "AttachLoadBalancerTargetGroups",
                |w, _| {
                    let arn = &spec.shards[*shard].target_group_arn;
                    w.require_target_group(arn)?;
                    let asg = w.asg_mut(asg_of(*shard))?;
                    if !asg.target_group_arns.contains(arn) {
                        asg.target_group_arns.push(arn.clone());
                    }
                    Ok(Applied::Done)
                },
            ),
            Step::SwitchListener { to } => {
                let (operation, not_found) = match &spec.listener {
                    Listener::Default(_) => (
                        "ModifyListener",
                        "ListenerNotFound: One or more listeners not found",
                    ),
                    Listener::Rule(_) => ("ModifyRule", "RuleNotFound: One or more rules not found"),
                };
                self.request(log, "elbv2", operation, |w, _| {
                    let arn = &spec.shards[*to].target_group_arn;
                    let routes = match &spec.listener {
                        Listener::Default(_) => &w.listeners,
                        Listener::Rule(_) => &w.rules,
                    };
                    if !routes.contains_key(spec.listener.arn()) {
                        return Err(CloudError::ResourceMissing {
                            what: spec.listener.describe(),
                            message: not_found.into(),
                        });
                    }
                    w.require_target_group(arn)?;
                    let routes = match &spec.listener {
                        Listener::Default(_) => &mut w.listeners,
                        Listener::Rule(_) => &mut w.rules,
                    };
                    routes.insert(spec.listener.arn().to_owned(), vec![arn.clone()]);
                    Ok(Applied::Done)
                })
            }
            Step::WriteRecord { record, .. } => {
                let name = spec.status_parameter.as_str();
                let value = record.to_json();
                let version = self.request(log, "ssm", "PutParameter", |w, interloper| {
                    if let Some(Interloper::Before(theirs)) = &interloper {
                        w.put_parameter(name, theirs.clone());
                    }
                    let ours = w.put_parameter(name, value);
                    if let Some(Interloper::After(theirs)) = interloper {
                        w.put_parameter(name, theirs);
                    }
                    Ok(ours)
                })?;
                // The write went through whatever the read does: a failed read-back must not
                // look like a failed (retryable) write.
                let read_back = self
                    .request(log, "ssm", "GetParameter", |w, _| {
                        w.parameters
                            .get(name)
                            .map(|p| (p.value.clone(), p.version))
                            .ok_or_else(|| CloudError::Api {
                                service: "ssm",
                                operation: "GetParameter",
                                code: "ParameterNotFound".into(),
                                message: format!("parameter {name} not found"),
                            })
                    })
                    .ok();
                Ok(Applied::RecordWritten { version, read_back })
            }
        }
    }

    fn asg_mut(&mut self, name: &str) -> Result<&mut super::world::Asg, CloudError> {
        self.asgs
            .get_mut(name)
            .ok_or_else(|| CloudError::ResourceMissing {
                what: format!("Auto Scaling group {name}"),
                message: format!("ValidationError: AutoScalingGroup name not found - {name}"),
            })
    }

    fn require_target_group(&self, arn: &str) -> Result<(), CloudError> {
        if self.target_groups.contains_key(arn) {
            Ok(())
        } else {
            Err(CloudError::ResourceMissing {
                what: format!("target group {arn}"),
                message: "TargetGroupNotFound: One or more target groups not found".into(),
            })
        }
    }
}

fn validation(operation: &'static str, message: String) -> CloudError {
    CloudError::Api {
        service: "autoscaling",
        operation,
        code: "ValidationError".into(),
        message,
    }
}

fn found<T>(value: Option<T>) -> Found<T> {
    value.map_or(Found::Missing, Found::Present)
}

/// First occurrences, in order: a request names each resource once.
fn unique<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    names.filter(|n| seen.insert(*n)).collect()
}

impl Cloud for SimCloud {
    async fn account_id(&self) -> Result<String, CloudError> {
        self.requests(|w, log, _| {
            w.request(log, "sts", "GetCallerIdentity", |w, _| {
                Ok(w.account_id.clone())
            })
        })
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        self.requests(|w, log, now| w.observe(log, runners, detail, now))
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        self.requests(|w, log, now| w.apply(log, runner, step, now))
    }
}
