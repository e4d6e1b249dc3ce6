//! switchyard: a reconciliation controller for zero-downtime blue/green deployments of runners.

pub mod clock;
pub mod cloud;
pub mod config;
pub mod controller;
pub mod core;
pub mod lease;
pub mod runtime;
pub mod telemetry;

pub use runtime::runtime;
