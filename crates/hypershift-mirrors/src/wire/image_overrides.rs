//! `OPENSHIFT_IMG_OVERRIDES` (and the `olm-catalogs-is-registry-overrides` annotation):
//! source → ordered list of mirrors.
//!
//! Parsing is HyperShift's `ConvertImageRegistryOverrideStringToMap` (spec/overrides.md §4.4):
//! split on `,` (no quoting, no trimming); `""` and `"="` mean "no map"; each piece is split at
//! its first `=`; pieces without `=` or with an empty side are skipped; mirrors accumulate in
//! order, duplicates kept.
//!
//! Encoding differs from HyperShift on purpose (PRODUCT.md "Deliberately better" 3): sources are
//! sorted byte-wise but each source's mirrors stay in priority order, so the order survives the
//! wire. Any HyperShift parser reads the result.

use std::collections::BTreeMap;

use crate::mirror_set::{AppliesTo, Domain, InputError, InputKind, MirrorSet, MirrorSetBuilder, RawEntry};

/// Source → mirrors, sources sorted, mirrors in priority order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ImageOverrides(BTreeMap<String, Vec<String>>);

/// The malformed pieces of an annotation value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed entries (expected source=mirror): {}", .pieces.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", "))]
pub struct AnnotationError {
    /// Each piece that is not `source=mirror` with both sides non-empty.
    pub pieces: Vec<String>,
}

impl ImageOverrides {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses an `OPENSHIFT_IMG_OVERRIDES` value exactly as HyperShift does: `None` for `""` and
    /// `"="`, malformed pieces skipped silently.
    pub fn parse_env(value: &str) -> Option<Self> {
        if value.is_empty() || value == "=" {
            return None;
        }
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (source, mirror) in value.split(',').filter_map(split_pair) {
            map.entry(source.to_owned()).or_default().push(mirror.to_owned());
        }
        Some(Self(map))
    }

    /// Parses the `olm-catalogs-is-registry-overrides` annotation: the same syntax and result as
    /// [`Self::parse_env`], but pieces HyperShift would skip silently are reported, so the
    /// reconciler can set a condition naming them. Empty pieces (`a=b,,c=d`) are not errors.
    pub fn parse_annotation(value: &str) -> Result<Option<Self>, AnnotationError> {
        let pieces: Vec<String> = if value.is_empty() || value == "=" {
            Vec::new()
        } else {
            value
                .split(',')
                .filter(|p| !p.is_empty() && split_pair(p).is_none())
                .map(str::to_owned)
                .collect()
        };
        if pieces.is_empty() {
            Ok(Self::parse_env(value))
        } else {
            Err(AnnotationError { pieces })
        }
    }

    /// The env value: sources sorted, each source's mirrors in the given order, `src=m` pairs
    /// joined by `,`; `=` when there are none.
    pub fn to_env(&self) -> String {
        let pairs: Vec<String> = self
            .0
            .iter()
            .flat_map(|(source, mirrors)| mirrors.iter().map(move |m| format!("{source}={m}")))
            .collect();
        if pairs.is_empty() {
            "=".to_owned()
        } else {
            pairs.join(",")
        }
    }

    /// Appends `mirror` to `source`'s list.
    pub fn push(&mut self, source: impl Into<String>, mirror: impl Into<String>) {
        self.0.entry(source.into()).or_default().push(mirror.into());
    }

    /// The map itself.
    pub fn as_map(&self) -> &BTreeMap<String, Vec<String>> {
        &self.0
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, Vec<String>)> for ImageOverrides {
    fn from_iter<I: IntoIterator<Item = (String, Vec<String>)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

fn split_pair(piece: &str) -> Option<(&str, &str)> {
    piece
        .split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
}

impl<D: Domain> MirrorSet<D> {
    /// The rules as `OPENSHIFT_IMG_OVERRIDES` carries them: every source with its digest mirrors
    /// in priority order, then its tag mirrors not already listed. The wire has no room for
    /// applicability, `NeverContactSource` or remaps; receivers treat every mirror as serving both
    /// digests and tags (as HyperShift does).
    pub fn to_image_overrides(&self) -> ImageOverrides {
        self.rules()
            .iter()
            .filter(|r| r.has_mirrors())
            .map(|r| {
                (
                    r.source.to_string(),
                    r.all_mirrors().map(|m| m.location.clone()).collect(),
                )
            })
            .collect()
    }
}

impl MirrorSetBuilder {
    /// Adds an `OPENSHIFT_IMG_OVERRIDES` map (every mirror serving digests and tags).
    pub fn add_image_overrides(&mut self, name: &str, overrides: &ImageOverrides) -> Result<(), InputError> {
        let entries = overrides.0.iter().map(|(source, mirrors)| {
            let raw = RawEntry {
                source,
                location: None,
                mirrors: mirrors
                    .iter()
                    .map(|m| (m.as_str(), AppliesTo::All, false))
                    .collect(),
                policy: None,
                blocked: false,
                insecure: false,
                mirror_set: true,
            };
            (format!("{source:?}"), raw)
        });
        self.add_entries(InputKind::ImageOverridesEnv, name.to_owned(), entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror_set::Management;

    fn env(value: &str) -> Option<Vec<(String, Vec<String>)>> {
        ImageOverrides::parse_env(value).map(|o| o.0.into_iter().collect())
    }

    fn entry(k: &str, v: &[&str]) -> (String, Vec<String>) {
        (k.to_owned(), v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn hypershift_parsing() {
        assert_eq!(env(""), None);
        assert_eq!(env("="), None);
        assert_eq!(env("=,="), Some(vec![]));
        assert_eq!(env("a=b"), Some(vec![entry("a", &["b"])]));
        assert_eq!(
            env("a=m2,b=x,a=m1,a=m2"),
            Some(vec![entry("a", &["m2", "m1", "m2"]), entry("b", &["x"])])
        );
        assert_eq!(
            env("a=b=c, a=d"),
            Some(vec![entry(" a", &["d"]), entry("a", &["b=c"])])
        );
        assert_eq!(env("junk,,=x,y=,a=b"), Some(vec![entry("a", &["b"])]));
    }

    #[test]
    fn encoding_keeps_priority_order() {
        let o: ImageOverrides = [entry("b", &["z", "y"]), entry("a", &["x"]), entry("c", &[])]
            .into_iter()
            .collect();
        assert_eq!(o.to_env(), "a=x,b=z,b=y");
        assert_eq!(ImageOverrides::new().to_env(), "=");
        assert_eq!(
            ImageOverrides::parse_env(&o.to_env()).unwrap().as_map()["b"],
            ["z", "y"]
        );
    }

    #[test]
    fn annotation_reports_what_hypershift_would_skip() {
        assert_eq!(ImageOverrides::parse_annotation(""), Ok(None));
        assert_eq!(ImageOverrides::parse_annotation("="), Ok(None));
        assert_eq!(
            ImageOverrides::parse_annotation("registry.redhat.io=m.io,,x.io=y")
                .unwrap()
                .unwrap()
                .as_map()
                .len(),
            2
        );
        let err = ImageOverrides::parse_annotation("a=b,junk,=x,y=").unwrap_err();
        assert_eq!(err.pieces, ["junk", "=x", "y="]);
        assert_eq!(
            err.to_string(),
            "malformed entries (expected source=mirror): \"junk\", \"=x\", \"y=\""
        );
    }

    #[test]
    fn mirror_set_round_trip_through_the_env() {
        let o: ImageOverrides = [
            entry("quay.io/a", &["m2.io/a", "m1.io/a"]),
            entry("quay.io", &["q.io"]),
        ]
        .into_iter()
        .collect();
        let mut b = MirrorSetBuilder::new();
        b.add_image_overrides("env", &o).unwrap();
        let set: MirrorSet<Management> = b.build();
        assert_eq!(set.to_image_overrides(), o);
        let mut bad = MirrorSetBuilder::new();
        let err = bad
            .add_image_overrides("env", &[entry("quay.io/A", &["m"])].into_iter().collect())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("OPENSHIFT_IMG_OVERRIDES \"env\": \"quay.io/A\".source"),
            "{err}"
        );
    }
}
