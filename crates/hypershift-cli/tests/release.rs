//! `hypershift release info` against a real registry (TLS + htpasswd) on 127.0.0.1, run as a
//! real process. Needs `/usr/bin/docker-registry` (fails loudly without it).

use std::path::PathBuf;
use std::process::Command;

use hypershift_testkit::faults::refusing_address;
use hypershift_testkit::{SOURCE_RELEASE, SyntheticRelease, TestRegistry};
use serde_json::Value;

struct Fixture {
    registry: TestRegistry,
    release: SyntheticRelease,
    dir: PathBuf,
}

async fn fixture() -> Fixture {
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start();
    let release = SyntheticRelease::new("4.99.0");
    release.push(&registry).await.expect("push the synthetic release");
    let dir = std::env::temp_dir().join(format!(
        "hypershift-cli-release-{}-{}",
        std::process::id(),
        registry.host.replace(':', "-")
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("idms.yaml"),
        SyntheticRelease::idms_yaml("release", &registry.host, true),
    )
    .expect("write");
    std::fs::write(dir.join("pull-secret.json"), registry.pull_secret_json()).expect("write");
    std::fs::write(dir.join("ca.pem"), &registry.ca_pem).expect("write");
    Fixture {
        registry,
        release,
        dir,
    }
}

impl Fixture {
    fn run(&self, extra: &[&str]) -> std::process::Output {
        let d = |f: &str| self.dir.join(f).display().to_string();
        Command::new(env!("CARGO_BIN_EXE_hypershift"))
            .args(["release", "info", &self.release.source_reference()])
            .args([
                "--pull-secret",
                &d("pull-secret.json"),
                "--ca-bundle",
                &d("ca.pem"),
            ])
            .args(extra)
            .output()
            .expect("hypershift runs")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn release_info_reports_version_components_and_the_serving_mirror() {
    let f = fixture().await;
    let idms = f.dir.join("idms.yaml").display().to_string();
    let out = f.run(&["-f", &idms]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(info["version"], "4.99.0");
    assert_eq!(info["digest"], f.release.digest());
    assert_eq!(info["viaMirror"], true);
    assert_eq!(
        info["servedBy"],
        format!(
            "{}@{}",
            SyntheticRelease::mirror_release_repo(&f.registry.host),
            f.release.digest()
        )
    );
    let mco = info["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "machine-config-operator")
        .unwrap();
    assert_eq!(
        mco["image"],
        f.release.component_source("machine-config-operator")
    );
    assert_eq!(
        mco["candidates"][0],
        format!(
            "{}@{}",
            SyntheticRelease::mirror_components_repo(&f.registry.host),
            f.release.components["machine-config-operator"].digest
        )
    );

    let yaml = f.run(&["-f", &idms, "-o", "yaml"]);
    assert!(yaml.status.success());
    assert!(String::from_utf8_lossy(&yaml.stdout).contains("version: \"4.99.0\""));
}

#[tokio::test]
async fn release_info_with_registry_overrides_shows_the_rewritten_pull_specs() {
    let f = fixture().await;
    let overrides = format!(
        "{SOURCE_RELEASE}={},quay.invalid/openshift-release-dev/ocp-v4.0-art-dev={}",
        SyntheticRelease::mirror_release_repo(&f.registry.host),
        SyntheticRelease::mirror_components_repo(&f.registry.host)
    );
    let out = f.run(&["--registry-overrides", &overrides]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["viaMirror"], false);
    for c in info["components"].as_array().unwrap() {
        assert!(c["image"].as_str().unwrap().starts_with("quay.invalid/"));
        assert!(
            c["pullSpec"].as_str().unwrap().starts_with(&f.registry.host),
            "{c}"
        );
    }
}

#[tokio::test]
async fn release_info_failures_are_one_line_and_list_every_attempt() {
    let f = fixture().await;
    let dead = f.dir.join("dead.yaml");
    std::fs::write(
        &dead,
        SyntheticRelease::idms_yaml("dead", &refusing_address(), true),
    )
    .unwrap();
    let out = f.run(&["-f", &dead.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("every candidate failed") && err.contains("registry unreachable"),
        "{err}"
    );
    assert!(!err.contains(&f.registry.password));

    let bad_secret = f.dir.join("bad.json");
    std::fs::write(&bad_secret, "{}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hypershift"))
        .args([
            "release",
            "info",
            &f.release.source_reference(),
            "--pull-secret",
            &bad_secret.display().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid pull secret"));
}
