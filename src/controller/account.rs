//! Invariant 8: nothing is mutated in an account other than the expected one. The account is
//! checked at start-up and again before the first mutation, so that a controller whose
//! credentials point elsewhere refuses to act at all. Credentials that change later (a
//! refreshed role session, a rotated key) are checked by the cloud itself: the AWS adapter asks
//! STS again for every new access key id, puts the account in each observation (where the
//! guard's account invariant refuses), and refuses a mutation signed in another account.

use thiserror::Error;
use tokio::sync::OnceCell;

use crate::cloud::aws::NO_CREDENTIALS;
use crate::cloud::{Cloud, CloudError};
use crate::config::{CloudKind, Config};

#[derive(Debug, Error)]
pub enum AccountError {
    #[error(
        "wrong account: the credentials act in account {actual}, but expectedAccountId is \
         {expected}; refusing to act"
    )]
    Mismatch { expected: String, actual: String },
    /// Not a `source`: the message already carries the cloud's error, and printing the chain
    /// would say it twice.
    #[error("{}", describe_unknown(.0))]
    Unknown(CloudError),
}

impl From<CloudError> for AccountError {
    fn from(e: CloudError) -> AccountError {
        AccountError::Unknown(e)
    }
}

/// Missing credentials are the first error a newcomer meets: their message stands alone.
fn describe_unknown(e: &CloudError) -> String {
    match e {
        CloudError::Api { code, message, .. } if code == NO_CREDENTIALS => message.clone(),
        other => format!("could not read the account the credentials act in: {other}"),
    }
}

/// The account the controller must act in, and the one it found (read once).
#[derive(Debug)]
pub struct AccountGuard {
    expected: Option<String>,
    verified: OnceCell<String>,
}

impl AccountGuard {
    pub fn new(expected: Option<String>) -> AccountGuard {
        AccountGuard {
            expected,
            verified: OnceCell::new(),
        }
    }

    /// `controller.aws.expectedAccountId` with `cloud: aws`; with the simulated cloud only an
    /// expected account that the file sets anyway is compared.
    pub fn for_config(config: &Config) -> AccountGuard {
        let from_aws = config
            .controller
            .aws
            .as_ref()
            .map(|a| a.expected_account_id.clone());
        let expected = match config.controller.cloud {
            CloudKind::Aws => from_aws,
            CloudKind::Simulated => from_aws.or_else(|| {
                config
                    .runners
                    .iter()
                    .find_map(|r| r.expected_account_id.clone())
            }),
        };
        AccountGuard::new(expected)
    }

    pub fn expected(&self) -> Option<&str> {
        self.expected.as_deref()
    }

    /// The account the cloud acts in, once it has been found to be the expected one. A failed
    /// read is not remembered, so the next mutation asks again.
    pub async fn verify<C: Cloud>(&self, cloud: &C) -> Result<&str, AccountError> {
        let actual = self
            .verified
            .get_or_try_init(|| async {
                let actual = cloud.account_id().await?;
                match &self.expected {
                    Some(expected) if *expected != actual => Err(AccountError::Mismatch {
                        expected: expected.clone(),
                        actual,
                    }),
                    _ => Ok(actual),
                }
            })
            .await?;
        Ok(actual)
    }
}
