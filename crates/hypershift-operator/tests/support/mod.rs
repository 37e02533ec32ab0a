//! The environment the operator tests run in: the real registry (TLS + htpasswd) with the
//! synthetic release 4.99.0 in oc-mirror v2's layout, a devcluster, and the hypershift-operator
//! as a real process. Everything on 127.0.0.1; no test names a host it would resolve.

#![allow(dead_code, reason = "each test binary uses part of the kit")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use devcluster::{DevCluster, DevClusterOptions};
use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::node_pool::NodePool;
use hypershift_releaseinfo::testing::{SyntheticRelease, TestRegistry};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The CRDs every test needs, and the mirror ones tests add when they want them.
pub const HYPERSHIFT_CRDS: &[&str] = &[
    "hypershift.openshift.io_hostedclusters.yaml",
    "hypershift.openshift.io_nodepools.yaml",
    "hypershift.openshift.io_hostedcontrolplanes.yaml",
];
pub const ICSP_CRD: &str = "openshift/operator.openshift.io_imagecontentsourcepolicies.yaml";
pub const IDMS_CRD: &str = "openshift/config.openshift.io_imagedigestmirrorsets.yaml";
pub const ITMS_CRD: &str = "openshift/config.openshift.io_imagetagmirrorsets.yaml";

pub struct Env {
    pub registry: TestRegistry,
    pub release: SyntheticRelease,
    pub cluster: DevCluster,
    pub client: Client,
    pub dir: PathBuf,
    pub operator: Option<Child>,
    pub admin_addr: String,
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Env {
    /// Registry, release, devcluster, the HyperShift CRDs plus `mirror_crds`, the namespaces and
    /// the pull secret. The operator is not started yet.
    pub async fn new(mirror_crds: &[&str]) -> Self {
        hypershift_releaseinfo::install_crypto_provider();
        let registry = TestRegistry::start();
        let release = SyntheticRelease::new("4.99.0");
        release.push(&registry).await.expect("push the synthetic release");
        let cluster = DevCluster::start(DevClusterOptions::default())
            .await
            .expect("start devcluster");
        let client = cluster.client();
        let dir = cluster.state_dir().join("ho-test");
        std::fs::create_dir_all(&dir).expect("test dir");
        std::fs::write(dir.join("registry-ca.pem"), &registry.ca_pem).expect("write the CA");
        let env = Self {
            registry,
            release,
            cluster,
            client,
            dir,
            operator: None,
            admin_addr: free_address(),
        };
        for crd in HYPERSHIFT_CRDS.iter().chain(mirror_crds) {
            env.create_crd(crd).await;
        }
        for ns in ["hypershift", "clusters"] {
            let ns: Namespace =
                serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("namespace");
            Api::<Namespace>::all(env.client.clone())
                .create(&PostParams::default(), &ns)
                .await
                .expect("create namespace");
        }
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pull-secret", "namespace": "clusters"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": String::from_utf8(env.registry.pull_secret_json()).expect("utf-8")},
        }))
        .expect("secret");
        Api::<Secret>::namespaced(env.client.clone(), "clusters")
            .create(&PostParams::default(), &secret)
            .await
            .expect("create the pull secret");
        env
    }

    pub async fn create_crd(&self, file: &str) {
        let text = std::fs::read_to_string(workspace().join("deploy/crds").join(file)).expect("read a CRD");
        let crd: CustomResourceDefinition = serde_saphyr::from_str(&text).expect("parse a CRD");
        Api::<CustomResourceDefinition>::all(self.client.clone())
            .create(&PostParams::default(), &crd)
            .await
            .expect("create a CRD");
    }

    /// Starts the operator as a process with `extra` flags.
    pub fn start_operator(&mut self, extra: &[&str]) {
        self.operator = Some(self.spawn_operator(&self.admin_addr, extra));
    }

    /// Another operator process on its own admin port (for leader election); the caller owns it.
    pub fn standby(env: &Self, extra: &[&str]) -> Child {
        env.spawn_operator(&free_address(), extra)
    }

    fn spawn_operator(&self, admin_addr: &str, extra: &[&str]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("operator.log"))
            .expect("log file");
        Command::new(env!("CARGO_BIN_EXE_hypershift-operator"))
            .arg("run")
            .arg(format!(
                "--kubeconfig={}",
                self.cluster.kubeconfig_path().display()
            ))
            .arg(format!(
                "--registry-ca-bundle={}",
                self.dir.join("registry-ca.pem").display()
            ))
            .arg(format!("--admin-addr={admin_addr}"))
            .arg("--registry-timeout-seconds=3")
            .args(extra)
            .env("RUST_LOG", "info,hypershift_operator=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start hypershift-operator")
    }

    /// Kills the operator without warning (SIGKILL).
    pub fn kill_operator(&mut self) {
        if let Some(mut child) = self.operator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn operator_running(&mut self) -> bool {
        self.operator
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn operator_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("operator.log")).unwrap_or_default()
    }

    /// Applies a YAML document of any kind the cluster serves (server-side apply as `test`).
    pub async fn apply_yaml(&self, yaml: &str) {
        for doc in yaml.split("\n---\n").filter(|d| !d.trim().is_empty()) {
            let obj: DynamicObject = serde_saphyr::from_str(doc).expect("parse a document");
            let types = obj.types.clone().expect("apiVersion and kind");
            let (group, version) = types
                .api_version
                .rsplit_once('/')
                .unwrap_or(("", &types.api_version));
            let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
            let (ar, _) = kube::discovery::pinned_kind(&self.client, &gvk)
                .await
                .unwrap_or_else(|e| panic!("discover {}: {e}", types.kind));
            let api: Api<DynamicObject> = match obj.namespace() {
                Some(ns) => Api::namespaced_with(self.client.clone(), &ns, &ar),
                None => Api::all_with(self.client.clone(), &ar),
            };
            api.patch(
                &obj.name_any(),
                &PatchParams::apply("test").force(),
                &Patch::Apply(&obj),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {}: {e}", types.kind));
        }
    }

    /// A HostedCluster named `name` in `clusters` for `release_image`, with a NodePort address for
    /// the ignition server and data-plane mirrors.
    pub fn hosted_cluster_yaml(&self, name: &str, release_image: &str) -> String {
        format!(
            "apiVersion: hypershift.openshift.io/v1beta1\nkind: HostedCluster\nmetadata:\n  name: {name}\n  namespace: clusters\nspec:\n  release:\n    image: {release_image}\n  pullSecret:\n    name: pull-secret\n  platform:\n    type: None\n  imageContentSources:\n  - source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev\n    mirrors:\n    - {}\n  services:\n  - service: Ignition\n    servicePublishingStrategy:\n      type: NodePort\n      nodePort:\n        address: 127.0.0.1\n        port: 30443\n",
            SyntheticRelease::mirror_components_repo(&self.registry.host)
        )
    }

    pub async fn hosted_cluster(&self, name: &str) -> Option<HostedCluster> {
        Api::<HostedCluster>::namespaced(self.client.clone(), "clusters")
            .get_opt(name)
            .await
            .expect("get")
    }

    /// Polls `check` until it returns `Some`, up to `within` (a liveness bound, not a timing
    /// assertion); on timeout panics with `what` and the operator's log.
    pub async fn eventually<T, F, Fut>(&self, what: &str, within: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n--- operator log\n{}",
                self.operator_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The status of condition `type_` on HostedCluster `name`.
    pub async fn condition(&self, name: &str, type_: &str) -> Option<(String, String, String)> {
        let hc = self.hosted_cluster(name).await?;
        let c = hc.status?.conditions.into_iter().find(|c| c.type_ == type_)?;
        Some((c.status, c.reason, c.message))
    }

    pub async fn node_pool(&self, name: &str, cluster: &str) -> NodePool {
        let np: NodePool = serde_saphyr::from_str(&format!(
            "apiVersion: hypershift.openshift.io/v1beta1\nkind: NodePool\nmetadata:\n  name: {name}\n  namespace: clusters\nspec:\n  clusterName: {cluster}\n  release:\n    image: {}\n  platform:\n    type: None\n",
            self.release.source_reference()
        ))
        .expect("node pool");
        Api::<NodePool>::namespaced(self.client.clone(), "clusters")
            .create(&PostParams::default(), &np)
            .await
            .expect("create a NodePool")
    }

    /// Scrapes the operator's `/metrics`.
    pub async fn metrics(&self) -> String {
        let mut stream = tokio::net::TcpStream::connect(&self.admin_addr)
            .await
            .expect("connect to the admin port");
        stream
            .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n", self.admin_addr).as_bytes())
            .await
            .expect("write");
        let mut out = String::new();
        stream.read_to_string(&mut out).await.expect("read");
        out
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.kill_operator();
    }
}

/// `127.0.0.1:PORT` free at the moment.
pub fn free_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

/// The env var of container 0 of Deployment `name` in `namespace`.
pub async fn deployment_env(client: &Client, namespace: &str, name: &str, var: &str) -> Option<String> {
    let d = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .ok()??;
    let c = d.spec?.template.spec?.containers.into_iter().next()?;
    c.env?.into_iter().find(|e| e.name == var)?.value
}

/// The args of container 0 of Deployment `name` in `namespace`.
pub async fn deployment_args(client: &Client, namespace: &str, name: &str) -> Option<Vec<String>> {
    let d = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .ok()??;
    d.spec?.template.spec?.containers.into_iter().next()?.args
}
