//! The control-plane-operator: its identity and Deployment, carrying the mirror configuration.
//!
//! Its command line is [`ControlPlaneOperatorArgs`] (the typed contract the CPO parses): one
//! argument `--registry-overrides=<value>` (`=` when empty), as HyperShift renders it, and the
//! env var `OPENSHIFT_IMG_OVERRIDES`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hypershift_api::names;
use hypershift_support::contract::ControlPlaneOperatorArgs;
use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::Workload;
use super::pod::{admin_probes, deployment, image_overrides_env, pull_secret_ref, registry_ca};
use super::rbac::{identity, rule};
use crate::hostedcluster::validate::ValidatedHostedCluster;

/// The CPO's admin port (health, metrics), on all interfaces so the kubelet's probes reach it.
pub const ADMIN_PORT: u16 = 8080;

/// The CPO's ServiceAccount, Role, RoleBinding and Deployment.
pub fn build(hc: &ValidatedHostedCluster) -> Workload {
    let name = names::CONTROL_PLANE_OPERATOR;
    // The CPO manages every object of its namespace, as upstream's does.
    let (service_account, role, role_binding) = identity(
        hc,
        name,
        hypershift_support::contract::CONTROL_PLANE_OPERATOR_RULES
            .iter()
            .map(|(g, r, v)| rule(g, r, v))
            .collect(),
    );
    let ca = registry_ca(hc);
    let args = ControlPlaneOperatorArgs {
        namespace: hc.control_plane_namespace.clone(),
        hosted_control_plane: hc.name.clone(),
        admin_addr: SocketAddr::from(([0, 0, 0, 0], ADMIN_PORT)),
        carriers: hc.carriers.clone(),
        registry_ca_bundle: ca.as_ref().map(|(_, _, path)| path.clone()),
    };
    let (liveness, readiness) = admin_probes(ADMIN_PORT);
    let container = Container {
        name: name.to_owned(),
        image: Some(hc.control_plane_operator_image.clone()),
        command: Some(vec![format!("/usr/bin/{name}")]),
        args: Some(args.to_args()),
        env: Some(vec![image_overrides_env(args.image_overrides_env())]),
        liveness_probe: Some(liveness),
        readiness_probe: Some(readiness),
        volume_mounts: ca.as_ref().map(|(_, mount, _)| vec![mount.clone()]),
        ..Container::default()
    };
    let pod = PodSpec {
        service_account_name: Some(name.to_owned()),
        image_pull_secrets: Some(vec![pull_secret_ref()]),
        containers: vec![container],
        volumes: ca.map(|(volume, _, _)| vec![volume]),
        ..PodSpec::default()
    };
    Workload {
        service_account,
        role,
        role_binding,
        deployment: deployment(hc, name, pod, BTreeMap::new()),
    }
}
