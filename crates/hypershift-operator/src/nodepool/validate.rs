//! Step 2: decides everything about a NodePool's Secrets from what was read. Pure: the clock and
//! the fresh token came in with [`Dereferenced`].
//!
//! - The configuration: the data-plane mirrors (the HostedCluster's `spec.imageContentSources`,
//!   as the one `MirrorSet<DataPlane>` the HostedCluster reconciler also uses) rendered as the
//!   guest ImageDigestMirrorSet, plus the documents of the NodePool's config ConfigMaps; sorted
//!   and joined by `---` (upstream's `mcoRawConfig`).
//! - The config hash (HyperShift's `HashSimple`) naming the Secrets.
//! - The token: kept, rotated when 5.5 hours old (the old one stays valid as `old_token`), or new.
//! - Outdated token Secrets: stamped to expire two hours later, deleted once expired.
//! - Outdated user data: deleted at once (nothing boots from it later).

use std::time::Duration;

use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::names;
use hypershift_mirrors::render_mirror_sets;
use hypershift_support::contract::{TokenSecret, hash_simple};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt as _;

use super::dereference::Dereferenced;
use crate::hostedcluster::validate::data_plane_mirrors;

/// Kinds a NodePool config document may have (upstream's list, plus ImageTagMirrorSet).
const SUPPORTED_KINDS: &[&str] = &[
    "MachineConfig",
    "KubeletConfig",
    "ContainerRuntimeConfig",
    "ImageContentSourcePolicy",
    "ImageDigestMirrorSet",
    "ImageTagMirrorSet",
    "ClusterImagePolicy",
];

/// A token is rotated after this long (half of its 11 hours of validity, as upstream).
pub const ROTATE_AFTER: Duration = Duration::from_mins(330);
/// An outdated token Secret is still served this long.
pub const OUTDATED_GRACE: Duration = Duration::from_hours(2);

/// Why the NodePool's Secrets cannot be written yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// Something the NodePool needs is not there yet (its HostedCluster, the ignition endpoint,
    /// the CA, the pull secret copy): a watch brings the NodePool back when it appears.
    Inputs(String),
    /// A config ConfigMap is missing, lacks `config`, or holds an unsupported document.
    Config(String),
}

/// A NodePool whose inputs all check out: what the builders need.
#[derive(Debug, Clone)]
pub struct ValidatedNodePool {
    pub name: String,
    pub control_plane_namespace: String,
    /// `<namespace>/<name>`.
    pub owner: String,
    /// `host[:port]` of the ignition server.
    pub endpoint: String,
    /// The ignition server's CA (PEM).
    pub ignition_ca: Vec<u8>,
    pub config_hash: String,
    /// The current token Secret (rotated when due).
    pub token: TokenSecret,
    /// Outdated token Secrets newly stamped with their expiry.
    pub stamped: Vec<TokenSecret>,
    /// Token Secrets to delete: expired, or unreadable.
    pub expired: Vec<String>,
    /// User-data Secrets of earlier configurations, to delete.
    pub stale_user_data: Vec<String>,
    /// When to look again without an event (rotation, an expiry).
    pub next_check: Duration,
}

/// Validates; `Err` says what the NodePool waits for.
pub fn validate(d: &Dereferenced) -> Result<ValidatedNodePool, Waiting> {
    let np = &d.node_pool;
    let (name, namespace) = (np.name_any(), np.namespace().unwrap_or_default());
    let cp = &d.control_plane_namespace;
    let Some(hc) = &d.hosted_cluster else {
        return Err(Waiting::Inputs(format!(
            "HostedCluster {namespace}/{} not found",
            np.spec.cluster_name
        )));
    };
    let Some(endpoint) = hc.status.as_ref().and_then(|s| s.ignition_endpoint.clone()) else {
        return Err(Waiting::Inputs("ignition endpoint is not set".into()));
    };
    let Some(ignition_ca) = d.ignition_ca.clone() else {
        return Err(Waiting::Inputs(format!(
            "CA Secret {cp}/{} is missing tls.crt",
            names::IGNITION_SERVER_CA
        )));
    };
    let Some(pull_secret) = &d.pull_secret else {
        return Err(Waiting::Inputs(format!(
            "pull secret {cp}/{} is missing {}",
            names::PULL_SECRET,
            names::DOCKER_CONFIG_JSON_KEY
        )));
    };
    let trust_bundle = match (&hc.spec.additional_trust_bundle, &d.trust_bundle) {
        (None, _) => "",
        (Some(_), Some(bundle)) => bundle.as_str(),
        (Some(_), None) => {
            return Err(Waiting::Inputs(format!(
                "trust bundle {cp}/{} is missing ca-bundle.crt",
                names::USER_CA_BUNDLE
            )));
        }
    };
    let config = raw_config(d, hc)?;
    let trust_bundle_name = hc
        .spec
        .additional_trust_bundle
        .as_ref()
        .map(|b| b.name.as_str())
        .unwrap_or_default();
    let config_hash = config_hash(
        &config,
        &np.spec.release.image,
        &hc.spec.pull_secret.name,
        trust_bundle_name,
    );
    let owner = format!("{namespace}/{name}");
    let current_name = names::token_secret(&name, &config_hash);
    let existing = d.tokens.iter().find(|s| s.name_any() == current_name);
    let token = TokenSecret {
        namespace: cp.clone(),
        node_pool: owner.clone(),
        release: np.spec.release.image.clone(),
        config,
        config_hash: config_hash.clone(),
        pull_secret_hash: hash_simple(pull_secret),
        additional_trust_bundle_hash: hash_simple(trust_bundle.as_bytes()),
        hc_configuration_hash: hash_simple(
            hc.spec
                .configuration
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
                .as_bytes(),
        ),
        upgrade_type: "Replace".to_owned(),
        ..current_token(existing, d, &current_name)
    };
    let Outdated {
        stamped,
        expired,
        next_check,
    } = outdated(
        d,
        &current_name,
        until(add(token.generated_at, ROTATE_AFTER), d.now),
    );
    let user_data_name = names::user_data_secret(&name, &config_hash);
    Ok(ValidatedNodePool {
        stale_user_data: d
            .user_data
            .iter()
            .map(kube::ResourceExt::name_any)
            .filter(|n| *n != user_data_name)
            .collect(),
        name,
        control_plane_namespace: cp.clone(),
        owner,
        endpoint,
        ignition_ca,
        config_hash,
        token,
        stamped,
        expired,
        next_check: next_check.max(Duration::from_secs(1)),
    })
}

/// The token Secrets of earlier configurations.
struct Outdated {
    /// Newly stamped with their expiry.
    stamped: Vec<TokenSecret>,
    /// Expired or unreadable: to delete.
    expired: Vec<String>,
    /// `next_check`, or sooner when one of them expires before.
    next_check: Duration,
}

fn outdated(d: &Dereferenced, current_name: &str, mut next_check: Duration) -> Outdated {
    let (mut stamped, mut expired) = (Vec::new(), Vec::new());
    for other in d.tokens.iter().filter(|s| s.name_any() != current_name) {
        match TokenSecret::from_secret(other) {
            Err(_) => expired.push(other.name_any()),
            Ok(t) => match t.expires_at {
                Some(at) if at <= d.now => expired.push(t.name),
                Some(at) => next_check = next_check.min(until(at, d.now)),
                None => {
                    next_check = next_check.min(OUTDATED_GRACE);
                    stamped.push(TokenSecret {
                        expires_at: Some(add(d.now, OUTDATED_GRACE)),
                        ..t
                    });
                }
            },
        }
    }
    Outdated {
        stamped,
        expired,
        next_check,
    }
}

/// The current token Secret: the existing one (rotated when due), or a new one.
fn current_token(existing: Option<&Secret>, d: &Dereferenced, name: &str) -> TokenSecret {
    let new = || TokenSecret {
        name: name.to_owned(),
        namespace: String::new(),
        node_pool: String::new(),
        token: d.fresh_token.clone(),
        old_token: None,
        generated_at: d.now,
        expires_at: None,
        release: String::new(),
        config: String::new(),
        config_hash: String::new(),
        pull_secret_hash: String::new(),
        additional_trust_bundle_hash: String::new(),
        hc_configuration_hash: String::new(),
        upgrade_type: String::new(),
    };
    match existing.map(TokenSecret::from_secret) {
        Some(Ok(t)) if add(t.generated_at, ROTATE_AFTER) > d.now => TokenSecret {
            // The current configuration's Secret is never outdated (it may have been, before a
            // change was reverted).
            expires_at: None,
            ..t
        },
        Some(Ok(t)) => TokenSecret {
            old_token: Some(t.token.clone()),
            ..new()
        },
        Some(Err(_)) | None => new(),
    }
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or_default())
        .unwrap_or(t)
}

fn until(t: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(t.duration_since(now)).unwrap_or_default()
}

/// The config hash naming a NodePool's Secrets.
pub fn config_hash(
    config: &str,
    release_image: &str,
    pull_secret_name: &str,
    trust_bundle_name: &str,
) -> String {
    hash_simple(format!("{config}{release_image}{pull_secret_name}{trust_bundle_name}").as_bytes())
}

/// The data-plane ImageDigestMirrorSet `cluster` (label role=worker) and the config ConfigMaps'
/// documents, sorted and joined by `---`.
fn raw_config(d: &Dereferenced, hc: &HostedCluster) -> Result<String, Waiting> {
    let mirrors = data_plane_mirrors(hc).map_err(|e| {
        Waiting::Inputs(format!(
            "HostedCluster {}/{} has invalid data-plane mirrors: {e}",
            hc.namespace().unwrap_or_default(),
            hc.name_any()
        ))
    })?;
    let mut documents = Vec::new();
    if !mirrors.is_empty() {
        let mut idms = render_mirror_sets(&mirrors, "cluster").idms;
        idms.metadata.labels = Some(
            [(
                "machineconfiguration.openshift.io/role".to_owned(),
                "worker".to_owned(),
            )]
            .into(),
        );
        documents.push(
            hypershift_api::yaml::to_string(&idms)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        );
    }
    let mut problems = Vec::new();
    for (name, found) in &d.config_maps {
        let Some(cm) = found else {
            problems.push(format!("configmap {name:?} not found"));
            continue;
        };
        let Some(text) = cm.data.as_ref().and_then(|d| d.get("config")) else {
            problems.push(format!("configmap {name:?} has no \"config\" key"));
            continue;
        };
        match split_documents(name, text) {
            Ok(docs) => documents.extend(docs),
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Err(Waiting::Config(problems.join("; ")));
    }
    documents.sort();
    Ok(documents.join("\n---\n"))
}

/// The non-blank documents of one ConfigMap's `config`, each of a supported kind.
fn split_documents(configmap: &str, text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" {
            let doc = current.trim();
            if !doc.is_empty() {
                let value: serde_json::Value = serde_saphyr::from_str(doc).map_err(|e| {
                    format!(
                        "configmap {configmap:?} contains invalid yaml: {}",
                        e.to_string().lines().next().unwrap_or_default()
                    )
                })?;
                let kind = value
                    .get("kind")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                if !SUPPORTED_KINDS.contains(&kind) {
                    return Err(format!(
                        "configmap {configmap:?} yaml document failed validation: unsupported config type: {kind}"
                    ));
                }
                out.push(doc.to_owned());
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests;
