//! The controller kit: what every reconciler of ours does the same way around its pipeline.
//!
//! - Errors implement [`ControllerError`]: a bounded [`ControllerError::category`] (the metric
//!   label and Event reason, never a formatted message) and a [`Retry`] policy by cause. Transient
//!   causes (a registry or the API server down, a conflict) back off exponentially per object;
//!   invalid input waits for a change of what the reconciler watches, never a timer.
//! - A successful reconcile says what comes next as a [`Next`]: wait for a change, or look again
//!   after a while (resync, rotation due).
//! - [`Policy`] turns both into kube's [`Action`], resets or grows the object's backoff, and
//!   counts the outcome (`<prefix>_reconcile_next_total{next}`), so tests and dashboards can see
//!   a controller that waits and one that retries in a loop apart.
//! - [`spec_changes`] is the stream a controller is driven by: its objects, kept in a reflector
//!   store, passed on only when what a reconcile reads changed (spec, labels, annotations,
//!   finalizers), never for a status write, which would make every reconcile start another.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures::Stream;
use kube::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::store::Writer;
use kube::runtime::{Predicate as _, PredicateConfig, WatchStreamExt as _, predicates, watcher};
use serde::de::DeserializeOwned;

use crate::metrics::ReconcileMetrics;

/// What an error means for the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Something outside the object is down or busy: try again, backing off.
    Backoff,
    /// The object (or what it names) is wrong: only a change can fix it.
    AwaitChange,
}

/// An error of a reconcile step.
pub trait ControllerError: std::error::Error + Send + Sync + 'static {
    /// A label from a bounded set (metrics, Event reasons).
    fn category(&self) -> &'static str;
    /// Whether to retry.
    fn retry(&self) -> Retry {
        Retry::Backoff
    }
}

/// What a successful reconcile asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing until a watched object changes (invalid input, or nothing time-based to do).
    AwaitChange,
    /// Look again after this long (periodic resync, a token to rotate, a Secret to expire).
    Requeue(Duration),
}

/// Whether kube's finalizer helper failed only because the object it was handed is older than
/// the server's: its JSON patch `test`s the cached finalizers, and a finalizer our previous
/// reconcile added (or removed) that the watch has not delivered yet fails that test with `422`.
/// The watch is about to deliver the current object, and that starts the next reconcile: this is
/// neither a failure nor a reason to retry on a timer.
pub fn is_stale_finalizer_view<E: std::error::Error + 'static>(
    e: &kube::runtime::finalizer::Error<E>,
) -> bool {
    use kube::runtime::finalizer::Error;
    matches!(
        e,
        Error::AddFinalizer(kube::Error::Api(s)) | Error::RemoveFinalizer(kube::Error::Api(s)) if s.code == 422
    )
}

/// Every object of `api`, reflected into `writer`, yielded when its generation (its spec, and its
/// deletion), labels, annotations or finalizers changed: the controller's own status writes do not
/// start a reconcile.
pub fn spec_changes<K>(api: Api<K>, writer: Writer<K>) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation
                .combine(predicates::labels)
                .combine(predicates::annotations)
                .combine(predicates::finalizers),
            PredicateConfig::default(),
        )
}

/// The owned objects of `api` (`config` selects them) whenever someone other than `applier`
/// changed them: the platform updating their status, a user editing or deleting them. The echoes
/// of the controller's own writes are dropped, so a reconcile that updated a Deployment does not
/// start again because of it. A deletion always passes: the owner must put the object back.
pub fn changes_by_others<K>(
    api: Api<K>,
    config: watcher::Config,
    applier: crate::apply::Applier,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    use futures::StreamExt as _;
    watcher(api, config).default_backoff().filter_map(move |event| {
        let out = match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                (!applier.is_own_write(&o)).then_some(Ok(o))
            }
            Ok(watcher::Event::Delete(o)) => Some(Ok(o)),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            Err(e) => Some(Err(e)),
        };
        std::future::ready(out)
    })
}

/// Exponential backoff per object: `initial`, doubling per consecutive failure, at most `max`.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    /// Object key → consecutive failures. Entries go on success or on a wait for a change; the
    /// map holds at most the objects failing right now.
    failures: Mutex<BTreeMap<String, u32>>,
}

impl Backoff {
    /// A backoff starting at `initial`, capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            failures: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records a failure of `key`; returns how long to wait before the next attempt.
    pub fn failed(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let n = failures.entry(key.to_owned()).or_insert(0);
        let delay = self
            .initial
            .checked_mul(2_u32.saturating_pow(*n))
            .unwrap_or(self.max)
            .min(self.max);
        *n = n.saturating_add(1);
        delay
    }

    /// Forgets `key`'s failures.
    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

impl Default for Backoff {
    /// 2 s, doubling up to 5 minutes: a registry coming back is seen within seconds, a long outage
    /// costs one attempt per object every five minutes.
    fn default() -> Self {
        Self::new(Duration::from_secs(2), Duration::from_mins(5))
    }
}

/// One controller's requeue policy and metrics.
#[derive(Debug)]
pub struct Policy {
    pub metrics: ReconcileMetrics,
    backoff: Backoff,
}

impl Policy {
    /// A policy counting into `metrics`, backing off with `backoff`.
    pub fn new(metrics: ReconcileMetrics, backoff: Backoff) -> Self {
        Self { metrics, backoff }
    }

    /// The action after a successful reconcile of `key`.
    pub fn succeeded(&self, key: &str, next: Next) -> Action {
        self.backoff.reset(key);
        match next {
            Next::AwaitChange => {
                self.metrics.next("await_change");
                Action::await_change()
            }
            Next::Requeue(after) => {
                self.metrics.next("requeue");
                Action::requeue(after)
            }
        }
    }

    /// The action after `error` failed the reconcile of `key`; logs it once with its category.
    pub fn failed<E: ControllerError>(&self, key: &str, error: &E) -> Action {
        let category = error.category();
        self.metrics.failed(category);
        match error.retry() {
            Retry::AwaitChange => {
                self.backoff.reset(key);
                self.metrics.next("await_change");
                tracing::warn!(object = key, category, error = %error, "reconcile failed; waiting for a change");
                Action::await_change()
            }
            Retry::Backoff => {
                let after = self.backoff.failed(key);
                self.metrics.next("backoff");
                tracing::warn!(object = key, category, error = %error, retry_in = ?after, "reconcile failed; retrying");
                Action::requeue(after)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom(Retry);

    impl ControllerError for Boom {
        fn category(&self) -> &'static str {
            "boom"
        }
        fn retry(&self) -> Retry {
            self.0
        }
    }

    #[test]
    fn backoff_doubles_per_failure_up_to_the_cap_and_resets() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(10));
        let delays: Vec<u64> = (0..5).map(|_| b.failed("a").as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 10, 10]);
        assert_eq!(b.failed("b").as_secs(), 2, "objects back off independently");
        b.reset("a");
        assert_eq!(b.failed("a").as_secs(), 2);
        let huge = Backoff::new(Duration::from_secs(1), Duration::from_mins(5));
        for _ in 0..100 {
            huge.failed("x");
        }
        assert_eq!(
            huge.failed("x"),
            Duration::from_mins(5),
            "no overflow after many failures"
        );
    }

    #[test]
    fn invalid_input_waits_and_transient_errors_back_off() {
        let mut registry = Registry::default();
        let policy = Policy::new(
            ReconcileMetrics::register(&mut registry, "thing"),
            Backoff::new(Duration::from_secs(2), Duration::from_mins(1)),
        );
        assert_eq!(
            policy.failed("ns/a", &Boom(Retry::AwaitChange)),
            Action::await_change()
        );
        assert_eq!(
            policy.failed("ns/a", &Boom(Retry::Backoff)),
            Action::requeue(Duration::from_secs(2))
        );
        assert_eq!(
            policy.failed("ns/a", &Boom(Retry::Backoff)),
            Action::requeue(Duration::from_secs(4))
        );
        assert_eq!(
            policy.succeeded("ns/a", Next::Requeue(Duration::from_mins(10))),
            Action::requeue(Duration::from_mins(10))
        );
        assert_eq!(
            policy.failed("ns/a", &Boom(Retry::Backoff)),
            Action::requeue(Duration::from_secs(2)),
            "a success resets the backoff"
        );
        assert_eq!(
            policy.succeeded("ns/a", Next::AwaitChange),
            Action::await_change()
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "thing_reconcile_next_total{next=\"await_change\"} 2",
            "thing_reconcile_next_total{next=\"backoff\"} 3",
            "thing_reconcile_next_total{next=\"requeue\"} 1",
            "thing_reconcile_failures_total{category=\"boom\"} 4",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
