//! Each halt with its message, its runbook step and the command that resolves it. README.md's
//! runbook section says the same at length; the words here are what the log line carries.

use super::classify::ShardFacts;
use super::halt::{Halt, HaltReason};
use super::observation::RunnerObservation;
use super::shard::Shard;
use super::spec::RunnerSpec;
use super::status_record::StatusRecord;

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
        "A configured resource was deleted out of band, or the file names the wrong one. \
         Restore it with the infrastructure code that created it, or correct the name in the \
         desired-state file; the halt clears on the next observation.",
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
        "The record is never overwritten while malformed. Read it, decide which shard is really \
         active and deployed, and write a well-formed record; the halt clears on the next \
         observation.",
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
        "If the active shard is healthy and serving, mark it deployed; repair re-checks that \
         before it writes.",
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
        "Both shards are down. Restore capacity on either shard by hand (check its instances and \
         target health); once one is healthy and serving the controller goes on by itself.",
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
        "The live shard is down; no deployment starts from here. Investigate its instances and \
         target health and restore it; the halt clears once it is healthy again.",
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
        "Someone deployed this shard outside switchyard, or the record lost it. If the shard is \
         meant to be deployed, mark it deployed (repair re-checks its health); otherwise scale \
         it to zero.",
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
        "Traffic was moved by hand. Point the listener back at the active shard's target group \
         (or, if the other shard is the right one, mark it active with repair once it is healthy \
         and serving).",
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
        "Another writer touched the record (a second controller, a script, a person). Stop it, \
         read the record's history, and write the right value with repair; any later write \
         clears the halt.",
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
        "The update named something that does not exist (for example the launch template \
         version of `revision`). Correct the revision or create the version; a new desired \
         state clears the halt.",
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
        "The world changed between the decision and the step. The halt is recomputed on the next \
         observation; if it persists, read `switchyard plan` for the runner.",
        None,
    )
}
