//! Errors of the NodePool reconcile, each with a bounded category.

use hypershift_support::apply::ApplyError;
use hypershift_support::controller::{ControllerError, Retry};

/// Why a NodePool reconcile could not finish. Every cause is transient (the API server): missing
/// or invalid inputs are conditions, not errors, and wait for a change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {what}: {source}")]
    Read { what: String, source: kube::Error },
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("cannot write the NodePool status: {0}")]
    Status(kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl ControllerError for Error {
    fn category(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::Apply(_) => "apply",
            Self::Status(_) => "status",
            Self::Finalizer(_) => "finalizer",
        }
    }

    fn retry(&self) -> Retry {
        Retry::Backoff
    }
}

pub(crate) fn read(what: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Read { what, source }
}
