//! `cargo xtask images [--push REF [--authfile FILE] [--cert-dir DIR]]`: builds, from the release
//! binaries with buildah, offline (no base image), the `hypershift` image and the `standin` image
//! (the synthetic release's component images are built on it, deploy/images/README.md); each twice
//! from fresh contexts to check it is reproducible. It reports each image's ID and size and
//! exports each as an OCI layout under `target/images/oci/<name>` (what the test kit pushes as
//! release components, digests unchanged); `--push` copies the `hypershift` image to a registry
//! with the given credentials (a Docker/containers auth file, e.g. a pull secret) and CA directory
//! (containers-certs.d(5): `ca.crt` in it).
//!
//! The image store is the project's own, under `target/containers/` (vfs driver), so nothing of
//! the machine's podman state is touched; the container tier's tests read it from there.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{cargo, run, say};

/// The `hypershift` image's local name.
pub const IMAGE: &str = "localhost/hypershift:dev";
/// The project's image store (`storage/`, `run/`), shared with the container tier's tests
/// (`e2e/tests/images.rs` names the same directory).
pub const STORE: &str = "target/containers";
const CONTAINERS_CONF: &str = "deploy/images/containers.conf";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Debian's busybox-static: the stand-in images' `/bin/sh`, `cp` and `true`.
const BUSYBOX: &str = "/bin/busybox";
/// The busybox applets the stand-in image links (what the control plane's init containers run).
const APPLETS: &[&str] = &["sh", "cp", "true", "cat", "ls", "mkdir", "sleep", "env"];
/// Where the OCI layouts are exported (`<name>/`, tag `dev`).
pub const OCI: &str = "target/images/oci";

/// One image the task builds.
struct Spec {
    name: &'static str,
    containerfile: &'static str,
    /// The release binaries it carries under `/usr/bin`.
    binaries: &'static [&'static str],
    /// Programs of this machine it carries at the same paths (Debian's).
    system_binaries: &'static [&'static str],
    ca_bundle: bool,
    busybox: bool,
}

const IMAGES: &[Spec] = &[
    Spec {
        name: "hypershift",
        containerfile: "deploy/images/hypershift.Containerfile",
        binaries: &["hypershift-operator", "control-plane-operator", "ignition-server"],
        system_binaries: &[],
        ca_bundle: true,
        busybox: false,
    },
    Spec {
        name: "standin",
        containerfile: "deploy/images/standin.Containerfile",
        binaries: &["standin"],
        system_binaries: &[],
        ca_bundle: false,
        busybox: true,
    },
    // A test fixture: the container tier's registry, run through testcontainers.
    Spec {
        name: "test-registry",
        containerfile: "deploy/images/test-registry.Containerfile",
        binaries: &[],
        system_binaries: &[REGISTRY],
        ca_bundle: false,
        busybox: false,
    },
];

/// Debian's CNCF distribution registry.
const REGISTRY: &str = "/usr/bin/docker-registry";

impl Spec {
    fn local(&self) -> String {
        format!("localhost/{}:dev", self.name)
    }

    /// The build context (`rootfs/` is assembled in it).
    fn context(&self) -> PathBuf {
        PathBuf::from("target/images").join(self.name)
    }
}

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
    for tool in [
        "/usr/bin/buildah",
        "/usr/bin/podman",
        "/usr/bin/skopeo",
        BUSYBOX,
        REGISTRY,
    ] {
        if !Path::new(tool).exists() {
            bail!("{tool} is missing; run `cargo xtask setup` (as root) first");
        }
    }
    let mut build = cargo();
    build.args(["build", "--release"]);
    for b in IMAGES.iter().flat_map(|i| i.binaries) {
        build.args(["-p", b]);
    }
    run(&mut build)?;
    for spec in IMAGES {
        let first = build_image(spec)?;
        // The same binaries from a fresh context (new file times) must give the same image.
        let second = build_image(spec)?;
        if first != second {
            bail!(
                "{} is not reproducible: {} then {} from the same binaries",
                spec.local(),
                first.id,
                second.id
            );
        }
        let digest = export(spec)?;
        say(&format!(
            "xtask images: {} {} ({:.1} MiB), reproducible; exported to {OCI}/{} as {digest}",
            spec.local(),
            first.id,
            mib(first.size),
            spec.name
        ));
    }
    say(&format!("xtask images: store {STORE}"));
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
/// podman's Docker-compatible API on `target/podman/podman.sock` over the project's store (the
/// images this task built), for testcontainers in the container tier; stopped when dropped.
pub struct DockerSocket {
    child: std::process::Child,
    path: PathBuf,
}

impl DockerSocket {
    /// Serves it (`podman system service`) and waits until it answers.
    pub fn start() -> Result<Self> {
        let dir = crate::project_root().join("target/podman");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("podman.sock");
        let _ = std::fs::remove_file(&path);
        let log = std::fs::File::create(dir.join("service.log"))?;
        let child = tool("/usr/bin/podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", path.display()))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start podman system service")?;
        let socket = Self { child, path };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&socket.path).is_err() {
            if std::time::Instant::now() > deadline {
                bail!(
                    "podman system service did not serve {} within 20 s; see target/podman/service.log",
                    socket.path.display()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        say(&format!(
            "xtask: podman's Docker-compatible API on {}",
            socket.docker_host()
        ));
        Ok(socket)
    }

    /// The `DOCKER_HOST` value naming it.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }
}

impl Drop for DockerSocket {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.path);
    }
}

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

fn build_image(spec: &Spec) -> Result<Built> {
    let context = assemble(spec)?;
    let image = spec.local();
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
            spec.containerfile,
            "-t",
            &image,
        ])
        .arg(&context))?;
    let out = tool("podman")
        .args(["image", "inspect", "--format", "{{.Id}} {{.Size}}", &image])
        .output()
        .context("podman image inspect")?;
    if !out.status.success() {
        bail!(
            "podman image inspect {image}: {}",
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

/// A fresh `<context>/rootfs`: the binaries, the shared libraries they load, the CA bundle
/// and busybox with its applets, as the spec says.
fn assemble(spec: &Spec) -> Result<PathBuf> {
    let context = spec.context();
    let rootfs = context.join("rootfs");
    if rootfs.exists() {
        std::fs::remove_dir_all(&rootfs).with_context(|| format!("cannot clear {}", rootfs.display()))?;
    }
    let mut libraries = std::collections::BTreeSet::new();
    for b in spec.binaries {
        let binary = PathBuf::from("target/release").join(b);
        copy(&binary, &rootfs.join("usr/bin").join(b))?;
        libraries.extend(shared_libraries(&binary)?);
    }
    for b in spec.system_binaries {
        let binary = Path::new(b);
        copy(binary, &rootfs.join(b.trim_start_matches('/')))?;
        libraries.extend(shared_libraries(binary)?);
    }
    for lib in libraries {
        copy(&lib, &rootfs.join(lib.strip_prefix("/").unwrap_or(&lib)))?;
    }
    if spec.ca_bundle {
        copy(
            Path::new(CA_BUNDLE),
            &rootfs.join(CA_BUNDLE.trim_start_matches('/')),
        )?;
    }
    if spec.busybox {
        // Statically linked: nothing more to carry.
        copy(Path::new(BUSYBOX), &rootfs.join("bin/busybox"))?;
        for applet in APPLETS {
            let link = rootfs.join("bin").join(applet);
            std::os::unix::fs::symlink("busybox", &link)
                .with_context(|| format!("cannot link {}", link.display()))?;
        }
    }
    Ok(context)
}

/// Exports the image as an OCI layout `OCI/<name>` (tag `dev`), twice from scratch, and returns
/// its manifest digest, failing when the two exports differ (the layers' compression must be
/// reproducible too, or a pushed release would change digests from run to run).
fn export(spec: &Spec) -> Result<String> {
    let root = crate::project_root();
    let dir = root.join(OCI).join(spec.name);
    let mut digests = Vec::new();
    for _ in 0..2 {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir.parent().unwrap_or(&dir))?;
        let mut c = Command::new("/usr/bin/skopeo");
        c.env("CONTAINERS_CONF", root.join(CONTAINERS_CONF))
            .args(["copy", "--quiet", "--dest-oci-accept-uncompressed-layers=false"])
            .arg(format!(
                "containers-storage:[vfs@{}+{}]{}",
                root.join(STORE).join("storage").display(),
                root.join(STORE).join("run").display(),
                spec.local()
            ))
            .arg(format!("oci:{}:dev", dir.display()));
        run(&mut c)?;
        let index = std::fs::read_to_string(dir.join("index.json"))
            .with_context(|| format!("{}/index.json", dir.display()))?;
        digests.push(
            manifest_digest(&index)
                .with_context(|| format!("{}/index.json: no manifest digest", dir.display()))?,
        );
    }
    if digests[0] != digests[1] {
        bail!(
            "{} exports differently twice ({} then {}): its layers are not compressed reproducibly",
            spec.local(),
            digests[0],
            digests[1]
        );
    }
    Ok(digests.swap_remove(0))
}

/// The manifest digest an OCI layout's index.json names.
fn manifest_digest(index: &str) -> Option<String> {
    let index: serde_json::Value = serde_json::from_str(index).ok()?;
    index["manifests"][0]["digest"].as_str().map(ToOwned::to_owned)
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
