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
