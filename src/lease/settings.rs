//! `controller.leaderElection` (docs/high-availability.md), as loaded and validated.

use super::machine::Timing;

pub const DEFAULT_LEASE_NAME: &str = "switchyard";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The DynamoDB table holding the lease items.
    pub table: String,
    pub region: String,
    /// A local DynamoDB-compatible endpoint (tests).
    pub endpoint_url: Option<String>,
    /// One lease per set of runners (one desired-state file).
    pub lease_name: String,
    pub timing: Timing,
    /// DynamoDB's API budget (`controller.aws.maxRequestsPerSecond.dynamodb`).
    pub max_requests_per_second: u32,
}
