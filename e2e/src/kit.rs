//! The pieces every scenario with the hypershift-operator as a process needs: the CRDs,
//! namespaces and pull secret a devcluster starts with, applying YAML, the HostedCluster and
//! NodePool documents, and the operator process with its `/metrics`. Used by the flagship
//! scenario, the operator benchmark and the operator's own process tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, Result};
use devcluster::DevCluster;
use hypershift_releaseinfo::testing::{SOURCE_COMPONENTS, SyntheticRelease, TestRegistry};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::workspace_root;

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
/// component mirror as data-plane `imageContentSources` and the ignition server published on
/// NodePort `127.0.0.1:30443`.
pub fn hosted_cluster_yaml(name: &str, release_image: &str, registry: &TestRegistry) -> String {
    format!(
        "apiVersion: hypershift.openshift.io/v1beta1\nkind: HostedCluster\nmetadata:\n  name: {name}\n  namespace: clusters\nspec:\n  release:\n    image: {release_image}\n  pullSecret:\n    name: pull-secret\n  platform:\n    type: None\n  imageContentSources:\n  - source: {SOURCE_COMPONENTS}\n    mirrors:\n    - {}\n  services:\n  - service: Ignition\n    servicePublishingStrategy:\n      type: NodePort\n      nodePort:\n        address: 127.0.0.1\n        port: 30443\n",
        SyntheticRelease::mirror_components_repo(&registry.host)
    )
}

/// A NodePool `clusters/<name>` of HostedCluster `cluster` and `release_image`.
pub fn node_pool_yaml(name: &str, cluster: &str, release_image: &str) -> String {
    format!(
        "apiVersion: hypershift.openshift.io/v1beta1\nkind: NodePool\nmetadata:\n  name: {name}\n  namespace: clusters\nspec:\n  clusterName: {cluster}\n  release:\n    image: {release_image}\n  platform:\n    type: None\n"
    )
}

/// `127.0.0.1:PORT`, free at the moment.
///
/// # Errors
/// When no loopback port can be bound.
pub fn free_address() -> Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}

/// The value of the unlabelled sample `name` in a Prometheus text exposition.
pub fn metric(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The log every [`OperatorProcess`] of `cluster` appends to.
pub fn operator_log(cluster: &DevCluster) -> PathBuf {
    cluster.state_dir().join("operator/hypershift-operator.log")
}

/// A hypershift-operator process against a devcluster, trusting the registry's CA; killed when
/// dropped.
#[derive(Debug)]
pub struct OperatorProcess {
    child: Child,
    /// Its stderr; appended to, so that successive operators of one scenario share it.
    pub log: PathBuf,
    /// Its admin listener (`/metrics`, `/healthz`).
    pub admin_addr: String,
}

impl OperatorProcess {
    /// Starts `binary run` with the cluster's kubeconfig, the registry's CA, its own admin port
    /// and `extra` flags; its files go under `<state dir>/operator/`.
    ///
    /// # Errors
    /// When the files cannot be written or the process cannot start.
    pub fn spawn(
        binary: &Path,
        cluster: &DevCluster,
        registry: &TestRegistry,
        extra: &[&str],
    ) -> Result<Self> {
        let dir = cluster.state_dir().join("operator");
        std::fs::create_dir_all(&dir)?;
        let ca = dir.join("registry-ca.pem");
        std::fs::write(&ca, &registry.ca_pem)?;
        let log = operator_log(cluster);
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let admin_addr = free_address()?;
        let child = Command::new(binary)
            .arg("run")
            .arg(format!("--kubeconfig={}", cluster.kubeconfig_path().display()))
            .arg(format!("--registry-ca-bundle={}", ca.display()))
            .arg(format!("--admin-addr={admin_addr}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            child,
            log,
            admin_addr,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// The shared log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its `/metrics` page.
    ///
    /// # Errors
    /// When the admin port does not answer.
    pub async fn metrics(&self) -> Result<String> {
        let mut stream = tokio::net::TcpStream::connect(&self.admin_addr)
            .await
            .with_context(|| format!("connecting to the admin port {}", self.admin_addr))?;
        stream
            .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n", self.admin_addr).as_bytes())
            .await?;
        let mut out = String::new();
        stream.read_to_string(&mut out).await?;
        Ok(out)
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
