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

/// The registry refused a skopeo request for want of (the right) credentials.
fn assert_refused(out: &Output) {
    let refusal = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        !out.status.success()
            && (refusal.contains("unauthorized") || refusal.contains("authentication required")),
        "{refusal}"
    );
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
    assert_refused(&out);
}

/// Port isolation for pods as containers (`devcluster::runner::netns`): two stand-in containers
/// in their own pod network namespaces both serve the same port, each probed from inside its
/// pod; and a container reaches the node's loopback service at the node's own `127.0.0.1:PORT`,
/// forwarded into its pod (nothing but 127.0.0.1 is contacted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_in_pod_namespaces_share_a_port_number_and_reach_the_node_s_loopback() {
    use devcluster::runner::netns::PodNetwork;
    use std::io::{Read as _, Write as _};
    use tokio::io::AsyncWriteExt as _;
    const STANDIN: &str = "localhost/standin:dev";
    let node = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node_port = node.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = node.accept().await {
            let _ = s
                .write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\nnode\n")
                .await;
        }
    });
    let pid = std::process::id();
    let pods: Vec<PodNetwork> = ["a", "b"]
        .iter()
        .map(|p| PodNetwork::create(&format!("e2e-{p}-{pid}"), &[node_port]).unwrap())
        .collect();
    let names: Vec<String> = ["a", "b"]
        .iter()
        .map(|p| format!("e2e-standin-{p}-{pid}"))
        .collect();
    // Stopped (and so removed) whatever happens below.
    let _stop = StopAll(names.clone());
    for (pod, name) in pods.iter().zip(&names) {
        let out = tool("podman")
            .args([
                "run",
                "--detach",
                "--rm",
                "--read-only",
                "--cap-drop=ALL",
                "--name",
                name,
            ])
            .arg(format!("--network={}", pod.podman_network()))
            .args([STANDIN, "--secure-port=8443"])
            .output()
            .unwrap();
        ok(&out, "podman run in a pod namespace");
    }
    for pod in &pods {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let answer = loop {
            if let Ok(mut s) = tokio::task::block_in_place(|| pod.connect(8443)) {
                s.write_all(b"GET /readyz HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                break out;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nothing served 8443 in {}",
                pod.path().display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let fetched = tool("podman")
        .args(["run", "--rm", "--read-only", "--cap-drop=ALL"])
        .arg(format!("--network={}", pods[0].podman_network()))
        .args(["--entrypoint", "/bin/busybox", STANDIN, "wget", "-qO-"])
        .arg(format!("http://127.0.0.1:{node_port}/"))
        .output()
        .unwrap();
    assert_eq!(ok(&fetched, "wget from inside the pod"), "node\n");
}

/// Stops the named containers when dropped.
struct StopAll(Vec<String>);

impl Drop for StopAll {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = tool("podman").args(["stop", "--time=5", name]).output();
        }
    }
}

/// The container tier's registry as a container (issue 10 item 5): the `test-registry` image
/// (Debian's distribution registry, `cargo xtask images`) started by testcontainers through
/// podman's Docker-compatible socket (`DOCKER_HOST`, served by `cargo xtask test`), on the host's
/// network as the image's non-root user; TLS and htpasswd as the process registry; removed when
/// dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_runs_as_a_container_through_testcontainers_with_tls_and_auth() {
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start_in_container().await.unwrap();
    let id = registry.container_id().unwrap().to_owned();
    let out = tool("podman")
        .args([
            "inspect",
            "--format",
            "{{.ImageName}} {{.HostConfig.NetworkMode}} {{.Config.User}}",
            &id,
        ])
        .output()
        .unwrap();
    assert_eq!(
        ok(&out, "podman inspect").trim(),
        "localhost/test-registry:dev host 65532:65532"
    );
    // A release pushed with its credentials is read back by digest through TLS with the CA.
    let release = hypershift_testkit::SyntheticRelease::new("4.99.0");
    release.push(&registry).await.unwrap();
    let digest = release.source_reference().rsplit('@').next().unwrap().to_owned();
    let reference = format!(
        "docker://{}@{digest}",
        hypershift_testkit::SyntheticRelease::mirror_release_repo(&registry.host)
    );
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), &registry.ca_pem).unwrap();
    let creds = format!("{}:{}", registry.username, registry.password);
    let out = tool("skopeo")
        .args(["inspect", "--raw", "--creds", &creds, "--cert-dir"])
        .arg(&certs)
        .arg(&reference)
        .output()
        .unwrap();
    let manifest = ok(&out, "skopeo inspect");
    assert_eq!(hypershift_mirrors::sha256_digest(manifest.as_bytes()), digest);
    // A wrong password is refused.
    let out = tool("skopeo")
        .args(["inspect", "--raw", "--creds", "mirror-user:wrong", "--cert-dir"])
        .arg(&certs)
        .arg(&reference)
        .output()
        .unwrap();
    assert_refused(&out);
    // Dropped: the container is removed.
    drop(registry);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = tool("podman")
            .args(["ps", "--all", "--quiet", "--no-trunc", "--filter"])
            .arg(format!("id={id}"))
            .output()
            .unwrap();
        if ok(&out, "podman ps").trim().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the registry container {id} is still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
