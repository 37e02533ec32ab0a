//! `hypershift.openshift.io/v1beta1` NodePool: the subset this project reads and writes, with
//! upstream's JSON names; unmodelled fields are kept (see [`crate::hosted_cluster`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::hosted_cluster::{LocalObjectReference, Other, PlatformSpec, Release};

/// The desired state of a pool of nodes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "hypershift.openshift.io",
    version = "v1beta1",
    kind = "NodePool",
    plural = "nodepools",
    shortname = "np",
    shortname = "nps",
    namespaced,
    status = "NodePoolStatus",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct NodePoolSpec {
    /// The HostedCluster (same namespace) the nodes join.
    pub cluster_name: String,
    /// The release the nodes run; drives the ignition payload.
    pub release: Release,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// ConfigMaps (key `config`) with MachineConfig, IDMS, ICSP… documents for the nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<LocalObjectReference>,
    /// `amd64` (default), `arm64`, `ppc64le`, `s390x`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: Other,
}

/// The observed state of a NodePool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct NodePoolStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: Other,
}
