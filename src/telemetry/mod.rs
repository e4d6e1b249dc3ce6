//! What the controller tells the outside world: Prometheus metrics, the status board behind
//! `/api/v1/status`, liveness and readiness, the HTTP server that serves them, the client that
//! reads them back, and the log subscriber.

mod client;
mod decision_gauges;
mod exposition;
mod health;
mod leadership;
mod logging;
mod metrics;
mod server;
mod status;

#[cfg(test)]
mod tests;

pub use client::{FetchError, fetch_status};
pub use exposition::{
    OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, openmetrics_to_text, wants_openmetrics,
};
pub use health::{Health, MISSED_TICKS, Role};
pub use leadership::LeadershipPublisher;
pub use logging::{LogFormat, init_logging};
pub use metrics::{DEPLOYMENT_OUTCOMES, Metrics, ReconcileTimer};
pub use server::serve;
pub use status::{
    ConditionStatus, ConditionValue, EVENTS_PER_RUNNER, Event, EventType, HaltStatus,
    LeadershipStatus, RunnerStatus, ShardStatus, StatusBoard, StatusDocument, class_name,
};
