//! AWS's default request quotas, as the simulated cloud enforces them when
//! `controller.simulated.apiQuotas` is on: a request beyond its bucket is answered with the
//! throttling error AWS gives (`ThrottlingException`, "Rate exceeded"). Only the reads switchyard
//! makes in bulk are limited; the quotas of mutations are far above one write per deployment step.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::Clock;

/// SSM GetParameter and GetParameters: 40 per second.
pub const SSM_READS_PER_SECOND: u32 = 40;
/// ELB and Auto Scaling describe calls: a bucket of 40, refilling at 10 per second.
pub const DESCRIBE_BUCKET: u32 = 40;
pub const DESCRIBE_REFILL_PER_SECOND: u32 = 10;

/// The simulated world's clock as governor sees it: the time since the quotas were made.
#[derive(Clone)]
struct WorldTime {
    clock: Arc<dyn Clock>,
    start: DateTime<Utc>,
}

impl GovernorClock for WorldTime {
    type Instant = Duration;

    fn now(&self) -> Duration {
        (self.clock.now() - self.start)
            .to_std()
            .unwrap_or(Duration::ZERO)
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, WorldTime, NoOpMiddleware<Duration>>;

pub struct Quotas {
    ssm_reads: Bucket,
    elb_describes: Bucket,
    autoscaling_describes: Bucket,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas").finish_non_exhaustive()
    }
}

impl Quotas {
    pub fn new(clock: Arc<dyn Clock>) -> Quotas {
        let time = WorldTime {
            start: clock.now(),
            clock,
        };
        let per_second = |n: u32| NonZeroU32::new(n).expect("a quota is above zero");
        let describe = Quota::per_second(per_second(DESCRIBE_REFILL_PER_SECOND))
            .allow_burst(per_second(DESCRIBE_BUCKET));
        Quotas {
            ssm_reads: RateLimiter::direct_with_clock(
                Quota::per_second(per_second(SSM_READS_PER_SECOND)),
                time.clone(),
            ),
            elb_describes: RateLimiter::direct_with_clock(describe, time.clone()),
            autoscaling_describes: RateLimiter::direct_with_clock(describe, time),
        }
    }

    /// Whether the request fits its quota now (and takes its place in it). Requests without a
    /// quota always fit.
    pub fn admit(&self, service: &str, operation: &str) -> bool {
        let bucket = match (service, operation) {
            ("ssm", "GetParameters" | "GetParameter") => &self.ssm_reads,
            ("elbv2", op) if op.starts_with("Describe") => &self.elb_describes,
            ("autoscaling", op) if op.starts_with("Describe") => &self.autoscaling_describes,
            _ => return true,
        };
        bucket.check().is_ok()
    }
}
