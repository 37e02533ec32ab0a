//! Why a token Secret has no payload: what is reported on it, and what the controller does next.

use hypershift_support::controller::{ControllerError, Retry};

/// A payload that cannot be generated, reported on its token Secret as `reason`/`message`
/// ([`PayloadStatus`](hypershift_support::contract::PayloadStatus)) and through the NodePool's
/// `ValidGeneratedPayload`. Messages name objects and images, never a token or a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The token Secret, a config document or the pull secret's format is wrong.
    #[error("{0}")]
    InvalidConfig(String),
    /// The control plane's pull secret or trust bundle is missing or not (yet) the one the token
    /// Secret was written for.
    #[error("{0}")]
    InputsNotReady(String),
    /// A registry did not serve the release or the machine-config-operator image.
    #[error("{0}")]
    ReleaseLookupFailed(String),
    /// The release has no machine-config-operator component.
    #[error("{0}")]
    InvalidRelease(String),
    /// The machine-config-operator's templates do not render.
    #[error("{0}")]
    InvalidTemplates(String),
}

impl Failure {
    /// The reported reason (a bounded set: also the metric label).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidConfig(_) => "InvalidConfig",
            Self::InputsNotReady(_) => "InputsNotReady",
            Self::ReleaseLookupFailed(_) => "ReleaseLookupFailed",
            Self::InvalidRelease(_) => "InvalidRelease",
            Self::InvalidTemplates(_) => "InvalidTemplates",
        }
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("reporting on token Secret {secret}: {source}")]
    Report {
        secret: String,
        #[source]
        source: kube::Error,
    },
    /// Reported on the token Secret already.
    #[error("token Secret {secret} (nodepool {node_pool}): {failure}")]
    Failed {
        secret: String,
        node_pool: String,
        failure: Failure,
    },
}

impl ControllerError for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::Report { .. } => "report",
            Self::Failed { failure, .. } => failure.reason(),
        }
    }

    fn retry(&self) -> Retry {
        match self {
            Self::Read { .. }
            | Self::Report { .. }
            | Self::Failed {
                failure: Failure::ReleaseLookupFailed(_),
                ..
            } => Retry::Backoff,
            // The token Secret, the control plane's copies or the release must change: their
            // watches bring the Secret back.
            Self::Failed { .. } => Retry::AwaitChange,
        }
    }
}
