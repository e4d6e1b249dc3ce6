//! The API budget (docs/operations.md, "The API budget"): a token bucket per AWS service that
//! every outgoing request waits on, so that a large fleet, or switchyard sharing an account with
//! other tools, waits its turn instead of being throttled. A deployment step (its fresh
//! observation and its mutation) goes ahead of sweeps: while a step waits for a service, no sweep
//! takes that service's tokens.
//!
//! The buckets run on tokio's clock: real time in the daemon, paused time in tests and the
//! benchmark, so that waiting for a token never sleeps for real there.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Notify;

use super::{Detail, RequestObserver};

/// `controller.aws.maxRequestsPerSecond` by default: below AWS's default quotas, leaving room for
/// the other tools of the account (docs/configuration.md gives the quota behind each).
pub const DEFAULT_SSM: u32 = 30;
pub const DEFAULT_AUTOSCALING: u32 = 8;
pub const DEFAULT_ELBV2: u32 = 8;
pub const DEFAULT_STS: u32 = 10;
pub const DEFAULT_DYNAMODB: u32 = 10;
/// The most a budget may allow: AWS's raised quotas (SSM's higher throughput) stay below it.
pub const MAX_RATE: u32 = 10_000;

/// Requests per second per service: the `service` label of the request metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRates {
    pub ssm: u32,
    pub autoscaling: u32,
    pub elbv2: u32,
    pub sts: u32,
    pub dynamodb: u32,
}

impl Default for RequestRates {
    fn default() -> Self {
        RequestRates {
            ssm: DEFAULT_SSM,
            autoscaling: DEFAULT_AUTOSCALING,
            elbv2: DEFAULT_ELBV2,
            sts: DEFAULT_STS,
            dynamodb: DEFAULT_DYNAMODB,
        }
    }
}

impl RequestRates {
    pub fn services(&self) -> [(&'static str, u32); 5] {
        [
            ("ssm", self.ssm),
            ("autoscaling", self.autoscaling),
            ("elbv2", self.elbv2),
            ("sts", self.sts),
            ("dynamodb", self.dynamodb),
        ]
    }
}

/// Which requests go first when a service's budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// A deployment step: mutations, the fresh observation right before one, and the account
    /// check that guards them.
    Step,
    /// Batched observations of the fleet, at rest or mid-deployment.
    Sweep,
}

impl Priority {
    pub const ALL: [Priority; 2] = [Priority::Step, Priority::Sweep];

    /// The `priority` label of the budget metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Step => "step",
            Priority::Sweep => "sweep",
        }
    }

    /// The priority of an observation's reads.
    pub fn of(detail: Detail) -> Priority {
        match detail {
            Detail::Fresh => Priority::Step,
            Detail::Light | Detail::Full => Priority::Sweep,
        }
    }

    /// The priority of the requests made inside `work`: the cloud sets it once per observation
    /// instead of threading it through every call.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        PRIORITY.scope(self, work).await
    }

    /// The priority set by the innermost [`Priority::scope`]; a step outside any (mutations,
    /// the account check).
    pub fn current() -> Priority {
        PRIORITY.try_with(|p| *p).unwrap_or(Priority::Step)
    }
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// tokio's clock as governor sees it: the time since the budget was made.
#[derive(Debug, Clone)]
struct TokioTime {
    start: tokio::time::Instant,
}

impl GovernorClock for TokioTime {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, TokioTime, NoOpMiddleware<Duration>>;

struct ServiceBudget {
    service: &'static str,
    bucket: Bucket,
    clock: TokioTime,
    /// Steps waiting for a token; sweeps take none while this is above zero.
    steps_waiting: AtomicUsize,
    /// Told when a waiting step got its token or gave up.
    step_left: Notify,
}

/// One bucket per service, shared by every request of one cloud.
pub struct Budget {
    services: Vec<ServiceBudget>,
    observer: Arc<dyn RequestObserver>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rates: Vec<_> = self.services.iter().map(|s| s.service).collect();
        f.debug_struct("Budget")
            .field("services", &rates)
            .finish_non_exhaustive()
    }
}

impl Budget {
    /// A bucket per service holding one second of requests, refilled at its rate: never more
    /// than `rate` requests in the first second nor, on average, after it.
    pub fn new(rates: &RequestRates, observer: Arc<dyn RequestObserver>) -> Budget {
        let clock = TokioTime {
            start: tokio::time::Instant::now(),
        };
        let services = rates
            .services()
            .into_iter()
            .map(|(service, rate)| {
                let rate = NonZeroU32::new(rate.clamp(1, MAX_RATE)).unwrap_or(NonZeroU32::MIN);
                ServiceBudget {
                    service,
                    bucket: RateLimiter::direct_with_clock(Quota::per_second(rate), clock.clone()),
                    clock: clock.clone(),
                    steps_waiting: AtomicUsize::new(0),
                    step_left: Notify::new(),
                }
            })
            .collect();
        Budget { services, observer }
    }

    /// Waits until `service` may be sent one request at `priority`. Services without a budget
    /// pass at once. Cancel-safe: a caller that gives up leaves no waiter behind.
    pub async fn admit(&self, service: &'static str, priority: Priority) {
        let Some(s) = self.services.iter().find(|s| s.service == service) else {
            return;
        };
        // The common case costs one atomic load and one compare-and-swap.
        let first = priority == Priority::Step || s.steps_waiting.load(Ordering::Acquire) == 0;
        if first && s.bucket.check().is_ok() {
            return;
        }
        let waiting = Waiting::new(s, priority, self.observer.as_ref());
        loop {
            if priority == Priority::Sweep {
                let step_left = s.step_left.notified();
                tokio::pin!(step_left);
                // Registered before the count is read, so that a step leaving in between is
                // not missed.
                step_left.as_mut().enable();
                if s.steps_waiting.load(Ordering::Acquire) > 0 {
                    step_left.await;
                    continue;
                }
            }
            match s.bucket.check() {
                Ok(()) => break,
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(s.clock.now())).await;
                }
            }
        }
        drop(waiting);
    }
}

/// A request waiting for its token: counted in the gauge (and, for a step, in the count that
/// holds sweeps back) from creation to drop, and its wait added to the waited time on drop.
struct Waiting<'a> {
    s: &'a ServiceBudget,
    priority: Priority,
    observer: &'a dyn RequestObserver,
    started: tokio::time::Instant,
}

impl<'a> Waiting<'a> {
    fn new(
        s: &'a ServiceBudget,
        priority: Priority,
        observer: &'a dyn RequestObserver,
    ) -> Waiting<'a> {
        if priority == Priority::Step {
            s.steps_waiting.fetch_add(1, Ordering::AcqRel);
        }
        observer.budget_waiting(s.service, priority, 1);
        Waiting {
            s,
            priority,
            observer,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.priority == Priority::Step
            && self.s.steps_waiting.fetch_sub(1, Ordering::AcqRel) == 1
        {
            self.s.step_left.notify_waiters();
        }
        self.observer
            .budget_waiting(self.s.service, self.priority, -1);
        self.observer
            .budget_waited(self.s.service, self.priority, self.started.elapsed());
    }
}

#[cfg(test)]
mod tests;
