//! The control-plane-operator: its identity and Deployment, carrying the mirror configuration.
//!
//! Carriers exactly as HyperShift renders them for the CPO: one argument
//! `--registry-overrides=<value>` (`=` when empty) and the env var `OPENSHIFT_IMG_OVERRIDES`.

use std::collections::BTreeMap;

use hypershift_api::names;
use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::Workload;
use super::pod::{deployment, image_overrides_env, registry_ca};
use super::rbac::{identity, rule};
use crate::hostedcluster::validate::ValidatedHostedCluster;

/// The CPO's ServiceAccount, Role, RoleBinding and Deployment.
pub fn build(hc: &ValidatedHostedCluster) -> Workload {
    let name = names::CONTROL_PLANE_OPERATOR;
    // The CPO manages every object of its namespace, as upstream's does.
    let (service_account, role, role_binding) = identity(hc, name, vec![rule(&["*"], &["*"], &["*"])]);
    let mut args = vec![
        "run".to_owned(),
        format!("--namespace={}", hc.control_plane_namespace),
        format!("--hosted-control-plane={}", hc.name),
        "--admin-addr=0.0.0.0:8080".to_owned(),
        hc.carriers.joined_flag(),
    ];
    let mut container = Container {
        name: name.to_owned(),
        image: Some(hc.control_plane_operator_image.clone()),
        command: Some(vec![format!("/usr/bin/{name}")]),
        env: Some(vec![image_overrides_env(hc)]),
        ..Container::default()
    };
    let mut pod = PodSpec {
        service_account_name: Some(name.to_owned()),
        ..PodSpec::default()
    };
    if let Some((volume, mount, flag)) = registry_ca(hc) {
        args.push(flag);
        container.volume_mounts = Some(vec![mount]);
        pod.volumes = Some(vec![volume]);
    }
    container.args = Some(args);
    pod.containers = vec![container];
    Workload {
        service_account,
        role,
        role_binding,
        deployment: deployment(hc, name, pod, BTreeMap::new()),
    }
}
