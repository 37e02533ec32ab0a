//! The one mirror model: [`MirrorSet`], its deterministic merge, and its content hash.
//!
//! ```text
//!  ICSP / IDMS / ITMS objects, registries.conf files, OPENSHIFT_IMG_OVERRIDES
//!        │ MirrorSetBuilder::add_* (validates every entry, keeps the valid ones)
//!        ▼
//!  inputs sorted by (kind, name, content)  ──►  per source: digest and tag mirrors appended
//!        │                                      in order to their own lists, duplicates dropped
//!        ▼                                      keeping the first; NeverContactSource if any says so
//!  MirrorSet<D> { rules sorted by source, match index, sha256 content hash }
//! ```
//!
//! IDMS/ITMS/ICSP entries and `OPENSHIFT_IMG_OVERRIDES` sources are read as the MCO renders them
//! for CRI-O (openshift/runtime-utils `pkg/registries`): a mirror equal to the source at the end of
//! a list is dropped (the source is tried last anyway), and an entry with no other mirror is no
//! mirror set at all, so it adds nothing, its `NeverContactSource` included.
//!
//! The domain parameter `D` ([`Management`] or [`DataPlane`]) keeps the management
//! cluster's mirrors (used by the operators' own pulls) and a hosted cluster's mirrors (rendered
//! for its nodes) apart at compile time; it also picks the default matching semantics.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use hypershift_api::openshift::{
    ALLOW_CONTACTING_SOURCE, ImageContentSourcePolicy, ImageDigestMirrorSet, ImageMirrors, ImageTagMirrorSet,
    NEVER_CONTACT_SOURCE,
};
use serde::Serialize;

use crate::matcher::{MatchIndex, MatchMode};
use crate::registries_conf::RegistriesConf;
use crate::scope::{ScopeError, SourceScope, validate_mirror_location};

/// Which kind of reference a mirror serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppliesTo {
    /// Pulls by digest only (IDMS, ICSP, `pull-from-mirror = "digest-only"`).
    Digest,
    /// Pulls by tag only (ITMS, `pull-from-mirror = "tag-only"`).
    Tag,
    /// Both (`pull-from-mirror = "all"`, the registries.conf default).
    All,
}

impl AppliesTo {
    /// Whether a mirror with this applicability serves digest pulls.
    pub fn digests(self) -> bool {
        matches!(self, Self::Digest | Self::All)
    }

    /// Whether a mirror with this applicability serves tag pulls.
    pub fn tags(self) -> bool {
        matches!(self, Self::Tag | Self::All)
    }
}

/// One mirror of a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mirror {
    /// `host[:port][/path]`.
    pub location: String,
    /// Plain HTTP / unverified TLS (registries.conf `insecure`; not expressible in IDMS/ITMS).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// All mirrors of one source scope.
///
/// Digest and tag mirrors are two ordered lists, as an IDMS and an ITMS for the same source
/// are: one mirror may hold different places in each (`IDMS: [a, b]`, `ITMS: [c, a]`), which a
/// single list with per-mirror flags could not keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorRule {
    /// What the rule applies to.
    #[serde(serialize_with = "serialize_display")]
    pub source: SourceScope,
    /// Where the source itself is pulled from, when registries.conf remaps it (`location` ≠ `prefix`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Mirrors for pulls by digest, highest priority first.
    pub digest_mirrors: Vec<Mirror>,
    /// Mirrors for pulls by tag, highest priority first.
    pub tag_mirrors: Vec<Mirror>,
    /// The source is never contacted (`NeverContactSource`, registries.conf `blocked`).
    pub blocked: bool,
    /// The source is insecure (registries.conf `insecure`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

impl MirrorRule {
    /// Whether the rule has any mirror.
    pub fn has_mirrors(&self) -> bool {
        !self.digest_mirrors.is_empty() || !self.tag_mirrors.is_empty()
    }

    /// Every mirror once: the digest mirrors in order, then tag mirrors not among them.
    pub fn all_mirrors(&self) -> impl Iterator<Item = &Mirror> {
        let extra = self
            .tag_mirrors
            .iter()
            .filter(|t| !self.digest_mirrors.iter().any(|d| d.location == t.location));
        self.digest_mirrors.iter().chain(extra)
    }
}

fn serialize_display<S: serde::Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::Management {}
    impl Sealed for super::DataPlane {}
}

/// Whose mirrors a [`MirrorSet`] holds.
pub trait Domain: private::Sealed + 'static {
    /// How this domain's pulls use the mirrors.
    const MODE: MatchMode;
    /// For messages.
    const NAME: &'static str;
}

/// The management cluster's mirrors (ICSP/IDMS/ITMS there): used by the operators' and the
/// ignition-server's own registry access ("live URL translation").
#[derive(Debug)]
pub enum Management {}
impl Domain for Management {
    const MODE: MatchMode = MatchMode::Live;
    const NAME: &'static str = "management";
}

/// A hosted cluster's mirrors (`spec.imageContentSources`, guest IDMS/ITMS): what its nodes use.
#[derive(Debug)]
pub enum DataPlane {}
impl Domain for DataPlane {
    const MODE: MatchMode = MatchMode::Node;
    const NAME: &'static str = "data-plane";
}

/// Mirrors of the management cluster.
pub type ManagementMirrors = MirrorSet<Management>;
/// Mirrors of a hosted cluster's data plane.
pub type DataPlaneMirrors = MirrorSet<DataPlane>;

/// A merged, validated set of mirror rules with a fast matcher. Immutable once built.
pub struct MirrorSet<D: Domain> {
    rules: Vec<MirrorRule>,
    index: MatchIndex,
    hash: String,
    domain: PhantomData<fn() -> D>,
}

impl<D: Domain> Clone for MirrorSet<D> {
    fn clone(&self) -> Self {
        Self {
            rules: self.rules.clone(),
            index: self.index.clone(),
            hash: self.hash.clone(),
            domain: PhantomData,
        }
    }
}

impl<D: Domain> PartialEq for MirrorSet<D> {
    fn eq(&self, other: &Self) -> bool {
        self.rules == other.rules
    }
}
impl<D: Domain> Eq for MirrorSet<D> {}

impl<D: Domain> fmt::Debug for MirrorSet<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MirrorSet")
            .field("domain", &D::NAME)
            .field("hash", &self.hash)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl<D: Domain> Default for MirrorSet<D> {
    fn default() -> Self {
        Self::from_rules(Vec::new())
    }
}

impl<D: Domain> MirrorSet<D> {
    pub(crate) fn from_rules(mut rules: Vec<MirrorRule>) -> Self {
        rules.sort_by(|a, b| a.source.as_str().cmp(b.source.as_str()));
        let index = MatchIndex::new(&rules);
        let canonical = serde_json::to_vec(&rules).unwrap_or_default();
        let hash = crate::reference::sha256_digest(&canonical);
        Self {
            rules,
            index,
            hash,
            domain: PhantomData,
        }
    }

    /// The rules, sorted by source.
    pub fn rules(&self) -> &[MirrorRule] {
        &self.rules
    }

    /// Whether there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// `sha256:<hex>` over the canonical form of the rules: equal for equal rule sets, whatever
    /// the order or shape of the inputs they were merged from.
    pub fn content_hash(&self) -> &str {
        &self.hash
    }

    pub(crate) fn index(&self) -> &MatchIndex {
        &self.index
    }

    /// Reinterprets the rules as another domain's. Only for tools that take mirror files without
    /// knowing whose they are (the CLI) and for tests; operators never cross domains.
    #[must_use]
    pub fn retag<E: Domain>(self) -> MirrorSet<E> {
        MirrorSet {
            rules: self.rules,
            index: self.index,
            hash: self.hash,
            domain: PhantomData,
        }
    }
}

/// The kinds of input, in merge order: IDMS before ITMS before ICSP (HyperShift also puts IDMS
/// mirrors before ICSP ones), then registries.conf files and `OPENSHIFT_IMG_OVERRIDES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputKind {
    ImageDigestMirrorSet,
    ImageTagMirrorSet,
    ImageContentSourcePolicy,
    RegistriesConf,
    ImageOverridesEnv,
    /// A HostedCluster's `spec.imageContentSources` (the data-plane mirrors).
    HostedCluster,
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ImageDigestMirrorSet => "ImageDigestMirrorSet",
            Self::ImageTagMirrorSet => "ImageTagMirrorSet",
            Self::ImageContentSourcePolicy => "ImageContentSourcePolicy",
            Self::RegistriesConf => "registries.conf",
            Self::ImageOverridesEnv => "OPENSHIFT_IMG_OVERRIDES",
            Self::HostedCluster => "HostedCluster",
        })
    }
}

/// One entry of an input, before merging.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SourceEntry {
    pub(crate) source: SourceScope,
    pub(crate) location: Option<String>,
    pub(crate) mirrors: Vec<(Mirror, AppliesTo)>,
    pub(crate) never_contact_source: bool,
    pub(crate) insecure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Input {
    kind: InputKind,
    name: String,
    entries: Vec<SourceEntry>,
}

impl Input {
    /// (kind, name), then content, so that equal-named objects (oc-mirror run twice) still merge
    /// in an order that does not depend on the order the files were given in.
    fn order(&self, other: &Self) -> Ordering {
        (self.kind, &self.name, &self.entries).cmp(&(other.kind, &other.name, &other.entries))
    }
}

/// An invalid entry of an input object: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {error}")]
pub struct EntryError {
    /// Path of the entry inside its object, e.g. `spec.imageDigestMirrors[2].mirrors[0]`.
    pub field: String,
    /// What is wrong with it.
    pub error: ScopeError,
}

/// The invalid entries of one input. Its valid entries were still added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name:?}: {}", join_errors(.errors))]
pub struct InputError {
    /// Kind of the input.
    pub kind: InputKind,
    /// Its name (object name or file name).
    pub name: String,
    /// Every invalid entry.
    pub errors: Vec<EntryError>,
}

fn join_errors(errors: &[EntryError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects inputs and merges them into a [`MirrorSet`].
#[derive(Debug, Default, Clone)]
pub struct MirrorSetBuilder {
    inputs: Vec<Input>,
}

impl MirrorSetBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an `ImageDigestMirrorSet` (digest-only mirrors).
    pub fn add_idms(&mut self, idms: &ImageDigestMirrorSet) -> Result<(), InputError> {
        let name = idms.metadata.name.clone().unwrap_or_default();
        let entries = idms.spec.image_digest_mirrors.iter().enumerate().map(|(i, e)| {
            (
                format!("spec.imageDigestMirrors[{i}]"),
                mirror_set_entry(e, AppliesTo::Digest),
            )
        });
        self.add_entries(InputKind::ImageDigestMirrorSet, name, entries)
    }

    /// Adds an `ImageTagMirrorSet` (tag-only mirrors).
    pub fn add_itms(&mut self, itms: &ImageTagMirrorSet) -> Result<(), InputError> {
        let name = itms.metadata.name.clone().unwrap_or_default();
        let entries = itms.spec.image_tag_mirrors.iter().enumerate().map(|(i, e)| {
            (
                format!("spec.imageTagMirrors[{i}]"),
                mirror_set_entry(e, AppliesTo::Tag),
            )
        });
        self.add_entries(InputKind::ImageTagMirrorSet, name, entries)
    }

    /// Adds an `ImageContentSourcePolicy` (digest-only mirrors, never blocking the source).
    pub fn add_icsp(&mut self, icsp: &ImageContentSourcePolicy) -> Result<(), InputError> {
        let name = icsp.metadata.name.clone().unwrap_or_default();
        let entries = icsp
            .spec
            .repository_digest_mirrors
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    format!("spec.repositoryDigestMirrors[{i}]"),
                    digest_entry(&e.source, &e.mirrors),
                )
            });
        self.add_entries(InputKind::ImageContentSourcePolicy, name, entries)
    }

    /// Adds a parsed containers-registries.conf(5) file; `name` identifies it (its path).
    pub fn add_registries_conf(&mut self, name: &str, conf: &RegistriesConf) -> Result<(), InputError> {
        let entries = conf
            .entries()
            .enumerate()
            .map(|(i, raw)| (format!("registry[{i}]"), raw));
        self.add_entries(InputKind::RegistriesConf, name.to_owned(), entries)
    }

    /// Adds a HostedCluster's `spec.imageContentSources` (`name` is `<namespace>/<name>`): each
    /// source's mirrors serve pulls by digest, as upstream renders them into the nodes'
    /// ImageDigestMirrorSet; the source is never blocked.
    pub fn add_image_content_sources(
        &mut self,
        name: &str,
        sources: &[hypershift_api::hosted_cluster::ImageContentSource],
    ) -> Result<(), InputError> {
        let entries = sources.iter().enumerate().map(|(i, e)| {
            (
                format!("spec.imageContentSources[{i}]"),
                digest_entry(&e.source, &e.mirrors),
            )
        });
        self.add_entries(InputKind::HostedCluster, name.to_owned(), entries)
    }

    pub(crate) fn add_entries<'a>(
        &mut self,
        kind: InputKind,
        name: String,
        raw: impl Iterator<Item = (String, RawEntry<'a>)>,
    ) -> Result<(), InputError> {
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for (field, raw) in raw {
            match raw.validate(&field) {
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => {}
                Err(mut e) => errors.append(&mut e),
            }
        }
        let failed = (!errors.is_empty()).then(|| InputError {
            kind,
            name: name.clone(),
            errors,
        });
        self.inputs.push(Input { kind, name, entries });
        failed.map_or(Ok(()), Err)
    }

    /// Merges everything added so far (see the module docs for the rules).
    pub fn build<D: Domain>(mut self) -> MirrorSet<D> {
        self.inputs.sort_by(Input::order);
        let mut rules: BTreeMap<String, MirrorRule> = BTreeMap::new();
        for entry in self.inputs.into_iter().flat_map(|i| i.entries) {
            let rule = rules
                .entry(entry.source.as_str().to_owned())
                .or_insert_with(|| MirrorRule {
                    source: entry.source.clone(),
                    location: None,
                    digest_mirrors: Vec::new(),
                    tag_mirrors: Vec::new(),
                    blocked: false,
                    insecure: false,
                });
            rule.blocked |= entry.never_contact_source;
            rule.insecure |= entry.insecure;
            if rule.location.is_none() {
                rule.location = entry.location;
            }
            for (mirror, applies_to) in entry.mirrors {
                if applies_to.digests() {
                    add_mirror(&mut rule.digest_mirrors, &mirror);
                }
                if applies_to.tags() {
                    add_mirror(&mut rule.tag_mirrors, &mirror);
                }
            }
        }
        let mut rules: Vec<MirrorRule> = rules.into_values().collect();
        for rule in &mut rules {
            // A merged list may still end with the source (`[m]` then `[source, m]`): it is tried
            // last anyway, so it is dropped there too (the MCO drops a source that sorts last).
            let primary = rule.location.as_deref().unwrap_or(rule.source.as_str());
            for list in [&mut rule.digest_mirrors, &mut rule.tag_mirrors] {
                while list.last().is_some_and(|m| m.location == primary) {
                    list.pop();
                }
            }
        }
        MirrorSet::from_rules(rules)
    }
}

/// Appends `mirror` unless the list has it already (then the first place is kept).
fn add_mirror(list: &mut Vec<Mirror>, mirror: &Mirror) {
    match list.iter_mut().find(|m| m.location == mirror.location) {
        Some(existing) => existing.insecure |= mirror.insecure,
        None => list.push(mirror.clone()),
    }
}

/// A source with mirrors for pulls by digest that never blocks it (an ICSP entry, a HostedCluster's
/// `imageContentSources` entry).
fn digest_entry<'a>(source: &'a str, mirrors: &'a [String]) -> RawEntry<'a> {
    RawEntry {
        source,
        location: None,
        mirrors: mirrors
            .iter()
            .map(|m| (m.as_str(), AppliesTo::Digest, false))
            .collect(),
        policy: None,
        blocked: false,
        insecure: false,
        mirror_set: true,
    }
}

fn mirror_set_entry(e: &ImageMirrors, applies_to: AppliesTo) -> RawEntry<'_> {
    RawEntry {
        source: &e.source,
        location: None,
        mirrors: e
            .mirrors
            .iter()
            .map(|m| (m.as_str(), applies_to, false))
            .collect(),
        policy: e.mirror_source_policy.as_deref(),
        blocked: false,
        insecure: false,
        mirror_set: true,
    }
}

/// An input entry as written, before validation.
#[derive(Debug)]
pub(crate) struct RawEntry<'a> {
    pub(crate) source: &'a str,
    pub(crate) location: Option<&'a str>,
    pub(crate) mirrors: Vec<(&'a str, AppliesTo, bool)>,
    /// `mirrorSourcePolicy` as written.
    pub(crate) policy: Option<&'a str>,
    pub(crate) blocked: bool,
    pub(crate) insecure: bool,
    /// An ImageDigestMirrorSet/ImageTagMirrorSet/ImageContentSourcePolicy entry or an
    /// `OPENSHIFT_IMG_OVERRIDES` source, read as the MCO renders them for CRI-O (openshift/runtime-utils
    /// `pkg/registries`): mirrors equal to the source at the end of the list are dropped (the source
    /// is tried last anyway), and an entry left without a mirror is no mirror set at all, so it is
    /// dropped with its `NeverContactSource` and cannot shadow a broader rule. registries.conf
    /// entries are explicit even without mirrors (blocked, insecure, remapped) and are kept as written.
    pub(crate) mirror_set: bool,
}

impl RawEntry<'_> {
    fn validate(self, field: &str) -> Result<Option<SourceEntry>, Vec<EntryError>> {
        let mut errors = Vec::new();
        let source = SourceScope::parse(self.source)
            .map_err(|error| {
                errors.push(EntryError {
                    field: format!("{field}.source"),
                    error,
                });
            })
            .ok();
        let never_contact_source = self.blocked
            || match self.policy {
                None | Some(ALLOW_CONTACTING_SOURCE) => false,
                Some(NEVER_CONTACT_SOURCE) => true,
                Some(other) => {
                    errors.push(EntryError {
                        field: format!("{field}.mirrorSourcePolicy"),
                        error: ScopeError::Invalid {
                            what: "mirrorSourcePolicy",
                            text: other.to_owned(),
                            reason: format!("expected {NEVER_CONTACT_SOURCE} or {ALLOW_CONTACTING_SOURCE}"),
                        },
                    });
                    false
                }
            };
        let mut mirrors = Vec::with_capacity(self.mirrors.len());
        for (i, (location, applies_to, insecure)) in self.mirrors.into_iter().enumerate() {
            match validate_mirror_location(location) {
                Ok(()) => mirrors.push((
                    Mirror {
                        location: location.to_owned(),
                        insecure,
                    },
                    applies_to,
                )),
                Err(error) => errors.push(EntryError {
                    field: format!("{field}.mirrors[{i}]"),
                    error,
                }),
            }
        }
        if let Some(location) = self.location
            && let Err(error) = validate_mirror_location(location)
        {
            errors.push(EntryError {
                field: format!("{field}.location"),
                error,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let Some(source) = source else { return Ok(None) };
        if self.mirror_set {
            while mirrors.last().is_some_and(|(m, _)| m.location == source.as_str()) {
                mirrors.pop();
            }
            if mirrors.is_empty() {
                return Ok(None);
            }
        }
        let location = self.location.filter(|l| *l != source.as_str()).map(str::to_owned);
        Ok(Some(SourceEntry {
            source,
            location,
            mirrors,
            never_contact_source,
            insecure: self.insecure,
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hypershift_api::openshift::{
        ImageDigestMirrorSetSpec, ImageTagMirrorSetSpec, RepositoryDigestMirrors,
    };

    pub(crate) fn idms(name: &str, entries: &[(&str, &[&str], Option<&str>)]) -> ImageDigestMirrorSet {
        ImageDigestMirrorSet::new(
            name,
            ImageDigestMirrorSetSpec {
                image_digest_mirrors: entries
                    .iter()
                    .map(|(s, m, p)| ImageMirrors {
                        source: (*s).into(),
                        mirrors: m.iter().map(|x| (*x).into()).collect(),
                        mirror_source_policy: p.map(Into::into),
                    })
                    .collect(),
            },
        )
    }

    pub(crate) fn itms(name: &str, entries: &[(&str, &[&str])]) -> ImageTagMirrorSet {
        ImageTagMirrorSet::new(
            name,
            ImageTagMirrorSetSpec {
                image_tag_mirrors: entries
                    .iter()
                    .map(|(s, m)| ImageMirrors {
                        source: (*s).into(),
                        mirrors: m.iter().map(|x| (*x).into()).collect(),
                        mirror_source_policy: None,
                    })
                    .collect(),
            },
        )
    }

    fn icsp(name: &str, entries: &[(&str, &[&str])]) -> ImageContentSourcePolicy {
        ImageContentSourcePolicy::new(
            name,
            hypershift_api::openshift::ImageContentSourcePolicySpec {
                repository_digest_mirrors: entries
                    .iter()
                    .map(|(s, m)| RepositoryDigestMirrors {
                        source: (*s).into(),
                        mirrors: m.iter().map(|x| (*x).into()).collect(),
                    })
                    .collect(),
            },
        )
    }

    /// (digest mirrors, tag mirrors) of `source`.
    fn locations(set: &ManagementMirrors, source: &str) -> (Vec<String>, Vec<String>) {
        let rule = set
            .rules()
            .iter()
            .find(|r| r.source.as_str() == source)
            .expect("rule");
        let names = |l: &[Mirror]| l.iter().map(|m| m.location.clone()).collect();
        (names(&rule.digest_mirrors), names(&rule.tag_mirrors))
    }

    #[test]
    fn idms_before_itms_before_icsp_and_names_ascending_with_duplicates_dropped() {
        let mut b = MirrorSetBuilder::new();
        b.add_icsp(&icsp("a-icsp", &[("quay.io/r", &["icsp.m/r", "idms.m/r"])]))
            .unwrap();
        b.add_idms(&idms("z", &[("quay.io/r", &["z.m/r"], None)]))
            .unwrap();
        b.add_idms(&idms("b", &[("quay.io/r", &["idms.m/r", "b.m/r"], None)]))
            .unwrap();
        b.add_itms(&itms("t", &[("quay.io/r", &["tag.m/r", "b.m/r"])]))
            .unwrap();
        let set: ManagementMirrors = b.build();
        let (digest, tag) = locations(&set, "quay.io/r");
        assert_eq!(digest, ["idms.m/r", "b.m/r", "z.m/r", "icsp.m/r"]);
        // The ITMS keeps its own order, even for a mirror the IDMS lists too.
        assert_eq!(tag, ["tag.m/r", "b.m/r"]);
        let all: Vec<_> = set.rules()[0]
            .all_mirrors()
            .map(|m| m.location.as_str())
            .collect();
        assert_eq!(all, ["idms.m/r", "b.m/r", "z.m/r", "icsp.m/r", "tag.m/r"]);
    }

    #[test]
    fn never_contact_source_wins_if_any_input_says_so() {
        let mut b = MirrorSetBuilder::new();
        b.add_idms(&idms(
            "a",
            &[("quay.io/r", &["m.io/r"], Some(ALLOW_CONTACTING_SOURCE))],
        ))
        .unwrap();
        b.add_idms(&idms(
            "b",
            &[("quay.io/r", &["n.io/r"], Some(NEVER_CONTACT_SOURCE))],
        ))
        .unwrap();
        let set: ManagementMirrors = b.build();
        assert!(set.rules()[0].blocked);
        assert_eq!(set.rules()[0].digest_mirrors.len(), 2);
    }

    #[test]
    fn invalid_entries_are_reported_precisely_and_valid_ones_kept() {
        let mut b = MirrorSetBuilder::new();
        let err = b
            .add_idms(&idms(
                "mixed",
                &[
                    ("quay.io/ok", &["m.io/ok"], None),
                    ("quay.io/Bad", &["m.io/x"], None),
                    ("quay.io/p", &["m.io/p:tag"], Some("Sometimes")),
                ],
            ))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("ImageDigestMirrorSet \"mixed\": spec.imageDigestMirrors[1].source: "),
            "{text}"
        );
        assert!(
            text.contains("spec.imageDigestMirrors[2].mirrorSourcePolicy: mirrorSourcePolicy \"Sometimes\"")
        );
        assert!(text.contains("spec.imageDigestMirrors[2].mirrors[0]: mirror \"m.io/p:tag\""));
        assert_eq!(err.errors.len(), 3);
        let set: ManagementMirrors = b.build();
        assert_eq!(set.rules().len(), 1);
        assert_eq!(set.rules()[0].source.as_str(), "quay.io/ok");
    }

    #[test]
    fn entries_without_mirrors_are_dropped_even_when_they_block_the_source() {
        // The MCO ignores NeverContactSource without a mirror (the API: "sourcePolicy is valid
        // configuration only when one or more mirrors are in the mirror list"), so nodes would
        // still contact the source; so do we, through the broader rule.
        let mut b = MirrorSetBuilder::new();
        b.add_idms(&idms(
            "a",
            &[("quay.io", &["m.io"], None), ("quay.io/x", &[], None)],
        ))
        .unwrap();
        b.add_idms(&idms(
            "b",
            &[("quay.io/blocked", &[], Some(NEVER_CONTACT_SOURCE))],
        ))
        .unwrap();
        let set: ManagementMirrors = b.build();
        let sources: Vec<_> = set.rules().iter().map(|r| r.source.as_str()).collect();
        assert_eq!(sources, ["quay.io"]);
        assert!(!set.rules()[0].blocked);
    }

    #[test]
    fn a_mirror_equal_to_its_source_adds_no_mirror() {
        // runtime-utils (what the MCO renders registries.conf with) ignores an entry with no mirror
        // other than its source, NeverContactSource included, and drops the source when it is last.
        let mut b = MirrorSetBuilder::new();
        b.add_idms(&idms(
            "a",
            &[
                ("quay.io", &["m.io"], None),
                (
                    "quay.io/only-source",
                    &["quay.io/only-source"],
                    Some(NEVER_CONTACT_SOURCE),
                ),
                ("quay.io/twice", &["quay.io/twice", "quay.io/twice"], None),
                ("quay.io/last", &["m.io/last", "quay.io/last"], None),
                ("quay.io/first", &["quay.io/first", "m.io/first"], None),
            ],
        ))
        .unwrap();
        b.add_icsp(&icsp("i", &[("quay.io/icsp", &["quay.io/icsp"])]))
            .unwrap();
        b.add_idms(&idms("m1", &[("quay.io/merged", &["m.io/merged"], None)]))
            .unwrap();
        b.add_idms(&idms(
            "m2",
            &[("quay.io/merged", &["quay.io/merged", "m.io/merged"], None)],
        ))
        .unwrap();
        b.add_image_overrides(
            "env",
            &[("quay.io/env".to_owned(), vec!["quay.io/env".to_owned()])]
                .into_iter()
                .collect(),
        )
        .unwrap();
        let set: ManagementMirrors = b.build();
        let sources: Vec<_> = set.rules().iter().map(|r| r.source.as_str()).collect();
        assert_eq!(
            sources,
            ["quay.io", "quay.io/first", "quay.io/last", "quay.io/merged"]
        );
        assert!(set.rules().iter().all(|r| !r.blocked));
        let c = |image: &str| set.resolve(&crate::ImageRef::parse(image).unwrap()).candidates;
        // Covered by the broader rule, as on a node: the entry is gone, not an empty shadow.
        assert_eq!(
            c("quay.io/only-source/x:1"),
            ["m.io/only-source/x:1", "quay.io/only-source/x:1"]
        );
        assert_eq!(c("quay.io/twice/x:1"), ["m.io/twice/x:1", "quay.io/twice/x:1"]);
        assert_eq!(c("quay.io/icsp/x:1"), ["m.io/icsp/x:1", "quay.io/icsp/x:1"]);
        assert_eq!(c("quay.io/env/x:1"), ["m.io/env/x:1", "quay.io/env/x:1"]);
        // The source is never listed twice.
        assert_eq!(c("quay.io/last/x:1"), ["m.io/last/x:1", "quay.io/last/x:1"]);
        assert_eq!(c("quay.io/first/x:1"), ["quay.io/first/x:1", "m.io/first/x:1"]);
        assert_eq!(locations(&set, "quay.io/merged").0, ["m.io/merged"]);
    }

    #[test]
    fn merge_and_hash_do_not_depend_on_input_order() {
        let objects = [
            idms("same", &[("quay.io/a", &["one.io/a"], None)]),
            idms("same", &[("quay.io/a", &["two.io/a"], None)]),
            idms("other", &[("quay.io/b", &["three.io/b"], None)]),
        ];
        let build = |order: &[usize]| {
            let mut b = MirrorSetBuilder::new();
            for i in order {
                b.add_idms(&objects[*i]).unwrap();
            }
            b.build::<Management>()
        };
        let first = build(&[0, 1, 2]);
        for order in [[1, 0, 2], [2, 1, 0], [1, 2, 0]] {
            let other = build(&order);
            assert_eq!(other, first);
            assert_eq!(other.content_hash(), first.content_hash());
        }
        assert_eq!(
            locations(&first, "quay.io/a"),
            (vec!["one.io/a".into(), "two.io/a".into()], vec![])
        );
        assert_ne!(first.content_hash(), ManagementMirrors::default().content_hash());
        assert!(first.content_hash().starts_with("sha256:") && first.content_hash().len() == 71);
    }
}
