//! Why a HostedControlPlane reconcile failed.

use hypershift_support::apply::ApplyError;
use hypershift_support::controller::{ControllerError, Retry};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("writing the HostedControlPlane status: {0}")]
    Status(#[source] kube::Error),
    /// Reported in the status already.
    #[error("{reason}: {message}")]
    Reported {
        reason: &'static str,
        message: String,
        retry: Retry,
    },
}

impl ControllerError for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::Apply(_) => "apply",
            Self::Status(_) => "status",
            Self::Reported { reason, .. } => reason,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            Self::Reported { retry, .. } => *retry,
            _ => Retry::Backoff,
        }
    }
}
