//! Every object name the binaries agree on, in one place (upstream's names where they exist).

/// The namespace holding a hosted cluster's control plane: `<hc-namespace>-<hc-name>`.
pub fn control_plane_namespace(hc_namespace: &str, hc_name: &str) -> String {
    format!("{hc_namespace}-{hc_name}")
}

/// The copy of the HostedCluster's pull secret in the control-plane namespace.
pub const PULL_SECRET: &str = "pull-secret";
/// The control-plane-operator's Deployment, ServiceAccount, Role and RoleBinding.
pub const CONTROL_PLANE_OPERATOR: &str = "control-plane-operator";
/// The ignition-server's Deployment, Service, ServiceAccount, Role and RoleBinding.
pub const IGNITION_SERVER: &str = "ignition-server";
/// The ignition-server's serving certificate (`tls.crt`, `tls.key`).
pub const IGNITION_SERVER_SERVING_CERT: &str = "ignition-server-serving-cert";
/// The CA that signed it (`tls.crt`, `tls.key`); NodePools hand `tls.crt` to the nodes.
pub const IGNITION_SERVER_CA: &str = "ignition-server-ca-cert";
/// The mirror registries' CA bundle (`ca-bundle.crt`) copied from the hypershift-operator's flag.
pub const REGISTRY_CA_BUNDLE: &str = "registry-ca-bundle";
/// The key of [`REGISTRY_CA_BUNDLE`].
pub const REGISTRY_CA_BUNDLE_KEY: &str = "ca-bundle.crt";
/// The data-plane trust bundle copied from `spec.additionalTrustBundle`.
pub const USER_CA_BUNDLE: &str = "user-ca-bundle";
/// The key of a pull secret.
pub const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";

/// A NodePool's token Secret for the ignition server.
pub fn token_secret(node_pool: &str, config_hash: &str) -> String {
    format!("token-{node_pool}-{config_hash}")
}

/// A NodePool's user-data Secret (the pointer Ignition config).
pub fn user_data_secret(node_pool: &str, config_hash: &str) -> String {
    format!("user-data-{node_pool}-{config_hash}")
}

/// Where the registry CA bundle is mounted in the CPO and ignition-server pods.
pub const REGISTRY_CA_BUNDLE_MOUNT: &str = "/etc/pki/registry-ca";

/// The field manager of every server-side apply by the hypershift-operator.
pub const HO_FIELD_MANAGER: &str = "hypershift-operator";

/// Label on every object the hypershift-operator owns in a control-plane namespace.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Annotation naming the HostedCluster (`<namespace>/<name>`) an object belongs to (upstream's).
pub const HOSTED_CLUSTER_ANNOTATION: &str = "hypershift.openshift.io/cluster";
/// Finalizer that makes the hypershift-operator clean up before a HostedCluster goes.
pub const HOSTED_CLUSTER_FINALIZER: &str = "hypershift.openshift.io/finalizer";
