//! Mirror objects as YAML: reading ICSP/IDMS/ITMS documents (what oc-mirror writes and what
//! `kubectl get -o yaml` prints) and rendering a [`MirrorSet`] back as IDMS and ITMS.
//!
//! Reading accepts multi-document streams and `kind: List` (as `kubectl get -o yaml` prints).
//! Documents of other kinds (oc-mirror's CatalogSource, ClusterCatalog, …) are returned as
//! [`MirrorDocument::Other`] so a caller can say it skipped them.

use hypershift_api::Resource;
use hypershift_api::openshift::{
    ImageContentSourcePolicy, ImageDigestMirrorSet, ImageDigestMirrorSetSpec, ImageMirrors,
    ImageTagMirrorSet, ImageTagMirrorSetSpec, NEVER_CONTACT_SOURCE,
};
use serde_json::Value;

use crate::mirror_set::{Domain, InputError, MirrorRule, MirrorSet, MirrorSetBuilder};
use crate::scope::ScopeKind;

/// One document of a mirror YAML stream.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorDocument {
    Idms(Box<ImageDigestMirrorSet>),
    Itms(Box<ImageTagMirrorSet>),
    Icsp(Box<ImageContentSourcePolicy>),
    /// A document of another kind, not about mirrors.
    Other {
        kind: String,
        name: String,
    },
}

/// Why a YAML stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("document {index}: {reason}")]
    Document { index: usize, reason: String },
}

/// Reads every document of a YAML stream.
pub fn parse_documents(text: &str) -> Result<Vec<MirrorDocument>, DocumentError> {
    let values: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| DocumentError::Yaml(first_line(&e.to_string())))?;
    let mut out = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let index = i + 1;
        let err = |reason: String| DocumentError::Document { index, reason };
        if value.is_null() {
            continue;
        }
        if value.get("kind").and_then(Value::as_str) == Some("List") {
            let items = value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (j, item) in items.into_iter().enumerate() {
                out.push(document(item).map_err(|r| err(format!("items[{j}]: {r}")))?);
            }
        } else {
            out.push(document(value).map_err(err)?);
        }
    }
    Ok(out)
}

fn document(value: Value) -> Result<MirrorDocument, String> {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("has no kind")?
        .to_owned();
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(match kind.as_str() {
        "ImageDigestMirrorSet" => MirrorDocument::Idms(Box::new(typed(value, &api_version, &name)?)),
        "ImageTagMirrorSet" => MirrorDocument::Itms(Box::new(typed(value, &api_version, &name)?)),
        "ImageContentSourcePolicy" => MirrorDocument::Icsp(Box::new(typed(value, &api_version, &name)?)),
        _ => MirrorDocument::Other { kind, name },
    })
}

fn typed<T: Resource<DynamicType = ()> + serde::de::DeserializeOwned>(
    value: Value,
    api_version: &str,
    name: &str,
) -> Result<T, String> {
    let (expected, kind) = (T::api_version(&()), T::kind(&()));
    if api_version != expected {
        return Err(format!(
            "{kind} {name:?}: apiVersion is {api_version:?}, expected {expected:?}"
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("{kind} {name:?}: {e}"))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

impl MirrorSetBuilder {
    /// Adds one document; [`MirrorDocument::Other`] adds nothing.
    pub fn add_document(&mut self, doc: &MirrorDocument) -> Result<(), InputError> {
        match doc {
            MirrorDocument::Idms(o) => self.add_idms(o),
            MirrorDocument::Itms(o) => self.add_itms(o),
            MirrorDocument::Icsp(o) => self.add_icsp(o),
            MirrorDocument::Other { .. } => Ok(()),
        }
    }
}

/// A [`MirrorSet`] rendered as OpenShift objects.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedMirrorSets {
    /// Always present (possibly with no entries).
    pub idms: ImageDigestMirrorSet,
    /// Present when some mirror serves tag pulls.
    pub itms: Option<ImageTagMirrorSet>,
    /// What IDMS/ITMS cannot express and was left out (registries.conf `insecure`, `location` remaps).
    pub warnings: Vec<String>,
}

impl RenderedMirrorSets {
    /// The objects as one YAML stream (IDMS, then ITMS), byte-identical for equal rule sets.
    pub fn to_yaml(&self) -> String {
        let mut out = hypershift_api::yaml::to_string(&self.idms).unwrap_or_default();
        if let Some(itms) = &self.itms {
            out.push_str("---\n");
            out.push_str(&hypershift_api::yaml::to_string(itms).unwrap_or_default());
        }
        out
    }
}

/// Renders the rules as an `ImageDigestMirrorSet` (digest mirrors) and, if any mirror serves
/// tags, an `ImageTagMirrorSet`, both named `name`. A blocked source gets
/// `mirrorSourcePolicy: NeverContactSource` in each object it appears in; a blocked source without
/// mirrors, a `location` remap (also of a `*.` wildcard) and `insecure` cannot be expressed and are
/// left out with a warning.
pub fn render_mirror_sets<D: Domain>(set: &MirrorSet<D>, name: &str) -> RenderedMirrorSets {
    let mut digest = Vec::new();
    let mut tag = Vec::new();
    let mut warnings = Vec::new();
    for rule in set.rules() {
        collect_warnings(rule, &mut warnings);
        let entry = |mirrors: &[crate::Mirror]| ImageMirrors {
            source: rule.source.to_string(),
            mirrors: mirrors.iter().map(|m| m.location.clone()).collect(),
            mirror_source_policy: rule.blocked.then(|| NEVER_CONTACT_SOURCE.to_owned()),
        };
        if !rule.digest_mirrors.is_empty() {
            digest.push(entry(&rule.digest_mirrors));
        }
        if !rule.tag_mirrors.is_empty() {
            tag.push(entry(&rule.tag_mirrors));
        }
    }
    // `new` sets metadata.name.
    let digest_set = ImageDigestMirrorSet::new(
        name,
        ImageDigestMirrorSetSpec {
            image_digest_mirrors: digest,
        },
    );
    let tag_set = (!tag.is_empty()).then(|| {
        ImageTagMirrorSet::new(
            name,
            ImageTagMirrorSetSpec {
                image_tag_mirrors: tag,
            },
        )
    });
    RenderedMirrorSets {
        idms: digest_set,
        itms: tag_set,
        warnings,
    }
}

fn collect_warnings(rule: &MirrorRule, warnings: &mut Vec<String>) {
    if let Some(location) = &rule.location {
        warnings.push(format!(
            "{}: the source's location remap to {location:?} cannot be expressed in an ImageDigestMirrorSet and was left out",
            rule.source
        ));
    }
    if rule.insecure || rule.all_mirrors().any(|m| m.insecure) {
        warnings.push(format!(
            "{}: `insecure` cannot be expressed in ImageDigestMirrorSet/ImageTagMirrorSet and was left out",
            rule.source
        ));
    }
    if rule.blocked && !rule.has_mirrors() {
        warnings.push(format!(
            "{}: a blocked source without mirrors cannot be expressed in ImageDigestMirrorSet/ImageTagMirrorSet (NeverContactSource needs a mirror; the MCO ignores it otherwise) and was left out",
            rule.source
        ));
    }
    if rule.source.kind() == ScopeKind::Image {
        warnings.push(format!(
            "{}: an image-level source (with tag or digest) is not valid in ImageDigestMirrorSet/ImageTagMirrorSet",
            rule.source
        ));
    }
}
