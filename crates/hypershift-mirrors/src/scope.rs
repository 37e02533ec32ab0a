//! Source scopes (what a mirror rule applies to) and mirror locations.
//!
//! A source scope is one of:
//! - `*.example.com`: every registry host whose name ends in `.example.com` (no port);
//! - `host[:port]`: a whole registry;
//! - `host[:port]/a[/b…]`: a namespace or repository (syntactically the same: a path prefix);
//! - `host[:port]/a/b:tag` or `…@digest`: one image (registries.conf allows this).
//!
//! A mirror location is `host[:port][/path]`, never a wildcard, tag or digest.
//! Both are compared as written: sources are not normalised (`docker.io/busybox` does not
//! cover `docker.io/library/busybox`), exactly as containers/image treats `prefix`.

use std::fmt;

use crate::reference::{
    is_domain_name, is_path_component, is_tag, split_tag_digest, validate_digest, validate_host_port,
};

/// The granularity of a [`SourceScope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// `*.example.com`.
    Wildcard,
    /// `host[:port]`.
    Registry,
    /// `host[:port]/path…` (a namespace or a repository).
    Repository,
    /// `host[:port]/path…:tag` or `…@digest`.
    Image,
}

/// A validated mirror-rule source, kept as written.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceScope {
    text: String,
    kind: ScopeKind,
}

/// Why a source or mirror string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("source is empty")]
    EmptySource,
    #[error("mirror location is empty")]
    EmptyMirror,
    #[error("{what} {text:?}: {reason}")]
    Invalid {
        what: &'static str,
        text: String,
        reason: String,
    },
}

impl SourceScope {
    /// Validates a source as written in an ICSP/IDMS/ITMS entry or a registries.conf `prefix`.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let invalid = |reason: String| ScopeError::Invalid {
            what: "source",
            text: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(ScopeError::EmptySource);
        }
        if let Some(domain) = text.strip_prefix("*.") {
            if !is_domain_name(domain) {
                return Err(invalid(
                    "a wildcard must be `*.` followed by a host name without port or path".into(),
                ));
            }
            return Ok(Self {
                text: text.to_owned(),
                kind: ScopeKind::Wildcard,
            });
        }
        let (host, path) = match text.split_once('/') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        };
        validate_host_port(host).map_err(|()| invalid(format!("{host:?} is not a valid host[:port]")))?;
        let Some(path) = path else {
            return Ok(Self {
                text: text.to_owned(),
                kind: ScopeKind::Registry,
            });
        };
        let (rest, tag, digest) = split_tag_digest(path);
        validate_path(rest).map_err(invalid)?;
        if let Some(tag) = tag
            && !is_tag(tag)
        {
            return Err(invalid(format!("{tag:?} is not a valid tag")));
        }
        if let Some(digest) = digest {
            validate_digest(digest).map_err(|e| invalid(e.to_string()))?;
        }
        let kind = if tag.is_some() || digest.is_some() {
            ScopeKind::Image
        } else {
            ScopeKind::Repository
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
        })
    }

    /// The scope as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its granularity.
    pub fn kind(&self) -> ScopeKind {
        self.kind
    }

    /// For a wildcard, the suffix a host must end with (`.example.com`).
    pub(crate) fn wildcard_suffix(&self) -> Option<&str> {
        (self.kind == ScopeKind::Wildcard).then(|| &self.text[1..])
    }
}

impl fmt::Display for SourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for SourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceScope({:?})", self.text)
    }
}

/// Validates a mirror location: `host[:port][/path]`.
pub fn validate_mirror_location(text: &str) -> Result<(), ScopeError> {
    let invalid = |reason: String| ScopeError::Invalid {
        what: "mirror",
        text: text.to_owned(),
        reason,
    };
    if text.is_empty() {
        return Err(ScopeError::EmptyMirror);
    }
    if text.starts_with("*.") {
        return Err(invalid("a mirror cannot be a wildcard".into()));
    }
    let (host, path) = match text.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    };
    validate_host_port(host).map_err(|()| invalid(format!("{host:?} is not a valid host[:port]")))?;
    if let Some(path) = path {
        if path.contains(['@', ':']) {
            return Err(invalid(
                "a mirror is a registry or repository location, without tag or digest".into(),
            ));
        }
        validate_path(path).map_err(invalid)?;
    }
    Ok(())
}

fn validate_path(path: &str) -> Result<(), String> {
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("repository paths must be lowercase".into());
    }
    match path.split('/').find(|c| !is_path_component(c)) {
        Some(bad) => Err(format!(
            "path component {bad:?} is not valid (lower-case letters and digits separated by '.', '_', '__' or '-')"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> ScopeKind {
        SourceScope::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .kind()
    }

    #[test]
    fn scope_kinds() {
        assert_eq!(kind("*.example.com"), ScopeKind::Wildcard);
        assert_eq!(kind("quay.io"), ScopeKind::Registry);
        assert_eq!(kind("registry:5000"), ScopeKind::Registry);
        assert_eq!(kind("quay.io/openshift-release-dev"), ScopeKind::Repository);
        assert_eq!(
            kind("quay.io/openshift-release-dev/ocp-release"),
            ScopeKind::Repository
        );
        assert_eq!(kind("quay.io/a/b:4.18"), ScopeKind::Image);
        assert_eq!(
            kind(&format!("quay.io/a/b@sha256:{}", "a".repeat(64))),
            ScopeKind::Image
        );
        assert_eq!(kind("[::1]:5000/a"), ScopeKind::Repository);
    }

    #[test]
    fn bad_sources_say_what_is_wrong() {
        assert_eq!(SourceScope::parse(""), Err(ScopeError::EmptySource));
        for bad in [
            "*.",
            "*.-x.com",
            "*.a.com/x",
            "*example.com",
            "quay.io/",
            "quay.io/A",
            "quay.io//x",
            "quay.io:x/a",
            "a b",
        ] {
            let err = SourceScope::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert!(SourceScope::parse("quay.io/a@sha256:12").is_err());
    }

    #[test]
    fn mirror_locations() {
        for ok in [
            "mirror.invalid",
            "127.0.0.1:5443",
            "127.0.0.1:5443/openshift/release",
            "[::1]/x",
        ] {
            validate_mirror_location(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "*.m.com",
            "m.com/a:tag",
            "m.com/a@sha256:x",
            "m.com/",
            "M.com/Up",
        ] {
            assert!(validate_mirror_location(bad).is_err(), "{bad}");
        }
    }
}
