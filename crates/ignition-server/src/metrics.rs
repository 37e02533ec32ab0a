//! The ignition server's metrics, upstream's names where they exist (spec C.9), bounded labels.
//!
//! | Metric | Labels |
//! |---|---|
//! | `ign_server_get_request_total` | `nodePool`: the NodePool of the token's Secret (never the unauthenticated header) |
//! | `ign_server_unauthorized_total` | `reason`: `no_bearer`, `bad_encoding`, `unknown_token`, `node_pool_mismatch` |
//! | `ign_server_payload_cache_miss_total` | payloads generated (a token Secret without one for its inputs) |
//! | `ign_server_payload_generation_seconds` | histogram |
//! | `ign_server_payload_generation_failures_total` | `reason`: the reported reason (a bounded set) |
//! | `ign_server_payload_cache_total` | gauge: tokens that open a payload (exact, unlike upstream's drifting gauge) |
//! | `ign_server_release_lookups_total` | `outcome`: `mirror`, `source` or the lookup error's category |
//! | `tokensecret_reconcile_*` | the controller kit's reconcile metrics |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use hypershift_support::metrics::{LookupMetrics, ReconcileMetrics};

/// Upstream's label name is camel-case.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
#[allow(non_snake_case, reason = "the label is upstream's `nodePool`")]
struct NodePoolLabel {
    nodePool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

/// Every metric the server reports.
#[derive(Clone, Debug)]
pub struct Metrics {
    get_requests: Family<NodePoolLabel, Counter>,
    unauthorized: Family<Reason, Counter>,
    pub cache_misses: Counter,
    pub generation_seconds: Histogram,
    generation_failures: Family<Reason, Counter>,
    pub cached_tokens: Gauge,
    pub lookups: LookupMetrics,
    pub reconciles: ReconcileMetrics,
}

impl Metrics {
    /// Registers them all in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            get_requests: Family::default(),
            unauthorized: Family::default(),
            cache_misses: Counter::default(),
            generation_seconds: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 30.0, 60.0]),
            generation_failures: Family::default(),
            cached_tokens: Gauge::default(),
            lookups: LookupMetrics::register(registry, "ign_server"),
            reconciles: ReconcileMetrics::register(registry, "tokensecret"),
        };
        let sub = registry.sub_registry_with_prefix("ign_server");
        sub.register(
            "get_request",
            "Payloads served, by NodePool",
            m.get_requests.clone(),
        );
        sub.register(
            "unauthorized",
            "Payload requests refused, by reason",
            m.unauthorized.clone(),
        );
        sub.register("payload_cache_miss", "Payloads generated", m.cache_misses.clone());
        sub.register(
            "payload_generation_seconds",
            "Time to generate a payload",
            m.generation_seconds.clone(),
        );
        sub.register(
            "payload_generation_failures",
            "Payload generations that failed, by reported reason",
            m.generation_failures.clone(),
        );
        sub.register(
            "payload_cache",
            "Tokens that open a payload",
            m.cached_tokens.clone(),
        );
        m
    }

    /// One payload served for `node_pool` (`<namespace>/<name>`).
    pub fn served(&self, node_pool: &str) {
        self.get_requests
            .get_or_create(&NodePoolLabel {
                nodePool: node_pool.to_owned(),
            })
            .inc();
    }

    /// One request refused; `reason` from a fixed set.
    pub fn unauthorized(&self, reason: &'static str) {
        self.unauthorized
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// One generation failed; `reason` from a fixed set.
    pub fn generation_failed(&self, reason: &'static str) {
        self.generation_failures
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }
}
