//! Observing the simulated world: the requests the AWS adapter makes, batched the same way
//! (docs/operations.md). Each request is an event of its own, so that with an API budget a sweep
//! of thousands of runners takes the time its requests wait, as against AWS; the services are
//! read side by side, as the adapter does. Without a budget nothing waits, and the whole
//! observation happens at one instant.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::SimCloud;
use super::api::{found, unique};
use super::world::World;
use crate::cloud::budget::Priority;
use crate::cloud::{CloudError, Detail};
use crate::core::{
    Listener, ListenerObservation, RecordObservation, RunnerObservation, RunnerSpec, Shard,
    ShardObservation, ShardPair, TargetGroupObservation,
};

const SSM_BATCH: usize = 10;
const ASG_BATCH: usize = 100;
const TARGET_GROUP_BATCH: usize = 20;
const LISTENER_BATCH: usize = 20;

impl SimCloud {
    /// One read request: waits for the API budget (if any) at the observation's priority, then
    /// lands on the world at its `now`.
    async fn read<T>(
        &self,
        service: &'static str,
        operation: &'static str,
        f: impl FnOnce(&mut World, DateTime<Utc>) -> T,
    ) -> Result<T, CloudError> {
        if let Some(budget) = &self.budget {
            budget.admit(service, Priority::current()).await;
        }
        self.requests(|w, log, now| w.request(log, service, operation, |w, _| Ok(f(w, now))))
    }

    pub(super) async fn observe_world(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        if runners.is_empty() {
            return Ok(Vec::new());
        }
        let parameters = unique(runners.iter().map(|r| r.status_parameter.as_str()));
        let asg_names = unique(
            runners
                .iter()
                .flat_map(|r| Shard::ALL.map(|s| r.shards[s].auto_scaling_group.as_str())),
        );
        let tg_arns = unique(
            runners
                .iter()
                .flat_map(|r| Shard::ALL.map(|s| r.shards[s].target_group_arn.as_str())),
        );
        let listener_arns = unique(
            runners
                .iter()
                .filter(|r| !r.listener.is_rule())
                .map(|r| r.listener.arn()),
        );
        let rule_arns = unique(
            runners
                .iter()
                .filter(|r| r.listener.is_rule())
                .map(|r| r.listener.arn()),
        );

        let mut records = BTreeMap::new();
        let mut asgs = BTreeMap::new();
        let mut health_checks = BTreeMap::new();
        let mut listeners = BTreeMap::new();
        let mut rules = BTreeMap::new();
        // Polled in this order, and stopping at the first failure: without a budget nothing
        // waits, so the requests land one after the other exactly as in a sequential read.
        futures::try_join!(
            async {
                for batch in parameters.chunks(SSM_BATCH) {
                    self.read("ssm", "GetParameters", |w, _| {
                        for &name in batch {
                            // Missing names come back as InvalidParameters, not as an error.
                            if let Some(p) = w.parameters.get(name) {
                                records.insert(name, (p.value.clone(), p.version));
                            }
                        }
                    })
                    .await?;
                }
                Ok::<_, CloudError>(())
            },
            async {
                for batch in asg_names.chunks(ASG_BATCH) {
                    self.read("autoscaling", "DescribeAutoScalingGroups", |w, now| {
                        for &name in batch {
                            if let Some(view) = w.view_asg(name, now) {
                                asgs.insert(name, view.observation());
                            }
                        }
                    })
                    .await?;
                }
                Ok(())
            },
            async {
                let mut read_target_groups = |w: &mut World, batch: &[&str]| {
                    for &arn in batch {
                        if let Some(tg) = w.target_groups.get(arn) {
                            health_checks.insert(arn.to_owned(), tg.health_check);
                        }
                    }
                };
                if detail.is_full() {
                    for batch in tg_arns.chunks(TARGET_GROUP_BATCH) {
                        self.read("elbv2", "DescribeTargetGroups", |w, _| {
                            read_target_groups(w, batch)
                        })
                        .await?;
                    }
                } else {
                    // The AWS adapter caches health-check settings (refreshed every few
                    // minutes), so a light observation costs no DescribeTargetGroups call there
                    // either.
                    self.edit(|w, _| read_target_groups(w, &tg_arns));
                }
                Ok(())
            },
            async {
                for batch in listener_arns.chunks(LISTENER_BATCH) {
                    self.read("elbv2", "DescribeListeners", |w, _| {
                        for &arn in batch {
                            if let Some(forward) = w.listeners.get(arn) {
                                listeners.insert(arn, forward.clone());
                            }
                        }
                    })
                    .await?;
                }
                Ok(())
            },
            async {
                for batch in rule_arns.chunks(LISTENER_BATCH) {
                    self.read("elbv2", "DescribeRules", |w, _| {
                        for &arn in batch {
                            if let Some(forward) = w.rules.get(arn) {
                                rules.insert(arn, forward.clone());
                            }
                        }
                    })
                    .await?;
                }
                Ok(())
            },
        )?;

        // ELB health checks already fold target health into instance health, so at rest it is
        // read only where the ASG cannot tell (docs/operations.md).
        let health_reads = unique(runners.iter().flat_map(|r| {
            Shard::ALL.into_iter().filter_map(|s| {
                let arn = r.shards[s].target_group_arn.as_str();
                let asg = asgs.get(r.shards[s].auto_scaling_group.as_str())?;
                let wanted =
                    asg.has_capacity() && (detail.is_full() || asg.health_check_type != "ELB");
                (wanted && health_checks.contains_key(arn)).then_some(arn)
            })
        }));
        let mut targets = BTreeMap::new();
        for arn in health_reads {
            self.read("elbv2", "DescribeTargetHealth", |w, now| {
                if let Some(health) = w.target_health(arn, now) {
                    targets.insert(arn, health);
                }
            })
            .await?;
        }

        let account_id = self.edit(|w, _| w.account_id.clone());
        Ok(runners
            .iter()
            .map(|r| RunnerObservation {
                runner: r.name.clone(),
                account_id: account_id.clone(),
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
}
