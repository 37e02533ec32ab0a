//! Pieces shared by the control-plane-operator and ignition-server Deployments.

use std::collections::BTreeMap;

use hypershift_api::names;
use hypershift_mirrors::contract::IMAGE_OVERRIDES_ENV;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EnvVar, HTTPGetAction, LocalObjectReference, PodSpec, PodTemplateSpec, Probe,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{content_hash, meta};
use crate::hostedcluster::validate::ValidatedHostedCluster;

/// Annotation on pod templates naming the release they run (upstream's).
pub const RELEASE_IMAGE_ANNOTATION: &str = "hypershift.openshift.io/release-image";
/// Annotation on pod templates with the mounted registry CA bundle's hash (a change rolls the pods).
pub const REGISTRY_CA_HASH_ANNOTATION: &str = "hypershift.openshift.io/registry-ca-bundle-hash";

/// `OPENSHIFT_IMG_OVERRIDES` with the management mirrors (the contract's value).
pub fn image_overrides_env(value: String) -> EnvVar {
    EnvVar {
        name: IMAGE_OVERRIDES_ENV.to_owned(),
        value: Some(value),
        ..EnvVar::default()
    }
}

/// `imagePullSecrets: [pull-secret]`: the kubelet pulls our images with the HostedCluster's pull
/// secret, as upstream's pods do (the mirror registries usually need credentials).
pub fn pull_secret_ref() -> LocalObjectReference {
    LocalObjectReference {
        name: names::PULL_SECRET.to_owned(),
    }
}

/// Liveness (`/healthz`) and readiness (`/readyz`) probes on the admin port.
pub fn admin_probes(port: u16) -> (Probe, Probe) {
    let probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(i32::from(port)),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Probe::default()
    };
    (probe("/healthz", 30, 6), probe("/readyz", 10, 3))
}

/// The registry CA bundle's volume, mount and file path, when the operator has a bundle.
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
    let path = format!(
        "{}/{}",
        names::REGISTRY_CA_BUNDLE_MOUNT,
        names::REGISTRY_CA_BUNDLE_KEY
    );
    Some((volume, mount, path))
}

/// A one-replica Deployment `name` running `pod`, selected by `name: <name>`.
pub fn deployment(
    hc: &ValidatedHostedCluster,
    name: &str,
    mut pod: PodSpec,
    mut annotations: BTreeMap<String, String>,
) -> Deployment {
    hypershift_support::pod::restrict(&mut pod);
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
