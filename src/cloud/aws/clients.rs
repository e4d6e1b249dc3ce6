//! The SDK clients, one set per `Effect`. Both sets share one `SdkConfig` (credentials, region,
//! endpoint, timeouts and the standard retry mode); the mutating set adds the retry classifier
//! that keeps the SDK from repeating a mutation that may have been applied (`retry`).

use aws_sdk_autoscaling::operation::{
    attach_load_balancer_target_groups::AttachLoadBalancerTargetGroupsError,
    create_or_update_tags::CreateOrUpdateTagsError, delete_tags::DeleteTagsError,
    update_auto_scaling_group::UpdateAutoScalingGroupError,
};
use aws_sdk_elasticloadbalancingv2::operation::modify_listener::ModifyListenerError;
use aws_sdk_ssm::operation::put_parameter::PutParameterError;

use super::operations::Effect;
use super::retry::MutationRetryClassifier;

#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub ssm: aws_sdk_ssm::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    /// Clients for calls of `effect`.
    pub fn new(config: &aws_config::SdkConfig, effect: Effect) -> Clients {
        match effect {
            Effect::Read => Clients {
                ssm: aws_sdk_ssm::Client::new(config),
                autoscaling: aws_sdk_autoscaling::Client::new(config),
                elbv2: aws_sdk_elasticloadbalancingv2::Client::new(config),
                sts: aws_sdk_sts::Client::new(config),
            },
            // Each service's classifier is told the error types of the mutations sent through
            // it, so that it can read their throttling codes.
            Effect::Mutation => Clients {
                ssm: aws_sdk_ssm::Client::from_conf(
                    aws_sdk_ssm::config::Builder::from(config)
                        .retry_classifier(
                            MutationRetryClassifier::new().reading::<PutParameterError>(),
                        )
                        .build(),
                ),
                autoscaling: aws_sdk_autoscaling::Client::from_conf(
                    aws_sdk_autoscaling::config::Builder::from(config)
                        .retry_classifier(
                            MutationRetryClassifier::new()
                                .reading::<UpdateAutoScalingGroupError>()
                                .reading::<AttachLoadBalancerTargetGroupsError>()
                                .reading::<CreateOrUpdateTagsError>()
                                .reading::<DeleteTagsError>(),
                        )
                        .build(),
                ),
                elbv2: aws_sdk_elasticloadbalancingv2::Client::from_conf(
                    aws_sdk_elasticloadbalancingv2::config::Builder::from(config)
                        .retry_classifier(
                            MutationRetryClassifier::new().reading::<ModifyListenerError>(),
                        )
                        .build(),
                ),
                // STS has no mutation of ours; the classifier still guards anything sent here.
                sts: aws_sdk_sts::Client::from_conf(
                    aws_sdk_sts::config::Builder::from(config)
                        .retry_classifier(MutationRetryClassifier::new())
                        .build(),
                ),
            },
        }
    }
}
