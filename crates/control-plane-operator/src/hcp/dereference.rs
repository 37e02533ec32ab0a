//! Reading what a reconcile needs: the pull secret copy, the release (through the management
//! mirrors), and the components' workloads as they are.

use std::collections::BTreeMap;
use std::sync::Arc;

use hypershift_api::hosted_control_plane::HostedControlPlane;
use hypershift_api::names;
use hypershift_releaseinfo::{ImageRef, LookupError, PullSecret, ReleaseImage, ReleaseProvider as _, Served};
use hypershift_support::meta::managed_by_selector;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};

use super::Context;
use super::error::Error;

/// What validation and status work from.
#[derive(Debug)]
pub struct Dereferenced {
    pub hcp: Arc<HostedControlPlane>,
    /// The control-plane release (`controlPlaneReleaseImage`, else `releaseImage`) as looked up.
    pub release: Result<Served<ReleaseImage>, ReleaseProblem>,
    /// Workload name → whether it has an available (ready) replica.
    pub available: BTreeMap<String, bool>,
}

/// Why the release is not there.
#[derive(Debug, Clone)]
pub enum ReleaseProblem {
    /// The pull secret copy is missing or malformed.
    PullSecret(String),
    /// The reference does not parse.
    Reference(String),
    /// No candidate served it.
    Lookup(LookupError),
}

/// The release image the control plane runs.
pub fn release_image(hcp: &HostedControlPlane) -> &str {
    hcp.spec
        .control_plane_release_image
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&hcp.spec.release_image)
}

pub async fn dereference(ctx: &Context, hcp: Arc<HostedControlPlane>) -> Result<Dereferenced, Error> {
    let ns = ctx.namespace.as_str();
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get_opt(names::PULL_SECRET)
        .await
        .map_err(|source| Error::Read {
            what: format!("secret {ns}/{}", names::PULL_SECRET),
            source,
        })?;
    let release = lookup(ctx, &hcp, secret).await;
    let selector = managed_by_selector(crate::FIELD_MANAGER);
    let params = ListParams::default().labels(&selector);
    let mut available = BTreeMap::new();
    let read = |what: &str| {
        let what = format!("{what} in {ns}");
        move |source| Error::Read { what, source }
    };
    for d in Api::<Deployment>::namespaced(ctx.client.clone(), ns)
        .list(&params)
        .await
        .map_err(read("deployments"))?
    {
        let up = d.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0) > 0;
        available.insert(d.name_any(), up);
    }
    for s in Api::<StatefulSet>::namespaced(ctx.client.clone(), ns)
        .list(&params)
        .await
        .map_err(read("statefulsets"))?
    {
        let up = s.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) > 0;
        available.insert(s.name_any(), up);
    }
    Ok(Dereferenced {
        hcp,
        release,
        available,
    })
}

async fn lookup(
    ctx: &Context,
    hcp: &HostedControlPlane,
    secret: Option<Secret>,
) -> Result<Served<ReleaseImage>, ReleaseProblem> {
    let ns = &ctx.namespace;
    let bytes = secret
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove(names::DOCKER_CONFIG_JSON_KEY))
        .ok_or_else(|| {
            ReleaseProblem::PullSecret(format!(
                "secret {ns}/{} has no {}",
                names::PULL_SECRET,
                names::DOCKER_CONFIG_JSON_KEY
            ))
        })?;
    let pull = PullSecret::parse(&bytes.0)
        .map_err(|e| ReleaseProblem::PullSecret(format!("secret {ns}/{}: {e}", names::PULL_SECRET)))?;
    let text = release_image(hcp);
    let image = ImageRef::parse(text)
        .map_err(|e| ReleaseProblem::Reference(format!("release image {text:?}: {e}")))?;
    ctx.provider
        .lookup(&image, &pull)
        .await
        .map_err(ReleaseProblem::Lookup)
}
