//! `cargo xtask images [--push REF [--authfile FILE] [--cert-dir DIR]]`: builds the `hypershift`
//! image from the release binaries with buildah, offline (no base image), twice from fresh
//! contexts to check it is reproducible, and reports its ID and size; `--push` copies it to a
//! registry with the given credentials (a Docker/containers auth file, e.g. a pull secret) and CA
//! directory (containers-certs.d(5): `ca.crt` in it).
//!
//! The image store is the project's own, under `target/containers/` (vfs driver), so nothing of
//! the machine's podman state is touched; the container tier's tests read it from there.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{cargo, run, say};

/// The image's local name.
pub const IMAGE: &str = "localhost/hypershift:dev";
/// The project's image store (`storage/`, `run/`), shared with the container tier's tests
/// (`e2e/tests/images.rs` names the same directory).
pub const STORE: &str = "target/containers";
const CONTAINERFILE: &str = "deploy/images/hypershift.Containerfile";
const CONTAINERS_CONF: &str = "deploy/images/containers.conf";
/// The binaries the image carries, under `/usr/bin`.
const BINARIES: [&str; 3] = ["hypershift-operator", "control-plane-operator", "ignition-server"];
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The build context (`rootfs/` is assembled in it).
const CONTEXT: &str = "target/images/hypershift";

/// What a build produced.
#[derive(Debug, PartialEq, Eq)]
struct Built {
    id: String,
    size: u64,
}

struct Options {
    push: Option<String>,
    authfile: Option<String>,
    cert_dir: Option<String>,
}

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        push: None,
        authfile: None,
        cert_dir: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} takes a value"))
        };
        match a.as_str() {
            "--push" => o.push = Some(value("--push")?),
            "--authfile" => o.authfile = Some(value("--authfile")?),
            "--cert-dir" => o.cert_dir = Some(value("--cert-dir")?),
            other => {
                bail!("unknown option {other:?} for images (--push REF, --authfile FILE, --cert-dir DIR)")
            }
        }
    }
    if o.push.is_none() && (o.authfile.is_some() || o.cert_dir.is_some()) {
        bail!("--authfile and --cert-dir go with --push");
    }
    Ok(o)
}

/// The task.
pub fn images(args: &[String]) -> Result<()> {
    let o = options(args)?;
    for tool in ["/usr/bin/buildah", "/usr/bin/podman"] {
        if !Path::new(tool).exists() {
            bail!("{tool} is missing; run `cargo xtask setup` (as root) first");
        }
    }
    let mut build = cargo();
    build.args(["build", "--release"]);
    for b in BINARIES {
        build.args(["-p", b]);
    }
    run(&mut build)?;
    let first = build_image()?;
    // The same binaries from a fresh context (new file times) must give the same image.
    let second = build_image()?;
    if first != second {
        bail!(
            "the image is not reproducible: {} then {} from the same binaries",
            first.id,
            second.id
        );
    }
    say(&format!(
        "xtask images: {IMAGE} {} ({:.1} MiB), reproducible; store {STORE}",
        first.id,
        mib(first.size)
    ));
    if let Some(reference) = &o.push {
        push(reference, o.authfile.as_deref(), o.cert_dir.as_deref())?;
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss, reason = "an image size in MiB")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// buildah or podman on the project's store, with the project's containers.conf.
/// Paths are absolute: buildah's copier runs in another directory.
pub fn tool(program: &str) -> Command {
    let root = crate::project_root();
    let mut c = Command::new(program);
    c.env("CONTAINERS_CONF", root.join(CONTAINERS_CONF))
        .arg("--root")
        .arg(root.join(STORE).join("storage"))
        .arg("--runroot")
        .arg(root.join(STORE).join("run"))
        .args(["--storage-driver", "vfs"]);
    c
}

fn build_image() -> Result<Built> {
    let context = assemble()?;
    run(tool("buildah")
        .args([
            "bud",
            "--quiet",
            // Deterministic: the epoch as the creation time and every file's time, no history and no
            // buildah version label.
            "--timestamp",
            "0",
            "--omit-history",
            "--identity-label=false",
            "-f",
            CONTAINERFILE,
            "-t",
            IMAGE,
        ])
        .arg(&context))?;
    let out = tool("podman")
        .args(["image", "inspect", "--format", "{{.Id}} {{.Size}}", IMAGE])
        .output()
        .context("podman image inspect")?;
    if !out.status.success() {
        bail!(
            "podman image inspect {IMAGE}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let id = parts.next().context("no image id")?.to_owned();
    let size = parts
        .next()
        .and_then(|s| s.parse().ok())
        .context("no image size")?;
    Ok(Built { id, size })
}

/// A fresh `CONTEXT/rootfs`: the binaries, the shared libraries they load, the CA bundle.
fn assemble() -> Result<PathBuf> {
    let context = PathBuf::from(CONTEXT);
    let rootfs = context.join("rootfs");
    if rootfs.exists() {
        std::fs::remove_dir_all(&rootfs).with_context(|| format!("cannot clear {}", rootfs.display()))?;
    }
    let mut libraries = std::collections::BTreeSet::new();
    for b in BINARIES {
        let binary = PathBuf::from("target/release").join(b);
        copy(&binary, &rootfs.join("usr/bin").join(b))?;
        libraries.extend(shared_libraries(&binary)?);
    }
    for lib in libraries {
        copy(&lib, &rootfs.join(lib.strip_prefix("/").unwrap_or(&lib)))?;
    }
    copy(
        Path::new(CA_BUNDLE),
        &rootfs.join(CA_BUNDLE.trim_start_matches('/')),
    )?;
    Ok(context)
}

/// The files `ldd` says `binary` loads (the loader included, the vDSO not).
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .with_context(|| format!("ldd {}", binary.display()))?;
    if !out.status.success() {
        bail!(
            "ldd {}: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
            let path = l.split("=>").nth(1).unwrap_or(l).split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// Copies `from` (following links) to `to`, creating its directories, keeping the mode.
fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

fn push(reference: &str, authfile: Option<&str>, cert_dir: Option<&str>) -> Result<()> {
    let digest_file = PathBuf::from(STORE).join("pushed.digest");
    let mut c = tool("buildah");
    c.arg("push").arg("--digestfile").arg(&digest_file);
    if let Some(f) = authfile {
        c.args(["--authfile", f]);
    }
    if let Some(d) = cert_dir {
        c.args(["--cert-dir", d]);
    }
    c.arg(IMAGE).arg(format!("docker://{reference}"));
    run(&mut c)?;
    let digest = std::fs::read_to_string(&digest_file).unwrap_or_default();
    say(&format!(
        "xtask images: pushed {IMAGE} to {reference}@{}",
        digest.trim()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_options_go_together() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(options(&args(&["--authfile", "a.json"])).is_err());
        assert!(options(&args(&["--push"])).is_err());
        assert!(options(&args(&["--bogus"])).is_err());
        let o = options(&args(&["--push", "r.invalid/h:1", "--cert-dir", "d"])).unwrap();
        assert_eq!(o.push.as_deref(), Some("r.invalid/h:1"));
        assert_eq!(o.cert_dir.as_deref(), Some("d"));
    }
}
