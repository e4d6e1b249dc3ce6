//! `RawFile` to `Config`: defaults merged into each runner, then every rule of
//! docs/configuration.md checked, collecting all problems rather than stopping at the first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::error::ConfigProblem;
use super::raw::{
    DEFAULT_LISTEN, DEFAULT_STATUS_PARAMETER, DEFAULT_SYNC_INTERVAL, DEFAULT_TRANSITION_INTERVAL,
    HumanDuration, RawAws, RawCloud, RawController, RawFile, RawRequestRates, RawRunner,
};
use super::{AwsSettings, CloudKind, Config, ControllerConfig};
use crate::cloud::budget::{MAX_RATE, RequestRates};
use crate::core::{Listener, RunnerSettings, RunnerSpec, ShardPair, ShardSpec};

pub const MAX_NAME_LEN: usize = 63;

fn line_of<T>(s: &Spanned<T>) -> Option<usize> {
    let line = s.referenced.line() as usize;
    (line > 0).then_some(line)
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn at<T>(
        &mut self,
        path: impl Into<String>,
        span: Option<&Spanned<T>>,
        message: impl Into<String>,
    ) {
        self.0
            .push(ConfigProblem::new(path, span.and_then(line_of), message));
    }
}

pub fn resolve(raw: RawFile) -> Result<Config, Vec<ConfigProblem>> {
    let mut problems = Problems::default();
    let controller = resolve_controller(&raw.controller, &mut problems);
    let base = raw.defaults.base_settings();
    let template = raw
        .defaults
        .status_parameter
        .as_ref()
        .map_or(DEFAULT_STATUS_PARAMETER, |s| s.value.as_str());
    check_settings(
        "defaults",
        raw.defaults.set_keys(),
        &base,
        &controller,
        &mut problems,
    );
    check_status_template(
        "defaults.statusParameter",
        raw.defaults.status_parameter.as_ref(),
        template,
        &mut problems,
    );

    let expected_account_id = match controller.cloud {
        CloudKind::Aws => controller
            .aws
            .as_ref()
            .map(|a| a.expected_account_id.clone()),
        CloudKind::Simulated => None,
    };
    let mut runners = Vec::with_capacity(raw.runners.len());
    for (i, r) in raw.runners.iter().enumerate() {
        runners.push(resolve_runner(
            i,
            r,
            &base,
            template,
            &controller,
            expected_account_id.clone(),
            &mut problems,
        ));
    }
    check_unique(&raw.runners, &runners, &mut problems);

    if problems.0.is_empty() {
        Ok(Config {
            controller,
            runners,
        })
    } else {
        problems.0.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        Err(problems.0)
    }
}

fn resolve_controller(raw: &RawController, problems: &mut Problems) -> ControllerConfig {
    let cloud = match raw.cloud.value {
        RawCloud::Aws => CloudKind::Aws,
        RawCloud::Simulated => CloudKind::Simulated,
    };
    let aws = raw.aws.as_ref().map(|a| resolve_aws(a, problems));
    if cloud == CloudKind::Aws && aws.is_none() {
        problems.at(
            "controller.aws",
            Some(&raw.cloud),
            "required with `cloud: aws` (region and expectedAccountId)",
        );
    }
    let listen = match &raw.listen {
        None => DEFAULT_LISTEN
            .parse()
            .expect("the default listen address is valid"),
        Some(text) => text.value.trim().parse::<SocketAddr>().unwrap_or_else(|e| {
            problems.at(
                "controller.listen",
                Some(text),
                format!(
                    "{:?} is not a socket address such as 127.0.0.1:9254: {e}",
                    text.value
                ),
            );
            DEFAULT_LISTEN
                .parse()
                .expect("the default listen address is valid")
        }),
    };
    let sync_interval = interval(
        "controller.syncInterval",
        &raw.sync_interval,
        DEFAULT_SYNC_INTERVAL,
        problems,
    );
    let transition_interval = interval(
        "controller.transitionInterval",
        &raw.transition_interval,
        DEFAULT_TRANSITION_INTERVAL,
        problems,
    );
    let leader_election = raw
        .leader_election
        .as_ref()
        .and_then(|le| super::leader_election::resolve(le, cloud, aws.as_ref(), &mut problems.0));
    ControllerConfig {
        cloud,
        aws,
        simulated: raw.simulated.clone(),
        listen,
        sync_interval,
        transition_interval,
        leader_election,
    }
}

// A zero interval would turn the observation loop into a busy loop against the AWS APIs.
fn interval(
    path: &str,
    raw: &Option<Spanned<HumanDuration>>,
    default: Duration,
    problems: &mut Problems,
) -> Duration {
    match raw {
        None => default,
        Some(d) if d.value.0.is_zero() => {
            problems.at(path, Some(d), "must be longer than zero");
            default
        }
        Some(d) => d.value.0,
    }
}

fn resolve_aws(raw: &RawAws, problems: &mut Problems) -> AwsSettings {
    let region = raw.region.value.trim();
    if region.is_empty() {
        problems.at(
            "controller.aws.region",
            Some(&raw.region),
            "must not be empty",
        );
    }
    let account = &raw.expected_account_id.value;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        problems.at(
            "controller.aws.expectedAccountId",
            Some(&raw.expected_account_id),
            format!("{account:?} is not an AWS account id: it must be exactly 12 digits (quote it to keep leading zeros)"),
        );
    }
    let endpoint_url = raw.endpoint_url.as_ref().map(|url| {
        let text = url.value.trim();
        if !(text.starts_with("http://") || text.starts_with("https://"))
            || text.len() <= "https://".len()
        {
            problems.at(
                "controller.aws.endpointUrl",
                Some(url),
                format!("{text:?} is not an http:// or https:// URL"),
            );
        }
        text.to_owned()
    });
    AwsSettings {
        region: region.to_owned(),
        expected_account_id: account.clone(),
        endpoint_url,
        max_requests_per_second: request_rates(&raw.max_requests_per_second, problems),
    }
}

fn request_rates(raw: &RawRequestRates, problems: &mut Problems) -> RequestRates {
    let mut rates = RequestRates::default();
    for (key, slot, value) in [
        ("ssm", &mut rates.ssm, &raw.ssm),
        ("autoscaling", &mut rates.autoscaling, &raw.autoscaling),
        ("elbv2", &mut rates.elbv2, &raw.elbv2),
        ("sts", &mut rates.sts, &raw.sts),
        ("dynamodb", &mut rates.dynamodb, &raw.dynamodb),
    ] {
        let Some(v) = value else { continue };
        if (1..=MAX_RATE).contains(&v.value) {
            *slot = v.value;
        } else {
            problems.at(
                format!("controller.aws.maxRequestsPerSecond.{key}"),
                Some(v),
                format!(
                    "{} is out of range: requests per second must be between 1 and {MAX_RATE}",
                    v.value
                ),
            );
        }
    }
    rates
}

/// The keys of `defaults` that a section (`defaults` itself or one runner) sets explicitly.
pub struct SetKeys<'a> {
    pub capacity: Option<&'a Spanned<u32>>,
    pub min_healthy_percent: Option<&'a Spanned<u32>>,
    pub health_check_grace_period: Option<&'a Spanned<HumanDuration>>,
    pub stability_duration: Option<&'a Spanned<HumanDuration>>,
    pub progress_deadline: Option<&'a Spanned<HumanDuration>>,
}

/// Checks on the merged settings of `defaults` (at = "defaults") or of one runner. A runner is
/// only blamed for what its own keys change, so that one bad default is reported once, at
/// `defaults`, and not again for every runner that inherits it.
fn check_settings(
    at: &str,
    keys: SetKeys<'_>,
    s: &RunnerSettings,
    controller: &ControllerConfig,
    problems: &mut Problems,
) {
    let is_defaults = at == "defaults";
    if let Some(c) = keys.capacity
        && c.value < 1
    {
        problems.at(format!("{at}.capacity"), Some(c), "must be at least 1");
    }
    if let Some(p) = keys.min_healthy_percent
        && !(1..=100).contains(&p.value)
    {
        problems.at(
            format!("{at}.minHealthyPercent"),
            Some(p),
            format!("{} is not between 1 and 100", p.value),
        );
    }
    let floor = controller.transition_interval * 2;
    if (is_defaults || keys.stability_duration.is_some()) && s.stability_duration < floor {
        problems.at(
            format!("{at}.stabilityDuration"),
            keys.stability_duration,
            format!(
                "{} is shorter than twice controller.transitionInterval ({}): a shard could look \
                 stable on a single observation",
                humantime::format_duration(s.stability_duration),
                humantime::format_duration(floor),
            ),
        );
    }
    // A deadline that cannot fit the grace period plus one stability window fails every
    // deployment; better to say so now than after the first rollback.
    let minimum = s.health_check_grace_period + s.stability_duration;
    let blamed = keys
        .progress_deadline
        .or(keys.stability_duration)
        .or(keys.health_check_grace_period);
    if (is_defaults || blamed.is_some()) && s.progress_deadline < minimum {
        problems.at(
            format!("{at}.progressDeadline"),
            blamed,
            format!(
                "{} is shorter than healthCheckGracePeriod + stabilityDuration ({}): every \
                 deployment would fail",
                humantime::format_duration(s.progress_deadline),
                humantime::format_duration(minimum),
            ),
        );
    }
}

fn check_status_template(
    path: &str,
    span: Option<&Spanned<String>>,
    template: &str,
    problems: &mut Problems,
) {
    if span.is_none() {
        return;
    }
    if template.trim().is_empty() {
        problems.at(path, span, "must not be empty");
    } else if template.chars().any(char::is_whitespace) {
        problems.at(
            path,
            span,
            format!("{template:?} is not an SSM parameter name: it contains whitespace"),
        );
    }
}

fn resolve_runner(
    i: usize,
    raw: &RawRunner,
    base: &RunnerSettings,
    default_template: &str,
    controller: &ControllerConfig,
    expected_account_id: Option<String>,
    problems: &mut Problems,
) -> RunnerSpec {
    let at = format!("runners[{i}]");
    let name = raw.name.value.clone();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        problems.at(
            format!("{at}.name"),
            Some(&raw.name),
            format!("{name:?} must be 1 to {MAX_NAME_LEN} characters long"),
        );
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        problems.at(
            format!("{at}.name"),
            Some(&raw.name),
            format!(
                "{name:?} contains {bad:?}: only lowercase letters, digits and '-' are allowed"
            ),
        );
    }
    let settings = raw.settings(base);
    check_settings(&at, raw.set_keys(), &settings, controller, problems);
    let template = raw
        .status_parameter
        .as_ref()
        .map_or(default_template, |s| s.value.as_str());
    check_status_template(
        &format!("{at}.statusParameter"),
        raw.status_parameter.as_ref(),
        template,
        problems,
    );

    let listener = resolve_listener(&at, raw, problems);
    let shards = &raw.shards;
    for (shard, s) in [("blue", &shards.blue), ("green", &shards.green)] {
        if s.auto_scaling_group.value.trim().is_empty() {
            problems.at(
                format!("{at}.shards.{shard}.autoScalingGroup"),
                Some(&s.auto_scaling_group),
                "must not be empty",
            );
        }
        if s.target_group_arn.value.trim().is_empty() {
            problems.at(
                format!("{at}.shards.{shard}.targetGroupArn"),
                Some(&s.target_group_arn),
                "must not be empty",
            );
        }
    }
    if shards.blue.auto_scaling_group.value == shards.green.auto_scaling_group.value {
        problems.at(
            format!("{at}.shards.green.autoScalingGroup"),
            Some(&shards.green.auto_scaling_group),
            format!(
                "{:?} is also the blue shard's: the two shards must use different Auto Scaling groups",
                shards.green.auto_scaling_group.value
            ),
        );
    }
    if shards.blue.target_group_arn.value == shards.green.target_group_arn.value {
        problems.at(
            format!("{at}.shards.green.targetGroupArn"),
            Some(&shards.green.target_group_arn),
            format!(
                "{:?} is also the blue shard's: the two shards must use different target groups",
                shards.green.target_group_arn.value
            ),
        );
    }
    let revision = raw.revision.as_ref().map(|r| r.value.0.trim().to_owned());
    if let Some(r) = &raw.revision
        && r.value.0.trim().is_empty()
    {
        problems.at(
            format!("{at}.revision"),
            Some(r),
            "must not be empty when given",
        );
    }

    RunnerSpec {
        name: name.clone(),
        active_shard: raw.active_shard,
        revision,
        paused: raw.paused,
        listener,
        shards: ShardPair {
            blue: shard_spec(&shards.blue),
            green: shard_spec(&shards.green),
        },
        settings,
        status_parameter: template.replace("{runner}", &name),
        expected_account_id,
    }
}

/// `listenerArn` or `listenerRuleArn`, exactly one. An ARN of the other kind under either key is
/// caught here: a rule's ARN given as `listenerArn` would otherwise surface only as a
/// `ResourceMissing` halt at run time.
fn resolve_listener(at: &str, raw: &RawRunner, problems: &mut Problems) -> Listener {
    const LISTENER_ARN: &str = "listenerArn";
    const RULE_ARN: &str = "listenerRuleArn";
    match (&raw.listener_arn, &raw.listener_rule_arn) {
        (Some(_), Some(rule)) => {
            problems.at(
                format!("{at}.{RULE_ARN}"),
                Some(rule),
                format!("{LISTENER_ARN} is set as well: give exactly one of {LISTENER_ARN} and {RULE_ARN}"),
            );
            Listener::Rule(rule.value.trim().to_owned())
        }
        (None, None) => {
            problems.at(
                at.to_owned(),
                Some(&raw.name),
                format!("needs exactly one of {LISTENER_ARN} (a listener's default action) and {RULE_ARN} (a listener rule)"),
            );
            Listener::Default(String::new())
        }
        (Some(arn), None) => {
            let value = arn.value.trim();
            if value.is_empty() {
                problems.at(
                    format!("{at}.{LISTENER_ARN}"),
                    Some(arn),
                    "must not be empty",
                );
            } else if value.contains(":listener-rule/") {
                problems.at(
                    format!("{at}.{LISTENER_ARN}"),
                    Some(arn),
                    format!("{value:?} is a listener rule's ARN: give it as {RULE_ARN}"),
                );
            }
            Listener::Default(value.to_owned())
        }
        (None, Some(rule)) => {
            let value = rule.value.trim();
            if value.is_empty() {
                problems.at(format!("{at}.{RULE_ARN}"), Some(rule), "must not be empty");
            } else if value.contains(":listener/") {
                problems.at(
                    format!("{at}.{RULE_ARN}"),
                    Some(rule),
                    format!(
                        "{value:?} is a listener's ARN, not a rule's: give it as {LISTENER_ARN}"
                    ),
                );
            }
            Listener::Rule(value.to_owned())
        }
    }
}

fn shard_spec(raw: &super::raw::RawShard) -> ShardSpec {
    ShardSpec {
        auto_scaling_group: raw.auto_scaling_group.value.trim().to_owned(),
        target_group_arn: raw.target_group_arn.value.trim().to_owned(),
    }
}

/// Names, and everything a runner mutates, must belong to one runner only: two runners sharing an
/// ASG, a TG or a status record would undo each other's deployments.
fn check_unique(raw: &[RawRunner], specs: &[RunnerSpec], problems: &mut Problems) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut asgs: HashMap<&str, String> = HashMap::new();
    let mut tgs: HashMap<&str, String> = HashMap::new();
    let mut params: HashMap<&str, usize> = HashMap::new();
    for (i, (r, spec)) in raw.iter().zip(specs).enumerate() {
        if let Some(first) = names.insert(&spec.name, i) {
            names.insert(&spec.name, first);
            problems.at(
                format!("runners[{i}].name"),
                Some(&r.name),
                format!("{:?} is already the name of runners[{first}]", spec.name),
            );
        }
        for (shard, s, rs) in [
            ("blue", &spec.shards.blue, &r.shards.blue),
            ("green", &spec.shards.green, &r.shards.green),
        ] {
            let key = format!("runners[{i}].shards.{shard}");
            if let Some(owner) = asgs.get(s.auto_scaling_group.as_str()) {
                if !owner.starts_with(&format!("runners[{i}].")) {
                    problems.at(
                        format!("{key}.autoScalingGroup"),
                        Some(&rs.auto_scaling_group),
                        format!("{:?} is already used by {owner}", s.auto_scaling_group),
                    );
                }
            } else {
                asgs.insert(&s.auto_scaling_group, key.clone());
            }
            if let Some(owner) = tgs.get(s.target_group_arn.as_str()) {
                if !owner.starts_with(&format!("runners[{i}].")) {
                    problems.at(
                        format!("{key}.targetGroupArn"),
                        Some(&rs.target_group_arn),
                        format!("{:?} is already used by {owner}", s.target_group_arn),
                    );
                }
            } else {
                tgs.insert(&s.target_group_arn, key);
            }
        }
        if let Some(first) = params.get(spec.status_parameter.as_str()) {
            problems.at(
                format!("runners[{i}].statusParameter"),
                r.status_parameter.as_ref().or(Some(&r.name)),
                format!(
                    "{:?} is already the status record of runners[{first}]; put {{runner}} in the template",
                    spec.status_parameter
                ),
            );
        } else {
            params.insert(&spec.status_parameter, i);
        }
    }
}
