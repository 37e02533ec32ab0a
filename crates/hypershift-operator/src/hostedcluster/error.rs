//! Errors of the HostedCluster reconcile, each with a bounded category (metrics label, event reason).

use hypershift_support::apply::ApplyError;

/// Why a reconcile could not finish.
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

impl Error {
    /// A bounded label.
    pub fn category(&self) -> &'static str {
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
}
