//! `hypershift.openshift.io/v1beta1` HostedCluster: the subset this project reads and writes,
//! with upstream's JSON names.
//!
//! Fields we do not model are kept, not rejected: every struct that mirrors an upstream struct
//! has a flattened `other` map (and the CRD marks it `x-kubernetes-preserve-unknown-fields`), so
//! an upstream manifest round-trips through our types unchanged.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Unmodelled fields, kept as written.
pub type Other = BTreeMap<String, Value>;

/// The desired state of a hosted cluster.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "hypershift.openshift.io",
    version = "v1beta1",
    kind = "HostedCluster",
    plural = "hostedclusters",
    shortname = "hc",
    shortname = "hcs",
    namespaced,
    status = "HostedClusterStatus",
    derive = "PartialEq",
    derive = "Default",
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version.history[?(@.state==\"Completed\")].version"}"#,
    printcolumn = r#"{"name":"Available","type":"string","jsonPath":".status.conditions[?(@.type==\"Available\")].status"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Available\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HostedClusterSpec {
    /// The release payload the control plane and (by default) the nodes run.
    pub release: Release,
    /// A separate payload for management-side components only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_release: Option<Release>,
    /// The pull secret in the HostedCluster's namespace (key `.dockerconfigjson`).
    pub pull_secret: LocalObjectReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra_id: Option<String>,
    #[serde(default, rename = "clusterID", skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// How each control-plane service is published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServicePublishingStrategyMapping>,
    /// Mirrors for the hosted cluster's nodes (the data plane), not the management cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_content_sources: Vec<ImageContentSource>,
    /// A ConfigMap with key `ca-bundle.crt` the nodes trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_trust_bundle: Option<LocalObjectReference>,
    /// `management` (default) or `guest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub olm_catalog_placement: Option<String>,
    /// OpenShift cluster configuration (`config.openshift.io` specs), passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub configuration: Option<Value>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: Other,
}

/// A release payload reference.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Release {
    /// Pull spec of the payload, e.g. `quay.io/openshift-release-dev/ocp-release@sha256:…`.
    pub image: String,
}

/// A reference to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    pub name: String,
}

/// `spec.platform`: only the type is read; the platform sections are kept as written.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct PlatformSpec {
    /// `None`, `Agent`, `AWS`, `Azure`, `KubeVirt`, `IBMCloud`, `PowerVS`, `OpenStack`, `GCP`.
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: Other,
}

/// One entry of `spec.services`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ServicePublishingStrategyMapping {
    /// `APIServer`, `OAuthServer`, `Konnectivity`, `Ignition`, `OIDC`, …
    pub service: String,
    pub service_publishing_strategy: ServicePublishingStrategy,
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: Other,
}

/// How one service is published.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ServicePublishingStrategy {
    /// `LoadBalancer`, `NodePort`, `Route`, `None`, `S3`.
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<NodePortPublishingStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RoutePublishingStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerPublishingStrategy>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: Other,
}

/// `servicePublishingStrategy.route`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct RoutePublishingStrategy {
    /// The Route's host name; without one, the Route's admitted host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// `servicePublishingStrategy.loadBalancer`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LoadBalancerPublishingStrategy {
    /// The DNS name clients use; without one, the load balancer's own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// `servicePublishingStrategy.nodePort`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NodePortPublishingStrategy {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// One `spec.imageContentSources` entry: data-plane mirrors of one source.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ImageContentSource {
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
}

/// The observed state of a hosted cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HostedClusterStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `host:port` of the ignition server, for NodePools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignition_endpoint: Option<String>,
    /// Ours: which pull spec served the release image, and the management mirrors in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_image_source: Option<ReleaseImageSource>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: Other,
}

/// Where the release image was read from (not in upstream's API).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseImageSource {
    /// The release image as the spec names it.
    pub image: String,
    /// The pull spec that served it (a mirror's or the source's).
    pub pulled_from: String,
    /// Whether a mirror served it.
    pub via_mirror: bool,
    /// The digest it resolved to.
    pub digest: String,
    /// `sha256:…` of the management MirrorSet the lookup used.
    pub mirror_set_hash: String,
}

/// Annotations on a HostedCluster that this project reads.
pub mod annotations {
    /// Overrides the control-plane-operator image.
    pub const CONTROL_PLANE_OPERATOR_IMAGE: &str = "hypershift.openshift.io/control-plane-operator-image";
    /// `sr1=dr1,sr2=dr2`: registry overrides for the OLM catalogs ImageStream.
    pub const OLM_CATALOGS_IS_REGISTRY_OVERRIDES: &str =
        "hypershift.openshift.io/olm-catalogs-is-registry-overrides";
    /// Catalog images by digest: all four or none (the seed's four default catalog sources;
    /// upstream has since dropped redhat-marketplace and checks three).
    pub const CERTIFIED_OPERATORS_CATALOG_IMAGE: &str =
        "hypershift.openshift.io/certified-operators-catalog-image";
    pub const COMMUNITY_OPERATORS_CATALOG_IMAGE: &str =
        "hypershift.openshift.io/community-operators-catalog-image";
    pub const REDHAT_MARKETPLACE_CATALOG_IMAGE: &str =
        "hypershift.openshift.io/redhat-marketplace-catalog-image";
    pub const REDHAT_OPERATORS_CATALOG_IMAGE: &str = "hypershift.openshift.io/redhat-operators-catalog-image";
    /// The catalog image annotations, in the catalogs' order.
    pub const CATALOG_IMAGES: [&str; 4] = [
        CERTIFIED_OPERATORS_CATALOG_IMAGE,
        COMMUNITY_OPERATORS_CATALOG_IMAGE,
        REDHAT_MARKETPLACE_CATALOG_IMAGE,
        REDHAT_OPERATORS_CATALOG_IMAGE,
    ];
    /// Skips release-image validation.
    pub const SKIP_RELEASE_IMAGE_VALIDATION: &str = "hypershift.openshift.io/skip-release-image-validation";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `hypershift create cluster none --render` writes (trimmed), with fields we do not model.
    pub(crate) const UPSTREAM_NONE: &str = r"
apiVersion: hypershift.openshift.io/v1beta1
kind: HostedCluster
metadata:
  creationTimestamp: null
  name: example
  namespace: clusters
spec:
  autoscaling: {}
  controllerAvailabilityPolicy: SingleReplica
  dns:
    baseDomain: example.invalid
  etcd:
    managed:
      storage:
        persistentVolume:
          size: 8Gi
        type: PersistentVolume
    managementType: Managed
  fips: false
  imageContentSources:
  - mirrors:
    - mirror.registry.invalid:8443/openshift/release
    source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev
  infraID: example-abcde
  networking:
    clusterNetwork:
    - cidr: 10.132.0.0/14
    networkType: OVNKubernetes
    serviceNetwork:
    - cidr: 172.31.0.0/16
  olmCatalogPlacement: management
  platform:
    type: None
  pullSecret:
    name: example-pull-secret
  release:
    image: quay.invalid/openshift-release-dev/ocp-release:4.99.0-x86_64
  services:
  - service: APIServer
    servicePublishingStrategy:
      nodePort:
        address: 127.0.0.1
      type: NodePort
  - service: Ignition
    servicePublishingStrategy:
      type: Route
  sshKey:
    name: example-ssh-key
status:
  controlPlaneEndpoint:
    host: ''
    port: 0
";

    #[test]
    fn upstream_manifests_are_accepted_and_unknown_fields_kept() {
        let hc: HostedCluster = serde_saphyr::from_str(UPSTREAM_NONE).unwrap();
        assert_eq!(hc.spec.platform.as_ref().unwrap().type_, "None");
        assert_eq!(hc.spec.image_content_sources[0].mirrors.len(), 1);
        assert_eq!(
            hc.spec.services[0]
                .service_publishing_strategy
                .node_port
                .as_ref()
                .unwrap()
                .address,
            "127.0.0.1"
        );
        assert!(hc.spec.other.contains_key("etcd") && hc.spec.other.contains_key("networking"));
        // Round trip: what we write back still has every upstream field.
        let again = serde_json::to_value(&hc).unwrap();
        assert_eq!(
            again["spec"]["etcd"]["managed"]["storage"]["persistentVolume"]["size"],
            "8Gi"
        );
        assert_eq!(again["spec"]["controllerAvailabilityPolicy"], "SingleReplica");
        assert_eq!(again["status"]["controlPlaneEndpoint"]["port"], 0);
        let back: HostedCluster = serde_json::from_value(again).unwrap();
        assert_eq!(back, hc);
    }

    #[test]
    fn agent_platform_sections_are_kept() {
        let yaml = UPSTREAM_NONE.replace(
            "    type: None",
            "    type: Agent\n    agent:\n      agentNamespace: agents",
        );
        let hc: HostedCluster = serde_saphyr::from_str(&yaml).unwrap();
        let platform = hc.spec.platform.unwrap();
        assert_eq!(platform.type_, "Agent");
        assert_eq!(platform.other["agent"]["agentNamespace"], "agents");
    }
}
