//! A synthetic OpenShift release payload, built byte-for-byte here so every digest is
//! reproducible, and pushed with oci-client in oc-mirror v2's layout:
//! the payload in `<mirror>/openshift/release-images:<version>-x86_64`, the components in
//! `<mirror>/openshift/release:<version>-x86_64-<component>`.
//!
//! The payload's `image-references` names every component by digest under
//! `quay.invalid/openshift-release-dev/ocp-v4.0-art-dev`, as a real payload names quay.io: a
//! pull that bypasses the mirrors fails at DNS and never leaves the machine.

use std::collections::BTreeMap;
use std::io::Write as _;

use hypershift_api::openshift::{ImageStream, ImageStreamSpec, TagFrom, TagReference};
use hypershift_mirrors::sha256_digest;
use oci_client::Reference;
use oci_client::client::Client;
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use serde_json::json;

use crate::TestRegistry;
use crate::images::BaseImages;
use hypershift_releaseinfo::Compression;
use hypershift_releaseinfo::{COREOS_BOOTIMAGES, IMAGE_REFERENCES};

/// Where a real payload's release image lives (here under `.invalid`).
pub const SOURCE_RELEASE: &str = "quay.invalid/openshift-release-dev/ocp-release";
/// Where a real payload's component images live (here under `.invalid`).
pub const SOURCE_COMPONENTS: &str = "quay.invalid/openshift-release-dev/ocp-v4.0-art-dev";

/// One layer blob.
#[derive(Debug, Clone)]
pub struct Layer {
    pub data: Vec<u8>,
    pub digest: String,
    pub media_type: &'static str,
}

/// An image: manifest, config and layers, with their digests.
#[derive(Debug, Clone)]
pub struct ImageBlob {
    pub manifest: Vec<u8>,
    pub digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layers: Vec<Layer>,
    pub architecture: String,
}

/// An OCI index over several images.
#[derive(Debug, Clone)]
pub struct IndexBlob {
    pub manifest: Vec<u8>,
    pub digest: String,
    pub children: Vec<ImageBlob>,
}

/// A tar of `files` with fixed metadata (mtime 0, root, 0644), so it is reproducible.
fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder
            .append_data(&mut header, path, *content)
            .expect("append to an in-memory tar");
    }
    builder.into_inner().expect("finish an in-memory tar")
}

fn layer(files: &[(&str, &[u8])], compression: Compression) -> Layer {
    let tar = tar(files);
    let (data, media_type) = match compression {
        Compression::None => (tar, "application/vnd.oci.image.layer.v1.tar"),
        Compression::Gzip => {
            // mtime 0 in the gzip header: reproducible.
            let mut e = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::default());
            e.write_all(&tar).expect("gzip in memory");
            (
                e.finish().expect("gzip in memory"),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        Compression::Zstd => (
            ruzstd::encoding::compress_to_vec(tar.as_slice(), ruzstd::encoding::CompressionLevel::Fastest),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    };
    Layer {
        digest: sha256_digest(&data),
        data,
        media_type,
    }
}

impl ImageBlob {
    /// An image with one layer per entry of `layers` (bottom first) and config `labels`.
    pub fn build(
        layers: &[&[(&str, &[u8])]],
        labels: &[(&str, &str)],
        compression: Compression,
        architecture: &str,
    ) -> Self {
        let layers: Vec<Layer> = layers.iter().map(|files| layer(files, compression)).collect();
        Self::from_layers(layers, labels, architecture)
    }

    /// An image from prepared layer blobs (which may be anything, for fault tests). Not
    /// runnable: its config lists the layers' own digests as diff IDs (what our readers never
    /// check); [`SyntheticRelease::runnable`] builds images a container runtime accepts.
    pub fn from_layers(layers: Vec<Layer>, labels: &[(&str, &str)], architecture: &str) -> Self {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let config = serde_json::to_vec(&json!({
            "architecture": architecture,
            "os": "linux",
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>()},
        }))
        .expect("serialise a config");
        Self::from_config(config, layers, architecture)
    }

    /// An image of `config` and `layers` (an OCI manifest over them).
    pub fn from_config(config: Vec<u8>, layers: Vec<Layer>, architecture: &str) -> Self {
        let config_digest = sha256_digest(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_MEDIA_TYPE,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers.iter().map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.data.len()})).collect::<Vec<_>>(),
        }))
        .expect("serialise a manifest");
        Self {
            digest: sha256_digest(&manifest),
            manifest,
            config,
            config_digest,
            layers,
            architecture: architecture.to_owned(),
        }
    }
}

impl IndexBlob {
    /// An OCI index over `children` (linux, their own architectures).
    pub fn build(children: Vec<ImageBlob>) -> Self {
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE,
            "manifests": children.iter().map(|c| json!({
                "mediaType": OCI_IMAGE_MEDIA_TYPE,
                "digest": c.digest,
                "size": c.manifest.len(),
                "platform": {"architecture": c.architecture, "os": "linux"},
            })).collect::<Vec<_>>(),
        }))
        .expect("serialise an index");
        Self {
            digest: sha256_digest(&manifest),
            manifest,
            children,
        }
    }
}

/// A release payload and its components.
#[derive(Debug, Clone)]
pub struct SyntheticRelease {
    pub version: String,
    /// Component name → image.
    pub components: BTreeMap<String, ImageBlob>,
    /// The payload for linux/amd64.
    pub release: ImageBlob,
    /// An index over amd64 and arm64 payloads, for multi-arch releases.
    pub index: Option<IndexBlob>,
}

/// The component names of the synthetic payload.
pub const COMPONENTS: &[&str] = &[
    "cli",
    "cluster-config-api",
    "cluster-version-operator",
    "etcd",
    "hypershift",
    "hyperkube",
    "machine-config-operator",
    "operator-lifecycle-manager",
    "operator-registry",
];

impl SyntheticRelease {
    /// A single-architecture release with gzip layers.
    pub fn new(version: &str) -> Self {
        Self::build(version, Compression::Gzip, false)
    }

    /// A release with `compression` for the payload's layers; `multi_arch` adds an arm64
    /// payload and an index over both.
    pub fn build(version: &str, compression: Compression, multi_arch: bool) -> Self {
        let components: BTreeMap<String, ImageBlob> = COMPONENTS
            .iter()
            .map(|name| ((*name).to_owned(), component(name, version)))
            .collect();
        let references = image_references(version, &components);
        let bootimages = bootimages(version);
        let payload = |arch: &str| {
            ImageBlob::build(
                &[
                    &[("etc/os-release", b"ID=synthetic\n")],
                    &[
                        (IMAGE_REFERENCES, references.as_slice()),
                        (COREOS_BOOTIMAGES, bootimages.as_bytes()),
                    ],
                ],
                &[
                    ("io.openshift.release", version),
                    ("io.openshift.release.arch", arch),
                ],
                compression,
                arch,
            )
        };
        let release = payload("amd64");
        let index = multi_arch.then(|| IndexBlob::build(vec![release.clone(), payload("arm64")]));
        Self {
            version: version.to_owned(),
            components,
            release,
            index,
        }
    }

    /// A release of runnable images ([`crate::images`]): `hypershift` is our image, every other
    /// component the stand-in with its own layer, the payload the stand-in with the release
    /// manifests. Single-architecture (amd64).
    ///
    /// # Errors
    /// When the base images cannot be read (see [`BaseImages::load`]).
    pub fn runnable(version: &str, base: &BaseImages) -> anyhow::Result<Self> {
        let labels = |name: &'static str| {
            [
                ("io.openshift.build.component", name),
                ("io.openshift.release", version),
            ]
        };
        let mut components = BTreeMap::new();
        for name in COMPONENTS {
            let image = if *name == "hypershift" {
                base.hypershift.clone()
            } else {
                let templates = if *name == "machine-config-operator" {
                    mco_templates()
                } else {
                    Vec::new()
                };
                let files: Vec<(&str, &[u8])> = templates
                    .iter()
                    .map(|(p, c)| (p.as_str(), c.as_slice()))
                    .collect();
                crate::images::standin_component(&base.standin, name, &files, &labels(name))?
            };
            components.insert((*name).to_owned(), image);
        }
        let references = image_references(version, &components);
        let bootimages = bootimages(version);
        let release = crate::images::standin_component(
            &base.standin,
            crate::images::PAYLOAD,
            &[
                (IMAGE_REFERENCES, references.as_slice()),
                (COREOS_BOOTIMAGES, bootimages.as_bytes()),
                // What the cluster-version-operator's init container copies out.
                (
                    "manifests/0000_00_cluster-version-operator_00_namespace.yaml",
                    RELEASE_MANIFEST.as_bytes(),
                ),
            ],
            &[
                ("io.openshift.release", version),
                ("io.openshift.release.arch", "amd64"),
            ],
        )?;
        Ok(Self {
            version: version.to_owned(),
            components,
            release,
            index: None,
        })
    }

    /// The digest the release reference names (the index's when multi-arch).
    pub fn digest(&self) -> &str {
        self.index.as_ref().map_or(&self.release.digest, |i| &i.digest)
    }

    /// The tag oc-mirror gives the payload.
    pub fn tag(&self) -> String {
        format!("{}-x86_64", self.version)
    }

    /// `quay.invalid/openshift-release-dev/ocp-release@sha256:…`, what a HostedCluster names.
    pub fn source_reference(&self) -> String {
        format!("{SOURCE_RELEASE}@{}", self.digest())
    }

    /// A component's pull spec as the payload names it.
    ///
    /// # Panics
    /// For a name not in [`COMPONENTS`].
    pub fn component_source(&self, name: &str) -> String {
        format!("{SOURCE_COMPONENTS}@{}", self.components[name].digest)
    }

    /// The mirror repository of the payload on `host`.
    pub fn mirror_release_repo(host: &str) -> String {
        format!("{host}/openshift/release-images")
    }

    /// The mirror repository of the components on `host`.
    pub fn mirror_components_repo(host: &str) -> String {
        format!("{host}/openshift/release")
    }

    /// What oc-mirror v2 writes for this mirror: an IDMS mapping both source repositories.
    pub fn idms_yaml(name: &str, host: &str, never_contact_source: bool) -> String {
        let policy = if never_contact_source {
            "\n    mirrorSourcePolicy: NeverContactSource"
        } else {
            ""
        };
        format!(
            "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: {name}\nspec:\n  imageDigestMirrors:\n\
             \x20 - source: {SOURCE_RELEASE}\n    mirrors:\n    - {}{policy}\n\
             \x20 - source: {SOURCE_COMPONENTS}\n    mirrors:\n    - {}{policy}\n",
            Self::mirror_release_repo(host),
            Self::mirror_components_repo(host),
        )
    }

    /// The management mirrors of [`Self::idms_yaml`] (`NeverContactSource`) on `host`.
    ///
    /// # Panics
    /// Never for this fixed document (a panic would be a bug in it).
    pub fn management_mirrors(host: &str) -> hypershift_mirrors::ManagementMirrors {
        let mut b = hypershift_mirrors::MirrorSetBuilder::new();
        for doc in hypershift_mirrors::parse_documents(&Self::idms_yaml("release-mirror", host, true))
            .expect("the fixture parses")
        {
            b.add_document(&doc).expect("the fixture is valid");
        }
        b.build()
    }

    /// `OPENSHIFT_IMG_OVERRIDES` as the hypershift-operator renders it for those mirrors.
    pub fn image_overrides_env(host: &str) -> String {
        Self::management_mirrors(host).to_image_overrides().to_env()
    }

    /// Pushes the payload and its components into `registry` in oc-mirror v2's layout.
    pub async fn push(&self, registry: &TestRegistry) -> Result<(), OciDistributionError> {
        self.push_to(&registry.push_client(), &registry.auth(), &registry.host)
            .await
    }

    /// Pushes into `host` with `client` and `auth`.
    pub async fn push_to(
        &self,
        client: &Client,
        auth: &RegistryAuth,
        host: &str,
    ) -> Result<(), OciDistributionError> {
        let components = Self::mirror_components_repo(host);
        for (name, image) in &self.components {
            push_image(
                client,
                auth,
                &components,
                image,
                Some(&format!("{}-{name}", self.tag())),
            )
            .await?;
        }
        let release = Self::mirror_release_repo(host);
        match &self.index {
            Some(index) => push_index(client, auth, &release, index, Some(&self.tag())).await,
            None => push_image(client, auth, &release, &self.release, Some(&self.tag())).await,
        }
    }
}

/// Where the scenarios mirror the OLM catalog indexes: `<host>/redhat`, named by the
/// `olm-catalogs-is-registry-overrides` annotation `registry.redhat.io/redhat=<host>/redhat`
/// (the default catalog registry is never contacted).
pub fn catalog_mirror(host: &str) -> String {
    format!("{host}/redhat")
}

/// The annotation value pointing the default catalog registry at [`catalog_mirror`].
pub fn catalog_overrides(host: &str) -> String {
    format!("registry.redhat.io/redhat={}", catalog_mirror(host))
}

/// A synthetic catalog's file-based catalog (`configs/synthetic/catalog.json`).
fn catalog_json(repository: &str, tag: &str) -> String {
    format!(
        "{{\"schema\":\"olm.package\",\"name\":\"synthetic-{repository}\",\"defaultChannel\":\"stable\",\"description\":\"{tag}\"}}\n"
    )
}

/// The label naming where an index image keeps its file-based catalog.
const CATALOG_CONFIGS_LABEL: (&str, &str) = ("operators.operatorframework.io.index.configs.v1", "/configs");

/// A synthetic catalog index image: a file-based catalog under `configs/` (blobs only: nothing
/// in it runs; [`runnable_catalog_image`] is the one a pod can start).
pub fn catalog_image(repository: &str, tag: &str) -> ImageBlob {
    let catalog = catalog_json(repository, tag);
    ImageBlob::build(
        &[&[("configs/synthetic/catalog.json", catalog.as_bytes())]],
        &[CATALOG_CONFIGS_LABEL],
        Compression::Gzip,
        "amd64",
    )
}

/// [`catalog_image`]'s catalog on the stand-in, runnable: `/bin/opm` is the stand-in (so `opm
/// serve` answers the catalog pod's gRPC-port probes) and the stand-in's libraries are there for
/// the `copy-content` the catalog pod copies in.
///
/// # Errors
/// When the stand-in image's config is malformed.
pub fn runnable_catalog_image(standin: &ImageBlob, repository: &str, tag: &str) -> anyhow::Result<ImageBlob> {
    let catalog = catalog_json(repository, tag);
    crate::images::extend(
        standin,
        &[
            ("etc/standin/component", repository.as_bytes()),
            ("configs/synthetic/catalog.json", catalog.as_bytes()),
        ],
        &[("bin/opm", "/usr/bin/standin")],
        &[CATALOG_CONFIGS_LABEL],
    )
}

/// Pushes catalog index `repository` (`redhat-operator-index`) at each of `tags` (`v4.22`)
/// under [`catalog_mirror`]; returns each tag's digest.
///
/// # Errors
/// When the registry refuses a push.
pub async fn push_catalog(
    registry: &TestRegistry,
    repository: &str,
    tags: &[&str],
) -> Result<Vec<String>, OciDistributionError> {
    let mut digests = Vec::new();
    for tag in tags {
        let image = catalog_image(repository, tag);
        push_catalog_image(registry, repository, tag, &image).await?;
        digests.push(image.digest);
    }
    Ok(digests)
}

/// Pushes `image` as catalog index `repository:tag` under [`catalog_mirror`].
///
/// # Errors
/// When the registry refuses a push.
pub async fn push_catalog_image(
    registry: &TestRegistry,
    repository: &str,
    tag: &str,
    image: &ImageBlob,
) -> Result<(), OciDistributionError> {
    let repo = format!("{}/{repository}", catalog_mirror(&registry.host));
    push_image(&registry.push_client(), &registry.auth(), &repo, image, Some(tag)).await
}

/// The synthetic machine-config-operator image's templates (under `etc/mcc/templates/`).
pub const MCO_TEMPLATES: &[(&str, &str)] = &[
    (
        "common/_base/files/hypershift-release.yaml",
        "mode: 420\npath: /etc/hypershift/release\ncontents:\n  inline: |\n    version={{.ReleaseVersion}}\n    image={{.ReleaseImage}}\n    nodePool={{.NodePool}}\n",
    ),
    (
        "worker/00-worker/_base/files/cli-image.yaml",
        "mode: \"0644\"\npath: /etc/hypershift/cli-image\ncontents:\n  inline: \"{{ .Images.cli }}\"\n",
    ),
    (
        "worker/00-worker/_base/units/kubelet.service.yaml",
        "name: kubelet.service\nenabled: true\ncontents: |\n  [Unit]\n  Description=Kubelet {{.ReleaseVersion}}\n  [Service]\n  ExecStart=/usr/bin/kubelet\n  [Install]\n  WantedBy=multi-user.target\n",
    ),
    (
        "master/00-master/_base/files/master-only.yaml",
        "path: /etc/hypershift/master-only\n",
    ),
];

/// The payload's one manifest (runnable releases).
const RELEASE_MANIFEST: &str =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: openshift-cluster-version\n";

/// Templates in the MCO's layout and the ignition server's format (its templates module), using
/// every kind of placeholder.
fn mco_templates() -> Vec<(String, Vec<u8>)> {
    MCO_TEMPLATES
        .iter()
        .map(|(path, content)| (format!("etc/mcc/templates/{path}"), content.as_bytes().to_vec()))
        .collect()
}

fn component(name: &str, version: &str) -> ImageBlob {
    let binary = format!("#!/bin/sh\necho {name} {version}\n");
    let mut files: Vec<(String, Vec<u8>)> = vec![(format!("usr/bin/{name}"), binary.into_bytes())];
    if name == "machine-config-operator" {
        files.extend(mco_templates());
    }
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    ImageBlob::build(
        &[&files],
        &[
            ("io.openshift.build.component", name),
            ("io.openshift.release", version),
        ],
        Compression::Gzip,
        "amd64",
    )
}

fn image_references(version: &str, components: &BTreeMap<String, ImageBlob>) -> Vec<u8> {
    let mut stream = ImageStream::new(
        version,
        ImageStreamSpec {
            tags: components
                .iter()
                .map(|(name, image)| TagReference {
                    name: name.clone(),
                    annotations: Some(BTreeMap::from([(
                        "io.openshift.build.versions".into(),
                        format!("{name}={version}"),
                    )])),
                    from: Some(TagFrom {
                        kind: "DockerImage".into(),
                        name: format!("{SOURCE_COMPONENTS}@{}", image.digest),
                        namespace: None,
                    }),
                    ..TagReference::default()
                })
                .collect(),
            lookup_policy: None,
        },
    );
    stream.metadata.namespace = None;
    serde_json::to_vec_pretty(&stream).expect("serialise image-references")
}

fn bootimages(version: &str) -> String {
    let stream = json!({
        "stream": format!("rhcos-{version}"),
        "architectures": {"x86_64": {"artifacts": {"metal": {"release": format!("{version}.0"), "formats": {}}}}},
    });
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coreos-bootimages\n  namespace: openshift-machine-config-operator\ndata:\n  releaseVersion: {version}\n  stream: '{stream}'\n"
    )
}

fn reference(repository: &str, tag: Option<&str>, digest: &str) -> Reference {
    let (host, repo) = repository.split_once('/').unwrap_or((repository, ""));
    match tag {
        Some(tag) => Reference::with_tag(host.to_owned(), repo.to_owned(), tag.to_owned()),
        None => Reference::with_digest(host.to_owned(), repo.to_owned(), digest.to_owned()),
    }
}

/// Pushes one image (blobs, then the manifest by digest and, if given, by tag).
pub async fn push_image(
    client: &Client,
    auth: &RegistryAuth,
    repository: &str,
    image: &ImageBlob,
    tag: Option<&str>,
) -> Result<(), OciDistributionError> {
    let by_digest = reference(repository, None, &image.digest);
    client
        .store_auth_if_needed(by_digest.resolve_registry(), auth)
        .await;
    for layer in &image.layers {
        client
            .push_blob(&by_digest, layer.data.clone(), &layer.digest)
            .await?;
    }
    client
        .push_blob(&by_digest, image.config.clone(), &image.config_digest)
        .await?;
    let content_type = OCI_IMAGE_MEDIA_TYPE.parse().expect("a valid header value");
    client
        .push_manifest_raw(&by_digest, image.manifest.clone(), content_type)
        .await?;
    if let Some(tag) = tag {
        let content_type = OCI_IMAGE_MEDIA_TYPE.parse().expect("a valid header value");
        client
            .push_manifest_raw(
                &reference(repository, Some(tag), ""),
                image.manifest.clone(),
                content_type,
            )
            .await?;
    }
    Ok(())
}

/// Pushes an index and its children.
pub async fn push_index(
    client: &Client,
    auth: &RegistryAuth,
    repository: &str,
    index: &IndexBlob,
    tag: Option<&str>,
) -> Result<(), OciDistributionError> {
    for child in &index.children {
        push_image(client, auth, repository, child, None).await?;
    }
    for target in [reference(repository, None, &index.digest)]
        .into_iter()
        .chain(tag.map(|t| reference(repository, Some(t), "")))
    {
        let content_type = OCI_IMAGE_INDEX_MEDIA_TYPE.parse().expect("a valid header value");
        client
            .push_manifest_raw(&target, index.manifest.clone(), content_type)
            .await?;
    }
    Ok(())
}
