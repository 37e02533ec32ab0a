//! containers-registries.conf(5) version 2 (TOML): reading mirror rules from it and rendering a
//! [`MirrorSet`] as one (what a node needs).
//!
//! Read: `[[registry]]` tables with `prefix`, `location`, `insecure`, `blocked`,
//! `mirror-by-digest-only` and `[[registry.mirror]]` tables with `location`, `insecure`,
//! `pull-from-mirror` (`all`, `digest-only`, `tag-only`). Other top-level keys
//! (`unqualified-search-registries`, `short-name-mode`, `[aliases]`, credential helpers) do not
//! concern mirrors and are ignored. Unknown keys inside a registry or mirror table are errors:
//! a misspelt `pull-from-mirror` would otherwise silently change where images come from.
//! The version 1 format (`[registries.search]`, …) has no mirrors and is rejected.
//!
//! As containers/image `sysregistriesv2` reads the file:
//! - a `prefix` may omit `location` only when it is a `*.` wildcard; a wildcard with a `location`
//!   has the host it matched replaced by that location;
//! - entries for the same registry (the same `location`, or the same prefix of a wildcard without
//!   one) must agree on `insecure` and `blocked`; we also require it of entries with the same
//!   prefix. A disagreement is an error naming both entries;
//! - of several entries with the same prefix the first is used and the others are ignored, mirrors
//!   included, each with a [`RegistriesConf::warnings`] line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mirror_set::{AppliesTo, Domain, Mirror, MirrorSet, RawEntry};
use crate::scope::ScopeKind;

/// Why a registries.conf document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistriesConfError {
    #[error("not valid registries.conf TOML: {0}")]
    Toml(String),
    #[error(
        "registries.conf version 1 ([registries.search], [registries.insecure], [registries.block]) has no mirrors; write version 2 [[registry]] tables"
    )]
    Version1,
    #[error("registry[{index}]: {reason}")]
    Registry { index: usize, reason: String },
    /// Two entries for one registry disagree on `blocked` or `insecure` (containers/image
    /// rejects the file too).
    #[error(
        "registry[{first}] (prefix {first_prefix:?}) and registry[{second}] (prefix {second_prefix:?}) both define {shared} {key:?} with conflicting {setting} settings ({first_value} and {second_value})"
    )]
    Conflict {
        first: usize,
        first_prefix: String,
        second: usize,
        second_prefix: String,
        /// `location` or `prefix`: what the two entries share.
        shared: &'static str,
        key: String,
        /// `blocked` or `insecure`.
        setting: &'static str,
        first_value: bool,
        second_value: bool,
    },
}

/// A parsed registries.conf (only what concerns mirrors).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistriesConf {
    registries: Vec<Registry>,
    warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Registry {
    prefix: String,
    location: Option<String>,
    insecure: bool,
    blocked: bool,
    mirrors: Vec<(String, AppliesTo, bool)>,
}

#[derive(Deserialize)]
struct FileIn {
    #[serde(default)]
    registry: Vec<RegistryIn>,
    /// Version 1 only.
    registries: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RegistryIn {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<MirrorIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct MirrorIn {
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    pull_from_mirror: String,
}

impl RegistriesConf {
    /// Parses a registries.conf document.
    pub fn parse(text: &str) -> Result<Self, RegistriesConfError> {
        let file: FileIn =
            toml::from_str(text).map_err(|e| RegistriesConfError::Toml(one_line(&e.to_string())))?;
        if file.registries.is_some() {
            return Err(RegistriesConfError::Version1);
        }
        let all: Vec<Registry> = file
            .registry
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                Registry::from_table(r).map_err(|reason| RegistriesConfError::Registry { index, reason })
            })
            .collect::<Result<_, _>>()?;
        check_conflicts(&all)?;
        // containers/image: "the first longest prefix always wins, rendering later items with the
        // same prefix non-existent"; they are ignored, not merged.
        let mut first_by_prefix: BTreeMap<String, usize> = BTreeMap::new();
        let mut registries = Vec::with_capacity(all.len());
        let mut warnings = Vec::new();
        for (index, r) in all.into_iter().enumerate() {
            if let Some(first) = first_by_prefix.get(&r.prefix) {
                warnings.push(format!(
                    "registry[{index}]: prefix {:?} is already defined by registry[{first}]; this entry is ignored, as containers/image ignores it",
                    r.prefix
                ));
                continue;
            }
            first_by_prefix.insert(r.prefix.clone(), index);
            registries.push(r);
        }
        Ok(Self { registries, warnings })
    }

    /// What was read but has no effect (a prefix defined again), one line each, naming the entry.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = RawEntry<'_>> {
        self.registries.iter().map(|r| RawEntry {
            source: &r.prefix,
            location: r.location.as_deref(),
            mirrors: r.mirrors.iter().map(|(l, a, i)| (l.as_str(), *a, *i)).collect(),
            policy: None,
            blocked: r.blocked,
            insecure: r.insecure,
            mirror_set: false,
        })
    }
}

impl Registry {
    fn from_table(r: RegistryIn) -> Result<Self, String> {
        let wildcard = r.prefix.starts_with("*.");
        let (prefix, location) = match (r.prefix.is_empty(), r.location.is_empty()) {
            (true, true) => return Err("needs a prefix or a location".into()),
            (true, false) => (r.location.clone(), Some(r.location)),
            (false, true) if wildcard => (r.prefix, None),
            (false, true) => {
                return Err(format!(
                    "prefix {:?} needs a location (only *. wildcard prefixes may omit it)",
                    r.prefix
                ));
            }
            (false, false) => (r.prefix, Some(r.location)),
        };
        let mut mirrors = Vec::with_capacity(r.mirror.len());
        for (i, m) in r.mirror.into_iter().enumerate() {
            let applies_to = match (r.mirror_by_digest_only, m.pull_from_mirror.as_str()) {
                (true, "") | (false, "digest-only") => AppliesTo::Digest,
                (true, _) => {
                    return Err(format!(
                        "mirror[{i}]: pull-from-mirror cannot be combined with the registry's mirror-by-digest-only"
                    ));
                }
                (false, "" | "all") => AppliesTo::All,
                (false, "tag-only") => AppliesTo::Tag,
                (false, other) => {
                    return Err(format!(
                        "mirror[{i}]: pull-from-mirror {other:?} is not one of all, digest-only, tag-only"
                    ));
                }
            };
            if m.location.is_empty() {
                return Err(format!("mirror[{i}]: location is empty"));
            }
            mirrors.push((m.location, applies_to, m.insecure));
        }
        Ok(Self {
            prefix,
            location,
            insecure: r.insecure,
            blocked: r.blocked,
            mirrors,
        })
    }
}

/// containers/image's check: entries for the same registry (the same `location`, or the same
/// prefix of a wildcard without one) must agree on `insecure` and `blocked`. Entries with the
/// same prefix must agree too: containers/image would silently use the first, so a disagreement is
/// a mistake. The first conflicting pair in file order is reported.
fn check_conflicts(all: &[Registry]) -> Result<(), RegistriesConfError> {
    let mut by_location: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_prefix: BTreeMap<&str, usize> = BTreeMap::new();
    for (second, r) in all.iter().enumerate() {
        let groups = [
            ("location", r.location.as_deref(), &mut by_location),
            ("prefix", Some(r.prefix.as_str()), &mut by_prefix),
        ];
        for (shared, key, seen) in groups {
            let Some(key) = key else { continue };
            let Some(&first) = seen.get(key) else {
                seen.insert(key, second);
                continue;
            };
            let f = &all[first];
            let setting = if f.insecure != r.insecure {
                Some(("insecure", f.insecure, r.insecure))
            } else if f.blocked != r.blocked {
                Some(("blocked", f.blocked, r.blocked))
            } else {
                None
            };
            if let Some((setting, first_value, second_value)) = setting {
                return Err(RegistriesConfError::Conflict {
                    first,
                    first_prefix: f.prefix.clone(),
                    second,
                    second_prefix: r.prefix.clone(),
                    shared,
                    key: key.to_owned(),
                    setting,
                    first_value,
                    second_value,
                });
            }
        }
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Serialize)]
struct FileOut<'a> {
    registry: Vec<RegistryOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RegistryOut<'a> {
    prefix: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    insecure: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    blocked: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mirror: Vec<MirrorOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct MirrorOut<'a> {
    location: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    insecure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_from_mirror: Option<&'static str>,
}

/// One `[[registry.mirror]]` sequence whose digest-capable entries are `digest` in order and whose
/// tag-capable entries are `tag` in order: a mirror at the head of both lists becomes one `all`
/// entry; otherwise the head that the other list does not need later goes first. When the two
/// orders conflict, a mirror appears twice (`digest-only` and `tag-only`), which reads back the same.
fn interleave<'a>(digest: &'a [Mirror], tag: &'a [Mirror]) -> Vec<MirrorOut<'a>> {
    let out = |m: &'a Mirror, applies: AppliesTo| MirrorOut {
        location: &m.location,
        insecure: m.insecure,
        pull_from_mirror: match applies {
            AppliesTo::All => None,
            AppliesTo::Digest => Some("digest-only"),
            AppliesTo::Tag => Some("tag-only"),
        },
    };
    let (mut d, mut t) = (digest, tag);
    let mut result = Vec::with_capacity(d.len() + t.len());
    let in_list = |m: &Mirror, list: &[Mirror]| list.iter().any(|x| x.location == m.location);
    loop {
        let digest_first = match (d.first(), t.first()) {
            (None, None) => break,
            (Some(a), Some(b)) if a == b => {
                result.push(out(a, AppliesTo::All));
                (d, t) = (&d[1..], &t[1..]);
                continue;
            }
            (Some(a), Some(b)) => !in_list(a, t) || in_list(b, d),
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if digest_first {
            result.push(out(&d[0], AppliesTo::Digest));
            d = &d[1..];
        } else {
            result.push(out(&t[0], AppliesTo::Tag));
            t = &t[1..];
        }
    }
    result
}

/// Renders the rules as a registries.conf version 2 document. Deterministic: rules sorted by
/// source, mirrors in priority order, `pull-from-mirror` omitted when a mirror serves both kinds.
pub fn render<D: Domain>(set: &MirrorSet<D>) -> String {
    let registry = set
        .rules()
        .iter()
        .map(|rule| RegistryOut {
            prefix: rule.source.as_str(),
            location: match rule.source.kind() {
                ScopeKind::Wildcard => rule.location.as_deref(),
                _ => Some(rule.location.as_deref().unwrap_or(rule.source.as_str())),
            },
            insecure: rule.insecure,
            blocked: rule.blocked,
            mirror: interleave(&rule.digest_mirrors, &rule.tag_mirrors),
        })
        .collect();
    let body = toml::to_string(&FileOut { registry }).unwrap_or_default();
    format!(
        "# containers-registries.conf(5) version 2, rendered by `hypershift mirrors registries-conf`.\n\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror_set::{DataPlane, MirrorSetBuilder};

    fn build(text: &str) -> MirrorSet<DataPlane> {
        let mut b = MirrorSetBuilder::new();
        b.add_registries_conf("t", &RegistriesConf::parse(text).unwrap())
            .unwrap();
        b.build()
    }

    #[test]
    fn reads_v2_tables() {
        let set = build(
            r#"
unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]
short-name-mode = "enforcing"
[aliases]
"busybox" = "docker.io/library/busybox"

[[registry]]
prefix = "quay.io/ocp"
location = "quay.io/ocp"
blocked = true
mirror-by-digest-only = true
  [[registry.mirror]]
  location = "m.io/ocp"
  insecure = true

[[registry]]
location = "registry.invalid"
insecure = true
"#,
        );
        let rules = set.rules();
        assert_eq!(rules.len(), 2);
        assert!(rules[0].blocked);
        assert!(rules[0].tag_mirrors.is_empty());
        assert!(rules[0].digest_mirrors[0].insecure);
        assert_eq!(rules[1].source.as_str(), "registry.invalid");
        assert!(rules[1].insecure && !rules[1].has_mirrors());
    }

    #[test]
    fn rejects_what_would_silently_change_pulls() {
        let err = |t: &str| RegistriesConf::parse(t).unwrap_err().to_string();
        assert!(err("[[registry]]\nlocation = \"q.io\"\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirrors = \"all\"\n").contains("pull-from-mirrors"));
        assert!(err("[[registry]]\nlocation = \"q.io\"\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"digests\"\n").contains("\"digests\" is not one of"));
        assert!(err("[[registry]]\nlocation = \"q.io\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"all\"\n").contains("cannot be combined"));
        assert!(err("[registries.search]\nregistries = [\"q.io\"]\n").contains("version 1"));
        assert!(err("[[registry]]\nprefix = \"q.io/a\"\n").contains("needs a location"));
        assert!(err("[[registry]]\ninsecure = true\n").contains("registry[0]: needs a prefix"));
        assert!(err("[[registry]\n").starts_with("not valid registries.conf TOML"));
    }

    #[test]
    fn one_registry_defined_twice_with_conflicting_settings_names_both_entries() {
        let err = |t: &str| RegistriesConf::parse(t).unwrap_err().to_string();
        // The same prefix (and location), `blocked` differing.
        assert_eq!(
            err(
                "[[registry]]\nlocation = \"quay.invalid/ns\"\nblocked = true\n[[registry]]\nlocation = \"other.invalid\"\n[[registry]]\nlocation = \"x.invalid\"\n[[registry]]\nprefix = \"quay.invalid/ns\"\nlocation = \"quay.invalid/ns\"\n"
            ),
            "registry[0] (prefix \"quay.invalid/ns\") and registry[3] (prefix \"quay.invalid/ns\") both define location \"quay.invalid/ns\" with conflicting blocked settings (true and false)"
        );
        // containers/image compares entries by location: two prefixes remapped to one location.
        assert_eq!(
            err(
                "[[registry]]\nprefix = \"quay.invalid/a\"\nlocation = \"int.invalid/x\"\ninsecure = true\n[[registry]]\nprefix = \"quay.invalid/b\"\nlocation = \"int.invalid/x\"\n"
            ),
            "registry[0] (prefix \"quay.invalid/a\") and registry[1] (prefix \"quay.invalid/b\") both define location \"int.invalid/x\" with conflicting insecure settings (true and false)"
        );
        // The same prefix remapped to two locations: containers/image would silently use the
        // first; a conflicting `blocked` there is certainly a mistake.
        assert_eq!(
            err(
                "[[registry]]\nprefix = \"*.apps.invalid\"\n[[registry]]\nprefix = \"*.apps.invalid\"\nlocation = \"int.invalid/w\"\nblocked = true\n"
            ),
            "registry[0] (prefix \"*.apps.invalid\") and registry[1] (prefix \"*.apps.invalid\") both define prefix \"*.apps.invalid\" with conflicting blocked settings (false and true)"
        );
    }

    #[test]
    fn a_prefix_defined_twice_without_conflict_uses_the_first_entry() {
        // containers/image: "the first longest prefix always wins"; later entries with the same
        // prefix are ignored (their mirrors are not merged in).
        let conf = RegistriesConf::parse(
            "[[registry]]\nlocation = \"quay.invalid/ns\"\n[[registry.mirror]]\nlocation = \"first.io/ns\"\n[[registry]]\nprefix = \"quay.invalid/ns\"\nlocation = \"quay.invalid/ns\"\n[[registry.mirror]]\nlocation = \"second.io/ns\"\n",
        )
        .unwrap();
        assert_eq!(
            conf.warnings(),
            [
                "registry[1]: prefix \"quay.invalid/ns\" is already defined by registry[0]; this entry is ignored, as containers/image ignores it"
            ]
        );
        let mut b = MirrorSetBuilder::new();
        b.add_registries_conf("t", &conf).unwrap();
        let set: MirrorSet<DataPlane> = b.build();
        let mirrors: Vec<&str> = set.rules()[0]
            .all_mirrors()
            .map(|m| m.location.as_str())
            .collect();
        assert_eq!(mirrors, ["first.io/ns"]);
    }

    #[test]
    fn renders_deterministic_v2() {
        let text = r#"
[[registry]]
prefix = "*.example.com"
[[registry.mirror]]
location = "w.io"

[[registry]]
location = "quay.io/ocp"
blocked = true
[[registry.mirror]]
location = "m.io/ocp"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "t.io/ocp"
pull-from-mirror = "tag-only"
insecure = true
"#;
        let set = build(text);
        let out = render(&set);
        assert_eq!(
            out,
            r#"# containers-registries.conf(5) version 2, rendered by `hypershift mirrors registries-conf`.

[[registry]]
prefix = "*.example.com"

[[registry.mirror]]
location = "w.io"

[[registry]]
prefix = "quay.io/ocp"
location = "quay.io/ocp"
blocked = true

[[registry.mirror]]
location = "m.io/ocp"
pull-from-mirror = "digest-only"

[[registry.mirror]]
location = "t.io/ocp"
insecure = true
pull-from-mirror = "tag-only"
"#
        );
        // What we render reads back as the same rules.
        assert_eq!(build(&out), set);
    }

    #[test]
    fn a_wildcard_prefix_with_a_location_is_read_and_rendered() {
        let text = "[[registry]]\nprefix = \"*.apps.invalid\"\nlocation = \"internal.io/wild\"\nblocked = true\n[[registry.mirror]]\nlocation = \"m.io/w\"\n";
        let set = build(text);
        assert_eq!(set.rules()[0].location.as_deref(), Some("internal.io/wild"));
        let out = render(&set);
        assert!(
            out.contains("prefix = \"*.apps.invalid\"\nlocation = \"internal.io/wild\"\nblocked = true\n"),
            "{out}"
        );
        assert_eq!(build(&out), set);
    }

    #[test]
    fn digest_and_tag_orders_both_survive_rendering() {
        use crate::mirror_set::tests::{idms, itms};
        let mut b = MirrorSetBuilder::new();
        b.add_idms(&idms(
            "d",
            &[("q.io/a", &["a.io", "b.io"], None), ("q.io/c", &["x.io"], None)],
        ))
        .unwrap();
        b.add_itms(&itms(
            "t",
            &[("q.io/a", &["b.io", "a.io"]), ("q.io/c", &["t.io", "x.io"])],
        ))
        .unwrap();
        let set: MirrorSet<DataPlane> = b.build();
        let out = render(&set);
        // Conflicting orders: a.io twice; compatible orders: one `all` entry for x.io.
        let entries: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("location") || l.starts_with("pull-from"))
            .collect();
        assert_eq!(
            entries,
            [
                "location = \"q.io/a\"",
                "location = \"a.io\"",
                "pull-from-mirror = \"digest-only\"",
                "location = \"b.io\"",
                "location = \"a.io\"",
                "pull-from-mirror = \"tag-only\"",
                "location = \"q.io/c\"",
                "location = \"t.io\"",
                "pull-from-mirror = \"tag-only\"",
                "location = \"x.io\"",
            ]
        );
        assert_eq!(build(&out), set);
    }
}
