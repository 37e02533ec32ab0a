//! Step 2: checks everything dereferenced and turns it into a [`ValidatedHostedCluster`]. No
//! client, no clock. After this step nothing reads the HostedCluster's spec.
//!
//! Each problem becomes an [`Invalid`] naming the condition it fails, a reason and the offending
//! value; an invalid HostedCluster waits for a change (no retry loop).

use std::collections::BTreeMap;

use hypershift_api::conditions::{self, reasons};
use hypershift_api::hosted_cluster::{HostedCluster, annotations};
use hypershift_api::hosted_cluster::{LocalObjectReference, PlatformSpec};
use hypershift_api::hosted_control_plane::HostedControlPlaneSpec;
use hypershift_api::names;
use hypershift_mirrors::contract::MirrorCarriers;
use hypershift_mirrors::{DataPlaneMirrors, ImageOverrides, ImageRef, MirrorSetBuilder};
use hypershift_releaseinfo::{PullSecret, ReleaseImage, Served};
use kube::ResourceExt as _;

use super::dereference::Dereferenced;
use crate::pki::IgnitionPki;

/// Annotations copied from the HostedCluster to its HostedControlPlane.
const MIRRORED_ANNOTATIONS: &[&str] = &[
    annotations::CONTROL_PLANE_OPERATOR_IMAGE,
    annotations::OLM_CATALOGS_IS_REGISTRY_OVERRIDES,
    annotations::CERTIFIED_OPERATORS_CATALOG_IMAGE,
    annotations::COMMUNITY_OPERATORS_CATALOG_IMAGE,
    annotations::REDHAT_OPERATORS_CATALOG_IMAGE,
];

/// A HostedCluster whose inputs all check out: everything the builders need.
#[derive(Debug, Clone)]
pub struct ValidatedHostedCluster {
    pub name: String,
    pub namespace: String,
    pub control_plane_namespace: String,
    /// `<namespace>/<name>`: the owner annotation on owned objects.
    pub owner: String,
    /// `spec.release.image` as written.
    pub release_image: String,
    pub release: Served<ReleaseImage>,
    /// The `.dockerconfigjson` bytes.
    pub pull_secret: Vec<u8>,
    pub control_plane_operator_image: String,
    pub ignition_server_image: String,
    pub carriers: MirrorCarriers,
    pub registry_ca_bundle: Option<String>,
    pub user_ca_bundle: Option<String>,
    pub pki: IgnitionPki,
    pub hosted_control_plane: HostedControlPlaneSpec,
    pub hosted_control_plane_annotations: BTreeMap<String, String>,
    /// `host:port` nodes use to reach the ignition server.
    pub ignition_endpoint: String,
    pub mirror_set_hash: String,
}

/// One reason a HostedCluster cannot be reconciled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The condition it sets to False.
    pub condition: &'static str,
    pub reason: &'static str,
    pub message: String,
    /// Whether a retry can fix it without a change (a registry that is down).
    pub transient: bool,
}

impl Invalid {
    fn config(message: String) -> Self {
        Self {
            condition: conditions::VALID_CONFIGURATION,
            reason: reasons::INVALID_CONFIGURATION,
            message,
            transient: false,
        }
    }
}

/// Validates; on failure returns every problem found.
pub fn validate(d: &Dereferenced, defaults: &Defaults) -> Result<ValidatedHostedCluster, Vec<Invalid>> {
    let hc = &d.hosted_cluster;
    let (problems, pull_secret, release) = check(d);
    let (Some(release), Some(pull_secret), true) = (release, pull_secret, problems.is_empty()) else {
        return Err(problems);
    };
    let name = hc.name_any();
    let namespace = hc.namespace().unwrap_or_default();
    let annotations = hc.annotations();

    // CPO image: the annotation, else the operator's flag, else the payload's `hypershift`.
    let payload_cpo = release.value.component_images().get("hypershift").cloned();
    let Some(control_plane_operator_image) = annotations
        .get(annotations::CONTROL_PLANE_OPERATOR_IMAGE)
        .cloned()
        .or_else(|| defaults.control_plane_operator_image.clone())
        .or(payload_cpo)
    else {
        return Err(vec![Invalid::config(format!(
            "release {} has no `hypershift` component; set --control-plane-operator-image or the {} annotation",
            release.value.version(),
            annotations::CONTROL_PLANE_OPERATOR_IMAGE
        ))]);
    };
    let ignition_server_image = defaults
        .ignition_server_image
        .clone()
        .unwrap_or_else(|| control_plane_operator_image.clone());
    let control_plane_namespace = names::control_plane_namespace(&namespace, &name);
    Ok(ValidatedHostedCluster {
        owner: format!("{namespace}/{name}"),
        hosted_control_plane: hosted_control_plane_spec(hc),
        hosted_control_plane_annotations: MIRRORED_ANNOTATIONS
            .iter()
            .filter_map(|k| annotations.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect(),
        release_image: hc.spec.release.image.clone(),
        release,
        pull_secret,
        control_plane_operator_image,
        ignition_server_image,
        carriers: MirrorCarriers::new(&d.mirrors.set, defaults.registry_overrides.clone()),
        registry_ca_bundle: defaults.registry_ca_bundle.clone(),
        user_ca_bundle: d.user_ca_bundle.clone().and_then(Result::ok),
        pki: d.pki.clone(),
        ignition_endpoint: ignition_endpoint(hc, &control_plane_namespace),
        mirror_set_hash: d.mirrors.set.content_hash().to_owned(),
        name,
        namespace,
        control_plane_namespace,
    })
}

type Checked = (Vec<Invalid>, Option<Vec<u8>>, Option<Served<ReleaseImage>>);

/// Every check of the inputs: the problems, the usable pull secret and the release.
fn check(d: &Dereferenced) -> Checked {
    let hc = &d.hosted_cluster;
    let spec = &hc.spec;
    let mut problems = Vec::new();
    if let Err(e) = ImageRef::parse(&spec.release.image) {
        problems.push(Invalid {
            condition: conditions::VALID_RELEASE_IMAGE,
            reason: reasons::INVALID_IMAGE,
            message: format!("spec.release.image: {e}"),
            transient: false,
        });
    }
    if let Some(cp) = &spec.control_plane_release
        && let Err(e) = ImageRef::parse(&cp.image)
    {
        problems.push(Invalid::config(format!("spec.controlPlaneRelease.image: {e}")));
    }
    let pull_secret = match &d.pull_secret {
        Ok(bytes) => match PullSecret::parse(bytes) {
            Ok(_) => Some(bytes.clone()),
            Err(e) => {
                problems.push(Invalid::config(format!(
                    "pull secret {:?}: {e}",
                    spec.pull_secret.name
                )));
                None
            }
        },
        Err(message) => {
            problems.push(Invalid {
                condition: conditions::VALID_RELEASE_IMAGE,
                reason: reasons::SECRET_NOT_FOUND,
                message: message.clone(),
                transient: false,
            });
            None
        }
    };
    problems.extend(check_annotations(hc.annotations()));
    if let Err(e) = data_plane_mirrors(hc) {
        problems.push(Invalid::config(e));
    }
    if let Some(Err(message)) = &d.user_ca_bundle {
        problems.push(Invalid::config(message.clone()));
    }
    let release = match &d.release {
        Some(Ok(served)) => Some(served.clone()),
        Some(Err(e)) => {
            problems.push(Invalid {
                condition: conditions::VALID_RELEASE_IMAGE,
                reason: reasons::LOOKUP_FAILED,
                message: format!("cannot look up release image: {e}"),
                transient: true,
            });
            None
        }
        None => None,
    };
    (problems, pull_secret, release)
}

/// The CPO image override, the OLM registry overrides and the catalog images.
fn check_annotations(annotations: &BTreeMap<String, String>) -> Vec<Invalid> {
    let mut problems = Vec::new();
    if let Some(image) = annotations.get(annotations::CONTROL_PLANE_OPERATOR_IMAGE)
        && let Err(e) = ImageRef::parse(image)
    {
        problems.push(Invalid::config(format!(
            "annotation {}: {e}",
            annotations::CONTROL_PLANE_OPERATOR_IMAGE
        )));
    }
    if let Some(value) = annotations.get(annotations::OLM_CATALOGS_IS_REGISTRY_OVERRIDES)
        && let Err(e) = ImageOverrides::parse_annotation(value)
    {
        problems.push(Invalid::config(format!(
            "annotation {}: {e}",
            annotations::OLM_CATALOGS_IS_REGISTRY_OVERRIDES
        )));
    }
    problems.extend(validate_catalog_images(annotations));
    problems
}

/// Operator-wide inputs the builders combine with each HostedCluster.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub registry_overrides: hypershift_mirrors::RegistryOverrides,
    pub registry_ca_bundle: Option<String>,
    pub control_plane_operator_image: Option<String>,
    pub ignition_server_image: Option<String>,
}

/// The three catalog image annotations: all or none, each by digest.
fn validate_catalog_images(annotations: &BTreeMap<String, String>) -> Vec<Invalid> {
    let set: Vec<&str> = annotations::CATALOG_IMAGES
        .iter()
        .copied()
        .filter(|k| annotations.contains_key(*k))
        .collect();
    if set.is_empty() {
        return Vec::new();
    }
    let mut problems = Vec::new();
    if set.len() != annotations::CATALOG_IMAGES.len() {
        let missing: Vec<&str> = annotations::CATALOG_IMAGES
            .iter()
            .copied()
            .filter(|k| !set.contains(k))
            .collect();
        problems.push(Invalid::config(format!(
            "catalog image annotations must be set all together; missing {}",
            missing.join(", ")
        )));
    }
    for key in set {
        let value = &annotations[key];
        match ImageRef::parse(value) {
            Ok(r) if r.digest().is_some() => {}
            Ok(_) => problems.push(Invalid::config(format!(
                "annotation {key}: {value:?} must reference an image by digest (@sha256:…)"
            ))),
            Err(e) => problems.push(Invalid::config(format!("annotation {key}: {e}"))),
        }
    }
    problems
}

/// `spec.imageContentSources` as data-plane mirrors (validated, not used by the operator itself).
pub fn data_plane_mirrors(hc: &HostedCluster) -> Result<DataPlaneMirrors, String> {
    let overrides: ImageOverrides = hc
        .spec
        .image_content_sources
        .iter()
        .map(|s| (s.source.clone(), s.mirrors.clone()))
        .collect();
    let mut builder = MirrorSetBuilder::new();
    builder
        .add_image_overrides("spec.imageContentSources", &overrides)
        .map_err(|e| e.to_string())?;
    Ok(builder.build())
}

fn hosted_control_plane_spec(hc: &HostedCluster) -> HostedControlPlaneSpec {
    let spec = &hc.spec;
    HostedControlPlaneSpec {
        release_image: spec.release.image.clone(),
        control_plane_release_image: spec.control_plane_release.as_ref().map(|r| r.image.clone()),
        pull_secret: LocalObjectReference {
            name: names::PULL_SECRET.to_owned(),
        },
        ssh_key: spec.ssh_key.clone(),
        // Upstream runs Agent control planes as None.
        platform: spec.platform.as_ref().map(|p| {
            if p.type_ == "Agent" {
                PlatformSpec {
                    type_: "None".into(),
                    other: BTreeMap::new(),
                }
            } else {
                p.clone()
            }
        }),
        infra_id: spec.infra_id.clone(),
        cluster_id: spec.cluster_id.clone(),
        services: spec.services.clone(),
        image_content_sources: spec.image_content_sources.clone(),
        additional_trust_bundle: spec
            .additional_trust_bundle
            .as_ref()
            .map(|_| LocalObjectReference {
                name: names::USER_CA_BUNDLE.to_owned(),
            }),
        olm_catalog_placement: spec.olm_catalog_placement.clone(),
        configuration: spec.configuration.clone(),
        // Networking, DNS, etcd and the rest pass through as written.
        other: spec.other.clone(),
    }
}

/// Where nodes reach the ignition server: a NodePort address if the HostedCluster publishes
/// Ignition that way with an explicit port, else the Service's in-cluster name.
fn ignition_endpoint(hc: &HostedCluster, control_plane_namespace: &str) -> String {
    hc.spec
        .services
        .iter()
        .find(|s| s.service == "Ignition")
        .and_then(|s| s.service_publishing_strategy.node_port.as_ref())
        .and_then(|np| np.port.map(|port| format!("{}:{port}", np.address)))
        .unwrap_or_else(|| format!("{}.{control_plane_namespace}.svc:443", names::IGNITION_SERVER))
}
