//! The ignition server: its identity, Service, Route and Deployment (deployed by the
//! hypershift-operator, as in the seed design; upstream moved this into the control-plane-operator).
//!
//! Its command line is [`IgnitionServerArgs`] (the typed contract the ignition-server parses):
//! two arguments `--registry-overrides` `<value>`, as HyperShift renders them, and the env var
//! `OPENSHIFT_IMG_OVERRIDES`. The Service follows the HostedCluster's `Ignition` publishing
//! strategy: ClusterIP without one, NodePort (with the requested node port), LoadBalancer, or
//! ClusterIP behind a passthrough Route.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hypershift_api::names;
use hypershift_api::openshift::{Route, RouteSpec, RouteTargetReference, RouteTls};
use hypershift_support::contract::IgnitionServerArgs;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSpec, SecretVolumeSource, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pod::{admin_probes, deployment, image_overrides_env, pull_secret_ref, registry_ca};
use super::rbac::{identity, rule};
use super::{Workload, content_hash, meta};
use crate::hostedcluster::validate::{IgnitionPublishing, ValidatedHostedCluster};

/// The HTTPS port the server listens on.
pub const HTTPS_PORT: u16 = 9090;
/// Its admin port (health, metrics).
pub const ADMIN_PORT: u16 = 8081;
const SERVING_CERT_DIR: &str = "/var/run/secrets/ignition/serving-cert";
/// Annotation with the serving certificate's hash: a new certificate rolls the pod.
pub const SERVING_CERT_HASH_ANNOTATION: &str = "hypershift.openshift.io/serving-cert-hash";

/// The ignition server's ServiceAccount, Role, RoleBinding and Deployment.
pub fn build(hc: &ValidatedHostedCluster) -> Workload {
    let name = names::IGNITION_SERVER;
    // The contract's rules (its tests check every request it makes against them).
    let (service_account, role, role_binding) = identity(
        hc,
        name,
        hypershift_support::contract::IGNITION_SERVER_RULES
            .iter()
            .map(|(g, r, v)| rule(g, r, v))
            .collect(),
    );
    let ca = registry_ca(hc);
    let args = IgnitionServerArgs {
        namespace: hc.control_plane_namespace.clone(),
        addr: SocketAddr::from(([0, 0, 0, 0], HTTPS_PORT)),
        cert_file: format!("{SERVING_CERT_DIR}/tls.crt"),
        key_file: format!("{SERVING_CERT_DIR}/tls.key"),
        admin_addr: SocketAddr::from(([0, 0, 0, 0], ADMIN_PORT)),
        carriers: hc.carriers.clone(),
        registry_ca_bundle: ca.as_ref().map(|(_, _, path)| path.clone()),
    };
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
    if let Some((volume, mount, _)) = ca {
        volumes.push(volume);
        mounts.push(mount);
    }
    let (liveness, readiness) = admin_probes(ADMIN_PORT);
    let container = Container {
        name: name.to_owned(),
        image: Some(hc.ignition_server_image.clone()),
        command: Some(vec![format!("/usr/bin/{name}")]),
        args: Some(args.to_args()),
        env: Some(vec![image_overrides_env(args.image_overrides_env())]),
        ports: Some(vec![ContainerPort {
            name: Some("https".into()),
            container_port: i32::from(HTTPS_PORT),
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(liveness),
        readiness_probe: Some(readiness),
        volume_mounts: Some(mounts),
        ..Container::default()
    };
    let pod = PodSpec {
        service_account_name: Some(name.to_owned()),
        image_pull_secrets: Some(vec![pull_secret_ref()]),
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

/// The Service nodes reach the ignition server through (port 443), of the type the publishing
/// strategy asks for.
pub fn service(hc: &ValidatedHostedCluster) -> Service {
    let (type_, node_port) = match &hc.ignition_publishing {
        IgnitionPublishing::ClusterIp | IgnitionPublishing::Route { .. } => ("ClusterIP", None),
        IgnitionPublishing::NodePort { port, .. } => ("NodePort", *port),
        IgnitionPublishing::LoadBalancer { .. } => ("LoadBalancer", None),
    };
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
                target_port: Some(IntOrString::Int(i32::from(HTTPS_PORT))),
                node_port,
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            type_: Some(type_.into()),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The passthrough Route to the Service, when the strategy is `Route` (the server terminates TLS
/// itself, with a certificate naming the Route's host).
pub fn route(hc: &ValidatedHostedCluster) -> Option<Route> {
    let IgnitionPublishing::Route { hostname } = &hc.ignition_publishing else {
        return None;
    };
    let mut route = Route::new(
        names::IGNITION_SERVER,
        RouteSpec {
            host: hostname.clone(),
            to: RouteTargetReference {
                kind: "Service".into(),
                name: names::IGNITION_SERVER.into(),
            },
            tls: Some(RouteTls {
                termination: "passthrough".into(),
            }),
        },
    );
    route.metadata = meta(hc, names::IGNITION_SERVER);
    Some(route)
}
