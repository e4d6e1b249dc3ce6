//! Every AWS operation the adapter calls, in one table. The request metrics take their labels
//! from it and the IAM policy test checks `iam/policy.json` against it, so neither can drift
//! from the code.

/// What a call does to the world, which decides how the SDK may retry it (see `retry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads change nothing, so repeating one after any failure is harmless.
    Read,
    /// Mutations are repeated only after a failure that proves they were not applied.
    Mutation,
}

/// One AWS API operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The `service` label of the request metrics.
    pub service: &'static str,
    /// The AWS operation name: the `operation` label.
    pub name: &'static str,
    /// The IAM action that authorizes it.
    pub action: &'static str,
    /// The adapter sends it through the clients of this effect.
    pub effect: Effect,
}

pub(crate) const fn op(
    service: &'static str,
    name: &'static str,
    action: &'static str,
) -> Operation {
    // Every mutation AWS offers us is named by a verb other than Get or Describe, so the table
    // cannot list a mutation as a read by mistake (a test checks the names).
    let effect = if starts_with(name, "Get") || starts_with(name, "Describe") {
        Effect::Read
    } else {
        Effect::Mutation
    };
    Operation {
        service,
        name,
        action,
        effect,
    }
}

const fn starts_with(name: &str, prefix: &str) -> bool {
    let (name, prefix) = (name.as_bytes(), prefix.as_bytes());
    if name.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if name[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// All of them. The adapter calls AWS only through the constants below, which point into this
/// array, so a new call cannot be added without appearing here.
pub const OPERATIONS: [Operation; 13] = [
    op("ssm", "GetParameters", "ssm:GetParameters"),
    op("ssm", "GetParameter", "ssm:GetParameter"),
    op("ssm", "PutParameter", "ssm:PutParameter"),
    op(
        "autoscaling",
        "DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingGroups",
    ),
    op(
        "autoscaling",
        "UpdateAutoScalingGroup",
        "autoscaling:UpdateAutoScalingGroup",
    ),
    op(
        "autoscaling",
        "AttachLoadBalancerTargetGroups",
        "autoscaling:AttachLoadBalancerTargetGroups",
    ),
    op(
        "autoscaling",
        "CreateOrUpdateTags",
        "autoscaling:CreateOrUpdateTags",
    ),
    op("autoscaling", "DeleteTags", "autoscaling:DeleteTags"),
    op(
        "elbv2",
        "DescribeTargetHealth",
        "elasticloadbalancing:DescribeTargetHealth",
    ),
    op(
        "elbv2",
        "DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetGroups",
    ),
    op(
        "elbv2",
        "DescribeListeners",
        "elasticloadbalancing:DescribeListeners",
    ),
    op(
        "elbv2",
        "ModifyListener",
        "elasticloadbalancing:ModifyListener",
    ),
    op("sts", "GetCallerIdentity", "sts:GetCallerIdentity"),
];

pub const GET_PARAMETERS: &Operation = &OPERATIONS[0];
pub const GET_PARAMETER: &Operation = &OPERATIONS[1];
pub const PUT_PARAMETER: &Operation = &OPERATIONS[2];
pub const DESCRIBE_AUTO_SCALING_GROUPS: &Operation = &OPERATIONS[3];
pub const UPDATE_AUTO_SCALING_GROUP: &Operation = &OPERATIONS[4];
pub const ATTACH_LOAD_BALANCER_TARGET_GROUPS: &Operation = &OPERATIONS[5];
pub const CREATE_OR_UPDATE_TAGS: &Operation = &OPERATIONS[6];
pub const DELETE_TAGS: &Operation = &OPERATIONS[7];
pub const DESCRIBE_TARGET_HEALTH: &Operation = &OPERATIONS[8];
pub const DESCRIBE_TARGET_GROUPS: &Operation = &OPERATIONS[9];
pub const DESCRIBE_LISTENERS: &Operation = &OPERATIONS[10];
pub const MODIFY_LISTENER: &Operation = &OPERATIONS[11];
pub const GET_CALLER_IDENTITY: &Operation = &OPERATIONS[12];

/// Actions no request of ours names but AWS checks on our behalf: UpdateAutoScalingGroup with a
/// launch template version is authorized as if the caller could launch from that template
/// (ec2:RunInstances), and, when the template names an instance profile, pass its role.
pub const PERMISSION_ONLY_ACTIONS: [&str; 2] = ["ec2:RunInstances", "iam:PassRole"];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const POLICY: &str = include_str!("../../../iam/policy.json");

    fn granted_actions() -> BTreeSet<String> {
        let policy: serde_json::Value = serde_json::from_str(POLICY).expect("policy is JSON");
        assert_eq!(policy["Version"], "2012-10-17");
        let mut actions = BTreeSet::new();
        for statement in policy["Statement"].as_array().expect("statements") {
            assert_eq!(statement["Effect"], "Allow", "{statement}");
            assert!(statement.get("NotAction").is_none(), "{statement}");
            match &statement["Action"] {
                serde_json::Value::String(a) => {
                    actions.insert(a.clone());
                }
                serde_json::Value::Array(items) => actions.extend(
                    items
                        .iter()
                        .map(|a| a.as_str().expect("action").to_string()),
                ),
                other => panic!("unexpected Action {other}"),
            }
        }
        actions
    }

    #[test]
    fn policy_grants_exactly_the_actions_the_adapter_needs() {
        let needed: BTreeSet<String> = OPERATIONS
            .iter()
            .map(|o| o.action)
            .chain(crate::lease::dynamodb::OPERATIONS.iter().map(|o| o.action))
            .map(|a| a.to_string())
            .chain(PERMISSION_ONLY_ACTIONS.iter().map(|a| a.to_string()))
            .collect();
        assert_eq!(granted_actions(), needed);
    }

    #[test]
    fn policy_has_no_wildcard_actions() {
        for action in granted_actions() {
            assert!(!action.contains('*'), "{action}");
        }
    }

    #[test]
    fn the_mutations_of_the_spec_are_mutations_and_everything_else_reads() {
        let effect = |name: &str| {
            OPERATIONS
                .iter()
                .find(|o| o.name == name)
                .unwrap_or_else(|| panic!("{name} is not in OPERATIONS"))
                .effect
        };
        for name in [
            "PutParameter",
            "UpdateAutoScalingGroup",
            "AttachLoadBalancerTargetGroups",
            "CreateOrUpdateTags",
            "DeleteTags",
            "ModifyListener",
        ] {
            assert_eq!(effect(name), Effect::Mutation, "{name}");
        }
        for name in [
            "GetParameters",
            "GetParameter",
            "DescribeAutoScalingGroups",
            "DescribeTargetHealth",
            "DescribeTargetGroups",
            "DescribeListeners",
            "GetCallerIdentity",
        ] {
            assert_eq!(effect(name), Effect::Read, "{name}");
        }
        assert!(!starts_with("Ge", "Get"));
    }

    #[test]
    fn operations_are_unique_and_labelled_by_their_service() {
        let names: BTreeSet<_> = OPERATIONS.iter().map(|o| (o.service, o.name)).collect();
        assert_eq!(names.len(), OPERATIONS.len());
        for o in OPERATIONS {
            let prefix = match o.service {
                "elbv2" => "elasticloadbalancing",
                other => other,
            };
            assert_eq!(o.action, format!("{prefix}:{}", o.name));
        }
    }
}
