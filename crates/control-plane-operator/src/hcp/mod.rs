//! The HostedControlPlane reconciler, the same pipeline shape as the hypershift-operator's:
//!
//! ```text
//! dereference (API: the pull secret copy, the workloads; registry: the release through the
//! management mirrors) → validate (pure: every component the table needs) → build (pure: one
//! workload per row, `--registry-overrides` on every image) → apply (server-side apply, prune)
//! → status (conditions, releaseImageSource with the MirrorSet hash)
//!
//! Besides the workloads: the ConfigMap `guest-image-mirrors` with the guest's
//! ImageDigestMirrorSet/ImageTagMirrorSet `cluster` and the nodes' registries.conf, from
//! `spec.imageContentSources` (deleted when the field is emptied).
//! ```
//!
//! A reconcile starts when the HostedControlPlane's spec, labels or annotations change (never its
//! status), and when one of its workloads changes (their status says whether they run).

mod apply;
pub mod build;
mod dereference;
mod error;
mod status;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use hypershift_api::hosted_control_plane::HostedControlPlane;
use hypershift_mirrors::RegistryOverrides;
use hypershift_mirrors::contract::MirrorCarriers;
use hypershift_releaseinfo::StandardProvider;
use hypershift_support::apply::Applier;
use hypershift_support::controller::{Next, Policy, Retry, spec_changes};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::runtime::controller::{self, Action};
use kube::runtime::{Controller, reflector, watcher};
use kube::{Api, ResourceExt as _};
use tracing::instrument;

pub use dereference::catalogs::CatalogCache;
pub use error::Error;
use status::Outcome;

/// How often a rendered control plane is looked at again without a change (a tag may move).
pub const RESYNC: Duration = Duration::from_mins(10);

/// How soon a catalog not found, or whose lookup failed, is looked for again (as long as "not
/// found" is cached).
pub const CATALOG_RETRY: Duration = dereference::catalogs::NOT_FOUND_TTL;

/// What the reconciler works with.
pub struct Context {
    pub client: kube::Client,
    pub namespace: String,
    pub name: String,
    pub provider: Arc<StandardProvider>,
    pub registry_overrides: RegistryOverrides,
    pub carriers: MirrorCarriers,
    /// The management MirrorSet's content hash (logged at start, shown in status).
    pub mirror_set_hash: String,
    /// Whether the management cluster serves `image.openshift.io/v1` ImageStreams (read at
    /// start, as upstream does): the catalogs' images come through an ImageStream then.
    pub image_stream_api: bool,
    /// The OLM catalogs' lookups.
    pub catalog_cache: dereference::catalogs::CatalogCache,
    pub applier: Applier,
    pub policy: Policy,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Runs the controller until the process stops.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let ns = ctx.namespace.clone();
    let (reader, writer) = reflector::store();
    let hcps = spec_changes(Api::<HostedControlPlane>::namespaced(client.clone(), &ns), writer);
    let owned = watcher::Config::default().labels(&hypershift_support::meta::managed_by_selector(
        crate::FIELD_MANAGER,
    ));
    // A pod that cannot get its image changes no workload status (only its own): its conditions
    // name the image, so such pods bring the control plane back for a look.
    let hcp = reflector::ObjectRef::<HostedControlPlane>::new(&ctx.name).within(&ns);
    let pulls =
        move |pod: k8s_openapi::api::core::v1::Pod| dereference::has_image_problem(&pod).then(|| hcp.clone());
    Controller::for_stream(hcps, reader)
        .with_config(controller::Config::default().concurrency(1))
        .owns(Api::<Deployment>::namespaced(client.clone(), &ns), owned.clone())
        .owns(Api::<StatefulSet>::namespaced(client.clone(), &ns), owned)
        .watches(
            Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client, &ns),
            watcher::Config::default(),
            pulls,
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "hostedcontrolplane controller event");
            }
        })
        .await;
}

#[instrument(skip(hcp, ctx), fields(hcp = %hcp.name_any()))]
async fn reconcile(hcp: Arc<HostedControlPlane>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.policy.metrics.start();
    let key = hcp.name_any();
    if key != ctx.name {
        // Another HostedControlPlane of the namespace: not this operator's.
        return Ok(ctx.policy.succeeded(&key, Next::AwaitChange));
    }
    let next = reconcile_pipeline(hcp, &ctx).await?;
    Ok(ctx.policy.succeeded(&key, next))
}

/// The pipeline, as a table of contents: one reconcile of `hcp` (public for the benchmark).
pub async fn reconcile_pipeline(hcp: Arc<HostedControlPlane>, ctx: &Context) -> Result<Next, Error> {
    let d = dereference::dereference(ctx, hcp).await?;
    let valid = match validate::validate(&d, &ctx.registry_overrides, &ctx.carriers, ctx.image_stream_api) {
        Ok(v) => v,
        Err(invalid) => {
            status::write(ctx, &d, &Outcome::Invalid(&invalid)).await?;
            return Err(Error::Reported {
                reason: invalid.reason,
                message: invalid.message.clone(),
                retry: if invalid.transient {
                    Retry::Backoff
                } else {
                    Retry::AwaitChange
                },
            });
        }
    };
    let available = apply::apply(
        ctx,
        &build::build(&valid),
        build::catalogs::build(&valid).as_ref(),
    )
    .await?;
    apply::guest_mirrors(ctx, build::guest_mirrors(&valid).as_ref()).await?;
    status::write(ctx, &d, &Outcome::Applied(&available, &valid)).await?;
    // A catalog not found (it may be mirrored later) or whose lookup failed (a registry down)
    // is looked for again sooner than the resync.
    if d.catalogs
        .as_ref()
        .is_some_and(dereference::catalogs::CatalogInputs::is_incomplete)
    {
        return Ok(Next::Requeue(CATALOG_RETRY));
    }
    Ok(Next::Requeue(RESYNC))
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "kube's Controller::run hands error policies an Arc"
)]
fn error_policy(hcp: Arc<HostedControlPlane>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.policy.failed(&hcp.name_any(), error)
}
