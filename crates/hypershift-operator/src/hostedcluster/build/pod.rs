//! Pieces shared by the control-plane-operator and ignition-server Deployments.

use std::collections::BTreeMap;

use hypershift_api::names;
use hypershift_mirrors::contract::{IMAGE_OVERRIDES_ENV, REGISTRY_CA_BUNDLE_FLAG};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EnvVar, PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{content_hash, meta};
use crate::hostedcluster::validate::ValidatedHostedCluster;

/// Annotation on pod templates naming the release they run (upstream's).
pub const RELEASE_IMAGE_ANNOTATION: &str = "hypershift.openshift.io/release-image";
/// Annotation on pod templates with the mounted registry CA bundle's hash (a change rolls the pods).
pub const REGISTRY_CA_HASH_ANNOTATION: &str = "hypershift.openshift.io/registry-ca-bundle-hash";

/// `OPENSHIFT_IMG_OVERRIDES` with the management mirrors.
pub fn image_overrides_env(hc: &ValidatedHostedCluster) -> EnvVar {
    EnvVar {
        name: IMAGE_OVERRIDES_ENV.to_owned(),
        value: Some(hc.carriers.env_value()),
        ..EnvVar::default()
    }
}

/// The registry CA bundle's volume, mount and flag, when the operator has a bundle.
pub fn registry_ca(hc: &ValidatedHostedCluster) -> Option<(Volume, VolumeMount, String)> {
    hc.registry_ca_bundle.as_ref()?;
    let volume = Volume {
        name: "registry-ca".to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: names::REGISTRY_CA_BUNDLE.to_owned(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    };
    let mount = VolumeMount {
        name: "registry-ca".to_owned(),
        mount_path: names::REGISTRY_CA_BUNDLE_MOUNT.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    let flag = format!(
        "{REGISTRY_CA_BUNDLE_FLAG}={}/{}",
        names::REGISTRY_CA_BUNDLE_MOUNT,
        names::REGISTRY_CA_BUNDLE_KEY
    );
    Some((volume, mount, flag))
}

/// A one-replica Deployment `name` running `pod`, selected by `name: <name>`.
pub fn deployment(
    hc: &ValidatedHostedCluster,
    name: &str,
    pod: PodSpec,
    mut annotations: BTreeMap<String, String>,
) -> Deployment {
    let selector = BTreeMap::from([("name".to_owned(), name.to_owned())]);
    let mut labels = selector.clone();
    labels.insert("app".to_owned(), name.to_owned());
    labels.insert(
        "hypershift.openshift.io/control-plane-component".to_owned(),
        name.to_owned(),
    );
    annotations.insert(RELEASE_IMAGE_ANNOTATION.to_owned(), hc.release_image.clone());
    if let Some(bundle) = &hc.registry_ca_bundle {
        annotations.insert(REGISTRY_CA_HASH_ANNOTATION.to_owned(), content_hash(bundle));
    }
    let mut metadata = meta(hc, name);
    if let Some(l) = metadata.labels.as_mut() {
        l.insert(
            "hypershift.openshift.io/control-plane-component".to_owned(),
            name.to_owned(),
        );
    }
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            // One operator at a time: the old pod stops before the new one starts.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                ..DeploymentStrategy::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}
