//! The cloud the file names, behind one type: the controller is generic over `Cloud`, and the
//! command line picks the implementation at run time.

use std::sync::Arc;

use anyhow::Context as _;
use switchyard::clock::Clock;
use switchyard::cloud::aws::AwsCloud;
use switchyard::cloud::budget::Budget;
use switchyard::cloud::sim::SimCloud;
use switchyard::cloud::{Applied, Cloud, CloudError, Detail, RequestObserver};
use switchyard::config::{CloudKind, Config};
use switchyard::core::{RunnerObservation, RunnerSpec, Step};

pub enum AnyCloud {
    Simulated(SimCloud),
    Aws(AwsCloud),
}

impl AnyCloud {
    pub async fn connect(
        config: &Config,
        observer: Arc<dyn RequestObserver>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<AnyCloud> {
        match config.controller.cloud {
            CloudKind::Simulated => {
                let sim = SimCloud::new(&config.controller.simulated, &config.runners, clock)
                    .with_observer(Arc::clone(&observer));
                // A world that throttles like AWS gets the budget the AWS adapter keeps.
                if !config.controller.simulated.api_quotas {
                    return Ok(AnyCloud::Simulated(sim));
                }
                let rates = config
                    .controller
                    .aws
                    .as_ref()
                    .map(|aws| aws.max_requests_per_second)
                    .unwrap_or_default();
                Ok(AnyCloud::Simulated(
                    sim.with_budget(Arc::new(Budget::new(&rates, observer))),
                ))
            }
            CloudKind::Aws => {
                let settings = config
                    .controller
                    .aws
                    .as_ref()
                    .context("controller.aws is required with cloud: aws")?;
                Ok(AnyCloud::Aws(AwsCloud::connect(settings, observer).await?))
            }
        }
    }

    /// Where the cloud acts, for people: the AWS region, or the simulated world.
    pub fn region(&self) -> &str {
        match self {
            AnyCloud::Simulated(_) => "simulated",
            AnyCloud::Aws(aws) => aws.region(),
        }
    }

    pub fn simulated(&self) -> Option<&SimCloud> {
        match self {
            AnyCloud::Simulated(sim) => Some(sim),
            AnyCloud::Aws(_) => None,
        }
    }
}

impl Cloud for AnyCloud {
    async fn account_id(&self) -> Result<String, CloudError> {
        match self {
            AnyCloud::Simulated(c) => c.account_id().await,
            AnyCloud::Aws(c) => c.account_id().await,
        }
    }

    async fn observe(
        &self,
        runners: &[&RunnerSpec],
        detail: Detail,
    ) -> Result<Vec<RunnerObservation>, CloudError> {
        match self {
            AnyCloud::Simulated(c) => c.observe(runners, detail).await,
            AnyCloud::Aws(c) => c.observe(runners, detail).await,
        }
    }

    async fn apply(&self, runner: &RunnerSpec, step: &Step) -> Result<Applied, CloudError> {
        match self {
            AnyCloud::Simulated(c) => c.apply(runner, step).await,
            AnyCloud::Aws(c) => c.apply(runner, step).await,
        }
    }
}
