//! The desired-state file (SPEC §2): typed, validated, with `defaults` merged into each runner.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cloud::sim::SimSettings;
use crate::core::RunnerSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudKind {
    Aws,
    Simulated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: String,
    pub expected_account_id: String,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    pub cloud: CloudKind,
    pub aws: Option<AwsSettings>,
    pub simulated: SimSettings,
    pub listen: SocketAddr,
    pub sync_interval: Duration,
    pub transition_interval: Duration,
}

/// A loaded, valid desired-state file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub controller: ControllerConfig,
    pub runners: Vec<RunnerSpec>,
}
