//! Where the lease item lives: a DynamoDB table, or the simulated cloud's table.

use std::future::Future;
use std::time::Duration;

use thiserror::Error;

use super::item::{Claimant, LeaseItem, LeaseWrite};

/// The key attribute of the lease table, and the command that creates the table.
pub const KEY_ATTRIBUTE: &str = "leaseName";

/// The `aws dynamodb create-table` command for the lease table, as the docs and errors give it.
pub fn create_table_command(table: &str, region: &str) -> String {
    format!(
        "aws dynamodb create-table --table-name {table} \
         --attribute-definitions AttributeName={KEY_ATTRIBUTE},AttributeType=S \
         --key-schema AttributeName={KEY_ATTRIBUTE},KeyType=HASH \
         --billing-mode PAY_PER_REQUEST --region {region}"
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The write's condition did not hold: somebody else wrote the item first.
    #[error("the lease item changed (conditional check failed)")]
    Conflict,
    /// No answer: the write may or may not have landed.
    #[error("DynamoDB {operation} on the lease table timed out; its outcome is unknown")]
    Unknown { operation: &'static str },
    /// Throttled, a 5xx or a connection never made: known not to have been applied.
    #[error("DynamoDB {operation} on the lease table failed transiently: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
    #[error(
        "the lease table {table} does not exist in region {region} (DynamoDB {operation}: \
         {message}); create it with:\n  {}",
        create_table_command(table, region)
    )]
    TableMissing {
        table: String,
        region: String,
        operation: &'static str,
        message: String,
    },
    #[error(
        "DynamoDB {operation} on the lease table {table} in region {region} was denied \
         ({message}): the controller's role needs dynamodb:GetItem, dynamodb:PutItem and \
         dynamodb:UpdateItem on that table (see iam/policy.json); if the table does not exist \
         yet, create it with:\n  {}",
        create_table_command(table, region)
    )]
    Denied {
        table: String,
        region: String,
        operation: &'static str,
        message: String,
    },
    #[error("DynamoDB {operation} on the lease table {table} in region {region} failed: {message}")]
    Failed {
        table: String,
        region: String,
        operation: &'static str,
        message: String,
    },
}

impl StoreError {
    /// Needs a person (a missing table, a missing permission): retrying alone will not help.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            StoreError::TableMissing { .. } | StoreError::Denied { .. }
        )
    }
}

/// One lease table. `lease_duration` is written into the item with every acquire and renew.
pub trait LeaseStore: Send + Sync + 'static {
    /// A strongly consistent read of the item; `None` when it does not exist.
    fn read(
        &self,
        lease: &str,
    ) -> impl Future<Output = Result<Option<LeaseItem>, StoreError>> + Send;

    /// One conditional write (see `LeaseWrite::apply` for its condition and effect); the item
    /// as the write left it.
    fn write(
        &self,
        lease: &str,
        me: &Claimant,
        lease_duration: Duration,
        write: &LeaseWrite,
    ) -> impl Future<Output = Result<LeaseItem, StoreError>> + Send;
}
