//! The HostedCluster reconciler: one pipeline per HostedCluster.
//!
//! ```text
//! dereference (client, provider) → validate (pure) → build (pure) → apply (client) → status (client)
//! ```
//!
//! Invalid input sets a False condition naming the offending value and waits for a change; a
//! failed release lookup retries after a pause; everything applied is requeued every ten minutes
//! (tags are re-resolved, certificates renewed). Deletion is guarded by a finalizer that removes
//! the control-plane namespace.

pub mod apply;
pub mod build;
pub mod dereference;
pub mod error;
pub mod status;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::names;
use hypershift_support::apply::delete_if_present;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::DeleteParams;
use kube::runtime::controller::{self, Action};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{
    Controller, Predicate as _, PredicateConfig, WatchStreamExt as _, predicates, reflector, watcher,
};
use kube::{Api, ResourceExt as _};
use tracing::{info, instrument, warn};

use crate::context::Context;
use error::Error;
use status::Outcome;

/// How often an applied HostedCluster is looked at again without any event.
const RESYNC: Duration = Duration::from_mins(10);
/// The pause before retrying after a failure.
const RETRY: Duration = Duration::from_secs(15);

/// Runs the controller until the stream of reconciles ends.
pub async fn run(ctx: Arc<Context>, mirror_changes: impl futures::Stream<Item = ()> + Send + 'static) {
    let client = ctx.client.clone();
    let (store, writer) = reflector::store();
    // The reconciler's own status writes would trigger it again, and each reconcile re-applies
    // a dozen objects: only changes to what it reads (spec → generation, labels, annotations,
    // finalizers; deletion bumps the generation) start a reconcile.
    let hosted_clusters = watcher(
        Api::<HostedCluster>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(
        predicates::generation
            .combine(predicates::labels)
            .combine(predicates::annotations)
            .combine(predicates::finalizers),
        PredicateConfig::default(),
    );
    let controller = Controller::for_stream(hosted_clusters, store.clone())
        .with_config(controller::Config::default().concurrency(crate::MAX_CONCURRENT_RECONCILES));
    let owned = watcher::Config::default().labels(&build::owned_selector());
    controller
        // Owned objects live in another namespace: traced back by the owner annotation.
        .watches(Api::<Deployment>::all(client.clone()), owned, |d: Deployment| {
            owner_of(&d)
        })
        // A pull secret changing (or appearing) affects every HostedCluster naming it.
        .watches(
            Api::<Secret>::all(client),
            watcher::Config::default(),
            move |secret: Secret| {
                let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
                store
                    .state()
                    .into_iter()
                    .filter(|hc| {
                        hc.namespace().as_deref() == Some(ns.as_str()) && hc.spec.pull_secret.name == name
                    })
                    .map(|hc| ObjectRef::from_obj(&*hc))
                    .collect::<Vec<_>>()
            },
        )
        .reconcile_all_on(mirror_changes)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "hostedcluster controller event");
            }
        })
        .await;
}

fn owner_of<K: kube::Resource>(obj: &K) -> Option<ObjectRef<HostedCluster>> {
    let owner = obj
        .meta()
        .annotations
        .as_ref()?
        .get(names::HOSTED_CLUSTER_ANNOTATION)?;
    let (ns, name) = owner.split_once('/')?;
    Some(ObjectRef::new(name).within(ns))
}

#[instrument(skip(hc, ctx), fields(hc = %hc.name_any(), ns = %hc.namespace().unwrap_or_default()))]
async fn reconcile(hc: Arc<HostedCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.hosted_cluster_metrics.start();
    let api: Api<HostedCluster> = Api::namespaced(ctx.client.clone(), &hc.namespace().unwrap_or_default());
    Box::pin(finalizer(
        &api,
        names::HOSTED_CLUSTER_FINALIZER,
        hc,
        |event| async {
            match event {
                // Boxed: the pipeline's future is large (every built object is held across awaits).
                FinalizerEvent::Apply(hc) => Box::pin(reconcile_apply(hc, &ctx)).await,
                FinalizerEvent::Cleanup(hc) => cleanup(hc, &ctx).await,
            }
        },
    ))
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    })
}

async fn reconcile_apply(hc: Arc<HostedCluster>, ctx: &Context) -> Result<Action, Error> {
    let d = dereference::dereference(ctx, Arc::clone(&hc)).await?;
    let valid = match validate::validate(&d, &ctx.defaults) {
        Ok(valid) => valid,
        Err(problems) => {
            status::write(ctx, &hc, &d, &Outcome::Invalid(&problems)).await?;
            if let Some(p) = problems.iter().find(|p| p.transient) {
                return Err(Error::Lookup(p.message.clone()));
            }
            info!(
                problems = problems.len(),
                "invalid HostedCluster; waiting for a change"
            );
            return Ok(Action::await_change());
        }
    };
    let prepared = build::build(&valid);
    match Box::pin(apply::apply(ctx, prepared)).await {
        Ok(_applied) => {
            status::write(ctx, &hc, &d, &Outcome::Applied(&valid)).await?;
            Ok(Action::requeue(RESYNC))
        }
        Err(e) => {
            status::write(ctx, &hc, &d, &Outcome::ApplyFailed(&valid, &e)).await?;
            Err(e)
        }
    }
}

async fn cleanup(hc: Arc<HostedCluster>, ctx: &Context) -> Result<Action, Error> {
    let namespace = names::control_plane_namespace(&hc.namespace().unwrap_or_default(), &hc.name_any());
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    match delete_if_present(&api, &namespace, &DeleteParams::background()).await {
        Ok(true) => info!(namespace, "deleted the control-plane namespace"),
        Ok(false) => {}
        Err(source) => return Err(Error::Cleanup { namespace, source }),
    }
    Ok(Action::await_change())
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "kube's Controller passes the object and context by value"
)]
fn error_policy(hc: Arc<HostedCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.hosted_cluster_metrics.failed(error.category());
    warn!(hc = %hc.name_any(), category = error.category(), error = %error, "reconcile failed; retrying");
    Action::requeue(RETRY)
}
