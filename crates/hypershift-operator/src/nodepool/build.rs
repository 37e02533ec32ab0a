//! Step 3: a NodePool's Secrets, built from a [`ValidatedNodePool`]. Pure: the same input renders
//! byte-identical Secrets (golden files in `snapshots/`).
//!
//! - The token Secret `token-<nodepool>-<hash>` in the control-plane namespace: the typed
//!   [`TokenSecret`](hypershift_support::contract::TokenSecret) contract the ignition server reads.
//! - The user-data Secret `user-data-<nodepool>-<hash>` in the control-plane namespace (where
//!   upstream keeps it for Cluster API): the pointer Ignition config a node boots with.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use base64::Engine as _;
use hypershift_api::names;
use hypershift_support::contract::keys;
use hypershift_support::meta::managed_by;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use super::validate::ValidatedNodePool;

/// Built, not yet applied.
#[derive(Debug)]
pub struct Prepared;
/// Applied to the API server.
#[derive(Debug)]
pub struct Applied;

/// Everything the NodePool controller writes for one NodePool.
#[derive(Debug, Clone)]
pub struct NodePoolSecrets<S> {
    pub token: Secret,
    /// Outdated token Secrets, now carrying their expiry.
    pub stamped: Vec<Secret>,
    pub user_data: Secret,
    pub state: PhantomData<S>,
}

/// Builds the Secrets.
pub fn build(np: &ValidatedNodePool) -> NodePoolSecrets<Prepared> {
    NodePoolSecrets {
        token: np.token.to_secret(names::HO_FIELD_MANAGER),
        stamped: np
            .stamped
            .iter()
            .map(|t| t.to_secret(names::HO_FIELD_MANAGER))
            .collect(),
        user_data: user_data(np),
        state: PhantomData,
    }
}

/// The user-data Secret (upstream's keys).
fn user_data(np: &ValidatedNodePool) -> Secret {
    let mut labels = managed_by(names::HO_FIELD_MANAGER);
    labels.insert(keys::NODE_POOL_LABEL.to_owned(), np.name.clone());
    let value = pointer_config(
        &np.endpoint,
        &np.token.token,
        &np.owner,
        &np.config_hash,
        &np.ignition_ca,
    );
    Secret {
        metadata: ObjectMeta {
            name: Some(names::user_data_secret(&np.name, &np.config_hash)),
            namespace: Some(np.control_plane_namespace.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                keys::NODE_POOL_ANNOTATION.to_owned(),
                np.owner.clone(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([
            // Upstream stores base64("true") here: the bytes of `dHJ1ZQ==`.
            ("disableTemplating".to_owned(), ByteString(b"dHJ1ZQ==".to_vec())),
            ("value".to_owned(), ByteString(value.into_bytes())),
        ])),
        ..Secret::default()
    }
}

/// The pointer Ignition config (spec 3.2.0) a node boots with: fetch the payload from the
/// ignition server with the bearer token and the NodePool headers, trusting its CA.
pub fn pointer_config(endpoint: &str, token: &str, node_pool: &str, hash: &str, ca_pem: &[u8]) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    json!({
        "ignition": {
            "version": "3.2.0",
            "config": {"merge": [{
                "source": format!("https://{endpoint}/ignition"),
                "httpHeaders": [
                    {"name": "Authorization", "value": format!("Bearer {}", b64(token.as_bytes()))},
                    {"name": "NodePool", "value": node_pool},
                    {"name": "TargetConfigVersionHash", "value": hash},
                ],
            }]},
            "security": {"tls": {"certificateAuthorities": [{"source": format!("data:text/plain;base64,{}", b64(ca_pem))}]}},
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests;
