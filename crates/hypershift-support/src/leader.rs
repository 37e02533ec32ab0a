//! Leader election with a `coordination.k8s.io/v1` Lease, with client-go's semantics
//! (`k8s.io/client-go/tools/leaderelection`): one holder at a time, as long as the holder's
//! clock and the candidates' clocks run at about the same rate (their offsets do not matter).
//!
//! ```text
//!  LeaderElector::acquire     every retry period: get the Lease; write it (create or replace,
//!        │                    guarded by its resourceVersion) only when it is free, ours or expired;
//!        │                    a 409 means another candidate won
//!        ▼ the write succeeded
//!  Leadership ── background task, from that moment on: every retry period, renew (get + replace),
//!        │       each call bounded by the time left until the renew deadline
//!        ├─ no renewal succeeded within the renew deadline ─► lost(): RenewDeadline
//!        ├─ the Lease names another holder ─────────────────► lost(): TakenOver
//!        └─ release() or drop ─► stop renewing, clear the holder (a standby takes over at once)
//! ```
//!
//! - Expiry is judged as client-go does: by the local (monotonic) time at which this candidate
//!   last saw the Lease record change, plus the lease duration the record names. The record's
//!   `renewTime` is never compared with the local clock, so clock offsets between machines do not
//!   matter.
//! - Why one leader at a time: a leader counts its renew deadline from the moment it *sent* its
//!   last successful renewal; a standby counts the lease duration from the moment it *saw* that
//!   renewal, which is later. The leader therefore steps down at least `lease duration − renew
//!   deadline` before any standby may take over ([`LeaderConfig::validate`] insists on that gap).
//! - Every API call is bounded by the time left until the renew deadline (while acquiring, by the
//!   renew deadline), so a stalled API server cannot hold the leader past its deadline.
//! - A leader that steps down does not try to win back the lease; the process holding the
//!   [`Leadership`] is expected to stop its work and exit, as client-go's `OnStoppedLeading` does.
//! - Release (client-go's `ReleaseOnCancel`): [`Leadership::release`] clears the holder and waits
//!   for it; dropping the [`Leadership`] does the same in the background, which completes only if
//!   the runtime keeps running for the one round trip.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// client-go's default lease duration: how long candidates wait, after last seeing the lease
/// change, before they may take it.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// client-go's default renew deadline: how long a leader keeps leading without a successful
/// renewal.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// client-go's default retry period: the pause between two attempts to acquire or renew.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// The timings of a leader election; the defaults are client-go's (15 s, 10 s, 2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderConfig {
    /// How long candidates wait, after last seeing the lease change, before they may take it
    /// (the Lease's `leaseDurationSeconds`: whole seconds).
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// The pause between two attempts to acquire or renew.
    pub retry_period: Duration,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        Self {
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }
}

/// Why a [`LeaderConfig`] cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaderConfigError {
    #[error(
        "the lease duration must be a whole number of seconds, at least 1 (a Lease records seconds), not {0:?}"
    )]
    LeaseDuration(Duration),
    #[error(
        "the renew deadline ({renew_deadline:?}) must be shorter than the lease duration ({lease_duration:?})"
    )]
    RenewDeadline {
        renew_deadline: Duration,
        lease_duration: Duration,
    },
    #[error("the retry period must be longer than zero")]
    ZeroRetryPeriod,
    #[error(
        "the retry period ({retry_period:?}) must be shorter than the renew deadline ({renew_deadline:?})"
    )]
    RetryPeriod {
        retry_period: Duration,
        renew_deadline: Duration,
    },
}

impl LeaderConfig {
    /// Checks that `retry period < renew deadline < lease duration`, and that the lease duration
    /// is whole seconds.
    ///
    /// # Errors
    /// The first rule broken, with the values.
    pub fn validate(&self) -> Result<(), LeaderConfigError> {
        let Self {
            lease_duration,
            renew_deadline,
            retry_period,
        } = *self;
        if lease_duration < Duration::from_secs(1) || lease_duration.subsec_nanos() != 0 {
            return Err(LeaderConfigError::LeaseDuration(lease_duration));
        }
        if renew_deadline >= lease_duration {
            return Err(LeaderConfigError::RenewDeadline {
                renew_deadline,
                lease_duration,
            });
        }
        if retry_period.is_zero() {
            return Err(LeaderConfigError::ZeroRetryPeriod);
        }
        if retry_period >= renew_deadline {
            return Err(LeaderConfigError::RetryPeriod {
                retry_period,
                renew_deadline,
            });
        }
        Ok(())
    }

    fn lease_duration_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// One failed call to the API server about the Lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("{verb} failed")]
    Api {
        verb: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("{verb} got no answer within {after:?}")]
    Timeout { verb: &'static str, after: Duration },
}

/// Why a [`Leadership`] ended: the holder must stop its work.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LeadershipLost {
    #[error("lease {lease}: no renewal succeeded within the renew deadline ({deadline:?})")]
    RenewDeadline {
        lease: String,
        deadline: Duration,
        /// The last failed attempt, if one failed rather than saw a conflict.
        #[source]
        last_error: Option<Arc<LeaderError>>,
    },
    #[error("lease {lease} was taken over by {holder}")]
    TakenOver { lease: String, holder: String },
    #[error("lease {lease}: the renewal task stopped unexpectedly")]
    Stopped { lease: String },
}

/// One candidate for a lease; [`LeaderElector::acquire`] turns it into a [`Leadership`].
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    /// `namespace/name`, for messages.
    lease: String,
    identity: String,
    config: LeaderConfig,
    /// The record as last seen, and when (locally) it was first seen like that.
    observed: Option<(LeaseSpec, Instant)>,
    /// The Lease as last written by us: its resourceVersion guards the release.
    written: Option<Lease>,
}

impl fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaderElector")
            .field("lease", &self.lease)
            .field("identity", &self.identity)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What one attempt to acquire or renew found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// Our write succeeded: we hold the lease for now.
    Held,
    /// Another candidate holds the lease and it has not expired.
    HeldBy(String),
    /// Another candidate wrote first (409); the next read says who.
    Conflict,
}

/// The write an attempt decided on.
#[derive(Debug)]
enum Plan {
    Wait(String),
    Create(Lease),
    Replace(Lease),
}

impl LeaderElector {
    /// A candidate `identity` for the lease `namespace/name`.
    ///
    /// # Errors
    /// When `config` does not validate ([`LeaderConfig::validate`]).
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        config: LeaderConfig,
    ) -> Result<Self, LeaderConfigError> {
        config.validate()?;
        Ok(Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            lease: format!("{namespace}/{name}"),
            identity: identity.to_owned(),
            config,
            observed: None,
            written: None,
        })
    }

    /// Waits until this candidate holds the lease, retrying every retry period (API errors are
    /// logged and retried, as client-go does), and starts renewing it at once.
    pub async fn acquire(mut self) -> Leadership {
        let mut standing_by_for = None;
        loop {
            let started = Instant::now();
            match self.try_once(started + self.config.renew_deadline).await {
                Ok(Attempt::Held) => return self.lead(started),
                Ok(Attempt::HeldBy(holder)) => {
                    if standing_by_for.as_ref() != Some(&holder) {
                        info!(lease = %self.lease, %holder, "the lease is held by another candidate");
                        standing_by_for = Some(holder);
                    }
                }
                Ok(Attempt::Conflict) => {
                    debug!(lease = %self.lease, "another candidate wrote the lease first");
                }
                Err(e) => warn!(lease = %self.lease, error = %chain(&e), "cannot acquire the lease yet"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Starts renewing a lease acquired by the attempt that started at `acquired`.
    fn lead(self, acquired: Instant) -> Leadership {
        let (lost_tx, lost) = watch::channel(None);
        let (stop, stop_rx) = oneshot::channel();
        let lease = self.lease.clone();
        let identity = self.identity.clone();
        let task = tokio::spawn(self.renew(acquired, stop_rx, lost_tx));
        Leadership {
            lease,
            identity,
            lost,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The renewal loop of a leader; ends when leadership is lost (after saying why) or stopped
    /// (after releasing the lease).
    async fn renew(
        mut self,
        mut renewed: Instant,
        mut stop: oneshot::Receiver<()>,
        lost: watch::Sender<Option<LeadershipLost>>,
    ) -> Result<(), LeaderError> {
        let mut last_error = None;
        loop {
            let deadline = renewed + self.config.renew_deadline;
            // Wake up at the deadline rather than a retry period after it.
            let next = (Instant::now() + self.config.retry_period).min(deadline);
            tokio::select! {
                biased;
                _ = &mut stop => return self.release(deadline).await,
                () = tokio::time::sleep_until(next) => {}
            }
            let started = Instant::now();
            if started >= deadline {
                lost.send_replace(Some(LeadershipLost::RenewDeadline {
                    lease: self.lease.clone(),
                    deadline: self.config.renew_deadline,
                    last_error,
                }));
                return Ok(());
            }
            let attempt = tokio::select! {
                biased;
                _ = &mut stop => return self.release(deadline).await,
                attempt = self.try_once(deadline) => attempt,
            };
            match attempt {
                Ok(Attempt::Held) => {
                    renewed = started;
                    last_error = None;
                }
                Ok(Attempt::HeldBy(holder)) => {
                    lost.send_replace(Some(LeadershipLost::TakenOver {
                        lease: self.lease.clone(),
                        holder,
                    }));
                    return Ok(());
                }
                Ok(Attempt::Conflict) => {
                    debug!(lease = %self.lease, "another candidate wrote the lease while we renewed");
                }
                Err(e) => {
                    warn!(lease = %self.lease, error = %chain(&e), "renewing the lease failed");
                    last_error = Some(Arc::new(e));
                }
            }
        }
    }

    /// One attempt to acquire or renew: read the Lease, decide, write. Each call ends by
    /// `deadline`.
    async fn try_once(&mut self, deadline: Instant) -> Result<Attempt, LeaderError> {
        let current = self.get(deadline).await?;
        let plan = self.plan(current);
        self.write(plan, deadline).await
    }

    async fn get(&self, deadline: Instant) -> Result<Option<Lease>, LeaderError> {
        bounded(deadline, "get", self.api.get_opt(&self.name))
            .await?
            .map_err(|source| LeaderError::Api { verb: "get", source })
    }

    /// What to write, given the Lease as just read (`None`: there is none). Records when the
    /// record was first seen in its current form.
    fn plan(&mut self, current: Option<Lease>) -> Plan {
        let now = Timestamp::now();
        let Some(lease) = current else {
            return Plan::Create(Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, None)),
            });
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let seen = Instant::now();
        let since = match &self.observed {
            Some((observed, since)) if *observed == spec => *since,
            _ => {
                self.observed = Some((spec.clone(), seen));
                seen
            }
        };
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(self.identity.as_str());
        if let Some(holder) = holder.filter(|_| !ours) {
            // The holder's own duration counts, as in client-go; ours if it names none.
            let held_for = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map_or(self.config.lease_duration, Duration::from_secs);
            if seen < since + held_for {
                return Plan::Wait(holder);
            }
        }
        Plan::Replace(Lease {
            metadata: lease.metadata,
            spec: Some(self.spec(now, Some((spec, ours)))),
        })
    }

    /// The record we write at `now`, over the current one (and whether it is ours).
    fn spec(&self, now: Timestamp, current: Option<(LeaseSpec, bool)>) -> LeaseSpec {
        let holder = Some(self.identity.clone());
        let lease_duration_seconds = Some(self.config.lease_duration_seconds());
        let renew_time = Some(MicroTime(now));
        match current {
            None => LeaseSpec {
                holder_identity: holder,
                lease_duration_seconds,
                acquire_time: Some(MicroTime(now)),
                renew_time,
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            },
            Some((spec, true)) => LeaseSpec {
                holder_identity: holder,
                lease_duration_seconds,
                renew_time,
                ..spec
            },
            Some((spec, false)) => LeaseSpec {
                holder_identity: holder,
                lease_duration_seconds,
                acquire_time: Some(MicroTime(now)),
                renew_time,
                lease_transitions: Some(spec.lease_transitions.unwrap_or(0).saturating_add(1)),
                ..spec
            },
        }
    }

    /// Carries out `plan`; a 409 (someone else created or changed the Lease since we read it)
    /// is [`Attempt::Conflict`].
    async fn write(&mut self, plan: Plan, deadline: Instant) -> Result<Attempt, LeaderError> {
        let pp = PostParams::default();
        let (verb, result) = match plan {
            Plan::Wait(holder) => return Ok(Attempt::HeldBy(holder)),
            Plan::Create(lease) => (
                "create",
                bounded(deadline, "create", self.api.create(&pp, &lease)).await?,
            ),
            Plan::Replace(lease) => (
                "replace",
                bounded(deadline, "replace", self.api.replace(&self.name, &pp, &lease)).await?,
            ),
        };
        match result {
            Ok(lease) => {
                self.observed = Some((lease.spec.clone().unwrap_or_default(), Instant::now()));
                self.written = Some(lease);
                Ok(Attempt::Held)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Attempt::Conflict),
            Err(source) => Err(LeaderError::Api { verb, source }),
        }
    }

    /// Clears the holder of the Lease we last wrote, if we may still hold it (`deadline`, the
    /// renew deadline, has not passed): the lease is then free at once (client-go's
    /// `ReleaseOnCancel`). A 409 means it has changed since: nothing to release.
    async fn release(mut self, deadline: Instant) -> Result<(), LeaderError> {
        let Some(mut lease) = self.written.take().filter(|_| Instant::now() < deadline) else {
            return Ok(());
        };
        let now = Some(MicroTime(Timestamp::now()));
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = None;
        // As client-go: one second, so that a candidate that missed the change waits little.
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time.clone_from(&now);
        spec.renew_time = now;
        match bounded(
            deadline,
            "release",
            self.api.replace(&self.name, &PostParams::default(), &lease),
        )
        .await?
        {
            Ok(_) => {
                info!(lease = %self.lease, "released the lease");
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(source) => Err(LeaderError::Api {
                verb: "release",
                source,
            }),
        }
    }
}

/// `call`, given up at `deadline`.
async fn bounded<T>(
    deadline: Instant,
    verb: &'static str,
    call: impl Future<Output = T>,
) -> Result<T, LeaderError> {
    let after = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout_at(deadline, call)
        .await
        .map_err(|_| LeaderError::Timeout {
            verb,
            after: Duration::from_millis(u64::try_from(after.as_millis()).unwrap_or(u64::MAX)),
        })
}

/// `e` and its sources, joined by `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The lease, held: a background task renews it from the moment it was acquired. Hold this for
/// as long as the work that needs leadership runs, and stop that work when [`Leadership::lost`]
/// resolves. Dropping it stops renewing and releases the lease in the background.
pub struct Leadership {
    lease: String,
    identity: String,
    lost: watch::Receiver<Option<LeadershipLost>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), LeaderError>>>,
}

impl fmt::Debug for Leadership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leadership")
            .field("lease", &self.lease)
            .field("identity", &self.identity)
            .field("lost", &*self.lost.borrow())
            .finish_non_exhaustive()
    }
}

impl Leadership {
    /// The lease, as `namespace/name`.
    pub fn lease(&self) -> &str {
        &self.lease
    }

    /// Our identity in the lease.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Resolves when leadership is lost, with the reason; at once if it already is. Cancel-safe,
    /// so it can sit in a `select!` loop.
    pub async fn lost(&mut self) -> LeadershipLost {
        let stopped = || LeadershipLost::Stopped {
            lease: self.lease.clone(),
        };
        match self.lost.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_else(stopped),
            Err(_) => stopped(),
        }
    }

    /// Stops renewing and releases the lease (clears the holder, so a standby takes over at its
    /// next attempt), and waits for that. Nothing is written if leadership was already lost.
    ///
    /// # Errors
    /// When the release failed; the lease then expires as if the holder had died.
    pub async fn release(mut self) -> Result<(), LeaderError> {
        drop(self.stop.take());
        match self.task.take() {
            // A renewal task that panicked has nothing left to release.
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // Dropping the sender tells the task to release the lease and end; it is not aborted.
        drop(self.stop.take());
    }
}

#[cfg(test)]
mod tests {
    //! Against a real devcluster; the waits are liveness bounds, the assertions are about order.

    use std::sync::Mutex;

    use devcluster::{DevCluster, DevClusterOptions};
    use hypershift_testkit::cluster::api_addr;
    use hypershift_testkit::faults::StallingProxy;

    use super::*;

    /// Short timings in client-go's proportions, so that each test takes seconds.
    const FAST: LeaderConfig = LeaderConfig {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(250),
    };
    const WITHIN: Duration = Duration::from_secs(30);

    async fn cluster() -> DevCluster {
        hypershift_releaseinfo::install_crypto_provider();
        DevCluster::start(DevClusterOptions::default()).await.unwrap()
    }

    fn candidate(client: &Client, name: &str, identity: &str) -> LeaderElector {
        LeaderElector::new(client.clone(), "default", name, identity, FAST).unwrap()
    }

    async fn spec(client: &Client, name: &str) -> LeaseSpec {
        Api::<Lease>::namespaced(client.clone(), "default")
            .get(name)
            .await
            .unwrap()
            .spec
            .unwrap()
    }

    /// Polls `check` until it returns `Some` (a liveness bound, not a timing assertion).
    async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
        let until = Instant::now() + WITHIN;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(Instant::now() < until, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn soon() -> Instant {
        Instant::now() + FAST.renew_deadline
    }

    /// A Lease written by someone else, as another client with any clock would.
    async fn foreign_lease(client: &Client, name: &str, holder: Option<&str>, renew_time: &str) {
        let lease: Lease = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": 3,
                "renewTime": renew_time,
                "leaseTransitions": 4,
            },
        }))
        .unwrap();
        Api::<Lease>::namespaced(client.clone(), "default")
            .create(&PostParams::default(), &lease)
            .await
            .unwrap();
    }

    #[test]
    fn timings_must_leave_room_for_retries_and_a_gap_before_expiry() {
        LeaderConfig::default().validate().unwrap();
        assert_eq!(
            LeaderConfig::default(),
            LeaderConfig {
                lease_duration: Duration::from_secs(15),
                renew_deadline: Duration::from_secs(10),
                retry_period: Duration::from_secs(2),
            }
        );
        let broken = |lease, renew, retry| {
            LeaderConfig {
                lease_duration: Duration::from_millis(lease),
                renew_deadline: Duration::from_millis(renew),
                retry_period: Duration::from_millis(retry),
            }
            .validate()
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            broken(10_000, 10_000, 2_000),
            "the renew deadline (10s) must be shorter than the lease duration (10s)"
        );
        assert_eq!(
            broken(15_000, 2_000, 2_000),
            "the retry period (2s) must be shorter than the renew deadline (2s)"
        );
        assert_eq!(
            broken(15_000, 10_000, 0),
            "the retry period must be longer than zero"
        );
        assert_eq!(
            broken(1_500, 1_000, 100),
            "the lease duration must be a whole number of seconds, at least 1 (a Lease records seconds), not 1.5s"
        );
        assert!(broken(0, 0, 0).contains("at least 1"));
    }

    #[tokio::test]
    async fn a_free_lease_is_acquired_and_renewed_from_the_moment_of_acquisition() {
        let cluster = cluster().await;
        let client = cluster.client();
        let leadership = candidate(&client, "lock", "a").acquire().await;
        assert_eq!((leadership.lease(), leadership.identity()), ("default/lock", "a"));
        let first = spec(&client, "lock").await;
        assert_eq!(first.holder_identity.as_deref(), Some("a"));
        assert_eq!(
            (first.lease_duration_seconds, first.lease_transitions),
            (Some(3), Some(0))
        );
        // Nobody has to ask for renewals: the Leadership renews on its own.
        let renewed = eventually("a renewal", || async {
            let now = spec(&client, "lock").await;
            (now.renew_time != first.renew_time).then_some(now)
        })
        .await;
        assert_eq!(renewed.holder_identity.as_deref(), Some("a"));
        assert_eq!(
            renewed.acquire_time, first.acquire_time,
            "a renewal keeps the acquire time"
        );
        assert_eq!(renewed.lease_transitions, Some(0));

        leadership.release().await.unwrap();
        let released = spec(&client, "lock").await;
        assert_eq!(released.holder_identity, None, "released: no holder");
        assert_eq!(released.lease_duration_seconds, Some(1));
    }

    #[tokio::test]
    async fn expiry_is_judged_by_the_local_clock_not_the_holders_renew_time() {
        let cluster = cluster().await;
        let client = cluster.client();
        // One holder's clock is far behind ours, the other's far ahead: neither matters.
        for (name, renew_time) in [
            ("behind", "2000-01-01T00:00:00.000000Z"),
            ("ahead", "2100-01-01T00:00:00.000000Z"),
        ] {
            foreign_lease(&client, name, Some("ghost"), renew_time).await;
            let mut b = candidate(&client, name, "b");
            assert_eq!(
                b.try_once(soon()).await.unwrap(),
                Attempt::HeldBy("ghost".into()),
                "{name}: a lease just seen is not expired, whatever its renewTime says"
            );
            // Unchanged for its duration since we first saw it: expired.
            let leadership = b.acquire().await;
            let taken = spec(&client, name).await;
            assert_eq!(taken.holder_identity.as_deref(), Some("b"), "{name}");
            assert_eq!(taken.lease_transitions, Some(5), "{name}: one more transition");
            drop(leadership);
        }
    }

    #[tokio::test]
    async fn of_two_candidates_racing_for_the_lease_only_the_first_write_wins() {
        let cluster = cluster().await;
        let client = cluster.client();
        // No Lease yet: both decide to create it; the second create is a 409.
        let mut a = candidate(&client, "new", "a");
        let mut b = candidate(&client, "new", "b");
        let read = a.get(soon()).await.unwrap();
        let plan = a.plan(read);
        assert!(matches!(plan, Plan::Create(_)), "{plan:?}");
        assert_eq!(b.try_once(soon()).await.unwrap(), Attempt::Held);
        assert_eq!(a.write(plan, soon()).await.unwrap(), Attempt::Conflict);
        assert_eq!(a.try_once(soon()).await.unwrap(), Attempt::HeldBy("b".into()));

        // A free Lease: both decide to take it; the second replace is a 409 (resourceVersion).
        foreign_lease(&client, "free", None, "2000-01-01T00:00:00.000000Z").await;
        let mut a = candidate(&client, "free", "a");
        let mut b = candidate(&client, "free", "b");
        let read = a.get(soon()).await.unwrap();
        let plan = a.plan(read);
        assert!(matches!(plan, Plan::Replace(_)), "{plan:?}");
        assert_eq!(b.try_once(soon()).await.unwrap(), Attempt::Held);
        assert_eq!(a.write(plan, soon()).await.unwrap(), Attempt::Conflict);
        assert_eq!(a.try_once(soon()).await.unwrap(), Attempt::HeldBy("b".into()));
        assert_eq!(spec(&client, "free").await.holder_identity.as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn a_leader_whose_api_calls_stall_steps_down_at_the_renew_deadline_before_a_standby_takes_over() {
        let cluster = cluster().await;
        let client = cluster.client();
        let proxy = StallingProxy::start(api_addr(&cluster).unwrap()).await;
        let mut via_proxy = cluster.kube_config();
        via_proxy.cluster_url = proxy.https_url().parse().unwrap();
        let mut a = candidate(&Client::try_from(via_proxy).unwrap(), "lock", "a")
            .acquire()
            .await;
        let mut b = candidate(&client, "lock", "b");
        assert_eq!(b.try_once(soon()).await.unwrap(), Attempt::HeldBy("a".into()));

        proxy.stall();
        let order = Mutex::new(Vec::new());
        let (lost, b) = tokio::join!(
            async {
                let lost = a.lost().await;
                order.lock().unwrap().push("a stepped down");
                lost
            },
            async {
                let b = b.acquire().await;
                order.lock().unwrap().push("b leads");
                b
            },
        );
        assert_eq!(*order.lock().unwrap(), ["a stepped down", "b leads"]);
        let LeadershipLost::RenewDeadline {
            lease,
            deadline,
            last_error: Some(last_error),
        } = &lost
        else {
            panic!("{lost:?}");
        };
        assert_eq!((lease.as_str(), *deadline), ("default/lock", FAST.renew_deadline));
        assert!(
            matches!(**last_error, LeaderError::Timeout { .. }),
            "{last_error:?}"
        );
        assert!(
            chain(&lost)
                .starts_with("lease default/lock: no renewal succeeded within the renew deadline (2s): "),
            "{}",
            chain(&lost)
        );

        // The former leader releases nothing: the lease is b's.
        proxy.resume();
        a.release().await.unwrap();
        let now = spec(&client, "lock").await;
        assert_eq!(
            (now.holder_identity.as_deref(), now.lease_transitions),
            (Some("b"), Some(1))
        );
        b.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_leader_whose_lease_is_taken_over_steps_down() {
        let cluster = cluster().await;
        let client = cluster.client();
        let mut a = candidate(&client, "lock", "a").acquire().await;
        let api = Api::<Lease>::namespaced(client.clone(), "default");
        let mut lease = api.get("lock").await.unwrap();
        lease.spec.as_mut().unwrap().holder_identity = Some("intruder".into());
        api.replace("lock", &PostParams::default(), &lease).await.unwrap();
        let lost = a.lost().await;
        assert!(
            matches!(&lost, LeadershipLost::TakenOver { holder, .. } if holder == "intruder"),
            "{lost:?}"
        );
        assert_eq!(lost.to_string(), "lease default/lock was taken over by intruder");
        drop(a);
        assert_eq!(
            spec(&client, "lock").await.holder_identity.as_deref(),
            Some("intruder")
        );
    }

    #[tokio::test]
    async fn dropping_the_leadership_frees_the_lease_for_a_standby_at_once() {
        let cluster = cluster().await;
        let client = cluster.client();
        let a = candidate(&client, "lock", "a").acquire().await;
        let mut b = candidate(&client, "lock", "b");
        assert_eq!(b.try_once(soon()).await.unwrap(), Attempt::HeldBy("a".into()));
        drop(a);
        eventually("the release", || async {
            spec(&client, "lock")
                .await
                .holder_identity
                .is_none()
                .then_some(())
        })
        .await;
        assert_eq!(
            b.try_once(soon()).await.unwrap(),
            Attempt::Held,
            "a free lease is taken without waiting for it to expire"
        );
    }
}
