//! The bottom of the chain: answers a [`Query`] for exactly the reference it is given, with
//! oci-client. No mirrors, no cache.
//!
//! - Manifests are fetched raw and parsed here: Docker schema 2 and OCI manifests, Docker
//!   manifest lists and OCI indexes (resolved to the configured platform, linux/amd64 by default).
//! - TLS: the system roots plus an optional extra CA bundle (the mirrors' CA). HTTPS only, as
//!   HyperShift: no plain-HTTP fallback.
//! - Credentials come from the pull secret, chosen per registry and repository.
//! - One oci-client per (pull secret, registry, `auths` key): oci-client keeps one credential per
//!   registry, so clients are never shared across secrets or across differently scoped keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciDescriptor,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;

use crate::layers::{Found, UnderDir, read_layer};
use crate::release::{COREOS_BOOTIMAGES, IMAGE_REFERENCES};
use crate::{
    Answer, ImageConfig, ImageRef, LookupError, PullSecret, Query, ReleaseImage, ReleaseProvider, Served,
};

/// A platform to pick from manifest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            os: "linux".into(),
            architecture: "amd64".into(),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

/// Settings of [`OciRegistry`].
#[derive(Debug, Clone)]
pub struct OciConfig {
    /// PEM certificates trusted besides the system roots (the mirror registries' CA).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// The platform picked from manifest lists.
    pub platform: Platform,
    /// Bound on TCP connect and TLS handshake: a registry that accepts connections but never
    /// answers is noticed this fast.
    pub connect_timeout: Duration,
    /// Bound on each read.
    pub read_timeout: Duration,
    /// Layers larger than this are not read (a release payload's manifests layer is small).
    pub max_layer_bytes: u64,
}

impl Default for OciConfig {
    fn default() -> Self {
        Self {
            extra_ca_pem: None,
            platform: Platform::default(),
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(10),
            max_layer_bytes: 512 * 1024 * 1024,
        }
    }
}

/// (pull-secret fingerprint, registry, chosen `auths` key).
type ClientKey = ([u8; 32], String, String);

/// Reads images from registries with oci-client.
pub struct OciRegistry {
    config: OciConfig,
    /// Clients by (pull-secret fingerprint, registry, chosen `auths` key). The lock is held only
    /// to find or insert a client, never while one is built.
    clients: Arc<Mutex<HashMap<ClientKey, Arc<Client>>>>,
}

impl std::fmt::Debug for OciRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciRegistry")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

const MANIFEST_TYPES: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<IndexEntry>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<IndexPlatform>,
}

#[derive(Deserialize)]
struct IndexPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: i64,
}

impl Descriptor {
    fn oci(&self) -> OciDescriptor {
        OciDescriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            ..OciDescriptor::default()
        }
    }
}

/// An image manifest for one platform, and the digest the reference itself names.
struct Resolved {
    digest: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

impl OciRegistry {
    /// A registry reader with `config`.
    pub fn new(config: OciConfig) -> Self {
        Self {
            config,
            clients: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The client for `registry` read with `secret`'s `auth_key`, built on first use.
    ///
    /// Building one parses its trusted roots (the system's are read from disk once per process,
    /// [`system_roots`]), so it happens on the blocking pool and outside the lock: the attempts of one
    /// lookup to several registries build their clients at the same time instead of one after
    /// another on the same task. A build whose attempt was cancelled still finishes (it is
    /// bounded) and lands in the map for the next lookup.
    async fn client(&self, secret: &PullSecret, registry: &str, auth_key: &str) -> Arc<Client> {
        let key = (secret.fingerprint(), registry.to_owned(), auth_key.to_owned());
        if let Some(client) = lock(&self.clients).get(&key) {
            return Arc::clone(client);
        }
        let (config, clients, k) = (self.client_config(), Arc::clone(&self.clients), key.clone());
        let build = move || {
            let client = Arc::new(Client::new(config));
            Arc::clone(lock(&clients).entry(k).or_insert(client))
        };
        match tokio::task::spawn_blocking(build).await {
            Ok(client) => client,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: build it here.
            Err(_) => {
                let client = Arc::new(Client::new(self.client_config()));
                Arc::clone(lock(&self.clients).entry(key).or_insert(client))
            }
        }
    }

    fn client_config(&self) -> ClientConfig {
        let extra: Vec<Certificate> = self
            .config
            .extra_ca_pem
            .as_deref()
            .map(split_pem)
            .unwrap_or_default()
            .into_iter()
            .map(|data| Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            })
            .collect();
        let system = system_roots();
        // With the system's roots read once per process, each client gets them as its only roots
        // (plus ours) and does not read and parse the system bundle again; without any (a
        // minimal image), reqwest's own default applies.
        let (tls_certs_only, extra_root_certificates) = if system.is_empty() {
            (Vec::new(), extra)
        } else {
            (system.iter().cloned().chain(extra).collect(), Vec::new())
        };
        ClientConfig {
            protocol: ClientProtocol::Https,
            tls_certs_only,
            extra_root_certificates,
            // Lists are resolved here, with a precise error when the platform is missing.
            platform_resolver: None,
            connect_timeout: Some(self.config.connect_timeout),
            read_timeout: Some(self.config.read_timeout),
            ..ClientConfig::default()
        }
    }

    async fn resolve_manifest(
        &self,
        client: &Client,
        image: &ImageRef,
        reference: &Reference,
        auth: &RegistryAuth,
    ) -> Result<Resolved, LookupError> {
        let oci_err = |e: &oci_client::errors::OciDistributionError| {
            LookupError::from_oci(image.as_str(), image.registry(), e, auth)
        };
        let (body, digest) = client
            .pull_manifest_raw(reference, auth, MANIFEST_TYPES)
            .await
            .map_err(|e| oci_err(&e))?;
        let manifest = parse_manifest(image, &body)?;
        let Some(entries) = manifest.manifests else {
            return image_manifest(image, digest, manifest);
        };
        let platform = &self.config.platform;
        let entry = entries.iter().find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os == platform.os && p.architecture == platform.architecture)
        });
        let Some(entry) = entry else {
            let available = entries
                .iter()
                .filter_map(|e| {
                    e.platform
                        .as_ref()
                        .map(|p| format!("{}/{}", p.os, p.architecture))
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(LookupError::NoPlatform {
                image: image.to_string(),
                platform: platform.to_string(),
                available,
            });
        };
        let child = reference.clone_with_digest(entry.digest.clone());
        let (body, _) = client
            .pull_manifest_raw(&child, auth, MANIFEST_TYPES)
            .await
            .map_err(|e| oci_err(&e))?;
        let child_manifest = parse_manifest(image, &body)?;
        if child_manifest.manifests.is_some() {
            return Err(payload_error(
                image,
                "a manifest list entry is itself a manifest list",
            ));
        }
        image_manifest(image, digest, child_manifest)
    }

    async fn blob(
        &self,
        client: &Client,
        image: &ImageRef,
        reference: &Reference,
        auth: &RegistryAuth,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>, LookupError> {
        if u64::try_from(descriptor.size).unwrap_or(u64::MAX) > self.config.max_layer_bytes {
            return Err(payload_error(
                image,
                &format!(
                    "blob {} is {} bytes, more than the {} bytes read",
                    descriptor.digest, descriptor.size, self.config.max_layer_bytes
                ),
            ));
        }
        let mut out = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
        client
            .pull_blob(reference, &descriptor.oci(), &mut out)
            .await
            .map_err(|e| LookupError::from_oci(image.as_str(), image.registry(), &e, auth))?;
        Ok(out)
    }

    async fn release(
        &self,
        client: &Client,
        image: &ImageRef,
        reference: &Reference,
        auth: &RegistryAuth,
        layers: &[Descriptor],
    ) -> Result<ReleaseImage, LookupError> {
        let wanted = [IMAGE_REFERENCES, COREOS_BOOTIMAGES];
        let mut found = Found::new();
        for layer in layers.iter().rev() {
            let blob = self.blob(client, image, reference, auth, layer).await?;
            let more = read_layer(&blob, wanted.as_slice(), &found)
                .map_err(|e| payload_error(image, &format!("layer {}: {e}", layer.digest)))?;
            found.extend(more);
            if found.len() == wanted.len() {
                break;
            }
        }
        let file = |name: &str| {
            found
                .get(name)
                .ok_or_else(|| payload_error(image, &format!("{name} not found in the release image")))
        };
        ReleaseImage::from_files(file(IMAGE_REFERENCES)?, file(COREOS_BOOTIMAGES)?)
            .map_err(|e| payload_error(image, &e.to_string()))
    }
}

impl OciRegistry {
    /// Every regular file under `dir`, the topmost layer's copy of each path. All layers are
    /// read: a lower layer may hold files no upper one has.
    async fn files_under(
        &self,
        client: &Client,
        image: &ImageRef,
        reference: &Reference,
        auth: &RegistryAuth,
        layers: &[Descriptor],
        dir: &str,
    ) -> Result<Found, LookupError> {
        let mut found = Found::new();
        for layer in layers.iter().rev() {
            let blob = self.blob(client, image, reference, auth, layer).await?;
            let more = read_layer(&blob, &UnderDir(dir), &found)
                .map_err(|e| payload_error(image, &format!("layer {}: {e}", layer.digest)))?;
            found.extend(more);
        }
        Ok(found)
    }
}

impl ReleaseProvider for OciRegistry {
    async fn fetch(
        &self,
        query: Query,
        image: &ImageRef,
        secret: &PullSecret,
    ) -> Result<Served<Answer>, LookupError> {
        let (auth_key, auth) = match secret.matching_key(image.registry(), image.repository()) {
            Some((key, c)) => (key, RegistryAuth::Basic(c.username.clone(), c.password.clone())),
            None => ("", RegistryAuth::Anonymous),
        };
        let client = self.client(secret, image.registry(), auth_key).await;
        self.read(query, image, &client, &auth)
            .await
            .map_err(|e| e.without_credentials(&auth))
    }
}

impl OciRegistry {
    /// Answers `query` for `image` with `client`, authenticated by `auth`.
    async fn read(
        &self,
        query: Query,
        image: &ImageRef,
        client: &Client,
        auth: &RegistryAuth,
    ) -> Result<Served<Answer>, LookupError> {
        let reference = reference(image);
        let resolved = self.resolve_manifest(client, image, &reference, auth).await?;
        let value = match query {
            Query::Digest => Answer::Digest,
            Query::Config => {
                let blob = self
                    .blob(client, image, &reference, auth, &resolved.config)
                    .await?;
                Answer::Config(Arc::new(
                    ImageConfig::parse(&blob).map_err(|e| payload_error(image, &e))?,
                ))
            }
            Query::Release => Answer::Release(
                self.release(client, image, &reference, auth, &resolved.layers)
                    .await?,
            ),
            Query::Files(dir) => Answer::Files(Arc::new(
                self.files_under(client, image, &reference, auth, &resolved.layers, dir)
                    .await?,
            )),
        };
        Ok(Served {
            value,
            pulled_from: image.to_string(),
            digest: resolved.digest,
            via_mirror: false,
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn reference(image: &ImageRef) -> Reference {
    let (registry, repository) = (image.registry().to_owned(), image.repository().to_owned());
    match (image.tag(), image.digest()) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag.into(), digest.into())
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.into()),
        (tag, None) => Reference::with_tag(registry, repository, tag.unwrap_or("latest").into()),
    }
}

fn parse_manifest(image: &ImageRef, body: &[u8]) -> Result<RawManifest, LookupError> {
    let manifest: RawManifest = serde_json::from_slice(body)
        .map_err(|e| payload_error(image, &format!("manifest is not JSON: {e}")))?;
    if let Some(media_type) = &manifest.media_type
        && !MANIFEST_TYPES.contains(&media_type.as_str())
    {
        return Err(payload_error(
            image,
            &format!("unsupported manifest media type {media_type}"),
        ));
    }
    Ok(manifest)
}

fn image_manifest(image: &ImageRef, digest: String, manifest: RawManifest) -> Result<Resolved, LookupError> {
    let config = manifest
        .config
        .ok_or_else(|| payload_error(image, "the manifest has no config"))?;
    Ok(Resolved {
        digest,
        config,
        layers: manifest.layers,
    })
}

fn payload_error(image: &ImageRef, detail: &str) -> LookupError {
    LookupError::Payload {
        image: image.to_string(),
        detail: detail.to_owned(),
    }
}

/// Each certificate of a PEM bundle on its own (reqwest reads one certificate per PEM blob).
fn split_pem(bundle: &[u8]) -> Vec<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(bundle);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(BEGIN) {
        let Some(end) = rest[start..].find(END) else { break };
        let end = start + end + END.len();
        out.push(format!("{}\n", &rest[start..end]).into_bytes());
        rest = &rest[end..];
    }
    out
}

/// The system's trusted roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` or the distribution's bundle), read
/// once per process. Building a client used to read and parse them every time (13–23 ms each
/// here), which a first lookup across several mirrors paid once per registry.
fn system_roots() -> &'static [Certificate] {
    static ROOTS: std::sync::OnceLock<Vec<Certificate>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|der| Certificate {
                encoding: CertificateEncoding::Der,
                data: der.to_vec(),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bundles_are_split_per_certificate() {
        let bundle = b"junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let certs = split_pem(bundle);
        assert_eq!(certs.len(), 2);
        assert!(String::from_utf8_lossy(&certs[1]).contains("BBB"));
        assert!(split_pem(b"no certificates").is_empty());
    }

    #[test]
    fn references_keep_tag_and_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = reference(&ImageRef::parse(&format!("127.0.0.1:5000/a/b:t@{d}")).unwrap());
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "a/b");
        assert_eq!(r.digest(), Some(d.as_str()));
        assert_eq!(
            reference(&ImageRef::parse("q.invalid/x").unwrap()).tag(),
            Some("latest")
        );
    }
}
