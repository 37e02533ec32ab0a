//! NodePool decisions, pure: the configuration, its hash, and the token's life (kept, rotated
//! with the old one still valid, outdated, expired).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::node_pool::NodePool;
use hypershift_support::contract::{TokenSecret, hash_simple};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;

use super::*;
use crate::nodepool::dereference::Dereferenced;

pub(crate) const NOW: &str = "2026-12-01T12:00:00Z";

pub(crate) fn node_pool(config: &[&str]) -> NodePool {
    let config = config
        .iter()
        .map(|c| format!("  - name: {c}\n"))
        .collect::<Vec<_>>()
        .concat();
    let config = if config.is_empty() {
        String::new()
    } else {
        format!("  config:\n{config}")
    };
    serde_saphyr::from_str(&format!(
        "apiVersion: hypershift.openshift.io/v1beta1\nkind: NodePool\nmetadata:\n  name: workers\n  namespace: clusters\nspec:\n  clusterName: example\n  release:\n    image: quay.invalid/openshift-release-dev/ocp-release:4.99.0-x86_64\n{config}"
    ))
    .unwrap()
}

pub(crate) fn hosted_cluster(sources: bool) -> HostedCluster {
    let ics = if sources {
        "  imageContentSources:\n  - source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev\n    mirrors: [mirror.invalid/openshift/release]\n"
    } else {
        ""
    };
    serde_saphyr::from_str(&format!(
        "apiVersion: hypershift.openshift.io/v1beta1\nkind: HostedCluster\nmetadata:\n  name: example\n  namespace: clusters\nspec:\n  release:\n    image: quay.invalid/openshift-release-dev/ocp-release:4.99.0-x86_64\n  pullSecret:\n    name: pull-secret\n{ics}status:\n  ignitionEndpoint: 127.0.0.1:30443\n"
    ))
    .unwrap()
}

fn config_map(name: &str, config: Option<&str>) -> (String, Option<ConfigMap>) {
    let cm = ConfigMap {
        data: config.map(|c| BTreeMap::from([("config".to_owned(), c.to_owned())])),
        ..ConfigMap::default()
    };
    (name.to_owned(), Some(cm))
}

pub(crate) fn dereferenced(np: NodePool, hc: Option<HostedCluster>) -> Dereferenced {
    Dereferenced {
        node_pool: Arc::new(np),
        hosted_cluster: hc,
        control_plane_namespace: "clusters-example".into(),
        ignition_ca: Some(b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".to_vec()),
        pull_secret: Some(br#"{"auths":{}}"#.to_vec()),
        trust_bundle: None,
        config_maps: Vec::new(),
        tokens: Vec::new(),
        user_data: Vec::new(),
        now: NOW.parse().unwrap(),
        fresh_token: "11111111-2222-4333-8444-555555555555".into(),
    }
}

fn at(hours_before_now: i64) -> Timestamp {
    NOW.parse::<Timestamp>()
        .unwrap()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_hours(hours_before_now))
        .unwrap()
}

fn existing(v: &ValidatedNodePool, token: &str, generated: Timestamp) -> Secret {
    TokenSecret {
        token: token.into(),
        old_token: None,
        generated_at: generated,
        ..v.token.clone()
    }
    .to_secret("hypershift-operator")
}

#[test]
fn what_a_node_pool_waits_for_is_named() {
    let waiting = |d: &Dereferenced| validate(d).unwrap_err();
    assert_eq!(
        waiting(&dereferenced(node_pool(&[]), None)),
        Waiting::Inputs("HostedCluster clusters/example not found".into())
    );
    let mut no_endpoint = hosted_cluster(false);
    no_endpoint.status = None;
    assert_eq!(
        waiting(&dereferenced(node_pool(&[]), Some(no_endpoint))),
        Waiting::Inputs("ignition endpoint is not set".into())
    );
    let mut d = dereferenced(node_pool(&[]), Some(hosted_cluster(false)));
    d.ignition_ca = None;
    assert!(matches!(waiting(&d), Waiting::Inputs(m) if m.contains("ignition-server-ca-cert")));
    let mut d = dereferenced(
        node_pool(&["missing", "empty", "bad"]),
        Some(hosted_cluster(false)),
    );
    d.config_maps = vec![
        ("missing".into(), None),
        config_map("empty", None),
        config_map("bad", Some("kind: Deployment\n")),
    ];
    assert_eq!(
        waiting(&d),
        Waiting::Config(
            "configmap \"missing\" not found; configmap \"empty\" has no \"config\" key; configmap \"bad\" yaml document failed validation: unsupported config type: Deployment".into()
        )
    );
}

#[test]
fn the_config_is_the_data_plane_idms_and_the_config_documents_sorted() {
    let mut d = dereferenced(node_pool(&["extra"]), Some(hosted_cluster(true)));
    d.config_maps = vec![config_map(
        "extra",
        Some("kind: MachineConfig\nmetadata:\n  name: a\n---\n\n---\nkind: KubeletConfig\n"),
    )];
    let v = validate(&d).unwrap();
    let docs: Vec<&str> = v.token.config.split("\n---\n").collect();
    assert_eq!(docs.len(), 3, "{}", v.token.config);
    let idms = docs.iter().find(|d| d.contains("ImageDigestMirrorSet")).unwrap();
    assert!(
        idms.contains("machineconfiguration.openshift.io/role: worker")
            && idms.contains("source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev")
            && idms.contains("- mirror.invalid/openshift/release")
            && idms.contains("name: cluster"),
        "{idms}"
    );
    let mut sorted = docs.clone();
    sorted.sort_unstable();
    assert_eq!(docs, sorted);
    // The data-plane mirrors are part of the hash: a change rolls the NodePool.
    let without = validate(&dereferenced(node_pool(&[]), Some(hosted_cluster(false)))).unwrap();
    assert_ne!(without.config_hash, v.config_hash);
    assert!(without.token.config.is_empty());
    assert_eq!(v.token.name, format!("token-workers-{}", v.config_hash));
}

#[test]
fn a_new_node_pool_gets_a_fresh_token_and_every_hash() {
    let v = validate(&dereferenced(node_pool(&[]), Some(hosted_cluster(false)))).unwrap();
    assert_eq!(v.token.token, "11111111-2222-4333-8444-555555555555");
    assert_eq!(v.token.old_token, None);
    assert_eq!(v.token.generated_at, NOW.parse::<Timestamp>().unwrap());
    assert_eq!(v.token.pull_secret_hash, hash_simple(br#"{"auths":{}}"#));
    assert_eq!(
        v.token.additional_trust_bundle_hash, "811c9dc5",
        "HashSimple of \"\""
    );
    assert_eq!(v.token.hc_configuration_hash, "811c9dc5");
    assert_eq!(v.token.namespace, "clusters-example");
    assert_eq!(v.token.node_pool, "clusters/workers");
    assert_eq!(v.next_check, ROTATE_AFTER);
}

#[test]
fn a_token_is_kept_then_rotated_with_the_old_one_still_valid() {
    let first = validate(&dereferenced(node_pool(&[]), Some(hosted_cluster(false)))).unwrap();
    let mut d = dereferenced(node_pool(&[]), Some(hosted_cluster(false)));
    d.tokens = vec![existing(&first, "kept-token", at(5))];
    let kept = validate(&d).unwrap();
    assert_eq!(kept.token.token, "kept-token");
    assert_eq!(kept.token.generated_at, at(5));
    assert_eq!(
        kept.next_check,
        Duration::from_mins(30),
        "rotation due at 5.5 hours"
    );

    d.tokens = vec![existing(&first, "old-token", at(6))];
    let rotated = validate(&d).unwrap();
    assert_eq!(rotated.token.token, "11111111-2222-4333-8444-555555555555");
    assert_eq!(
        rotated.token.old_token.as_deref(),
        Some("old-token"),
        "still accepted"
    );
    assert_eq!(rotated.token.generated_at, NOW.parse::<Timestamp>().unwrap());
    assert_eq!(rotated.next_check, ROTATE_AFTER);
}

#[test]
fn outdated_tokens_expire_two_hours_later_and_stale_user_data_goes() {
    let current = validate(&dereferenced(node_pool(&[]), Some(hosted_cluster(false)))).unwrap();
    let outdated = |name: &str, expires: Option<Timestamp>| {
        TokenSecret {
            name: name.into(),
            expires_at: expires,
            ..current.token.clone()
        }
        .to_secret("hypershift-operator")
    };
    let mut unreadable = outdated("token-workers-bad", None);
    unreadable.data.as_mut().unwrap().remove("token");
    let mut d = dereferenced(node_pool(&[]), Some(hosted_cluster(false)));
    d.tokens = vec![
        outdated("token-workers-aaaaaaaa", None),
        outdated("token-workers-bbbbbbbb", Some(at(1))),
        outdated("token-workers-cccccccc", Some(at(-1))),
        unreadable,
    ];
    let mut stale = Secret::default();
    stale.metadata.name = Some("user-data-workers-aaaaaaaa".into());
    d.user_data = vec![stale];
    let v = validate(&d).unwrap();
    assert_eq!(v.stamped.len(), 1);
    assert_eq!(v.stamped[0].name, "token-workers-aaaaaaaa");
    assert_eq!(v.stamped[0].expires_at, Some(at(-2)));
    assert_eq!(v.expired, ["token-workers-bbbbbbbb", "token-workers-bad"]);
    assert_eq!(v.stale_user_data, ["user-data-workers-aaaaaaaa"]);
    assert_eq!(v.next_check, Duration::from_hours(1), "the next expiry");
}
