//! The typed contracts between our binaries, each owning both of its sides, so that no binary
//! builds or parses another's strings ad hoc.
//!
//! | contract | written by | read by | carried as |
//! |---|---|---|---|
//! | [`TokenSecret`] | hypershift-operator (NodePool controller) | ignition-server | Secret `token-<nodepool>-<hash>` in the control-plane namespace |
//! | [`PayloadStatus`] | ignition-server | hypershift-operator (`ValidGeneratedPayload`) | the token Secret's `reason` and `message` keys |
//! | [`ControlPlaneOperatorArgs`] | hypershift-operator | control-plane-operator | the CPO container's args and `OPENSHIFT_IMG_OVERRIDES` |
//! | [`IgnitionServerArgs`] | hypershift-operator | ignition-server | the ignition-server container's args and `OPENSHIFT_IMG_OVERRIDES` |
//!
//! The mirror carriers inside the command lines are `hypershift_mirrors::contract::MirrorCarriers`.
//!
//! Errors reading a token Secret name the Secret and the key, never a value: a token Secret is a
//! credential.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;

use base64::Engine as _;
use hypershift_mirrors::contract::{MirrorCarriers, REGISTRY_CA_BUNDLE_FLAG};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use crate::meta::managed_by;

/// The token Secret's annotations and label (upstream's names).
pub mod keys {
    /// Present on every token Secret: the ignition server watches only Secrets with this key.
    pub const IGNITION_CONFIG_ANNOTATION: &str = "hypershift.openshift.io/ignition-config";
    /// `<namespace>/<name>` of the NodePool.
    pub const NODE_POOL_ANNOTATION: &str = "hypershift.openshift.io/nodePool";
    /// When `token` was generated (RFC 3339).
    pub const TOKEN_GENERATION_ANNOTATION: &str = "hypershift.openshift.io/last-token-generation-time";
    /// When an outdated token Secret stops being served (RFC 3339); absent on the current one.
    pub const TOKEN_EXPIRATION_ANNOTATION: &str =
        "hypershift.openshift.io/ignition-token-expiration-timestamp";
    /// `Replace` or `InPlace`.
    pub const UPGRADE_TYPE_ANNOTATION: &str = "hypershift.openshift.io/node-pool-upgrade-type";
    /// Set by the ignition server once a node fetched its payload.
    pub const IGNITION_REACHED_ANNOTATION: &str = "hypershift.openshift.io/ignition-reached";
    /// The NodePool's name, for selecting its Secrets.
    pub const NODE_POOL_LABEL: &str = "hypershift.openshift.io/nodepool-name";
}

/// A key of a token Secret's `data`.
mod data {
    pub const TOKEN: &str = "token";
    pub const OLD_TOKEN: &str = "old_token";
    pub const RELEASE: &str = "release";
    pub const CONFIG: &str = "config";
    pub const CONFIG_HASH: &str = "config-hash";
    pub const PULL_SECRET_HASH: &str = "pull-secret-hash";
    pub const TRUST_BUNDLE_HASH: &str = "additional-trust-bundle-hash";
    pub const HC_CONFIGURATION_HASH: &str = "hc-configuration-hash";
    pub const REASON: &str = "reason";
    pub const MESSAGE: &str = "message";
}

/// HyperShift's `HashSimple`: FNV-1a 32-bit, 8 lower-case hex digits. (Five lines; the `fnv`
/// crate only has the 64-bit variant.)
pub fn hash_simple(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

/// HyperShift's `CompressAndEncode`: gzip (best compression), then standard base64; empty stays
/// empty.
pub fn compress_and_encode(data: &[u8]) -> String {
    if data.is_empty() {
        return String::new();
    }
    let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(data);
    base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap_or_default())
}

/// The inverse of [`compress_and_encode`]; `None` when the text is not gzip+base64.
pub fn decode_and_decompress(text: &[u8]) -> Option<Vec<u8>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// What the NodePool controller hands the ignition server for one NodePool configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret {
    /// `token-<nodepool>-<config hash>`.
    pub name: String,
    /// The control-plane namespace.
    pub namespace: String,
    /// `<namespace>/<name>` of the NodePool.
    pub node_pool: String,
    /// The bearer token nodes present (a UUID).
    pub token: String,
    /// The previous token after a rotation, still accepted until this Secret's tokens expire.
    pub old_token: Option<String>,
    /// When `token` was generated.
    pub generated_at: Timestamp,
    /// When this Secret stops being served (set once it is outdated).
    pub expires_at: Option<Timestamp>,
    /// The NodePool's release image, as written.
    pub release: String,
    /// The NodePool's configuration documents (`---`-joined), uncompressed.
    pub config: String,
    /// The config hash naming the Secret.
    pub config_hash: String,
    /// `HashSimple` of the pull secret's `.dockerconfigjson`.
    pub pull_secret_hash: String,
    /// `HashSimple` of the additional trust bundle (of `""` without one).
    pub additional_trust_bundle_hash: String,
    /// `HashSimple` of `spec.configuration` as JSON (of `""` without one).
    pub hc_configuration_hash: String,
    /// `Replace` or `InPlace`.
    pub upgrade_type: String,
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSecret")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("node_pool", &self.node_pool)
            .field("generated_at", &self.generated_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a Secret is not a usable token Secret. Never carries a value of the Secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenSecretError {
    #[error("token Secret {secret} has no {key:?} key")]
    MissingKey { secret: String, key: &'static str },
    #[error("token Secret {secret}: key {key:?} is not UTF-8 text")]
    NotText { secret: String, key: &'static str },
    #[error("token Secret {secret}: key {key:?} is not gzip and base64")]
    NotCompressed { secret: String, key: &'static str },
    #[error("token Secret {secret}: annotation {annotation} is missing")]
    MissingAnnotation {
        secret: String,
        annotation: &'static str,
    },
    #[error("token Secret {secret}: annotation {annotation} is not an RFC 3339 time")]
    BadTime {
        secret: String,
        annotation: &'static str,
    },
}

impl TokenSecret {
    /// The NodePool's name (after the `/` of [`TokenSecret::node_pool`]).
    pub fn node_pool_name(&self) -> &str {
        self.node_pool
            .split_once('/')
            .map_or(self.node_pool.as_str(), |(_, n)| n)
    }

    /// The Secret as the NodePool controller applies it (labelled as managed by `field_manager`).
    pub fn to_secret(&self, field_manager: &str) -> Secret {
        let text = |s: &str| ByteString(s.as_bytes().to_vec());
        let mut data = BTreeMap::from([
            (data::TOKEN.to_owned(), text(&self.token)),
            (data::RELEASE.to_owned(), text(&self.release)),
            (
                data::CONFIG.to_owned(),
                text(&compress_and_encode(self.config.as_bytes())),
            ),
            (data::CONFIG_HASH.to_owned(), text(&self.config_hash)),
            (data::PULL_SECRET_HASH.to_owned(), text(&self.pull_secret_hash)),
            (
                data::TRUST_BUNDLE_HASH.to_owned(),
                text(&self.additional_trust_bundle_hash),
            ),
            (
                data::HC_CONFIGURATION_HASH.to_owned(),
                text(&self.hc_configuration_hash),
            ),
        ]);
        if let Some(old) = &self.old_token {
            data.insert(data::OLD_TOKEN.to_owned(), text(old));
        }
        let mut labels = managed_by(field_manager);
        labels.insert(keys::NODE_POOL_LABEL.to_owned(), self.node_pool_name().to_owned());
        let mut annotations = BTreeMap::from([
            (keys::IGNITION_CONFIG_ANNOTATION.to_owned(), "true".to_owned()),
            (keys::NODE_POOL_ANNOTATION.to_owned(), self.node_pool.clone()),
            (
                keys::TOKEN_GENERATION_ANNOTATION.to_owned(),
                self.generated_at.to_string(),
            ),
            (
                keys::UPGRADE_TYPE_ANNOTATION.to_owned(),
                self.upgrade_type.clone(),
            ),
        ]);
        if let Some(expiry) = self.expires_at {
            annotations.insert(keys::TOKEN_EXPIRATION_ANNOTATION.to_owned(), expiry.to_string());
        }
        Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(data),
            ..Secret::default()
        }
    }

    /// Reads a token Secret back (the ignition server's side, and the NodePool controller's when
    /// it rotates or expires one).
    pub fn from_secret(secret: &Secret) -> Result<Self, TokenSecretError> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let namespace = secret.metadata.namespace.clone().unwrap_or_default();
        let id = format!("{namespace}/{name}");
        let data = secret.data.as_ref();
        let raw = |key: &'static str| data.and_then(|d| d.get(key)).map(|b| b.0.as_slice());
        let optional_text = |key: &'static str| -> Result<Option<String>, TokenSecretError> {
            raw(key)
                .map(|b| {
                    String::from_utf8(b.to_vec()).map_err(|_| TokenSecretError::NotText {
                        secret: id.clone(),
                        key,
                    })
                })
                .transpose()
        };
        let text = |key: &'static str| -> Result<String, TokenSecretError> {
            optional_text(key)?.ok_or_else(|| TokenSecretError::MissingKey {
                secret: id.clone(),
                key,
            })
        };
        let annotations = secret.metadata.annotations.as_ref();
        let annotation = |key: &'static str| annotations.and_then(|a| a.get(key));
        let time = |key: &'static str| -> Result<Option<Timestamp>, TokenSecretError> {
            annotation(key)
                .map(|t| {
                    t.parse::<Timestamp>().map_err(|_| TokenSecretError::BadTime {
                        secret: id.clone(),
                        annotation: key,
                    })
                })
                .transpose()
        };
        let config_bytes = raw(data::CONFIG).ok_or_else(|| TokenSecretError::MissingKey {
            secret: id.clone(),
            key: data::CONFIG,
        })?;
        let config = decode_and_decompress(config_bytes)
            .ok_or_else(|| TokenSecretError::NotCompressed {
                secret: id.clone(),
                key: data::CONFIG,
            })
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| TokenSecretError::NotText {
                    secret: id.clone(),
                    key: data::CONFIG,
                })
            })?;
        let token = text(data::TOKEN)?;
        if token.is_empty() {
            return Err(TokenSecretError::MissingKey {
                secret: id,
                key: data::TOKEN,
            });
        }
        Ok(Self {
            node_pool: annotation(keys::NODE_POOL_ANNOTATION).cloned().ok_or_else(|| {
                TokenSecretError::MissingAnnotation {
                    secret: id.clone(),
                    annotation: keys::NODE_POOL_ANNOTATION,
                }
            })?,
            token,
            old_token: optional_text(data::OLD_TOKEN)?.filter(|t| !t.is_empty()),
            generated_at: time(keys::TOKEN_GENERATION_ANNOTATION)?.ok_or_else(|| {
                TokenSecretError::MissingAnnotation {
                    secret: id.clone(),
                    annotation: keys::TOKEN_GENERATION_ANNOTATION,
                }
            })?,
            expires_at: time(keys::TOKEN_EXPIRATION_ANNOTATION)?,
            release: text(data::RELEASE)?,
            config,
            config_hash: optional_text(data::CONFIG_HASH)?.unwrap_or_default(),
            pull_secret_hash: optional_text(data::PULL_SECRET_HASH)?.unwrap_or_default(),
            additional_trust_bundle_hash: optional_text(data::TRUST_BUNDLE_HASH)?.unwrap_or_default(),
            hc_configuration_hash: optional_text(data::HC_CONFIGURATION_HASH)?.unwrap_or_default(),
            upgrade_type: annotation(keys::UPGRADE_TYPE_ANNOTATION)
                .cloned()
                .unwrap_or_else(|| "Replace".to_owned()),
            name,
            namespace,
        })
    }
}

/// What the ignition server reports about generating a token Secret's payload (upstream: the
/// token Secret's `reason` and `message` keys), and the NodePool controller turns into
/// `ValidGeneratedPayload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadStatus {
    /// `AsExpected` once a payload was generated; otherwise why not (`InvalidConfig`, …).
    pub reason: String,
    pub message: String,
}

impl PayloadStatus {
    /// The reason of a generated payload.
    pub const GENERATED: &'static str = "AsExpected";

    /// A payload was generated.
    pub fn generated() -> Self {
        Self {
            reason: Self::GENERATED.to_owned(),
            message: "Payload generated successfully".to_owned(),
        }
    }

    /// Whether it reports a generated payload.
    pub fn is_generated(&self) -> bool {
        self.reason == Self::GENERATED
    }

    /// The status a token Secret carries, if the ignition server wrote one.
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        let data = secret.data.as_ref()?;
        let text = |k: &str| data.get(k).map(|b| String::from_utf8_lossy(&b.0).into_owned());
        Some(Self {
            reason: text(data::REASON)?,
            message: text(data::MESSAGE).unwrap_or_default(),
        })
    }

    /// The JSON merge patch the ignition server sends to the token Secret (only these two keys:
    /// the NodePool controller's server-side apply never owns them, so it never removes them).
    pub fn to_merge_patch(&self) -> serde_json::Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        serde_json::json!({"data": {
            data::REASON: b64(&self.reason),
            data::MESSAGE: b64(&self.message),
        }})
    }
}

/// The container args of the control-plane-operator, as the hypershift-operator renders them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneOperatorArgs {
    /// The control-plane namespace.
    pub namespace: String,
    /// The HostedControlPlane's name.
    pub hosted_control_plane: String,
    pub admin_addr: SocketAddr,
    /// `--registry-overrides` (one argument, `--registry-overrides=<value>`, as upstream) and
    /// `OPENSHIFT_IMG_OVERRIDES`.
    pub carriers: MirrorCarriers,
    /// Where the registry CA bundle is mounted, if there is one.
    pub registry_ca_bundle: Option<String>,
}

impl ControlPlaneOperatorArgs {
    /// `run --namespace=… --hosted-control-plane=… --admin-addr=… --registry-overrides=… [--registry-ca-bundle=…]`.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "run".to_owned(),
            format!("--namespace={}", self.namespace),
            format!("--hosted-control-plane={}", self.hosted_control_plane),
            format!("--admin-addr={}", self.admin_addr),
            self.carriers.joined_flag(),
        ];
        if let Some(bundle) = &self.registry_ca_bundle {
            args.push(format!("{REGISTRY_CA_BUNDLE_FLAG}={bundle}"));
        }
        args
    }

    /// The `OPENSHIFT_IMG_OVERRIDES` value.
    pub fn image_overrides_env(&self) -> String {
        self.carriers.env_value()
    }
}

/// One rule of a Role: API groups, resources, verbs.
pub type RoleRule = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

/// What the ignition-server may do in its namespace: the Role the hypershift-operator renders for
/// it. It reads token Secrets, the pull secret and the trust-bundle ConfigMaps, and reports each
/// payload's generation on its token Secret (a merge patch). Its tests check every request it
/// makes against these rules (`tests/server.rs`, through devcluster's request record).
pub const IGNITION_SERVER_RULES: &[RoleRule] = &[
    (&[""], &["secrets"], &["get", "list", "watch", "patch"]),
    (&[""], &["configmaps"], &["get", "list", "watch"]),
];

/// What the control-plane-operator may do in its namespace (upstream's CPO Role: everything
/// there, nothing cluster-wide).
pub const CONTROL_PLANE_OPERATOR_RULES: &[RoleRule] = &[(&["*"], &["*"], &["*"])];

/// Whether `rules` grant `verb` on `resource` of `group` (`*` matches anything).
pub fn role_allows(rules: &[RoleRule], group: &str, resource: &str, verb: &str) -> bool {
    let has = |list: &[&str], v: &str| list.iter().any(|x| *x == "*" || *x == v);
    rules
        .iter()
        .any(|(g, r, v)| has(g, group) && has(r, resource) && has(v, verb))
}

/// The container args of the ignition-server, as the hypershift-operator renders them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnitionServerArgs {
    /// The control-plane namespace (where its token Secrets live).
    pub namespace: String,
    /// The HTTPS listener.
    pub addr: SocketAddr,
    pub cert_file: String,
    pub key_file: String,
    pub admin_addr: SocketAddr,
    /// `--registry-overrides` (two arguments, `--registry-overrides` `<value>`, as upstream) and
    /// `OPENSHIFT_IMG_OVERRIDES`.
    pub carriers: MirrorCarriers,
    pub registry_ca_bundle: Option<String>,
}

impl IgnitionServerArgs {
    /// `start --namespace=… --addr=… --cert-file=… --key-file=… --admin-addr=… --registry-overrides <value> [--registry-ca-bundle=…]`.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "start".to_owned(),
            format!("--namespace={}", self.namespace),
            format!("--addr={}", self.addr),
            format!("--cert-file={}", self.cert_file),
            format!("--key-file={}", self.key_file),
            format!("--admin-addr={}", self.admin_addr),
        ];
        args.extend(self.carriers.split_flag());
        if let Some(bundle) = &self.registry_ca_bundle {
            args.push(format!("{REGISTRY_CA_BUNDLE_FLAG}={bundle}"));
        }
        args
    }

    /// The `OPENSHIFT_IMG_OVERRIDES` value.
    pub fn image_overrides_env(&self) -> String {
        self.carriers.env_value()
    }
}

#[cfg(test)]
mod tests;
