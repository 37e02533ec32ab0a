//! Reconcile metrics with bounded labels: runs, failures by error category, durations.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Category {
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NextLabel {
    next: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

/// Counters and a duration histogram for one controller.
#[derive(Clone, Debug)]
pub struct ReconcileMetrics {
    runs: Counter,
    failures: Family<Category, Counter>,
    next: Family<NextLabel, Counter>,
    duration: Histogram,
}

impl ReconcileMetrics {
    /// Registers `<prefix>_reconcile_runs`, `<prefix>_reconcile_failures{category}`,
    /// `<prefix>_reconcile_next{next}` and `<prefix>_reconcile_duration_seconds`.
    pub fn register(registry: &mut Registry, prefix: &str) -> Self {
        let sub = registry.sub_registry_with_prefix(prefix);
        let m = Self {
            runs: Counter::default(),
            failures: Family::default(),
            next: Family::default(),
            duration: Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        };
        sub.register("reconcile_runs", "Reconciles started", m.runs.clone());
        sub.register(
            "reconcile_failures",
            "Reconciles that failed, by error category",
            m.failures.clone(),
        );
        sub.register(
            "reconcile_next",
            "What reconciles asked for next: await_change, requeue (timed) or backoff (after a transient failure)",
            m.next.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            m.duration.clone(),
        );
        m
    }

    /// Counts a run and times it until the guard is dropped.
    pub fn start(&self) -> ReconcileTimer<'_> {
        self.runs.inc();
        ReconcileTimer {
            metrics: self,
            started: Instant::now(),
        }
    }

    /// Counts what a reconcile asked for next (`await_change`, `requeue`, `backoff`).
    pub fn next(&self, next: &'static str) {
        self.next
            .get_or_create(&NextLabel {
                next: next.to_owned(),
            })
            .inc();
    }

    /// Counts a failure; `category` must come from a bounded set (an error's `category()`).
    pub fn failed(&self, category: &'static str) {
        self.failures
            .get_or_create(&Category {
                category: category.to_owned(),
            })
            .inc();
    }
}

/// Observes the reconcile's duration when dropped.
#[derive(Debug)]
pub struct ReconcileTimer<'a> {
    metrics: &'a ReconcileMetrics,
    started: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// Registry lookups by outcome: served by a mirror, by the source, or failed (by category).
#[derive(Clone, Debug)]
pub struct LookupMetrics {
    lookups: Family<Outcome, Counter>,
}

impl LookupMetrics {
    /// Registers `<prefix>_release_lookups{outcome}`.
    pub fn register(registry: &mut Registry, prefix: &str) -> Self {
        let m = Self {
            lookups: Family::default(),
        };
        registry.sub_registry_with_prefix(prefix).register(
            "release_lookups",
            "Release image lookups by outcome",
            m.lookups.clone(),
        );
        m
    }

    /// Counts one lookup; `outcome` is `mirror`, `source` or an error category.
    pub fn observe(&self, outcome: &'static str) {
        self.lookups
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_exposed_with_bounded_labels() {
        let mut registry = Registry::default();
        let m = ReconcileMetrics::register(&mut registry, "hostedcluster");
        let l = LookupMetrics::register(&mut registry, "hostedcluster");
        drop(m.start());
        m.failed("invalid_config");
        l.observe("mirror");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("hostedcluster_reconcile_runs_total 1"), "{text}");
        assert!(
            text.contains("hostedcluster_reconcile_failures_total{category=\"invalid_config\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hostedcluster_reconcile_duration_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("hostedcluster_release_lookups_total{outcome=\"mirror\"} 1"),
            "{text}"
        );
    }
}
