//! Lookup errors, with a bounded category for metrics and events.
//!
//! Messages name the image or the candidate pull spec and never contain credentials. Text that
//! comes from a registry or the HTTP stack (a 404 or 5xx body, an error envelope's message, a
//! URL) may echo anything the registry, a proxy or object storage chose to put there, so it is
//! scrubbed before it is shown (see `scrub`): the attempt's own credentials, in the clear and as
//! the `Basic` header, are replaced wherever they occur, and so is anything shaped like a
//! credential: a URL's userinfo and query, the token after `Basic`/`Bearer`, the value after a
//! key such as `authorization`, `password`, `token`, `secret`, `signature` or `credential`.

use std::fmt;
use std::time::Duration;

/// Why a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The pull secret is not a `.dockerconfigjson` document.
    #[error("invalid pull secret: {0}")]
    PullSecret(String),
    /// The registry refused the credentials (or there were none and it wants some).
    #[error("{image}: unauthorized (401): check the pull secret has credentials for {registry}")]
    Unauthorized { image: String, registry: String },
    /// The manifest (or a blob) does not exist.
    #[error("{image}: not found: {detail}")]
    NotFound { image: String, detail: String },
    /// The registry could not be reached (connection refused, DNS, TLS).
    #[error("{image}: registry unreachable: {detail}")]
    Unreachable { image: String, detail: String },
    /// The attempt took longer than the per-attempt timeout.
    #[error("{image}: no answer within {}", humantime(.after))]
    Timeout { image: String, after: Duration },
    /// The registry answered with something else (5xx, protocol violation).
    #[error("{image}: registry error: {detail}")]
    Registry { image: String, detail: String },
    /// A manifest list without an entry for the wanted platform.
    #[error("{image}: the manifest list has no {platform} entry (it has: {available})")]
    NoPlatform {
        image: String,
        platform: String,
        available: String,
    },
    /// The image content is not what a release payload holds.
    #[error("{image}: {detail}")]
    Payload { image: String, detail: String },
    /// Every candidate failed; each attempt in priority order.
    #[error("{image}: every candidate failed: {}", join_attempts(.attempts))]
    AllCandidatesFailed { image: String, attempts: Vec<Attempt> },
    /// The reference's source is blocked (`NeverContactSource`) and no mirror serves this pull.
    #[error(
        "{image}: the source is never contacted (NeverContactSource) and no mirror serves {kind} pulls for it"
    )]
    Blocked { image: String, kind: &'static str },
}

/// One candidate tried by mirror selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The pull spec tried.
    pub candidate: String,
    /// Why it did not serve the lookup.
    pub error: AttemptError,
}

/// Why one candidate did not serve the lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// It failed.
    Failed(Box<LookupError>),
    /// Its registry failed at the connection level recently, so it was not tried again yet.
    SkippedUnhealthy { reason: String },
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            AttemptError::Failed(e) => write!(f, "[{e}]"),
            AttemptError::SkippedUnhealthy { reason } => {
                write!(
                    f,
                    "[{}: skipped, its registry failed recently: {reason}]",
                    self.candidate
                )
            }
        }
    }
}

fn join_attempts(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn humantime(d: &Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl LookupError {
    /// A bounded label for metrics and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::PullSecret(_) => "pull_secret",
            Self::Unauthorized { .. } => "unauthorized",
            Self::NotFound { .. } => "not_found",
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::Registry { .. } => "registry",
            Self::NoPlatform { .. } => "no_platform",
            Self::Payload { .. } => "payload",
            Self::AllCandidatesFailed { .. } => "all_candidates_failed",
            Self::Blocked { .. } => "blocked",
        }
    }

    /// Whether the failure says the registry endpoint itself is down (as opposed to one image
    /// or one credential being wrong): such endpoints are skipped for a while.
    pub fn is_endpoint_failure(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Timeout { .. })
    }

    /// `self` with `auth`'s credentials replaced wherever they occur in its text: a net under
    /// every path of a registry read, not only the registry's own answers (which [`from_oci`]
    /// scrubs more thoroughly).
    ///
    /// [`from_oci`]: Self::from_oci
    #[must_use]
    pub(crate) fn without_credentials(self, auth: &oci_client::secrets::RegistryAuth) -> Self {
        let secrets = secrets_of(auth);
        if secrets.is_empty() {
            return self;
        }
        let clean = |text: String| replace_secrets(text, &secrets);
        match self {
            Self::PullSecret(message) => Self::PullSecret(clean(message)),
            Self::NotFound { image, detail } => Self::NotFound {
                image,
                detail: clean(detail),
            },
            Self::Unreachable { image, detail } => Self::Unreachable {
                image,
                detail: clean(detail),
            },
            Self::Registry { image, detail } => Self::Registry {
                image,
                detail: clean(detail),
            },
            Self::Payload { image, detail } => Self::Payload {
                image,
                detail: clean(detail),
            },
            Self::NoPlatform {
                image,
                platform,
                available,
            } => Self::NoPlatform {
                image,
                platform,
                available: clean(available),
            },
            other @ (Self::Unauthorized { .. }
            | Self::Timeout { .. }
            | Self::AllCandidatesFailed { .. }
            | Self::Blocked { .. }) => other,
        }
    }

    /// Classifies an oci-client error for `image`, read with `auth`'s credentials (which are
    /// scrubbed from whatever the registry said, with anything else shaped like a credential).
    pub(crate) fn from_oci(
        image: &str,
        registry: &str,
        e: &oci_client::errors::OciDistributionError,
        auth: &oci_client::secrets::RegistryAuth,
    ) -> Self {
        use oci_client::errors::OciDistributionError as E;
        let secrets = secrets_of(auth);
        let safe = |text: &str| first_line(&scrub(text, &secrets));
        let image = image.to_owned();
        match e {
            E::UnauthorizedError { .. }
            | E::AuthenticationFailure(_)
            | E::ServerError { code: 401 | 403, .. } => Self::Unauthorized {
                image,
                registry: registry.to_owned(),
            },
            E::ServerError {
                code: 404, message, ..
            } => Self::NotFound {
                image,
                detail: safe(message),
            },
            E::RegistryError { envelope, .. } => {
                let codes: Vec<String> = envelope.errors.iter().map(|x| format!("{:?}", x.code)).collect();
                let text = safe(
                    &envelope
                        .errors
                        .iter()
                        .map(|x| x.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                );
                if codes
                    .iter()
                    .any(|c| c.contains("Unknown") || c.contains("NameUnknown"))
                {
                    Self::NotFound { image, detail: text }
                } else if codes
                    .iter()
                    .any(|c| c.contains("Unauthorized") || c.contains("Denied"))
                {
                    Self::Unauthorized {
                        image,
                        registry: registry.to_owned(),
                    }
                } else {
                    Self::Registry { image, detail: text }
                }
            }
            E::ImageManifestNotFoundError(m) => Self::NotFound {
                image,
                detail: safe(m),
            },
            // serde's message about the token endpoint's answer quotes the answer: a token.
            E::RegistryTokenDecodeError(_) => Self::Registry {
                image,
                detail: "the registry's token endpoint answered with something that is not a token".into(),
            },
            E::RequestError(r) => {
                let mut detail = safe(&error_chain(r));
                if detail.contains("certificate") {
                    detail.push_str(" (is the registry's CA in the trusted CA bundle?)");
                }
                if r.is_timeout() {
                    Self::Unreachable {
                        image,
                        detail: format!("timed out: {detail}"),
                    }
                } else if r.is_connect() || r.is_request() {
                    Self::Unreachable { image, detail }
                } else {
                    Self::Registry { image, detail }
                }
            }
            other => Self::Registry {
                image,
                detail: safe(&other.to_string()),
            },
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(300).collect()
}

/// The error and its sources on one line (reqwest hides the useful part in `source()`), not
/// yet scrubbed or shortened.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

const REDACTED: &str = "<redacted>";

/// The strings of `auth` that must never be shown: the password (or token), `user:password`
/// and its base64 (the `Basic` header's value). The user name alone is not secret.
fn secrets_of(auth: &oci_client::secrets::RegistryAuth) -> Vec<String> {
    use base64::Engine as _;
    use oci_client::secrets::RegistryAuth;
    match auth {
        RegistryAuth::Anonymous => Vec::new(),
        RegistryAuth::Basic(user, password) => {
            let pair = format!("{user}:{password}");
            let header = base64::engine::general_purpose::STANDARD.encode(&pair);
            vec![header, pair, password.clone()]
        }
        RegistryAuth::Bearer(token) => vec![token.clone()],
    }
}

/// `text`, from a registry or the HTTP stack, made safe to show (the module docs say what goes).
/// Errs on the side of hiding: prose such as "token: expired" loses its last word.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    // URLs first: a password replaced inside userinfo would hide where the URL ends.
    let text = replace_secrets(scrub_urls(text), secrets);
    scrub_schemes(&scrub_key_values(&text))
}

/// `text` with each of `secrets` replaced wherever it occurs.
fn replace_secrets(mut text: String, secrets: &[String]) -> String {
    // Longest first, so the header goes before the password it contains.
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
    }
    text
}

/// Byte offset of the first case-insensitive occurrence of the ASCII `needle`.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Every `http://` or `https://` URL without its userinfo, query and fragment.
fn scrub_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = [find_ascii_ci(rest, "http://"), find_ascii_ci(rest, "https://")]
        .into_iter()
        .flatten()
        .min()
    {
        out.push_str(&rest[..start]);
        let url = &rest[start..];
        let end = url
            .find(|c: char| c.is_whitespace() || "\"'<>()[]{}`,;|\\".contains(c))
            .unwrap_or(url.len());
        let (scheme, after) = url[..end].split_once("://").unwrap_or(("", &url[..end]));
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, tail) = after.split_at(authority_end);
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let (path, query) = tail.split_at(tail.find(['?', '#']).unwrap_or(tail.len()));
        out.push_str(scheme);
        out.push_str("://");
        out.push_str(host);
        out.push_str(path);
        if !query.is_empty() {
            out.push('?');
            out.push_str(REDACTED);
        }
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

/// Key names whose values are credentials (matched case-insensitively, as a part of the key:
/// `X-Amz-Signature`, `access_token`, `"password"`).
const SENSITIVE_KEYS: &[&str] = &[
    "authorization",
    "password",
    "passwd",
    "secret",
    "token",
    "signature",
    "credential",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "session",
];

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The value after a sensitive key and `=` or `:` (quoted or not; for `authorization`, the rest
/// of the header value).
fn scrub_key_values(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_key_byte(bytes[i]) || (i > 0 && is_key_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let key_end = i + bytes[i..].iter().take_while(|b| is_key_byte(**b)).count();
        let key = text[i..key_end].to_ascii_lowercase();
        i = key_end;
        if !(SENSITIVE_KEYS.iter().any(|s| key.contains(s)) || key == "sig") {
            continue;
        }
        let skip_spaces = |mut j: usize| {
            while bytes.get(j) == Some(&b' ') {
                j += 1;
            }
            j
        };
        let mut j = skip_spaces(key_end + usize::from(bytes.get(key_end) == Some(&b'"')));
        if !matches!(bytes.get(j), Some(b'=' | b':')) {
            continue;
        }
        j = skip_spaces(j + 1);
        let quoted = bytes.get(j) == Some(&b'"');
        j += usize::from(quoted);
        let whole_line = key.contains("authorization");
        let value = &bytes[j..];
        let mut value_len = value
            .iter()
            .take_while(|b| match **b {
                b'"' => false,
                _ if quoted => true,
                b'\n' | b'\r' | b',' | b'|' => false,
                _ if whole_line => true,
                b => !matches!(
                    b,
                    b' ' | b'\t' | b'&' | b';' | b'\'' | b')' | b'}' | b']' | b'<' | b'>'
                ),
            })
            .count();
        while value_len > 0 && value[value_len - 1] == b' ' {
            value_len -= 1;
        }
        if value_len > 0 {
            out.push_str(&text[copied..j]);
            out.push_str(REDACTED);
            copied = j + value_len;
            i = copied;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The credential after `Basic ` or `Bearer ` (8 characters or more of a token alphabet).
fn scrub_schemes(text: &str) -> String {
    let mut out = text.to_owned();
    for scheme in ["basic ", "bearer "] {
        let mut from = 0;
        while let Some(at) = find_ascii_ci(&out[from..], scheme).map(|p| from + p) {
            let start = at + scheme.len();
            let token_len = out.as_bytes()[start..]
                .iter()
                .take_while(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'.' | b'_' | b'~' | b'-')
                })
                .count();
            let boundary = at == 0 || !out.as_bytes()[at - 1].is_ascii_alphanumeric();
            if boundary && token_len >= 8 {
                out.replace_range(start..start + token_len, REDACTED);
                from = start + REDACTED.len();
            } else {
                from = start;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use oci_client::client::{ClientConfig, ClientProtocol};
    use oci_client::errors::{OciDistributionError as E, OciEnvelope, OciError, OciErrorCode};
    use oci_client::secrets::RegistryAuth;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[derive(Clone, Copy)]
    enum Reply {
        /// This status, the request's head as a plain body.
        Echo(&'static str),
        /// This status, the request's head as the message of an OCI error envelope.
        Envelope(&'static str, &'static str),
        /// A redirect to a signed URL on the same server (what object storage does), which
        /// then answers this status with the request's head.
        SignedRedirect(&'static str),
    }

    /// A plain-HTTP registry stand-in on 127.0.0.1 that asks for basic auth at `/v2/` and
    /// answers everything else with `reply`, echoing the request it got (headers included, as a
    /// debugging proxy might); returns its address.
    async fn echoing_registry(reply: Reply) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    let (status, extra, body) = match (reply, path.as_str()) {
                        (_, "/v2/") => (
                            "401 Unauthorized",
                            "WWW-Authenticate: Basic realm=\"test\"\r\n".to_owned(),
                            String::new(),
                        ),
                        (Reply::SignedRedirect(_), p) if !p.starts_with("/blob") => (
                            "307 Temporary Redirect",
                            "Location: /blob?X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=sig-in-query\r\n"
                                .to_owned(),
                            String::new(),
                        ),
                        (Reply::Echo(status) | Reply::SignedRedirect(status), _) => {
                            (status, String::new(), head.replace("\r\n", " | "))
                        }
                        (Reply::Envelope(status, code), _) => (
                            status,
                            "Content-Type: application/json\r\n".to_owned(),
                            serde_json::json!({"errors": [{"code": code, "message": head.replace("\r\n", " | ")}]})
                                .to_string(),
                        ),
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        addr
    }

    /// Through the real client: whatever the registry sends back is scrubbed of the attempt's
    /// credentials and of anything that looks like one.
    #[tokio::test]
    async fn a_registry_echoing_the_request_does_not_put_credentials_in_errors() {
        crate::install_crypto_provider();
        let auth = RegistryAuth::Basic("robot".into(), "pw-echoed-back".into());
        let header = base64::engine::general_purpose::STANDARD.encode("robot:pw-echoed-back");
        for (reply, category) in [
            (Reply::Echo("500 Internal Server Error"), "registry"),
            (Reply::Echo("404 Not Found"), "not_found"),
            (Reply::Envelope("404 Not Found", "MANIFEST_UNKNOWN"), "not_found"),
            (Reply::Envelope("400 Bad Request", "UNSUPPORTED"), "registry"),
            (Reply::SignedRedirect("502 Bad Gateway"), "registry"),
        ] {
            let server = echoing_registry(reply).await;
            let client = oci_client::Client::new(ClientConfig {
                protocol: ClientProtocol::Http,
                ..ClientConfig::default()
            });
            let reference = oci_client::Reference::with_tag(server.clone(), "r".into(), "t".into());
            let e = client
                .pull_manifest_raw(&reference, &auth, &[oci_client::manifest::OCI_IMAGE_MEDIA_TYPE])
                .await
                .unwrap_err();
            let raw = format!("{e}");
            assert!(
                raw.contains(&header),
                "the registry did echo the credentials: {raw}"
            );
            let ours = LookupError::from_oci("img", &server, &e, &auth);
            assert_eq!(ours.category(), category, "{ours}");
            let text = ours.to_string();
            for secret in [header.as_str(), "pw-echoed-back", "sig-in-query", "AKIDEXAMPLE"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }

    #[test]
    fn registry_answers_echoing_credentials_are_scrubbed() {
        let auth = RegistryAuth::Basic("robot".into(), "hunter2-password".into());
        let header = base64::engine::general_purpose::STANDARD.encode("robot:hunter2-password");
        let url = "https://robot:hunter2-password@127.0.0.1:5443/v2/r/manifests/t?token=tok-in-query";
        let oci = |code: OciErrorCode, message: String| E::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message,
                    detail: serde_json::Value::Null,
                }],
            },
            url: url.into(),
        };
        let cases = [
            E::ServerError {
                code: 404,
                url: url.into(),
                message: format!("no such manifest; you sent Authorization: Basic {header}"),
            },
            E::ServerError {
                code: 502,
                url: url.into(),
                message: "proxy: Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln rejected, password hunter2-password".into(),
            },
            oci(
                OciErrorCode::ManifestUnknown,
                format!("manifest unknown (basic {header})"),
            ),
            oci(OciErrorCode::Unsupported, "hunter2-password is not allowed here".into()),
            E::RegistryTokenDecodeError(
                "invalid type: string \"tok-in-body\", expected struct RegistryToken".into(),
            ),
            E::GenericError(Some(format!("see {url}"))),
            E::SpecViolationError(format!("token=tok-in-query at {url}")),
        ];
        for e in &cases {
            let text = LookupError::from_oci("img", "127.0.0.1:5443", e, &auth).to_string();
            for secret in [
                "hunter2-password",
                header.as_str(),
                "eyJhbGciOi",
                "tok-in-query",
                "tok-in-body",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            assert!(text.starts_with("img: "), "{text}");
        }
    }

    #[test]
    fn scrubbing_keeps_what_helps_and_hides_what_looks_like_a_credential() {
        let secrets = secrets_of(&RegistryAuth::Basic("robot".into(), "pw".into()));
        for (text, expected) in [
            ("manifest unknown", "manifest unknown"),
            (
                "error sending request for url (https://robot:pw@127.0.0.1:5443/v2/r/blobs/sha256:ab?X-Amz-Signature=x): connection refused",
                "error sending request for url (https://127.0.0.1:5443/v2/r/blobs/sha256:ab?<redacted>): connection refused",
            ),
            (
                "GET /blob?X-Amz-Credential=AKID/x&X-Amz-Signature=abc HTTP/1.1",
                "GET /blob?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted> HTTP/1.1",
            ),
            (
                "authorization: Basic cm9ib3Q6cHc= | user-agent: oci-client",
                "authorization: <redacted> | user-agent: oci-client",
            ),
            (
                r#"{"token":"abc","expires_in":300}"#,
                r#"{"token":"<redacted>","expires_in":300}"#,
            ),
            ("Bearer eyJabc.def.ghi rejected", "Bearer <redacted> rejected"),
            ("basic auth is off", "basic auth is off"),
            ("login robot:pw refused", "login <redacted> refused"),
        ] {
            assert_eq!(scrub(text, &secrets), expected);
        }
    }

    proptest::proptest! {
        /// Any text (URLs, headers, non-ASCII) is scrubbed without a panic, and the attempt's
        /// password (upper-case here, so the lower-case `<redacted>` cannot spell it) is gone.
        #[test]
        fn scrubbing_any_text_removes_the_password(
            before in "\\PC{0,40}",
            after in "(https?://|[Bb]asic |token=|authorization: |\\PC){0,20}",
            password in "[A-Z0-9]{3,12}",
        ) {
            let text = format!("{before}{password}{after} robot:{password}");
            let secrets = secrets_of(&RegistryAuth::Basic("robot".into(), password.clone()));
            let scrubbed = scrub(&text, &secrets);
            proptest::prop_assert!(!scrubbed.contains(&password), "{scrubbed:?}");
        }
    }

    #[test]
    fn any_error_of_an_attempt_loses_its_credentials() {
        let auth = RegistryAuth::Basic("robot".into(), "hunter2-password".into());
        let e = LookupError::Payload {
            image: "img".into(),
            detail: "image-references: invalid type: string \"hunter2-password\"".into(),
        }
        .without_credentials(&auth);
        assert_eq!(
            e.to_string(),
            "img: image-references: invalid type: string \"<redacted>\""
        );
    }
}
