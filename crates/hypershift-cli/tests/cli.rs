//! The `hypershift` binary against design/cli-contract.md: output shapes, exit statuses
//! (0 ok, 1 invalid input, 2 usage), one-line errors. Runs the real binary as a user would.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples/mirrors")
}

fn hypershift(args: &[&str], stdin: &str) -> Output {
    common::hypershift_in(&examples(), args, stdin)
}

/// Runs a command that must succeed; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = hypershift(args, "");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

fn ok_json(args: &[&str]) -> Value {
    let text = ok(args);
    assert_eq!(text.lines().count(), 1, "one JSON document on one line: {text}");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Runs a command that must fail with `code`; returns its one-line stderr.
fn fails(args: &[&str], code: i32) -> String {
    let out = hypershift(args, "");
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: stdout {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
    let err = String::from_utf8(out.stderr).expect("utf-8 stderr");
    if code == 1 {
        assert_eq!(err.lines().count(), 1, "one-line error: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    err
}

#[test]
fn image_parse_normalises_like_containers_image() {
    assert_eq!(
        ok_json(&["image", "parse", "busybox"]),
        json!({"registry": "docker.io", "repository": "library/busybox", "tag": null, "digest": null})
    );
    assert_eq!(
        ok_json(&["image", "parse", &format!("localhost:5000/ns/app:v1@{D1}")]),
        json!({"registry": "localhost:5000", "repository": "ns/app", "tag": "v1", "digest": D1})
    );
    assert_eq!(
        ok_json(&["image", "parse", "quay.io/openshift/release:4.18"])["registry"],
        "quay.io"
    );
    let err = fails(&["image", "parse", "quay.io/A"], 1);
    assert!(err.contains("must be lowercase"), "{err}");
    assert!(fails(&["image", "parse", "quay.io/a@sha256:123"], 1).contains("sha256:123"));
    fails(&["image", "parse"], 2);
    fails(&["image", "parse", "a", "b"], 2);
}

#[test]
fn overrides_flag_follows_pflag() {
    assert_eq!(
        ok_json(&["overrides", "decode-flag", "a=b,c"]),
        json!({"a": "b,c"})
    );
    assert_eq!(
        ok_json(&["overrides", "decode-flag", "a=b,c=d"]),
        json!({"a": "b", "c": "d"})
    );
    assert_eq!(
        ok_json(&["overrides", "decode-flag", "\"a=b,x\",c=d"]),
        json!({"a": "b,x", "c": "d"})
    );
    assert_eq!(ok_json(&["overrides", "decode-flag", "="]), json!({"": ""}));
    assert!(fails(&["overrides", "decode-flag", "quay.io"], 1).contains("must be formatted as key=value"));
    assert!(fails(&["overrides", "decode-flag", "a=b,c\"d=e"], 1).contains("bare \""));
    assert_eq!(
        ok(&["overrides", "encode-flag", r#"{"quay.io":"m1","quay.io/x":"m2"}"#]),
        "quay.io/x=m2,quay.io=m1\n"
    );
    assert_eq!(ok(&["overrides", "encode-flag", "{}"]), "=\n");
    fails(&["overrides", "encode-flag", r#"{"a": 1}"#], 1);
    fails(&["overrides", "encode-flag", "not json"], 1);
}

#[test]
fn overrides_env_keeps_mirror_priority() {
    assert_eq!(
        ok_json(&["overrides", "decode-env", "a=m2,b=x,a=m1,a=m2"]),
        json!({"a": ["m2", "m1", "m2"], "b": ["x"]})
    );
    assert_eq!(ok_json(&["overrides", "decode-env", "="]), Value::Null);
    assert_eq!(ok_json(&["overrides", "decode-env", ""]), Value::Null);
    assert_eq!(ok_json(&["overrides", "decode-env", "=,="]), json!({}));
    assert_eq!(
        ok(&["overrides", "encode-env", r#"{"b":["z","y"],"a":["x"]}"#]),
        "a=x,b=z,b=y\n"
    );
    assert_eq!(ok(&["overrides", "encode-env", "{}"]), "=\n");
    fails(&["overrides", "encode-env", r#"{"a":"x"}"#], 1);
}

#[test]
fn overrides_replace_is_strict_longest_prefix() {
    let replace = |image: &str, value: &str| ok(&["overrides", "replace", image, "--overrides", value]);
    let v = "quay.io=mirror.io/q,quay.io/openshift-release-dev=mirror.io/ocp";
    assert_eq!(
        replace("quay.io/openshift-release-dev/ocp-release:4.18", v),
        "mirror.io/ocp/ocp-release:4.18\n"
    );
    assert_eq!(replace("quay.io/x/y:1", v), "mirror.io/q/x/y:1\n");
    assert_eq!(replace("quay.io.example.com/x", v), "quay.io.example.com/x\n");
    assert_eq!(replace("quay.io:5000/x", v), "quay.io:5000/x\n");
    // Repeated --overrides merge, as repeated flags do.
    assert_eq!(
        ok(&[
            "overrides",
            "replace",
            "a.io/x",
            "--overrides",
            "a.io=b.io",
            "--overrides",
            "a.io=c.io"
        ]),
        "c.io/x\n"
    );
    fails(&["overrides", "replace", "quay.io/x"], 2);
    fails(
        &["overrides", "replace", "quay.io/x", "--overrides", "nonsense"],
        1,
    );
}

#[test]
fn mirrors_explain_one_image() {
    let release = format!("quay.invalid/openshift-release-dev/ocp-release@{D1}");
    assert_eq!(
        ok_json(&["mirrors", "explain", &release, "-f", "idms-release.yaml"]),
        json!({
            "image": release,
            "source": "quay.invalid/openshift-release-dev/ocp-release",
            "candidates": [format!("mirror.registry.invalid:8443/openshift/release-images@{D1}")],
            "blocked": true,
        })
    );
    // A tag pull of a digest-only mirror: nowhere to go on a node, the mirror in --live mode.
    let tag = "quay.invalid/openshift-release-dev/ocp-release:4.99.0-x86_64";
    assert_eq!(
        ok_json(&["mirrors", "explain", tag, "-f", "idms-release.yaml"])["candidates"],
        json!([])
    );
    assert_eq!(
        ok_json(&["mirrors", "explain", tag, "-f", "idms-release.yaml", "--live"])["candidates"],
        json!(["mirror.registry.invalid:8443/openshift/release-images:4.99.0-x86_64"])
    );
    // No rule: the source itself, normalised.
    assert_eq!(
        ok_json(&["mirrors", "explain", "busybox", "-f", "idms-release.yaml"]),
        json!({"image": "docker.io/library/busybox:latest", "source": null, "candidates": ["docker.io/library/busybox:latest"], "blocked": false})
    );
    // Wildcards from registries.conf.
    assert_eq!(
        ok_json(&[
            "mirrors",
            "explain",
            "team.apps.invalid/tools/debug:1",
            "--registries-conf",
            "registries.conf"
        ])["candidates"],
        json!([
            "mirror.registry.invalid:8443/apps/tools/debug:1",
            "team.apps.invalid/tools/debug:1"
        ])
    );
    fails(&["mirrors", "explain", "Bad/Ref", "-f", "idms-release.yaml"], 1);
    assert!(fails(&["mirrors", "explain", "busybox", "-f", "missing.yaml"], 1).contains("missing.yaml"));
}

#[test]
fn mirrors_explain_batch_prints_json_lines_in_input_order() {
    let input = std::fs::read_to_string(examples().join("images.txt")).unwrap();
    let out = hypershift(
        &[
            "mirrors",
            "explain",
            "-",
            "-f",
            "idms-release.yaml",
            "-f",
            "itms-operators.yaml",
            "-f",
            "icsp-oc-mirror-v1.yaml",
            "--registries-conf",
            "registries.conf",
        ],
        &input,
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skipping CatalogSource \"cs-redhat-operator-index\""),
        "{stderr}"
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let inputs: Vec<&str> = input.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), inputs.len());
    for (line, input) in lines.iter().zip(&inputs) {
        if let Some(error) = line.get("error") {
            assert_eq!(line["image"], *input);
            assert!(error.as_str().unwrap().contains("lowercase"));
        } else {
            assert!(
                line["image"]
                    .as_str()
                    .unwrap()
                    .starts_with(input.split([':', '@']).next().unwrap())
            );
        }
    }
    // The ICSP mirror comes after the IDMS mirror for the same source.
    assert_eq!(
        lines[2]["candidates"][1],
        format!(
            "old-mirror.registry.invalid:5000/openshift/release@sha256:{}",
            "2".repeat(64)
        )
    );
}

#[test]
fn mirrors_merge_is_byte_identical_in_any_file_order() {
    let files = [
        "idms-release.yaml",
        "itms-operators.yaml",
        "icsp-oc-mirror-v1.yaml",
    ];
    let first = ok(&["mirrors", "merge", files[0], files[1], files[2]]);
    for order in [[2, 1, 0], [1, 2, 0], [2, 0, 1]] {
        assert_eq!(
            ok(&[
                "mirrors",
                "merge",
                files[order[0]],
                files[order[1]],
                files[order[2]]
            ]),
            first
        );
    }
    assert!(
        first.starts_with("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\n"),
        "{first}"
    );
    assert!(
        first.contains("---\napiVersion: config.openshift.io/v1\nkind: ImageTagMirrorSet\n"),
        "{first}"
    );
    // The merged stream is itself valid input and merges to itself.
    let dir = tempdir();
    std::fs::write(dir.join("merged.yaml"), &first).unwrap();
    let merged = dir.join("merged.yaml");
    assert_eq!(ok(&["mirrors", "merge", merged.to_str().unwrap()]), first);
    fails(&["mirrors", "merge"], 2);
}

#[test]
fn mirrors_merge_reports_invalid_entries_precisely() {
    let dir = tempdir();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: broken\nspec:\n  imageDigestMirrors:\n  - source: quay.invalid/ok\n    mirrors: [m.invalid/ok]\n  - source: quay.invalid/Bad\n    mirrors: [m.invalid/x]\n",
    )
    .unwrap();
    let err = fails(&["mirrors", "merge", bad.to_str().unwrap()], 1);
    assert!(
        err.contains("ImageDigestMirrorSet \"broken\": spec.imageDigestMirrors[1].source"),
        "{err}"
    );
    std::fs::write(
        &bad,
        "kind: ImageDigestMirrorSet\napiVersion: config.openshift.io/v1\nspec: [1]\n",
    )
    .unwrap();
    assert!(fails(&["mirrors", "merge", bad.to_str().unwrap()], 1).contains("document 1"));
    std::fs::write(&bad, "a: [").unwrap();
    assert!(fails(&["mirrors", "merge", bad.to_str().unwrap()], 1).contains("not valid YAML"));
}

#[test]
fn mirrors_registries_conf_renders_what_explain_reads_back() {
    let conf = ok(&[
        "mirrors",
        "registries-conf",
        "-f",
        "idms-release.yaml",
        "-f",
        "itms-operators.yaml",
    ]);
    assert!(
        conf.contains("[[registry]]\nprefix = \"quay.invalid/openshift-release-dev/ocp-release\""),
        "{conf}"
    );
    assert!(conf.contains("pull-from-mirror = \"digest-only\""));
    let dir = tempdir();
    let path = dir.join("rendered.conf");
    std::fs::write(&path, &conf).unwrap();
    for image in [
        format!("quay.invalid/openshift-release-dev/ocp-v4.0-art-dev@{D1}"),
        "registry.invalid/ubi9/ubi:9".to_owned(),
    ] {
        assert_eq!(
            ok_json(&[
                "mirrors",
                "explain",
                &image,
                "--registries-conf",
                path.to_str().unwrap()
            ]),
            ok_json(&[
                "mirrors",
                "explain",
                &image,
                "-f",
                "idms-release.yaml",
                "-f",
                "itms-operators.yaml"
            ]),
        );
    }
    assert_eq!(
        ok(&["mirrors", "registries-conf"])
            .lines()
            .filter(|l| l.starts_with('['))
            .count(),
        0
    );
}

#[test]
fn a_wildcard_prefix_with_a_location_through_explain_registries_conf_and_merge() {
    let dir = tempdir();
    let conf = dir.join("wild.conf");
    std::fs::write(
        &conf,
        "[[registry]]\nprefix = \"*.apps.invalid\"\nlocation = \"internal.invalid:5000/wild\"\n[[registry.mirror]]\nlocation = \"mirror.invalid/apps\"\n",
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    assert_eq!(
        ok_json(&[
            "mirrors",
            "explain",
            "team.apps.invalid/tools/debug:1",
            "--registries-conf",
            conf
        ]),
        json!({
            "image": "team.apps.invalid/tools/debug:1",
            "source": "*.apps.invalid",
            "candidates": ["mirror.invalid/apps/tools/debug:1", "internal.invalid:5000/wild/tools/debug:1"],
            "blocked": false
        })
    );
    let rendered = ok(&["mirrors", "registries-conf", "--registries-conf", conf]);
    assert!(
        rendered.contains("prefix = \"*.apps.invalid\"\nlocation = \"internal.invalid:5000/wild\"\n"),
        "{rendered}"
    );
    // An IDMS keeps the wildcard's mirrors but cannot say where the source itself is.
    let out = hypershift(&["mirrors", "merge", "--registries-conf", conf], "");
    assert!(out.status.success());
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains(
            "imageDigestMirrors:\n  - source: \"*.apps.invalid\"\n    mirrors:\n    - mirror.invalid/apps\n"
        ),
        "{yaml}"
    );
    assert!(!yaml.contains("internal.invalid"), "{yaml}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "warning: *.apps.invalid: the source's location remap to \"internal.invalid:5000/wild\" cannot be expressed in an ImageDigestMirrorSet and was left out\n"
    );
}

#[test]
fn a_registry_defined_twice_warns_or_fails_naming_both_entries() {
    let dir = tempdir();
    let conf = dir.join("twice.conf");
    std::fs::write(
        &conf,
        "[[registry]]\nlocation = \"quay.invalid/ns\"\n[[registry.mirror]]\nlocation = \"first.invalid/ns\"\n[[registry]]\nlocation = \"quay.invalid/ns\"\n[[registry.mirror]]\nlocation = \"second.invalid/ns\"\n",
    )
    .unwrap();
    let path = conf.to_str().unwrap();
    let out = hypershift(
        &[
            "mirrors",
            "explain",
            "quay.invalid/ns/a:1",
            "--registries-conf",
            path,
        ],
        "",
    );
    assert!(out.status.success());
    let explained: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        explained["candidates"],
        json!(["first.invalid/ns/a:1", "quay.invalid/ns/a:1"])
    );
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "warning: {path}: registry[1]: prefix \"quay.invalid/ns\" is already defined by registry[0]; this entry is ignored, as containers/image ignores it\n"
        )
    );
    std::fs::write(
        &conf,
        "[[registry]]\nlocation = \"quay.invalid/ns\"\n[[registry]]\nlocation = \"quay.invalid/ns\"\nblocked = true\n",
    )
    .unwrap();
    let err = fails(
        &[
            "mirrors",
            "explain",
            "quay.invalid/ns/a:1",
            "--registries-conf",
            path,
        ],
        1,
    );
    assert_eq!(
        err,
        format!(
            "error: {path}: registry[0] (prefix \"quay.invalid/ns\") and registry[1] (prefix \"quay.invalid/ns\") both define location \"quay.invalid/ns\" with conflicting blocked settings (false and true)\n"
        )
    );
}

#[test]
fn help_and_version() {
    assert!(ok(&["--help"]).contains("mirrors"));
    assert!(ok(&["--version"]).starts_with("hypershift "));
    fails(&["no-such-command"], 2);
}

/// A malformed pull secret is reported by where it is wrong, never by what it holds (serde's
/// message used to quote the misplaced `auth` string). It fails before any registry is asked.
#[test]
fn release_info_never_echoes_a_malformed_pull_secret() {
    let dir = tempdir();
    let secret = dir.join("f.json");
    std::fs::write(&secret, r#"{"auths":{"q.io":"dXNlcjpzZWNyZXRwYXNz"}}"#).expect("write");
    let err = fails(
        &[
            "release",
            "info",
            &format!("quay.invalid/openshift-release-dev/ocp-release@{D1}"),
            "--pull-secret",
            &secret.display().to_string(),
        ],
        1,
    );
    assert!(
        err.contains(r#"invalid pull secret: auths["q.io"] is a string, expected an object"#),
        "{err}"
    );
    assert!(!err.contains("dXNl"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hypershift-cli-test-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
