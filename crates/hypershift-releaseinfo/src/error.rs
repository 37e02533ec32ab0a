//! Lookup errors, with a bounded category for metrics and events.
//!
//! Messages name the image or the candidate pull spec and never contain credentials.

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

    /// Classifies an oci-client error for `image`.
    pub(crate) fn from_oci(
        image: &str,
        registry: &str,
        e: &oci_client::errors::OciDistributionError,
    ) -> Self {
        use oci_client::errors::OciDistributionError as E;
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
                detail: first_line(message),
            },
            E::RegistryError { envelope, .. } => {
                let codes: Vec<String> = envelope.errors.iter().map(|x| format!("{:?}", x.code)).collect();
                let text = envelope
                    .errors
                    .iter()
                    .map(|x| x.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
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
                detail: m.clone(),
            },
            E::RequestError(r) => {
                let mut detail = error_chain(r);
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
                detail: first_line(&other.to_string()),
            },
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(300).collect()
}

/// The error and its sources on one line (reqwest hides the useful part in `source()`).
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
    first_line(&parts.join(": "))
}
