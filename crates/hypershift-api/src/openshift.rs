//! Foreign objects we read but never own: the management cluster's mirror configuration.
//!
//! Field names and groups are OpenShift's own:
//! - `operator.openshift.io/v1alpha1` `ImageContentSourcePolicy` (deprecated upstream, still common),
//! - `config.openshift.io/v1` `ImageDigestMirrorSet` and `ImageTagMirrorSet`,
//! - `image.openshift.io/v1` `ImageStream` (the release payload's image references),
//! - `route.openshift.io/v1` `Route` (the subset the ignition server's publishing uses).
//!
//! Values are kept as written (`mirrorSourcePolicy` is a string, not an enum) so that one odd
//! object can never fail a whole list or watch; `hypershift-mirrors` validates entries and
//! reports the offending value.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `mirrorSourcePolicy` value: never fall back to the source registry.
pub const NEVER_CONTACT_SOURCE: &str = "NeverContactSource";
/// `mirrorSourcePolicy` value (the default): fall back to the source after the mirrors.
pub const ALLOW_CONTACTING_SOURCE: &str = "AllowContactingSource";

/// Spec of an `ImageDigestMirrorSet`: mirrors for pulls by digest.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "config.openshift.io",
    version = "v1",
    kind = "ImageDigestMirrorSet",
    plural = "imagedigestmirrorsets",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct ImageDigestMirrorSetSpec {
    /// Ordered mirror rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_digest_mirrors: Vec<ImageMirrors>,
}

/// Spec of an `ImageTagMirrorSet`: mirrors for pulls by tag.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "config.openshift.io",
    version = "v1",
    kind = "ImageTagMirrorSet",
    plural = "imagetagmirrorsets",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct ImageTagMirrorSetSpec {
    /// Ordered mirror rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_tag_mirrors: Vec<ImageMirrors>,
}

/// One entry of `imageDigestMirrors` or `imageTagMirrors` (the two have the same shape).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageMirrors {
    /// The repository, namespace, registry (`host[:port]`) or `*.` wildcard host being mirrored.
    pub source: String,
    /// Mirror locations, highest priority first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
    /// `NeverContactSource`, or `AllowContactingSource` (the default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_source_policy: Option<String>,
}

/// Spec of an `ImageContentSourcePolicy`: the deprecated, digest-only predecessor of IDMS.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "operator.openshift.io",
    version = "v1alpha1",
    kind = "ImageContentSourcePolicy",
    plural = "imagecontentsourcepolicies",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct ImageContentSourcePolicySpec {
    /// Ordered mirror rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_digest_mirrors: Vec<RepositoryDigestMirrors>,
}

/// One entry of an ICSP's `repositoryDigestMirrors`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryDigestMirrors {
    /// The repository being mirrored.
    pub source: String,
    /// Mirror locations, highest priority first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
}

/// Spec of an `image.openshift.io/v1` `ImageStream`: the release payload's
/// `release-manifests/image-references` file is one, and the OLM catalogs module writes them.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "image.openshift.io",
    version = "v1",
    kind = "ImageStream",
    plural = "imagestreams",
    namespaced,
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamSpec {
    /// Tags, in payload order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagReference>,
    /// Whether pods may refer to tags of this stream by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_policy: Option<ImageLookupPolicy>,
}

/// One tag of an `ImageStream`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagReference {
    /// The tag name; in a release payload, the component name (`machine-config-operator`, …).
    pub name: String,
    /// Free-form annotations (build versions, commit ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
    /// What the tag points at; in a release payload a `DockerImage` pull spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<TagFrom>,
    /// How the tag is imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_policy: Option<TagImportPolicy>,
    /// How pods refer to the imported image (`Source` or `Local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_policy: Option<TagReferencePolicy>,
}

/// `from` of a tag: a kind and a name (`DockerImage` and a pull spec).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TagFrom {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `importPolicy` of a tag.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagImportPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// `Legacy` or `PreserveOriginal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_mode: Option<String>,
}

/// `referencePolicy` of a tag.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TagReferencePolicy {
    #[serde(rename = "type")]
    pub type_: String,
}

/// `lookupPolicy` of an `ImageStream`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ImageLookupPolicy {
    pub local: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idms_reads_upstream_yaml_and_keeps_the_policy_string() {
        let yaml = r"
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: release-mirror-0
spec:
  imageDigestMirrors:
  - mirrors:
    - mirror.invalid:8443/openshift/release-images
    source: quay.invalid/openshift-release-dev/ocp-release
    mirrorSourcePolicy: NeverContactSource
  - source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev
    mirrors: [mirror.invalid:8443/openshift/release]
status: {}
";
        let idms: ImageDigestMirrorSet = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(idms.metadata.name.as_deref(), Some("release-mirror-0"));
        let entries = &idms.spec.image_digest_mirrors;
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0].mirror_source_policy.as_deref(),
            Some(NEVER_CONTACT_SOURCE)
        );
        assert_eq!(entries[1].mirrors, ["mirror.invalid:8443/openshift/release"]);
        assert_eq!(entries[1].mirror_source_policy, None);
    }

    #[test]
    fn icsp_and_itms_use_their_own_groups() {
        use kube::Resource;
        assert_eq!(
            ImageContentSourcePolicy::api_version(&()),
            "operator.openshift.io/v1alpha1"
        );
        assert_eq!(ImageDigestMirrorSet::api_version(&()), "config.openshift.io/v1");
        assert_eq!(ImageTagMirrorSet::plural(&()), "imagetagmirrorsets");
        assert_eq!(
            ImageContentSourcePolicy::plural(&()),
            "imagecontentsourcepolicies"
        );
    }
}

/// Spec of a `route.openshift.io/v1` `Route` (the fields we write and read).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "route.openshift.io",
    version = "v1",
    kind = "Route",
    plural = "routes",
    namespaced,
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct RouteSpec {
    /// The host name; the router fills in a default one when it is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The Service it routes to.
    pub to: RouteTargetReference,
    /// TLS termination (`passthrough` for a server that terminates TLS itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RouteTls>,
}

/// `spec.to` of a Route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct RouteTargetReference {
    /// `Service`.
    pub kind: String,
    pub name: String,
}

/// `spec.tls` of a Route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteTls {
    /// `edge`, `passthrough` or `reencrypt`.
    pub termination: String,
}
