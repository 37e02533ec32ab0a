//! Outside oracle: containers/image itself (Debian's skopeo 1.9.3) pulls through the
//! registries.conf that `hypershift mirrors registries-conf` renders, against a real registry on
//! 127.0.0.1 (TLS + htpasswd), and must go where `hypershift mirrors explain` says.
//!
//! The rules cover a `*.` wildcard prefix with a `location` and a mirror, IDMS/ITMS mirrors of
//! blocked (`NeverContactSource`) `.invalid` sources, an entry whose only mirror is its own source,
//! a source listed first among its own mirrors, a mirror inside a blocked scope, and a blocked
//! source with no mirror for the pull. Nothing is ever pushed under a `.invalid` name and every
//! `.invalid` source is blocked or rewritten, so skopeo never needs DNS: it only contacts 127.0.0.1.
//!
//! Needs `/usr/bin/skopeo` and `/usr/bin/docker-registry`; fails loudly naming them, never skips.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hypershift_releaseinfo::Compression;
use hypershift_testkit::{ImageBlob, TestRegistry, push_image};
use serde_json::Value;

const SKOPEO: &str = "/usr/bin/skopeo";

struct Oracle {
    registry: TestRegistry,
    dir: PathBuf,
    /// Pull spec → (digest, name) of the image pushed there.
    pushed: BTreeMap<String, (String, String)>,
}

/// A small image of its own: one file and a label naming it, so every push has its own digest.
fn image(name: &str) -> ImageBlob {
    ImageBlob::build(
        &[&[("oracle.txt", name.as_bytes())]],
        &[("oracle", name)],
        Compression::Gzip,
        "amd64",
    )
}

/// The IDMS and ITMS of the scenario (what oc-mirror or an admin would write).
fn mirror_sets_yaml(host: &str) -> String {
    format!(
        "apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: oracle
spec:
  imageDigestMirrors:
  - source: quay.invalid/ocp/release
    mirrors:
    - {host}/dead/release
    - {host}/mirror/release
    mirrorSourcePolicy: NeverContactSource
  - source: quay.invalid/ocp/extra
    mirrors:
    - {host}/locked/extra
    - {host}/open/extra
    mirrorSourcePolicy: NeverContactSource
  - source: {host}/src/app
    mirrors:
    - {host}/src/app
    - {host}/alt/app
---
apiVersion: config.openshift.io/v1
kind: ImageTagMirrorSet
metadata:
  name: oracle
spec:
  imageTagMirrors:
  - source: quay.invalid/ocp
    mirrors:
    - {host}/broad
    mirrorSourcePolicy: NeverContactSource
  - source: quay.invalid/ocp/tools
    mirrors:
    - {host}/first/tools
    - {host}/second/tools
    mirrorSourcePolicy: NeverContactSource
  - source: quay.invalid/ocp/solo
    mirrors:
    - quay.invalid/ocp/solo
    mirrorSourcePolicy: NeverContactSource
"
    )
}

/// A registries.conf input: what IDMS/ITMS cannot say (a wildcard with a location, a blocked
/// scope on the mirror registry).
fn input_conf(host: &str) -> String {
    format!(
        "[[registry]]
prefix = \"*.apps.invalid\"
location = \"{host}/wild\"

[[registry.mirror]]
location = \"{host}/wild-mirror\"

[[registry]]
location = \"{host}/locked\"
blocked = true
"
    )
}

async fn oracle() -> Oracle {
    assert!(
        Path::new(SKOPEO).exists(),
        "{SKOPEO} is missing: the containers/image oracle tests need Debian's skopeo package \
         (run `cargo xtask setup` as root, or `apt-get install -y skopeo`)"
    );
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start();
    let host = registry.host.clone();
    let dir = std::env::temp_dir().join(format!(
        "hypershift-cli-oracle-{}-{}",
        std::process::id(),
        host.replace(':', "-")
    ));
    std::fs::create_dir_all(dir.join("certs")).expect("temp dir");
    std::fs::create_dir_all(dir.join("home")).expect("temp dir");
    std::fs::write(dir.join("certs/ca.crt"), &registry.ca_pem).expect("write the CA");
    std::fs::write(dir.join("auth.json"), registry.pull_secret_json()).expect("write the auth file");
    std::fs::write(dir.join("mirrors.yaml"), mirror_sets_yaml(&host)).expect("write the mirror sets");
    std::fs::write(dir.join("input.conf"), input_conf(&host)).expect("write the input registries.conf");

    let mut o = Oracle {
        registry,
        dir,
        pushed: BTreeMap::new(),
    };
    for (repository, name, tag) in [
        ("mirror/release", "release", None),
        ("first/tools", "tools-v1-first", Some("v1")),
        ("second/tools", "tools-v1-second", Some("v1")),
        ("second/tools", "tools-v2-second", Some("v2")),
        ("broad/solo", "solo-broad", Some("v1")),
        ("wild/tools/debug", "wild-1", Some("1")),
        ("wild-mirror/tools/debug", "wild-mirror-2", Some("2")),
        ("wild/tools/debug", "wild-2", Some("2")),
        ("alt/app", "app", None),
    ] {
        o.push(&format!("{host}/{repository}"), name, tag).await;
    }

    let rendered = Oracle::hypershift(&[
        "mirrors",
        "registries-conf",
        "-f",
        &o.path("mirrors.yaml"),
        "--registries-conf",
        &o.path("input.conf"),
    ]);
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    std::fs::write(o.dir.join("rendered.conf"), &rendered.stdout)
        .expect("write the rendered registries.conf");
    o
}

impl Oracle {
    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    async fn push(&mut self, repository: &str, name: &str, tag: Option<&str>) {
        let image = image(name);
        push_image(
            &self.registry.push_client(),
            &self.registry.auth(),
            repository,
            &image,
            tag,
        )
        .await
        .unwrap_or_else(|e| panic!("push {repository}: {e}"));
        let spec = match tag {
            Some(tag) => format!("{repository}:{tag}"),
            None => format!("{repository}@{}", image.digest),
        };
        self.pushed.insert(spec, (image.digest, name.to_owned()));
    }

    fn hypershift(args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hypershift"))
            .args(args)
            .output()
            .expect("hypershift runs")
    }

    /// `mirrors explain` of every reference, from the original inputs; the rendered file must
    /// explain the same.
    fn explain(&self, references: &[String]) -> Vec<Value> {
        let run = |args: &[&str]| -> Vec<Value> {
            let mut all = vec!["mirrors", "explain", "-"];
            all.extend(args);
            let out = common::hypershift_in(&self.dir, &all, &references.join("\n"));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout)
                .expect("utf-8")
                .lines()
                .map(|l| serde_json::from_str(l).expect("a JSON line"))
                .collect()
        };
        let from_inputs = run(&[
            "-f",
            &self.path("mirrors.yaml"),
            "--registries-conf",
            &self.path("input.conf"),
        ]);
        let from_rendered = run(&["--registries-conf", &self.path("rendered.conf")]);
        assert_eq!(
            from_inputs.iter().map(|e| &e["candidates"]).collect::<Vec<_>>(),
            from_rendered.iter().map(|e| &e["candidates"]).collect::<Vec<_>>(),
            "the rendered registries.conf explains as its inputs do"
        );
        assert_eq!(from_inputs.len(), references.len());
        from_inputs
    }

    /// `skopeo inspect` through the rendered registries.conf, trusting only our CA, with our
    /// credentials, and nothing from the user's environment.
    fn skopeo(&self, reference: &str, debug: bool) -> Output {
        let mut command = Command::new(SKOPEO);
        if debug {
            command.arg("--debug");
        }
        command
            .args(["--registries-conf", &self.path("rendered.conf")])
            .args(["inspect", "--no-tags", "--retry-times", "0"])
            .args(["--authfile", &self.path("auth.json")])
            .args(["--cert-dir", &self.path("certs")])
            .arg(format!("docker://{reference}"))
            .env("HOME", self.dir.join("home"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("CONTAINERS_REGISTRIES_CONF")
            .output()
            .unwrap_or_else(|e| panic!("{SKOPEO} runs: {e}"))
    }

    /// What our candidates predict skopeo gets: the first candidate something was pushed to.
    fn predicted(&self, candidates: &Value) -> Option<&(String, String)> {
        candidates
            .as_array()
            .expect("candidates")
            .iter()
            .find_map(|c| self.pushed.get(c.as_str().expect("a string")))
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[tokio::test]
async fn skopeo_pulls_from_the_mirror_explain_predicts() {
    let o = oracle().await;
    let host = o.registry.host.clone();
    let references = [
        format!("quay.invalid/ocp/release@{}", image("release").digest),
        "quay.invalid/ocp/tools:v1".to_owned(),
        "quay.invalid/ocp/tools:v2".to_owned(),
        "quay.invalid/ocp/solo:v1".to_owned(),
        "team.apps.invalid/tools/debug:1".to_owned(),
        "team.apps.invalid/tools/debug:2".to_owned(),
        format!("{host}/src/app@{}", image("app").digest),
    ];
    let explained = o.explain(&references);
    // What we predict, spelled out once, so a change in the matcher shows here too.
    assert_eq!(
        strings(&explained[4]["candidates"]),
        [
            format!("{host}/wild-mirror/tools/debug:1"),
            format!("{host}/wild/tools/debug:1")
        ],
        "a wildcard's mirror and location both replace the matched host"
    );
    assert_eq!(
        strings(&explained[3]["candidates"]),
        [format!("{host}/broad/solo:v1")],
        "an entry whose only mirror is its source adds nothing: the broader rule applies"
    );
    assert_eq!(
        strings(&explained[6]["candidates"]),
        [
            format!("{host}/src/app@{}", image("app").digest),
            format!("{host}/alt/app@{}", image("app").digest)
        ],
        "a source listed first among its mirrors keeps its place and is not tried twice"
    );
    for (reference, explained) in references.iter().zip(&explained) {
        let (digest, name) = o
            .predicted(&explained["candidates"])
            .unwrap_or_else(|| panic!("{reference}: no candidate was pushed: {explained}"));
        let out = o.skopeo(reference, false);
        assert!(
            out.status.success(),
            "skopeo inspect {reference} failed: {}\nexplain: {explained}\nregistries.conf:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(o.dir.join("rendered.conf")).unwrap_or_default()
        );
        let inspected: Value = serde_json::from_slice(&out.stdout).expect("skopeo prints JSON");
        assert_eq!(
            inspected["Digest"].as_str(),
            Some(digest.as_str()),
            "{reference}: skopeo got another image than the candidates predict ({name}); explain: {explained}"
        );
    }
}

/// The references skopeo's `--debug` log says it tried, in order, without repeats, leaving out
/// those it refused as blocked (containers/image refuses them before any network access).
/// containers/image reports a single attempt's error as is, and several as
/// `(Mirrors also failed: [ref: error]…): ref: error`.
fn attempts(stderr: &str) -> Vec<String> {
    let raw: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.split("Trying to access \\\"").nth(1))
        .filter_map(|rest| rest.split("\\\"").next())
        .collect();
    let refused = |reference: &str| {
        if raw.len() == 1 {
            return stderr.contains(" is blocked in ");
        }
        stderr
            .match_indices(&format!("{reference}: registry "))
            .any(|(i, _)| {
                stderr[i..]
                    .split([']', '\n'])
                    .next()
                    .is_some_and(|e| e.contains(" is blocked in "))
            })
    };
    let mut tried: Vec<String> = Vec::new();
    for reference in &raw {
        if !refused(reference) && !tried.iter().any(|t| t == reference) {
            tried.push((*reference).to_owned());
        }
    }
    tried
}

#[tokio::test]
async fn skopeo_tries_exactly_the_candidates_in_order() {
    let o = oracle().await;
    let host = o.registry.host.clone();
    let missing = format!("sha256:{}", "0".repeat(64));
    // Nothing exists under these names, so skopeo tries every candidate it has.
    let references = [
        format!("quay.invalid/ocp/release@{missing}"),
        format!("quay.invalid/ocp/extra@{missing}"),
        "quay.invalid/ocp/tools:missing".to_owned(),
        "quay.invalid/ocp/solo:missing".to_owned(),
        "team.apps.invalid/tools/missing:1".to_owned(),
        format!("{host}/src/app@{missing}"),
    ];
    let explained = o.explain(&references);
    assert_eq!(
        strings(&explained[1]["candidates"]),
        [format!("{host}/open/extra@{missing}")],
        "a mirror inside a blocked scope is refused, as containers/image refuses it"
    );
    for (reference, explained) in references.iter().zip(&explained) {
        let out = o.skopeo(reference, true);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{reference}: nothing was pushed there");
        assert_eq!(
            attempts(&stderr),
            strings(&explained["candidates"]),
            "{reference}: skopeo's attempts differ from explain's candidates; skopeo said:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn a_blocked_source_without_a_mirror_for_the_pull_fails_in_skopeo_as_in_explain() {
    let o = oracle().await;
    // The IDMS mirrors serve digests only; a tag pull has nowhere to go.
    let reference = "quay.invalid/ocp/release:4.99".to_owned();
    let explained = o.explain(std::slice::from_ref(&reference));
    assert_eq!(explained[0]["blocked"], true);
    assert_eq!(explained[0]["candidates"], serde_json::json!([]));
    let out = o.skopeo(&reference, false);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("registry quay.invalid/ocp/release is blocked"),
        "{stderr}"
    );
}
