//! The naive matcher: try every rule, keep the best match (exact beats wildcard, longer beats
//! shorter). The benchmark's baseline, and the reference the property tests compare the indexed
//! matcher with.

use hypershift_mirrors::{ImageRef, MatchMode, MirrorRule, ScopeKind};

/// The rule covering `text` (a reference, host `host`) and the length of the prefix it matched.
fn naive_find<'a>(rules: &'a [MirrorRule], text: &str, host: &str) -> Option<(&'a MirrorRule, usize)> {
    let mut best: Option<(&MirrorRule, (bool, usize), usize)> = None;
    for rule in rules {
        let source = rule.source.as_str();
        let found = if rule.source.kind() == ScopeKind::Wildcard {
            let suffix = &source[1..];
            (!host.contains(':')
                && !host.starts_with('[')
                && host.ends_with(suffix)
                && host.len() > suffix.len())
            .then_some(((false, suffix.len()), host.len()))
        } else {
            let boundary = match text.as_bytes().get(source.len()) {
                None | Some(b'/' | b'@') => true,
                Some(b':') => source.contains('/'),
                Some(_) => false,
            };
            (text.starts_with(source) && boundary).then_some(((true, source.len()), source.len()))
        };
        if let Some((rank, len)) = found
            && best.is_none_or(|(_, r, _)| rank > r)
        {
            best = Some((rule, rank, len));
        }
    }
    best.map(|(rule, _, len)| (rule, len))
}

/// The baseline: try every rule, keep the best match (exact beats wildcard, longer beats shorter);
/// then drop every candidate whose own best rule is blocked.
pub fn naive_resolve(rules: &[MirrorRule], image: &ImageRef, mode: MatchMode) -> Vec<String> {
    let image = image.pull_reference();
    let text = image.as_str();
    let Some((rule, matched)) = naive_find(rules, text, image.registry()) else {
        return vec![text.to_owned()];
    };
    let rest = if rule.source.kind() == ScopeKind::Image {
        &text[image.name().len()..]
    } else {
        &text[matched..]
    };
    let locations =
        |list: &[hypershift_mirrors::Mirror]| list.iter().map(|m| m.location.clone()).collect::<Vec<_>>();
    let mut mirrors = if image.is_digested() {
        locations(&rule.digest_mirrors)
    } else {
        locations(&rule.tag_mirrors)
    };
    if !image.is_digested() && mode == MatchMode::Live {
        for m in locations(&rule.digest_mirrors) {
            if !mirrors.contains(&m) {
                mirrors.push(m);
            }
        }
    }
    let mut out: Vec<String> = mirrors.iter().map(|m| [m.as_str(), rest].concat()).collect();
    let source = match &rule.location {
        Some(location) => [location.as_str(), rest].concat(),
        None => text.to_owned(),
    };
    if !out.contains(&source) {
        out.push(source);
    }
    out.retain(|candidate| {
        let host = candidate.split('/').next().unwrap_or(candidate);
        naive_find(rules, candidate, host).is_none_or(|(r, _)| !r.blocked)
    });
    out
}
