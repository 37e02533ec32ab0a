//! Golden files of the built objects (`snapshots/`), one per (builder, variant), with variants
//! named after HyperShift's cases; `UPDATE_GOLDEN=1 cargo test -p hypershift-operator` rewrites
//! them. Plus the carriers checked field by field, and rendering twice compared byte for byte.

use std::path::PathBuf;

use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_mirrors::contract::MirrorCarriers;
use hypershift_mirrors::{ManagementMirrors, MirrorSetBuilder, RegistryOverrides, parse_documents};
use hypershift_releaseinfo::{ReleaseImage, Served};
use hypershift_support::golden::assert_golden;
use k8s_openapi::api::apps::v1::Deployment;

use super::*;
use crate::hostedcluster::validate::{Published, ValidatedHostedCluster, serving_names};
use crate::pki::IgnitionPki;

const HC: &str = r"
apiVersion: hypershift.openshift.io/v1beta1
kind: HostedCluster
metadata:
  name: example
  namespace: clusters
  annotations:
    hypershift.openshift.io/olm-catalogs-is-registry-overrides: registry.invalid/redhat=mirror.invalid/redhat
spec:
  release:
    image: quay.invalid/openshift-release-dev/ocp-release@sha256:1111111111111111111111111111111111111111111111111111111111111111
  pullSecret:
    name: pull-secret
  platform:
    type: Agent
    agent:
      agentNamespace: agents
  networking:
    networkType: OVNKubernetes
  imageContentSources:
  - source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev
    mirrors: [mirror.invalid:8443/openshift/release]
  services:
  - service: Ignition
    servicePublishingStrategy:
      type: Route
";

const IDMS: &str = r"
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: release
spec:
  imageDigestMirrors:
  - source: quay.invalid/openshift-release-dev/ocp-release
    mirrors: [mirror.invalid:8443/openshift/release-images]
  - source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev
    mirrors: [mirror.invalid:8443/openshift/release, backup.invalid/openshift/release]
---
apiVersion: config.openshift.io/v1
kind: ImageTagMirrorSet
metadata:
  name: tags
spec:
  imageTagMirrors:
  - source: registry.invalid/ubi9
    mirrors: [mirror.invalid:8443/ubi9]
";

fn mirrors(yaml: &str) -> ManagementMirrors {
    let mut b = MirrorSetBuilder::new();
    for d in parse_documents(yaml).unwrap() {
        b.add_document(&d).unwrap();
    }
    b.build()
}

fn release() -> Served<ReleaseImage> {
    let refs = r#"{"metadata":{"name":"4.99.0"},"spec":{"tags":[{"name":"hypershift","from":{"kind":"DockerImage","name":"quay.invalid/openshift-release-dev/ocp-v4.0-art-dev@sha256:2222222222222222222222222222222222222222222222222222222222222222"}}]}}"#;
    Served {
        value: ReleaseImage::from_files(refs.as_bytes(), b"data:\n  stream: '{}'\n").unwrap(),
        pulled_from: "mirror.invalid:8443/openshift/release-images@sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
        digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
        via_mirror: true,
    }
}

fn fixture(
    mirrors: &ManagementMirrors,
    overrides: RegistryOverrides,
    bundle: Option<&str>,
) -> ValidatedHostedCluster {
    fixture_of(HC, mirrors, overrides, bundle)
}

/// `HC` with its `Ignition` publishing strategy replaced by `strategy` (YAML under
/// `servicePublishingStrategy`).
fn published(strategy: &str) -> ValidatedHostedCluster {
    let hc = HC.replace("      type: Route\n", strategy);
    fixture_of(&hc, &ManagementMirrors::default(), RegistryOverrides::new(), None)
}

fn fixture_of(
    hc: &str,
    mirrors: &ManagementMirrors,
    overrides: RegistryOverrides,
    bundle: Option<&str>,
) -> ValidatedHostedCluster {
    let hc: HostedCluster = serde_saphyr::from_str(hc).unwrap();
    let pem = |what: &str| format!("-----BEGIN CERTIFICATE-----\nFAKE-{what}\n-----END CERTIFICATE-----\n");
    let d = crate::hostedcluster::dereference::Dereferenced {
        hosted_cluster: std::sync::Arc::new(hc),
        pull_secret: Ok(br#"{"auths":{"mirror.invalid:8443":{"auth":"dXNlcjpwYXNz"}}}"#.to_vec()),
        user_ca_bundle: None,
        mirrors: crate::management_mirrors::MirrorState {
            set: std::sync::Arc::new(mirrors.clone()),
            capabilities: crate::management_mirrors::Capabilities::default(),
            problems: Vec::new(),
            synced: true,
        },
        release: Some(Ok(release())),
        pki: IgnitionPki {
            ca_cert: pem("CA"),
            ca_key: "FAKE-CA-KEY".into(),
            serving_cert: pem("SERVING"),
            serving_key: "FAKE-SERVING-KEY".into(),
            serving_names: serving_names("clusters-example", Some("ignition.apps.invalid")).join(","),
            serving_not_after: "2028-11-26".into(),
        },
        published: Published {
            route_host: Some("ignition.apps.invalid".into()),
            ..Published::default()
        },
        control_plane_operator_available: None,
        ignition_server_available: None,
    };
    let defaults = crate::hostedcluster::validate::Defaults {
        registry_overrides: overrides,
        registry_ca_bundle: bundle.map(str::to_owned),
        control_plane_operator_image: None,
        ignition_server_image: Some("registry.invalid/hypershift-rs/ignition-server:dev".into()),
        route_api: true,
    };
    crate::hostedcluster::validate::validate(&d, &defaults).unwrap()
}

fn snapshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/hostedcluster/build/snapshots")
}

fn container(d: &Deployment) -> &k8s_openapi::api::core::v1::Container {
    &d.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
}

fn env(d: &Deployment, name: &str) -> Option<String> {
    container(d)
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

#[test]
fn idms_present() {
    let v = fixture(&mirrors(IDMS), RegistryOverrides::new(), None);
    let r = build(&v);
    assert_golden(
        &snapshots(),
        "idms_present.control_plane_operator",
        &r.control_plane_operator.deployment,
    );
    assert_golden(
        &snapshots(),
        "idms_present.ignition_server",
        &r.ignition_server.deployment,
    );
    assert_golden(
        &snapshots(),
        "idms_present.hosted_control_plane",
        &r.hosted_control_plane,
    );
    let expected_env = "quay.invalid/openshift-release-dev/ocp-release=mirror.invalid:8443/openshift/release-images,\
                        quay.invalid/openshift-release-dev/ocp-v4.0-art-dev=mirror.invalid:8443/openshift/release,\
                        quay.invalid/openshift-release-dev/ocp-v4.0-art-dev=backup.invalid/openshift/release,\
                        registry.invalid/ubi9=mirror.invalid:8443/ubi9";
    for d in [
        &r.control_plane_operator.deployment,
        &r.ignition_server.deployment,
    ] {
        assert_eq!(env(d, "OPENSHIFT_IMG_OVERRIDES").as_deref(), Some(expected_env));
    }
    let cpo_args = container(&r.control_plane_operator.deployment)
        .args
        .clone()
        .unwrap();
    assert!(
        cpo_args.contains(&"--registry-overrides==".to_owned()),
        "{cpo_args:?}"
    );
    let ign_args = container(&r.ignition_server.deployment).args.clone().unwrap();
    let at = ign_args.iter().position(|a| a == "--registry-overrides").unwrap();
    assert_eq!(ign_args[at + 1], "=");
    // The CPO comes from the payload's `hypershift` component; Agent runs as None on the HCP.
    assert_eq!(
        container(&r.control_plane_operator.deployment).image.as_deref(),
        Some(release().value.component_images()["hypershift"].as_str())
    );
    assert_eq!(
        r.hosted_control_plane.spec.platform.as_ref().unwrap().type_,
        "None"
    );
    assert_eq!(
        r.hosted_control_plane.spec.other["networking"]["networkType"],
        "OVNKubernetes"
    );
}

#[test]
fn no_mirrors() {
    let v = fixture(&ManagementMirrors::default(), RegistryOverrides::new(), None);
    let r = build(&v);
    assert_golden(
        &snapshots(),
        "no_mirrors.control_plane_operator",
        &r.control_plane_operator.deployment,
    );
    assert_eq!(
        env(&r.control_plane_operator.deployment, "OPENSHIFT_IMG_OVERRIDES").as_deref(),
        Some("=")
    );
    assert!(r.registry_ca_bundle.is_none());
}

#[test]
fn registry_overrides_and_ca_bundle() {
    let overrides = RegistryOverrides::parse_flag(
        "quay.invalid=mirror.invalid:8443/quay,registry.invalid=mirror.invalid:8443/rh",
    )
    .unwrap();
    let bundle = "-----BEGIN CERTIFICATE-----\nMIRROR-CA\n-----END CERTIFICATE-----\n";
    let v = fixture(&mirrors(IDMS), overrides, Some(bundle));
    let r = build(&v);
    assert_golden(
        &snapshots(),
        "registry_overrides_and_ca_bundle.control_plane_operator",
        &r.control_plane_operator.deployment,
    );
    assert_golden(
        &snapshots(),
        "registry_overrides_and_ca_bundle.ignition_server",
        &r.ignition_server.deployment,
    );
    let cpo_args = container(&r.control_plane_operator.deployment)
        .args
        .clone()
        .unwrap();
    assert!(cpo_args.contains(&"--registry-overrides=quay.invalid=mirror.invalid:8443/quay,registry.invalid=mirror.invalid:8443/rh".to_owned()));
    assert!(cpo_args.contains(&"--registry-ca-bundle=/etc/pki/registry-ca/ca-bundle.crt".to_owned()));
    assert_eq!(
        r.registry_ca_bundle.unwrap().data.unwrap()["ca-bundle.crt"],
        bundle
    );
}

#[test]
fn rendering_twice_is_byte_identical() {
    let render = || {
        let r = build(&fixture(
            &mirrors(IDMS),
            RegistryOverrides::parse_flag("a.invalid=b.invalid").unwrap(),
            Some("x"),
        ));
        [
            hypershift_api::yaml::to_string(&r.control_plane_operator.deployment).unwrap(),
            hypershift_api::yaml::to_string(&r.ignition_server.deployment).unwrap(),
            hypershift_api::yaml::to_string(&r.hosted_control_plane).unwrap(),
            hypershift_api::yaml::to_string(&r.namespace).unwrap(),
        ]
    };
    assert_eq!(render(), render());
}

#[test]
fn carriers_follow_the_mirror_set_and_nothing_else() {
    let a = fixture(&mirrors(IDMS), RegistryOverrides::new(), None);
    // The same rules from objects listed in another order give the same carriers.
    let mut docs: Vec<&str> = IDMS.split("---").collect();
    docs.reverse();
    let reordered = docs.join("---");
    let b = fixture(&mirrors(&reordered), RegistryOverrides::new(), None);
    assert_eq!(a.carriers, b.carriers);
    assert_eq!(
        a.carriers,
        MirrorCarriers::new(&mirrors(IDMS), RegistryOverrides::new())
    );
}

#[test]
fn ignition_published_by_node_port() {
    let v =
        published("      type: NodePort\n      nodePort:\n        address: 127.0.0.1\n        port: 30443\n");
    assert_eq!(v.ignition_endpoint.as_deref(), Some("127.0.0.1:30443"));
    let r = build(&v);
    assert_golden(&snapshots(), "ignition_nodeport.service", &r.ignition_service);
    assert!(r.ignition_route.is_none());
    let spec = r.ignition_service.spec.as_ref().unwrap();
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(spec.ports.as_ref().unwrap()[0].node_port, Some(30443));
}

#[test]
fn ignition_published_by_route() {
    let v = published("      type: Route\n      route:\n        hostname: ignition.example.invalid\n");
    assert_eq!(v.ignition_endpoint.as_deref(), Some("ignition.example.invalid"));
    let r = build(&v);
    assert_golden(
        &snapshots(),
        "ignition_route.route",
        r.ignition_route.as_ref().unwrap(),
    );
    assert_eq!(
        r.ignition_service.spec.as_ref().unwrap().type_.as_deref(),
        Some("ClusterIP")
    );
    // Without a host name, the Route's admitted host (read back) is the endpoint.
    assert_eq!(
        fixture(&ManagementMirrors::default(), RegistryOverrides::new(), None)
            .ignition_endpoint
            .as_deref(),
        Some("ignition.apps.invalid")
    );
}

#[test]
fn ignition_published_by_load_balancer() {
    let v =
        published("      type: LoadBalancer\n      loadBalancer:\n        hostname: lb.example.invalid\n");
    assert_eq!(v.ignition_endpoint.as_deref(), Some("lb.example.invalid:443"));
    assert_eq!(
        build(&v).ignition_service.spec.unwrap().type_.as_deref(),
        Some("LoadBalancer")
    );
}

#[test]
fn every_pod_pulls_with_the_pull_secret_and_runs_restricted() {
    let r = build(&fixture(&mirrors(IDMS), RegistryOverrides::new(), None));
    for d in [
        &r.control_plane_operator.deployment,
        &r.ignition_server.deployment,
    ] {
        let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(pod.image_pull_secrets.as_ref().unwrap()[0].name, "pull-secret");
        assert_eq!(pod.security_context.as_ref().unwrap().run_as_non_root, Some(true));
        for c in &pod.containers {
            let sc = c.security_context.as_ref().unwrap();
            assert_eq!(
                (sc.read_only_root_filesystem, sc.allow_privilege_escalation),
                (Some(true), Some(false))
            );
            let probe = c.readiness_probe.as_ref().unwrap().http_get.as_ref().unwrap();
            let admin = c
                .args
                .as_ref()
                .unwrap()
                .iter()
                .find_map(|a| a.strip_prefix("--admin-addr="))
                .unwrap();
            assert!(admin.starts_with("0.0.0.0:"), "{admin}");
            assert_eq!(
                probe.port,
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
                    admin.rsplit(':').next().unwrap().parse().unwrap()
                ),
                "the probes hit the admin port"
            );
        }
    }
}

#[test]
fn the_ignition_server_may_report_on_token_secrets_and_nothing_more() {
    let r = build(&fixture(&mirrors(IDMS), RegistryOverrides::new(), None));
    let rules = r.ignition_server.role.rules.unwrap();
    let secrets = rules
        .iter()
        .find(|r| r.resources.as_deref() == Some(&["secrets".to_owned()][..]))
        .unwrap();
    assert_eq!(secrets.verbs, ["get", "list", "watch", "patch"]);
    assert!(
        rules.iter().all(|r| !r
            .verbs
            .iter()
            .any(|v| v == "create" || v == "delete" || v == "update" || v == "*")),
        "{rules:?}"
    );
}
