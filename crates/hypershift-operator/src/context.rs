//! What every reconcile shares. Built once in `run`.

use std::sync::Arc;

use hypershift_releaseinfo::StandardProvider;
use hypershift_support::apply::Applier;
use hypershift_support::controller::Policy;
use hypershift_support::metrics::LookupMetrics;
use kube::Client;
use kube::runtime::events::Recorder;
use tokio::sync::watch;

use crate::hostedcluster::validate::Defaults;
use crate::management_mirrors::MirrorState;

/// Shared by the HostedCluster and NodePool controllers.
pub struct Context {
    pub client: Client,
    pub provider: Arc<StandardProvider>,
    pub mirrors: watch::Receiver<MirrorState>,
    pub defaults: Defaults,
    pub applier: Applier,
    pub recorder: Recorder,
    /// Requeue policy and metrics of the HostedCluster controller.
    pub hosted_clusters: Policy,
    /// Requeue policy and metrics of the NodePool controller.
    pub node_pools: Policy,
    pub lookups: LookupMetrics,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}
