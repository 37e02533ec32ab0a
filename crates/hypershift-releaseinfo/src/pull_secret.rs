//! Pull secrets: `.dockerconfigjson` documents and choosing credentials for a registry.
//!
//! The same secret serves sources and mirrors, so it must hold credentials for the mirrors
//! (as in HyperShift). Keys of `auths` are `host[:port][/path]`, optionally with a scheme
//! (`https://…`) or Docker Hub's legacy `https://index.docker.io/v1/`. For an image
//! `host[:port]/a/b/c` the most specific key wins: the longest matching path prefix on a
//! component boundary, on exactly that host and port. A `*.` label in a key's host matches one
//! label (as kubelet does).
//!
//! Nothing here logs or formats a credential: `Debug` of [`PullSecret`] only lists the hosts, and
//! a malformed document's error says what is wrong and where, never what the value was (see
//! [`PullSecret::parse`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
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

impl PullSecret {
    /// No credentials at all (anonymous pulls).
    pub fn anonymous() -> Self {
        Self::from_auths(BTreeMap::new(), b"")
    }

    /// Parses a `.dockerconfigjson` document.
    ///
    /// An error says what is wrong and where, and never contains any part of a value from the
    /// document (serde's own messages quote the offending value, so they are not used):
    /// - not UTF-8, or not JSON: the line and column;
    /// - the wrong shape: the path (`auths["127.0.0.1:5443"].auth`) and the kind of value found
    ///   ("is a string, expected an object");
    /// - an `auth` that is not base64 of `user:password`: which of the three it fails (not
    ///   base64, not UTF-8 once decoded, no `:`).
    ///
    /// The `auths` keys are named: they are registry host names, which appear in image
    /// references anyway, and they are how a reader finds the broken entry. A key that does not
    /// look like one (`[scheme://]host[:port][/path]`, the host with a `.` or `localhost`), for
    /// instance a credential pasted where the host belongs, is not shown.
    pub fn parse(bytes: &[u8]) -> Result<Self, LookupError> {
        const WHAT: &str = "not a .dockerconfigjson document";
        if let Err(e) = std::str::from_utf8(bytes) {
            let (line, column) = position(bytes, e.valid_up_to());
            return Err(invalid(format!(
                "{WHAT}: not UTF-8 text (line {line}, column {column})"
            )));
        }
        let document: Value = serde_json::from_slice(bytes).map_err(|e| {
            let problem = match e.classify() {
                serde_json::error::Category::Eof => "the JSON ends early (is it truncated?)",
                _ => "not valid JSON",
            };
            invalid(format!(
                "{WHAT}: {problem} at line {}, column {}",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(top) = &document else {
            return Err(invalid(format!(
                "{WHAT}: the document is {}, expected an object with \"auths\"",
                kind(&document)
            )));
        };
        let Some(entries) = top.get("auths") else {
            return Err(invalid(format!(
                "{WHAT}: it has no \"auths\" object (a legacy .dockercfg needs its entries wrapped in {{\"auths\": …}})"
            )));
        };
        let Value::Object(entries) = entries else {
            return Err(invalid(format!(
                "{WHAT}: \"auths\" is {}, expected an object",
                kind(entries)
            )));
        };
        let mut auths = BTreeMap::new();
        for (key, entry) in entries {
            let at = entry_path(key);
            let Value::Object(entry) = entry else {
                return Err(invalid(format!(
                    "{at} is {}, expected an object with \"auth\", or \"username\" and \"password\"",
                    kind(entry)
                )));
            };
            let field = |name: &str| match entry.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.as_str())),
                Some(other) => Err(invalid(format!(
                    "{at}.{name} is {}, expected a string",
                    kind(other)
                ))),
            };
            let (auth, username, password) = (field("auth")?, field("username")?, field("password")?);
            let credentials = match (auth, username, password) {
                (Some(auth), _, _) if !auth.is_empty() => decode_auth(&at, auth)?,
                (_, Some(username), Some(password)) => Credentials {
                    username: username.to_owned(),
                    password: password.to_owned(),
                },
                (_, Some(_), None) => {
                    return Err(invalid(format!("{at} has \"username\" but no \"password\"")));
                }
                (_, None, Some(_)) => {
                    return Err(invalid(format!("{at} has \"password\" but no \"username\"")));
                }
                (_, None, None) if entry.contains_key("identitytoken") => {
                    return Err(invalid(format!(
                        "{at} has only an \"identitytoken\", which is not supported: it needs \"auth\", or \"username\" and \"password\""
                    )));
                }
                (_, None, None) => {
                    return Err(invalid(format!(
                        "{at} has neither \"auth\" nor \"username\" and \"password\""
                    )));
                }
            };
            auths.insert(normalise_key(key), credentials);
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

fn invalid(message: String) -> LookupError {
    LookupError::PullSecret(message)
}

/// What kind of JSON value `v` is, without its content.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// 1-based line and column (in bytes) of `offset`.
fn position(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.split(|b| *b == b'\n').count();
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = before.len() - line_start + 1;
    (line, column)
}

/// `auths["host"]`, or a placeholder when the key does not look like a registry host name.
fn entry_path(key: &str) -> String {
    if looks_like_registry(key) {
        format!("auths[{key:?}]")
    } else {
        "auths[<a key that is not a registry host name, not shown>]".to_owned()
    }
}

/// `[http[s]://]host[:port][/path][/]` where the host is `localhost` or has a `.` (IPv4
/// addresses too), its labels are letters, digits, `-` or `*`, and the path is plain. Base64
/// never contains a `.`, so an encoded credential never passes.
fn looks_like_registry(key: &str) -> bool {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let port_ok = port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let labels_ok = name.split('.').all(|label| {
        label == "*" || (!label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    key.len() <= 255
        && port_ok
        && labels_ok
        && path_ok
        && (name.contains('.') || name.eq_ignore_ascii_case("localhost"))
}

fn decode_auth(at: &str, auth: &str) -> Result<Credentials, LookupError> {
    let bad = |why: &str| invalid(format!("{at}.auth is not base64 of \"user:password\": {why}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("it is not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("the decoded bytes are not UTF-8 text"))?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| bad("the decoded text has no ':'"))?;
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

    #[test]
    fn the_misplaced_auth_string_is_not_echoed() {
        // `hypershift release info --pull-secret` used to print
        // `invalid type: string "dXNlcjpzZWNyZXRwYXNz", expected struct AuthEntry`.
        let e = PullSecret::parse(br#"{"auths":{"q.io":"dXNlcjpzZWNyZXRwYXNz"}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            r#"invalid pull secret: auths["q.io"] is a string, expected an object with "auth", or "username" and "password""#
        );
    }

    #[test]
    fn errors_name_the_path_and_the_problem() {
        let err = |j: &[u8]| PullSecret::parse(j).unwrap_err().to_string();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for (document, expected) in [
            (
                br#"["hunter22"]"#.to_vec(),
                "the document is an array, expected an object",
            ),
            (br#"{"auths": "hunter22"}"#.to_vec(), r#""auths" is a string"#),
            (
                br#"{"auths": {"q.io": {"auth": ["hunter22"]}}}"#.to_vec(),
                r#"auths["q.io"].auth is an array, expected a string"#,
            ),
            (
                br#"{"auths": {"q.io": {"username": "u", "password": 5}}}"#.to_vec(),
                r#"auths["q.io"].password is a number"#,
            ),
            (
                br#"{"auths": {"q.io": {"username": "hunter22"}}}"#.to_vec(),
                r#"auths["q.io"] has "username" but no "password""#,
            ),
            (
                br#"{"auths": {"q.io": {"identitytoken": "hunter22"}}}"#.to_vec(),
                "\"identitytoken\", which is not supported",
            ),
            (
                br#"{"auths": {"q.io": {"auth": "hunter22!"}}}"#.to_vec(),
                "it is not base64",
            ),
            (
                format!(r#"{{"auths": {{"q.io": {{"auth": "{}"}}}}}}"#, b64("hunter22")).into_bytes(),
                "the decoded text has no ':'",
            ),
            (
                br#"{"auths": {"q.io": {"auth": "AIAA"}}}"#.to_vec(),
                "the decoded bytes are not UTF-8 text",
            ),
            (
                b"{\"auths\": {\"q.io\": {\"auth\": \"hunter\xff22\"}}}".to_vec(),
                "not UTF-8 text (line 1, column 36)",
            ),
            (
                b"{\"auths\": {\n  \"q.io\": {\"auth\": \"hunter22".to_vec(),
                "the JSON ends early (is it truncated?) at line 2",
            ),
            (
                br#"{"auths": {"q.io" {"auth": "hunter22"}}}"#.to_vec(),
                "not valid JSON at line 1, column 19",
            ),
            (br#"{"q.io": {"auth": "hunter22"}}"#.to_vec(), "legacy .dockercfg"),
        ] {
            let e = err(&document);
            assert!(e.contains(expected), "{e}");
            assert!(!e.contains("hunter") && !e.contains("aHVudGVy"), "{e}");
        }
    }

    #[test]
    fn keys_that_are_not_registry_names_are_not_shown() {
        for key in [
            "dXNlcjpzZWNyZXRwYXNz",
            "user:hunter22@q.io",
            "hunter22",
            "admin:12345",
            "q.io/a b",
        ] {
            let document = format!(r#"{{"auths": {{"{key}": 7}}}}"#);
            let e = PullSecret::parse(document.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("not a registry host name, not shown"), "{e}");
            assert!(!e.contains(key), "{e}");
        }
        for key in [
            "q.io",
            "https://127.0.0.1:5443/",
            "localhost:5000",
            "*.mirror.invalid/ns/repo",
            "https://index.docker.io/v1/",
        ] {
            let document = format!(r#"{{"auths": {{"{key}": 7}}}}"#);
            let e = PullSecret::parse(document.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(&format!("auths[{key:?}]")), "{e}");
        }
    }

    /// Malformed documents of every kind never echo a secret value.
    ///
    /// Secret values are drawn from upper-case letters (without `J`, so the fixed word "JSON"
    /// cannot match) and symbols, and keys from lower-case letters, digits, `.`, `:` and `/`:
    /// no 4 consecutive characters of an error's fixed text or of a key can come from that
    /// alphabet, so any 4-character window of a secret found in a message was leaked.
    /// Values that must be base64 are either drawn from upper-case letters too (valid base64
    /// whenever the length is a multiple of 4; upper-case base64 never decodes to a `:`, so it
    /// is never a credential), or are the encoding of secret values, and then the encoded
    /// values are what is checked.
    mod leaks {
        use proptest::collection::vec;
        use proptest::prelude::*;
        use proptest::sample::{Index, select};
        use serde_json::{Map, Value, json};

        use super::super::*;

        /// A JSON value and the secret strings in it.
        type Doc = (Value, Vec<String>);

        const UPPER: &[char] = &[
            'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T',
            'U', 'V', 'W', 'X', 'Y', 'Z',
        ];

        fn secret() -> impl Strategy<Value = String> {
            "[A-IK-Z!#%&*<>?@^_|~]{4,24}"
        }

        fn b64(s: &str) -> String {
            base64::engine::general_purpose::STANDARD.encode(s)
        }

        /// Valid base64 of bytes that are not credentials (no `:` can come out).
        fn upper_base64() -> impl Strategy<Value = String> {
            (1usize..6)
                .prop_flat_map(|quads| vec(select(UPPER), quads * 4))
                .prop_map(|chars| chars.into_iter().collect())
        }

        /// Valid base64 whose second byte is a lone UTF-8 continuation byte.
        fn not_utf8_base64() -> impl Strategy<Value = String> {
            (
                select(UPPER),
                select(&['I', 'K', 'L', 'Y', 'Z'][..]),
                vec(select(UPPER), 2),
                upper_base64(),
            )
                .prop_map(|(a, b, rest, more)| {
                    let mut s: String = [a, b].into_iter().chain(rest).collect();
                    s.push_str(&more);
                    s
                })
        }

        fn key() -> impl Strategy<Value = String> {
            "(https://)?[a-z][a-z0-9-]{0,6}(\\.[a-z][a-z0-9]{0,5}){1,2}(:[1-9][0-9]{1,4})?(/[a-z0-9]{1,6})?"
        }

        fn good_entry() -> impl Strategy<Value = Doc> {
            prop_oneof![
                (secret(), secret(), proptest::option::of(secret())).prop_map(|(u, p, token)| {
                    let mut entry = json!({"username": u, "password": p});
                    let mut secrets = vec![u, p];
                    if let Some(token) = token {
                        entry["identitytoken"] = json!(token);
                        secrets.push(token);
                    }
                    (entry, secrets)
                }),
                (secret(), secret(), secret()).prop_map(|(u, p, email)| (
                    json!({"auth": b64(&format!("{u}:{p}")), "email": email}),
                    vec![u, p, email]
                )),
            ]
        }

        fn bad_entry() -> impl Strategy<Value = Doc> {
            prop_oneof![
                secret().prop_map(|s| (json!(s), vec![s])),
                any::<i64>().prop_map(|n| (json!(n), vec![])),
                any::<bool>().prop_map(|b| (json!(b), vec![])),
                Just((Value::Null, vec![])),
                Just((json!({}), vec![])),
                vec(secret(), 1..3).prop_map(|v| (json!(v), v)),
                secret().prop_map(|s| (json!({"auth": s}), vec![s])),
                upper_base64().prop_map(|s| (json!({"auth": s}), vec![s])),
                not_utf8_base64().prop_map(|s| (json!({"auth": s}), vec![s])),
                secret().prop_map(|plain| (json!({"auth": b64(&plain)}), vec![plain])),
                secret().prop_map(|s| (json!({"auth": [s]}), vec![s])),
                secret().prop_map(|s| (json!({"auth": {"auth": s}}), vec![s])),
                any::<f64>().prop_map(|n| (json!({"auth": n}), vec![])),
                secret().prop_map(|s| (json!({"username": s}), vec![s])),
                secret().prop_map(|s| (json!({"auth": "", "password": s}), vec![s])),
                (secret(), secret()).prop_map(|(u, p)| (json!({"username": u, "password": [p]}), vec![u, p])),
                (secret(), any::<i32>()).prop_map(|(p, n)| (json!({"username": n, "password": p}), vec![p])),
                secret().prop_map(|t| (json!({"identitytoken": t}), vec![t])),
                good_entry().prop_map(|(e, s)| (json!({"auths": {"q.invalid": e}}), s)),
                good_entry().prop_map(|(e, s)| (json!([[e]]), s)),
            ]
        }

        /// `{"auths": …}` with good entries and at least one bad one, maybe other fields.
        fn auths_document() -> impl Strategy<Value = Doc> {
            (
                vec((key(), good_entry()), 0..3),
                key(),
                bad_entry(),
                proptest::option::of(secret()),
            )
                .prop_map(|(goods, bad_key, (bad, mut secrets), store)| {
                    let mut auths = Map::new();
                    for (k, (entry, s)) in goods {
                        auths.insert(k, entry);
                        secrets.extend(s);
                    }
                    auths.insert(bad_key, bad);
                    let mut document = json!({ "auths": auths });
                    if let Some(store) = store {
                        document["credsStore"] = json!(store);
                        secrets.push(store);
                    }
                    (document, secrets)
                })
        }

        fn wrong_top_level() -> impl Strategy<Value = Doc> {
            prop_oneof![
                secret().prop_map(|s| (json!(s), vec![s])),
                vec(secret(), 0..3).prop_map(|v| (json!(v), v)),
                any::<i64>().prop_map(|n| (json!(n), vec![])),
                secret().prop_map(|s| (json!({"auths": s}), vec![s])),
                good_entry().prop_map(|(e, s)| (json!({"auths": [e]}), s)),
                (key(), good_entry()).prop_map(|(k, (e, s))| {
                    let mut legacy = Map::new();
                    legacy.insert(k, e);
                    (Value::Object(legacy), s)
                }),
                secret().prop_map(|s| (json!({"credsStore": s}), vec![s])),
            ]
        }

        fn valid_document() -> impl Strategy<Value = Doc> {
            vec((key(), good_entry()), 1..3).prop_map(|entries| {
                let mut auths = Map::new();
                let mut secrets = Vec::new();
                for (k, (entry, s)) in entries {
                    auths.insert(k, entry);
                    secrets.extend(s);
                }
                (json!({ "auths": auths }), secrets)
            })
        }

        /// Every kind of malformed document, as bytes, with its secret values.
        fn malformed() -> impl Strategy<Value = (Vec<u8>, Vec<String>)> {
            let bytes = |(v, s): Doc| (serde_json::to_vec(&v).unwrap(), s);
            let any_document = prop_oneof![auths_document(), wrong_top_level(), valid_document()];
            prop_oneof![
                prop_oneof![auths_document(), wrong_top_level()].prop_map(bytes),
                // Truncated: a strict prefix of a document (of a valid one too) is never JSON.
                (any_document.clone(), any::<Index>()).prop_map(move |(doc, at)| {
                    let (mut b, s) = bytes(doc);
                    b.truncate(at.index(b.len()));
                    (b, s)
                }),
                // Bytes that are not UTF-8, anywhere (inside a secret's string too).
                (
                    any_document,
                    any::<Index>(),
                    select(vec![
                        vec![0xff],
                        vec![0x80],
                        vec![0xc3, 0x28],
                        vec![0xed, 0xa0, 0x80]
                    ]),
                )
                    .prop_map(move |(doc, at, junk)| {
                        let (mut b, s) = bytes(doc);
                        let tail = b.split_off(at.index(b.len() + 1));
                        b.extend(junk);
                        b.extend(tail);
                        (b, s)
                    }),
            ]
        }

        fn leaked_window(message: &str, secret: &str) -> Option<String> {
            let chars: Vec<char> = secret.chars().collect();
            chars
                .windows(4)
                .map(|w| w.iter().collect::<String>())
                .find(|w| message.contains(w.as_str()))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn malformed_secrets_never_echo_a_secret((document, secrets) in malformed()) {
                let err = PullSecret::parse(&document);
                prop_assert!(err.is_err(), "accepted: {:?}", String::from_utf8_lossy(&document));
                let Err(err) = err else { unreachable!() };
                let shown = format!("{err} {err:?}");
                for secret in &secrets {
                    prop_assert!(
                        leaked_window(&shown, secret).is_none(),
                        "{:?} of {secret:?} is in {shown:?}",
                        leaked_window(&shown, secret)
                    );
                }
            }

            #[test]
            fn random_bytes_never_echo_themselves(document in vec(any::<u8>(), 0..256)) {
                if let Err(err) = PullSecret::parse(&document) {
                    let shown = format!("{err} {err:?}");
                    let leaked = document.windows(4).find(|w| {
                        shown.as_bytes().windows(4).any(|m| m == *w)
                    });
                    prop_assert!(leaked.is_none(), "{leaked:?} is in {shown:?}");
                }
            }
        }
    }
}
