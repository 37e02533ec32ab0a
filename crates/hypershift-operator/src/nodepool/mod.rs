//! The NodePool reconciler: what a node needs to fetch its Ignition payload, as the same
//! pipeline as HostedClusters.
//!
//! ```text
//! dereference (client, clock, a fresh token) → validate (pure) → build (pure) → apply (client) → status (client)
//! ```
//!
//! For each NodePool, in the control-plane namespace: a token Secret `token-<np>-<hash>` (the
//! [`TokenSecret`](hypershift_support::contract::TokenSecret) contract the ignition server
//! serves payloads for), and a user-data Secret `user-data-<np>-<hash>` holding the pointer
//! Ignition config nodes boot with (both where upstream keeps them). `<hash>` is the config hash:
//! a change of the data-plane mirrors, the NodePool's config ConfigMaps, its release or the pull
//! secret's or trust bundle's name gives new Secrets, and the old token is served two more hours
//! (upstream's behaviour, spec/olm-dataplane-ignition.md C.4–C.6).
//!
//! The ignition server reports back on the token Secret (`reason`, `message`:
//! [`PayloadStatus`](hypershift_support::contract::PayloadStatus)); that becomes
//! `ValidGeneratedPayload`.
//!
//! Where we differ from upstream: the operator rotates the token itself (after 5.5 hours the
//! token becomes `old_token`, still accepted, and a new one is written; the user data follows),
//! so the ignition server never writes tokens; and the config hash uses the release *image*
//! rather than its version (no registry lookup in this controller).
//!
//! A reconcile starts when the NodePool's spec, labels, annotations or finalizers change (not its
//! status, which it writes itself), when its HostedCluster changes (the ignition endpoint is in
//! its status), when one of its Secrets changes (the ignition server's report), when the control
//! plane's pull secret or trust bundle copy changes, or when a config ConfigMap it names does.

mod apply;
mod build;
mod dereference;
mod error;
mod status;
pub(crate) mod validate;

use std::sync::Arc;

use futures::StreamExt as _;
use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::names;
use hypershift_api::node_pool::NodePool;
use hypershift_support::contract::keys;
use hypershift_support::controller::{Next, spec_changes};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::ListParams;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt as _, reflector, watcher};
use kube::{Api, Resource, ResourceExt as _};
use tracing::instrument;

use crate::context::Context;
pub use build::pointer_config;
use error::{Error, read};
use status::Outcome;
pub use validate::config_hash;

const FINALIZER: &str = "hypershift.openshift.io/nodepool-finalizer";

/// Runs the controller.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let (store, writer) = reflector::store();
    // Its own status writes do not start a reconcile: only what it reads does.
    let node_pools = spec_changes(Api::<NodePool>::all(client.clone()), writer);
    let (by_cluster, by_secret, by_config_map) = (store.clone(), store.clone(), store.clone());
    // Metadata only: Secrets carry credentials the controller need not hold.
    let secrets = watcher(
        Api::<PartialObjectMeta<Secret>>::all(client.clone()),
        watcher::Config::default().labels(&crate::hostedcluster::build::owned_selector()),
    )
    .default_backoff()
    .touched_objects();
    let config_maps = watcher(
        Api::<PartialObjectMeta<ConfigMap>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects();
    Controller::for_stream(node_pools, store)
        .with_config(controller::Config::default().concurrency(crate::MAX_CONCURRENT_RECONCILES))
        .watches(
            Api::<HostedCluster>::all(client),
            watcher::Config::default(),
            move |hc: HostedCluster| {
                of_cluster(&by_cluster, &hc.namespace().unwrap_or_default(), &hc.name_any())
            },
        )
        // Its own Secrets (the ignition server's report), and the control plane's pull secret
        // copy (annotated with its HostedCluster).
        .watches_stream(secrets, move |s| {
            if let Some((ns, name)) = hypershift_support::meta::owner_of(s.meta(), keys::NODE_POOL_ANNOTATION)
            {
                return vec![ObjectRef::new(&name).within(&ns)];
            }
            owned_by_cluster(&by_secret, &s)
        })
        // Config ConfigMaps it names, and the control plane's trust bundle copy.
        .watches_stream(config_maps, move |cm| {
            let mut refs = owned_by_cluster(&by_config_map, &cm);
            let (ns, name) = (cm.namespace(), cm.name_any());
            refs.extend(
                by_config_map
                    .state()
                    .into_iter()
                    .filter(|np| np.namespace() == ns && np.spec.config.iter().any(|c| c.name == name))
                    .map(|np| ObjectRef::from_obj(&*np)),
            );
            refs
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "nodepool controller event");
            }
        })
        .await;
}

/// The NodePools of HostedCluster `namespace/name`.
fn of_cluster(store: &Store<NodePool>, namespace: &str, name: &str) -> Vec<ObjectRef<NodePool>> {
    store
        .state()
        .into_iter()
        .filter(|np| np.namespace().as_deref() == Some(namespace) && np.spec.cluster_name == name)
        .map(|np| ObjectRef::from_obj(&*np))
        .collect()
}

/// The NodePools of the HostedCluster an operator-owned object belongs to.
fn owned_by_cluster(store: &Store<NodePool>, obj: &impl Resource) -> Vec<ObjectRef<NodePool>> {
    hypershift_support::meta::owner_of(obj.meta(), names::HOSTED_CLUSTER_ANNOTATION)
        .map(|(ns, name)| of_cluster(store, &ns, &name))
        .unwrap_or_default()
}

/// `<namespace>/<name>` of a NodePool: the annotation on its Secrets.
pub(crate) fn owner(np: &NodePool) -> String {
    format!("{}/{}", np.namespace().unwrap_or_default(), np.name_any())
}

#[instrument(skip(np, ctx), fields(np = %np.name_any(), ns = %np.namespace().unwrap_or_default()))]
async fn reconcile(np: Arc<NodePool>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.node_pools.metrics.start();
    let key = owner(&np);
    let api: Api<NodePool> = Api::namespaced(ctx.client.clone(), &np.namespace().unwrap_or_default());
    let result = finalizer(&api, FINALIZER, np, |event| async {
        match event {
            FinalizerEvent::Apply(np) => reconcile_apply(np, &ctx).await,
            FinalizerEvent::Cleanup(np) => cleanup(&np, &ctx).await,
        }
        .map(|next| ctx.node_pools.succeeded(&key, next))
    })
    .await;
    match result {
        Ok(action) => Ok(action),
        Err(e) if hypershift_support::controller::is_stale_finalizer_view(&e) => {
            tracing::debug!(error = %e, "finalizer patch raced the watch; the current object comes next");
            Ok(ctx.node_pools.succeeded(&key, Next::AwaitChange))
        }
        Err(
            kube::runtime::finalizer::Error::ApplyFailed(e)
            | kube::runtime::finalizer::Error::CleanupFailed(e),
        ) => Err(e),
        Err(other) => Err(Error::Finalizer(other.to_string())),
    }
}

/// The pipeline, as a table of contents.
async fn reconcile_apply(np: Arc<NodePool>, ctx: &Context) -> Result<Next, Error> {
    let d = dereference::dereference(ctx, Arc::clone(&np)).await?;
    let valid = match validate::validate(&d) {
        Ok(valid) => valid,
        Err(waiting) => {
            status::write(ctx, &np, &Outcome::Waiting(&waiting)).await?;
            // Watches on the HostedCluster, the control plane's Secrets and the ConfigMaps bring
            // it back when what it waits for appears.
            return Ok(Next::AwaitChange);
        }
    };
    let applied = apply::apply(ctx, &valid, build::build(&valid)).await?;
    status::write(ctx, &np, &Outcome::Applied(&valid, &applied)).await?;
    Ok(Next::Requeue(valid.next_check))
}

/// Deletes the NodePool's Secrets before it goes.
async fn cleanup(np: &NodePool, ctx: &Context) -> Result<Next, Error> {
    let cp = names::control_plane_namespace(&np.namespace().unwrap_or_default(), &np.spec.cluster_name);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &cp);
    let selector = format!("{}={}", keys::NODE_POOL_LABEL, np.name_any());
    let mine = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(read(format!("the secrets of nodepool {} in {cp}", owner(np))))?;
    for s in mine {
        if s.annotations().get(keys::NODE_POOL_ANNOTATION) == Some(&owner(np)) {
            ctx.applier.delete::<Secret>(&cp, &s.name_any()).await?;
        }
    }
    Ok(Next::AwaitChange)
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "kube's Controller passes the object and context by value"
)]
fn error_policy(np: Arc<NodePool>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.node_pools.failed(&owner(&np), error)
}
