//! DynamoDB lease tables in the simulated world (docs/high-availability.md), so that the
//! deterministic simulation can run several controllers against one world. The same conditional
//! writes as the DynamoDB adapter (`LeaseWrite::apply` is the one definition of both), counted and
//! faulted like every other request (operations `dynamodb` `GetItem`, `PutItem`, `UpdateItem`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::SimCloud;
use crate::cloud::CloudError;
use crate::lease::{Claimant, LeaseItem, LeaseStore, LeaseWrite, StoreError};

/// Every request a simulated lease table serves, as (service, operation). Kept apart from
/// `OPERATIONS`: a world without leader election never makes them.
pub const LEASE_OPERATIONS: [(&str, &str); 3] = [
    ("dynamodb", "GetItem"),
    ("dynamodb", "PutItem"),
    ("dynamodb", "UpdateItem"),
];

/// Table name -> lease name -> item.
pub(super) type LeaseTables = BTreeMap<String, BTreeMap<String, LeaseItem>>;

const REGION: &str = "simulated";

impl SimCloud {
    /// Creates an empty lease table (as `aws dynamodb create-table` would); one that exists
    /// is left as it is.
    pub fn create_lease_table(&self, table: &str) {
        self.lease_tables().entry(table.to_owned()).or_default();
    }

    /// The lease table `table` as a `LeaseStore` (it need not exist: calls then fail as
    /// DynamoDB's do).
    pub fn lease_store(&self, table: &str) -> SimLeaseStore {
        SimLeaseStore {
            sim: self.clone(),
            table: table.to_owned(),
        }
    }

    /// The lease item as it is now, for checkers.
    pub fn lease(&self, table: &str, lease: &str) -> Option<LeaseItem> {
        self.lease_tables()
            .get(table)
            .and_then(|t| t.get(lease))
            .cloned()
    }

    /// An out-of-band edit of the lease item (an operator deleting it, say).
    pub fn set_lease(&self, table: &str, lease: &str, item: Option<LeaseItem>) {
        let mut tables = self.lease_tables();
        let Some(t) = tables.get_mut(table) else {
            return;
        };
        match item {
            Some(item) => t.insert(lease.to_owned(), item),
            None => t.remove(lease),
        };
    }
}

#[derive(Clone)]
pub struct SimLeaseStore {
    sim: SimCloud,
    table: String,
}

impl std::fmt::Debug for SimLeaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimLeaseStore")
            .field("table", &self.table)
            .finish()
    }
}

impl SimLeaseStore {
    fn missing(&self, operation: &'static str) -> StoreError {
        StoreError::TableMissing {
            table: self.table.clone(),
            region: REGION.to_owned(),
            operation,
            message: "ResourceNotFoundException: Requested resource not found".to_owned(),
        }
    }

    /// One request against the table: faults first (they may keep it from being applied, or
    /// lose its answer after it was), then `f` on the table.
    fn request<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut BTreeMap<String, LeaseItem>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut outcome = None;
        let sent = self.sim.requests(|w, log, _| {
            w.request(log, "dynamodb", operation, |_, _| {
                let mut tables = self.sim.lease_tables();
                let result = match tables.get_mut(&self.table) {
                    Some(table) => f(table),
                    None => Err(self.missing(operation)),
                };
                outcome = Some(result);
                Ok(())
            })
        });
        match sent {
            Ok(()) => outcome.unwrap_or(Err(StoreError::Unknown { operation })),
            Err(CloudError::Timeout { .. }) => Err(StoreError::Unknown { operation }),
            Err(CloudError::Throttled { message, .. }) => Err(StoreError::Unavailable {
                operation,
                message: format!("throttled: {message}"),
            }),
            Err(e) => Err(StoreError::Unavailable {
                operation,
                message: e.to_string(),
            }),
        }
    }
}

impl LeaseStore for SimLeaseStore {
    async fn read(&self, lease: &str) -> Result<Option<LeaseItem>, StoreError> {
        self.request("GetItem", |table| Ok(table.get(lease).cloned()))
    }

    async fn write(
        &self,
        lease: &str,
        me: &Claimant,
        lease_duration: Duration,
        write: &LeaseWrite,
    ) -> Result<LeaseItem, StoreError> {
        self.request(write.operation(), |table| {
            let after = write
                .apply(table.get(lease), me, lease_duration)
                .ok_or(StoreError::Conflict)?;
            table.insert(lease.to_owned(), after.clone());
            Ok(after)
        })
    }
}
