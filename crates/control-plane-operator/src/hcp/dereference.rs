//! Reading what a reconcile needs: the pull secret copy, the release (through the management
//! mirrors), the OLM catalogs' images, and the workloads as they are.

pub mod catalogs;

use std::collections::BTreeMap;
use std::sync::Arc;

use hypershift_api::hosted_control_plane::HostedControlPlane;
use hypershift_api::names;
use hypershift_api::openshift::ImageStream;
use hypershift_releaseinfo::{ImageRef, LookupError, PullSecret, ReleaseImage, ReleaseProvider as _, Served};
use hypershift_support::meta::managed_by_selector;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Secret};
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
    /// The OLM catalogs' inputs; `None` when the release was not read (nothing to derive the
    /// catalog versions from: the catalogs stay as they are).
    pub catalogs: Option<catalogs::CatalogInputs>,
    /// Deployment name → its first container's image as it is now (in ImageStream mode the
    /// image trigger sets the catalogs' images, and the rendering keeps them).
    pub current_images: BTreeMap<String, String>,
    /// The catalogs ImageStream as it is (read only where the API is served).
    pub image_stream: Option<ImageStream>,
    /// Workload name → why its pod cannot get an image (from the Pods' container statuses:
    /// ErrImagePull, ImagePullBackOff, …), naming the container and the image.
    pub image_problems: BTreeMap<String, String>,
}

/// Container waiting reasons that mean the image cannot be had.
const IMAGE_PROBLEMS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
];

/// Whether a container of `pod` waits for an image it cannot get.
pub fn has_image_problem(pod: &Pod) -> bool {
    pod.status.iter().any(|s| {
        s.init_container_statuses
            .iter()
            .flatten()
            .chain(s.container_statuses.iter().flatten())
            .any(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    .is_some_and(|r| IMAGE_PROBLEMS.contains(&r))
            })
    })
}

/// The first image problem of the pods `selector` (a workload's `matchLabels`) selects.
fn image_problem(pods: &[Pod], selector: Option<&BTreeMap<String, String>>) -> Option<String> {
    let selector = selector.filter(|s| !s.is_empty())?;
    pods.iter()
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .find_map(|c| {
            let waiting = c.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref().filter(|r| IMAGE_PROBLEMS.contains(r))?;
            let message = waiting.message.as_deref().filter(|m| !m.is_empty());
            Some(format!(
                "container {} cannot get image {}: {reason}{}",
                c.name,
                c.image,
                message.map(|m| format!(" ({m})")).unwrap_or_default()
            ))
        })
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
    let pull = pull_secret(ns, secret);
    let release = match &pull {
        Ok(pull) => lookup(ctx, &hcp, pull).await,
        Err(problem) => Err(problem.clone()),
    };
    let catalogs = match (&release, &pull) {
        (Ok(served), Ok(pull)) => Some(catalogs::resolve(ctx, &hcp, served.value.version(), pull).await),
        _ => None,
    };
    let selector = managed_by_selector(crate::FIELD_MANAGER);
    let params = ListParams::default().labels(&selector);
    let mut available = BTreeMap::new();
    let mut current_images = BTreeMap::new();
    let mut image_problems = BTreeMap::new();
    let read = |what: &str| {
        let what = format!("{what} in {ns}");
        move |source| Error::Read { what, source }
    };
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(read("pods"))?
        .items;
    for d in Api::<Deployment>::namespaced(ctx.client.clone(), ns)
        .list(&params)
        .await
        .map_err(read("deployments"))?
    {
        let up = d.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0) > 0;
        if let Some(image) = d
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.containers.first())
            .and_then(|c| c.image.clone())
        {
            current_images.insert(d.name_any(), image);
        }
        let selector = d.spec.as_ref().and_then(|s| s.selector.match_labels.as_ref());
        if let Some(problem) = image_problem(&pods, selector).filter(|_| !up) {
            image_problems.insert(d.name_any(), problem);
        }
        available.insert(d.name_any(), up);
    }
    for s in Api::<StatefulSet>::namespaced(ctx.client.clone(), ns)
        .list(&params)
        .await
        .map_err(read("statefulsets"))?
    {
        let up = s.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) > 0;
        let selector = s.spec.as_ref().and_then(|s| s.selector.match_labels.as_ref());
        if let Some(problem) = image_problem(&pods, selector).filter(|_| !up) {
            image_problems.insert(s.name_any(), problem);
        }
        available.insert(s.name_any(), up);
    }
    let image_stream = if ctx.image_stream_api {
        Api::<ImageStream>::namespaced(ctx.client.clone(), ns)
            .get_opt(super::build::CATALOGS_IMAGE_STREAM)
            .await
            .map_err(read("the catalogs imagestream"))?
    } else {
        None
    };
    Ok(Dereferenced {
        hcp,
        release,
        available,
        catalogs,
        current_images,
        image_stream,
        image_problems,
    })
}

fn pull_secret(ns: &str, secret: Option<Secret>) -> Result<PullSecret, ReleaseProblem> {
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
    PullSecret::parse(&bytes.0)
        .map_err(|e| ReleaseProblem::PullSecret(format!("secret {ns}/{}: {e}", names::PULL_SECRET)))
}

async fn lookup(
    ctx: &Context,
    hcp: &HostedControlPlane,
    pull: &PullSecret,
) -> Result<Served<ReleaseImage>, ReleaseProblem> {
    let text = release_image(hcp);
    let image = ImageRef::parse(text)
        .map_err(|e| ReleaseProblem::Reference(format!("release image {text:?}: {e}")))?;
    ctx.provider
        .lookup(&image, pull)
        .await
        .map_err(ReleaseProblem::Lookup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(labels: &serde_json::Value, reason: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "etcd-0", "labels": labels},
            "status": {"containerStatuses": [{
                "name": "etcd", "image": "quay.invalid/x@sha256:aa", "imageID": "", "ready": false, "restartCount": 1,
                "state": {"waiting": {"reason": reason, "message": "manifest unknown"}},
            }]},
        }))
        .unwrap()
    }

    #[test]
    fn a_selected_pod_that_cannot_pull_names_its_container_and_image() {
        let selector: BTreeMap<String, String> = [("app".to_owned(), "etcd".to_owned())].into();
        let pods = [pod(&serde_json::json!({"app": "etcd"}), "ImagePullBackOff")];
        assert_eq!(
            image_problem(&pods, Some(&selector)).as_deref(),
            Some(
                "container etcd cannot get image quay.invalid/x@sha256:aa: ImagePullBackOff (manifest unknown)"
            )
        );
        assert!(has_image_problem(&pods[0]));
        let other = [pod(&serde_json::json!({"app": "kas"}), "ImagePullBackOff")];
        assert_eq!(image_problem(&other, Some(&selector)), None);
        let crashing = [pod(&serde_json::json!({"app": "etcd"}), "CrashLoopBackOff")];
        assert_eq!(image_problem(&crashing, Some(&selector)), None);
        assert!(!has_image_problem(&crashing[0]));
    }
}
