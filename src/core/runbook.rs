//! Each halt with its message, its runbook step and the command that resolves it. docs/runbook.md
//! says the same at length, and carries each step below word for word (tests/runbook_docs.rs).

use super::classify::ShardFacts;
use super::halt::{Halt, HaltReason};
use super::observation::RunnerObservation;
use super::shard::Shard;
use super::spec::RunnerSpec;
use super::status_record::StatusRecord;

/// The runbook step of each halt, word for word as docs/runbook.md gives it under the halt's
/// reason (tests/runbook_docs.rs holds the two together): the one place this text lives.
pub mod steps {
    /// `ResourceMissing`, seen in an observation.
    pub const RESOURCE_MISSING: &str = "A configured resource was deleted out of band, or the file names the wrong one. \
         Restore it with the infrastructure code that created it, or correct the name in the \
         desired-state file; the halt clears on the next observation.";

    /// `StatusRecordMalformed`.
    pub const RECORD_MALFORMED: &str = "The record is never overwritten while malformed. Read it, decide which shard is really \
         active and deployed, and write a well-formed record; the halt clears on the next \
         observation.";

    /// `StatusRecordInconsistent`.
    pub const RECORD_INCONSISTENT: &str = "If the active shard is healthy and serving, mark it deployed; repair re-checks that \
         before it writes.";

    /// `RollbackImpossible`.
    pub const ROLLBACK_IMPOSSIBLE: &str = "Both shards are down. Restore capacity on either shard by hand (check its instances \
         and target health); once one is healthy and serving the controller goes on by itself.";

    /// `ActiveShardUnhealthy`.
    pub const ACTIVE_UNHEALTHY: &str = "The live shard is down; no deployment starts from here. Investigate its instances and \
         target health and restore it; the halt clears once it is healthy again.";

    /// `InactiveShardHealthyNotDeployed`.
    pub const INACTIVE_HEALTHY_NOT_DEPLOYED: &str = "Someone deployed this shard outside switchyard, or the record lost it. If the shard is \
         meant to be deployed, mark it deployed (repair re-checks its health); otherwise scale \
         it to zero.";

    /// `TrafficMismatch`.
    pub const TRAFFIC_MISMATCH: &str = "Traffic was moved by hand. Point the listener back at the active shard's target group \
         (or, if the other shard is the right one, mark it active with repair once it is \
         healthy and serving).";

    /// `ConcurrentModification`.
    pub const CONCURRENT_MODIFICATION: &str = "Another writer touched the record (a second controller, a script, a person). Stop it, \
         read the record's history, and write the right value with repair; any later write \
         clears the halt.";

    /// `ResourceMissing`, learnt from an update's error.
    pub const UPDATE_RESOURCE_MISSING: &str = "The update named something that does not exist (for example the launch template \
         version of `revision`). Correct the revision or create the version; a new desired \
         state clears the halt.";

    /// `InvariantRefused`.
    pub const INVARIANT_REFUSED: &str = "The world changed between the decision and the step. The halt is recomputed on the \
         next observation; if it persists, read `switchyard plan` for the runner.";
}

/// Every runbook step with the reason it belongs to, for the check against docs/runbook.md.
pub const STEPS: [(HaltReason, &str); 10] = [
    (HaltReason::ResourceMissing, steps::RESOURCE_MISSING),
    (HaltReason::StatusRecordMalformed, steps::RECORD_MALFORMED),
    (
        HaltReason::StatusRecordInconsistent,
        steps::RECORD_INCONSISTENT,
    ),
    (HaltReason::RollbackImpossible, steps::ROLLBACK_IMPOSSIBLE),
    (HaltReason::ActiveShardUnhealthy, steps::ACTIVE_UNHEALTHY),
    (
        HaltReason::InactiveShardHealthyNotDeployed,
        steps::INACTIVE_HEALTHY_NOT_DEPLOYED,
    ),
    (HaltReason::TrafficMismatch, steps::TRAFFIC_MISMATCH),
    (
        HaltReason::ConcurrentModification,
        steps::CONCURRENT_MODIFICATION,
    ),
    (HaltReason::ResourceMissing, steps::UPDATE_RESOURCE_MISSING),
    (HaltReason::InvariantRefused, steps::INVARIANT_REFUSED),
];

fn halt(reason: HaltReason, message: String, runbook: &str, repair: Option<String>) -> Halt {
    Halt {
        reason,
        message,
        runbook: runbook.to_string(),
        repair,
    }
}

fn mark_deployed(spec: &RunnerSpec, shard: Shard, active: bool) -> String {
    format!(
        "switchyard repair mark-deployed --runner {} --shard {shard}{}",
        spec.name,
        if active { " --active" } else { "" }
    )
}

pub fn resource_missing(spec: &RunnerSpec, what: &str) -> Halt {
    halt(
        HaltReason::ResourceMissing,
        format!("runner {}: {what} does not exist", spec.name),
        steps::RESOURCE_MISSING,
        None,
    )
}

pub fn record_malformed(spec: &RunnerSpec, obs: &RunnerObservation, error: &str) -> Halt {
    let _ = obs;
    halt(
        HaltReason::StatusRecordMalformed,
        format!(
            "runner {}: status record {} is malformed: {error}",
            spec.name, spec.status_parameter
        ),
        steps::RECORD_MALFORMED,
        Some(format!(
            "aws ssm get-parameter --name {p} && aws ssm put-parameter --name {p} --type String \
             --overwrite --value '{{\"active_shard\":\"<shard>\",\"deployment_ts\":\"<now>\",\"deployed_shards\":[\"<shard>\"]}}'",
            p = spec.status_parameter
        )),
    )
}

pub fn record_inconsistent(spec: &RunnerSpec, active: Shard) -> Halt {
    halt(
        HaltReason::StatusRecordInconsistent,
        format!(
            "runner {}: status record {} names {active} active but not deployed",
            spec.name, spec.status_parameter
        ),
        steps::RECORD_INCONSISTENT,
        Some(mark_deployed(spec, active, true)),
    )
}

pub fn rollback_impossible(spec: &RunnerSpec, new: Shard, old: Shard) -> Halt {
    halt(
        HaltReason::RollbackImpossible,
        format!(
            "runner {}: traffic must go back from {new} (its attempt failed, or was abandoned, \
             after traffic moved to it) to {old}, the recorded active shard, which is no longer \
             healthy: there is no healthy shard to switch back to",
            spec.name
        ),
        steps::ROLLBACK_IMPOSSIBLE,
        Some(format!(
            "aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names {} {}",
            spec.shards[old].auto_scaling_group, spec.shards[new].auto_scaling_group
        )),
    )
}

pub fn active_unhealthy(spec: &RunnerSpec, active: Shard, facts: &ShardFacts) -> Halt {
    halt(
        HaltReason::ActiveShardUnhealthy,
        format!(
            "runner {}: active shard {active} is unhealthy ({} of {} required healthy targets, \
             desired capacity {})",
            spec.name, facts.healthy_targets, facts.required, facts.desired_capacity
        ),
        steps::ACTIVE_UNHEALTHY,
        Some(format!(
            "aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names {} && aws elbv2 describe-target-health --target-group-arn {}",
            spec.shards[active].auto_scaling_group, spec.shards[active].target_group_arn
        )),
    )
}

pub fn inactive_healthy_not_deployed(
    spec: &RunnerSpec,
    shard: Shard,
    facts: &ShardFacts,
    record: &StatusRecord,
) -> Halt {
    let active = facts.serving && record.active_shard.is_none();
    halt(
        HaltReason::InactiveShardHealthyNotDeployed,
        format!(
            "runner {}: Inactive shard appears healthy, aborting to avoid unsafe deploy: {shard} \
             has {} healthy targets but is not in deployed_shards and is not switchyard's own \
             in-flight provision",
            spec.name, facts.healthy_targets
        ),
        steps::INACTIVE_HEALTHY_NOT_DEPLOYED,
        Some(format!(
            "{}   (or, if it should not run: aws autoscaling update-auto-scaling-group --auto-scaling-group-name {} --min-size 0 --desired-capacity 0)",
            mark_deployed(spec, shard, active),
            spec.shards[shard].auto_scaling_group
        )),
    )
}

pub fn traffic_mismatch(spec: &RunnerSpec, active: Shard, forward_to: &[String]) -> Halt {
    halt(
        HaltReason::TrafficMismatch,
        format!(
            "runner {}: the record names {active} active, but listener {} forwards to [{}] \
             instead of only {}",
            spec.name,
            spec.listener_arn,
            forward_to.join(", "),
            spec.shards[active].target_group_arn
        ),
        steps::TRAFFIC_MISMATCH,
        Some(format!(
            "aws elbv2 modify-listener --listener-arn {} --default-actions Type=forward,TargetGroupArn={}",
            spec.listener_arn, spec.shards[active].target_group_arn
        )),
    )
}

pub fn concurrent_modification(spec: &RunnerSpec, detail: &str) -> Halt {
    halt(
        HaltReason::ConcurrentModification,
        format!(
            "runner {}: status record {} was changed by someone else: {detail}",
            spec.name, spec.status_parameter
        ),
        steps::CONCURRENT_MODIFICATION,
        Some(format!(
            "aws ssm get-parameter-history --name {}",
            spec.status_parameter
        )),
    )
}

pub fn update_resource_missing(spec: &RunnerSpec, detail: &str) -> Halt {
    halt(
        HaltReason::ResourceMissing,
        format!("runner {}: {detail}", spec.name),
        steps::UPDATE_RESOURCE_MISSING,
        None,
    )
}

pub fn invariant_refused(spec: &RunnerSpec, detail: &str) -> Halt {
    halt(
        HaltReason::InvariantRefused,
        format!(
            "runner {}: a step was refused by the safety guard: {detail}",
            spec.name
        ),
        steps::INVARIANT_REFUSED,
        None,
    )
}
