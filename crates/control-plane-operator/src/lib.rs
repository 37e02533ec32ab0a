//! The control-plane-operator: one HostedControlPlane's components.
//!
//! ```text
//!  control-plane-operator run (main.rs → lib::run)
//!    config: flags/file/CONTROL_PLANE_OPERATOR_*, OPENSHIFT_IMG_OVERRIDES
//!        │   MirrorCarriers::merged_mirror_set: the env's mirrors, then each --registry-overrides
//!        │   target as the last-priority mirror (no duplicates, no "" → "")
//!        ▼
//!    ReleaseProvider = WithRegistryOverrides(WithMirrors(Cached(OciRegistry)))
//!        ▼
//!    hcp::run: HostedControlPlane ─► release through the mirrors ─► components table
//!        │     (--registry-overrides Replace on every container and init container image)
//!        ▼
//!    Deployments / StatefulSet (owned, pruned), HostedControlPlane status
//! ```
//!
//! The management mirrors never go into pod images: on a management cluster CRI-O applies
//! IDMS/ICSP when it pulls. They serve this process's own lookups only.

pub mod catalogs;
pub mod components;
pub mod config;
pub mod hcp;

use hypershift_support::binary::stopped;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use hypershift_support::admin::{AdminState, serve};
use hypershift_support::apply::Applier;
use hypershift_support::controller::{Backoff, Policy};
use hypershift_support::leader::LeaderElector;
use hypershift_support::metrics::ReconcileMetrics;
use hypershift_support::telemetry::LogHandle;
use prometheus_client::registry::Registry;
use tracing::info;

use crate::config::OperatorConfig;

/// The field manager of every write, and the managed-by label of every owned object.
pub const FIELD_MANAGER: &str = "control-plane-operator";

/// The reconciler's context for `config`: the management cluster's capabilities (read once, as
/// upstream does), the release provider through the merged management mirrors, the applier.
pub async fn context(
    config: &OperatorConfig,
    client: kube::Client,
    metrics: ReconcileMetrics,
) -> anyhow::Result<hcp::Context> {
    let image_stream_api =
        hypershift_support::client::served(&client, "image.openshift.io/v1", "imagestreams")
            .await
            .context("discovering image.openshift.io/v1")?;
    if !image_stream_api {
        info!(
            "image.openshift.io/v1 ImageStreams are not served: catalog Deployments reference their images by digest"
        );
    }
    Ok(hcp::Context {
        client: client.clone(),
        namespace: config.namespace.clone(),
        name: config.hosted_control_plane.clone(),
        provider: Arc::new(config.registry.provider(config.mirrors.clone())),
        registry_overrides: config.carriers.registry_overrides.clone(),
        carriers: config.carriers.clone(),
        mirror_set_hash: config.mirrors.content_hash().to_owned(),
        image_stream_api,
        catalog_cache: hcp::CatalogCache::default(),
        applier: Applier::new(client, FIELD_MANAGER),
        policy: Policy::new(metrics, Backoff::default()),
    })
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
        concat!("control-plane-operator/", env!("CARGO_PKG_VERSION")),
    )
    .await?;
    let ready = Arc::new(AtomicBool::new(false));
    let mut registry = Registry::default();
    let metrics = ReconcileMetrics::register(&mut registry, "hostedcontrolplane");
    let (admin_addr, _admin) = serve(
        config.admin_addr,
        AdminState {
            registry: Arc::new(registry),
            ready: Arc::clone(&ready),
            log,
        },
    )
    .await
    .with_context(|| format!("cannot listen on --admin-addr {}", config.admin_addr))?;
    info!(
        %admin_addr,
        namespace = %config.namespace,
        hosted_control_plane = %config.hosted_control_plane,
        mirror_set_hash = %config.mirrors.content_hash(),
        mirror_rules = config.mirrors.rules().len(),
        registry_overrides = %config.carriers.registry_overrides.to_flag(),
        "effective mirrors"
    );
    let ctx = Arc::new(context(&config, client.clone(), metrics).await?);
    ready.store(true, Ordering::Relaxed);
    if !config.leader_elect {
        tokio::select! {
            () = hcp::run(ctx) => {}
            () = stopped(stop) => {}
        }
        return Ok(());
    }
    let identity = format!("{}-{}", config.hosted_control_plane, std::process::id());
    let elector = LeaderElector::new(
        client,
        &config.namespace,
        "control-plane-operator-lock",
        &identity,
        config.leader_election,
    )
    .context("leader election")?;
    let mut leadership = tokio::select! {
        l = elector.acquire() => l,
        () = stopped(stop.clone()) => return Ok(()),
    };
    info!(identity, "leading");
    tokio::select! {
        biased;
        lost = leadership.lost() => Err(anyhow::Error::new(lost).context("stopping: leadership lost")),
        // SIGTERM (a rollout replacing this pod): hand the lease over at once, so the new pod
        // leads now rather than when the lease expires.
        () = stopped(stop) => {
            leadership.release().await.context("releasing the leader lease")?;
            Ok(())
        }
        () = hcp::run(ctx) => {
            leadership.release().await.context("releasing the leader lease")?;
            Ok(())
        }
    }
}
