//! The ignition server: its identity, Service and Deployment (deployed by the hypershift-operator,
//! as in the seed design; upstream moved this into the control-plane-operator).
//!
//! Carriers exactly as HyperShift renders them for the ignition server: two arguments
//! `--registry-overrides` `<value>` and the env var `OPENSHIFT_IMG_OVERRIDES`.

use std::collections::BTreeMap;

use hypershift_api::names;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HTTPGetAction, PodSpec, Probe, SecretVolumeSource, Service, ServicePort,
    ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pod::{deployment, image_overrides_env, registry_ca};
use super::rbac::{identity, rule};
use super::{Workload, content_hash, meta};
use crate::hostedcluster::validate::ValidatedHostedCluster;

/// The HTTPS port the server listens on.
pub const HTTPS_PORT: i32 = 9090;
/// Its admin port (health, metrics).
pub const ADMIN_PORT: i32 = 8081;
const SERVING_CERT_DIR: &str = "/var/run/secrets/ignition/serving-cert";
/// Annotation with the serving certificate's hash: a new certificate rolls the pod.
pub const SERVING_CERT_HASH_ANNOTATION: &str = "hypershift.openshift.io/serving-cert-hash";

/// The ignition server's ServiceAccount, Role, RoleBinding and Deployment.
pub fn build(hc: &ValidatedHostedCluster) -> Workload {
    let name = names::IGNITION_SERVER;
    // It reads token and pull secrets and configmaps of its namespace, and nothing else.
    let (service_account, role, role_binding) = identity(
        hc,
        name,
        vec![rule(&[""], &["secrets", "configmaps"], &["get", "list", "watch"])],
    );
    let mut args = vec![
        "start".to_owned(),
        format!("--namespace={}", hc.control_plane_namespace),
        format!("--addr=0.0.0.0:{HTTPS_PORT}"),
        format!("--cert-file={SERVING_CERT_DIR}/tls.crt"),
        format!("--key-file={SERVING_CERT_DIR}/tls.key"),
        format!("--admin-addr=0.0.0.0:{ADMIN_PORT}"),
    ];
    args.extend(hc.carriers.split_flag());
    let mut volumes = vec![Volume {
        name: "serving-cert".to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(names::IGNITION_SERVER_SERVING_CERT.to_owned()),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }];
    let mut mounts = vec![VolumeMount {
        name: "serving-cert".to_owned(),
        mount_path: SERVING_CERT_DIR.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }];
    if let Some((volume, mount, flag)) = registry_ca(hc) {
        args.push(flag);
        volumes.push(volume);
        mounts.push(mount);
    }
    let container = Container {
        name: name.to_owned(),
        image: Some(hc.ignition_server_image.clone()),
        command: Some(vec![format!("/usr/bin/{name}")]),
        args: Some(args),
        env: Some(vec![image_overrides_env(hc)]),
        ports: Some(vec![ContainerPort {
            name: Some("https".into()),
            container_port: HTTPS_PORT,
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz".into()),
                port: IntOrString::Int(ADMIN_PORT),
                ..HTTPGetAction::default()
            }),
            ..Probe::default()
        }),
        volume_mounts: Some(mounts),
        ..Container::default()
    };
    let pod = PodSpec {
        service_account_name: Some(name.to_owned()),
        containers: vec![container],
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    let annotations = BTreeMap::from([(
        SERVING_CERT_HASH_ANNOTATION.to_owned(),
        content_hash(&hc.pki.serving_cert),
    )]);
    Workload {
        service_account,
        role,
        role_binding,
        deployment: deployment(hc, name, pod, annotations),
    }
}

/// The Service nodes reach the ignition server through (port 443).
pub fn service(hc: &ValidatedHostedCluster) -> Service {
    Service {
        metadata: meta(hc, names::IGNITION_SERVER),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([(
                "name".to_owned(),
                names::IGNITION_SERVER.to_owned(),
            )])),
            ports: Some(vec![ServicePort {
                name: Some("https".into()),
                port: 443,
                target_port: Some(IntOrString::Int(HTTPS_PORT)),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            type_: Some("ClusterIP".into()),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
