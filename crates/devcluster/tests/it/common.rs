//! Helpers shared by the conformance tests: start a devcluster, make namespaces, wait for a
//! condition (with a generous deadline that only guards against hangs; nothing is timed), run
//! kubectl against the cluster.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use devcluster::{DevCluster, DevClusterOptions};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::{Client, CustomResource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every test process installs the one rustls provider in the build (nextest runs each test in its
/// own process).
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A devcluster with default options (TLS, random token).
pub async fn cluster() -> DevCluster {
    cluster_with(|_| {}).await
}

/// A devcluster with adjusted options.
pub async fn cluster_with(adjust: impl FnOnce(&mut DevClusterOptions)) -> DevCluster {
    init();
    let mut options = DevClusterOptions::default();
    adjust(&mut options);
    DevCluster::start(options).await.expect("devcluster starts")
}

/// Creates a namespace.
pub async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
        .expect("a namespace from JSON");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace is created");
}

/// Polls `check` until it returns `Some`, failing the test (naming `what`) after 30 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A test-only custom resource with a status subresource.
#[derive(CustomResource, Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "devcluster.test.invalid",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    printcolumn = r#"{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}"#
)]
pub struct WidgetSpec {
    /// Anything the reconciler copies around.
    pub size: i64,
}

/// Status written by the test reconciler.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct WidgetStatus {
    /// The spec size the reconciler last saw.
    pub observed: i64,
}

/// Installs the Widget CRD.
pub async fn install_widget_crd(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::CustomResourceExt as _;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &Widget::crd())
        .await
        .expect("Widget CRD is created");
}

/// `kubectl` against the cluster: KUBECONFIG set, a per-cluster discovery cache. Fails loudly
/// when kubectl is missing; never skips.
pub fn kubectl(cluster: &DevCluster) -> tokio::process::Command {
    let probe = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "kubectl is missing: the devcluster kubectl tests need kubectl (v1.32 comes with these machines at /usr/bin/kubectl; \
         do not install Debian's kubernetes-client, it conflicts): {probe:?}"
    );
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.env("KUBECONFIG", cluster.kubeconfig_path())
        .arg("--cache-dir")
        .arg(cluster.state_dir().join("kubectl-cache"))
        .kill_on_drop(true);
    cmd
}

/// Runs kubectl to completion; panics with its output when it fails.
pub async fn kubectl_ok(cluster: &DevCluster, args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl_run(cluster, args, stdin).await;
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs kubectl to completion.
pub async fn kubectl_run(cluster: &DevCluster, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use tokio::io::AsyncWriteExt as _;
    let mut cmd = kubectl(cluster);
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.expect("kubectl reads stdin");
    }
    drop(input);
    child.wait_with_output().await.expect("kubectl finishes")
}
