//! One mutation per step (docs/how-it-decides.md). No version checks here: the controller makes
//! them on the observation it decided from; the adapter only does what the step says.

use aws_sdk_autoscaling::types::{
    LaunchTemplate, LaunchTemplateSpecification, MixedInstancesPolicy, Tag,
};
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum};
use aws_sdk_ssm::types::ParameterType;

use super::operations::{
    ATTACH_LOAD_BALANCER_TARGET_GROUPS, CREATE_OR_UPDATE_TAGS, DELETE_TAGS, GET_PARAMETER,
    MODIFY_LISTENER, PUT_PARAMETER, UPDATE_AUTO_SCALING_GROUP,
};
use super::{AwsCloud, TemplateRef};
use crate::cloud::{Applied, CloudError};
use crate::core::{MARK_TAG, Mark, RunnerSpec, Step};

impl AwsCloud {
    pub(super) async fn apply_step(
        &self,
        runner: &RunnerSpec,
        step: &Step,
    ) -> Result<Applied, CloudError> {
        match step {
            Step::WriteMark { shard, mark } => {
                self.write_mark(&runner.shards[*shard].auto_scaling_group, mark)
                    .await
            }
            Step::FailDeployment { shard, mark, .. } => {
                self.write_mark(&runner.shards[*shard].auto_scaling_group, &mark.failed())
                    .await
            }
            Step::ConfigureShard {
                shard,
                capacity,
                revision,
            } => {
                let asg = &runner.shards[*shard].auto_scaling_group;
                let size = i32::try_from(*capacity).unwrap_or(i32::MAX);
                // Read before the call is built: the describe it may need is not the mutation.
                let template = match revision {
                    Some(version) => Some((self.template_of(asg).await?, version)),
                    None => None,
                };
                let what = format!("auto scaling group {asg}");
                self.call(UPDATE_AUTO_SCALING_GROUP, &what, |c| {
                    let update = c
                        .autoscaling
                        .update_auto_scaling_group()
                        .auto_scaling_group_name(asg)
                        .min_size(size)
                        .desired_capacity(size)
                        .max_size(size);
                    match template {
                        Some((template, version)) => {
                            let spec = template_spec(&template, version);
                            if template.mixed {
                                update.mixed_instances_policy(
                                    MixedInstancesPolicy::builder()
                                        .launch_template(
                                            LaunchTemplate::builder()
                                                .launch_template_specification(spec)
                                                .build(),
                                        )
                                        .build(),
                                )
                            } else {
                                update.launch_template(spec)
                            }
                        }
                        None => update,
                    }
                    .send()
                })
                .await?;
                Ok(Applied::Done)
            }
            Step::ScaleToZero { shard } => {
                let asg = &runner.shards[*shard].auto_scaling_group;
                let what = format!("auto scaling group {asg}");
                self.call(UPDATE_AUTO_SCALING_GROUP, &what, |c| {
                    c.autoscaling
                        .update_auto_scaling_group()
                        .auto_scaling_group_name(asg)
                        .min_size(0)
                        .desired_capacity(0)
                        .send()
                })
                .await?;
                Ok(Applied::Done)
            }
            Step::AttachTargetGroup { shard } => {
                let spec = &runner.shards[*shard];
                let what = format!(
                    "auto scaling group {} or target group {}",
                    spec.auto_scaling_group, spec.target_group_arn
                );
                self.call(ATTACH_LOAD_BALANCER_TARGET_GROUPS, &what, |c| {
                    c.autoscaling
                        .attach_load_balancer_target_groups()
                        .auto_scaling_group_name(&spec.auto_scaling_group)
                        .target_group_arns(&spec.target_group_arn)
                        .send()
                })
                .await?;
                Ok(Applied::Done)
            }
            Step::SwitchListener { to } => {
                let tg = &runner.shards[*to].target_group_arn;
                let what = format!("listener {} or target group {tg}", runner.listener_arn);
                let forward = Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(tg)
                    .build();
                self.call(MODIFY_LISTENER, &what, |c| {
                    c.elbv2
                        .modify_listener()
                        .listener_arn(&runner.listener_arn)
                        .default_actions(forward)
                        .send()
                })
                .await?;
                Ok(Applied::Done)
            }
            Step::WriteRecord { record, .. } => {
                self.write_record(&runner.status_parameter, &record.to_json())
                    .await
            }
            Step::DeleteMark { shard } => {
                let asg = &runner.shards[*shard].auto_scaling_group;
                let what = format!("auto scaling group {asg}");
                self.call(DELETE_TAGS, &what, |c| {
                    c.autoscaling.delete_tags().tags(mark_tag(asg, None)).send()
                })
                .await?;
                Ok(Applied::Done)
            }
        }
    }

    async fn write_mark(&self, asg: &str, mark: &Mark) -> Result<Applied, CloudError> {
        let value = mark.to_tag_value().map_err(|e| CloudError::Api {
            service: CREATE_OR_UPDATE_TAGS.service,
            operation: CREATE_OR_UPDATE_TAGS.name,
            code: "InvalidMark".to_string(),
            message: e.to_string(),
        })?;
        let tag = mark_tag(asg, Some(value));
        let what = format!("auto scaling group {asg}");
        self.call(CREATE_OR_UPDATE_TAGS, &what, |c| {
            c.autoscaling.create_or_update_tags().tags(tag).send()
        })
        .await?;
        Ok(Applied::Done)
    }

    /// PutParameter, then GetParameter to show the controller what is there now.
    async fn write_record(&self, name: &str, value: &str) -> Result<Applied, CloudError> {
        let what = format!("parameter {name}");
        let put = self
            .call(PUT_PARAMETER, &what, |c| {
                c.ssm
                    .put_parameter()
                    .name(name)
                    .value(value)
                    .r#type(ParameterType::String)
                    .overwrite(true)
                    .send()
            })
            .await?;
        let read = self
            .call(GET_PARAMETER, &what, |c| {
                c.ssm.get_parameter().name(name).send()
            })
            .await;
        let read_back = match read {
            Ok(out) => out
                .parameter()
                .map(|p| (p.value().unwrap_or_default().to_string(), p.version())),
            Err(CloudError::ResourceMissing { .. }) => None,
            // The write happened; not knowing what is there now is an unknown outcome, which the
            // controller resolves from a fresh observation rather than by writing again.
            Err(_) => {
                return Err(CloudError::Timeout {
                    service: PUT_PARAMETER.service,
                    operation: PUT_PARAMETER.name,
                });
            }
        };
        Ok(Applied::RecordWritten {
            version: put.version(),
            read_back,
        })
    }

    /// The group's launch template, from the last observation or, failing that, a describe.
    async fn template_of(&self, asg: &str) -> Result<TemplateRef, CloudError> {
        if let Some(t) = self.templates.lock().expect("templates lock").get(asg) {
            return Ok(t.clone());
        }
        let found = self.describe_group_batch(vec![asg.to_string()]).await?;
        let Some((_, template)) = found.into_iter().find(|(g, _)| g.name == asg) else {
            return Err(CloudError::ResourceMissing {
                what: format!("auto scaling group {asg}"),
                message: "not returned by DescribeAutoScalingGroups".to_string(),
            });
        };
        let Some(template) = template else {
            return Err(CloudError::ResourceMissing {
                what: format!("launch template of auto scaling group {asg}"),
                message: "the group uses no launch template, so a revision cannot be set"
                    .to_string(),
            });
        };
        self.templates
            .lock()
            .expect("templates lock")
            .insert(asg.to_string(), template.clone());
        Ok(template)
    }
}

fn template_spec(template: &TemplateRef, version: &str) -> LaunchTemplateSpecification {
    let builder = LaunchTemplateSpecification::builder().version(version);
    match (&template.id, &template.name) {
        (Some(id), _) => builder.launch_template_id(id),
        (None, Some(name)) => builder.launch_template_name(name),
        (None, None) => builder,
    }
    .build()
}

fn mark_tag(asg: &str, value: Option<String>) -> Tag {
    let mut tag = Tag::builder()
        .resource_id(asg)
        .resource_type("auto-scaling-group")
        .key(MARK_TAG)
        .propagate_at_launch(false);
    if let Some(value) = value {
        tag = tag.value(value);
    }
    tag.build()
}
