//! The token Secret reconciler: one payload per token Secret of the namespace, served for its
//! current and previous token, as the same pipeline as the hypershift-operator's controllers.
//!
//! ```text
//! dereference::inputs (API: the pull-secret and trust-bundle copies) → validate (pure: the
//! TokenSecret contract, the hashes, the config documents) → [stored payload for these inputs?
//! serve it for the current tokens] → dereference::images (registry, through the mirrors: the
//! release, the machine-config-operator image's templates) → build (pure: the Ignition config)
//! → apply (the payload store) → status (PayloadStatus on the token Secret)
//! ```
//!
//! A reconcile starts when a token Secret (a Secret labelled with its NodePool and annotated
//! `hypershift.openshift.io/ignition-config`) changes, and for every token Secret when the
//! `pull-secret` Secret or the `user-ca-bundle` ConfigMap changes. A deleted Secret's payload is
//! evicted at once; one that expires is evicted at its expiry. Tokens are rotated by the
//! NodePool controller (the hypershift-operator), which writes the previous one as `old_token`:
//! both open the payload until the Secret expires. Generation failures are reported on the
//! Secret (`reason`, `message`), counted by reason, and logged naming the NodePool, never a token.

mod apply;
mod build;
pub(crate) mod dereference;
mod error;
mod status;
pub(crate) mod templates;
pub(crate) mod validate;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt as _;
use hypershift_api::names;
use hypershift_releaseinfo::StandardProvider;
use hypershift_support::contract::{PayloadStatus, keys};
use hypershift_support::controller::{Next, Policy};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::runtime::{Controller, WatchStreamExt as _, reflector, watcher};
use kube::{Api, ResourceExt as _};
use tracing::{info, instrument, warn};

pub use build::{PULL_SECRET, REGISTRIES_CONF, TRUST_BUNDLE};
pub use error::{Error, Failure};

use crate::metrics::Metrics;
use crate::store::PayloadStore;
use validate::{ValidToken, Validated};

/// How many token Secrets are worked on at once (upstream: one, behind a mutex).
pub const CONCURRENCY: u16 = 4;

/// What the reconciler works with.
pub struct Context {
    pub client: kube::Client,
    pub namespace: String,
    pub provider: Arc<StandardProvider>,
    pub store: PayloadStore,
    pub metrics: Metrics,
    pub policy: Policy,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Runs the controller until the process stops.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let ns = ctx.namespace.clone();
    let api = Api::<Secret>::namespaced(client.clone(), &ns);
    let (reader, writer) = reflector::store();
    let tokens = watcher(api, watcher::Config::default().labels(keys::NODE_POOL_LABEL))
        .default_backoff()
        .inspect(evictions(Arc::clone(&ctx)))
        .reflect(writer)
        .touched_objects();
    let named = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    // Metadata only: a change is all that matters here.
    let pull_secret = watcher(
        Api::<PartialObjectMeta<Secret>>::namespaced(client.clone(), &ns),
        named(names::PULL_SECRET),
    )
    .default_backoff()
    .touched_objects();
    let trust_bundle = watcher(
        Api::<PartialObjectMeta<ConfigMap>>::namespaced(client, &ns),
        named(names::USER_CA_BUNDLE),
    )
    .default_backoff()
    .touched_objects();
    let (all_a, all_b) = (reader.clone(), reader.clone());
    Controller::for_stream(tokens, reader)
        .with_config(controller::Config::default().concurrency(CONCURRENCY))
        .watches_stream(pull_secret, move |_| every(&all_a))
        .watches_stream(trust_bundle, move |_| every(&all_b))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "token controller event");
            }
        })
        .await;
}

fn every(store: &Store<Secret>) -> Vec<ObjectRef<Secret>> {
    store.state().iter().map(|s| ObjectRef::from_obj(&**s)).collect()
}

/// Evicts the payloads of deleted Secrets: on a delete event, and after a relist for every
/// stored Secret the list no longer holds (a delete missed while the watch was down).
fn evictions(ctx: Arc<Context>) -> impl FnMut(&Result<Event<Secret>, watcher::Error>) {
    let listed: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    move |event| {
        let mut listed = listed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Ok(Event::Delete(s)) => {
                apply::evict_deleted(&ctx, &s.name_any(), s.uid().as_deref().unwrap_or_default());
            }
            Ok(Event::Init) => *listed = Some(HashSet::new()),
            Ok(Event::InitApply(s)) => {
                if let Some(names) = listed.as_mut() {
                    names.insert(s.name_any());
                }
            }
            Ok(Event::InitDone) => {
                if let Some(names) = listed.take() {
                    for gone in ctx.store.secrets().into_iter().filter(|s| !names.contains(s)) {
                        let uid = ctx.store.uid_of(&gone).unwrap_or_default();
                        apply::evict_deleted(&ctx, &gone, &uid);
                    }
                }
            }
            _ => {}
        }
    }
}

#[instrument(skip(secret, ctx), fields(secret = %secret.name_any()))]
async fn reconcile(secret: Arc<Secret>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.policy.metrics.start();
    let name = secret.name_any();
    let is_token = secret
        .annotations()
        .contains_key(keys::IGNITION_CONFIG_ANNOTATION);
    if secret.metadata.deletion_timestamp.is_some() {
        apply::evict_deleted(&ctx, &name, secret.uid().as_deref().unwrap_or_default());
        return Ok(ctx.policy.succeeded(&name, Next::AwaitChange));
    }
    if !is_token {
        apply::evict(&ctx, &name);
        return Ok(ctx.policy.succeeded(&name, Next::AwaitChange));
    }
    let next = reconcile_token(secret, &ctx).await?;
    Ok(ctx.policy.succeeded(&name, next))
}

/// The pipeline, as a table of contents.
async fn reconcile_token(secret: Arc<Secret>, ctx: &Context) -> Result<Next, Error> {
    let inputs = dereference::inputs(ctx, Arc::clone(&secret)).await?;
    let now = Timestamp::now();
    let valid = match validate::validate(&inputs, now) {
        Ok(Validated::Valid(valid)) => valid,
        Ok(Validated::Expired) => {
            apply::evict(ctx, &secret.name_any());
            return Ok(Next::AwaitChange);
        }
        Err(failure) => return Err(failed(ctx, &secret, failure).await),
    };
    let next = next_for(&valid, now);
    if let Some(stored) = ctx
        .store
        .payload_of(&valid.secret)
        .filter(|p| p.inputs == valid.inputs)
    {
        // Same inputs (a rotation, or an echo of our own report): the same payload.
        apply::retoken(ctx, &valid, stored);
        status::report(ctx, &secret, &PayloadStatus::generated()).await?;
        return Ok(next);
    }
    ctx.metrics.cache_misses.inc();
    let started = Instant::now();
    let generated = generate(ctx, &valid).await;
    ctx.metrics
        .generation_seconds
        .observe(started.elapsed().as_secs_f64());
    match generated {
        Ok((images, bytes)) => {
            let size = bytes.len();
            let payload = apply::store(ctx, &valid, bytes);
            info!(
                node_pool = %valid.node_pool,
                digest = %payload.digest,
                bytes = size,
                release = %images.release_pulled_from,
                machine_config_operator = %images.mco_pulled_from,
                "payload generated"
            );
            if !valid.not_rendered.is_empty() {
                warn!(
                    node_pool = %valid.node_pool,
                    kinds = %valid.not_rendered.join(", "),
                    "config documents of these kinds are not rendered into the payload"
                );
            }
            status::report(ctx, &secret, &PayloadStatus::generated()).await?;
            Ok(next)
        }
        Err(failure) => Err(failed(ctx, &secret, failure).await),
    }
}

async fn generate(ctx: &Context, valid: &ValidToken) -> Result<(dereference::Images, Vec<u8>), Failure> {
    let images = dereference::images(ctx, valid).await?;
    let bytes = build::payload(valid, &images)?;
    Ok((images, bytes))
}

/// After a success: look again when the Secret expires (to evict it), else on a change.
fn next_for(valid: &ValidToken, now: Timestamp) -> Next {
    match valid.expires_at {
        Some(at) => {
            let left = now.duration_until(at).unsigned_abs();
            Next::Requeue(left + std::time::Duration::from_secs(1))
        }
        None => Next::AwaitChange,
    }
}

/// Reports `failure` on the Secret and counts it; the error the controller logs (naming the
/// NodePool) and retries by.
async fn failed(ctx: &Context, secret: &Secret, failure: Failure) -> Error {
    ctx.metrics.generation_failed(failure.reason());
    let status = PayloadStatus {
        reason: failure.reason().to_owned(),
        message: failure.to_string(),
    };
    if let Err(e) = status::report(ctx, secret, &status).await {
        return e;
    }
    Error::Failed {
        secret: secret.name_any(),
        node_pool: secret
            .annotations()
            .get(keys::NODE_POOL_ANNOTATION)
            .cloned()
            .unwrap_or_default(),
        failure,
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "kube's Controller::run hands error policies an Arc"
)]
fn error_policy(secret: Arc<Secret>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.policy.failed(&secret.name_any(), error)
}

/// Annotates each token Secret named on `rx` as reached; a failure makes the next request try
/// again.
pub async fn report_reached(
    client: kube::Client,
    namespace: String,
    store: PayloadStore,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    while let Some(name) = rx.recv().await {
        match status::reached(&client, &namespace, &name).await {
            Ok(()) => {}
            // Deleted meanwhile: nothing to report on.
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                warn!(secret = %name, error = %e, "could not mark the token Secret as reached");
                store.unmark_reached(&name);
            }
        }
    }
}
