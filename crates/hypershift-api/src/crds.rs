//! The CustomResourceDefinitions generated from this crate's types.
//!
//! `deploy/crds/` holds them as YAML; the `crds_are_up_to_date` test in this crate fails when a
//! type changes without the files being regenerated (`cargo xtask codegen` rewrites them).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::hosted_cluster::HostedCluster;
use crate::hosted_control_plane::HostedControlPlane;
use crate::node_pool::NodePool;
use crate::openshift::{
    ImageContentSourcePolicy, ImageDigestMirrorSet, ImageStream, ImageTagMirrorSet, Route,
};

/// Every CRD we ship, with the file name it is written to under `deploy/crds/`.
///
/// The OpenShift mirror CRDs are only for clusters (and our devcluster) that lack them;
/// on OpenShift the platform installs its own.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        (
            "hypershift.openshift.io_hostedclusters.yaml",
            HostedCluster::crd(),
        ),
        ("hypershift.openshift.io_nodepools.yaml", NodePool::crd()),
        (
            "hypershift.openshift.io_hostedcontrolplanes.yaml",
            HostedControlPlane::crd(),
        ),
        (
            "openshift/operator.openshift.io_imagecontentsourcepolicies.yaml",
            ImageContentSourcePolicy::crd(),
        ),
        (
            "openshift/config.openshift.io_imagedigestmirrorsets.yaml",
            ImageDigestMirrorSet::crd(),
        ),
        (
            "openshift/config.openshift.io_imagetagmirrorsets.yaml",
            ImageTagMirrorSet::crd(),
        ),
        (
            "openshift/image.openshift.io_imagestreams.yaml",
            ImageStream::crd(),
        ),
        ("openshift/route.openshift.io_routes.yaml", Route::crd()),
    ]
}
