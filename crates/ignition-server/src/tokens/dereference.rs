//! Reading what a payload is made of: the control plane's pull secret and trust bundle copies
//! (from the API), then the release and its machine-config-operator templates (through the
//! mirrors).

use std::collections::BTreeMap;
use std::sync::Arc;

use hypershift_api::names;
use hypershift_releaseinfo::{Files, ImageRef, LookupError, PullSecret, ReleaseProvider as _};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

use super::Context;
use super::error::{Error, Failure};
use super::templates::TEMPLATES_DIR;
use super::validate::ValidToken;

/// The component whose image holds the templates.
pub const MCO_COMPONENT: &str = "machine-config-operator";

/// A token Secret and the control plane's copies it refers to.
#[derive(Clone)]
pub struct Inputs {
    pub secret: Arc<Secret>,
    /// `.dockerconfigjson` of `pull-secret`.
    pub pull_secret: Option<Vec<u8>>,
    /// `ca-bundle.crt` of `user-ca-bundle`.
    pub trust_bundle: Option<String>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("secret", &self.secret.metadata.name)
            .finish_non_exhaustive()
    }
}

/// Reads the copies `secret` needs.
pub async fn inputs(ctx: &Context, secret: Arc<Secret>) -> Result<Inputs, Error> {
    let ns = &ctx.namespace;
    let pull_secret = Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get_opt(names::PULL_SECRET)
        .await
        .map_err(|source| Error::Read {
            what: format!("secret {ns}/{}", names::PULL_SECRET),
            source,
        })?
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove(names::DOCKER_CONFIG_JSON_KEY))
        .map(|b| b.0);
    let trust_bundle = Api::<ConfigMap>::namespaced(ctx.client.clone(), ns)
        .get_opt(names::USER_CA_BUNDLE)
        .await
        .map_err(|source| Error::Read {
            what: format!("configmap {ns}/{}", names::USER_CA_BUNDLE),
            source,
        })?
        .and_then(|c| c.data)
        .and_then(|mut d| d.remove(names::REGISTRY_CA_BUNDLE_KEY));
    Ok(Inputs {
        secret,
        pull_secret,
        trust_bundle,
    })
}

/// What the registry served for a payload.
#[derive(Debug, Clone)]
pub struct Images {
    pub release_version: String,
    /// The pull spec that served the release (a mirror's).
    pub release_pulled_from: String,
    /// Component name → pull spec as the release names it.
    pub components: BTreeMap<String, String>,
    /// The machine-config-operator image, as the release names it.
    pub mco_image: String,
    /// The pull spec that served it.
    pub mco_pulled_from: String,
    /// Its `etc/mcc/templates/**`.
    pub templates: Arc<Files>,
}

/// Looks the release up and reads the templates, both through the mirrors (the process
/// translates every reference itself: no container runtime does it in this pod).
pub async fn images(ctx: &Context, valid: &ValidToken) -> Result<Images, Failure> {
    let secret = PullSecret::parse(&valid.pull_secret).map_err(|e| {
        Failure::InvalidConfig(format!(
            "pull secret {}/{}: {e}",
            ctx.namespace,
            names::PULL_SECRET
        ))
    })?;
    let release = ctx
        .provider
        .lookup(&valid.release, &secret)
        .await
        .inspect(|s| {
            ctx.metrics
                .lookups
                .observe(if s.via_mirror { "mirror" } else { "source" });
        })
        .map_err(|e| lookup_failed(ctx, &format!("release {}", valid.release), &e))?;
    let components = release.value.canonical_component_images().clone();
    // The image to read: after `--registry-overrides` (the provider rewrote the components).
    let mco = release
        .value
        .component_images()
        .get(MCO_COMPONENT)
        .ok_or_else(|| {
            Failure::InvalidRelease(format!(
                "release {} has no {MCO_COMPONENT} component",
                valid.release
            ))
        })?
        .clone();
    let mco_ref = ImageRef::parse(&mco).map_err(|e| {
        Failure::InvalidRelease(format!(
            "release {}: {MCO_COMPONENT} image {mco:?}: {e}",
            valid.release
        ))
    })?;
    let templates = ctx
        .provider
        .files(&mco_ref, TEMPLATES_DIR, &secret)
        .await
        .map_err(|e| lookup_failed(ctx, &format!("{MCO_COMPONENT} image {mco}"), &e))?;
    Ok(Images {
        release_version: release.value.version().to_owned(),
        release_pulled_from: release.pulled_from,
        mco_image: components.get(MCO_COMPONENT).cloned().unwrap_or(mco),
        components,
        mco_pulled_from: templates.pulled_from,
        templates: templates.value,
    })
}

fn lookup_failed(ctx: &Context, what: &str, e: &LookupError) -> Failure {
    ctx.metrics.lookups.observe(e.category());
    Failure::ReleaseLookupFailed(format!("{what}: {e}"))
}
