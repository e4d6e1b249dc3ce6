//! The `Cloud` interface over the simulated world: the requests the AWS adapter makes (reads in
//! `observe`), with the same outcomes and errors.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::faults::Fault;
use super::world::World;
use super::{Request, SimCloud};
use crate::cloud::budget::Priority;
use crate::cloud::{Applied, Cloud, CloudError, Detail};
use crate::core::{Found, Listener, MARK_TAG, RunnerObservation, RunnerSpec, Shard, Step};

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
        if let Some(quotas) = &self.quotas
            && !quotas.admit(service, operation)
        {
            self.over_quota += 1;
            record("throttled");
            return Err(CloudError::Throttled {
                service,
                operation,
                message: "ThrottlingException: Rate exceeded".to_owned(),
            });
        }
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

pub(super) fn found<T>(value: Option<T>) -> Found<T> {
    value.map_or(Found::Missing, Found::Present)
}

/// First occurrences, in order: a request names each resource once.
pub(super) fn unique<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    names.filter(|n| seen.insert(*n)).collect()
}

/// The services a step's requests go to, one entry per request.
fn step_services(step: &Step) -> &'static [&'static str] {
    match step {
        Step::WriteRecord { .. } => &["ssm", "ssm"],
        Step::SwitchListener { .. } => &["elbv2"],
        Step::WriteMark { .. }
        | Step::FailDeployment { .. }
        | Step::DeleteMark { .. }
        | Step::ConfigureShard { .. }
        | Step::ScaleToZero { .. }
        | Step::AttachTargetGroup { .. } => &["autoscaling"],
    }
}

impl Cloud for SimCloud {
    async fn account_id(&self) -> Result<String, CloudError> {
        if let Some(budget) = &self.budget {
            budget.admit("sts", Priority::current()).await;
        }
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
        Priority::of(detail)
            .scope(self.observe_world(runners, detail))
            .await
    }

    /// The step's requests wait for their budget first and then land as one event, so that a
    /// step is never seen half done.
    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        if let Some(budget) = &self.budget {
            for service in step_services(step) {
                budget.admit(service, Priority::Step).await;
            }
        }
        self.requests(|w, log, now| w.apply(log, runner, step, now))
    }
}
