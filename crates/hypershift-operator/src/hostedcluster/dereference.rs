//! Step 1: reads everything a HostedCluster refers to. Client and provider calls only here.
//!
//! Nothing is judged yet: a missing pull secret or a failed lookup is recorded as such, for
//! `validate` to turn into conditions. The ignition server's PKI is read from its Secrets, or
//! generated when missing (the one place randomness and "now" enter a reconcile).

use std::sync::Arc;

use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::names;
use hypershift_api::openshift::Route;
use hypershift_mirrors::ImageRef;
use hypershift_releaseinfo::{LookupError, PullSecret, ReleaseImage, ReleaseProvider as _, Served};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::{Api, ResourceExt as _};

use super::error::Error;
use super::validate::{IgnitionPublishing, Published, serving_names};
use crate::context::Context;
use crate::management_mirrors::MirrorState;
pub use crate::pki::IgnitionPki;

/// Everything a HostedCluster refers to, as found. `Debug` leaves the pull secret out.
#[derive(Clone)]
pub struct Dereferenced {
    pub hosted_cluster: Arc<HostedCluster>,
    /// The `.dockerconfigjson` bytes, or why they are unavailable.
    pub pull_secret: Result<Vec<u8>, String>,
    /// `spec.additionalTrustBundle`'s `ca-bundle.crt`, if the spec names one.
    pub user_ca_bundle: Option<Result<String, String>>,
    pub mirrors: MirrorState,
    /// The release lookup, when there was a usable reference and pull secret.
    pub release: Option<Result<Served<ReleaseImage>, LookupError>>,
    pub pki: IgnitionPki,
    /// What the cluster filled in for the published ignition server (node port, addresses).
    pub published: Published,
    /// Available replicas of the CPO and ignition-server Deployments, if they exist.
    pub control_plane_operator_available: Option<bool>,
    pub ignition_server_available: Option<bool>,
}

impl std::fmt::Debug for Dereferenced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dereferenced")
            .field("hosted_cluster", &self.hosted_cluster.metadata.name)
            .field("pull_secret", &self.pull_secret.as_ref().map(Vec::len))
            .field("release", &self.release)
            .field("pki", &self.pki)
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

fn read(what: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Read { what, source }
}

/// Reads what `hc` refers to.
pub async fn dereference(ctx: &Context, hc: Arc<HostedCluster>) -> Result<Dereferenced, Error> {
    let namespace = hc.namespace().unwrap_or_default();
    let cp_namespace = names::control_plane_namespace(&namespace, &hc.name_any());
    let pull_secret = read_pull_secret(ctx, &namespace, &hc.spec.pull_secret.name).await?;
    let user_ca_bundle = match &hc.spec.additional_trust_bundle {
        Some(reference) => Some(read_ca_bundle(ctx, &namespace, &reference.name).await?),
        None => None,
    };
    let mirrors = ctx.mirrors.borrow().clone();
    let release = lookup_release(ctx, &hc.spec.release.image, &pull_secret).await;
    // An invalid strategy is reported by `validate`; the certificate then names the Service only.
    let publishing = IgnitionPublishing::from_spec(&hc, ctx.defaults.route_api).ok();
    let published = read_published(ctx, &cp_namespace, publishing.as_ref()).await?;
    let published_host = publishing.as_ref().and_then(|p| p.published_host(&published));
    let pki = read_pki(
        ctx,
        &cp_namespace,
        &serving_names(&cp_namespace, published_host.as_deref()),
    )
    .await?;
    let (control_plane_operator_available, ignition_server_available) =
        read_availability(ctx, &cp_namespace).await?;
    Ok(Dereferenced {
        hosted_cluster: hc,
        pull_secret,
        user_ca_bundle,
        mirrors,
        release,
        pki,
        published,
        control_plane_operator_available,
        ignition_server_available,
    })
}

/// The pull secret's `.dockerconfigjson`, or why it is unavailable.
async fn read_pull_secret(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Result<Vec<u8>, String>, Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(
        match secrets
            .get_opt(name)
            .await
            .map_err(read(format!("pull secret {namespace}/{name}")))?
        {
            None => Err(format!(
                "pull secret unavailable: secret {name:?} not found in namespace {namespace:?}"
            )),
            Some(s) => s
                .data
                .and_then(|mut d| d.remove(names::DOCKER_CONFIG_JSON_KEY))
                .map(|b| b.0)
                .ok_or_else(|| {
                    format!(
                        "hostedcluster pull secret {name:?} must have a {} key",
                        names::DOCKER_CONFIG_JSON_KEY
                    )
                }),
        },
    )
}

/// A ConfigMap's `ca-bundle.crt`, or why it is unavailable.
async fn read_ca_bundle(ctx: &Context, namespace: &str, name: &str) -> Result<Result<String, String>, Error> {
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(
        match maps
            .get_opt(name)
            .await
            .map_err(read(format!("configmap {namespace}/{name}")))?
        {
            None => Err(format!("configMap {name} not found")),
            Some(cm) => cm
                .data
                .and_then(|mut d| d.remove("ca-bundle.crt"))
                .ok_or_else(|| format!("configMap {name} must have a ca-bundle.crt key")),
        },
    )
}

/// The release lookup, when the reference and the pull secret are usable.
async fn lookup_release(
    ctx: &Context,
    image: &str,
    pull_secret: &Result<Vec<u8>, String>,
) -> Option<Result<Served<ReleaseImage>, LookupError>> {
    let (Ok(image), Ok(bytes)) = (ImageRef::parse(image), pull_secret) else {
        return None;
    };
    let secret = PullSecret::parse(bytes).ok()?;
    let result = ctx.provider.lookup(&image, &secret).await;
    ctx.lookups.observe(match &result {
        Ok(s) if s.via_mirror => "mirror",
        Ok(_) => "source",
        Err(e) => e.category(),
    });
    Some(result)
}

/// The node port, load-balancer address or Route host the cluster assigned to the published
/// ignition server, as far as the strategy needs one.
async fn read_published(
    ctx: &Context,
    cp_namespace: &str,
    publishing: Option<&IgnitionPublishing>,
) -> Result<Published, Error> {
    let name = names::IGNITION_SERVER;
    let mut published = Published::default();
    match publishing {
        Some(
            IgnitionPublishing::NodePort { port: None, .. }
            | IgnitionPublishing::LoadBalancer { hostname: None },
        ) => {
            let service = Api::<Service>::namespaced(ctx.client.clone(), cp_namespace)
                .get_opt(name)
                .await
                .map_err(read(format!("service {cp_namespace}/{name}")))?;
            published.node_port = service
                .as_ref()
                .and_then(|s| s.spec.as_ref()?.ports.as_ref()?.first()?.node_port);
            published.load_balancer_address = service.as_ref().and_then(|s| {
                let ingress = s
                    .status
                    .as_ref()?
                    .load_balancer
                    .as_ref()?
                    .ingress
                    .as_ref()?
                    .first()?
                    .clone();
                ingress.hostname.or(ingress.ip).filter(|a| !a.is_empty())
            });
        }
        Some(IgnitionPublishing::Route { hostname: None }) => {
            published.route_host = Api::<Route>::namespaced(ctx.client.clone(), cp_namespace)
                .get_opt(name)
                .await
                .map_err(read(format!("route {cp_namespace}/{name}")))?
                .and_then(|r| r.spec.host)
                .filter(|h| !h.is_empty());
        }
        _ => {}
    }
    Ok(published)
}

/// The ignition server's PKI from its Secrets, generated where missing or stale.
async fn read_pki(ctx: &Context, cp_namespace: &str, names: &[String]) -> Result<IgnitionPki, Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), cp_namespace);
    let get = |name: &'static str| {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_opt(name)
                .await
                .map_err(read(format!("secret {cp_namespace}/{name}")))
        }
    };
    let ca = get(names::IGNITION_SERVER_CA).await?;
    let serving = get(names::IGNITION_SERVER_SERVING_CERT).await?;
    IgnitionPki::reconcile(
        ca.as_ref(),
        serving.as_ref(),
        names,
        k8s_openapi::jiff::Timestamp::now(),
    )
    .map_err(Error::Pki)
}

/// Whether the CPO and ignition-server Deployments exist and have an available replica.
async fn read_availability(ctx: &Context, cp_namespace: &str) -> Result<(Option<bool>, Option<bool>), Error> {
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), cp_namespace);
    let mut out = [None, None];
    for (slot, name) in out
        .iter_mut()
        .zip([names::CONTROL_PLANE_OPERATOR, names::IGNITION_SERVER])
    {
        let found = deployments
            .get_opt(name)
            .await
            .map_err(read(format!("deployment {cp_namespace}/{name}")))?;
        *slot = found.map(|d| d.status.and_then(|s| s.available_replicas).unwrap_or(0) > 0);
    }
    Ok((out[0], out[1]))
}
