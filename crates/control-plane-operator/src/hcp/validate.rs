//! Pure checks: the release holds every component the table needs.

use std::collections::BTreeMap;

use hypershift_mirrors::contract::MirrorCarriers;
use hypershift_mirrors::{DataPlaneMirrors, MirrorSetBuilder, RegistryOverrides};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource as _;

use hypershift_api::openshift::{TagFrom, TagImportPolicy, TagReference, TagReferencePolicy};

use super::dereference::catalogs::{CatalogInputs, Resolution};
use super::dereference::{Dereferenced, ReleaseProblem, release_image};
use crate::catalogs::{CATALOGS, Placement};
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
    /// Where the OLM catalogs run (a malformed placement counts as the default, `management`).
    pub placement: Placement,
    /// What to render for the OLM catalogs.
    pub catalogs: CatalogPlan,
}

/// What the builders render for the OLM catalogs.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogPlan {
    /// Guest placement, or the default sources disabled: no catalog object in the management
    /// cluster (existing ones are removed).
    Absent,
    /// The catalog objects stay exactly as they are: an annotation is malformed, and nothing is
    /// half-applied.
    Unchanged,
    /// One Deployment and Service per catalog in `images`; a catalog missing from it (its image
    /// was not found) keeps whatever it has.
    Render {
        images: BTreeMap<&'static str, CatalogImage>,
        /// The `catalogs` ImageStream's tags when the images come through one; `None` otherwise.
        stream_tags: Option<Vec<TagReference>>,
    },
}

/// Where one catalog Deployment's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogImage {
    /// The `catalogs` ImageStream tag, through the image trigger: the Deployment keeps the image
    /// the trigger set (`None` before it has one: the `catalogs:<name>` placeholder).
    Stream { current: Option<String> },
    /// An image by digest: an annotation's, or the lookup's when no ImageStream is served.
    Direct(String),
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
    image_stream_api: bool,
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
    let placement =
        Placement::parse(d.hcp.spec.olm_catalog_placement.as_deref()).unwrap_or(Placement::Management);
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
        placement,
        catalogs: catalog_plan(d, image_stream_api),
    })
}

/// The catalogs' rendering from what was looked up (pure).
pub fn catalog_plan(d: &Dereferenced, image_stream_api: bool) -> CatalogPlan {
    let resolved = match &d.catalogs {
        None | Some(CatalogInputs::Invalid { .. }) => return CatalogPlan::Unchanged,
        Some(CatalogInputs::Guest | CatalogInputs::Disabled) => return CatalogPlan::Absent,
        Some(CatalogInputs::Pinned(pinned)) => {
            return CatalogPlan::Render {
                images: pinned
                    .iter()
                    .map(|(name, image)| (*name, CatalogImage::Direct(image.clone())))
                    .collect(),
                stream_tags: None,
            };
        }
        Some(CatalogInputs::Resolved(r)) => r,
    };
    let mut images = BTreeMap::new();
    let mut tags = Vec::new();
    for catalog in CATALOGS {
        match resolved.get(catalog.name) {
            Some(Resolution::Found { address, digest }) => {
                if image_stream_api {
                    tags.push(stream_tag(catalog.name, address));
                    images.insert(
                        catalog.name,
                        CatalogImage::Stream {
                            current: d.current_images.get(&catalog.deployment()).cloned(),
                        },
                    );
                } else {
                    let repository = strip_tag(address);
                    images.insert(
                        catalog.name,
                        CatalogImage::Direct(format!("{repository}@{digest}")),
                    );
                }
            }
            // Not found now: the tag it had, if any, stays.
            _ => tags.extend(
                d.image_stream
                    .as_ref()
                    .and_then(|s| s.spec.tags.iter().find(|t| t.name == catalog.name))
                    .cloned(),
            ),
        }
    }
    CatalogPlan::Render {
        images,
        stream_tags: image_stream_api.then_some(tags),
    }
}

/// A `catalogs` ImageStream tag, as upstream writes it: imported on a schedule, preserving the
/// manifest list, referenced locally.
fn stream_tag(name: &str, address: &str) -> TagReference {
    TagReference {
        name: name.to_owned(),
        annotations: None,
        from: Some(TagFrom {
            kind: "DockerImage".to_owned(),
            name: address.to_owned(),
            namespace: None,
        }),
        import_policy: Some(TagImportPolicy {
            scheduled: Some(true),
            insecure: None,
            import_mode: Some("PreserveOriginal".to_owned()),
        }),
        reference_policy: Some(TagReferencePolicy {
            type_: "Local".to_owned(),
        }),
    }
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
