//! The container tier: the `hypershift` image `cargo xtask images` built (`cargo xtask test`
//! builds it before this tier) in the project's store `target/containers`, checked with the real
//! tools: podman runs each binary in it as a restricted pod would (non-root, read-only root, no
//! network), and buildah pushes it to the real registry (TLS + htpasswd) with a pull secret as
//! the auth file and the registry CA, where skopeo reads it back by digest. Fails loudly when
//! podman, buildah or the image are missing.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is the failure report"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hypershift_testkit::{TestRegistry, workspace_root};

const IMAGE: &str = "localhost/hypershift:dev";
/// The store `cargo xtask images` writes (`xtask/src/images.rs` names the same directory).
const STORE: &str = "target/containers";

fn tool(program: &str) -> Command {
    for path in ["/usr/bin/podman", "/usr/bin/buildah", "/usr/bin/skopeo"] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: run `cargo xtask setup` (as root)"
        );
    }
    let root = workspace_root();
    let mut c = Command::new(program);
    c.env("CONTAINERS_CONF", root.join("deploy/images/containers.conf"));
    if program != "skopeo" {
        c.arg("--root")
            .arg(root.join(STORE).join("storage"))
            .arg("--runroot")
            .arg(root.join(STORE).join("run"))
            .args(["--storage-driver", "vfs"]);
    }
    c
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn image_present() {
    let out = tool("podman").args(["image", "exists", IMAGE]).output().unwrap();
    assert!(
        out.status.success(),
        "{IMAGE} is not in {STORE}: run `cargo xtask images` (`cargo xtask test` does)"
    );
}

/// `user|layers|creation time` of an image in the store.
fn user_layers_created(image: &str) -> String {
    let out = tool("podman")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Config.User}}|{{len .RootFS.Layers}}|{{.Created.Unix}}",
            image,
        ])
        .output()
        .unwrap();
    ok(&out, "podman image inspect")
}

#[test]
fn the_image_is_non_root_from_nothing_and_runs_each_binary_read_only() {
    image_present();
    let inspect = user_layers_created(IMAGE);
    assert_eq!(
        inspect.trim(),
        "65532:65532|1|0",
        "user, one layer (no base image), the epoch as its time (reproducible)"
    );
    for binary in ["hypershift-operator", "control-plane-operator", "ignition-server"] {
        let out = tool("podman")
            .args(["run", "--rm", "--read-only", "--network=none", "--cap-drop=ALL"])
            .args(["--entrypoint", &format!("/usr/bin/{binary}"), IMAGE, "--version"])
            .output()
            .unwrap();
        let version = ok(&out, &format!("podman run {binary}"));
        assert!(version.starts_with(&format!("{binary} ")), "{version}");
    }
}

#[test]
fn the_standin_image_runs_its_program_and_busybox_read_only_as_non_root() {
    const STANDIN: &str = "localhost/standin:dev";
    let out = tool("podman")
        .args(["image", "exists", STANDIN])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{STANDIN} is not in {STORE}: run `cargo xtask images` (`cargo xtask test` does)"
    );
    let inspect = user_layers_created(STANDIN);
    assert_eq!(inspect.trim(), "65532:65532|1|0");
    let run = |args: &[&str]| {
        tool("podman")
            .args(["run", "--rm", "--read-only", "--network=none", "--cap-drop=ALL"])
            .args(args)
            .output()
            .unwrap()
    };
    let version = ok(&run(&[STANDIN, "--version"]), "standin --version");
    assert!(version.starts_with("standin "), "{version}");
    // busybox's sh and applets; the root is read-only.
    let status = ok(
        &run(&[
            "--entrypoint",
            "/bin/sh",
            STANDIN,
            "-c",
            "cat /proc/self/status && ! mkdir /x 2>/dev/null",
        ]),
        "busybox sh",
    );
    assert!(status.lines().any(|l| l.starts_with("Uid:\t65532\t")), "{status}");
}

#[test]
fn pushed_with_credentials_and_ca_it_keeps_its_digest() {
    image_present();
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    std::fs::write(&auth, registry.pull_secret_json()).unwrap();
    let certs: PathBuf = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), &registry.ca_pem).unwrap();
    let mut digests = Vec::new();
    for repo in ["hypershift/hypershift", "again/hypershift"] {
        let digest_file = dir.path().join(format!("{}.digest", repo.replace('/', "-")));
        let out = tool("buildah")
            .arg("push")
            .arg("--authfile")
            .arg(&auth)
            .arg("--cert-dir")
            .arg(&certs)
            .arg("--digestfile")
            .arg(&digest_file)
            .arg(IMAGE)
            .arg(format!("docker://{}/{repo}:dev", registry.host))
            .output()
            .unwrap();
        ok(&out, "buildah push");
        digests.push(std::fs::read_to_string(&digest_file).unwrap().trim().to_owned());
    }
    assert_eq!(digests[0], digests[1], "the same image pushed twice, two digests");
    let out = tool("skopeo")
        .arg("inspect")
        .arg("--authfile")
        .arg(&auth)
        .arg("--cert-dir")
        .arg(&certs)
        .arg("--config")
        .arg(format!(
            "docker://{}/hypershift/hypershift@{}",
            registry.host, digests[0]
        ))
        .output()
        .unwrap();
    let config: serde_json::Value = serde_json::from_str(&ok(&out, "skopeo inspect")).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    // Without the credentials the registry refuses: the push really used them.
    let out = tool("skopeo")
        .arg("inspect")
        .arg("--cert-dir")
        .arg(&certs)
        .arg("--no-creds")
        .arg(format!(
            "docker://{}/hypershift/hypershift@{}",
            registry.host, digests[0]
        ))
        .output()
        .unwrap();
    let refusal = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        !out.status.success()
            && (refusal.contains("unauthorized") || refusal.contains("authentication required")),
        "{refusal}"
    );
}
