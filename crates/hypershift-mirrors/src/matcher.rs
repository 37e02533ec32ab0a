//! The matcher: which rule covers a reference, and the ordered pull candidates it yields.
//!
//! Semantics are containers/image `sysregistriesv2`:
//! - the rule whose source is the longest prefix of the reference wins, where a prefix must end
//!   on a component boundary: the end of the reference, or a following `/`, `@`, or `:` (a `:`
//!   only after a repository, where it starts a tag: `quay.io` does not cover `quay.io:5000/x`,
//!   nor `quay.io.example.com/x`);
//! - `*.example.com` covers every host name ending in `.example.com` (without a port); an exact
//!   rule beats a wildcard, and a longer wildcard beats a shorter one;
//! - a candidate is the mirror location followed by the rest of the reference after the prefix;
//!   for a wildcard the prefix matched is the host (for an image-level source, `repo:tag` or
//!   `repo@digest`, the location replaces the name and the pulled reference keeps its tag and
//!   digest);
//! - a digest pull uses the rule's digest mirrors, a tag pull its tag mirrors; in
//!   [`MatchMode::Live`] (the operators' own pulls) a tag pull then also tries the digest mirrors,
//!   as HyperShift does;
//! - the source itself (or its registries.conf `location` followed by the rest, also for a
//!   wildcard) comes last, once: not again when a mirror equal to it came earlier;
//! - `blocked` (`NeverContactSource`) is checked for every candidate, as containers/image checks
//!   every reference it is about to try: a candidate whose own covering rule is blocked is dropped.
//!   That removes a blocked rule's source, and any mirror inside a blocked scope; a remapped
//!   `location` outside every blocked scope stays.
//!
//! Lookup cost does not grow with the number of rules: the reference's own prefixes (at most one
//! per path component, plus one per host label for wildcards) are looked up in hash maps. A
//! candidate is looked up the same way only when a blocked rule exists on its host.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::mirror_set::{Domain, MirrorRule, MirrorSet};
use crate::reference::ImageRef;
use crate::scope::ScopeKind;

/// How a pull uses the mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchMode {
    /// A node's container runtime (containers/image): mirrors are used only for the kind of
    /// reference they are declared for.
    Node,
    /// HyperShift's live URL translation in the operators and the ignition-server: digest-only
    /// mirrors are also tried for tag references.
    Live,
}

/// Where a pull of one reference goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution<'a> {
    /// The reference pulled (normalised, `:latest` added to a bare name).
    pub image: Cow<'a, ImageRef>,
    /// The rule that covers it, if any.
    pub rule: Option<&'a MirrorRule>,
    /// Pull specs in the order they are tried.
    pub candidates: Vec<String>,
    /// Whether the source itself is never contacted.
    pub blocked: bool,
}

type Map<V> = HashMap<Box<str>, V, foldhash::fast::FixedState>;

/// Index from source text to rule position: registry host first, then the path below it.
#[derive(Debug, Clone, Default)]
pub(crate) struct MatchIndex {
    /// Non-wildcard sources by their registry (`host[:port]`).
    hosts: Map<HostRules>,
    /// Wildcard sources, keyed by their suffix (`.example.com` for `*.example.com`).
    wildcard: Map<usize>,
    /// Per rule (same positions as the rules): which of its candidates the `blocked` check must
    /// look up.
    checks: Vec<BlockedChecks>,
}

/// Which candidates of one rule may fall under a blocked rule, decided once when the index is
/// built: looking up every candidate was two thirds of a lookup's instructions in the matcher
/// bench, and mirrors usually live on hosts that no blocked rule names.
#[derive(Debug, Clone, Copy, Default)]
struct BlockedChecks {
    /// Some mirror's host has a blocked rule (exact or wildcard).
    mirrors: bool,
    /// The registries.conf `location`'s host has one.
    location: bool,
}

/// Where the parts of a reference end, in its text.
#[derive(Debug, Clone, Copy)]
struct Parts {
    /// Length of `host[:port]`.
    registry_len: usize,
    /// Length of the name (`host/path`), before any `:tag` or `@digest`.
    name_len: usize,
    /// Whether it has both a tag and a digest (`name:tag@digest`).
    tag_and_digest: bool,
}

impl Parts {
    fn of_ref(image: &ImageRef) -> Self {
        Self {
            registry_len: image.registry().len(),
            name_len: image.name().len(),
            tag_and_digest: image.tag().is_some() && image.digest().is_some(),
        }
    }

    /// The same for a pull spec we built (a candidate): the host ends at the first `/`, a digest
    /// starts at `@`, a tag at the last `:` after the last `/`.
    /// Byte searches: every delimiter is ASCII, and `str`'s char searchers were most of this
    /// function's cost in the matcher bench's profile.
    fn of_text(text: &str) -> Self {
        let b = text.as_bytes();
        let registry_len = b.iter().position(|c| *c == b'/').unwrap_or(b.len());
        let at = b[registry_len..]
            .iter()
            .position(|c| *c == b'@')
            .map_or(b.len(), |i| registry_len + i);
        let last_slash = b[..at].iter().rposition(|c| *c == b'/').unwrap_or(registry_len);
        let colon = b[last_slash..at]
            .iter()
            .rposition(|c| *c == b':')
            .map(|i| last_slash + i);
        Self {
            registry_len,
            name_len: colon.unwrap_or(at),
            tag_and_digest: colon.is_some() && at < b.len(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct HostRules {
    /// A source that is the registry itself.
    registry: Option<usize>,
    /// Namespace and repository sources, keyed by the path after `host/` (`ns/repo`).
    repositories: Map<usize>,
    /// Image-level sources, keyed by the text after `host/` (`ns/repo:tag`, `ns/repo@digest`).
    /// Apart from the repositories so that a lookup hashes the whole reference (often 100
    /// characters with a digest) only when the host has such a source at all.
    images: Map<usize>,
    /// Whether any of these rules is blocked.
    any_blocked: bool,
}

impl MatchIndex {
    pub(crate) fn new(rules: &[MirrorRule]) -> Self {
        let mut index = Self::default();
        for (i, rule) in rules.iter().enumerate() {
            if let Some(suffix) = rule.source.wildcard_suffix() {
                index.wildcard.insert(suffix.into(), i);
                continue;
            }
            let text = rule.source.as_str();
            let (host, path) = match text.split_once('/') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            };
            let entry = index.hosts.entry(host.into()).or_default();
            entry.any_blocked |= rule.blocked;
            match path {
                Some(path) if rule.source.kind() == ScopeKind::Image => entry.images.insert(path.into(), i),
                Some(path) => entry.repositories.insert(path.into(), i),
                None => entry.registry.replace(i),
            };
        }
        index.checks = rules
            .iter()
            .map(|rule| BlockedChecks {
                mirrors: rule
                    .digest_mirrors
                    .iter()
                    .chain(&rule.tag_mirrors)
                    .any(|m| index.host_may_be_blocked(rules, &m.location)),
                location: rule
                    .location
                    .as_deref()
                    .is_some_and(|l| index.host_may_be_blocked(rules, l)),
            })
            .collect();
        index
    }

    /// Whether a blocked rule could cover a pull spec on the host of `location`: `find` only
    /// returns that host's exact rules or a wildcard matching it.
    fn host_may_be_blocked(&self, rules: &[MirrorRule], location: &str) -> bool {
        let host = location.split_once('/').map_or(location, |(h, _)| h);
        self.hosts.get(host).is_some_and(|h| h.any_blocked)
            || self.wildcards(host).any(|(i, _)| rules[i].blocked)
    }

    /// The covering rule of `text` (with its `parts`) and the length of the prefix it matched.
    fn find(&self, text: &str, parts: Parts) -> Option<(usize, usize)> {
        let Parts {
            registry_len,
            name_len,
            tag_and_digest,
        } = parts;
        let Some(host) = self.hosts.get(&text[..registry_len]) else {
            return self.find_wildcard(&text[..registry_len]);
        };
        let below = registry_len + 1;
        let mut found = None;
        if below <= name_len {
            // Longest first: the whole reference, `name:tag` before an `@digest` (both only
            // image-level sources can be), the bare name, then each shorter path prefix.
            if !host.images.is_empty() && text.len() > name_len {
                let at = if tag_and_digest { text.rfind('@') } else { None };
                found = [Some(text.len()), at]
                    .into_iter()
                    .flatten()
                    .find_map(|end| host.images.get(&text[below..end]).map(|i| (*i, end)));
            }
            if found.is_none() && !host.repositories.is_empty() {
                let repository = |end: usize| host.repositories.get(&text[below..end]).map(|i| (*i, end));
                let path = &text.as_bytes()[below..name_len];
                found = repository(name_len).or_else(|| {
                    (0..path.len())
                        .rev()
                        .filter(|i| path[*i] == b'/')
                        .find_map(|i| repository(below + i))
                });
            }
        }
        found
            .or_else(|| host.registry.map(|i| (i, registry_len)))
            .or_else(|| self.find_wildcard(&text[..registry_len]))
    }

    fn find_wildcard(&self, host: &str) -> Option<(usize, usize)> {
        self.wildcards(host).next()
    }

    /// The wildcard rules matching `host`, most specific suffix first: for `a.b.example.com`,
    /// `.b.example.com` then `.example.com`, ...
    fn wildcards<'a>(&'a self, host: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
        let b = host.as_bytes();
        let eligible = !self.wildcard.is_empty() && !b.contains(&b':') && b.first() != Some(&b'[');
        (0..b.len())
            .take_while(move |_| eligible)
            .filter(move |i| b[*i] == b'.')
            .filter_map(move |i| self.wildcard.get(&host[i..]).map(|r| (*r, host.len())))
    }
}

impl<D: Domain> MirrorSet<D> {
    /// Where a pull of `image` goes, with this domain's semantics.
    pub fn resolve<'a>(&'a self, image: &'a ImageRef) -> Resolution<'a> {
        self.resolve_with(image, D::MODE)
    }

    /// Where a pull of `image` goes, with explicit semantics.
    pub fn resolve_with<'a>(&'a self, image: &'a ImageRef, mode: MatchMode) -> Resolution<'a> {
        let image = image.pull_reference();
        let Some((rule_index, matched)) = self.index().find(image.as_str(), Parts::of_ref(&image)) else {
            let candidates = vec![image.as_str().to_owned()];
            return Resolution {
                image,
                rule: None,
                candidates,
                blocked: false,
            };
        };
        let rule = &self.rules()[rule_index];
        // An image-level source (`repo:tag`, `repo@digest`) maps the name only: the pulled
        // reference keeps its own tag and digest.
        let rest = match rule.source.kind() {
            ScopeKind::Image => &image.as_str()[image.name().len()..],
            _ => &image.as_str()[matched..],
        };
        let mut candidates: Vec<String> =
            Vec::with_capacity(rule.digest_mirrors.len() + rule.tag_mirrors.len() + 1);
        if image.is_digested() {
            candidates.extend(rule.digest_mirrors.iter().map(|m| concat(&m.location, rest)));
        } else {
            candidates.extend(rule.tag_mirrors.iter().map(|m| concat(&m.location, rest)));
            if mode == MatchMode::Live {
                // Then the digest mirrors, as HyperShift tries them for tags.
                let extra = rule
                    .digest_mirrors
                    .iter()
                    .filter(|d| !rule.tag_mirrors.iter().any(|t| t.location == d.location));
                candidates.extend(extra.map(|m| concat(&m.location, rest)));
            }
        }
        // containers/image refuses every reference it is about to try whose own covering rule
        // is blocked: the source (unless remapped out of the blocked scope), and mirrors inside
        // a blocked scope. A candidate is looked up only if a blocked rule could cover it: one on
        // its host (decided when the index was built, for the host of each mirror and location).
        // That host is the location's own when the rest starts with `/`; otherwise (the rest is
        // only `:tag` or `@digest`, and `registry` + `:5000` is another host) every candidate is
        // looked up.
        let checks = self.index().checks[rule_index];
        let on_location_host = rest.starts_with('/');
        let blocked = |c: &String| {
            self.index()
                .find(c, Parts::of_text(c))
                .is_some_and(|(i, _)| self.rules()[i].blocked)
        };
        if checks.mirrors || !on_location_host {
            candidates.retain(|c| !blocked(c));
        }
        // The source itself, or its registries.conf `location` followed by the rest (for a
        // wildcard, the rest after the host). Once: a mirror equal to the source already tried it
        // (and a mirror equal to a blocked source was dropped above, as the source is now).
        let source = match rule.location.as_deref() {
            // The reference itself: its covering rule is `rule`.
            None => (!rule.blocked).then(|| image.as_str().to_owned()),
            Some(location) => {
                let source = concat(location, rest);
                let check = checks.location || !on_location_host;
                (!check || !blocked(&source)).then_some(source)
            }
        };
        if let Some(source) = source
            && !candidates.contains(&source)
        {
            candidates.push(source);
        }
        Resolution {
            image,
            rule: Some(rule),
            candidates,
            blocked: rule.blocked,
        }
    }
}

/// `a` followed by `b`, with one allocation (this is on the hot path of every lookup).
fn concat(a: &str, b: &str) -> String {
    let mut s = String::with_capacity(a.len() + b.len());
    s.push_str(a);
    s.push_str(b);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror_set::{DataPlane, Management, MirrorSetBuilder};
    use crate::registries_conf::RegistriesConf;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn set(conf: &str) -> MirrorSet<DataPlane> {
        let mut b = MirrorSetBuilder::new();
        b.add_registries_conf("test.conf", &RegistriesConf::parse(conf).unwrap())
            .unwrap();
        b.build()
    }

    fn candidates(set: &MirrorSet<DataPlane>, image: &str, mode: MatchMode) -> Vec<String> {
        set.resolve_with(&ImageRef::parse(image).unwrap(), mode)
            .candidates
    }

    fn source(set: &MirrorSet<DataPlane>, image: &str) -> Option<String> {
        set.resolve(&ImageRef::parse(image).unwrap())
            .rule
            .map(|r| r.source.to_string())
    }

    const CONF: &str = r#"
[[registry]]
location = "quay.io"
[[registry.mirror]]
location = "mirror.io/quay"

[[registry]]
location = "quay.io/openshift-release-dev"
[[registry.mirror]]
location = "mirror.io/ocp"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.io/ocp"
pull-from-mirror = "tag-only"

[[registry]]
location = "quay.io/openshift-release-dev/ocp-release"
blocked = true
[[registry.mirror]]
location = "mirror.io/openshift/release-images"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "*.example.com"
[[registry.mirror]]
location = "wild.io"

[[registry]]
prefix = "*.b.example.com"
[[registry.mirror]]
location = "wild-b.io"

[[registry]]
location = "registry:5000"
[[registry.mirror]]
location = "port.io"
"#;

    #[test]
    fn longest_prefix_on_component_boundaries() {
        let s = set(CONF);
        assert_eq!(source(&s, "quay.io/x/y:1").as_deref(), Some("quay.io"));
        assert_eq!(
            source(&s, "quay.io/openshift-release-dev/other:1").as_deref(),
            Some("quay.io/openshift-release-dev")
        );
        assert_eq!(
            source(&s, &format!("quay.io/openshift-release-dev/ocp-release@{D}")).as_deref(),
            Some("quay.io/openshift-release-dev/ocp-release")
        );
        // Not on a boundary: a longer repository name, a longer host, a port.
        assert_eq!(
            source(&s, "quay.io/openshift-release-dev-x/a:1").as_deref(),
            Some("quay.io")
        );
        assert_eq!(
            source(&s, "quay.io.example.com/a:1").as_deref(),
            Some("*.example.com")
        );
        assert_eq!(source(&s, "quay.io:5000/a:1"), None);
        assert_eq!(source(&s, "registry:5000/a:1").as_deref(), Some("registry:5000"));
        assert_eq!(source(&s, "registry:5001/a:1"), None);
    }

    #[test]
    fn rewriting_keeps_the_rest_of_the_reference() {
        let s = set(CONF);
        assert_eq!(
            candidates(
                &s,
                &format!("quay.io/openshift-release-dev/ocp-v4.0-art-dev@{D}"),
                MatchMode::Node
            ),
            [
                format!("mirror.io/ocp/ocp-v4.0-art-dev@{D}"),
                format!("quay.io/openshift-release-dev/ocp-v4.0-art-dev@{D}")
            ]
        );
        assert_eq!(
            candidates(&s, "quay.io/x/y", MatchMode::Node),
            ["mirror.io/quay/x/y:latest", "quay.io/x/y:latest"]
        );
    }

    #[test]
    fn digest_only_and_tag_only_mirrors() {
        let s = set(CONF);
        let tag = "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.99";
        assert_eq!(
            candidates(&s, tag, MatchMode::Node),
            ["tags.io/ocp/ocp-v4.0-art-dev:4.99", tag]
        );
        // Live: digest-only mirrors are tried for tags too (HyperShift's behaviour), after the tag mirrors.
        assert_eq!(
            candidates(&s, tag, MatchMode::Live),
            [
                "tags.io/ocp/ocp-v4.0-art-dev:4.99",
                "mirror.io/ocp/ocp-v4.0-art-dev:4.99",
                tag
            ]
        );
        // Tag-only mirrors are never used for digests.
        let digest = format!("quay.io/openshift-release-dev/ocp-v4.0-art-dev@{D}");
        assert_eq!(candidates(&s, &digest, MatchMode::Live).len(), 2);
    }

    #[test]
    fn blocked_sources_are_never_candidates() {
        let s = set(CONF);
        let image = ImageRef::parse(&format!("quay.io/openshift-release-dev/ocp-release@{D}")).unwrap();
        let r = s.resolve(&image);
        assert!(r.blocked);
        assert_eq!(r.candidates, [format!("mirror.io/openshift/release-images@{D}")]);
        // A tag pull through a digest-only mirror of a blocked source has nowhere to go.
        let image = ImageRef::parse("quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64").unwrap();
        let r = s.resolve(&image);
        assert!(r.blocked && r.candidates.is_empty());
    }

    #[test]
    fn wildcards_prefer_exact_then_most_specific() {
        let s = set(CONF);
        assert_eq!(source(&s, "a.example.com/x:1").as_deref(), Some("*.example.com"));
        assert_eq!(
            source(&s, "a.b.example.com/x:1").as_deref(),
            Some("*.b.example.com")
        );
        assert_eq!(source(&s, "example.com/x:1"), None);
        assert_eq!(source(&s, "a.example.com:443/x:1"), None);
        assert_eq!(
            candidates(&s, "a.b.example.com/x:1", MatchMode::Node),
            ["wild-b.io/x:1", "a.b.example.com/x:1"]
        );
        let exact = set(
            "[[registry]]\nlocation = \"a.example.com\"\n[[registry.mirror]]\nlocation = \"e.io\"\n[[registry]]\nprefix = \"*.example.com\"\n[[registry.mirror]]\nlocation = \"w.io\"\n",
        );
        assert_eq!(
            source(&exact, "a.example.com/x:1").as_deref(),
            Some("a.example.com")
        );
    }

    #[test]
    fn a_wildcard_prefix_with_a_location_rewrites_the_matched_host() {
        // containers/image: for `*.` prefixes the matched part is the host; `location` and every
        // mirror replace it and keep the rest of the reference.
        let s = set(
            "[[registry]]\nprefix = \"*.apps.invalid\"\nlocation = \"internal.io/wild\"\n[[registry.mirror]]\nlocation = \"m.io/w\"\n",
        );
        assert_eq!(
            candidates(&s, "a.b.apps.invalid/team/app:1", MatchMode::Node),
            ["m.io/w/team/app:1", "internal.io/wild/team/app:1"]
        );
        assert_eq!(
            candidates(&s, &format!("x.apps.invalid/app@{D}"), MatchMode::Node),
            [format!("m.io/w/app@{D}"), format!("internal.io/wild/app@{D}")]
        );
        assert_eq!(source(&s, "apps.invalid/app:1"), None);
    }

    #[test]
    fn blocked_is_checked_for_every_reference_tried() {
        // containers/image checks `blocked` against each reference it is about to try, mirrors
        // and remapped locations included: what falls under a blocked prefix is refused, what
        // does not is tried.
        let s = set(r#"
[[registry]]
location = "quay.invalid/ns"
blocked = true
[[registry.mirror]]
location = "quay.invalid/ns"
[[registry.mirror]]
location = "blocked.invalid/m"
[[registry.mirror]]
location = "quay.invalid/ns-mirror"

[[registry]]
location = "blocked.invalid"
blocked = true

[[registry]]
prefix = "quay.invalid/remapped"
location = "int.invalid/r"
blocked = true
"#);
        assert_eq!(
            candidates(&s, "quay.invalid/ns/x:1", MatchMode::Node),
            ["quay.invalid/ns-mirror/x:1"]
        );
        assert_eq!(
            candidates(&s, "quay.invalid/remapped/x:1", MatchMode::Node),
            ["int.invalid/r/x:1"]
        );
        assert!(candidates(&s, "blocked.invalid/x:1", MatchMode::Node).is_empty());
    }

    #[test]
    fn a_bare_host_mirror_followed_by_a_tag_is_checked_on_the_host_it_makes() {
        // `registry.invalid` + `:5000` is `registry.invalid:5000`, a blocked registry: the
        // candidate's host is not the mirror's, so it is looked up like any other.
        let s = set(r#"
[[registry]]
location = "quay.invalid/ns/app"
[[registry.mirror]]
location = "registry.invalid"
[[registry.mirror]]
location = "m.invalid/app"

[[registry]]
location = "registry.invalid:5000"
blocked = true
[[registry.mirror]]
location = "m.invalid/r"
"#);
        assert_eq!(
            candidates(&s, "quay.invalid/ns/app:5000", MatchMode::Node),
            ["m.invalid/app:5000", "quay.invalid/ns/app:5000"]
        );
        assert_eq!(
            candidates(&s, "quay.invalid/ns/app:5001", MatchMode::Node),
            [
                "registry.invalid:5001",
                "m.invalid/app:5001",
                "quay.invalid/ns/app:5001"
            ]
        );
    }

    #[test]
    fn image_level_prefixes() {
        let s = set(&format!(
            "[[registry]]\nprefix = \"quay.io/a/b:1\"\nlocation = \"pinned.io/b\"\n[[registry]]\nprefix = \"quay.io/a/b@{D}\"\nlocation = \"bydigest.io/b\"\n[[registry]]\nprefix = \"quay.io/a/b\"\nlocation = \"repo.io/b\"\n"
        ));
        assert_eq!(
            candidates(&s, "quay.io/a/b:1", MatchMode::Node),
            ["pinned.io/b:1"]
        );
        assert_eq!(candidates(&s, "quay.io/a/b:2", MatchMode::Node), ["repo.io/b:2"]);
        assert_eq!(
            candidates(&s, &format!("quay.io/a/b@{D}"), MatchMode::Node),
            [format!("bydigest.io/b@{D}")]
        );
        assert_eq!(
            candidates(&s, &format!("quay.io/a/b:1@{D}"), MatchMode::Node),
            [format!("pinned.io/b:1@{D}")]
        );
    }

    #[test]
    fn no_rule_means_the_source_only_and_a_location_remap_replaces_the_source() {
        let s = set("[[registry]]\nprefix = \"quay.io/a\"\nlocation = \"internal.io/a\"\n");
        assert_eq!(
            candidates(&s, "docker.io/library/busybox", MatchMode::Node),
            ["docker.io/library/busybox:latest"]
        );
        assert_eq!(
            candidates(&s, "quay.io/a/x:1", MatchMode::Node),
            ["internal.io/a/x:1"]
        );
    }

    #[test]
    fn domains_pick_their_default_mode() {
        let mut b = MirrorSetBuilder::new();
        b.add_idms(&crate::mirror_set::tests::idms(
            "i",
            &[("quay.io/a", &["m.io/a"], None)],
        ))
        .unwrap();
        let mgmt: MirrorSet<Management> = b.clone().build();
        let dp: MirrorSet<DataPlane> = b.build();
        let tag = ImageRef::parse("quay.io/a/x:1").unwrap();
        assert_eq!(mgmt.resolve(&tag).candidates, ["m.io/a/x:1", "quay.io/a/x:1"]);
        assert_eq!(dp.resolve(&tag).candidates, ["quay.io/a/x:1"]);
        assert!(mgmt.rules()[0].tag_mirrors.is_empty());
    }
}
