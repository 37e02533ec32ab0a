//! Pure checks: the release holds every component the table needs.

use std::collections::BTreeMap;

use hypershift_mirrors::contract::MirrorCarriers;
use hypershift_mirrors::{DataPlaneMirrors, MirrorSetBuilder, RegistryOverrides};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource as _;

use super::dereference::{Dereferenced, ReleaseProblem, release_image};
use crate::components::required_components;

/// What the builders render from.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidControlPlane {
    pub name: String,
    pub namespace: String,
    /// The HostedControlPlane, owner of every workload (garbage-collected with it).
    pub owner: OwnerReference,
    /// The release image as the spec names it.
    pub release_image: String,
    pub release_version: String,
    /// The pull spec that served the release, and whether it was a mirror.
    pub release_pulled_from: String,
    pub release_via_mirror: bool,
    /// `<release repository>@<digest it resolved to>` as the spec names the repository.
    pub release_by_digest: String,
    /// Component name → pull spec as the release names it.
    pub components: BTreeMap<String, String>,
    /// `Replace` for every image written into a pod spec.
    pub registry_overrides: RegistryOverrides,
    /// Both carriers, for the components that receive them.
    pub carriers: MirrorCarriers,
    /// The data-plane mirrors (`spec.imageContentSources`): for the guest cluster and its nodes,
    /// never for this operator's own pulls (a different type).
    pub data_plane_mirrors: DataPlaneMirrors,
}

/// Why nothing is rendered (the previous objects stay as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub reason: &'static str,
    pub message: String,
    /// A registry may come back: retry with backoff; otherwise wait for a change.
    pub transient: bool,
}

pub fn validate(
    d: &Dereferenced,
    registry_overrides: &RegistryOverrides,
    carriers: &MirrorCarriers,
) -> Result<ValidControlPlane, Invalid> {
    let served = match &d.release {
        Ok(served) => served,
        Err(ReleaseProblem::PullSecret(m)) => {
            return Err(Invalid {
                reason: "MissingPullSecret",
                message: m.clone(),
                transient: false,
            });
        }
        Err(ReleaseProblem::Reference(m)) => {
            return Err(Invalid {
                reason: "InvalidImage",
                message: m.clone(),
                transient: false,
            });
        }
        Err(ReleaseProblem::Lookup(e)) => {
            return Err(Invalid {
                reason: "ReleaseLookupFailed",
                message: e.to_string(),
                transient: true,
            });
        }
    };
    let components = served.value.canonical_component_images();
    let missing: Vec<&str> = required_components()
        .into_iter()
        .filter(|c| !components.contains_key(*c))
        .collect();
    let mut builder = MirrorSetBuilder::new();
    let hcp_name = format!(
        "{}/{}",
        d.hcp.metadata.namespace.as_deref().unwrap_or_default(),
        d.hcp.metadata.name.as_deref().unwrap_or_default()
    );
    builder
        .add_image_content_sources(&hcp_name, &d.hcp.spec.image_content_sources)
        .map_err(|e| Invalid {
            reason: "InvalidImageContentSources",
            message: e.to_string(),
            transient: false,
        })?;
    let data_plane_mirrors = builder.build();
    let image = release_image(&d.hcp);
    if !missing.is_empty() {
        return Err(Invalid {
            reason: "InvalidRelease",
            message: format!("release {image} has no component {}", missing.join(", ")),
            transient: false,
        });
    }
    let repository = image
        .split_once('@')
        .map_or_else(|| strip_tag(image), |(name, _)| name);
    Ok(ValidControlPlane {
        name: d.hcp.metadata.name.clone().unwrap_or_default(),
        namespace: d.hcp.metadata.namespace.clone().unwrap_or_default(),
        owner: d.hcp.controller_owner_ref(&()).unwrap_or_default(),
        release_image: image.to_owned(),
        release_version: served.value.version().to_owned(),
        release_pulled_from: served.pulled_from.clone(),
        release_via_mirror: served.via_mirror,
        release_by_digest: format!("{repository}@{}", served.digest),
        components: components.clone(),
        registry_overrides: registry_overrides.clone(),
        carriers: carriers.clone(),
        data_plane_mirrors,
    })
}

/// `host[:port]/path` without a `:tag` (a port's colon is before the first `/`).
fn strip_tag(image: &str) -> &str {
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') && image[..i].contains('/') => &image[..i],
        _ => image,
    }
}

#[cfg(test)]
mod tests {
    use super::strip_tag;

    #[test]
    fn tags_are_stripped_ports_kept() {
        assert_eq!(
            strip_tag("quay.invalid/ocp/release:4.99.0"),
            "quay.invalid/ocp/release"
        );
        assert_eq!(
            strip_tag("127.0.0.1:5000/ocp/release:4.99"),
            "127.0.0.1:5000/ocp/release"
        );
        assert_eq!(
            strip_tag("127.0.0.1:5000/ocp/release"),
            "127.0.0.1:5000/ocp/release"
        );
    }
}
