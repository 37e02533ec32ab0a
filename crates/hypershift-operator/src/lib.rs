//! The hypershift-operator.
//!
//! ```text
//!  hypershift-operator (main.rs → lib::run)
//!    management_mirrors::detect()  ──►  Capabilities { icsp, idms, itms }   (and a CRD watch for changes)
//!             │ watch ImageContentSourcePolicy / ImageDigestMirrorSet / ImageTagMirrorSet
//!             ▼
//!    MirrorSetBuilder ──► ManagementMirrors ──► provider.set_mirrors() and a watch channel
//!             ▼
//!    ReleaseProvider = WithRegistryOverrides(WithMirrors(Cached(OciRegistry)))   (in Context)
//!             ▼
//!    hostedcluster::reconcile: dereference → validate → build → apply → status
//!             │ build::control_plane_operator  (--registry-overrides=…, OPENSHIFT_IMG_OVERRIDES)
//!             │ build::ignition_server         (--registry-overrides …, OPENSHIFT_IMG_OVERRIDES)
//!             ▼
//!    nodepool::reconcile: token Secret (rotation) and user-data Secret (pointer Ignition config)
//! ```

pub mod config;
pub mod context;
pub mod hostedcluster;
pub mod management_mirrors;
pub mod nodepool;
pub mod pki;
pub mod rbac;

/// How many HostedClusters (and, separately, NodePools) are reconciled at once, as upstream's
/// controllers do (10). Unbounded, a burst of new HostedClusters holds every pipeline's objects
/// in memory at the same time and competes for the same API server.
pub const MAX_CONCURRENT_RECONCILES: u16 = 10;

use hypershift_support::binary::stopped;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use futures::StreamExt as _;
use hypershift_api::names;
use hypershift_support::admin::{AdminState, serve};
use hypershift_support::apply::Applier;
use hypershift_support::controller::{Backoff, Policy};
use hypershift_support::leader::LeaderElector;
use hypershift_support::metrics::{LookupMetrics, ReconcileMetrics};
use hypershift_support::telemetry::LogHandle;
use kube::runtime::events::{Recorder, Reporter};
use prometheus_client::registry::Registry;
use tracing::{info, warn};

use crate::config::OperatorConfig;
use crate::context::Context;
use crate::hostedcluster::validate::Defaults;

/// The metrics every controller reports.
struct Metrics {
    hosted_cluster: ReconcileMetrics,
    node_pool: ReconcileMetrics,
    lookups: LookupMetrics,
    mirrors: management_mirrors::MirrorMetrics,
}

/// Runs the operator until it is stopped or loses its lease.
pub async fn run(
    config: OperatorConfig,
    log: Option<LogHandle>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    hypershift_releaseinfo::install_crypto_provider();
    let client = hypershift_support::client::client(
        config.kubeconfig.as_deref(),
        concat!("hypershift-operator/", env!("CARGO_PKG_VERSION")),
    )
    .await?;
    let ready = Arc::new(AtomicBool::new(false));
    let metrics = start_admin(&config, log, Arc::clone(&ready)).await?;

    let identity = format!("{}-{}", hostname(), std::process::id());
    if !config.leader_elect {
        return tokio::select! {
            result = operate(config, client, identity, metrics, ready) => result,
            () = stopped(stop) => Ok(()),
        };
    }
    let elector = LeaderElector::new(
        client.clone(),
        &config.namespace,
        "hypershift-operator-lock",
        &identity,
        config.leader_election,
    )
    .context("leader election")?;
    // Standing by is a ready state: the process works as designed.
    ready.store(true, Ordering::Relaxed);
    info!(identity, "waiting for leadership");
    // Held for the whole run: it renews the lease from the moment it is acquired, so start-up
    // (discovery, the first read of the mirrors) is covered, and losing it stops start-up too.
    let mut leadership = tokio::select! {
        l = elector.acquire() => l,
        () = stopped(stop.clone()) => return Ok(()),
    };
    info!(identity, "leading");
    tokio::select! {
        biased;
        lost = leadership.lost() => Err(anyhow::Error::new(lost).context("stopping: leadership lost")),
        // SIGTERM (a rollout, a drain): hand the lease over at once, so a standby or the new pod
        // leads now rather than when the lease expires.
        () = stopped(stop) => {
            leadership.release().await.context("releasing the leader lease")?;
            Ok(())
        }
        result = operate(config, client, identity, metrics, ready) => {
            leadership.release().await.context("releasing the leader lease")?;
            result
        }
    }
}

/// Detects the APIs, reads the mirrors, and runs both controllers.
async fn operate(
    config: OperatorConfig,
    client: kube::Client,
    identity: String,
    metrics: Metrics,
    ready: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let capabilities = management_mirrors::detect(&client)
        .await
        .context("detecting mirror APIs")?;
    log_missing(capabilities);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "hypershift-operator".into(),
            instance: Some(identity),
        },
    );
    let provider = Arc::new(provider(&config));
    let mut mirrors = management_mirrors::spawn(
        client.clone(),
        capabilities,
        Arc::clone(&provider),
        management_mirrors::Reporting {
            recorder: recorder.clone(),
            metrics: metrics.mirrors,
        },
    );
    // Render nothing before the mirror objects are read: carriers must not flap at start-up.
    mirrors
        .wait_for(|s| s.synced)
        .await
        .context("the mirror watcher stopped")?;
    ready.store(true, Ordering::Relaxed);

    let ctx = Arc::new(Context {
        // The kinds the controllers watch as owned objects: their echoes are told apart.
        applier: Applier::new(client.clone(), names::HO_FIELD_MANAGER).tracking(&[
            "Deployment",
            "Service",
            "Route",
            "HostedControlPlane",
        ]),
        recorder,
        client,
        provider,
        mirrors: mirrors.clone(),
        defaults: Defaults {
            registry_overrides: config.registry_overrides.clone(),
            registry_ca_bundle: config.registry_ca_bundle.clone(),
            control_plane_operator_image: config.control_plane_operator_image.clone(),
            ignition_server_image: config.ignition_server_image.clone(),
            route_api: capabilities.route,
        },
        hosted_clusters: Policy::new(metrics.hosted_cluster, Backoff::default()),
        node_pools: Policy::new(metrics.node_pool, Backoff::default()),
        lookups: metrics.lookups,
    });
    tokio::join!(
        hostedcluster::run(Arc::clone(&ctx), mirror_changes(mirrors)),
        nodepool::run(Arc::clone(&ctx))
    );
    Ok(())
}

/// Registers the metrics and serves the admin routes.
async fn start_admin(
    config: &OperatorConfig,
    log: Option<LogHandle>,
    ready: Arc<AtomicBool>,
) -> anyhow::Result<Metrics> {
    let mut registry = Registry::default();
    let metrics = Metrics {
        hosted_cluster: ReconcileMetrics::register(&mut registry, "hostedcluster"),
        node_pool: ReconcileMetrics::register(&mut registry, "nodepool"),
        lookups: LookupMetrics::register(&mut registry, "hostedcluster"),
        mirrors: management_mirrors::MirrorMetrics::register(&mut registry),
    };
    let (admin_addr, _task) = serve(
        config.admin_addr,
        AdminState {
            registry: Arc::new(registry),
            ready,
            log,
        },
    )
    .await
    .with_context(|| format!("cannot listen on --admin-addr {}", config.admin_addr))?;
    info!(%admin_addr, "admin listener up");
    Ok(metrics)
}

/// One item per change of the rule set or of its invalid entries (every HostedCluster reports
/// them): every HostedCluster is requeued on each. The last state seen travels with the stream,
/// so a change arriving while the previous one is handled is not lost.
fn mirror_changes(
    mut rx: tokio::sync::watch::Receiver<management_mirrors::MirrorState>,
) -> futures::stream::BoxStream<'static, ()> {
    let seen = |s: &management_mirrors::MirrorState| (s.set.content_hash().to_owned(), s.problems.clone());
    let first = seen(&rx.borrow_and_update());
    futures::stream::unfold((rx, first), move |(mut rx, mut last)| async move {
        loop {
            rx.changed().await.ok()?;
            let now = seen(&rx.borrow_and_update());
            if now != last {
                info!(
                    hash = now.0,
                    problems = now.1.len(),
                    "management mirrors changed; requeueing every HostedCluster"
                );
                last = now;
                return Some(((), (rx, last)));
            }
        }
    })
    .boxed()
}

fn log_missing(capabilities: management_mirrors::Capabilities) {
    let kinds = [
        (capabilities.icsp, "ImageContentSourcePolicy"),
        (capabilities.idms, "ImageDigestMirrorSet"),
        (capabilities.itms, "ImageTagMirrorSet"),
    ];
    for (present, kind) in kinds {
        if !present {
            warn!(kind, "mirror API not served; watching for its CRD");
        }
    }
    if !capabilities.route {
        warn!(
            kind = "Route",
            "route.openshift.io/v1 not served; HostedClusters cannot publish Ignition by Route"
        );
    }
}

/// The release provider chain, with the operator's CA bundle, timeout and overrides; its mirror
/// set is filled in by the mirror watcher.
fn provider(config: &OperatorConfig) -> hypershift_releaseinfo::StandardProvider {
    // The management mirrors arrive later, from the watchers (`set_mirrors`).
    hypershift_support::config::RegistrySettings {
        registry_overrides: config.registry_overrides.clone(),
        registry_ca_bundle: config.registry_ca_bundle.clone(),
        registry_timeout: config.registry_timeout,
    }
    .provider(hypershift_mirrors::ManagementMirrors::default())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hypershift-operator".to_owned())
}
