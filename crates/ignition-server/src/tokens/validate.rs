//! Pure checks of what a token Secret and the control plane's copies say, before any registry
//! is asked.

use hypershift_api::names;
use hypershift_mirrors::{DataPlaneMirrors, ImageRef, MirrorSetBuilder, parse_documents};
use hypershift_support::contract::{TokenSecret, hash_simple};
use ignition_config::v3_2;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::dereference::Inputs;
use super::error::Failure;

/// A NodePool's MachineConfig from its config ConfigMaps.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineConfig {
    pub name: String,
    pub config: v3_2::Config,
}

/// What a payload is generated from.
#[derive(Clone)]
pub struct ValidToken {
    /// The token Secret's name.
    pub secret: String,
    /// Its uid.
    pub uid: String,
    pub node_pool: String,
    /// The current token, then the previous one after a rotation.
    pub tokens: Vec<String>,
    pub expires_at: Option<Timestamp>,
    /// The NodePool's release image, as written.
    pub release: ImageRef,
    /// The data-plane mirrors (`spec.imageContentSources`, and the NodePool's own mirror documents).
    pub mirrors: DataPlaneMirrors,
    /// MachineConfigs, by name.
    pub machine_configs: Vec<MachineConfig>,
    /// Kinds of config documents that are carried but not rendered (the MCO's controllers').
    pub not_rendered: Vec<String>,
    /// `.dockerconfigjson`.
    pub pull_secret: Vec<u8>,
    /// The additional trust bundle (empty without one).
    pub trust_bundle: String,
    /// A fingerprint of everything above that goes into the payload.
    pub inputs: String,
}

impl std::fmt::Debug for ValidToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidToken")
            .field("secret", &self.secret)
            .field("node_pool", &self.node_pool)
            .field("release", &self.release)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

/// What validation found.
#[derive(Debug)]
pub enum Validated {
    Valid(Box<ValidToken>),
    /// Its expiry has passed: it opens nothing any more.
    Expired,
}

/// Checks `inputs` at `now`.
pub fn validate(inputs: &Inputs, now: Timestamp) -> Result<Validated, Failure> {
    let token =
        TokenSecret::from_secret(&inputs.secret).map_err(|e| Failure::InvalidConfig(e.to_string()))?;
    if token.expires_at.is_some_and(|at| at <= now) {
        return Ok(Validated::Expired);
    }
    let cp = &token.namespace;
    let pull_secret = inputs.pull_secret.clone().ok_or_else(|| {
        Failure::InputsNotReady(format!(
            "pull secret {cp}/{} has no {}",
            names::PULL_SECRET,
            names::DOCKER_CONFIG_JSON_KEY
        ))
    })?;
    if !token.pull_secret_hash.is_empty() && hash_simple(&pull_secret) != token.pull_secret_hash {
        return Err(Failure::InputsNotReady(format!(
            "pull secret {cp}/{} does not match the token Secret's pull-secret-hash (waiting for the NodePool controller)",
            names::PULL_SECRET
        )));
    }
    let trust_bundle = inputs.trust_bundle.clone().unwrap_or_default();
    if !token.additional_trust_bundle_hash.is_empty()
        && hash_simple(trust_bundle.as_bytes()) != token.additional_trust_bundle_hash
    {
        return Err(Failure::InputsNotReady(format!(
            "trust bundle {cp}/{} does not match the token Secret's additional-trust-bundle-hash (waiting for the NodePool controller)",
            names::USER_CA_BUNDLE
        )));
    }
    let release = ImageRef::parse(&token.release)
        .map_err(|e| Failure::InvalidConfig(format!("release image {:?}: {e}", token.release)))?;
    let (mirrors, machine_configs, not_rendered) = config_documents(&token.config)?;
    let mut tokens = vec![token.token.clone()];
    tokens.extend(token.old_token.clone());
    let mut fingerprint = Vec::new();
    for part in [
        token.release.as_bytes(),
        token.config.as_bytes(),
        token.node_pool.as_bytes(),
        &pull_secret,
        trust_bundle.as_bytes(),
    ] {
        fingerprint.extend_from_slice(&part.len().to_le_bytes());
        fingerprint.extend_from_slice(part);
    }
    Ok(Validated::Valid(Box::new(ValidToken {
        secret: token.name.clone(),
        uid: inputs.secret.metadata.uid.clone().unwrap_or_default(),
        node_pool: token.node_pool.clone(),
        tokens,
        expires_at: token.expires_at,
        release,
        mirrors,
        machine_configs,
        not_rendered,
        pull_secret,
        trust_bundle,
        inputs: hypershift_mirrors::sha256_digest(&fingerprint),
    })))
}

type Documents = (DataPlaneMirrors, Vec<MachineConfig>, Vec<String>);

/// The NodePool's configuration documents: mirror objects into one data-plane rule set,
/// MachineConfigs by name, and the kinds we carry without rendering.
pub fn config_documents(config: &str) -> Result<Documents, Failure> {
    let invalid = |reason: String| Failure::InvalidConfig(format!("config: {reason}"));
    let mut builder = MirrorSetBuilder::new();
    for doc in parse_documents(config).map_err(|e| invalid(e.to_string()))? {
        // Documents of other kinds add nothing here; they are read below.
        builder.add_document(&doc).map_err(|e| invalid(e.to_string()))?;
    }
    let values: Vec<Value> = serde_saphyr::from_multiple(config)
        .map_err(|e| invalid(e.to_string().lines().next().unwrap_or_default().to_owned()))?;
    let mut machine_configs = Vec::new();
    let mut not_rendered = Vec::new();
    for value in values.into_iter().filter(|v| !v.is_null()) {
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default();
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match kind {
            "ImageDigestMirrorSet" | "ImageTagMirrorSet" | "ImageContentSourcePolicy" => {}
            "MachineConfig" => machine_configs.push(MachineConfig {
                config: machine_config(&name, value.pointer("/spec/config"))?,
                name,
            }),
            other => not_rendered.push(other.to_owned()),
        }
    }
    machine_configs.sort_by(|a, b| a.name.cmp(&b.name));
    not_rendered.sort();
    not_rendered.dedup();
    Ok((builder.build(), machine_configs, not_rendered))
}

/// A MachineConfig's `spec.config`: an Ignition config of spec 3.0, 3.1 or 3.2 (each a subset
/// of the next), read as 3.2, the payload's version.
fn machine_config(name: &str, config: Option<&Value>) -> Result<v3_2::Config, Failure> {
    let invalid = |reason: String| Failure::InvalidConfig(format!("MachineConfig {name:?}: {reason}"));
    let Some(config) = config.filter(|c| !c.is_null()) else {
        return Ok(v3_2::Config::default());
    };
    let version = config
        .pointer("/ignition/version")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("spec.config has no ignition.version".into()))?;
    if !matches!(version, "3.0.0" | "3.1.0" | "3.2.0") {
        return Err(invalid(format!(
            "spec.config is Ignition {version}; the payload is 3.2.0, which takes 3.0.0 to 3.2.0"
        )));
    }
    let mut config = config.clone();
    if let Some(v) = config.pointer_mut("/ignition/version") {
        *v = Value::String("3.2.0".into());
    }
    serde_json::from_value(config).map_err(|e| invalid(format!("spec.config: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_into_mirrors_machine_configs_and_the_rest() {
        let config = "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: cluster\nspec:\n  imageDigestMirrors:\n  - source: quay.invalid/ocp\n    mirrors: [mirror.invalid/ocp]\n---\napiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: 99-b\nspec:\n  config:\n    ignition: {version: 3.1.0}\n    storage:\n      files:\n      - path: /etc/b\n        contents: {source: 'data:,b'}\n---\napiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: 50-a\nspec: {}\n---\napiVersion: machineconfiguration.openshift.io/v1\nkind: KubeletConfig\nmetadata:\n  name: k\n";
        let (mirrors, mcs, rest) = config_documents(config).unwrap();
        assert_eq!(mirrors.rules().len(), 1);
        assert_eq!(
            mcs.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["50-a", "99-b"]
        );
        let files = mcs[1].config.storage.as_ref().unwrap().files.as_ref().unwrap();
        assert_eq!(files[0].path, "/etc/b");
        assert_eq!(rest, ["KubeletConfig"]);
    }

    #[test]
    fn bad_documents_are_invalid_config_naming_the_object() {
        for (config, expect) in [
            (
                "kind: MachineConfig\nmetadata: {name: mc-x}\nspec:\n  config:\n    ignition: {version: 3.4.0}\n",
                "MachineConfig \"mc-x\": spec.config is Ignition 3.4.0",
            ),
            (
                "kind: MachineConfig\nmetadata: {name: mc-y}\nspec:\n  config: {storage: {}}\n",
                "MachineConfig \"mc-y\": spec.config has no ignition.version",
            ),
            (
                "kind: MachineConfig\nmetadata: {name: mc-z}\nspec:\n  config:\n    ignition: {version: 3.2.0}\n    storage: {files: 7}\n",
                "MachineConfig \"mc-z\": spec.config:",
            ),
            (
                "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: {name: m}\nspec:\n  imageDigestMirrors:\n  - source: 'Not A Scope'\n    mirrors: [m.invalid/x]\n",
                "config: ",
            ),
            ("a: [unclosed", "config: "),
        ] {
            let err = config_documents(config).unwrap_err();
            assert!(matches!(err, Failure::InvalidConfig(_)), "{err}");
            assert!(err.to_string().contains(expect), "{err}");
        }
    }
}
