//! The HostedControlPlane the control-plane-operator reconciles.

use hypershift_api::hosted_control_plane::HostedControlPlane;

use super::meta;
use crate::hostedcluster::validate::ValidatedHostedCluster;

/// The HostedControlPlane, named like the HostedCluster, in the control-plane namespace.
pub fn build(hc: &ValidatedHostedCluster) -> HostedControlPlane {
    let mut hcp = HostedControlPlane::new(&hc.name, hc.hosted_control_plane.clone());
    let mut metadata = meta(hc, &hc.name);
    metadata
        .annotations
        .get_or_insert_default()
        .extend(hc.hosted_control_plane_annotations.clone());
    hcp.metadata = metadata;
    hcp
}
