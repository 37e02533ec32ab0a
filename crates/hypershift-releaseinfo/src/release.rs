//! What a release payload holds, and parsing the two files read from it.
//!
//! - `release-manifests/image-references`: an `ImageStream` (JSON) whose name is the release
//!   version and whose tags map component names to pull specs.
//! - `release-manifests/0000_50_installer_coreos-bootimages.yaml`: a ConfigMap whose
//!   `data.stream` holds the CoreOS stream metadata (JSON) and, in multi-stream payloads,
//!   `data.streams` a JSON object of named streams. One of the two must be there.

use std::collections::BTreeMap;
use std::sync::Arc;

use hypershift_api::openshift::ImageStream;
use serde::Deserialize;
use serde_json::Value;

/// Path of the image references inside the payload.
pub const IMAGE_REFERENCES: &str = "release-manifests/image-references";
/// Path of the CoreOS boot images ConfigMap inside the payload.
pub const COREOS_BOOTIMAGES: &str = "release-manifests/0000_50_installer_coreos-bootimages.yaml";

/// A release payload's metadata. Cheap to clone; never mutated once built (decorators build
/// new values instead), so cached values can be shared freely.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseImage {
    image_stream: Arc<ImageStream>,
    stream_metadata: Option<Arc<Value>>,
    os_streams: Arc<BTreeMap<String, Value>>,
    /// Component name → pull spec, as the payload names them.
    canonical: Arc<BTreeMap<String, String>>,
    /// Component name → pull spec as pods will pull it (after `--registry-overrides`).
    components: Arc<BTreeMap<String, String>>,
}

/// Why the payload files could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("{IMAGE_REFERENCES} is not an ImageStream: {0}")]
    ImageReferences(String),
    #[error("{COREOS_BOOTIMAGES} is not a ConfigMap: {0}")]
    BootImagesConfigMap(String),
    #[error(
        "{COREOS_BOOTIMAGES}: coreos stream metadata configmap is missing both 'stream' and 'streams' keys"
    )]
    BootImagesMissingStream,
    #[error("{COREOS_BOOTIMAGES}: data.{key} is not JSON: {error}")]
    BootImagesStreamJson { key: &'static str, error: String },
}

#[derive(Deserialize)]
struct ConfigMapData {
    #[serde(default)]
    data: BTreeMap<String, String>,
}

impl ReleaseImage {
    /// Builds the value from the two payload files.
    pub fn from_files(image_references: &[u8], bootimages: &[u8]) -> Result<Self, PayloadError> {
        let image_stream: ImageStream = serde_json::from_slice(image_references)
            .map_err(|e| PayloadError::ImageReferences(e.to_string()))?;
        let text =
            std::str::from_utf8(bootimages).map_err(|e| PayloadError::BootImagesConfigMap(e.to_string()))?;
        let config_map: ConfigMapData = serde_saphyr::from_str(text).map_err(|e| {
            PayloadError::BootImagesConfigMap(e.to_string().lines().next().unwrap_or_default().to_owned())
        })?;
        let os_streams: BTreeMap<String, Value> = match config_map.data.get("streams") {
            Some(s) => serde_json::from_str(s).map_err(|e| PayloadError::BootImagesStreamJson {
                key: "streams",
                error: e.to_string(),
            })?,
            None => BTreeMap::new(),
        };
        let stream_metadata = match config_map.data.get("stream") {
            Some(s) => Some(Arc::new(serde_json::from_str(s).map_err(|e| {
                PayloadError::BootImagesStreamJson {
                    key: "stream",
                    error: e.to_string(),
                }
            })?)),
            None if os_streams.is_empty() => return Err(PayloadError::BootImagesMissingStream),
            None => None,
        };
        let canonical: BTreeMap<String, String> = image_stream
            .spec
            .tags
            .iter()
            .filter_map(|t| t.from.as_ref().map(|f| (t.name.clone(), f.name.clone())))
            .collect();
        let canonical = Arc::new(canonical);
        Ok(Self {
            image_stream: Arc::new(image_stream),
            stream_metadata,
            os_streams: Arc::new(os_streams),
            components: Arc::clone(&canonical),
            canonical,
        })
    }

    /// The release version (the ImageStream's name), e.g. `4.99.0`.
    pub fn version(&self) -> &str {
        self.image_stream.metadata.name.as_deref().unwrap_or_default()
    }

    /// Component name → pull spec as pods will pull it (after `--registry-overrides`).
    pub fn component_images(&self) -> &BTreeMap<String, String> {
        &self.components
    }

    /// Component name → pull spec as the payload names it.
    pub fn canonical_component_images(&self) -> &BTreeMap<String, String> {
        &self.canonical
    }

    /// The payload's ImageStream as read.
    pub fn image_stream(&self) -> &ImageStream {
        &self.image_stream
    }

    /// The default CoreOS stream metadata (`data.stream`), if the payload has one.
    pub fn stream_metadata(&self) -> Option<&Value> {
        self.stream_metadata.as_deref()
    }

    /// Named CoreOS streams (`data.streams`) of multi-stream payloads.
    pub fn os_streams(&self) -> &BTreeMap<String, Value> {
        &self.os_streams
    }

    /// A copy whose component pull specs are rewritten by `rewrite`; the canonical ones stay.
    #[must_use]
    pub fn with_rewritten_components(&self, rewrite: impl Fn(&str) -> String) -> Self {
        let components = self
            .canonical
            .iter()
            .map(|(k, v)| (k.clone(), rewrite(v)))
            .collect();
        Self {
            components: Arc::new(components),
            ..self.clone()
        }
    }
}

/// The parts of an image's config the operators read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub architecture: String,
    pub os: String,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ConfigBlob {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    config: Option<ConfigSection>,
}

#[derive(Deserialize)]
struct ConfigSection {
    #[serde(default, rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

impl ImageConfig {
    /// Parses an OCI / Docker image config blob.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let blob: ConfigBlob =
            serde_json::from_slice(bytes).map_err(|e| format!("image config is not JSON: {e}"))?;
        Ok(Self {
            architecture: blob.architecture,
            os: blob.os,
            labels: blob.config.and_then(|c| c.labels).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFS: &str = r#"{"kind":"ImageStream","apiVersion":"image.openshift.io/v1","metadata":{"name":"4.99.0"},
        "spec":{"tags":[{"name":"machine-config-operator","from":{"kind":"DockerImage","name":"quay.invalid/a@sha256:1"}},
                        {"name":"hypershift","annotations":{"io.openshift.build.commit.id":"abc"},"from":{"kind":"DockerImage","name":"quay.invalid/b@sha256:2"}}]}}"#;
    const BOOT: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coreos-bootimages\ndata:\n  releaseVersion: 4.99.0\n  stream: '{\"stream\":\"rhcos-4.99\"}'\n";

    #[test]
    fn reads_version_components_and_stream() {
        let r = ReleaseImage::from_files(REFS.as_bytes(), BOOT.as_bytes()).unwrap();
        assert_eq!(r.version(), "4.99.0");
        assert_eq!(r.component_images()["hypershift"], "quay.invalid/b@sha256:2");
        assert_eq!(r.stream_metadata().unwrap()["stream"], "rhcos-4.99");
        assert!(r.os_streams().is_empty());
        let moved = r.with_rewritten_components(|i| i.replace("quay.invalid", "m.invalid"));
        assert_eq!(moved.component_images()["hypershift"], "m.invalid/b@sha256:2");
        assert_eq!(
            moved.canonical_component_images()["hypershift"],
            "quay.invalid/b@sha256:2"
        );
        assert_eq!(
            r.component_images()["hypershift"],
            "quay.invalid/b@sha256:2",
            "the original is untouched"
        );
    }

    #[test]
    fn multi_stream_payloads_need_no_default_stream() {
        let boot =
            "data:\n  streams: '{\"rhel-9\": {\"stream\": \"a\"}, \"rhel-10\": {\"stream\": \"b\"}}'\n";
        let r = ReleaseImage::from_files(REFS.as_bytes(), boot.as_bytes()).unwrap();
        assert_eq!(r.os_streams().len(), 2);
        assert!(r.stream_metadata().is_none());
    }

    #[test]
    fn malformed_files_are_typed_errors() {
        let boot = BOOT.as_bytes();
        assert!(matches!(
            ReleaseImage::from_files(b"{", boot),
            Err(PayloadError::ImageReferences(_))
        ));
        assert!(matches!(
            ReleaseImage::from_files(b"[]", boot),
            Err(PayloadError::ImageReferences(_))
        ));
        let refs = REFS.as_bytes();
        assert!(matches!(
            ReleaseImage::from_files(refs, b"data: [1"),
            Err(PayloadError::BootImagesConfigMap(_))
        ));
        assert_eq!(
            ReleaseImage::from_files(refs, b"data: {}"),
            Err(PayloadError::BootImagesMissingStream)
        );
        assert!(matches!(
            ReleaseImage::from_files(refs, b"data:\n  stream: 'not json'"),
            Err(PayloadError::BootImagesStreamJson { key: "stream", .. })
        ));
        assert!(matches!(
            ReleaseImage::from_files(refs, b"data:\n  streams: '[1'"),
            Err(PayloadError::BootImagesStreamJson { key: "streams", .. })
        ));
    }

    #[test]
    fn image_config_labels() {
        let c = ImageConfig::parse(
            br#"{"architecture":"amd64","os":"linux","config":{"Labels":{"io.openshift.release":"4.99.0"}}}"#,
        )
        .unwrap();
        assert_eq!(c.labels["io.openshift.release"], "4.99.0");
        assert_eq!(
            ImageConfig::parse(br#"{"architecture":"arm64"}"#)
                .unwrap()
                .labels
                .len(),
            0
        );
        assert!(ImageConfig::parse(b"nope").is_err());
    }
}
