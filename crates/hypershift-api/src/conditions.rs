//! Condition types and reasons (upstream's where they exist, ours otherwise).

/// The HostedCluster's inputs are valid.
pub const VALID_CONFIGURATION: &str = "ValidConfiguration";
/// The release image could be read and is usable.
pub const VALID_RELEASE_IMAGE: &str = "ValidReleaseImage";
/// The last reconcile applied everything (upstream misspells the True reason; so do we).
pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
/// Ours: which pull spec served the release image, through which mirror set.
pub const RELEASE_IMAGE_RESOLVED: &str = "ReleaseImageResolved";
/// The ignition server's Deployment is available.
pub const IGNITION_ENDPOINT_AVAILABLE: &str = "IgnitionEndpointAvailable";
/// The control plane is up (our operators: every owned object applied, CPO available).
pub const AVAILABLE: &str = "Available";
/// Ours: every management mirror object (ICSP/IDMS/ITMS) could be read; False names each
/// invalid entry, which was left out of the mirror set.
pub const VALID_MANAGEMENT_MIRRORS: &str = "ValidManagementMirrors";
/// NodePool: the ignition token and user data are in place.
pub const VALID_GENERATED_PAYLOAD: &str = "ValidGeneratedPayload";

pub mod reasons {
    pub const AS_EXPECTED: &str = "AsExpected";
    /// Upstream's spelling.
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliatonSucceeded";
    pub const RECONCILIATION_ERROR: &str = "ReconciliationError";
    pub const INVALID_CONFIGURATION: &str = "InvalidConfiguration";
    pub const INVALID_IMAGE: &str = "InvalidImage";
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    pub const LOOKUP_FAILED: &str = "LookupFailed";
    pub const WAITING_FOR_AVAILABLE: &str = "WaitingForAvailable";
    pub const NOT_FOUND: &str = "NotFound";
    /// Ours: some management mirror entries are invalid and were left out.
    pub const INVALID_MIRROR_ENTRIES: &str = "InvalidMirrorEntries";
    /// NodePool: the HostedCluster, its ignition endpoint or its CA is not there yet.
    pub const WAITING_FOR_INPUTS: &str = "WaitingForInputs";
    /// NodePool: a config ConfigMap is missing or holds an unsupported document.
    pub const INVALID_CONFIG: &str = "InvalidConfig";
    /// NodePool: the ignition server has not reported on the token Secret yet.
    pub const WAITING_FOR_IGNITION_SERVER: &str = "WaitingForIgnitionServer";
}
