//! Errors of the HostedCluster reconcile, each with a bounded category (metrics label, event reason).

use hypershift_support::apply::ApplyError;
use hypershift_support::controller::{ControllerError, Retry};

/// Why a reconcile could not finish. Every cause is transient (the API server or a registry):
/// invalid input is not an error but a condition, and waits for a change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {what}: {source}")]
    Read { what: String, source: kube::Error },
    #[error("cannot prepare the ignition server's certificates: {0}")]
    Pki(String),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("cannot write the HostedCluster status: {0}")]
    Status(kube::Error),
    #[error("cannot delete the control-plane namespace {namespace}: {source}")]
    Cleanup { namespace: String, source: kube::Error },
    #[error("the release lookup failed and will be retried: {0}")]
    Lookup(String),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl ControllerError for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::Pki(_) => "pki",
            Self::Apply(_) => "apply",
            Self::Status(_) => "status",
            Self::Cleanup { .. } => "cleanup",
            Self::Lookup(_) => "release_lookup",
            Self::Finalizer(_) => "finalizer",
        }
    }

    fn retry(&self) -> Retry {
        Retry::Backoff
    }
}
