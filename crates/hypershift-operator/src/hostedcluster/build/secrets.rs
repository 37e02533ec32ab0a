//! The pull-secret copy, the ignition server's CA and serving certificate, and CA bundles.

use std::collections::BTreeMap;

use hypershift_api::names;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::meta;
use crate::hostedcluster::validate::ValidatedHostedCluster;

/// `pull-secret`: the HostedCluster's pull secret, copied into the control-plane namespace.
pub fn pull_secret(hc: &ValidatedHostedCluster) -> Secret {
    Secret {
        metadata: meta(hc, names::PULL_SECRET),
        type_: Some("kubernetes.io/dockerconfigjson".to_owned()),
        data: Some(BTreeMap::from([(
            names::DOCKER_CONFIG_JSON_KEY.to_owned(),
            ByteString(hc.pull_secret.clone()),
        )])),
        ..Secret::default()
    }
}

fn tls_secret(hc: &ValidatedHostedCluster, name: &str, cert: &str, key: &str) -> Secret {
    Secret {
        metadata: meta(hc, name),
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(BTreeMap::from([
            ("tls.crt".to_owned(), ByteString(cert.as_bytes().to_vec())),
            ("tls.key".to_owned(), ByteString(key.as_bytes().to_vec())),
        ])),
        ..Secret::default()
    }
}

/// `ignition-server-ca-cert`: the CA nodes trust for the ignition server.
pub fn ignition_ca(hc: &ValidatedHostedCluster) -> Secret {
    tls_secret(hc, names::IGNITION_SERVER_CA, &hc.pki.ca_cert, &hc.pki.ca_key)
}

/// `ignition-server-serving-cert`: the ignition server's certificate, signed by that CA.
pub fn ignition_serving_cert(hc: &ValidatedHostedCluster) -> Secret {
    let mut s = tls_secret(
        hc,
        names::IGNITION_SERVER_SERVING_CERT,
        &hc.pki.serving_cert,
        &hc.pki.serving_key,
    );
    s.metadata
        .annotations
        .get_or_insert_default()
        .extend(hc.pki.annotations());
    s
}

/// A ConfigMap holding a CA bundle under `ca-bundle.crt`.
pub fn ca_bundle(hc: &ValidatedHostedCluster, name: &str, bundle: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(hc, name),
        data: Some(BTreeMap::from([(
            names::REGISTRY_CA_BUNDLE_KEY.to_owned(),
            bundle.to_owned(),
        )])),
        ..ConfigMap::default()
    }
}
