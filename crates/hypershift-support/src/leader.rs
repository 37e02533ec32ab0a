//! Leader election with a `coordination.k8s.io/v1` Lease (client-go's algorithm, simplified):
//! a process holds the lease while it renews it; another takes it over once `duration` has
//! passed without a renewal. Writes use optimistic concurrency (the resourceVersion), so two
//! candidates can never both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};

/// Why leadership could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("lease {name}: {source}")]
    Api { name: String, source: kube::Error },
    #[error("lease {name} was taken over by {holder}")]
    Lost { name: String, holder: String },
}

/// One candidate for a lease.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("name", &self.name)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// A candidate `identity` for lease `namespace/name`, held for `duration` per renewal.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str, duration: Duration) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
        }
    }

    /// Waits until this candidate holds the lease.
    pub async fn acquire(&self) -> Result<(), LeaderError> {
        loop {
            if self.try_acquire().await? {
                return Ok(());
            }
            tokio::time::sleep(self.duration / 3).await;
        }
    }

    /// Renews the lease every third of its duration; returns only when it is lost or an API error
    /// lasts longer than the lease.
    pub async fn keep(&self) -> LeaderError {
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::time::sleep(self.duration / 3).await;
            match self.try_acquire().await {
                Ok(true) => failing_since = None,
                Ok(false) => {
                    let holder = self.holder().await.unwrap_or_default();
                    return LeaderError::Lost {
                        name: self.name.clone(),
                        holder,
                    };
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= self.duration {
                        return e;
                    }
                }
            }
        }
    }

    async fn holder(&self) -> Option<String> {
        self.api
            .get_opt(&self.name)
            .await
            .ok()
            .flatten()?
            .spec?
            .holder_identity
    }

    /// Takes or renews the lease if it is ours or expired; `false` if someone else holds it.
    async fn try_acquire(&self) -> Result<bool, LeaderError> {
        let err = |source| LeaderError::Api {
            name: self.name.clone(),
            source,
        };
        let now = Timestamp::now();
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.name).await.map_err(err)? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(err(e)),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let expired = spec.renew_time.as_ref().is_none_or(|t| {
            let held = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(seconds)));
            t.0.checked_add(held).is_ok_and(|until| until < now)
        });
        if !ours && !expired {
            return Ok(false);
        }
        if !ours {
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(seconds);
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(err(e)),
        }
    }
}
