//! The components' workloads: pure, one per row of the table, byte-identical for the same inputs.
//! The OLM catalogs' objects are in [`catalogs`].

pub mod catalogs;

pub use catalogs::{CATALOGS_IMAGE_STREAM, CatalogObjects};

use std::collections::BTreeMap;

use hypershift_api::names;
use hypershift_mirrors::contract::IMAGE_OVERRIDES_ENV;
use hypershift_support::meta::managed_by;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EmptyDirVolumeSource, EnvVar, LocalObjectReference, PodSpec, PodTemplateSpec,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::validate::ValidControlPlane;
use crate::components::{COMPONENTS, Component, ContainerRow, Image, Kind};

/// The label naming a workload's component.
pub const COMPONENT_LABEL: &str = "hypershift.openshift.io/control-plane-component";
/// The annotation with the release the workload was rendered from.
pub const RELEASE_ANNOTATION: &str = "hypershift.openshift.io/release-image";

/// A rendered workload.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
}

impl Workload {
    pub fn name(&self) -> &str {
        let meta = match self {
            Self::Deployment(d) => &d.metadata,
            Self::StatefulSet(s) => &s.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }
}

/// The image a container row runs, `--registry-overrides` applied.
pub fn image_of(cp: &ValidControlPlane, row: &ContainerRow) -> String {
    let written = match row.image {
        Image::Component(name) => cp.components.get(name).cloned().unwrap_or_default(),
        Image::ReleaseByDigest => cp.release_by_digest.clone(),
    };
    cp.registry_overrides.replace(&written).into_owned()
}

fn container(cp: &ValidControlPlane, component: &Component, row: &ContainerRow) -> Container {
    let mut env = Vec::new();
    let mut args = Vec::new();
    if component.carriers && row.name == component.container.name {
        env.push(EnvVar {
            name: IMAGE_OVERRIDES_ENV.to_owned(),
            value: Some(cp.carriers.env_value()),
            ..EnvVar::default()
        });
        args.push(cp.carriers.joined_flag());
    }
    if component.catalog_client && row.name == component.container.name {
        env.push(EnvVar {
            name: "NO_PROXY".to_owned(),
            value: Some(catalogs::no_proxy(cp.placement)),
            ..EnvVar::default()
        });
    }
    let mounts: Vec<VolumeMount> = component
        .scratch
        .iter()
        .map(|(name, path)| VolumeMount {
            name: (*name).to_owned(),
            mount_path: (*path).to_owned(),
            ..VolumeMount::default()
        })
        .collect();
    Container {
        name: row.name.to_owned(),
        image: Some(image_of(cp, row)),
        command: Some(row.command.iter().map(|s| (*s).to_owned()).collect()),
        args: (!args.is_empty()).then_some(args),
        env: (!env.is_empty()).then_some(env),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Container::default()
    }
}

fn pod(cp: &ValidControlPlane, component: &Component) -> PodSpec {
    let init: Vec<Container> = component
        .init
        .iter()
        .map(|r| container(cp, component, r))
        .collect();
    let mut pod = PodSpec {
        image_pull_secrets: Some(vec![LocalObjectReference {
            name: names::PULL_SECRET.to_owned(),
        }]),
        init_containers: (!init.is_empty()).then_some(init),
        containers: vec![container(cp, component, &component.container)],
        volumes: (!component.scratch.is_empty()).then(|| {
            component
                .scratch
                .iter()
                .map(|(name, _)| Volume {
                    name: (*name).to_owned(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                })
                .collect()
        }),
        automount_service_account_token: Some(false),
        ..PodSpec::default()
    };
    hypershift_support::pod::restrict(&mut pod);
    pod
}

fn metadata(cp: &ValidControlPlane, component: &Component) -> ObjectMeta {
    let mut labels = managed_by(crate::FIELD_MANAGER);
    labels.insert(COMPONENT_LABEL.to_owned(), component.name.to_owned());
    ObjectMeta {
        name: Some(component.name.to_owned()),
        namespace: Some(cp.namespace.clone()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            RELEASE_ANNOTATION.to_owned(),
            cp.release_image.clone(),
        )])),
        owner_references: Some(vec![cp.owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// One component's workload.
pub fn workload(cp: &ValidControlPlane, component: &Component) -> Workload {
    let selector = BTreeMap::from([("app".to_owned(), component.name.to_owned())]);
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(selector.clone()),
            ..ObjectMeta::default()
        }),
        spec: Some(pod(cp, component)),
    };
    let selector = LabelSelector {
        match_labels: Some(selector),
        ..LabelSelector::default()
    };
    match component.kind {
        Kind::Deployment => Workload::Deployment(Box::new(Deployment {
            metadata: metadata(cp, component),
            spec: Some(DeploymentSpec {
                replicas: Some(1),
                selector,
                template,
                ..DeploymentSpec::default()
            }),
            status: None,
        })),
        Kind::StatefulSet => Workload::StatefulSet(Box::new(StatefulSet {
            metadata: metadata(cp, component),
            spec: Some(StatefulSetSpec {
                replicas: Some(1),
                selector,
                service_name: Some(component.name.to_owned()),
                template,
                ..StatefulSetSpec::default()
            }),
            status: None,
        })),
    }
}

/// The ConfigMap holding the guest cluster's mirror configuration.
pub const GUEST_MIRRORS: &str = "guest-image-mirrors";
/// Its key with the ImageDigestMirrorSet `cluster` (and the ImageTagMirrorSet `cluster`, if any
/// mirror serves tags), as one YAML stream.
pub const GUEST_MIRROR_SETS_KEY: &str = "mirror-sets.yaml";
/// Its key with the nodes' containers-registries.conf(5).
pub const GUEST_REGISTRIES_CONF_KEY: &str = "registries.conf";

/// The guest cluster's mirrors, from `spec.imageContentSources` through the one data-plane path
/// (the mirror core): `None` when there are none, so emptying the field removes them (upstream
/// left them behind: OCPBUGS-34820). What the guest's config operator applies and what its nodes
/// get; the ignition-server receives the same rules through the NodePool's token Secret.
pub fn guest_mirrors(cp: &ValidControlPlane) -> Option<ConfigMap> {
    if cp.data_plane_mirrors.is_empty() {
        return None;
    }
    let rendered = hypershift_mirrors::render_mirror_sets(&cp.data_plane_mirrors, "cluster");
    let mut labels = managed_by(crate::FIELD_MANAGER);
    labels.insert(COMPONENT_LABEL.to_owned(), GUEST_MIRRORS.to_owned());
    Some(ConfigMap {
        metadata: ObjectMeta {
            name: Some(GUEST_MIRRORS.to_owned()),
            namespace: Some(cp.namespace.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                MIRROR_SET_HASH_ANNOTATION.to_owned(),
                cp.data_plane_mirrors.content_hash().to_owned(),
            )])),
            owner_references: Some(vec![cp.owner.clone()]),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            (GUEST_MIRROR_SETS_KEY.to_owned(), rendered.to_yaml()),
            (
                GUEST_REGISTRIES_CONF_KEY.to_owned(),
                hypershift_mirrors::registries_conf::render(&cp.data_plane_mirrors),
            ),
        ])),
        ..ConfigMap::default()
    })
}

/// The annotation with the data-plane MirrorSet's content hash.
pub const MIRROR_SET_HASH_ANNOTATION: &str = "hypershift.openshift.io/mirror-set-hash";

/// Every component's workload, in the table's order.
pub fn build(cp: &ValidControlPlane) -> Vec<Workload> {
    COMPONENTS.iter().map(|c| workload(cp, c)).collect()
}

#[cfg(test)]
mod tests;
