//! Faults the simulated cloud can be told to produce, so that tests and the deterministic
//! simulation harness can drive the controller through every kind of API failure.

use std::collections::BTreeMap;

/// Every request the simulated cloud makes, as (service, operation), named as AWS names them.
pub const OPERATIONS: [(&str, &str); 15] = [
    ("sts", "GetCallerIdentity"),
    ("ssm", "GetParameters"),
    ("ssm", "GetParameter"),
    ("ssm", "PutParameter"),
    ("autoscaling", "DescribeAutoScalingGroups"),
    ("autoscaling", "UpdateAutoScalingGroup"),
    ("autoscaling", "AttachLoadBalancerTargetGroups"),
    ("autoscaling", "CreateOrUpdateTags"),
    ("autoscaling", "DeleteTags"),
    ("elbv2", "DescribeTargetGroups"),
    ("elbv2", "DescribeTargetHealth"),
    ("elbv2", "DescribeListeners"),
    ("elbv2", "ModifyListener"),
    ("elbv2", "DescribeRules"),
    ("elbv2", "ModifyRule"),
];

/// Per-operation request counts: (service, operation) -> requests made, whatever their outcome.
pub type CallCounts = BTreeMap<(&'static str, &'static str), u64>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The request is refused with a throttling error and not processed.
    Throttled,
    /// A 5xx: the request is known not to have been processed.
    Transient,
    /// No answer, and the request was not processed.
    Timeout,
    /// The request is processed, then the answer is lost: the caller sees a timeout.
    LostResponse,
    /// Another writer puts `value` into the parameter just before our PutParameter, which then
    /// goes through. Only matches PutParameter.
    ConcurrentWrite { value: String },
    /// Our PutParameter goes through, then another writer puts `value` before our read-back
    /// (GetParameter) sees it. Only matches PutParameter.
    WriteAfter { value: String },
}

impl Fault {
    /// Faults that are another writer rather than a failure of the request.
    fn is_writer(&self) -> bool {
        matches!(
            self,
            Fault::ConcurrentWrite { .. } | Fault::WriteAfter { .. }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTarget {
    Any,
    Operation {
        service: &'static str,
        operation: &'static str,
    },
}

/// Applies `fault` to the next `times` requests that match `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub target: FaultTarget,
    pub fault: Fault,
    pub times: u32,
}

impl FaultRule {
    pub fn on(service: &'static str, operation: &'static str, fault: Fault) -> FaultRule {
        FaultRule {
            target: FaultTarget::Operation { service, operation },
            fault,
            times: 1,
        }
    }

    pub fn any(fault: Fault) -> FaultRule {
        FaultRule {
            target: FaultTarget::Any,
            fault,
            times: 1,
        }
    }

    pub fn times(self, times: u32) -> FaultRule {
        FaultRule { times, ..self }
    }

    fn matches(&self, service: &str, operation: &str) -> bool {
        if self.fault.is_writer() && (service, operation) != ("ssm", "PutParameter") {
            return false;
        }
        match self.target {
            FaultTarget::Any => true,
            FaultTarget::Operation {
                service: s,
                operation: o,
            } => s == service && o == operation,
        }
    }
}

/// The rules still armed, in the order they were injected; the first match wins.
#[derive(Debug, Clone, Default)]
pub(super) struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    pub fn inject(&mut self, rule: FaultRule) {
        if rule.times > 0 {
            self.rules.push(rule);
        }
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn armed(&self) -> usize {
        self.rules.len()
    }

    /// Consumes one use of the first rule matching this request.
    pub fn take(&mut self, service: &str, operation: &str) -> Option<Fault> {
        let index = self
            .rules
            .iter()
            .position(|r| r.matches(service, operation))?;
        let rule = &mut self.rules[index];
        rule.times -= 1;
        let fault = rule.fault.clone();
        if rule.times == 0 {
            self.rules.remove(index);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_fires_for_its_operation_only_and_runs_out() {
        let mut faults = Faults::default();
        faults.inject(FaultRule::on("ssm", "GetParameters", Fault::Throttled).times(2));
        assert_eq!(
            faults.take("autoscaling", "DescribeAutoScalingGroups"),
            None
        );
        assert_eq!(faults.take("ssm", "GetParameters"), Some(Fault::Throttled));
        assert_eq!(faults.take("ssm", "GetParameters"), Some(Fault::Throttled));
        assert_eq!(faults.take("ssm", "GetParameters"), None);
        assert_eq!(faults.armed(), 0);
    }

    #[test]
    fn concurrent_write_only_matches_put_parameter_and_first_rule_wins() {
        let mut faults = Faults::default();
        faults.inject(FaultRule::any(Fault::ConcurrentWrite {
            value: "{}".into(),
        }));
        faults.inject(FaultRule::any(Fault::Transient));
        assert_eq!(faults.take("ssm", "GetParameters"), Some(Fault::Transient));
        assert_eq!(
            faults.take("ssm", "PutParameter"),
            Some(Fault::ConcurrentWrite { value: "{}".into() })
        );
        assert_eq!(faults.take("ssm", "PutParameter"), None);
    }

    #[test]
    fn a_writer_after_ours_only_matches_put_parameter() {
        let mut faults = Faults::default();
        faults.inject(FaultRule::any(Fault::WriteAfter { value: "{}".into() }));
        assert_eq!(faults.take("ssm", "GetParameter"), None);
        assert_eq!(faults.take("autoscaling", "CreateOrUpdateTags"), None);
        assert_eq!(
            faults.take("ssm", "PutParameter"),
            Some(Fault::WriteAfter { value: "{}".into() })
        );
    }
}
