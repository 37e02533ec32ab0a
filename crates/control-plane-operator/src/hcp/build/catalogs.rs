//! The OLM catalogs' objects in the control-plane namespace (management placement): the
//! `catalogs` ImageStream when its API is served, and per catalog a Deployment
//! `<catalog>-catalog` serving the index over gRPC and a Service `<catalog>` (spec A.4, A.5).
//! Pure and byte-identical for the same inputs.

use std::collections::BTreeMap;

use hypershift_api::names;
use hypershift_api::openshift::{ImageLookupPolicy, ImageStream, ImageStreamSpec};
use hypershift_support::meta::managed_by;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, GRPCAction, LocalObjectReference, PodSpec,
    PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::COMPONENT_LABEL;
use crate::catalogs::{CATALOGS, Catalog};
use crate::hcp::validate::{CatalogImage, CatalogPlan, ValidControlPlane};

/// The ImageStream holding one tag per catalog.
pub const CATALOGS_IMAGE_STREAM: &str = "catalogs";
/// The pod label (and Service selector) naming a catalog.
pub const CATALOG_SOURCE_LABEL: &str = "olm.catalogSource";
/// The catalogs' gRPC port.
pub const GRPC_PORT: i32 = 50051;
/// OpenShift's image trigger annotation.
pub const TRIGGERS_ANNOTATION: &str = "image.openshift.io/triggers";
/// Lets pods name ImageStream tags (`catalogs:<catalog>`).
pub const RESOLVE_NAMES_ANNOTATION: &str = "alpha.image.policy.openshift.io/resolve-names";

/// What to write for the catalogs; `None` from [`build`] means "touch nothing".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CatalogObjects {
    pub image_stream: Option<ImageStream>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    /// Catalogs not rendered now whose existing objects stay (their image was not found).
    pub kept: Vec<&'static str>,
}

impl CatalogObjects {
    /// The Deployment names to keep when pruning.
    pub fn deployment_names(&self) -> Vec<String> {
        self.rendered_and_kept().map(Catalog::deployment).collect()
    }

    /// The Service names to keep when pruning.
    pub fn service_names(&self) -> Vec<String> {
        self.rendered_and_kept().map(|c| c.name.to_owned()).collect()
    }

    fn rendered_and_kept(&self) -> impl Iterator<Item = &'static Catalog> {
        let rendered: Vec<String> = self
            .deployments
            .iter()
            .filter_map(|d| d.metadata.name.clone())
            .collect();
        CATALOGS
            .iter()
            .filter(move |c| rendered.contains(&c.deployment()) || self.kept.contains(&c.name))
    }
}

/// The catalogs' objects: `None` when they stay as they are (a malformed annotation).
pub fn build(cp: &ValidControlPlane) -> Option<CatalogObjects> {
    let (images, stream_tags) = match &cp.catalogs {
        CatalogPlan::Unchanged => return None,
        CatalogPlan::Absent => return Some(CatalogObjects::default()),
        CatalogPlan::Render { images, stream_tags } => (images, stream_tags),
    };
    let mut out = CatalogObjects {
        image_stream: stream_tags.as_ref().map(|tags| image_stream(cp, tags)),
        ..CatalogObjects::default()
    };
    for catalog in CATALOGS {
        match images.get(catalog.name) {
            Some(image) => {
                out.deployments.push(deployment(cp, catalog, image));
                out.services.push(service(cp, catalog));
            }
            None => out.kept.push(catalog.name),
        }
    }
    Some(out)
}

fn metadata(cp: &ValidControlPlane, name: &str, component: &str) -> ObjectMeta {
    let mut labels = managed_by(crate::FIELD_MANAGER);
    labels.insert(COMPONENT_LABEL.to_owned(), component.to_owned());
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(cp.namespace.clone()),
        labels: Some(labels),
        owner_references: Some(vec![cp.owner.clone()]),
        ..ObjectMeta::default()
    }
}

fn image_stream(cp: &ValidControlPlane, tags: &[hypershift_api::openshift::TagReference]) -> ImageStream {
    ImageStream {
        metadata: metadata(cp, CATALOGS_IMAGE_STREAM, "olm-catalogs"),
        spec: ImageStreamSpec {
            tags: tags.to_vec(),
            lookup_policy: Some(ImageLookupPolicy { local: true }),
        },
    }
}

fn selector(catalog: &Catalog) -> BTreeMap<String, String> {
    BTreeMap::from([(CATALOG_SOURCE_LABEL.to_owned(), catalog.name.to_owned())])
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        ..VolumeMount::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn grpc_probe(initial_delay_seconds: i32) -> Probe {
    Probe {
        grpc: Some(GRPCAction {
            port: GRPC_PORT,
            service: None,
        }),
        initial_delay_seconds: Some(initial_delay_seconds),
        period_seconds: Some(10),
        ..Probe::default()
    }
}

fn deployment(cp: &ValidControlPlane, catalog: &Catalog, image: &CatalogImage) -> Deployment {
    let name = catalog.deployment();
    let (image, from_stream) = match image {
        // The trigger's image, or the placeholder it resolves; written back as it is (running
        // it through `--registry-overrides` again would rewrite it on every reconcile).
        CatalogImage::Stream { current } => (
            current
                .clone()
                .unwrap_or_else(|| format!("{CATALOGS_IMAGE_STREAM}:{}", catalog.name)),
            true,
        ),
        CatalogImage::Direct(image) => (cp.registry_overrides.replace(image).into_owned(), false),
    };
    let utilities = cp
        .registry_overrides
        .replace(
            cp.components
                .get("operator-lifecycle-manager")
                .map(String::as_str)
                .unwrap_or_default(),
        )
        .into_owned();
    let mut meta = metadata(cp, &name, &name);
    meta.labels
        .get_or_insert_default()
        .insert(CATALOG_SOURCE_LABEL.to_owned(), catalog.name.to_owned());
    let mut pod_annotations = None;
    if from_stream {
        let tag = format!("{CATALOGS_IMAGE_STREAM}:{}", catalog.name);
        let trigger = |path: &str| serde_json::json!({"from": {"kind": "ImageStreamTag", "name": tag}, "fieldPath": path});
        let triggers = serde_json::json!([
            trigger("spec.template.spec.initContainers[?(@.name==\"extract-content\")].image"),
            trigger("spec.template.spec.containers[?(@.name==\"registry\")].image"),
        ]);
        meta.annotations = Some(BTreeMap::from([(
            TRIGGERS_ANNOTATION.to_owned(),
            triggers.to_string(),
        )]));
        pod_annotations = Some(BTreeMap::from([(
            RESOLVE_NAMES_ANNOTATION.to_owned(),
            "*".to_owned(),
        )]));
    }
    let pod = pod(utilities, image);
    Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector(catalog)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(selector(catalog)),
                    annotations: pod_annotations,
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// The catalog pod: the utilities copied out of the OLM image, the index copied out of the
/// catalog image, and `opm serve` on it.
fn pod(utilities: String, image: String) -> PodSpec {
    let mut pod = PodSpec {
        image_pull_secrets: Some(vec![LocalObjectReference {
            name: names::PULL_SECRET.to_owned(),
        }]),
        init_containers: Some(vec![
            Container {
                name: "extract-utilities".to_owned(),
                image: Some(utilities),
                command: Some(strings(&["cp", "/bin/copy-content", "/utilities/copy-content"])),
                volume_mounts: Some(vec![mount("utilities", "/utilities")]),
                ..Container::default()
            },
            Container {
                name: "extract-content".to_owned(),
                image: Some(image.clone()),
                command: Some(strings(&[
                    "/utilities/copy-content",
                    "--catalog.from=/configs",
                    "--catalog.to=/extracted-catalog/catalog",
                    "--cache.from=/tmp/cache",
                    "--cache.to=/extracted-catalog/cache",
                ])),
                volume_mounts: Some(vec![
                    mount("utilities", "/utilities"),
                    mount("catalog-content", "/extracted-catalog"),
                ]),
                ..Container::default()
            },
        ]),
        containers: vec![Container {
            name: "registry".to_owned(),
            image: Some(image),
            command: Some(strings(&[
                "/bin/opm",
                "serve",
                "/extracted-catalog/catalog",
                "--cache-dir=/extracted-catalog/cache",
            ])),
            ports: Some(vec![ContainerPort {
                name: Some("grpc".to_owned()),
                container_port: GRPC_PORT,
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            }]),
            readiness_probe: Some(grpc_probe(5)),
            liveness_probe: Some(grpc_probe(10)),
            volume_mounts: Some(vec![mount("catalog-content", "/extracted-catalog")]),
            ..Container::default()
        }],
        volumes: Some(
            ["utilities", "catalog-content"]
                .into_iter()
                .map(|n| Volume {
                    name: n.to_owned(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                })
                .collect(),
        ),
        automount_service_account_token: Some(false),
        ..PodSpec::default()
    };
    hypershift_support::pod::restrict(&mut pod);
    pod
}

fn service(cp: &ValidControlPlane, catalog: &Catalog) -> Service {
    Service {
        metadata: metadata(cp, catalog.name, &catalog.deployment()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector(catalog)),
            ports: Some(vec![ServicePort {
                name: Some("grpc".to_owned()),
                port: GRPC_PORT,
                target_port: Some(IntOrString::Int(GRPC_PORT)),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// `NO_PROXY` for the OLM operators: the kube-apiserver and, in management placement, every
/// catalog Service (they are reached inside the control-plane namespace).
pub fn no_proxy(placement: crate::catalogs::Placement) -> String {
    let mut hosts = vec!["kube-apiserver"];
    if placement == crate::catalogs::Placement::Management {
        hosts.extend(CATALOGS.iter().map(|c| c.name));
    }
    hosts.join(",")
}
