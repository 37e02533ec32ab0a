//! The ignition-server: each NodePool's Ignition payload, over HTTPS, for its token.
//!
//! ```text
//!  ignition-server start (main.rs → lib::run)
//!    config: flags/file/IGNITION_SERVER_*, OPENSHIFT_IMG_OVERRIDES → MirrorCarriers
//!        │   (--registry-overrides rewrites references; the env var is the mirror set)
//!        ▼
//!    ReleaseProvider = WithRegistryOverrides(WithMirrors(Cached(OciRegistry)))
//!        ▼
//!    tokens::run: token Secrets ─► payload (release + MCO templates through the mirrors, rendered
//!        │        into Ignition 3.2.0) ─► PayloadStore (token digest → payload) ─► PayloadStatus
//!        ▼
//!    http::serve: TLS (tls::ReloadingCert) ─► GET /ignition, Bearer token ─► payload
//!    admin: /healthz /livez /readyz /metrics on --admin-addr
//! ```
//!
//! No container runtime runs in this pod, so nothing translates image references to mirrors
//! for us: every read (the release, the machine-config-operator image) goes through the
//! provider's mirror selection, which asks the source only after every mirror has failed.

pub mod config;
pub mod http;
pub mod metrics;
pub mod store;
pub mod tls;
pub mod tokens;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use hypershift_support::admin::{AdminState, serve};
use hypershift_support::controller::{Backoff, Policy};
use hypershift_support::telemetry::LogHandle;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::info;

use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::store::PayloadStore;

/// Runs the server until `stop` turns true, then drains the HTTPS connections.
pub async fn run(
    config: ServerConfig,
    log: Option<LogHandle>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    hypershift_releaseinfo::install_crypto_provider();
    let cert =
        tls::ReloadingCert::load(&config.cert_file, &config.key_file).context("serving certificate")?;
    let client = hypershift_support::client::client(
        config.kubeconfig.as_deref(),
        concat!("ignition-server/", env!("CARGO_PKG_VERSION")),
    )
    .await?;
    let ready = Arc::new(AtomicBool::new(false));
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
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
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on --addr {}", config.addr))?;
    info!(
        addr = %listener.local_addr().unwrap_or(config.addr),
        %admin_addr,
        namespace = %config.namespace,
        mirror_set_hash = %config.mirrors.content_hash(),
        mirror_rules = config.mirrors.rules().len(),
        registry_overrides = %config.carriers.registry_overrides.to_flag(),
        "serving"
    );
    let store = PayloadStore::default();
    let (reached_tx, reached_rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = Arc::new(tokens::Context {
        client: client.clone(),
        namespace: config.namespace.clone(),
        provider: Arc::new(config.registry.provider(config.mirrors.clone())),
        store: store.clone(),
        metrics: metrics.clone(),
        policy: Policy::new(metrics.reconciles.clone(), Backoff::default()),
    });
    let router = http::router(http::HttpState {
        store: store.clone(),
        metrics,
        reached: reached_tx,
    });
    let _reloader = cert.spawn_reloader();
    let reporter = tokio::spawn(tokens::report_reached(
        client,
        config.namespace.clone(),
        store,
        reached_rx,
    ));
    ready.store(true, Ordering::Relaxed);
    tokio::select! {
        () = http::serve(listener, tls::server_config(cert), router, config.max_connections, stop) => {
            info!("stopped serving");
        }
        () = tokens::run(ctx) => {}
    }
    reporter.abort();
    Ok(())
}
