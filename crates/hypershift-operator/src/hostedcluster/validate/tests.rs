//! Validation, case by case: every problem names its condition and the offending value, and
//! what checks out comes through in the `ValidatedHostedCluster`.

use std::sync::Arc;

use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_mirrors::{ManagementMirrors, MatchMode};
use hypershift_releaseinfo::{ImageRef, LookupError, ReleaseImage, Served};

use super::*;
use crate::hostedcluster::dereference::Dereferenced;
use crate::management_mirrors::{Capabilities, MirrorState};
use crate::pki::IgnitionPki;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn hc(extra_spec: &str, annotations: &str) -> HostedCluster {
    serde_saphyr::from_str(&format!(
        "apiVersion: hypershift.openshift.io/v1beta1\nkind: HostedCluster\nmetadata:\n  name: example\n  namespace: clusters\n{annotations}spec:\n  release:\n    image: quay.invalid/openshift-release-dev/ocp-release@{DIGEST}\n  pullSecret:\n    name: pull-secret\n{extra_spec}"
    ))
    .unwrap()
}

fn release(with_hypershift: bool) -> Served<ReleaseImage> {
    let tag = if with_hypershift {
        r#"{"name":"hypershift","from":{"kind":"DockerImage","name":"quay.invalid/openshift-release-dev/ocp-v4.0-art-dev@sha256:2222222222222222222222222222222222222222222222222222222222222222"}}"#
    } else {
        r#"{"name":"etcd","from":{"kind":"DockerImage","name":"quay.invalid/openshift-release-dev/ocp-v4.0-art-dev@sha256:3333333333333333333333333333333333333333333333333333333333333333"}}"#
    };
    let refs = format!(r#"{{"metadata":{{"name":"4.99.0"}},"spec":{{"tags":[{tag}]}}}}"#);
    Served {
        value: ReleaseImage::from_files(refs.as_bytes(), b"data:\n  stream: '{}'\n").unwrap(),
        pulled_from: format!("mirror.invalid/openshift/release-images@{DIGEST}"),
        digest: DIGEST.into(),
        via_mirror: true,
    }
}

fn dereferenced(hc: HostedCluster) -> Dereferenced {
    Dereferenced {
        hosted_cluster: Arc::new(hc),
        pull_secret: Ok(br#"{"auths":{"mirror.invalid":{"auth":"dXNlcjpwYXNz"}}}"#.to_vec()),
        user_ca_bundle: None,
        mirrors: MirrorState {
            set: Arc::new(ManagementMirrors::default()),
            capabilities: Capabilities::default(),
            problems: Vec::new(),
            synced: true,
        },
        release: Some(Ok(release(true))),
        pki: IgnitionPki::default(),
        published: Published::default(),
        control_plane_operator_available: None,
        ignition_server_available: None,
    }
}

fn problems(d: &Dereferenced, defaults: &Defaults) -> Vec<Invalid> {
    validate(d, defaults).unwrap_err()
}

#[test]
fn a_valid_hosted_cluster_comes_through_whole() {
    let v = validate(&dereferenced(hc("", "")), &Defaults::default()).unwrap();
    assert_eq!(v.control_plane_namespace, "clusters-example");
    assert_eq!(v.owner, "clusters/example");
    assert_eq!(v.ignition_publishing, IgnitionPublishing::ClusterIp);
    assert_eq!(
        v.ignition_endpoint.as_deref(),
        Some("ignition-server.clusters-example.svc:443")
    );
    assert!(v.data_plane_mirrors.is_empty());
}

#[test]
fn the_cpo_image_is_the_annotation_then_the_payload_then_the_operator_flag() {
    let flag = Defaults {
        control_plane_operator_image: Some("registry.invalid/hypershift-rs/operator:flag".into()),
        ..Defaults::default()
    };
    let payload = release(true).value.component_images()["hypershift"].clone();
    let v = validate(&dereferenced(hc("", "")), &flag).unwrap();
    assert_eq!(
        v.control_plane_operator_image, payload,
        "the payload wins over the flag"
    );
    assert_eq!(
        v.ignition_server_image, payload,
        "the ignition server runs the CPO image"
    );

    let annotated = hc(
        "",
        "  annotations:\n    hypershift.openshift.io/control-plane-operator-image: registry.invalid/cpo:annotated\n",
    );
    let v = validate(&dereferenced(annotated), &flag).unwrap();
    assert_eq!(v.control_plane_operator_image, "registry.invalid/cpo:annotated");

    let mut without = dereferenced(hc("", ""));
    without.release = Some(Ok(release(false)));
    let v = validate(&without, &flag).unwrap();
    assert_eq!(
        v.control_plane_operator_image,
        "registry.invalid/hypershift-rs/operator:flag"
    );
    let err = problems(&without, &Defaults::default());
    assert!(
        err[0].message.contains("has no `hypershift` component"),
        "{err:?}"
    );
}

#[test]
fn invalid_data_plane_mirrors_name_the_entry() {
    let d = dereferenced(hc(
        "  imageContentSources:\n  - source: quay.invalid/ok\n    mirrors: [mirror.invalid/ok]\n  - source: 'Bad Source'\n    mirrors: [mirror.invalid/x]\n",
        "",
    ));
    let p = problems(&d, &Defaults::default());
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].condition, conditions::VALID_CONFIGURATION);
    assert!(
        p[0].message
            .starts_with("HostedCluster \"clusters/example\": spec.imageContentSources[1].source"),
        "{}",
        p[0].message
    );
    assert!(!p[0].transient);
}

#[test]
fn data_plane_mirrors_serve_digest_pulls_as_on_upstream_nodes() {
    let v = validate(
        &dereferenced(hc(
            "  imageContentSources:\n  - source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev\n    mirrors: [mirror.invalid/openshift/release, backup.invalid/openshift/release]\n",
            "",
        )),
        &Defaults::default(),
    )
    .unwrap();
    let by_digest = ImageRef::parse(&format!(
        "quay.invalid/openshift-release-dev/ocp-v4.0-art-dev@{DIGEST}"
    ))
    .unwrap();
    assert_eq!(
        v.data_plane_mirrors
            .resolve_with(&by_digest, MatchMode::Node)
            .candidates,
        [
            format!("mirror.invalid/openshift/release@{DIGEST}"),
            format!("backup.invalid/openshift/release@{DIGEST}"),
            format!("quay.invalid/openshift-release-dev/ocp-v4.0-art-dev@{DIGEST}"),
        ]
    );
    let by_tag = ImageRef::parse("quay.invalid/openshift-release-dev/ocp-v4.0-art-dev:4.99").unwrap();
    assert_eq!(
        v.data_plane_mirrors
            .resolve_with(&by_tag, MatchMode::Node)
            .candidates,
        ["quay.invalid/openshift-release-dev/ocp-v4.0-art-dev:4.99"]
    );
}

#[test]
fn a_publishing_strategy_that_cannot_serve_ignition_is_invalid() {
    let with = |strategy: &str| {
        hc(
            &format!("  services:\n  - service: Ignition\n    servicePublishingStrategy:\n{strategy}"),
            "",
        )
    };
    let p = problems(&dereferenced(with("      type: S3\n")), &Defaults::default());
    assert!(
        p[0].message
            .contains("type \"S3\" cannot publish the ignition server"),
        "{p:?}"
    );
    let p = problems(
        &dereferenced(with("      type: NodePort\n")),
        &Defaults::default(),
    );
    assert!(p[0].message.contains("needs nodePort.address"), "{p:?}");
    let p = problems(&dereferenced(with("      type: Route\n")), &Defaults::default());
    assert!(
        p[0].message.contains("does not serve route.openshift.io/v1"),
        "{p:?}"
    );
    let routes = Defaults {
        route_api: true,
        ..Defaults::default()
    };
    assert!(validate(&dereferenced(with("      type: Route\n")), &routes).is_ok());
}

#[test]
fn the_endpoint_and_certificate_follow_the_published_address() {
    let node_port = |port: &str| {
        hc(
            &format!(
                "  services:\n  - service: Ignition\n    servicePublishingStrategy:\n      type: NodePort\n      nodePort:\n        address: '::1'\n{port}"
            ),
            "",
        )
    };
    let v = validate(
        &dereferenced(node_port("        port: 30443\n")),
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(v.ignition_endpoint.as_deref(), Some("[::1]:30443"));
    // Without a port, the one the API server allocated, once it did.
    let mut d = dereferenced(node_port(""));
    assert_eq!(
        validate(&d, &Defaults::default()).unwrap().ignition_endpoint,
        None
    );
    d.published.node_port = Some(31000);
    let v = validate(&d, &Defaults::default()).unwrap();
    assert_eq!(v.ignition_endpoint.as_deref(), Some("[::1]:31000"));
    assert_eq!(
        serving_names(
            &v.control_plane_namespace,
            v.ignition_publishing.published_host(&d.published).as_deref()
        ),
        [
            "ignition-server",
            "ignition-server.clusters-example.svc",
            "ignition-server.clusters-example.svc.cluster.local",
            "::1"
        ]
    );
    let lb = hc(
        "  services:\n  - service: Ignition\n    servicePublishingStrategy:\n      type: LoadBalancer\n",
        "",
    );
    let mut d = dereferenced(lb);
    d.published.load_balancer_address = Some("127.0.0.2".into());
    assert_eq!(
        validate(&d, &Defaults::default())
            .unwrap()
            .ignition_endpoint
            .as_deref(),
        Some("127.0.0.2:443")
    );
}

#[test]
fn input_problems_are_all_reported_at_once() {
    let mut d = dereferenced(hc(
        "",
        "  annotations:\n    hypershift.openshift.io/control-plane-operator-image: \"Not A Reference\"\n    hypershift.openshift.io/redhat-operators-catalog-image: registry.invalid/redhat/index:v4.99\n",
    ));
    d.pull_secret = Ok(b"{\"auths\": 3}".to_vec());
    d.user_ca_bundle = Some(Ok("not a bundle".into()));
    let p = problems(&d, &Defaults::default());
    let messages: Vec<&str> = p.iter().map(|p| p.message.as_str()).collect();
    // The catalog annotation is the control-plane-operator's to report, not a reason to stop.
    assert_eq!(p.len(), 3, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("pull secret \"pull-secret\""))
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("control-plane-operator-image"))
    );
    assert!(!messages.iter().any(|m| m.contains("catalog")));
    assert!(
        messages
            .iter()
            .any(|m| m.contains("spec.additionalTrustBundle") && m.contains("no PEM certificate"))
    );
    assert!(p.iter().all(|p| !p.transient));
}

#[test]
fn a_failed_lookup_is_transient_and_a_missing_secret_is_not() {
    let mut d = dereferenced(hc("", ""));
    d.release = Some(Err(LookupError::Unreachable {
        image: "mirror.invalid/x".into(),
        detail: "connection refused".into(),
    }));
    let p = problems(&d, &Defaults::default());
    assert_eq!(
        (p[0].condition, p[0].reason, p[0].transient),
        (conditions::VALID_RELEASE_IMAGE, reasons::LOOKUP_FAILED, true)
    );
    let mut d = dereferenced(hc("", ""));
    d.pull_secret = Err("pull secret unavailable: secret \"nope\" not found".into());
    d.release = None;
    let p = problems(&d, &Defaults::default());
    assert_eq!((p[0].reason, p[0].transient), (reasons::SECRET_NOT_FOUND, false));
}

#[test]
fn a_malformed_pull_secret_is_reported_without_its_content() {
    let mut d = dereferenced(hc("", ""));
    // The review's example: an `auths` entry that is a string instead of an object.
    d.pull_secret = Ok(br#"{"auths":{"q.io":"dXNlcjpzZWNyZXRwYXNz"}}"#.to_vec());
    let p = problems(&d, &Defaults::default());
    let message = &p[0].message;
    assert!(message.starts_with("pull secret \"pull-secret\""), "{message}");
    let value = "dXNlcjpzZWNyZXRwYXNz";
    for window in (0..=value.len() - 4)
        .map(|i| &value[i..i + 4])
        .chain(["secretpass"])
    {
        assert!(!message.contains(window), "{message} quotes {window}");
    }
}
