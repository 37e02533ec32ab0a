//! The synthetic release made of real, runnable images: `hypershift` is our own image and every
//! other component is the stand-in image (`crates/standin`) plus one small layer of its own, so a
//! pod spec naming any release image can really be pulled through the mirrors and started.
//!
//! `cargo xtask images` builds the two base images with buildah and exports them as OCI layouts
//! under `target/images/oci/{hypershift,standin}`; this module reads those layouts (blobs byte for
//! byte, so digests are kept) and builds the component layers here, deterministically: the same
//! binaries give the same release digest.
//!
//! A component's layer holds `etc/standin/component` (its name, which the stand-in logs), its
//! command paths ([`STANDIN_COMMANDS`]) as links to `/usr/bin/standin`, and for the
//! machine-config-operator the templates under `etc/mcc/templates/` ([`crate::MCO_TEMPLATES`]).
//! The payload (the release image itself, which the cluster-version-operator's containers run)
//! is the stand-in plus `release-manifests/` (`image-references` naming every component by
//! digest, `0000_50_installer_coreos-bootimages.yaml`) and `manifests/`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use hypershift_mirrors::sha256_digest;
use serde_json::{Value, json};

use crate::release::{ImageBlob, Layer};

/// The release component names, and the payload's pseudo-name, with the command paths their
/// image links to the stand-in: what the control-plane-operator's components table runs
/// (`crates/control-plane-operator/tests` checks every command it renders is here).
pub const STANDIN_COMMANDS: &[(&str, &[&str])] = &[
    ("cli", &["/usr/bin/oc"]),
    ("cluster-config-api", &["/usr/bin/render"]),
    ("cluster-version-operator", &["/usr/bin/cluster-version-operator"]),
    ("etcd", &["/usr/bin/etcd"]),
    ("hyperkube", &["/usr/bin/hyperkube"]),
    ("machine-config-operator", &["/usr/bin/machine-config-operator"]),
    (
        "operator-lifecycle-manager",
        &[
            "/bin/catalog",
            "/bin/olm",
            "/bin/package-server",
            "/bin/copy-content",
        ],
    ),
    ("operator-registry", &["/bin/opm"]),
    (PAYLOAD, &["/usr/bin/cluster-version-operator"]),
];

/// [`STANDIN_COMMANDS`]' name for the release payload image.
pub const PAYLOAD: &str = "release";

/// Where `cargo xtask images` exports the OCI layouts.
pub fn oci_dir() -> PathBuf {
    crate::workspace_root().join("target/images/oci")
}

/// The two images `cargo xtask images` built.
#[derive(Debug, Clone)]
pub struct BaseImages {
    pub hypershift: ImageBlob,
    pub standin: ImageBlob,
}

impl BaseImages {
    /// Reads them from [`oci_dir`].
    ///
    /// # Errors
    /// When a layout is missing or malformed; the message says to run `cargo xtask images`.
    pub fn load() -> Result<Self> {
        let read = |name: &str| {
            let dir = oci_dir().join(name);
            read_oci_layout(&dir).with_context(|| {
                format!(
                    "the {name} image's OCI layout {} cannot be read: run `cargo xtask images` (`cargo xtask test` does)",
                    dir.display()
                )
            })
        };
        Ok(Self {
            hypershift: read("hypershift")?,
            standin: read("standin")?,
        })
    }
}

fn layer_media_type(media_type: &str) -> Result<&'static str> {
    Ok(match media_type {
        "application/vnd.oci.image.layer.v1.tar" => "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip" => "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd" => "application/vnd.oci.image.layer.v1.tar+zstd",
        other => bail!("unsupported layer media type {other:?}"),
    })
}

/// The image an OCI layout's `index.json` names first, its blobs as stored (each checked against
/// its digest).
///
/// # Errors
/// A missing file, a blob whose content does not match its digest, or an unknown layer type.
pub fn read_oci_layout(dir: &Path) -> Result<ImageBlob> {
    let blob = |digest: &str| -> Result<Vec<u8>> {
        let hex = digest
            .strip_prefix("sha256:")
            .with_context(|| format!("not a sha256 digest: {digest:?}"))?;
        let path = dir.join("blobs/sha256").join(hex);
        let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if sha256_digest(&data) != digest {
            bail!("{} does not match its digest", path.display());
        }
        Ok(data)
    };
    let index: Value = serde_json::from_slice(
        &std::fs::read(dir.join("index.json"))
            .with_context(|| format!("reading {}/index.json", dir.display()))?,
    )?;
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .context("index.json names no manifest")?
        .to_owned();
    let manifest_bytes = blob(&digest)?;
    let manifest: Value = serde_json::from_slice(&manifest_bytes)?;
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .context("the manifest names no config")?
        .to_owned();
    let config = blob(&config_digest)?;
    let architecture = serde_json::from_slice::<Value>(&config)?["architecture"]
        .as_str()
        .unwrap_or("amd64")
        .to_owned();
    let mut layers = Vec::new();
    for l in manifest["layers"]
        .as_array()
        .context("the manifest has no layers")?
    {
        let digest = l["digest"]
            .as_str()
            .context("a layer without a digest")?
            .to_owned();
        layers.push(Layer {
            data: blob(&digest)?,
            media_type: layer_media_type(l["mediaType"].as_str().unwrap_or_default())?,
            digest,
        });
    }
    Ok(ImageBlob {
        manifest: manifest_bytes,
        digest,
        config,
        config_digest,
        layers,
        architecture,
    })
}

/// One entry of a layer.
enum Entry<'a> {
    File(&'a str, &'a [u8]),
    /// A symbolic link at the path to the target.
    Link(&'a str, &'a str),
}

/// A gzip layer of `entries` with fixed metadata (mtime 0, root, 0644), and its diff ID (the
/// digest of the uncompressed tar, which an image config's `rootfs` lists).
fn layer(entries: &[Entry<'_>]) -> (Layer, String) {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match entry {
            Entry::File(path, content) => {
                header.set_size(content.len() as u64);
                header.set_mode(0o644);
                header.set_entry_type(tar::EntryType::Regular);
                header.set_cksum();
                builder.append_data(&mut header, path, *content)
            }
            Entry::Link(path, target) => {
                header.set_size(0);
                header.set_mode(0o777);
                header.set_entry_type(tar::EntryType::Symlink);
                builder.append_link(&mut header, path, target)
            }
        }
        .expect("append to an in-memory tar");
    }
    let tar = builder.into_inner().expect("finish an in-memory tar");
    let diff_id = sha256_digest(&tar);
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    e.write_all(&tar).expect("gzip in memory");
    let data = e.finish().expect("gzip in memory");
    (
        Layer {
            digest: sha256_digest(&data),
            data,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        },
        diff_id,
    )
}

/// `base` with one more layer of `files` and `links`, and `labels` added to its config.
pub(crate) fn extend(
    base: &ImageBlob,
    files: &[(&str, &[u8])],
    links: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> Result<ImageBlob> {
    let entries: Vec<Entry<'_>> = files
        .iter()
        .map(|(p, c)| Entry::File(p, c))
        .chain(links.iter().map(|(p, t)| Entry::Link(p, t)))
        .collect();
    let (new, diff_id) = layer(&entries);
    let mut config: Value = serde_json::from_slice(&base.config)?;
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .context("the base config has no diff_ids")?
        .push(json!(diff_id));
    let existing = config["config"]["Labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut merged: BTreeMap<String, Value> = existing.into_iter().collect();
    merged.extend(labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))));
    config["config"]["Labels"] = json!(merged);
    let mut layers = base.layers.clone();
    layers.push(new);
    Ok(ImageBlob::from_config(
        serde_json::to_vec(&config)?,
        layers,
        &base.architecture,
    ))
}

/// A component image on the stand-in: `name`'s command links, its name, and `files`.
pub(crate) fn standin_component(
    standin: &ImageBlob,
    name: &str,
    files: &[(&str, &[u8])],
    labels: &[(&str, &str)],
) -> Result<ImageBlob> {
    let commands = STANDIN_COMMANDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .with_context(|| format!("no stand-in commands for {name}"))?;
    let links: Vec<(&str, &str)> = commands
        .iter()
        .map(|c| (c.trim_start_matches('/'), "/usr/bin/standin"))
        .collect();
    let mut all: Vec<(&str, &[u8])> = vec![("etc/standin/component", name.as_bytes())];
    all.extend_from_slice(files);
    extend(standin, &all, &links, labels)
}
