//! The credentials every client signs with, cached here rather than in the SDK's identity cache,
//! so that the adapter knows which access key the next request will use. That is what lets the
//! account be checked again "before the first mutation after a credential refresh"
//! (docs/how-it-decides.md): a refreshed role session, a rotated key or a re-pointed profile shows
//! up as a new access key id before any request is signed with it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider, future};

/// Requests refresh credentials this long before they expire.
const REQUEST_MARGIN: Duration = Duration::from_secs(5 * 60);
/// The pre-mutation check refreshes a little earlier than requests do, so that credentials it
/// has just approved cannot be swapped by the request that follows it.
const CHECK_MARGIN: Duration = Duration::from_secs(6 * 60);

#[derive(Debug)]
struct Inner {
    provider: SharedCredentialsProvider,
    current: tokio::sync::Mutex<Option<Credentials>>,
}

/// The provider chain behind one cache, shared by every client of an `AwsCloud`.
#[derive(Debug, Clone)]
pub(crate) struct CredentialCache(Arc<Inner>);

impl CredentialCache {
    pub(crate) fn new(provider: SharedCredentialsProvider) -> CredentialCache {
        CredentialCache(Arc::new(Inner {
            provider,
            current: tokio::sync::Mutex::new(None),
        }))
    }

    /// The access key id the next request will be signed with, refreshing first if the cached
    /// credentials are close to expiry.
    pub(crate) async fn access_key_id(&self) -> Result<String, provider::error::CredentialsError> {
        Ok(self.get(CHECK_MARGIN).await?.access_key_id().to_string())
    }

    async fn get(&self, margin: Duration) -> provider::Result {
        let mut current = self.0.current.lock().await;
        if let Some(credentials) = current.as_ref()
            && credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + margin)
        {
            return Ok(credentials.clone());
        }
        let fresh = self.0.provider.provide_credentials().await?;
        // Never logged: only the key id ever leaves this module, and only for comparison.
        *current = Some(fresh.clone());
        Ok(fresh)
    }
}

impl ProvideCredentials for CredentialCache {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.get(REQUEST_MARGIN))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Hands out whatever credentials the test put in, counting the calls.
    #[derive(Debug, Default)]
    struct State {
        next: Mutex<Option<Credentials>>,
        calls: AtomicUsize,
    }

    #[derive(Debug, Clone, Default)]
    struct Switchable(Arc<State>);

    impl std::ops::Deref for Switchable {
        type Target = State;
        fn deref(&self) -> &State {
            &self.0
        }
    }

    impl ProvideCredentials for Switchable {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = self.next.lock().unwrap().clone();
            future::ProvideCredentials::ready(
                next.ok_or_else(|| provider::error::CredentialsError::not_loaded("none")),
            )
        }
    }

    fn expiring_in(key: &str, seconds: u64) -> Credentials {
        Credentials::new(
            key,
            "secret",
            Some("token".into()),
            Some(SystemTime::now() + Duration::from_secs(seconds)),
            "test",
        )
    }

    #[tokio::test]
    async fn credentials_are_cached_until_close_to_expiry_and_the_new_key_shows() {
        let source = Switchable::default();
        *source.next.lock().unwrap() = Some(expiring_in("AKIA-OLD", 3600));
        let cache = CredentialCache::new(SharedCredentialsProvider::new(source.clone()));
        assert_eq!(cache.access_key_id().await.unwrap(), "AKIA-OLD");
        let signed = cache.provide_credentials().await.unwrap();
        assert_eq!(signed.access_key_id(), "AKIA-OLD");
        assert_eq!(source.calls.load(Ordering::SeqCst), 1, "served from cache");

        // The provider now has other credentials, but the cached ones are still good.
        *source.next.lock().unwrap() = Some(expiring_in("AKIA-NEW", 3600));
        assert_eq!(cache.access_key_id().await.unwrap(), "AKIA-OLD");
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_check_refreshes_before_requests_would() {
        let source = Switchable::default();
        // Inside the check's margin, outside the requests' margin.
        *source.next.lock().unwrap() = Some(expiring_in("AKIA-OLD", 330));
        let cache = CredentialCache::new(SharedCredentialsProvider::new(source.clone()));
        assert_eq!(
            cache.provide_credentials().await.unwrap().access_key_id(),
            "AKIA-OLD"
        );
        assert_eq!(
            cache.provide_credentials().await.unwrap().access_key_id(),
            "AKIA-OLD",
            "a request does not refresh yet"
        );
        *source.next.lock().unwrap() = Some(expiring_in("AKIA-NEW", 3600));
        // The check refreshes, so the mutation after it is signed with what the check saw.
        assert_eq!(cache.access_key_id().await.unwrap(), "AKIA-NEW");
        assert_eq!(
            cache.provide_credentials().await.unwrap().access_key_id(),
            "AKIA-NEW"
        );
        assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    }
}
