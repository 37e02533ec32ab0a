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
}

/// A parsed registries.conf (only what concerns mirrors).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistriesConf {
    registries: Vec<Registry>,
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
        let registries = file
            .registry
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                Registry::from_table(r).map_err(|reason| RegistriesConfError::Registry { index, reason })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { registries })
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = RawEntry<'_>> {
        self.registries.iter().map(|r| RawEntry {
            source: &r.prefix,
            location: r.location.as_deref(),
            mirrors: r.mirrors.iter().map(|(l, a, i)| (l.as_str(), *a, *i)).collect(),
            policy: None,
            blocked: r.blocked,
            insecure: r.insecure,
            keep_without_mirrors: true,
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
