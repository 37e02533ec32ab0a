//! containers/image itself (Debian's skopeo): pulls the way CRI-O does on a node, through a
//! registries.conf, an auth file and a certificate directory we hand it, and nothing from the
//! user's environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context as _, Result, ensure};

/// The skopeo binary.
pub const SKOPEO: &str = "/usr/bin/skopeo";

/// What a node's container runtime reads.
#[derive(Debug, Clone)]
pub struct NodeRuntime {
    pub registries_conf: PathBuf,
    pub auth_file: PathBuf,
    /// A directory holding `ca.crt` (the mirror registry's CA, as `/etc/containers/certs.d`).
    pub cert_dir: PathBuf,
    /// `$HOME` for skopeo (empty: no user configuration).
    pub home: PathBuf,
}

impl NodeRuntime {
    /// `skopeo copy docker://<reference> oci:<dest>`: a pull of the manifest, config and layers.
    ///
    /// # Errors
    /// When skopeo is missing or cannot run (a failed pull is an `Ok` with a failed status).
    pub fn pull(&self, reference: &str, dest: &Path) -> Result<Output> {
        self.skopeo(|c| {
            c.args(["copy", "--retry-times", "0", "--src-authfile"])
                .arg(&self.auth_file)
                .arg("--src-cert-dir")
                .arg(&self.cert_dir)
                .arg(format!("docker://{reference}"))
                .arg(format!("oci:{}", dest.display()));
        })
    }

    /// `skopeo delete docker://<reference>` (a manifest leaves a registry; `reference` names the
    /// registry itself, not a source the registries.conf maps).
    ///
    /// # Errors
    /// When skopeo is missing or cannot run (a failed delete is an `Ok` with a failed status).
    pub fn delete(&self, reference: &str) -> Result<Output> {
        self.skopeo(|c| {
            c.args(["delete", "--authfile"])
                .arg(&self.auth_file)
                .arg("--cert-dir")
                .arg(&self.cert_dir)
                .arg(format!("docker://{reference}"));
        })
    }

    fn skopeo(&self, args: impl FnOnce(&mut Command)) -> Result<Output> {
        ensure!(
            Path::new(SKOPEO).is_file(),
            "{SKOPEO} is missing: install Debian's skopeo package (`cargo xtask setup` does)"
        );
        std::fs::create_dir_all(&self.home)?;
        let mut command = Command::new(SKOPEO);
        command.arg("--registries-conf").arg(&self.registries_conf);
        args(&mut command);
        command
            .env("HOME", &self.home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("CONTAINERS_REGISTRIES_CONF")
            .output()
            .context("running skopeo")
    }
}

/// podman with a private image store (vfs, under `dir`), the project's containers.conf (runc,
/// cgroupfs: spec/machine-notes.md §9) and a node's registries.conf, auth file and certificate
/// directory: pulls by the names pod specs use, the way CRI-O pulls on a node.
#[derive(Debug, Clone)]
pub struct Podman {
    pub dir: PathBuf,
    pub node: NodeRuntime,
}

/// The podman binary.
pub const PODMAN: &str = "/usr/bin/podman";

impl Podman {
    /// A node under `dir` pulling from `registry`: `registries_conf`, the registry's pull secret as
    /// the auth file and its CA as the certificate directory; the image store in `dir/store`.
    ///
    /// # Errors
    /// When the files cannot be written.
    pub fn node(
        dir: &Path,
        store: &str,
        registry: &crate::TestRegistry,
        registries_conf: &str,
    ) -> Result<Self> {
        let node = dir.join("node");
        std::fs::create_dir_all(node.join("certs"))?;
        std::fs::write(node.join("certs/ca.crt"), &registry.ca_pem)?;
        std::fs::write(node.join("auth.json"), registry.pull_secret_json())?;
        std::fs::write(node.join("registries.conf"), registries_conf)?;
        Ok(Self {
            dir: dir.join(store),
            node: NodeRuntime {
                registries_conf: node.join("registries.conf"),
                auth_file: node.join("auth.json"),
                cert_dir: node.join("certs"),
                home: node.join("home"),
            },
        })
    }

    /// The node as devcluster's kubelet takes it: this store, the project's containers.conf,
    /// the registries.conf, the pull secret as the node's global auth file, the CA.
    pub fn kubelet_node(&self) -> devcluster::Node {
        devcluster::Node {
            podman: PODMAN.into(),
            containers_conf: Some(crate::workspace_root().join("deploy/images/containers.conf")),
            store: self.dir.clone(),
            registries_conf: self.node.registries_conf.clone(),
            auth_file: Some(self.node.auth_file.clone()),
            cert_dir: Some(self.node.cert_dir.clone()),
        }
    }

    /// `podman` with the store and configuration, and nothing from the user's environment
    /// (devcluster's [`devcluster::Node::command`], the kubelet's own).
    ///
    /// # Panics
    /// When podman is missing: the message says how to install it.
    pub fn command(&self) -> Command {
        assert!(
            Path::new(PODMAN).is_file(),
            "{PODMAN} is missing: install Debian's podman and runc (`cargo xtask setup` does)"
        );
        self.kubelet_node().command()
    }

    /// `podman pull IMAGE` with the node's auth file and CA.
    ///
    /// # Errors
    /// When podman cannot run (a failed pull is an `Ok` with a failed status).
    pub fn pull(&self, image: &str) -> Result<Output> {
        std::fs::create_dir_all(self.dir.join("home"))?;
        self.command()
            .args(["pull", "--quiet", "--authfile"])
            .arg(&self.node.auth_file)
            .arg("--cert-dir")
            .arg(&self.node.cert_dir)
            .arg(image)
            .output()
            .context("running podman pull")
    }

    /// `podman ARGS…`, its output.
    ///
    /// # Errors
    /// When podman cannot run.
    pub fn run(&self, args: &[String]) -> Result<Output> {
        std::fs::create_dir_all(self.dir.join("home"))?;
        self.command().args(args).output().context("running podman")
    }
}

/// A management node's registries.conf: every ImageContentSourcePolicy, ImageDigestMirrorSet
/// and ImageTagMirrorSet the cluster holds, merged and rendered as the machine-config-operator
/// renders them onto OpenShift nodes (our renderer, which the containers/image oracle checks).
///
/// # Errors
/// When a kind is not served or an object is invalid.
pub async fn node_registries_conf(client: &kube::Client) -> Result<String> {
    use hypershift_api::openshift::{ImageContentSourcePolicy, ImageDigestMirrorSet, ImageTagMirrorSet};
    use kube::api::{Api, ListParams};
    let lp = ListParams::default();
    let mut builder = hypershift_mirrors::MirrorSetBuilder::new();
    for o in Api::<ImageDigestMirrorSet>::all(client.clone()).list(&lp).await? {
        builder.add_idms(&o)?;
    }
    for o in Api::<ImageTagMirrorSet>::all(client.clone()).list(&lp).await? {
        builder.add_itms(&o)?;
    }
    for o in Api::<ImageContentSourcePolicy>::all(client.clone())
        .list(&lp)
        .await?
    {
        builder.add_icsp(&o)?;
    }
    let set: hypershift_mirrors::ManagementMirrors = builder.build();
    Ok(hypershift_mirrors::registries_conf::render(&set))
}

/// What the machine-config-operator does for a management node's container runtime: keeps
/// `path` equal to [`node_registries_conf`] of the cluster, rewriting it (atomically) whenever an
/// ImageContentSourcePolicy, ImageDigestMirrorSet or ImageTagMirrorSet changes. containers/image
/// reads the file at every pull, so nothing restarts. Stops when the handle is dropped.
#[derive(Debug)]
pub struct NodeConfig(tokio::task::JoinHandle<()>);

impl NodeConfig {
    /// Renders `path` now, then follows the cluster.
    ///
    /// # Errors
    /// When the first render or write fails.
    pub async fn spawn(client: kube::Client, path: PathBuf) -> Result<Self> {
        use futures::StreamExt as _;
        use hypershift_api::openshift::{ImageContentSourcePolicy, ImageDigestMirrorSet, ImageTagMirrorSet};
        use kube::api::Api;
        use kube::runtime::{WatchStreamExt as _, watcher};
        write_atomically(&path, &node_registries_conf(&client).await?)?;
        let cfg = watcher::Config::default;
        // Backed off: once the API server is gone (a test's cluster stopped first), an unbacked
        // watcher retries in a loop that never yields, and the runtime cannot shut down.
        let changes = futures::stream::select_all([
            watcher(Api::<ImageDigestMirrorSet>::all(client.clone()), cfg())
                .default_backoff()
                .touched_objects()
                .map(|_| ())
                .boxed(),
            watcher(Api::<ImageTagMirrorSet>::all(client.clone()), cfg())
                .default_backoff()
                .touched_objects()
                .map(|_| ())
                .boxed(),
            watcher(Api::<ImageContentSourcePolicy>::all(client.clone()), cfg())
                .default_backoff()
                .touched_objects()
                .map(|_| ())
                .boxed(),
        ]);
        let task = tokio::spawn(async move {
            let mut changes = changes;
            while changes.next().await.is_some() {
                if let Ok(conf) = node_registries_conf(&client).await {
                    let _ = write_atomically(&path, &conf);
                }
            }
        });
        Ok(Self(task))
    }
}

impl Drop for NodeConfig {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn write_atomically(path: &Path, content: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
