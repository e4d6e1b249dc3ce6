//! The fleet the benchmarks share: N converged runners on the simulated cloud, blue active.
// Each bench uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use switchyard::cloud::sim::RunnerWorld;
use switchyard::config::Config;

/// A status record with blue active and deployed.
pub const LIVE: &str =
    r#"{"active_shard":"blue","deployment_ts":"2026-01-01T00:00:00Z","deployed_shards":["blue"]}"#;

/// A desired-state file: `controller` (everything before `runners:`, ending in a newline), then
/// `runners` runners, each with its own listener, blue active.
pub fn fleet_file(controller: &str, runners: usize) -> String {
    let mut text = String::from(controller);
    text.push_str("runners:\n");
    let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012";
    for i in 0..runners {
        text.push_str(&format!(
            "  - name: runner-{i}\n    activeShard: blue\n    listenerArn: {arn}:listener/app/lb-{i}/1\n    shards:\n      blue: {{ autoScalingGroup: runner-{i}-blue, targetGroupArn: {arn}:targetgroup/runner-{i}-blue/1 }}\n      green: {{ autoScalingGroup: runner-{i}-green, targetGroupArn: {arn}:targetgroup/runner-{i}-green/2 }}\n"
        ));
    }
    text
}

/// The `controller.simulated.world` entries of runner-0 to runner-(N-1), indented to follow
/// `world:`: each with the `LIVE` record and a blue shard of `blue` (a YAML flow map's contents).
pub fn world_yaml(runners: usize, blue: &str) -> String {
    (0..runners)
        .map(|i| {
            format!(
                "      runner-{i}:\n        record: '{LIVE}'\n        shards:\n          blue: {{ {blue} }}\n"
            )
        })
        .collect()
}

/// The simulated world of `config`'s runners: each converged on blue at capacity 2.
pub fn converged_world(config: &mut Config) {
    let world: BTreeMap<String, RunnerWorld> = config
        .runners
        .iter()
        .map(|r| {
            let mut w = RunnerWorld {
                record: Some(LIVE.to_string()),
                ..RunnerWorld::default()
            };
            w.shards.blue.capacity = 2;
            (r.name.clone(), w)
        })
        .collect();
    config.controller.simulated.world = world;
}
