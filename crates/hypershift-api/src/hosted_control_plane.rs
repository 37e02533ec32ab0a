//! `hypershift.openshift.io/v1beta1` HostedControlPlane: written by the hypershift-operator into
//! the control-plane namespace, reconciled by the control-plane-operator. The subset we use, with
//! upstream's JSON names; unmodelled fields are kept (see [`crate::hosted_cluster`]).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hosted_cluster::{
    ImageContentSource, LocalObjectReference, Other, PlatformSpec, ReleaseImageSource,
    ServicePublishingStrategyMapping,
};

/// The desired state of one hosted control plane.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "hypershift.openshift.io",
    version = "v1beta1",
    kind = "HostedControlPlane",
    plural = "hostedcontrolplanes",
    shortname = "hcp",
    shortname = "hcps",
    namespaced,
    status = "HostedControlPlaneStatus",
    derive = "PartialEq",
    derive = "Default",
    printcolumn = r#"{"name":"Release","type":"string","jsonPath":".status.releaseImageSource.pulledFrom"}"#,
    printcolumn = r#"{"name":"Mirrors","type":"string","jsonPath":".status.releaseImageSource.mirrorSetHash"}"#,
    printcolumn = r#"{"name":"Available","type":"string","jsonPath":".status.conditions[?(@.type==\"Available\")].status"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Available\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HostedControlPlaneSpec {
    /// `HostedCluster.spec.release.image`.
    pub release_image: String,
    /// `HostedCluster.spec.controlPlaneRelease.image`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_release_image: Option<String>,
    /// Always `pull-secret` (the copy in the control-plane namespace).
    pub pull_secret: LocalObjectReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<LocalObjectReference>,
    /// The HostedCluster's platform; `Agent` becomes `None` here, as upstream does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra_id: Option<String>,
    #[serde(default, rename = "clusterID", skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServicePublishingStrategyMapping>,
    /// Data-plane mirrors, copied from the HostedCluster unconditionally.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_content_sources: Vec<ImageContentSource>,
    /// `user-ca-bundle` when the HostedCluster has an additional trust bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_trust_bundle: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub olm_catalog_placement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub configuration: Option<Value>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: Other,
}

/// The observed state of a hosted control plane.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HostedControlPlaneStatus {
    #[serde(default)]
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
    /// Where the control-plane-operator read the release from, and the hash of its management
    /// MirrorSet (not in upstream's API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_image_source: Option<ReleaseImageSource>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: Other,
}
