//! The payload builder: golden files of the decoded payload per variant, byte-identical
//! re-renders, and the crate's own parser reading back what we serialise.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use hypershift_mirrors::ImageRef;
use hypershift_support::golden::assert_golden;
use serde::Serialize;

use super::*;
use crate::tokens::validate::config_documents;

const IDMS: &str = "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: cluster\nspec:\n  imageDigestMirrors:\n  - source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev\n    mirrors: [mirror.invalid:5000/openshift/release]\n    mirrorSourcePolicy: NeverContactSource\n";
const ITMS: &str = "apiVersion: config.openshift.io/v1\nkind: ImageTagMirrorSet\nmetadata:\n  name: tags\nspec:\n  imageTagMirrors:\n  - source: quay.invalid/tools\n    mirrors: [mirror.invalid:5000/tools]\n";
const MACHINE_CONFIG: &str = "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: 99-worker-custom\nspec:\n  config:\n    ignition: {version: 3.2.0}\n    passwd:\n      users:\n      - name: core\n        sshAuthorizedKeys: [ssh-ed25519 AAAAexample]\n    storage:\n      files:\n      - path: /etc/hypershift/cli-image\n        mode: 384\n        contents: {source: 'data:,overridden%0A'}\n      directories:\n      - path: /var/lib/custom\n    systemd:\n      units:\n      - name: custom.service\n        enabled: true\n        contents: \"[Service]\\nExecStart=/bin/true\\n\"\n";

fn valid(config: &str, trust_bundle: &str) -> ValidToken {
    let (mirrors, machine_configs, not_rendered) = config_documents(config).unwrap();
    ValidToken {
        secret: "token-workers-0a1b2c3d".into(),
        uid: "u".into(),
        node_pool: "clusters/workers".into(),
        tokens: vec!["t".into()],
        expires_at: None,
        release: ImageRef::parse("quay.invalid/openshift-release-dev/ocp-release@sha256:1111111111111111111111111111111111111111111111111111111111111111").unwrap(),
        mirrors,
        machine_configs,
        not_rendered,
        pull_secret: br#"{"auths":{"mirror.invalid:5000":{"auth":"dXNlcjpwYXNz"}}}"#.to_vec(),
        trust_bundle: trust_bundle.into(),
        inputs: "i".into(),
    }
}

fn images() -> Images {
    let templates = hypershift_testkit::MCO_TEMPLATES
        .iter()
        .map(|(p, c)| {
            (
                format!("{}{p}", super::templates::TEMPLATES_DIR),
                c.as_bytes().to_vec(),
            )
        })
        .collect();
    let art = "quay.invalid/openshift-release-dev/ocp-v4.0-art-dev";
    Images {
        release_version: "4.99.0".into(),
        release_pulled_from: "mirror.invalid:5000/openshift/release-images@sha256:11".into(),
        components: BTreeMap::from([
            (
                "cli".to_owned(),
                format!("{art}@sha256:2222222222222222222222222222222222222222222222222222222222222222"),
            ),
            (
                "machine-config-operator".to_owned(),
                format!("{art}@sha256:3333333333333333333333333333333333333333333333333333333333333333"),
            ),
        ]),
        mco_image: format!("{art}@sha256:3333333333333333333333333333333333333333333333333333333333333333"),
        mco_pulled_from: "mirror.invalid:5000/openshift/release@sha256:33".into(),
        templates: Arc::new(templates),
    }
}

/// The payload with file contents decoded, for review.
#[derive(Serialize)]
struct View {
    files: BTreeMap<String, FileView>,
    directories: Vec<String>,
    units: BTreeMap<String, serde_json::Value>,
    users: serde_json::Value,
}

#[derive(Serialize)]
struct FileView {
    mode: String,
    contents: String,
}

fn decode(source: &str) -> String {
    if let Some(b64) = source.strip_prefix("data:;base64,") {
        return String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap();
    }
    source.strip_prefix("data:,").unwrap().replace("%0A", "\n")
}

fn view(config: &Config) -> View {
    let storage = config.storage.clone().unwrap_or_default();
    View {
        files: storage
            .files
            .unwrap_or_default()
            .into_iter()
            .map(|f| {
                let contents = f
                    .contents
                    .and_then(|c| c.source)
                    .map(|s| decode(&s))
                    .unwrap_or_default();
                (
                    f.path,
                    FileView {
                        mode: format!("{:o}", f.mode.unwrap_or_default()),
                        contents,
                    },
                )
            })
            .collect(),
        directories: storage
            .directories
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.path)
            .collect(),
        units: config
            .systemd
            .iter()
            .flat_map(|s| s.units.clone().unwrap_or_default())
            .map(|u| (u.name.clone(), serde_json::to_value(&u).unwrap()))
            .collect(),
        users: serde_json::to_value(&config.passwd).unwrap(),
    }
}

fn check(name: &str, valid: &ValidToken) {
    let images = images();
    let bytes = payload(valid, &images).unwrap();
    assert_eq!(
        bytes,
        payload(valid, &images).unwrap(),
        "{name}: not byte-identical on re-render"
    );
    // The crate's parser reads it back as 3.2.0, with no key it does not know.
    let (parsed, warnings) = ignition_config::Config::parse_slice(&bytes).unwrap();
    assert!(warnings.is_empty(), "{name}: {warnings:?}");
    let ignition_config::Config::V3_2(parsed) = parsed else {
        panic!("{name}: not 3.2.0");
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tokens/build/snapshots");
    assert_golden(&dir, name, &view(&parsed));
}

#[test]
fn no_mirrors() {
    check("no_mirrors", &valid("", ""));
}

#[test]
fn digest_and_tag_mirrors_with_a_trust_bundle() {
    check(
        "mirrors_and_trust_bundle",
        &valid(
            &format!("{IDMS}---\n{ITMS}"),
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        ),
    );
}

#[test]
fn machine_configs_come_last_and_win() {
    let v = valid(&format!("{IDMS}---\n{MACHINE_CONFIG}"), "");
    check("machine_config", &v);
    let config = config(&v, &images()).unwrap();
    let files = config.storage.unwrap().files.unwrap();
    let cli = files
        .iter()
        .find(|f| f.path == "/etc/hypershift/cli-image")
        .unwrap();
    assert_eq!(cli.mode, Some(384));
}

#[test]
fn an_unknown_placeholder_fails_the_payload_naming_the_template() {
    let mut images = images();
    Arc::make_mut(&mut images.templates).insert(
        format!(
            "{}worker/01-worker-x/_base/files/x.yaml",
            super::templates::TEMPLATES_DIR
        ),
        b"path: /etc/x\ncontents:\n  inline: \"{{.ControllerConfig.Platform}}\"\n".to_vec(),
    );
    let err = payload(&valid("", ""), &images).unwrap_err();
    assert_eq!(err.reason(), "InvalidTemplates");
    assert!(
        err.to_string().contains("worker/01-worker-x/_base/files/x.yaml"),
        "{err}"
    );
    assert!(err.to_string().contains(".ControllerConfig.Platform"), "{err}");
}
