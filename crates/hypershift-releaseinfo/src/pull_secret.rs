//! Pull secrets: `.dockerconfigjson` documents and choosing credentials for a registry.
//!
//! The same secret serves sources and mirrors, so it must hold credentials for the mirrors
//! (as in HyperShift). Keys of `auths` are `host[:port][/path]`, optionally with a scheme
//! (`https://…`) or Docker Hub's legacy `https://index.docker.io/v1/`. For an image
//! `host[:port]/a/b/c` the most specific key wins: the longest matching path prefix on a
//! component boundary, on exactly that host and port. A `*.` label in a key's host matches one
//! label (as kubelet does).
//!
//! Nothing here logs or formats a credential: `Debug` of [`PullSecret`] only lists the hosts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::LookupError;

/// A parsed pull secret. Cheap to clone.
#[derive(Clone)]
pub struct PullSecret {
    inner: Arc<Inner>,
}

struct Inner {
    /// Normalised key (`host[:port][/path]`) → credentials.
    auths: BTreeMap<String, Credentials>,
    /// SHA-256 of the raw bytes: tells secrets apart in cache keys without holding them.
    fingerprint: [u8; 32],
}

/// One registry's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl fmt::Debug for PullSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PullSecret")
            .field("registries", &self.inner.auths.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
struct DockerConfig {
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl PullSecret {
    /// No credentials at all (anonymous pulls).
    pub fn anonymous() -> Self {
        Self::from_auths(BTreeMap::new(), b"")
    }

    /// Parses a `.dockerconfigjson` document.
    pub fn parse(bytes: &[u8]) -> Result<Self, LookupError> {
        let config: DockerConfig = serde_json::from_slice(bytes).map_err(|e| {
            LookupError::PullSecret(format!("not a .dockerconfigjson document with \"auths\": {e}"))
        })?;
        let mut auths = BTreeMap::new();
        for (key, entry) in config.auths {
            let credentials = match (entry.auth.as_deref(), entry.username, entry.password) {
                (Some(auth), _, _) if !auth.is_empty() => decode_auth(&key, auth)?,
                (_, Some(username), Some(password)) => Credentials { username, password },
                _ => {
                    return Err(LookupError::PullSecret(format!(
                        "auths[{key:?}] has neither \"auth\" nor \"username\" and \"password\""
                    )));
                }
            };
            auths.insert(normalise_key(&key), credentials);
        }
        Ok(Self::from_auths(auths, bytes))
    }

    fn from_auths(auths: BTreeMap<String, Credentials>, raw: &[u8]) -> Self {
        Self {
            inner: Arc::new(Inner {
                auths,
                fingerprint: Sha256::digest(raw).into(),
            }),
        }
    }

    /// A `.dockerconfigjson` document holding one registry's credentials.
    pub fn for_registry(registry: &str, username: &str, password: &str) -> Vec<u8> {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        serde_json::json!({"auths": {registry: {"auth": auth}}})
            .to_string()
            .into_bytes()
    }

    /// The credentials for `repository` on `registry` (`host[:port]`), if any.
    pub fn credentials_for(&self, registry: &str, repository: &str) -> Option<&Credentials> {
        self.matching_key(registry, repository).map(|(_, c)| c)
    }

    /// The `auths` key chosen for `repository` on `registry`, and its credentials.
    pub fn matching_key(&self, registry: &str, repository: &str) -> Option<(&str, &Credentials)> {
        self.inner
            .auths
            .iter()
            .filter_map(|(key, c)| key_matches(key, registry, repository).map(|len| (len, key.as_str(), c)))
            .max_by_key(|(len, _, _)| *len)
            .map(|(_, key, c)| (key, c))
    }

    /// SHA-256 of the raw secret: equal for equal secrets, useless for recovering them.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.inner.fingerprint
    }
}

fn decode_auth(key: &str, auth: &str) -> Result<Credentials, LookupError> {
    let bad = || LookupError::PullSecret(format!("auths[{key:?}].auth is not base64 of \"user:password\""));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (username, password) = text.split_once(':').ok_or_else(bad)?;
    Ok(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// `https://Host:5000/path/` → `host:5000/path`; Docker Hub's legacy key → `docker.io`.
fn normalise_key(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let k = k.trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    let (host, path) = match k.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (k, None),
    };
    let host = match host.to_ascii_lowercase().as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        h => h.to_owned(),
    };
    match path {
        Some(p) if !p.is_empty() => format!("{host}/{p}"),
        _ => host,
    }
}

/// How specific a match of `key` is for the image (longer is more specific), or `None`.
fn key_matches(key: &str, registry: &str, repository: &str) -> Option<usize> {
    let (key_host, key_path) = match key.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (key, None),
    };
    let registry = registry.to_ascii_lowercase();
    let registry = if registry == "index.docker.io" {
        "docker.io".to_owned()
    } else {
        registry
    };
    if !host_matches(key_host, &registry) {
        return None;
    }
    match key_path {
        None => Some(key_host.len()),
        Some(path) => {
            let on_boundary = repository == path
                || (repository.starts_with(path) && repository.as_bytes().get(path.len()) == Some(&b'/'));
            on_boundary.then_some(key.len())
        }
    }
}

/// Host and port must match; a `*` label in the key matches any one label.
fn host_matches(key_host: &str, host: &str) -> bool {
    let split = |h: &str| -> (String, Option<String>) {
        match h.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
                (name.to_owned(), Some(port.to_owned()))
            }
            _ => (h.to_owned(), None),
        }
    };
    let ((key_name, key_port), (name, port)) = (split(key_host), split(host));
    if key_port != port {
        return false;
    }
    let key_labels: Vec<&str> = key_name.split('.').collect();
    let labels: Vec<&str> = name.split('.').collect();
    key_labels.len() == labels.len() && key_labels.iter().zip(&labels).all(|(k, l)| *k == "*" || k == l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(json: &str) -> PullSecret {
        PullSecret::parse(json.as_bytes()).unwrap()
    }

    fn user(s: &PullSecret, registry: &str, repo: &str) -> Option<String> {
        s.credentials_for(registry, repo).map(|c| c.username.clone())
    }

    #[test]
    fn most_specific_key_wins() {
        let s = secret(&format!(
            r#"{{"auths": {{
                "quay.io": {{"auth": "{}"}},
                "quay.io/openshift-release-dev": {{"username": "ns", "password": "p"}},
                "quay.io/openshift-release-dev/ocp-release": {{"username": "repo", "password": "p"}},
                "https://127.0.0.1:5443/": {{"username": "port", "password": "p"}},
                "*.mirror.invalid": {{"username": "wild", "password": "p"}},
                "https://index.docker.io/v1/": {{"username": "hub", "password": "p"}}
            }}}}"#,
            base64::engine::general_purpose::STANDARD.encode("host:secret")
        ));
        assert_eq!(user(&s, "quay.io", "x/y").as_deref(), Some("host"));
        assert_eq!(
            user(&s, "quay.io", "openshift-release-dev/ocp-v4.0-art-dev").as_deref(),
            Some("ns")
        );
        assert_eq!(
            user(&s, "quay.io", "openshift-release-dev/ocp-release").as_deref(),
            Some("repo")
        );
        assert_eq!(
            user(&s, "quay.io", "openshift-release-dev-x/a").as_deref(),
            Some("host")
        );
        assert_eq!(user(&s, "127.0.0.1:5443", "a").as_deref(), Some("port"));
        assert_eq!(user(&s, "127.0.0.1:5444", "a"), None);
        assert_eq!(user(&s, "127.0.0.1", "a"), None);
        assert_eq!(user(&s, "a.mirror.invalid", "x").as_deref(), Some("wild"));
        assert_eq!(user(&s, "a.b.mirror.invalid", "x"), None);
        assert_eq!(user(&s, "docker.io", "library/busybox").as_deref(), Some("hub"));
        assert_eq!(user(&s, "quay.io.example.com", "x"), None);
        assert_eq!(s.credentials_for("quay.io", "x").unwrap().password, "secret");
    }

    #[test]
    fn malformed_secrets_are_precise_errors_without_secrets() {
        let err = |j: &str| PullSecret::parse(j.as_bytes()).unwrap_err().to_string();
        assert!(err("not json").starts_with("invalid pull secret: not a .dockerconfigjson"));
        assert!(err(r#"{"registries": {}}"#).contains("auths"));
        assert!(err(r#"{"auths": {"q.io": {}}}"#).contains("neither"));
        let e = err(r#"{"auths": {"q.io": {"auth": "c2VjcmV0LXdpdGhvdXQtY29sb24="}}}"#);
        assert!(
            e.contains("not base64 of") && !e.contains("secret-without-colon"),
            "{e}"
        );
        assert!(err(r#"{"auths": {"q.io": {"auth": "%%%"}}}"#).contains("q.io"));
    }

    #[test]
    fn debug_never_shows_credentials() {
        let s = PullSecret::parse(&PullSecret::for_registry("127.0.0.1:5443", "user", "hunter2")).unwrap();
        let text = format!("{s:?} {:?}", s.credentials_for("127.0.0.1:5443", "x"));
        assert!(!text.contains("hunter2") && !text.contains("user\""), "{text}");
        assert_ne!(s.fingerprint(), PullSecret::anonymous().fingerprint());
    }
}
