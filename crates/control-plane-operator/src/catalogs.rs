//! The OLM catalogs, as a table, and the pure rules that choose their images.
//!
//! The seed's four default catalog sources. Upstream has since dropped `redhat-marketplace`
//! (spec/olm-dataplane-ignition.md A.9) and checks three annotations; we keep the seed's four,
//! so its fourth annotation is honoured rather than silently ignored.
//!
//! Where a catalog image comes from, in order:
//! 1. the four `hypershift.openshift.io/<catalog>-catalog-image` annotations: all four or none,
//!    each by digest ([`pinned_images`]); then nothing is looked up and no ImageStream is made;
//! 2. otherwise the default `registry.redhat.io/redhat/<repository>:v<major>.<minor>` for the
//!    release's version (capped at [`VERSION_CAP`], stepping back up to [`ATTEMPTS`] minors),
//!    each address passed through `olm-catalogs-is-registry-overrides` ([`SourceOverrides`]):
//!    its candidates are probed in order through the management mirrors.

use std::collections::BTreeMap;

use hypershift_api::hosted_cluster::annotations;
use hypershift_mirrors::{ImageOverrides, ImageRef};

/// One default catalog source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Catalog {
    /// The CatalogSource, Service and ImageStream tag name (`redhat-operators`).
    pub name: &'static str,
    /// The index image repository under the default registry (`redhat-operator-index`).
    pub repository: &'static str,
    /// The annotation that pins its image.
    pub annotation: &'static str,
}

impl Catalog {
    /// Its Deployment: `<name>-catalog`.
    pub fn deployment(&self) -> String {
        format!("{}-catalog", self.name)
    }
}

/// The catalogs, sorted by name (the ImageStream's tag order).
pub const CATALOGS: &[Catalog] = &[
    Catalog {
        name: "certified-operators",
        repository: "certified-operator-index",
        annotation: annotations::CERTIFIED_OPERATORS_CATALOG_IMAGE,
    },
    Catalog {
        name: "community-operators",
        repository: "community-operator-index",
        annotation: annotations::COMMUNITY_OPERATORS_CATALOG_IMAGE,
    },
    Catalog {
        name: "redhat-marketplace",
        repository: "redhat-marketplace-index",
        annotation: annotations::REDHAT_MARKETPLACE_CATALOG_IMAGE,
    },
    Catalog {
        name: "redhat-operators",
        repository: "redhat-operator-index",
        annotation: annotations::REDHAT_OPERATORS_CATALOG_IMAGE,
    },
];

/// Where the default catalog images live.
pub const DEFAULT_REGISTRY: &str = "registry.redhat.io/redhat";
/// The newest catalog version looked for (upstream's cap).
pub const VERSION_CAP: (u64, u64) = (4, 22);
/// Versions tried per catalog: the capped minor and the three before it.
pub const ATTEMPTS: u64 = 4;

/// Where the catalogs run (`spec.olmCatalogPlacement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the control-plane namespace (the default).
    Management,
    /// In the guest cluster: nothing of the catalogs in the management cluster.
    Guest,
}

impl Placement {
    /// `spec.olmCatalogPlacement`: absent or empty is `management`.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or_default() {
            "" | "management" => Ok(Self::Management),
            "guest" => Ok(Self::Guest),
            other => Err(format!(
                "spec.olmCatalogPlacement {other:?} is neither \"management\" nor \"guest\""
            )),
        }
    }
}

/// The catalog versions to try for a release version: `v4.22`, `v4.21`, … (the major never
/// changes). The version is strict semver (`4.99.0`, `4.16.0-rc.1`).
pub fn versions(release_version: &str) -> Result<Vec<String>, String> {
    let v = semver::Version::parse(release_version)
        .map_err(|e| format!("release version {release_version:?} is not semver: {e}"))?;
    let (major, minor) = if (v.major, v.minor) > VERSION_CAP {
        VERSION_CAP
    } else {
        (v.major, v.minor)
    };
    Ok((0..ATTEMPTS)
        .filter_map(|i| minor.checked_sub(i))
        .map(|m| format!("v{major}.{m}"))
        .collect())
}

/// The default address of `catalog` at `version` (`v4.22`).
pub fn default_image(catalog: &Catalog, version: &str) -> String {
    format!("{DEFAULT_REGISTRY}/{}:{version}", catalog.repository)
}

/// `olm-catalogs-is-registry-overrides` (`sr1=dr1,sr2=dr2`): where a catalog address contains a
/// source, on a component boundary, it is replaced by each of that source's destinations in turn
/// (the candidates, probed in order). Longest source first; one source applies per address.
///
/// This is the annotation's documented meaning ("images are scanned for the source registry
/// string and if found the string is replaced"), made exact: a source matches whole path
/// components only, so `redhat.io` never matches inside `registry.redhat.io`. Upstream now
/// honours only the exact keys `registry.redhat.io/redhat` and `registry.redhat.io`
/// (spec A.3, A.10); both give the same addresses here, except that a destination with a path
/// for the bare host keeps the `redhat/` namespace (`registry.redhat.io=m.invalid/x` gives
/// `m.invalid/x/redhat/<index>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceOverrides {
    /// (source, destinations), longest source first, then by name.
    rules: Vec<(String, Vec<String>)>,
}

impl SourceOverrides {
    /// Parses the annotation value with the shared parser
    /// ([`ImageOverrides::parse_annotation`]: HyperShift's syntax, but the pieces it would skip
    /// silently are an error naming each one). A trailing `/` on either side is dropped;
    /// duplicate destinations of a source count once.
    pub fn parse(value: &str) -> Result<Self, String> {
        let parsed = ImageOverrides::parse_annotation(value)
            .map_err(|e| {
                format!(
                    "annotation {}: {e}",
                    annotations::OLM_CATALOGS_IS_REGISTRY_OVERRIDES
                )
            })?
            .unwrap_or_default();
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (source, dests) in parsed.as_map() {
            let entry = map.entry(source.trim_end_matches('/').to_owned()).or_default();
            for d in dests {
                let d = d.trim_end_matches('/').to_owned();
                if !entry.contains(&d) {
                    entry.push(d);
                }
            }
        }
        let mut rules: Vec<(String, Vec<String>)> = map.into_iter().collect();
        rules.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(Self { rules })
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The addresses to try for `image`, in order: each destination of the longest source found
    /// in it, or `image` itself when none is.
    pub fn candidates(&self, image: &str) -> Vec<String> {
        for (source, dests) in &self.rules {
            if let Some(at) = find_on_boundary(image, source) {
                let (head, tail) = (&image[..at], &image[at + source.len()..]);
                return dests.iter().map(|d| format!("{head}{d}{tail}")).collect();
            }
        }
        vec![image.to_owned()]
    }
}

/// The first position where `needle` occupies whole components of `image`: it starts at the
/// beginning or after a `/`, and ends at the end or before `/`, `@` or (only when it holds a
/// path, so a host's `:port` is never split) `:`.
fn find_on_boundary(image: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(i) = image[from..].find(needle).map(|i| i + from) {
        let starts = i == 0 || image.as_bytes()[i - 1] == b'/';
        let ends = match image.as_bytes().get(i + needle.len()) {
            None | Some(b'/' | b'@') => true,
            Some(b':') => needle.contains('/') || i > 0,
            _ => false,
        };
        if starts && ends {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// The four catalog-image annotations: `Ok(None)` when none is set, `Ok(Some(name → image))`
/// when all four are, each by digest; otherwise an error naming every missing and bad one.
/// An empty value counts as unset.
pub fn pinned_images(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<BTreeMap<&'static str, String>>, String> {
    let set: Vec<(&Catalog, &str)> = CATALOGS
        .iter()
        .filter_map(|c| {
            annotations
                .get(c.annotation)
                .filter(|v| !v.is_empty())
                .map(|v| (c, v.as_str()))
        })
        .collect();
    if set.is_empty() {
        return Ok(None);
    }
    let mut problems = Vec::new();
    let missing: Vec<&str> = CATALOGS
        .iter()
        .filter(|c| !set.iter().any(|(s, _)| s.name == c.name))
        .map(|c| c.annotation)
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "catalog images are set for {} of {} catalogs: all or none; missing {}",
            set.len(),
            CATALOGS.len(),
            missing.join(", ")
        ));
    }
    for (c, value) in &set {
        match ImageRef::parse(value) {
            Ok(r) if r.digest().is_some() => {}
            Ok(_) => problems.push(format!(
                "annotation {}: {value:?} must reference the image by digest (@sha256:…)",
                c.annotation
            )),
            Err(e) => problems.push(format!("annotation {}: {e}", c.annotation)),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(Some(
        set.into_iter().map(|(c, v)| (c.name, v.to_owned())).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_step_back_from_the_cap() {
        assert_eq!(versions("4.99.0").unwrap(), ["v4.22", "v4.21", "v4.20", "v4.19"]);
        assert_eq!(versions("4.16.10").unwrap(), ["v4.16", "v4.15", "v4.14", "v4.13"]);
        assert_eq!(versions("5.0.0").unwrap(), ["v4.22", "v4.21", "v4.20", "v4.19"]);
        assert_eq!(versions("4.1.0-rc.1").unwrap(), ["v4.1", "v4.0"]);
        assert!(versions("4.16").unwrap_err().contains("not semver"));
    }

    #[test]
    fn overrides_replace_whole_components_longest_source_first() {
        let o = SourceOverrides::parse(
            "registry.redhat.io=mirror.invalid:5000,registry.redhat.io/redhat=mirror.invalid/olm,redhat.io=wrong.invalid",
        )
        .unwrap();
        let image = "registry.redhat.io/redhat/redhat-operator-index:v4.22";
        assert_eq!(
            o.candidates(image),
            ["mirror.invalid/olm/redhat-operator-index:v4.22"]
        );
        // The bare host: the namespace stays.
        assert_eq!(
            o.candidates("registry.redhat.io/other/x:v1"),
            ["mirror.invalid:5000/other/x:v1"]
        );
        // Never inside a longer host name.
        assert_eq!(
            o.candidates("myregistry.redhat.io/redhat/x:v1"),
            ["myregistry.redhat.io/redhat/x:v1"]
        );
        let only_suffix = SourceOverrides::parse("redhat.io=wrong.invalid").unwrap();
        assert_eq!(
            only_suffix.candidates(image),
            [image],
            "redhat.io is not registry.redhat.io"
        );
        // A source with a path ends before a tag; a bare host never before a port.
        let o = SourceOverrides::parse("quay.invalid/olm=m.invalid/olm,quay.invalid=n.invalid").unwrap();
        assert_eq!(o.candidates("quay.invalid/olm:v1"), ["m.invalid/olm:v1"]);
        assert_eq!(
            o.candidates("quay.invalid:443/olm/x:v1"),
            ["quay.invalid:443/olm/x:v1"]
        );
        assert_eq!(o.candidates("quay.invalid/olmx/y:v1"), ["n.invalid/olmx/y:v1"]);
    }

    #[test]
    fn several_destinations_are_candidates_in_order_without_duplicates() {
        let o = SourceOverrides::parse("registry.redhat.io/redhat=a.invalid/r,registry.redhat.io/redhat=b.invalid/r,registry.redhat.io/redhat=a.invalid/r,,").unwrap();
        assert_eq!(
            o.candidates("registry.redhat.io/redhat/x:v4.22"),
            ["a.invalid/r/x:v4.22", "b.invalid/r/x:v4.22"]
        );
        assert!(SourceOverrides::parse("").unwrap().is_empty());
    }

    #[test]
    fn malformed_overrides_are_named() {
        let e = SourceOverrides::parse("a=b,novalue,=x,y=").unwrap_err();
        assert!(e.contains("olm-catalogs-is-registry-overrides"), "{e}");
        for piece in ["\"novalue\"", "\"=x\"", "\"y=\""] {
            assert!(e.contains(piece), "{piece} in {e}");
        }
        assert!(!e.contains("\"a=b\""), "{e}");
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const DIGEST: &str = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn catalog_images_are_all_four_by_digest_or_none() {
        assert_eq!(pinned_images(&BTreeMap::new()), Ok(None));
        let all: Vec<(String, String)> = CATALOGS
            .iter()
            .map(|c| {
                (
                    c.annotation.to_owned(),
                    format!("mirror.invalid/olm/{}{DIGEST}", c.repository),
                )
            })
            .collect();
        let all_map: BTreeMap<String, String> = all.iter().cloned().collect();
        let pinned = pinned_images(&all_map).unwrap().unwrap();
        assert_eq!(pinned.len(), 4);
        assert!(pinned["redhat-marketplace"].contains("redhat-marketplace-index@sha256:"));

        let three: BTreeMap<String, String> = all.iter().take(3).cloned().collect();
        let e = pinned_images(&three).unwrap_err();
        assert!(e.contains("3 of 4"), "{e}");
        assert!(e.contains(annotations::REDHAT_OPERATORS_CATALOG_IMAGE), "{e}");

        let mut tagged = all_map.clone();
        tagged.insert(
            annotations::COMMUNITY_OPERATORS_CATALOG_IMAGE.to_owned(),
            "mirror.invalid/olm/community-operator-index:v4.22".to_owned(),
        );
        let e = pinned_images(&tagged).unwrap_err();
        assert!(
            e.contains(annotations::COMMUNITY_OPERATORS_CATALOG_IMAGE) && e.contains("by digest"),
            "{e}"
        );
        // Both problems at once, and an empty value is unset.
        let mixed = annotations(&[
            (annotations::REDHAT_OPERATORS_CATALOG_IMAGE, "x.invalid/i:v1"),
            (annotations::CERTIFIED_OPERATORS_CATALOG_IMAGE, ""),
        ]);
        let e = pinned_images(&mixed).unwrap_err();
        assert!(e.contains("1 of 4") && e.contains("by digest"), "{e}");
    }

    #[test]
    fn placement_defaults_to_management() {
        assert_eq!(Placement::parse(None), Ok(Placement::Management));
        assert_eq!(Placement::parse(Some("")), Ok(Placement::Management));
        assert_eq!(Placement::parse(Some("guest")), Ok(Placement::Guest));
        assert!(Placement::parse(Some("Guest")).is_err());
    }
}
