//! The real Ignition client and validator (Debian `ignition` 2.14, spec/machine-notes.md §10):
//! the program a node runs at first boot, pointed at a pointer config, writing into a scratch
//! root instead of a disk.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail, ensure};

/// `ignition-validate`.
pub const VALIDATE: &str = "/usr/bin/ignition-validate";
/// The Ignition binary the initramfs runs.
pub const IGNITION: &str = "/usr/lib/dracut/modules.d/30ignition/ignition";

fn require(path: &str) -> Result<()> {
    ensure!(
        Path::new(path).is_file(),
        "{path} is missing: install Debian's `ignition` package (`cargo xtask setup` does)"
    );
    Ok(())
}

/// Runs `ignition-validate` on `config`; `Ok` when it accepts it, else its report.
///
/// # Errors
/// When it rejects the config (with its output), or cannot run.
pub fn validate(config: &[u8], scratch: &Path) -> Result<()> {
    require(VALIDATE)?;
    std::fs::create_dir_all(scratch)?;
    let file = scratch.join("to-validate.ign");
    std::fs::write(&file, config)?;
    let out = Command::new(VALIDATE)
        .arg(&file)
        .output()
        .context("running ignition-validate")?;
    if !out.status.success() {
        bail!(
            "ignition-validate rejected the config: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A first boot done by the real client.
#[derive(Debug)]
pub struct Boot {
    /// Where the `files` stage wrote the config's files.
    pub root: PathBuf,
    /// The merged config the `fetch` stage fetched (the payload), as cached by Ignition.
    pub fetched: Vec<u8>,
    /// Both stages' logs.
    pub log: String,
}

impl Boot {
    /// A file the boot wrote, by its absolute path on the node.
    ///
    /// # Errors
    /// When it was not written.
    pub fn file(&self, path: &str) -> Result<Vec<u8>> {
        let on_disk = self.root.join(path.trim_start_matches('/'));
        std::fs::read(&on_disk).with_context(|| format!("{path} was not written ({})", on_disk.display()))
    }
}

/// Boots `pointer` (a user-data pointer config) with the real client in `dir`: the `fetch`
/// stage (HTTPS to the ignition server, with the pointer's headers and CA), then the `files`
/// stage into `dir/root`. The files stage's final SELinux relabel cannot work on this machine
/// (no policy) and is the one failure tolerated, once the files are written.
///
/// # Errors
/// When a stage fails otherwise (with its log).
pub fn boot(pointer: &[u8], dir: &Path) -> Result<Boot> {
    require(IGNITION)?;
    std::fs::create_dir_all(dir)?;
    let root = dir.join("root");
    std::fs::create_dir_all(&root)?;
    let pointer_file = dir.join("pointer.ign");
    std::fs::write(&pointer_file, pointer)?;
    let (cache, state_file, neednet) = (
        dir.join("config-cache.json"),
        dir.join("state"),
        dir.join("neednet"),
    );
    let run_stage = |stage: &str| {
        Command::new(IGNITION)
            .env("IGNITION_CONFIG_FILE", &pointer_file)
            .args(["-platform", "file", "-stage", stage, "-log-to-stdout", "-root"])
            .arg(&root)
            .arg("-config-cache")
            .arg(&cache)
            .arg("-state-file")
            .arg(&state_file)
            .arg("-neednet")
            .arg(&neednet)
            .output()
            .with_context(|| format!("running ignition -stage {stage}"))
    };
    let fetch = run_stage("fetch")?;
    let mut log = format!(
        "--- fetch\n{}{}",
        String::from_utf8_lossy(&fetch.stdout),
        String::from_utf8_lossy(&fetch.stderr)
    );
    if !fetch.status.success() {
        bail!("ignition fetch failed:\n{log}");
    }
    let files = run_stage("files")?;
    let files_log = format!(
        "{}{}",
        String::from_utf8_lossy(&files.stdout),
        String::from_utf8_lossy(&files.stderr)
    );
    log.push_str("--- files\n");
    log.push_str(&files_log);
    if !files.status.success() && !files_log.contains("failed to handle relabeling") {
        bail!("ignition files failed:\n{log}");
    }
    let fetched =
        std::fs::read(&cache).with_context(|| format!("the fetched config was not cached:\n{log}"))?;
    Ok(Boot { root, fetched, log })
}
