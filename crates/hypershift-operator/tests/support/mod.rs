//! The environment the operator tests run in: the real registry (TLS + htpasswd) with the
//! synthetic release 4.99.0 in oc-mirror v2's layout, a devcluster, and the hypershift-operator
//! as a real process, all through the test kit (`hypershift-testkit`). Everything on 127.0.0.1; no
//! test names a host it would resolve.

#![allow(dead_code, reason = "each test binary uses part of the kit")]

use std::path::Path;
use std::time::{Duration, Instant};

use devcluster::{DevCluster, DevClusterOptions};
use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::node_pool::NodePool;
use hypershift_testkit::{OperatorProcess, cluster as kit};
use hypershift_testkit::{SyntheticRelease, TestRegistry};
use kube::Client;
use kube::api::{Api, PostParams};

pub use hypershift_testkit::cluster::{HCP_CRD, ICSP_CRD, IDMS_CRD, ITMS_CRD};

/// Flags every operator of these tests gets: a short registry timeout keeps failures quick.
const OPERATOR_FLAGS: &[&str] = &["--registry-timeout-seconds=3"];

pub struct Env {
    pub registry: TestRegistry,
    pub release: SyntheticRelease,
    pub cluster: DevCluster,
    pub client: Client,
    pub operator: Option<OperatorProcess>,
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
        kit::seed(&client, &registry, mirror_crds)
            .await
            .expect("seed the cluster");
        Self {
            registry,
            release,
            cluster,
            client,
            operator: None,
        }
    }

    /// [`Env::new`] with the IDMS CRD and the IDMS `release-mirror` oc-mirror writes for the
    /// release (`NeverContactSource`).
    pub async fn with_release_mirror() -> Self {
        let env = Self::new(&[IDMS_CRD]).await;
        env.apply_yaml(&SyntheticRelease::idms_yaml(
            "release-mirror",
            &env.registry.host,
            true,
        ))
        .await;
        env
    }

    pub async fn create_crd(&self, file: &str) {
        kit::create_crd(&self.client, file).await.expect("create a CRD");
    }

    /// Starts the operator as a process with `extra` flags.
    pub fn start_operator(&mut self, extra: &[&str]) {
        self.operator = Some(self.spawn_operator(extra));
    }

    /// Starts the operator as a process with `extra` flags, talking to the cluster through
    /// `kubeconfig` (for example one through a proxy, [`kit::kubeconfig_via`]).
    pub fn start_operator_with_kubeconfig(&mut self, kubeconfig: &Path, extra: &[&str]) {
        let flags: Vec<&str> = OPERATOR_FLAGS.iter().chain(extra).copied().collect();
        self.operator = Some(
            OperatorProcess::spawn_with_kubeconfig(
                Path::new(env!("CARGO_BIN_EXE_hypershift-operator")),
                &self.cluster,
                kubeconfig,
                &self.registry,
                &flags,
            )
            .expect("start hypershift-operator"),
        );
    }

    /// Another operator process on its own admin port (for leader election); the caller owns it.
    pub fn standby(env: &Self, extra: &[&str]) -> OperatorProcess {
        env.spawn_operator(extra)
    }

    fn spawn_operator(&self, extra: &[&str]) -> OperatorProcess {
        let flags: Vec<&str> = OPERATOR_FLAGS.iter().chain(extra).copied().collect();
        OperatorProcess::spawn(
            Path::new(env!("CARGO_BIN_EXE_hypershift-operator")),
            &self.cluster,
            &self.registry,
            &flags,
        )
        .expect("start hypershift-operator")
    }

    /// Kills the operator without warning (SIGKILL).
    pub fn kill_operator(&mut self) {
        self.operator = None;
    }

    pub fn operator_running(&mut self) -> bool {
        self.operator.as_mut().is_some_and(|o| o.running())
    }

    /// The log every operator of this environment appends to.
    pub fn operator_log(&self) -> String {
        std::fs::read_to_string(hypershift_testkit::process::operator_log(&self.cluster)).unwrap_or_default()
    }

    /// Applies a YAML document of any kind the cluster serves (server-side apply as `test`).
    pub async fn apply_yaml(&self, yaml: &str) {
        kit::apply_yaml(&self.client, "test", yaml)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// A HostedCluster named `name` in `clusters` for `release_image` ([`kit::hosted_cluster_yaml`]).
    pub fn hosted_cluster_yaml(&self, name: &str, release_image: &str) -> String {
        kit::hosted_cluster_yaml(name, release_image, &self.registry)
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
        let np: NodePool = serde_saphyr::from_str(&kit::node_pool_yaml(
            name,
            cluster,
            &self.release.source_reference(),
        ))
        .expect("node pool");
        Api::<NodePool>::namespaced(self.client.clone(), "clusters")
            .create(&PostParams::default(), &np)
            .await
            .expect("create a NodePool")
    }

    /// Scrapes the running operator's `/metrics`.
    pub async fn metrics(&self) -> String {
        self.operator
            .as_ref()
            .expect("a running operator")
            .metrics()
            .await
            .expect("scrape /metrics")
    }
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
