//! The HostedCluster reconciler: one pipeline per HostedCluster.
//!
//! ```text
//! dereference (client, provider) → validate (pure) → build (pure) → apply (client) → status (client)
//! ```
//!
//! Invalid input sets a False condition naming the offending value and waits for a change; a
//! transient failure (a registry or the API server) backs off exponentially per HostedCluster
//! (`hypershift_support::controller::Policy`); everything applied is looked at again every ten
//! minutes (tags are re-resolved, certificates renewed). Deletion is guarded by a finalizer that
//! removes the control-plane namespace.
//!
//! A reconcile starts when something it reads changes: the HostedCluster's spec, labels,
//! annotations or finalizers (not its status, which it writes itself), an owned Deployment,
//! Service or Route, the pull secret or trust-bundle ConfigMap it names (watched by metadata
//! only), or the management mirrors.

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
use hypershift_api::hosted_control_plane::HostedControlPlane;
use hypershift_api::names;
use hypershift_api::openshift::Route;
use hypershift_support::apply::delete_if_present;
use hypershift_support::controller::{Next, changes_by_others, spec_changes};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use kube::api::DeleteParams;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt as _, reflector, watcher};
use kube::{Api, Resource, ResourceExt as _};
use tracing::{info, instrument};

use crate::context::Context;
use error::Error;
use status::Outcome;

/// How often an applied HostedCluster is looked at again without any event.
const RESYNC: Duration = Duration::from_mins(10);

/// Runs the controller until the stream of reconciles ends.
pub async fn run(ctx: Arc<Context>, mirror_changes: impl futures::Stream<Item = ()> + Send + 'static) {
    let client = ctx.client.clone();
    let (store, writer) = reflector::store();
    // The reconciler's own status writes would trigger it again, and each reconcile re-applies
    // a dozen objects: only changes to what it reads (spec → generation, labels, annotations,
    // finalizers; deletion bumps the generation) start a reconcile.
    let hosted_clusters = spec_changes(Api::<HostedCluster>::all(client.clone()), writer);
    let owned = || watcher::Config::default().labels(&build::owned_selector());
    let mut controller = Controller::for_stream(hosted_clusters, store.clone())
        .with_config(controller::Config::default().concurrency(crate::MAX_CONCURRENT_RECONCILES))
        // Owned objects live in another namespace: traced back by the owner annotation. Only
        // changes by others count (availability, a node port allocated, an edit to undo): the
        // echo of the reconcile's own update would only start the same reconcile again.
        // Metadata only: a change (status included) moves the resourceVersion, which is all a
        // trigger needs; the reconcile reads what it uses itself, so no full object is decoded
        // or held for the watch.
        .watches_stream(
            changes_by_others(
                Api::<PartialObjectMeta<Deployment>>::all(client.clone()),
                owned(),
                ctx.applier.clone(),
            ),
            |d| owner_of(&d),
        )
        // The control-plane-operator's report (its status) becomes `Available`.
        .watches_stream(
            changes_by_others(
                Api::<PartialObjectMeta<HostedControlPlane>>::all(client.clone()),
                owned(),
                ctx.applier.clone(),
            ),
            |h| owner_of(&h),
        )
        // The node port or load-balancer address the cluster assigns ends up in the endpoint and
        // the serving certificate.
        .watches_stream(
            changes_by_others(
                Api::<PartialObjectMeta<Service>>::all(client.clone()),
                owned(),
                ctx.applier.clone(),
            ),
            |s| owner_of(&s),
        );
    if ctx.defaults.route_api {
        controller = controller.watches_stream(
            changes_by_others(
                Api::<PartialObjectMeta<Route>>::all(client.clone()),
                owned(),
                ctx.applier.clone(),
            ),
            |r| owner_of(&r),
        );
    }
    // A pull secret or trust bundle that appears or changes affects every HostedCluster naming
    // it. Metadata only: the operator never holds every Secret's data in memory.
    let secrets = watcher(
        Api::<PartialObjectMeta<Secret>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects();
    let config_maps = watcher(
        Api::<PartialObjectMeta<ConfigMap>>::all(client),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects();
    let (by_secret, by_config_map) = (store.clone(), store);
    controller
        .watches_stream(secrets, move |s| {
            naming(&by_secret, &s, |hc| Some(hc.spec.pull_secret.name.as_str()))
        })
        .watches_stream(config_maps, move |cm| {
            naming(&by_config_map, &cm, |hc| {
                hc.spec.additional_trust_bundle.as_ref().map(|b| b.name.as_str())
            })
        })
        .reconcile_all_on(mirror_changes)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "hostedcluster controller event");
            }
        })
        .await;
}

/// The HostedClusters in `obj`'s namespace whose `name_of` is `obj`'s name.
fn naming(
    store: &Store<HostedCluster>,
    obj: &impl Resource,
    name_of: impl Fn(&HostedCluster) -> Option<&str>,
) -> Vec<ObjectRef<HostedCluster>> {
    let (ns, name) = (obj.meta().namespace.clone(), obj.meta().name.clone());
    store
        .state()
        .into_iter()
        .filter(|hc| hc.namespace() == ns && name_of(hc).is_some() && name_of(hc) == name.as_deref())
        .map(|hc| ObjectRef::from_obj(&*hc))
        .collect()
}

fn owner_of<K: kube::Resource>(obj: &K) -> Option<ObjectRef<HostedCluster>> {
    let (ns, name) = hypershift_support::meta::owner_of(obj.meta(), names::HOSTED_CLUSTER_ANNOTATION)?;
    Some(ObjectRef::new(&name).within(&ns))
}

fn key(hc: &HostedCluster) -> String {
    format!("{}/{}", hc.namespace().unwrap_or_default(), hc.name_any())
}

#[instrument(skip(hc, ctx), fields(hc = %hc.name_any(), ns = %hc.namespace().unwrap_or_default()))]
async fn reconcile(hc: Arc<HostedCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.hosted_clusters.metrics.start();
    let key = key(&hc);
    let api: Api<HostedCluster> = Api::namespaced(ctx.client.clone(), &hc.namespace().unwrap_or_default());
    let result = Box::pin(finalizer(
        &api,
        names::HOSTED_CLUSTER_FINALIZER,
        hc,
        |event| async {
            match event {
                // Boxed: the pipeline's future is large (every built object is held across awaits).
                FinalizerEvent::Apply(hc) => Box::pin(reconcile_apply(hc, &ctx)).await,
                FinalizerEvent::Cleanup(hc) => cleanup(hc, &ctx).await,
            }
            .map(|next| ctx.hosted_clusters.succeeded(&key, next))
        },
    ))
    .await;
    match result {
        Ok(action) => Ok(action),
        Err(e) if hypershift_support::controller::is_stale_finalizer_view(&e) => {
            tracing::debug!(error = %e, "finalizer patch raced the watch; the current object comes next");
            Ok(ctx
                .hosted_clusters
                .succeeded(&key, hypershift_support::controller::Next::AwaitChange))
        }
        Err(
            kube::runtime::finalizer::Error::ApplyFailed(e)
            | kube::runtime::finalizer::Error::CleanupFailed(e),
        ) => Err(e),
        Err(other) => Err(Error::Finalizer(other.to_string())),
    }
}

/// The pipeline, as a table of contents.
async fn reconcile_apply(hc: Arc<HostedCluster>, ctx: &Context) -> Result<Next, Error> {
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
            return Ok(Next::AwaitChange);
        }
    };
    let prepared = build::build(&valid);
    match Box::pin(apply::apply(ctx, prepared)).await {
        Ok(applied) => {
            status::write(ctx, &hc, &d, &Outcome::Applied(&valid, &applied)).await?;
            Ok(Next::Requeue(RESYNC))
        }
        Err(e) => {
            status::write(ctx, &hc, &d, &Outcome::ApplyFailed(&valid, &e)).await?;
            Err(e)
        }
    }
}

async fn cleanup(hc: Arc<HostedCluster>, ctx: &Context) -> Result<Next, Error> {
    let namespace = names::control_plane_namespace(&hc.namespace().unwrap_or_default(), &hc.name_any());
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    match delete_if_present(&api, &namespace, &DeleteParams::background()).await {
        Ok(true) => info!(namespace, "deleted the control-plane namespace"),
        Ok(false) => {}
        Err(source) => return Err(Error::Cleanup { namespace, source }),
    }
    Ok(Next::AwaitChange)
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "kube's Controller passes the object and context by value"
)]
fn error_policy(hc: Arc<HostedCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.hosted_clusters.failed(&key(&hc), error)
}
