//! The desired-state file (docs/configuration.md): typed, validated, with `defaults` merged into
//! each runner.

mod error;
mod leader_election;
mod parse;
#[cfg(test)]
mod parse_props;
mod raw;
mod reload;
mod resolve;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::cloud::budget::RequestRates;
use crate::cloud::sim::SimSettings;
use crate::core::RunnerSpec;
use crate::lease::LeaseSettings;

pub use error::{ConfigErrors, ConfigProblem};
pub use leader_election::{
    DEFAULT_LEASE_DURATION, DEFAULT_RENEW_INTERVAL, RENEWALS_PER_LEASE, RawLeaderElection,
};
pub use parse::{MAX_DEPTH, MAX_FILE_BYTES};
pub use raw::{DEFAULT_LISTEN, DEFAULT_STATUS_PARAMETER, RawFile};
pub use reload::{ReloadOutcome, restart_only_change, watch, watch_with_poll};

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
    /// `maxRequestsPerSecond`: the API budget per service (docs/operations.md).
    pub max_requests_per_second: RequestRates,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    pub cloud: CloudKind,
    pub aws: Option<AwsSettings>,
    pub simulated: SimSettings,
    pub listen: SocketAddr,
    pub sync_interval: Duration,
    pub transition_interval: Duration,
    /// `controller.leaderElection`; `None`: this process is the only writer.
    pub leader_election: Option<LeaseSettings>,
}

/// A loaded, valid desired-state file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub controller: ControllerConfig,
    pub runners: Vec<RunnerSpec>,
}

impl Config {
    pub fn runner(&self, name: &str) -> Option<&RunnerSpec> {
        self.runners.iter().find(|r| r.name == name)
    }
}

/// Parses and validates the text of a desired-state file; `source` only names it in errors.
pub fn parse(text: &str, source: &Path) -> Result<Config, ConfigErrors> {
    let raw = parse::parse_raw(text).map_err(|p| ConfigErrors::single(source, p))?;
    resolve::resolve(raw).map_err(|problems| ConfigErrors::new(source, problems))
}

/// Reads, parses and validates the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = read(path)?;
    parse(&text, path)
}

/// Reads at most `MAX_FILE_BYTES` + 1 bytes, so that a huge or endless file (a device, a FIFO)
/// costs no more than the limit before it is refused.
fn read(path: &Path) -> Result<String, ConfigErrors> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| {
        ConfigErrors::single(
            path,
            ConfigProblem::new("", None, format!("cannot read the file: {e}")),
        )
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ConfigErrors::single(
            path,
            ConfigProblem::new(
                "",
                None,
                format!("file is larger than the limit of {MAX_FILE_BYTES} bytes"),
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        ConfigErrors::single(
            path,
            ConfigProblem::new(
                "",
                None,
                format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            ),
        )
    })
}

/// The JSON Schema of the desired-state file (`switchyard schema`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawFile)).expect("a JSON Schema serializes to JSON")
}
