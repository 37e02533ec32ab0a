//! A devcluster seeded the way every scenario starts: the CRDs, the namespaces `hypershift` and
//! `clusters` with the registry's pull secret, applying YAML documents of any served kind, and
//! the HostedCluster and NodePool documents the scenarios use.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};

use crate::{SOURCE_COMPONENTS, SyntheticRelease, TestRegistry, workspace_root};

pub const HCP_CRD: &str = "hypershift.openshift.io_hostedcontrolplanes.yaml";
/// The HyperShift CRDs (files under `deploy/crds/`).
pub const HYPERSHIFT_CRDS: &[&str] = &[
    "hypershift.openshift.io_hostedclusters.yaml",
    "hypershift.openshift.io_nodepools.yaml",
    HCP_CRD,
];
pub const ICSP_CRD: &str = "openshift/operator.openshift.io_imagecontentsourcepolicies.yaml";
pub const IDMS_CRD: &str = "openshift/config.openshift.io_imagedigestmirrorsets.yaml";
pub const ITMS_CRD: &str = "openshift/config.openshift.io_imagetagmirrorsets.yaml";
pub const IMAGE_STREAM_CRD: &str = "openshift/image.openshift.io_imagestreams.yaml";

/// Creates the CRD in `deploy/crds/<file>`.
///
/// # Errors
/// When the file cannot be read or parsed, or the API refuses it.
pub async fn create_crd(client: &Client, file: &str) -> Result<()> {
    let text = std::fs::read_to_string(workspace_root().join("deploy/crds").join(file))
        .with_context(|| format!("reading {file}"))?;
    let crd: CustomResourceDefinition =
        serde_saphyr::from_str(&text).with_context(|| format!("parsing {file}"))?;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &crd)
        .await
        .with_context(|| format!("creating the CRD of {file}"))?;
    Ok(())
}

/// The HyperShift CRDs plus `mirror_crds`, the namespaces `hypershift` and `clusters`, and the
/// registry's pull secret as `clusters/pull-secret`.
///
/// # Errors
/// When the API refuses an object.
pub async fn seed(client: &Client, registry: &TestRegistry, mirror_crds: &[&str]) -> Result<()> {
    for crd in HYPERSHIFT_CRDS.iter().chain(mirror_crds) {
        create_crd(client, crd).await?;
    }
    for ns in ["hypershift", "clusters"] {
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
    }
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "pull-secret", "namespace": "clusters"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": String::from_utf8(registry.pull_secret_json())?},
    }))?;
    Api::<Secret>::namespaced(client.clone(), "clusters")
        .create(&PostParams::default(), &secret)
        .await?;
    Ok(())
}

/// Applies every document of `yaml` (any kind the cluster serves) server-side as
/// `field_manager`, forcing conflicts.
///
/// # Errors
/// When a document does not parse, its kind is not served, or the API refuses it.
pub async fn apply_yaml(client: &Client, field_manager: &str, yaml: &str) -> Result<()> {
    for doc in yaml.split("\n---\n").filter(|d| !d.trim().is_empty()) {
        let obj: DynamicObject = serde_saphyr::from_str(doc).context("parsing a document")?;
        let types = obj
            .types
            .clone()
            .context("a document without apiVersion and kind")?;
        let (group, version) = types
            .api_version
            .rsplit_once('/')
            .unwrap_or(("", &types.api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
        let (ar, _) = kube::discovery::pinned_kind(client, &gvk)
            .await
            .with_context(|| format!("discovering {}", types.kind))?;
        let api: Api<DynamicObject> = match obj.namespace() {
            Some(ns) => Api::namespaced_with(client.clone(), &ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        api.patch(
            &obj.name_any(),
            &PatchParams::apply(field_manager).force(),
            &Patch::Apply(&obj),
        )
        .await
        .with_context(|| format!("applying {} {}", types.kind, obj.name_any()))?;
    }
    Ok(())
}

/// A HostedCluster `clusters/<name>` of `release_image` (platform None), with the registry's
/// component mirror as data-plane `imageContentSources`, the OLM catalogs' default registry
/// pointed at the registry's catalog mirror (`olm-catalogs-is-registry-overrides`, so a
/// control-plane-operator never contacts `registry.redhat.io`), and the ignition server
/// published on NodePort `127.0.0.1:30443`. The metadata ends with an `annotations:` block:
/// callers add theirs by replacing `"  annotations:\n"`.
pub fn hosted_cluster_yaml(name: &str, release_image: &str, registry: &TestRegistry) -> String {
    hosted_cluster_yaml_on(name, release_image, registry, 30443)
}

/// [`hosted_cluster_yaml`] with the ignition server published on NodePort `127.0.0.1:<port>`.
/// devcluster has no Service proxy: where the ignition-server runs as a process (the runner), the
/// scenario publishes it on its own HTTPS port (9090), so the endpoint nodes are given is the
/// process's listener.
pub fn hosted_cluster_yaml_on(name: &str, release_image: &str, registry: &TestRegistry, port: u16) -> String {
    format!(
        "apiVersion: hypershift.openshift.io/v1beta1\nkind: HostedCluster\nmetadata:\n  name: {name}\n  namespace: clusters\n  annotations:\n    hypershift.openshift.io/olm-catalogs-is-registry-overrides: {}\nspec:\n  release:\n    image: {release_image}\n  pullSecret:\n    name: pull-secret\n  platform:\n    type: None\n  imageContentSources:\n  - source: {SOURCE_COMPONENTS}\n    mirrors:\n    - {}\n  services:\n  - service: Ignition\n    servicePublishingStrategy:\n      type: NodePort\n      nodePort:\n        address: 127.0.0.1\n        port: {port}\n",
        crate::catalog_overrides(&registry.host),
        SyntheticRelease::mirror_components_repo(&registry.host)
    )
}

/// A NodePool `clusters/<name>` of HostedCluster `cluster` and `release_image`.
pub fn node_pool_yaml(name: &str, cluster: &str, release_image: &str) -> String {
    format!(
        "apiVersion: hypershift.openshift.io/v1beta1\nkind: NodePool\nmetadata:\n  name: {name}\n  namespace: clusters\nspec:\n  clusterName: {cluster}\n  release:\n    image: {release_image}\n  platform:\n    type: None\n"
    )
}

/// Writes a copy of `cluster`'s kubeconfig whose server is `server` (for example a
/// [`crate::faults::StallingProxy`] in front of the cluster) next to the original, and returns its
/// path. The credentials and the CA stay the same: devcluster's certificate names `127.0.0.1`, so a
/// TLS pass-through proxy on 127.0.0.1 is trusted as the cluster itself.
///
/// # Errors
/// When the kubeconfig cannot be read or written, or does not name the cluster's URL.
pub fn kubeconfig_via(cluster: &devcluster::DevCluster, server: &str) -> Result<std::path::PathBuf> {
    let original = cluster.kubeconfig_path();
    let text =
        std::fs::read_to_string(original).with_context(|| format!("reading {}", original.display()))?;
    anyhow::ensure!(
        text.contains(cluster.base_url()),
        "{} does not name the cluster's server {}",
        original.display(),
        cluster.base_url()
    );
    let port = server.rsplit(':').next().unwrap_or("server");
    let path = original.with_file_name(format!("kubeconfig-via-{port}"));
    // It holds the token: readable by the owner only, like the original.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.replace(cluster.base_url(), server).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The cluster's API address (`127.0.0.1:PORT`), for a proxy in front of it.
///
/// # Errors
/// When the cluster's URL has no `host:port` address.
pub fn api_addr(cluster: &devcluster::DevCluster) -> Result<std::net::SocketAddr> {
    let url = cluster.base_url();
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    authority
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("the cluster URL {url} has no host:port address"))
}

/// `kubectl --kubeconfig KUBECONFIG ARGS…` (kubectl as an outside client), its output.
///
/// # Panics
/// When kubectl is missing: it comes with these machines (do not install Debian's
/// kubernetes-client, it conflicts), so a missing one fails loudly.
pub fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output();
    match out {
        Ok(o) => o,
        Err(e) => panic!(
            "kubectl is missing ({e}): it comes with these machines at /usr/bin/kubectl; do not install Debian's kubernetes-client"
        ),
    }
}
