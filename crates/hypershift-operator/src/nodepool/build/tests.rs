//! Golden files of a NodePool's Secrets (`snapshots/`), and the pointer config's contents.

use std::path::PathBuf;

use hypershift_support::contract::TokenSecret;
use hypershift_support::golden::assert_golden;

use super::*;
use crate::nodepool::validate::tests::{dereferenced, hosted_cluster, node_pool};
use crate::nodepool::validate::validate;

fn snapshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/nodepool/build/snapshots")
}

#[test]
fn idms_present() {
    let v = validate(&dereferenced(node_pool(&[]), Some(hosted_cluster(true)))).unwrap();
    let secrets = build(&v);
    assert_golden(&snapshots(), "idms_present.token", &secrets.token);
    assert_golden(&snapshots(), "idms_present.user_data", &secrets.user_data);
    // What the base64 above says, readable: the config the ignition server renders, and the
    // pointer config a node boots with.
    let pointer: serde_json::Value =
        serde_json::from_slice(&secrets.user_data.data.as_ref().unwrap()["value"].0).unwrap();
    assert_golden(
        &snapshots(),
        "idms_present.decoded",
        &serde_json::json!({"config": v.token.config, "pointer": pointer}),
    );
    assert_eq!(TokenSecret::from_secret(&secrets.token).unwrap(), v.token);
    assert_eq!(
        secrets.user_data.metadata.namespace.as_deref(),
        Some("clusters-example"),
        "user data lives in the control-plane namespace, as upstream"
    );
    // Rendering twice is byte-identical.
    assert_eq!(
        hypershift_api::yaml::to_string(&build(&v).token).unwrap(),
        hypershift_api::yaml::to_string(&secrets.token).unwrap()
    );
}

#[test]
fn pointer_config_carries_endpoint_token_headers_and_ca() {
    let text = pointer_config("127.0.0.1:30443", "tok", "clusters/np", "abcd1234", b"CA");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let merge = &v["ignition"]["config"]["merge"][0];
    assert_eq!(merge["source"], "https://127.0.0.1:30443/ignition");
    assert_eq!(merge["httpHeaders"][0]["value"], "Bearer dG9r");
    assert_eq!(merge["httpHeaders"][1]["value"], "clusters/np");
    assert_eq!(merge["httpHeaders"][2]["value"], "abcd1234");
    assert_eq!(
        v["ignition"]["security"]["tls"]["certificateAuthorities"][0]["source"],
        "data:text/plain;base64,Q0E="
    );
    assert_eq!(v["ignition"]["version"], "3.2.0");
}
