//! Step 3: every object of a hosted control plane, built from a [`ValidatedHostedCluster`].
//! Pure: no client, no clock, no randomness; the same input renders byte-identical objects
//! (golden files in `snapshots/`).
//!
//! ```text
//! ValidatedHostedCluster ─► namespace, secrets and CA bundles, HostedControlPlane,
//!                           control-plane-operator (SA, Role, RoleBinding, Deployment),
//!                           ignition-server (SA, Role, RoleBinding, Service, Route, Deployment)
//! ```

mod control_plane_operator;
mod hosted_control_plane;
mod ignition_server;
mod pod;
mod rbac;
mod secrets;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::marker::PhantomData;

use hypershift_api::hosted_control_plane::HostedControlPlane;
use hypershift_api::names;
use hypershift_api::openshift::Route;
use hypershift_support::meta::{Owner, managed_by, managed_by_selector};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::validate::ValidatedHostedCluster;

/// Built, not yet applied.
#[derive(Debug)]
pub struct Prepared;
/// Applied to the API server.
#[derive(Debug)]
pub struct Applied;

/// A component's identity and workload.
#[derive(Debug, Clone)]
pub struct Workload {
    pub service_account: ServiceAccount,
    pub role: Role,
    pub role_binding: RoleBinding,
    pub deployment: Deployment,
}

/// Everything the hypershift-operator owns for one HostedCluster.
#[derive(Debug, Clone)]
pub struct ControlPlaneResources<S> {
    pub namespace: Namespace,
    pub pull_secret: Secret,
    pub registry_ca_bundle: Option<ConfigMap>,
    pub user_ca_bundle: Option<ConfigMap>,
    pub ignition_ca: Secret,
    pub ignition_serving_cert: Secret,
    pub hosted_control_plane: HostedControlPlane,
    pub control_plane_operator: Workload,
    pub ignition_server: Workload,
    pub ignition_service: Service,
    /// Present when the ignition server is published by a Route.
    pub ignition_route: Option<Route>,
    pub state: PhantomData<S>,
}

/// Builds every object.
pub fn build(hc: &ValidatedHostedCluster) -> ControlPlaneResources<Prepared> {
    ControlPlaneResources {
        namespace: namespace(hc),
        pull_secret: secrets::pull_secret(hc),
        registry_ca_bundle: hc
            .registry_ca_bundle
            .as_deref()
            .map(|b| secrets::ca_bundle(hc, names::REGISTRY_CA_BUNDLE, b)),
        user_ca_bundle: hc
            .user_ca_bundle
            .as_deref()
            .map(|b| secrets::ca_bundle(hc, names::USER_CA_BUNDLE, b)),
        ignition_ca: secrets::ignition_ca(hc),
        ignition_serving_cert: secrets::ignition_serving_cert(hc),
        hosted_control_plane: hosted_control_plane::build(hc),
        control_plane_operator: control_plane_operator::build(hc),
        ignition_server: ignition_server::build(hc),
        ignition_service: ignition_server::service(hc),
        ignition_route: ignition_server::route(hc),
        state: PhantomData,
    }
}

/// The label on every object the hypershift-operator owns (how orphans are found).
pub fn owned_labels() -> BTreeMap<String, String> {
    managed_by(names::HO_FIELD_MANAGER)
}

/// The selector matching [`owned_labels`].
pub fn owned_selector() -> String {
    managed_by_selector(names::HO_FIELD_MANAGER)
}

/// The owner of everything built for `hc`: our field manager, and the annotation naming the
/// HostedCluster (`<namespace>/<name>`, upstream's) through which watch events on owned objects
/// are traced back (labels cannot hold a `/`, nor two names of 63 characters).
pub fn owner(hc: &ValidatedHostedCluster) -> Owner {
    Owner {
        field_manager: names::HO_FIELD_MANAGER,
        annotation: names::HOSTED_CLUSTER_ANNOTATION,
        value: hc.owner.clone(),
    }
}

/// Metadata of an owned object in the control-plane namespace.
pub fn meta(hc: &ValidatedHostedCluster, name: &str) -> ObjectMeta {
    owner(hc).meta(name, Some(&hc.control_plane_namespace))
}

fn namespace(hc: &ValidatedHostedCluster) -> Namespace {
    Namespace {
        metadata: owner(hc).meta_with(
            &hc.control_plane_namespace,
            None,
            [(
                "hypershift.openshift.io/hosted-control-plane".to_owned(),
                "true".to_owned(),
            )],
            [],
        ),
        ..Namespace::default()
    }
}

/// `sha256:…` of `text`, for pod-template annotations that roll pods when mounted content changes.
pub(crate) fn content_hash(text: &str) -> String {
    hypershift_mirrors::sha256_digest(text.as_bytes())
}
