//! Leader election on a DynamoDB lease (docs/high-availability.md): one writer per set of runners,
//! however many replicas run.
//!
//! - `machine`: the pure lease state machine, on the process's monotonic clock;
//! - `store`: where the lease item lives (`dynamodb`, or the simulated cloud's table);
//! - `elector`: the task that keeps the lease;
//! - `leadership`: the shared handle the gate and the loop ask;
//! - `gate`: the one check before every mutation, as a `Cloud` around the real one.

pub mod dynamodb;
mod elector;
mod gate;
mod identity;
mod item;
mod leadership;
mod machine;
#[cfg(test)]
mod machine_tests;
mod settings;
mod store;

pub use elector::Elector;
pub use gate::LeaderGate;
pub use identity::{claimant, replica_identity};
pub use item::{Claimant, LeaseItem, LeaseWrite};
pub use leadership::{
    Leadership, LeadershipObserver, MutationPermit, NoLeadershipObserver, Standing,
};
pub use machine::{LeadershipView, Machine, Mode, Plan, Refusal, Request, Timing};
pub use settings::{DEFAULT_LEASE_NAME, LeaseSettings};
pub use store::{KEY_ATTRIBUTE, LeaseStore, StoreError, create_table_command};
