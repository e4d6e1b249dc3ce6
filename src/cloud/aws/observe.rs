//! Batched reads for many runners at once (docs/operations.md): GetParameters 10 names per call,
//! DescribeAutoScalingGroups 100 names per call, DescribeListeners and DescribeTargetGroups by
//! ARN, DescribeRules by ARN (rules of one listener sort together, so they share a call),
//! DescribeTargetHealth per target group only where it tells something new.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use aws_sdk_elasticloadbalancingv2::types::Action;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::operations::{
    DESCRIBE_AUTO_SCALING_GROUPS, DESCRIBE_LISTENERS, DESCRIBE_RULES, DESCRIBE_TARGET_GROUPS,
    DESCRIBE_TARGET_HEALTH, GET_PARAMETERS,
};
use super::{AwsCloud, CachedSettings, TARGET_GROUP_SETTINGS_TTL, TemplateRef};
use crate::cloud::{CloudError, Detail};
use crate::core::{
    AsgObservation, Found, HealthCheckSettings, Instance, Listener, ListenerObservation,
    RecordObservation, RunnerObservation, RunnerSpec, Shard, ShardObservation, ShardPair,
    TargetGroupObservation, TargetHealth,
};

/// SSM GetParameters takes at most 10 names.
pub const PARAMETERS_PER_CALL: usize = 10;
/// DescribeAutoScalingGroups takes at most 100 names.
pub const GROUPS_PER_CALL: usize = 100;
/// ELBv2 describe calls by ARN (target groups, listeners, rules): 20, DescribeListeners' own
/// maximum; DescribeRules documents none, and 20 rules per call already observes 20 runners.
pub const ARNS_PER_CALL: usize = 20;
/// Calls of one kind in flight at once: enough to hide latency, few enough to stay inside the
/// account's request rate when thousands of runners are observed.
const CONCURRENCY: usize = 4;

impl AwsCloud {
    pub(super) async fn observe_runners(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        if runners.is_empty() {
            return Ok(Vec::new());
        }
        let account_id = self.current_account().await?;

        let parameters = unique(runners.iter().map(|r| r.status_parameter.as_str()));
        let groups = unique(
            runners
                .iter()
                .flat_map(|r| Shard::ALL.map(|s| r.shards[s].auto_scaling_group.as_str())),
        );
        let listeners = unique(
            runners
                .iter()
                .filter(|r| !r.listener.is_rule())
                .map(|r| r.listener.arn()),
        );
        let rules = unique(
            runners
                .iter()
                .filter(|r| r.listener.is_rule())
                .map(|r| r.listener.arn()),
        );
        let (records, asgs, listeners, rules) = futures::try_join!(
            self.read_records(&parameters),
            self.describe_groups(&groups),
            self.describe_listeners(&listeners),
            self.describe_rules(&rules),
        )?;

        let mut health_of = BTreeSet::new();
        let mut target_groups = BTreeSet::new();
        for runner in runners {
            for shard in Shard::ALL {
                let spec = &runner.shards[shard];
                target_groups.insert(spec.target_group_arn.clone());
                if let Some(asg) = asgs.get(&spec.auto_scaling_group)
                    && needs_target_health(asg, detail)
                {
                    health_of.insert(spec.target_group_arn.clone());
                }
            }
        }
        let to_describe = self.target_groups_to_describe(&target_groups, &health_of, detail);
        let (health, settings) = futures::try_join!(
            self.read_target_health(&health_of),
            self.describe_target_groups(&to_describe),
        )?;
        let settings = self.settings_with_cache(&target_groups, settings);

        Ok(runners
            .iter()
            .map(|runner| {
                let shard = |s: Shard| {
                    let spec = &runner.shards[s];
                    let arn = &spec.target_group_arn;
                    let target_group = match (health.get(arn), settings.get(arn)) {
                        (Some(Found::Missing), _) | (None, None | Some(Found::Missing)) => {
                            Found::Missing
                        }
                        (Some(Found::Present(targets)), s) => {
                            Found::Present(TargetGroupObservation {
                                arn: arn.clone(),
                                targets: Some(targets.clone()),
                                health_check: s.and_then(|s| s.present().copied().flatten()),
                            })
                        }
                        (None, Some(Found::Present(s))) => Found::Present(TargetGroupObservation {
                            arn: arn.clone(),
                            targets: None,
                            health_check: *s,
                        }),
                    };
                    ShardObservation {
                        asg: asgs
                            .get(&spec.auto_scaling_group)
                            .cloned()
                            .map_or(Found::Missing, Found::Present),
                        target_group,
                    }
                };
                RunnerObservation {
                    runner: runner.name.clone(),
                    account_id: account_id.clone(),
                    record: records
                        .get(&runner.status_parameter)
                        .cloned()
                        .unwrap_or(RecordObservation::Missing),
                    shards: ShardPair {
                        blue: shard(Shard::Blue),
                        green: shard(Shard::Green),
                    },
                    listener: match &runner.listener {
                        Listener::Default(arn) => listeners.get(arn),
                        Listener::Rule(arn) => rules.get(arn),
                    }
                    .cloned()
                    .map_or(Found::Missing, Found::Present),
                }
            })
            .collect())
    }

    /// Parameters that exist, by name; absent names are missing.
    async fn read_records(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, RecordObservation>, CloudError> {
        let calls: Vec<_> = names
            .chunks(PARAMETERS_PER_CALL)
            .map(|chunk| self.read_record_batch(chunk.to_vec()))
            .collect();
        Ok(bounded(calls).await?.into_iter().flatten().collect())
    }

    async fn read_record_batch(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<(String, RecordObservation)>, CloudError> {
        let out = self
            .call(GET_PARAMETERS, "status record parameters", |c| {
                c.ssm.get_parameters().set_names(Some(names)).send()
            })
            .await?;
        Ok(out
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.name()?.to_string(),
                    RecordObservation::Present {
                        value: p.value().unwrap_or_default().to_string(),
                        version: p.version(),
                    },
                ))
            })
            .collect())
    }

    /// Groups that exist, by name. Also remembers each group's launch template for `apply`.
    async fn describe_groups(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, AsgObservation>, CloudError> {
        let calls: Vec<_> = names
            .chunks(GROUPS_PER_CALL)
            .map(|chunk| self.describe_group_batch(chunk.to_vec()))
            .collect();
        let found = bounded(calls).await?;
        let mut groups = HashMap::new();
        let mut templates = self.templates.lock().expect("templates lock");
        for (asg, template) in found.into_iter().flatten() {
            match template {
                Some(t) => templates.insert(asg.name.clone(), t),
                None => templates.remove(&asg.name),
            };
            groups.insert(asg.name.clone(), asg);
        }
        Ok(groups)
    }

    pub(super) async fn describe_group_batch(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<(AsgObservation, Option<TemplateRef>)>, CloudError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .call(DESCRIBE_AUTO_SCALING_GROUPS, "auto scaling groups", |c| {
                    c.autoscaling
                        .describe_auto_scaling_groups()
                        .set_auto_scaling_group_names(Some(names.clone()))
                        .max_records(GROUPS_PER_CALL as i32)
                        .set_next_token(token.take())
                        .send()
                })
                .await?;
            found.extend(out.auto_scaling_groups().iter().map(convert_group));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(found),
            }
        }
    }

    /// Listeners that exist, by ARN.
    async fn describe_listeners(
        &self,
        arns: &[String],
    ) -> Result<HashMap<String, ListenerObservation>, CloudError> {
        let calls: Vec<_> = arns
            .chunks(ARNS_PER_CALL)
            .map(|chunk| self.describe_listeners_or_each(chunk.to_vec()))
            .collect();
        Ok(bounded(calls)
            .await?
            .into_iter()
            .flatten()
            .map(|l| (l.arn.clone(), l))
            .collect())
    }

    async fn describe_listeners_or_each(
        &self,
        arns: Vec<String>,
    ) -> Result<Vec<ListenerObservation>, CloudError> {
        batch_or_each(arns, |batch| self.describe_listener_batch(batch)).await
    }

    async fn describe_listener_batch(
        &self,
        arns: Vec<String>,
    ) -> Result<Vec<ListenerObservation>, CloudError> {
        let what = describe_arns("listener", &arns);
        let out = self
            .call(DESCRIBE_LISTENERS, &what, |c| {
                c.elbv2
                    .describe_listeners()
                    .set_listener_arns(Some(arns))
                    .send()
            })
            .await?;
        Ok(out
            .listeners()
            .iter()
            .filter_map(|l| {
                Some(ListenerObservation {
                    arn: l.listener_arn()?.to_string(),
                    forward_to: forward_targets(l.default_actions()),
                })
            })
            .collect())
    }

    /// Rules that exist, by ARN, as listener observations of their forward action. Also
    /// remembers each rule's actions, so that a switch replaces only the forward one.
    async fn describe_rules(
        &self,
        arns: &[String],
    ) -> Result<HashMap<String, ListenerObservation>, CloudError> {
        let calls: Vec<_> = arns
            .chunks(ARNS_PER_CALL)
            .map(|chunk| self.describe_rules_or_each(chunk.to_vec()))
            .collect();
        let found = bounded(calls).await?;
        let mut actions = self.rule_actions.lock().expect("rule actions lock");
        for arn in arns {
            actions.remove(arn);
        }
        Ok(found
            .into_iter()
            .flatten()
            .map(|(arn, rule_actions)| {
                let observation = ListenerObservation {
                    arn: arn.clone(),
                    forward_to: forward_targets(&rule_actions),
                };
                actions.insert(arn.clone(), rule_actions);
                (arn, observation)
            })
            .collect())
    }

    async fn describe_rules_or_each(
        &self,
        arns: Vec<String>,
    ) -> Result<Vec<(String, Vec<Action>)>, CloudError> {
        batch_or_each(arns, |batch| self.describe_rule_batch(batch)).await
    }

    pub(super) async fn describe_rule_batch(
        &self,
        arns: Vec<String>,
    ) -> Result<Vec<(String, Vec<Action>)>, CloudError> {
        let what = describe_arns("listener rule", &arns);
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .call(DESCRIBE_RULES, &what, |c| {
                    c.elbv2
                        .describe_rules()
                        .set_rule_arns(Some(arns.clone()))
                        .set_marker(marker.take())
                        .send()
                })
                .await?;
            found.extend(
                out.rules()
                    .iter()
                    .filter_map(|r| Some((r.rule_arn()?.to_string(), r.actions().to_vec()))),
            );
            match out.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(found),
            }
        }
    }

    /// Target groups whose health-check settings must be read now: unknown or stale in the
    /// cache, and on a full observation every one whose existence target health will not show.
    fn target_groups_to_describe(
        &self,
        all: &BTreeSet<String>,
        health_of: &BTreeSet<String>,
        detail: Detail,
    ) -> Vec<String> {
        let cache = self.target_groups.lock().expect("target group lock");
        all.iter()
            .filter(|arn| {
                let fresh = cache
                    .get(*arn)
                    .is_some_and(|c| c.read_at.elapsed() < TARGET_GROUP_SETTINGS_TTL);
                !fresh || (detail.is_full() && !health_of.contains(*arn))
            })
            .cloned()
            .collect()
    }

    /// Described target groups, by ARN: `Missing` for those that do not exist.
    async fn describe_target_groups(
        &self,
        arns: &[String],
    ) -> Result<HashMap<String, Found<Option<HealthCheckSettings>>>, CloudError> {
        let calls: Vec<_> = arns
            .chunks(ARNS_PER_CALL)
            .map(|chunk| self.describe_target_groups_or_each(chunk.to_vec()))
            .collect();
        Ok(bounded(calls).await?.into_iter().flatten().collect())
    }

    async fn describe_target_groups_or_each(
        &self,
        arns: Vec<String>,
    ) -> Result<Vec<(String, Found<Option<HealthCheckSettings>>)>, CloudError> {
        match self.describe_target_group_batch(arns.clone()).await {
            // One unknown ARN fails the whole call: find which, one at a time.
            Err(CloudError::ResourceMissing { .. }) => {
                let mut found = Vec::new();
                for arn in arns {
                    match self.describe_target_group_batch(vec![arn.clone()]).await {
                        Ok(tgs) => found.extend(tgs),
                        Err(CloudError::ResourceMissing { .. }) => {
                            found.push((arn, Found::Missing))
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(found)
            }
            other => other,
        }
    }

    async fn describe_target_group_batch(
        &self,
        arns: Vec<String>,
    ) -> Result<Vec<(String, Found<Option<HealthCheckSettings>>)>, CloudError> {
        let what = describe_arns("target group", &arns);
        let out = self
            .call(DESCRIBE_TARGET_GROUPS, &what, |c| {
                c.elbv2
                    .describe_target_groups()
                    .set_target_group_arns(Some(arns.clone()))
                    .send()
            })
            .await?;
        let mut found: HashMap<String, Found<Option<HealthCheckSettings>>> = out
            .target_groups()
            .iter()
            .filter_map(|tg| {
                let settings = match (
                    tg.health_check_interval_seconds(),
                    tg.unhealthy_threshold_count(),
                ) {
                    (Some(i), Some(u)) => Some(HealthCheckSettings {
                        interval_seconds: i.max(0) as u32,
                        unhealthy_threshold_count: u.max(0) as u32,
                    }),
                    _ => None,
                };
                Some((tg.target_group_arn()?.to_string(), Found::Present(settings)))
            })
            .collect();
        for arn in arns {
            found.entry(arn).or_insert(Found::Missing);
        }
        Ok(found.into_iter().collect())
    }

    /// Merges fresh descriptions into the cache and answers for every configured target group.
    fn settings_with_cache(
        &self,
        all: &BTreeSet<String>,
        fresh: HashMap<String, Found<Option<HealthCheckSettings>>>,
    ) -> HashMap<String, Found<Option<HealthCheckSettings>>> {
        let mut cache = self.target_groups.lock().expect("target group lock");
        let now = Instant::now();
        for (arn, found) in &fresh {
            match found {
                Found::Present(settings) => {
                    cache.insert(
                        arn.clone(),
                        CachedSettings {
                            read_at: now,
                            settings: *settings,
                        },
                    );
                }
                // Not cached: a deleted group is looked for again on the next observation, so
                // that a recreated one clears the halt promptly.
                Found::Missing => {
                    cache.remove(arn);
                }
            }
        }
        all.iter()
            .filter_map(|arn| {
                let answer = match fresh.get(arn) {
                    Some(found) => found.clone(),
                    None => Found::Present(cache.get(arn)?.settings),
                };
                Some((arn.clone(), answer))
            })
            .collect()
    }

    /// Target health by target group ARN; `Missing` for a group that does not exist.
    async fn read_target_health(
        &self,
        arns: &BTreeSet<String>,
    ) -> Result<HashMap<String, Found<Vec<TargetHealth>>>, CloudError> {
        let calls: Vec<_> = arns
            .iter()
            .map(|arn| self.read_target_health_of(arn.clone()))
            .collect();
        Ok(bounded(calls).await?.into_iter().collect())
    }

    async fn read_target_health_of(
        &self,
        arn: String,
    ) -> Result<(String, Found<Vec<TargetHealth>>), CloudError> {
        let what = format!("target group {arn}");
        let out = self
            .call(DESCRIBE_TARGET_HEALTH, &what, |c| {
                c.elbv2
                    .describe_target_health()
                    .target_group_arn(&arn)
                    .send()
            })
            .await;
        match out {
            Ok(out) => {
                let targets = out
                    .target_health_descriptions()
                    .iter()
                    .filter_map(|d| {
                        Some(TargetHealth {
                            id: d.target()?.id()?.to_string(),
                            state: d
                                .target_health()
                                .and_then(|h| h.state())
                                .map(|s| s.as_str().to_string())
                                .unwrap_or_default(),
                        })
                    })
                    .collect();
                Ok((arn, Found::Present(targets)))
            }
            Err(CloudError::ResourceMissing { .. }) => {
                self.target_groups
                    .lock()
                    .expect("target group lock")
                    .remove(&arn);
                Ok((arn, Found::Missing))
            }
            Err(e) => Err(e),
        }
    }
}

/// Runs calls of one kind with at most `CONCURRENCY` in flight.
async fn bounded<T, F>(calls: Vec<F>) -> Result<Vec<T>, CloudError>
where
    F: std::future::Future<Output = Result<T, CloudError>>,
{
    stream::iter(calls)
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await
}

/// One unknown ARN fails a whole ELBv2 describe call, so a batch that fails that way is asked
/// again one ARN at a time (rare: only after something was deleted); what is gone is left out.
async fn batch_or_each<T, F, Fut>(arns: Vec<String>, describe: F) -> Result<Vec<T>, CloudError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, CloudError>>,
{
    match describe(arns.clone()).await {
        Err(CloudError::ResourceMissing { .. }) => {
            let mut found = Vec::new();
            if arns.len() > 1 {
                for arn in arns {
                    match describe(vec![arn]).await {
                        Ok(one) => found.extend(one),
                        Err(CloudError::ResourceMissing { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(found)
        }
        other => other,
    }
}

/// At rest, instances of an ELB-checked group already carry the target health.
fn needs_target_health(asg: &AsgObservation, detail: Detail) -> bool {
    asg.has_capacity() && (detail.is_full() || asg.health_check_type != "ELB")
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    items
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn describe_arns(kind: &str, arns: &[String]) -> String {
    match arns {
        [one] => format!("{kind} {one}"),
        many => format!("one of {} {kind}s", many.len()),
    }
}

pub(crate) fn convert_group(
    g: &aws_sdk_autoscaling::types::AutoScalingGroup,
) -> (AsgObservation, Option<TemplateRef>) {
    let direct = g.launch_template().map(|t| (t, false));
    let mixed = g
        .mixed_instances_policy()
        .and_then(|p| p.launch_template())
        .and_then(|t| t.launch_template_specification())
        .map(|t| (t, true));
    let template = direct.or(mixed);
    let asg = AsgObservation {
        name: g.auto_scaling_group_name().unwrap_or_default().to_string(),
        min_size: non_negative(g.min_size()),
        max_size: non_negative(g.max_size()),
        desired_capacity: non_negative(g.desired_capacity()),
        launch_template_version: template.and_then(|(t, _)| t.version().map(str::to_string)),
        instances: g
            .instances()
            .iter()
            .map(|i| Instance {
                id: i.instance_id().unwrap_or_default().to_string(),
                lifecycle: i
                    .lifecycle_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                healthy: i.health_status() == Some("Healthy"),
            })
            .collect(),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
        target_group_arns: g.target_group_arns().to_vec(),
        health_check_type: g.health_check_type().unwrap_or("EC2").to_string(),
    };
    let template = template.map(|(t, mixed)| TemplateRef {
        id: t.launch_template_id().map(str::to_string),
        name: t.launch_template_name().map(str::to_string),
        mixed,
    });
    (asg, template)
}

fn non_negative(n: Option<i32>) -> u32 {
    n.unwrap_or(0).max(0) as u32
}

/// Target groups the forward action sends traffic to: its single target group, or those of its
/// forward config with a weight above zero (a missing weight counts as traffic).
pub(crate) fn forward_targets(actions: &[Action]) -> Vec<String> {
    use aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum;
    let mut out: Vec<String> = Vec::new();
    for action in actions
        .iter()
        .filter(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
    {
        let mut push = |arn: &str| {
            if !out.iter().any(|a| a == arn) {
                out.push(arn.to_string());
            }
        };
        match action.forward_config() {
            Some(config) if !config.target_groups().is_empty() => {
                for tuple in config.target_groups() {
                    if tuple.weight().unwrap_or(1) > 0
                        && let Some(arn) = tuple.target_group_arn()
                    {
                        push(arn);
                    }
                }
            }
            _ => {
                if let Some(arn) = action.target_group_arn() {
                    push(arn);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use aws_sdk_autoscaling::types::{
        AutoScalingGroup, Instance as SdkInstance, LaunchTemplate, LaunchTemplateSpecification,
        LifecycleState, MixedInstancesPolicy, TagDescription,
    };
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
    };

    use super::*;

    fn forward(tg: Option<&str>, weighted: &[(&str, Option<i32>)]) -> Action {
        let mut action = Action::builder().r#type(ActionTypeEnum::Forward);
        if let Some(tg) = tg {
            action = action.target_group_arn(tg);
        }
        if !weighted.is_empty() {
            let mut config = ForwardActionConfig::builder();
            for (arn, weight) in weighted {
                config = config.target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(*arn)
                        .set_weight(*weight)
                        .build(),
                );
            }
            action = action.forward_config(config.build());
        }
        action.build()
    }

    #[test]
    fn forward_targets_are_the_groups_that_get_traffic() {
        assert_eq!(forward_targets(&[forward(Some("tg-a"), &[])]), ["tg-a"]);
        let weighted = forward(
            Some("tg-a"),
            &[("tg-a", Some(0)), ("tg-b", Some(100)), ("tg-c", None)],
        );
        assert_eq!(forward_targets(&[weighted]), ["tg-b", "tg-c"]);
        let fixed = Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .build();
        assert!(forward_targets(&[fixed]).is_empty());
    }

    #[test]
    fn a_group_converts_with_its_revision_instances_and_tags() {
        let template = LaunchTemplateSpecification::builder()
            .launch_template_id("lt-1")
            .version("$Latest")
            .build();
        let group = AutoScalingGroup::builder()
            .auto_scaling_group_name("a-blue")
            .min_size(1)
            .max_size(3)
            .desired_capacity(2)
            .mixed_instances_policy(
                MixedInstancesPolicy::builder()
                    .launch_template(
                        LaunchTemplate::builder()
                            .launch_template_specification(template)
                            .build(),
                    )
                    .build(),
            )
            .instances(
                SdkInstance::builder()
                    .instance_id("i-1")
                    .lifecycle_state(LifecycleState::InService)
                    .health_status("Healthy")
                    .build(),
            )
            .instances(
                SdkInstance::builder()
                    .instance_id("i-2")
                    .lifecycle_state(LifecycleState::Pending)
                    .health_status("Unhealthy")
                    .build(),
            )
            .tags(TagDescription::builder().key("k").value("v").build())
            .target_group_arns("tg-a")
            .health_check_type("ELB")
            .build();
        let (asg, template) = convert_group(&group);
        assert_eq!(
            (asg.min_size, asg.desired_capacity, asg.max_size),
            (1, 2, 3)
        );
        assert_eq!(asg.launch_template_version.as_deref(), Some("$Latest"));
        assert_eq!(
            asg.instances,
            vec![
                Instance {
                    id: "i-1".into(),
                    lifecycle: "InService".into(),
                    healthy: true
                },
                Instance {
                    id: "i-2".into(),
                    lifecycle: "Pending".into(),
                    healthy: false
                },
            ]
        );
        assert_eq!(asg.tags.get("k").map(String::as_str), Some("v"));
        assert_eq!(asg.target_group_arns, ["tg-a"]);
        assert_eq!(
            template,
            Some(TemplateRef {
                id: Some("lt-1".into()),
                name: None,
                mixed: true
            })
        );
        assert!(needs_target_health(&asg, Detail::Full));
        assert!(!needs_target_health(&asg, Detail::Light));
        let ec2_checked = AsgObservation {
            health_check_type: "EC2".into(),
            ..asg.clone()
        };
        assert!(needs_target_health(&ec2_checked, Detail::Light));
        let empty = AsgObservation {
            min_size: 0,
            desired_capacity: 0,
            instances: Vec::new(),
            ..asg
        };
        assert!(!needs_target_health(&empty, Detail::Full));
    }
}
