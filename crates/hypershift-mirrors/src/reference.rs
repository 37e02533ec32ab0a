//! Image references: the distribution reference grammar with containers/image normalisation.
//!
//! Grammar (distribution/reference):
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [domain "/"] path-component ("/" path-component)*
//! domain         := host [":" port]          host := domain-name | "[" ipv6 "]"
//! path-component := [a-z0-9]+ (separator [a-z0-9]+)*     separator := "." | "_" | "__" | "-"+
//! tag            := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest         := algorithm ":" hex        (sha256: 64, sha384: 96, sha512: 128 lower-case hex)
//! ```
//! Normalisation (containers/image `ParseNormalizedNamed`): the first component is a registry
//! only if it contains `.` or `:`, is `localhost`, or has upper-case letters; otherwise the
//! registry is `docker.io`. `index.docker.io` becomes `docker.io`, and a single-component
//! Docker Hub path gets the `library/` prefix. The name (registry and path) is at most 255
//! characters.
//!
//! An [`ImageRef`] is stored as one string with offsets, so matching a reference against a
//! [`crate::MirrorSet`] works on plain string slices without allocating.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// The registry a reference without a host belongs to.
pub const DOCKER_HUB: &str = "docker.io";
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
const OFFICIAL_NAMESPACE: &str = "library";
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    /// The text that was parsed.
    pub input: String,
    /// What is wrong with it.
    pub reason: ReferenceErrorReason,
}

/// The precise fault in a [`ReferenceError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceErrorReason {
    #[error("repository name must have at least one component")]
    Empty,
    #[error("repository name must be lowercase")]
    Uppercase,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("cannot specify 64-byte hexadecimal strings as a repository name")]
    HexIdentifier,
    #[error("registry host {0:?} is not a valid host[:port]")]
    InvalidHost(String),
    #[error(
        "path component {0:?} is not valid (lower-case letters and digits separated by '.', '_', '__' or '-')"
    )]
    InvalidPathComponent(String),
    #[error("tag {0:?} is not valid (up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')")]
    InvalidTag(String),
    #[error("digest {0:?} is not of the form algorithm:hex")]
    InvalidDigestFormat(String),
    #[error("unsupported digest algorithm {0:?} (sha256, sha384 or sha512)")]
    UnsupportedDigestAlgorithm(String),
    #[error("digest {digest:?} must have {expected} lower-case hex characters after {algorithm}:")]
    InvalidDigestLength {
        digest: String,
        algorithm: String,
        expected: usize,
    },
}

/// A parsed, normalised image reference: `registry/repository[:tag][@digest]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// `registry/repository[:tag][@digest]`.
    text: String,
    /// End of the registry (`host[:port]`) in `text`.
    registry_end: usize,
    /// End of the name (`registry/repository`) in `text`.
    name_end: usize,
    /// Start and end of the tag in `text`.
    tag: Option<(usize, usize)>,
    /// Start and end of the digest in `text`.
    digest: Option<(usize, usize)>,
}

impl ImageRef {
    /// Parses and normalises a reference (see the module docs for the rules).
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        parse(input).map_err(|reason| ReferenceError {
            input: input.to_owned(),
            reason,
        })
    }

    /// The registry, `host[:port]` as written (`docker.io` when the reference had none).
    pub fn registry(&self) -> &str {
        &self.text[..self.registry_end]
    }

    /// The repository path below the registry, e.g. `openshift-release-dev/ocp-release`.
    pub fn repository(&self) -> &str {
        &self.text[self.registry_end + 1..self.name_end]
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> &str {
        &self.text[..self.name_end]
    }

    /// The tag, if one was written.
    pub fn tag(&self) -> Option<&str> {
        self.tag.map(|(a, b)| &self.text[a..b])
    }

    /// The digest (`algorithm:hex`), if one was written.
    pub fn digest(&self) -> Option<&str> {
        self.digest.map(|(a, b)| &self.text[a..b])
    }

    /// Whether a pull of this reference is a pull by digest.
    pub fn is_digested(&self) -> bool {
        self.digest.is_some()
    }

    /// The whole reference as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The reference a pull uses: as is when it has a tag or digest, else with `:latest`
    /// (what container runtimes do for a bare name).
    #[must_use]
    pub fn pull_reference(&self) -> Cow<'_, ImageRef> {
        if self.tag.is_some() || self.digest.is_some() {
            return Cow::Borrowed(self);
        }
        let mut text = self.text.clone();
        text.push_str(":latest");
        Cow::Owned(ImageRef {
            tag: Some((self.name_end + 1, text.len())),
            text,
            ..self.clone()
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageRef({:?})", self.text)
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn parse(input: &str) -> Result<ImageRef, ReferenceErrorReason> {
    use ReferenceErrorReason as R;
    if input.is_empty() {
        return Err(R::Empty);
    }
    if input.len() == 64 && input.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(R::HexIdentifier);
    }
    let (registry, remainder) = split_registry(input);
    if registry == DOCKER_HUB && remainder.is_empty() {
        return Err(R::Empty);
    }
    let registry = if registry == LEGACY_DOCKER_HUB {
        DOCKER_HUB
    } else {
        registry
    };

    // Split `path[:tag][@digest]`. Neither path nor tag may hold '@', so the first '@' starts the digest.
    let (mut path, tag, digest) = split_tag_digest(remainder);

    let library_prefixed;
    if registry == DOCKER_HUB && !path.contains('/') && !path.is_empty() {
        library_prefixed = format!("{OFFICIAL_NAMESPACE}/{path}");
        path = &library_prefixed;
    }

    validate_host_port(registry).map_err(|()| R::InvalidHost(registry.to_owned()))?;
    if path.is_empty() {
        return Err(R::Empty);
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(R::Uppercase);
    }
    for component in path.split('/') {
        if !is_path_component(component) {
            return Err(R::InvalidPathComponent(component.to_owned()));
        }
    }
    if registry.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(R::NameTooLong);
    }
    if let Some(tag) = tag
        && !is_tag(tag)
    {
        return Err(R::InvalidTag(tag.to_owned()));
    }
    if let Some(digest) = digest {
        validate_digest(digest)?;
    }

    let mut text = String::with_capacity(input.len() + 16);
    text.push_str(registry);
    let registry_end = text.len();
    text.push('/');
    text.push_str(path);
    let name_end = text.len();
    let tag = tag.map(|t| {
        text.push(':');
        let start = text.len();
        text.push_str(t);
        (start, text.len())
    });
    let digest = digest.map(|d| {
        text.push('@');
        let start = text.len();
        text.push_str(d);
        (start, text.len())
    });
    Ok(ImageRef {
        text,
        registry_end,
        name_end,
        tag,
        digest,
    })
}

/// Splits `path[:tag][@digest]` (the registry already removed). Neither path nor tag may hold
/// `@`, so the first `@` starts the digest; a `:` after the last `/` starts the tag.
pub(crate) fn split_tag_digest(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (before_digest, digest) = match s.split_once('@') {
        Some((b, d)) => (b, Some(d)),
        None => (s, None),
    };
    match before_digest.rfind(':') {
        Some(i) if !before_digest[i..].contains('/') => {
            (&before_digest[..i], Some(&before_digest[i + 1..]), digest)
        }
        _ => (before_digest, None, digest),
    }
}

/// The `sha256:<hex>` digest of `data` (how content is addressed in registries).
pub fn sha256_digest(data: &[u8]) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    sha2::Sha256::digest(data)
        .iter()
        .fold(String::from("sha256:"), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// containers/image `splitDockerDomain`: is the first component a registry host?
fn split_registry(input: &str) -> (&str, &str) {
    match input.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, input),
    }
}

/// `host[:port]` where host is a domain name or a bracketed IPv6 address.
pub(crate) fn validate_host_port(s: &str) -> Result<(), ()> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or(())?;
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(());
        }
        match after {
            "" => return Ok(()),
            p => ("", p.strip_prefix(':').ok_or(())?),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => {
                is_domain_name(h).then_some(()).ok_or(())?;
                ("", p)
            }
            None => return is_domain_name(s).then_some(()).ok_or(()),
        }
    };
    debug_assert!(host.is_empty());
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(())
    }
}

/// Dot-separated labels of `[A-Za-z0-9]` with inner hyphens.
pub(crate) fn is_domain_name(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_domain_label)
}

fn is_domain_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separators `.`, `_`, `__`, `-+`.
pub(crate) fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &b[start..i];
        let ok = sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|c| *c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

pub(crate) fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= TAG_LENGTH_MAX
        && word(b[0])
        && b[1..].iter().all(|c| word(*c) || *c == b'.' || *c == b'-')
}

/// `algorithm:hex`, checked like go-digest: only sha256/384/512 with their exact lengths.
pub(crate) fn validate_digest(d: &str) -> Result<(), ReferenceErrorReason> {
    use ReferenceErrorReason as R;
    let Some((algorithm, hex)) = d.split_once(':') else {
        return Err(R::InvalidDigestFormat(d.to_owned()));
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|c| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(R::InvalidDigestFormat(d.to_owned()));
    }
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        other => return Err(R::UnsupportedDigestAlgorithm(other.to_owned())),
    };
    if hex.len() != expected || hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(R::InvalidDigestLength {
            digest: d.to_owned(),
            algorithm: algorithm.to_owned(),
            expected,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parts(s: &str) -> (String, String, Option<String>, Option<String>) {
        let r = ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (
            r.registry().into(),
            r.repository().into(),
            r.tag().map(Into::into),
            r.digest().map(Into::into),
        )
    }

    fn reason(s: &str) -> ReferenceErrorReason {
        ImageRef::parse(s).expect_err(s).reason
    }

    #[test]
    fn docker_hub_normalisation() {
        assert_eq!(
            parts("busybox"),
            ("docker.io".into(), "library/busybox".into(), None, None)
        );
        assert_eq!(parts("busybox:1.36").2.as_deref(), Some("1.36"));
        assert_eq!(parts("library/busybox").1, "library/busybox");
        assert_eq!(parts("someone/tool").1, "someone/tool");
        assert_eq!(parts("docker.io/busybox").1, "library/busybox");
        assert_eq!(parts("index.docker.io/busybox").0, "docker.io");
        assert_eq!(parts("index.docker.io/busybox").1, "library/busybox");
        assert_eq!(
            ImageRef::parse("busybox").unwrap().as_str(),
            "docker.io/library/busybox"
        );
    }

    #[test]
    fn registry_detection_needs_dot_colon_localhost_or_uppercase() {
        assert_eq!(parts("quay.io/openshift/release:4.18").0, "quay.io");
        assert_eq!(parts("localhost/foo").0, "localhost");
        assert_eq!(parts("localhost:5000/foo").0, "localhost:5000");
        assert_eq!(parts("myregistry:5000/foo/bar").0, "myregistry:5000");
        assert_eq!(parts("Registry/foo").0, "Registry");
        // No dot, colon or localhost: a Docker Hub namespace.
        assert_eq!(parts("myregistry/foo").0, "docker.io");
        assert_eq!(parts("myregistry/foo").1, "myregistry/foo");
    }

    #[test]
    fn host_only_with_port_is_a_name_and_tag() {
        // `myregistry:5000` has no '/', so it is Docker Hub's library/myregistry with tag 5000.
        assert_eq!(
            parts("myregistry:5000"),
            (
                "docker.io".into(),
                "library/myregistry".into(),
                Some("5000".into()),
                None
            )
        );
    }

    #[test]
    fn ports_ipv6_and_case_in_hosts() {
        assert_eq!(parts("127.0.0.1:5443/openshift/release").0, "127.0.0.1:5443");
        assert_eq!(parts("[::1]:5000/foo:bar").0, "[::1]:5000");
        assert_eq!(parts("[fe80::1]/foo").0, "[fe80::1]");
        assert_eq!(parts("Quay.IO/foo").0, "Quay.IO");
        assert_eq!(
            reason("quay.io:/foo"),
            ReferenceErrorReason::InvalidHost("quay.io:".into())
        );
        assert_eq!(
            reason("quay.io:50a0/foo"),
            ReferenceErrorReason::InvalidHost("quay.io:50a0".into())
        );
        assert_eq!(
            reason("-quay.io/foo"),
            ReferenceErrorReason::InvalidHost("-quay.io".into())
        );
        assert_eq!(
            reason("my_registry.com/foo"),
            ReferenceErrorReason::InvalidHost("my_registry.com".into())
        );
    }

    #[test]
    fn tags_and_digests() {
        let (_, repo, tag, digest) = parts(&format!("quay.io/a/b/c:v1.2@{D}"));
        assert_eq!(repo, "a/b/c");
        assert_eq!(tag.as_deref(), Some("v1.2"));
        assert_eq!(digest.as_deref(), Some(D));
        let r = ImageRef::parse(&format!("quay.io/a@{D}")).unwrap();
        assert!(r.is_digested());
        assert_eq!(r.name(), "quay.io/a");
        let t = "a".repeat(128);
        assert!(ImageRef::parse(&format!("quay.io/a:{t}")).is_ok());
        assert_eq!(
            reason(&format!("quay.io/a:{t}b")),
            ReferenceErrorReason::InvalidTag(format!("{t}b"))
        );
        assert_eq!(
            reason("quay.io/a:.x"),
            ReferenceErrorReason::InvalidTag(".x".into())
        );
        assert_eq!(
            reason("quay.io/a:"),
            ReferenceErrorReason::InvalidTag(String::new())
        );
    }

    #[test]
    fn digest_algorithms_and_lengths_are_checked() {
        assert!(matches!(
            reason("quay.io/a@sha256:123456"),
            ReferenceErrorReason::InvalidDigestFormat(_)
        ));
        assert!(matches!(
            reason("quay.io/a@sha256"),
            ReferenceErrorReason::InvalidDigestFormat(_)
        ));
        let h32 = "0".repeat(32);
        assert_eq!(
            reason(&format!("quay.io/a@md5:{h32}")),
            ReferenceErrorReason::UnsupportedDigestAlgorithm("md5".into())
        );
        assert!(matches!(
            reason(&format!("quay.io/a@sha256:{h32}")),
            ReferenceErrorReason::InvalidDigestLength { expected: 64, .. }
        ));
        assert!(ImageRef::parse(&format!("quay.io/a@sha384:{}", "a".repeat(96))).is_ok());
        assert!(ImageRef::parse(&format!("quay.io/a@sha512:{}", "b".repeat(128))).is_ok());
        let upper = D.to_uppercase().replace("SHA256", "sha256");
        assert!(matches!(
            reason(&format!("quay.io/a@{upper}")),
            ReferenceErrorReason::InvalidDigestLength { .. }
        ));
    }

    #[test]
    fn path_grammar_and_case() {
        assert_eq!(reason("quay.io/Foo"), ReferenceErrorReason::Uppercase);
        assert_eq!(reason("FOO"), ReferenceErrorReason::Uppercase);
        assert_eq!(reason(""), ReferenceErrorReason::Empty);
        assert_eq!(reason("quay.io/"), ReferenceErrorReason::Empty);
        assert!(matches!(
            reason("quay.io//a"),
            ReferenceErrorReason::InvalidPathComponent(_)
        ));
        assert!(matches!(
            reason("quay.io/a_-b"),
            ReferenceErrorReason::InvalidPathComponent(_)
        ));
        assert!(matches!(
            reason("quay.io/a___b"),
            ReferenceErrorReason::InvalidPathComponent(_)
        ));
        assert!(matches!(
            reason("quay.io/a/"),
            ReferenceErrorReason::InvalidPathComponent(_)
        ));
        assert!(ImageRef::parse("quay.io/a__b/c---d/e.f_g").is_ok());
        assert_eq!(
            reason(&"a".repeat(64).replace('a', "b")),
            ReferenceErrorReason::HexIdentifier
        );
    }

    #[test]
    fn name_is_limited_to_255_characters_including_the_registry() {
        let path = "a".repeat(255 - "quay.io/".len());
        assert!(ImageRef::parse(&format!("quay.io/{path}")).is_ok());
        assert_eq!(
            reason(&format!("quay.io/{path}a")),
            ReferenceErrorReason::NameTooLong
        );
        // The tag does not count.
        assert!(ImageRef::parse(&format!("quay.io/{path}:tag")).is_ok());
    }

    #[test]
    fn pull_reference_adds_latest_only_to_bare_names() {
        assert_eq!(
            ImageRef::parse("busybox").unwrap().pull_reference().as_str(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            ImageRef::parse("busybox").unwrap().pull_reference().tag(),
            Some("latest")
        );
        let d = ImageRef::parse(&format!("quay.io/a@{D}")).unwrap();
        assert_eq!(*d.pull_reference(), d);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "quay.io/a/b:1",
            "localhost:5000/x",
            "busybox",
            &format!("q.io/a:t@{D}"),
        ] {
            let r = ImageRef::parse(s).unwrap();
            assert_eq!(ImageRef::parse(r.as_str()).unwrap(), r);
        }
    }
}
