//! The flagship scenario (PRODUCT.md), step by step; `cargo xtask demo` runs it.
//!
//! ```text
//!  1 registry: TLS + htpasswd on 127.0.0.1, release 4.99.0 pushed in oc-mirror v2's layout
//!  2 devcluster: a local Kubernetes API, with its kubelet (containers) or its runner (processes)
//!  3 containers: `kubectl apply -k` installs the hypershift-operator (deploy/, an overlay naming
//!    its image in the release); then the namespaces, pull secret and the IDMS oc-mirror writes
//!  4 the hypershift-operator: a pod pulled through the mirror (containers), or a process
//!  5 a HostedCluster whose release lives under quay.invalid, and a NodePool
//!  6 wait: the release resolved through the mirror, both Deployments rendered and running, the
//!    control plane (containers: every component a pod from its release image), the NodePool's
//!    payload generated
//!  7 a node boots: the real Ignition client fetches the payload with the user-data pointer config
//!    (through the ignition-server's NodePort), skopeo pulls a release component by its
//!    quay.invalid name through the node's registries.conf
//!  8 edit the IDMS (a dead mirror first): both Deployments follow, no operator restart; latency
//!  9 the OLM catalog images pinned on the HostedCluster
//! ```
//!
//! [`Runtime::Containers`] (the demo's default) is a management cluster whose node applies the
//! IDMS: devcluster's kubelet runs every Deployment and StatefulSet as a pod whose images podman
//! pulls by the names in the pod spec through the node's registries.conf (rendered from the
//! cluster's mirror sets, as the machine-config-operator does), so the hypershift-operator, the
//! control-plane-operator, the ignition-server and every component run from the synthetic
//! release's real images (`cargo xtask images` builds them). [`Runtime::Processes`] is the fast
//! variant: the operator as a process, devcluster's runner running the ignition-server and
//! control-plane-operator binaries for their Deployments, and nothing running the components.
//!
//! Everything listens on 127.0.0.1; the "public" registry is under `.invalid` and is never
//! contacted (the IDMS says `NeverContactSource`). The ignition-server's node port (9090), and in
//! the process variant the ports its Deployments bind (9090, 8081, the control-plane-operator's
//! 8080), are fixed: one flagship at a time per machine (nextest runs the tests that start one
//! in the `flagship` group, one at a time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use devcluster::{DevCluster, DevClusterOptions};
use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::openshift::ImageDigestMirrorSet;
use hypershift_testkit::containers::{NodeConfig, NodeRuntime, Podman};
use hypershift_testkit::faults::refusing_address;
use hypershift_testkit::ignition;
use hypershift_testkit::images::BaseImages;
use hypershift_testkit::{SOURCE_COMPONENTS, SOURCE_RELEASE, SyntheticRelease, TestRegistry};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};

use crate::binary;
use hypershift_testkit::{OperatorProcess, cluster as kit};

/// The control-plane namespace of `clusters/example`.
pub const CONTROL_PLANE: &str = "clusters-example";
const WITHIN: Duration = Duration::from_mins(2);
/// The ignition-server's HTTPS port as its Deployment says (and so its NodePort here).
pub const IGNITION_PORT: u16 = 9090;
/// Processes only: the image the operator renders into the ignition-server Deployment, which
/// the runner runs our `ignition-server` binary for (it is named, never pulled). With
/// containers the ignition-server runs from the release's `hypershift` image, as upstream.
pub const IGNITION_SERVER_IMAGE: &str = "quay.invalid/hypershift/ignition-server:latest";
/// Processes only: the control-plane-operator image the HostedCluster's annotation names, which
/// the runner runs our `control-plane-operator` binary for (the release's own `hypershift`
/// component shares its repository with every other component, so the runner could not tell
/// them apart). With containers it is the release's `hypershift` image.
pub const CONTROL_PLANE_OPERATOR_IMAGE: &str = "quay.invalid/hypershift/control-plane-operator:latest";
/// The components the control-plane-operator renders as Deployments (etcd, the ninth, is a
/// StatefulSet).
pub const COMPONENT_DEPLOYMENTS: usize = 8;
/// The hypershift-operator's namespace (deploy/hypershift-operator).
pub const OPERATOR_NAMESPACE: &str = "hypershift";

/// Where the flagship's pods run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Every pod a container pulled through the mirrors by devcluster's kubelet, the
    /// hypershift-operator installed with `kubectl apply -k` (the demo's default).
    Containers,
    /// The hypershift-operator as a process; devcluster's runner runs the ignition-server and
    /// control-plane-operator binaries for their Deployments; nothing runs the components.
    Processes,
}

/// The hypershift-operator of a flagship.
#[derive(Debug)]
pub enum Operator {
    /// A process (its log file, admin address, pid).
    Process(OperatorProcess),
    /// The pod devcluster's kubelet runs for its Deployment (as first seen Ready).
    Pod {
        /// The Pod's name.
        name: String,
        /// Its uid: another uid is another pod, a restart.
        uid: String,
        /// The image its container runs, as the Deployment names it.
        image: String,
    },
}

/// The management node of [`Runtime::Containers`]: its image store and the registries.conf that
/// follows the cluster's mirror sets. Dropped after the cluster (its pods use the store).
struct ManagementNode {
    _config: Option<NodeConfig>,
    podman: Podman,
    _dir: tempfile::TempDir,
}

/// A running flagship environment. Dropping it stops everything; [`Flagship::shutdown`] does so
/// in order.
pub struct Flagship {
    pub runtime: Runtime,
    pub registry: TestRegistry,
    pub release: SyntheticRelease,
    pub cluster: DevCluster,
    pub client: Client,
    pub operator: Operator,
    /// Each catalog index mirrored in step 1: repository → digest.
    catalogs: BTreeMap<String, String>,
    /// [`start_with`]'s spare mirror host.
    pub spare: Option<TestRegistry>,
    node: Option<ManagementNode>,
}

impl std::fmt::Debug for Flagship {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flagship")
            .field("runtime", &self.runtime)
            .field("registry", &self.registry.host)
            .finish_non_exhaustive()
    }
}

/// Where progress goes (the demo prints it; tests keep it).
pub trait Progress {
    fn step(&mut self, n: usize, what: &str);
    fn done(&mut self, detail: &str, took: Duration);
    fn line(&mut self, text: &str);
}

/// The catalog indexes mirrored at `<registry>/redhat` (the HostedCluster's
/// `olm-catalogs-is-registry-overrides` points `registry.redhat.io/redhat` there). Release 4.99
/// looks for v4.22 first; community-operators is mirrored one minor older only, so the
/// control-plane-operator steps back to find it.
const CATALOG_INDEXES: &[(&str, &str)] = &[
    ("certified-operator-index", "v4.22"),
    ("community-operator-index", "v4.21"),
    ("redhat-marketplace-index", "v4.22"),
    ("redhat-operator-index", "v4.22"),
];

/// What the site mirrored: the release in oc-mirror v2's layout and the catalog indexes (runnable
/// on the stand-in when `standin` is given); returns each index's digest by repository.
async fn push_mirror_content(
    registry: &TestRegistry,
    release: &SyntheticRelease,
    standin: Option<&hypershift_testkit::ImageBlob>,
) -> Result<BTreeMap<String, String>> {
    release
        .push(registry)
        .await
        .context("pushing the synthetic release")?;
    let mut digests = BTreeMap::new();
    for (repository, tag) in CATALOG_INDEXES {
        let image = match standin {
            Some(standin) => hypershift_testkit::runnable_catalog_image(standin, repository, tag)?,
            None => hypershift_testkit::catalog_image(repository, tag),
        };
        hypershift_testkit::push_catalog_image(registry, repository, tag, &image)
            .await
            .with_context(|| format!("pushing catalog {repository}:{tag}"))?;
        digests.insert((*repository).to_owned(), image.digest);
    }
    Ok(digests)
}

/// Steps 1–6: everything up and the HostedCluster ready.
///
/// # Errors
/// When a step fails (the message says which, with the operator's log).
pub async fn start(p: &mut dyn Progress, runtime: Runtime) -> Result<Flagship> {
    start_with(p, runtime, false).await
}

/// [`start`], and with `spare_mirror` a second, empty mirror host of the same site
/// ([`Flagship::spare`]: its certificate from the same CA, its own credentials), reachable from
/// every pod from the start as on a real network, for the site to move its mirror to.
///
/// # Errors
/// As [`start`].
pub async fn start_with(p: &mut dyn Progress, runtime: Runtime, spare_mirror: bool) -> Result<Flagship> {
    hypershift_releaseinfo::install_crypto_provider();
    let t = Instant::now();
    p.step(
        1,
        "registry with TLS and htpasswd, release 4.99.0 pushed in oc-mirror v2's layout, four OLM catalog indexes",
    );
    let registry = TestRegistry::start();
    let spare = spare_mirror.then(|| registry.sibling());
    let (release, standin) = match runtime {
        Runtime::Containers => {
            let base = BaseImages::load()?;
            (SyntheticRelease::runnable("4.99.0", &base)?, Some(base.standin))
        }
        Runtime::Processes => (SyntheticRelease::new("4.99.0"), None),
    };
    let catalogs = push_mirror_content(&registry, &release, standin.as_ref()).await?;
    p.done(
        &format!(
            "{} serves {} and {}{}",
            registry.host,
            SyntheticRelease::mirror_release_repo(&registry.host),
            SyntheticRelease::mirror_components_repo(&registry.host),
            if standin.is_some() {
                " (runnable images: our hypershift image and the stand-in's)"
            } else {
                ""
            }
        ),
        t.elapsed(),
    );

    let t = Instant::now();
    let node = match runtime {
        Runtime::Containers => {
            p.step(
                2,
                "devcluster (local Kubernetes API, TLS, token) with its kubelet: a management node whose podman pulls through registries.conf",
            );
            let dir = tempfile::tempdir()?;
            let podman = Podman::node(dir.path(), "kubelet-store", &registry, "")?;
            Some(ManagementNode {
                _config: None,
                podman,
                _dir: dir,
            })
        }
        Runtime::Processes => {
            p.step(
                2,
                "devcluster (local Kubernetes API, TLS, token) with its runner for our operators' Deployments",
            );
            None
        }
    };
    let cluster = start_cluster(&registry, spare.as_ref(), node.as_ref()).await?;
    let client = cluster.client();
    // For a user looking around (`hypershift release info --ca-bundle`).
    std::fs::create_dir_all(cluster.state_dir().join("demo"))?;
    std::fs::write(cluster.state_dir().join("demo/registry-ca.pem"), &registry.ca_pem)?;
    p.done(
        &format!(
            "{} (kubeconfig {})",
            cluster.base_url(),
            cluster.kubeconfig_path().display()
        ),
        t.elapsed(),
    );

    let mut flagship = if let Some(node) = node {
        install(p, registry, release, cluster, client, node, catalogs).await?
    } else {
        seed_and_spawn(p, registry, release, cluster, client, catalogs).await?
    };
    flagship.spare = spare;

    flagship.create_hosted_cluster(p).await?;

    let t = Instant::now();
    p.step(
        6,
        "waiting: release lookup through the mirror, control plane, the ignition-server, the NodePool's payload",
    );
    flagship.wait_ready(p).await?;
    p.done("ready", t.elapsed());
    Ok(flagship)
}

/// Step 2: devcluster, with its kubelet on `node` (the registries' ports forwarded into every pod),
/// or else its runner running our `ignition-server` and `control-plane-operator` binaries for
/// their Deployments.
async fn start_cluster(
    registry: &TestRegistry,
    spare: Option<&TestRegistry>,
    node: Option<&ManagementNode>,
) -> Result<DevCluster> {
    let options = match node {
        Some(node) => {
            let ports = std::iter::once(registry)
                .chain(spare)
                .map(|r| {
                    r.host
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .with_context(|| format!("the port of {}", r.host))
                })
                .collect::<Result<Vec<u16>>>()?;
            DevClusterOptions {
                kubelet: Some(devcluster::KubeletOptions {
                    node_ports: ports,
                    termination_grace: Duration::from_secs(5),
                    max_backoff: Duration::from_secs(8),
                    ..devcluster::KubeletOptions::new(node.podman.kubelet_node())
                }),
                ..DevClusterOptions::default()
            }
        }
        None => DevClusterOptions {
            runner: Some(
                devcluster::RunnerOptions::default()
                    .binary("ignition-server", binary("ignition-server"))
                    .binary("control-plane-operator", binary("control-plane-operator")),
            ),
            ..DevClusterOptions::default()
        },
    };
    DevCluster::start(options).await.context("starting devcluster")
}

/// The kustomize overlay the containers variant installs the operator with: deploy/'s
/// plain-Kubernetes overlay (the operator's base and the mirror CRDs), its image set to the
/// release's `hypershift` component **by its source name and digest** (the node's registries.conf
/// maps it to the mirror), the registry CA as a ConfigMap, and `--registry-ca-bundle`.
///
/// # Errors
/// When a file cannot be written.
pub fn write_install_overlay(dir: &Path, image: &str, ca_pem: &str) -> Result<PathBuf> {
    let (name, digest) = image
        .split_once('@')
        .with_context(|| format!("{image} is not by digest"))?;
    std::fs::create_dir_all(dir)?;
    // kustomize takes a base only by a relative path.
    let base = relative_to(
        &std::fs::canonicalize(dir)?,
        &std::fs::canonicalize(
            hypershift_testkit::workspace_root().join("deploy/overlays/plain-kubernetes"),
        )?,
    );
    std::fs::write(dir.join("registry-ca.crt"), ca_pem)?;
    std::fs::write(
        dir.join("operator.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hypershift-operator\n  namespace: hypershift\n\
         spec:\n  template:\n    spec:\n      containers:\n      - name: operator\n        args:\n        - run\n\
         \x20       - --registry-ca-bundle=/etc/pki/registry-ca/ca-bundle.crt\n        volumeMounts:\n\
         \x20       - name: registry-ca\n          mountPath: /etc/pki/registry-ca\n          readOnly: true\n\
         \x20     volumes:\n      - name: registry-ca\n        configMap:\n          name: registry-ca\n",
    )?;
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "# Written by the flagship (e2e/src/flagship.rs): deploy/ as a disconnected site applies it.\n\
             apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- {}\n\
             images:\n- name: quay.invalid/hypershift/hypershift\n  newName: {name}\n  digest: {digest}\n\
             configMapGenerator:\n- name: registry-ca\n  namespace: {OPERATOR_NAMESPACE}\n  files:\n  - ca-bundle.crt=registry-ca.crt\n\
             \x20 options:\n    disableNameSuffixHash: true\npatches:\n- path: operator.yaml\n",
            base.display()
        ),
    )?;
    Ok(dir.to_path_buf())
}

/// `to` as a path relative to the directory `from` (both absolute).
fn relative_to(from: &Path, to: &Path) -> PathBuf {
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in from.components().skip(common) {
        out.push("..");
    }
    out.extend(to.components().skip(common));
    out
}

/// `kubectl --kubeconfig <cluster> args…`: its stdout, or an error with both streams.
///
/// # Errors
/// When kubectl is missing or fails.
pub fn kubectl(cluster: &DevCluster, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(args)
        .output()
        .context("running kubectl (it comes with these machines at /usr/bin/kubectl; do not install Debian's kubernetes-client)")?;
    if !out.status.success() {
        bail!(
            "kubectl {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Steps 3–4 of [`Runtime::Processes`]: the CRDs, the site's objects and the operator as a process.
async fn seed_and_spawn(
    p: &mut dyn Progress,
    registry: TestRegistry,
    release: SyntheticRelease,
    cluster: DevCluster,
    client: Client,
    catalogs: BTreeMap<String, String>,
) -> Result<Flagship> {
    let t = Instant::now();
    p.step(3, "CRDs, namespaces, pull secret and the IDMS oc-mirror writes");
    seed(&client, &registry).await?;
    p.done(
        "IDMS release-mirror maps both quay.invalid repositories to the mirror (NeverContactSource)",
        t.elapsed(),
    );
    let t = Instant::now();
    p.step(4, "hypershift-operator as a process");
    let operator = OperatorProcess::spawn(
        &binary("hypershift-operator"),
        &cluster,
        &registry,
        &[&format!("--ignition-server-image={IGNITION_SERVER_IMAGE}")],
    )?;
    p.done(
        &format!(
            "pid {}, admin http://{}/metrics, log {}",
            operator.pid(),
            operator.admin_addr,
            operator.log.display()
        ),
        t.elapsed(),
    );
    Ok(Flagship {
        runtime: Runtime::Processes,
        registry,
        release,
        cluster,
        client,
        operator: Operator::Process(operator),
        catalogs,
        spare: None,
        node: None,
    })
}

/// Steps 3–4 of [`Runtime::Containers`]: `kubectl apply -k` installs the operator; the site's
/// namespace, pull secret and IDMS; the node's registries.conf follows the mirror sets; the
/// operator's pod comes up from the release's `hypershift` image pulled through the mirror.
async fn install(
    p: &mut dyn Progress,
    registry: TestRegistry,
    release: SyntheticRelease,
    cluster: DevCluster,
    client: Client,
    node: ManagementNode,
    catalogs: BTreeMap<String, String>,
) -> Result<Flagship> {
    let t = Instant::now();
    p.step(
        3,
        "kubectl apply -k: the hypershift-operator from deploy/ (image: the release's hypershift component), then the pull secret and the IDMS oc-mirror writes",
    );
    let image = release.component_source("hypershift");
    let overlay = write_install_overlay(
        &cluster.state_dir().join("demo/install"),
        &image,
        &registry.ca_pem,
    )?;
    let applied = kubectl(&cluster, &["apply", "-k", &overlay.display().to_string()])?;
    let yaml = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: clusters\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull-secret\n  namespace: clusters\n\
         type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{}'\n---\n{}",
        String::from_utf8(registry.pull_secret_json())?,
        SyntheticRelease::idms_yaml("release-mirror", &registry.host, true),
    );
    kit::apply_yaml(&client, "demo", &yaml).await?;
    // What the machine-config-operator does on OpenShift nodes.
    let node = ManagementNode {
        _config: Some(NodeConfig::spawn(client.clone(), node.podman.node.registries_conf.clone()).await?),
        ..node
    };
    p.done(
        &format!(
            "{} objects applied from {}; IDMS release-mirror maps both quay.invalid repositories to the mirror (NeverContactSource); the node's registries.conf follows it",
            applied.lines().count(),
            overlay.display()
        ),
        t.elapsed(),
    );

    let t = Instant::now();
    p.step(
        4,
        "hypershift-operator: its pod, pulled through the mirror by its quay.invalid name",
    );
    let mut flagship = Flagship {
        runtime: Runtime::Containers,
        registry,
        release,
        cluster,
        client,
        operator: Operator::Pod {
            name: String::new(),
            uid: String::new(),
            image: image.clone(),
        },
        catalogs,
        spare: None,
        node: Some(node),
    };
    let c = flagship.client.clone();
    let pod = flagship
        .eventually("the hypershift-operator's pod to be Ready", || {
            let c = c.clone();
            async move {
                let pods = Api::<Pod>::namespaced(c, OPERATOR_NAMESPACE)
                    .list(&ListParams::default().labels("app.kubernetes.io/name=hypershift-operator"))
                    .await
                    .ok()?;
                pods.items.into_iter().find(pod_ready)
            }
        })
        .await?;
    flagship.operator = Operator::Pod {
        name: pod.name_any(),
        uid: pod.uid().unwrap_or_default(),
        image,
    };
    p.done(
        &format!(
            "pod {OPERATOR_NAMESPACE}/{} Running and Ready, image {}; `kubectl logs -n {OPERATOR_NAMESPACE} deploy/hypershift-operator`",
            pod.name_any(),
            flagship.release.component_source("hypershift")
        ),
        t.elapsed(),
    );
    Ok(flagship)
}

/// Whether a Pod's `Ready` condition is True.
fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Step 3: the CRDs ([`kit::seed`] and the IDMS one), namespaces, pull secret
/// (`clusters/pull-secret`) and the IDMS `release-mirror`.
///
/// # Errors
/// When the API refuses an object.
pub async fn seed(client: &Client, registry: &TestRegistry) -> Result<()> {
    kit::seed(client, registry, &[kit::IDMS_CRD]).await?;
    let idms: ImageDigestMirrorSet = serde_saphyr::from_str(&SyntheticRelease::idms_yaml(
        "release-mirror",
        &registry.host,
        true,
    ))?;
    Api::<ImageDigestMirrorSet>::all(client.clone())
        .create(&PostParams::default(), &idms)
        .await?;
    Ok(())
}

impl Flagship {
    /// Step 5: the HostedCluster (with processes, annotated to run the runner's
    /// control-plane-operator) and its NodePool.
    async fn create_hosted_cluster(&mut self, p: &mut dyn Progress) -> Result<()> {
        let t = Instant::now();
        p.step(
            5,
            "HostedCluster clusters/example (release under quay.invalid) and NodePool clusters/workers",
        );
        let release_image = self.release.source_reference();
        let hosted_cluster =
            kit::hosted_cluster_yaml_on("example", &release_image, &self.registry, IGNITION_PORT);
        let hosted_cluster = match self.runtime {
            // The release's own `hypershift` image runs the control-plane-operator.
            Runtime::Containers => hosted_cluster,
            Runtime::Processes => hosted_cluster.replace(
                "  annotations:\n",
                &format!(
                    "  annotations:\n    hypershift.openshift.io/control-plane-operator-image: {CONTROL_PLANE_OPERATOR_IMAGE}\n"
                ),
            ),
        };
        self.apply(&hosted_cluster).await?;
        self.apply(&kit::node_pool_yaml("workers", "example", &release_image))
            .await?;
        p.done(
            &format!("spec.release.image {}", self.release.source_reference()),
            t.elapsed(),
        );
        Ok(())
    }

    async fn apply(&self, yaml: &str) -> Result<()> {
        kit::apply_yaml(&self.client, "demo", yaml).await
    }

    /// What is wrong with the operator, if anything: its process exited, or its pod was
    /// replaced or restarted (either would hide a hot loop or a crash behind a later success).
    pub async fn operator_trouble(&mut self) -> Option<String> {
        match &mut self.operator {
            Operator::Process(process) => {
                (!process.running()).then(|| "the hypershift-operator exited".to_owned())
            }
            Operator::Pod { uid, .. } if uid.is_empty() => None,
            Operator::Pod { name, uid, .. } => {
                let pods = Api::<Pod>::namespaced(self.client.clone(), OPERATOR_NAMESPACE)
                    .list(&ListParams::default().labels("app.kubernetes.io/name=hypershift-operator"))
                    .await
                    .ok()?;
                let Some(pod) = pods
                    .items
                    .iter()
                    .find(|p| p.uid().as_deref() == Some(uid.as_str()))
                else {
                    return Some(format!("the hypershift-operator's pod {name} is gone"));
                };
                let restarts: i32 = pod
                    .status
                    .iter()
                    .flat_map(|s| s.container_statuses.iter().flatten())
                    .map(|c| c.restart_count)
                    .sum();
                (restarts > 0)
                    .then(|| format!("the hypershift-operator's pod {name} restarted {restarts} times"))
            }
        }
    }

    /// The operator's log so far (its process's, or its pod's container's).
    pub fn operator_log(&self) -> String {
        match &self.operator {
            Operator::Process(process) => process.log_text(),
            Operator::Pod { name, .. } => self
                .cluster
                .kubelet()
                .map(|k| {
                    k.logs_dir()
                        .join(OPERATOR_NAMESPACE)
                        .join(name)
                        .join("operator.log")
                })
                .and_then(|f| std::fs::read_to_string(f).ok())
                .unwrap_or_default(),
        }
    }

    /// Every pod's container log (containers only; empty with processes), for a failure report.
    pub fn pod_logs(&self) -> String {
        self.cluster
            .kubelet()
            .map(devcluster::Kubelet::dump_logs)
            .unwrap_or_default()
    }

    async fn eventually<T, F, Fut>(&mut self, what: &str, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WITHIN;
        loop {
            if let Some(v) = check().await {
                return Ok(v);
            }
            if let Some(trouble) = self.operator_trouble().await {
                bail!(
                    "{trouble} while waiting for {what}; its log:\n{}",
                    self.operator_log()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out waiting for {what}; the operator's log:\n{}\npods:\n{}",
                    self.operator_log(),
                    self.pod_logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn condition(client: &Client, type_: &str) -> Option<(String, String)> {
        let hc = Api::<HostedCluster>::namespaced(client.clone(), "clusters")
            .get_opt("example")
            .await
            .ok()??;
        let c = hc.status?.conditions.into_iter().find(|c| c.type_ == type_)?;
        Some((c.status, c.message))
    }

    async fn wait_ready(&mut self, p: &mut dyn Progress) -> Result<()> {
        let client = self.client.clone();
        self.wait_true(
            p,
            &[
                "ReleaseImageResolved",
                "ValidReleaseImage",
                "ValidConfiguration",
                "ReconciliationSucceeded",
                "IgnitionEndpointAvailable",
            ],
        )
        .await?;
        let c = client.clone();
        self.eventually("the NodePool's Secrets", || {
            let c = c.clone();
            async move {
                // Token and user data, both in the control-plane namespace (as upstream).
                let l = Api::<Secret>::namespaced(c, CONTROL_PLANE)
                    .list(&ListParams::default().labels("hypershift.openshift.io/nodepool-name=workers"))
                    .await
                    .ok()?;
                (l.items.len() >= 2).then_some(())
            }
        })
        .await?;
        let c = client.clone();
        let message = self
            .eventually("the NodePool's ValidGeneratedPayload=True", || {
                let c = c.clone();
                async move {
                    let np = Api::<hypershift_api::node_pool::NodePool>::namespaced(c, "clusters")
                        .get_opt("workers")
                        .await
                        .ok()??;
                    let cond = np
                        .status?
                        .conditions
                        .into_iter()
                        .find(|c| c.type_ == "ValidGeneratedPayload")?;
                    (cond.status == "True").then_some(cond.message)
                }
            })
            .await?;
        p.line(&format!("  NodePool ValidGeneratedPayload=True: {message}"));
        let c = client.clone();
        let message = self
            .eventually(
                "the control-plane-operator's components and ValidReleaseInfo=True",
                || {
                    let c = c.clone();
                    async move {
                        let hcp =
                            Api::<hypershift_api::hosted_control_plane::HostedControlPlane>::namespaced(
                                c.clone(),
                                CONTROL_PLANE,
                            )
                            .get_opt("example")
                            .await
                            .ok()??;
                        let cond = hcp
                            .status?
                            .conditions
                            .into_iter()
                            .find(|c| c.type_ == "ValidReleaseInfo")?;
                        let rendered = Api::<Deployment>::namespaced(c, CONTROL_PLANE)
                            .list(
                                &ListParams::default()
                                    .labels("app.kubernetes.io/managed-by=control-plane-operator"),
                            )
                            .await
                            .ok()?;
                        (cond.status == "True" && rendered.items.len() >= COMPONENT_DEPLOYMENTS)
                            .then_some(cond.message)
                    }
                },
            )
            .await?;
        p.line(&format!("  HostedControlPlane ValidReleaseInfo=True: {message}"));
        // The control plane's OLM conditions, as the HostedCluster shows them.
        self.wait_true(p, &["ValidOLMCatalogConfiguration", "OLMCatalogImagesResolved"])
            .await?;
        if self.runtime == Runtime::Containers {
            // The components really run: their pods are Ready.
            self.wait_true(
                p,
                &["EtcdAvailable", "KubeAPIServerAvailable", "OLMCatalogsAvailable"],
            )
            .await?;
        }
        Ok(())
    }

    /// Waits for each of the HostedCluster's conditions `types` to be True, printing each.
    async fn wait_true(&mut self, p: &mut dyn Progress, types: &[&'static str]) -> Result<()> {
        for type_ in types {
            let c = self.client.clone();
            let message = self
                .eventually(&format!("{type_}=True"), || {
                    let c = c.clone();
                    async move {
                        Self::condition(&c, type_)
                            .await
                            .filter(|(s, _)| s == "True")
                            .map(|(_, m)| m)
                    }
                })
                .await?;
            p.line(&format!("  {type_}=True: {message}"));
        }
        Ok(())
    }

    /// Step 7: a node boots with the real Ignition client from the user-data Secret the operator
    /// rendered, then its container runtime (skopeo, containers/image) pulls a release component by
    /// its `quay.invalid` name through the registries.conf and pull secret the payload wrote.
    pub async fn boot_node(&mut self, p: &mut dyn Progress) -> Result<NodeBoot> {
        let t = Instant::now();
        p.step(
            7,
            "a node boots: the real Ignition client, the user-data pointer config, the ignition-server",
        );
        let secrets = Api::<Secret>::namespaced(self.client.clone(), CONTROL_PLANE)
            .list(&ListParams::default().labels("hypershift.openshift.io/nodepool-name=workers"))
            .await?;
        let user_data = secrets
            .items
            .into_iter()
            .find(|s| s.name_any().starts_with("user-data-"))
            .and_then(|s| s.data?.remove("value"))
            .context("the NodePool's user-data Secret has no value")?
            .0;
        let dir = self.cluster.state_dir().join("node");
        let boot = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || ignition::boot(&user_data, &dir)).await??
        };
        ignition::validate(&boot.fetched, &dir)?;
        let registries_conf = String::from_utf8(boot.file("/etc/containers/registries.conf")?)?;
        boot.file("/var/lib/kubelet/config.json")?;
        let cli = self.release.component_source("cli");
        let written = String::from_utf8(boot.file("/etc/hypershift/cli-image")?)?;
        if written != cli {
            bail!("the payload names the cli image {written:?}, the release {cli:?}");
        }
        let certs = dir.join("certs.d");
        std::fs::create_dir_all(&certs)?;
        std::fs::write(certs.join("ca.crt"), &self.registry.ca_pem)?;
        let runtime = NodeRuntime {
            registries_conf: boot.root.join("etc/containers/registries.conf"),
            auth_file: boot.root.join("var/lib/kubelet/config.json"),
            cert_dir: certs,
            home: dir.join("home"),
        };
        let pulled = runtime.pull(&cli, &dir.join("pulled-cli"))?;
        if !pulled.status.success() {
            bail!(
                "the node could not pull {cli} through its registries.conf:\n{}\n{registries_conf}",
                String::from_utf8_lossy(&pulled.stderr)
            );
        }
        // The same image by tag: the data-plane rule is digest-only, so its mirror must not
        // serve it. (A copy of the file blocks the source, so that the refused pull cannot
        // fall back to looking up quay.invalid.)
        let tag = format!("{SOURCE_COMPONENTS}:{}-cli", self.release.tag());
        let location = format!("location = \"{SOURCE_COMPONENTS}\"\n");
        let blocked_conf = dir.join("registries-blocked.conf");
        std::fs::write(
            &blocked_conf,
            registries_conf.replace(&location, &format!("{location}blocked = true\n")),
        )?;
        let by_tag = NodeRuntime {
            registries_conf: blocked_conf,
            ..runtime
        }
        .pull(&tag, &dir.join("pulled-by-tag"))?;
        let refusal = String::from_utf8_lossy(&by_tag.stderr);
        if by_tag.status.success() || !refusal.contains("blocked") {
            bail!(
                "a tag pull of {tag} was not refused as blocked (its mirror is digest-only): {refusal}\n{registries_conf}"
            );
        }
        let digest = hypershift_mirrors::sha256_digest(&boot.fetched);
        p.done(
            &format!(
                "payload {digest} ({} bytes) passed ignition-validate; {cli} pulled through the mirror; a tag pull refused",
                boot.fetched.len()
            ),
            t.elapsed(),
        );
        Ok(NodeBoot {
            payload_digest: digest,
            registries_conf,
            pulled: cli,
            mirror: SyntheticRelease::mirror_components_repo(&self.registry.host),
        })
    }

    /// What the control-plane-operator rendered: each component's images and where a management
    /// node's CRI-O pulls each from (the management mirrors, node semantics: `hypershift mirrors
    /// explain`'s logic), and the HostedControlPlane's conditions.
    async fn report_control_plane(&self, out: &mut String) -> Result<()> {
        let mut builder = hypershift_mirrors::MirrorSetBuilder::new();
        for idms in Api::<ImageDigestMirrorSet>::all(self.client.clone())
            .list(&ListParams::default())
            .await?
        {
            builder.add_idms(&idms)?;
        }
        let mirrors: hypershift_mirrors::ManagementMirrors = builder.build();
        let selector = ListParams::default().labels("app.kubernetes.io/managed-by=control-plane-operator");
        let mut workloads: Vec<(String, k8s_openapi::api::core::v1::PodSpec)> = Vec::new();
        for d in Api::<Deployment>::namespaced(self.client.clone(), CONTROL_PLANE)
            .list(&selector)
            .await?
        {
            workloads.push((
                format!("Deployment {}", d.name_any()),
                d.spec.and_then(|s| s.template.spec).unwrap_or_default(),
            ));
        }
        for s in
            Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(self.client.clone(), CONTROL_PLANE)
                .list(&selector)
                .await?
        {
            workloads.push((
                format!("StatefulSet {}", s.name_any()),
                s.spec.and_then(|s| s.template.spec).unwrap_or_default(),
            ));
        }
        writeln!(
            out,
            "Control plane components (control-plane-operator), each image and where a management node pulls it from:"
        )?;
        for (name, pod) in &workloads {
            writeln!(out, "  {name}")?;
            for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
                let image = c.image.clone().unwrap_or_default();
                let from = hypershift_mirrors::ImageRef::parse(&image).map_or_else(
                    |e| format!("(not a reference: {e})"),
                    |r| {
                        mirrors
                            .resolve_with(&r, hypershift_mirrors::MatchMode::Node)
                            .candidates
                            .first()
                            .cloned()
                            .unwrap_or_default()
                    },
                );
                writeln!(out, "    {} {image}\n      ← {from}", c.name)?;
            }
        }
        let services: Vec<String> =
            Api::<k8s_openapi::api::core::v1::Service>::namespaced(self.client.clone(), CONTROL_PLANE)
                .list(&selector)
                .await?
                .into_iter()
                .map(|s| s.name_any())
                .collect();
        writeln!(
            out,
            "OLM catalogs (management placement): Services {} on gRPC port 50051, Deployments above (*-catalog)",
            services.join(", ")
        )?;
        let hcp = Api::<hypershift_api::hosted_control_plane::HostedControlPlane>::namespaced(
            self.client.clone(),
            CONTROL_PLANE,
        )
        .get("example")
        .await?;
        writeln!(out, "Conditions of HostedControlPlane {CONTROL_PLANE}/example:")?;
        for c in hcp.status.unwrap_or_default().conditions {
            writeln!(
                out,
                "  {:<36} {:<5} {:<22} {}",
                c.type_, c.status, c.reason, c.message
            )?;
        }
        Ok(())
    }

    /// What the operator did, as text.
    pub async fn report(&self) -> Result<String> {
        let mut out = String::new();
        let hc = Api::<HostedCluster>::namespaced(self.client.clone(), "clusters")
            .get("example")
            .await?;
        let status = hc.status.unwrap_or_default();
        if let Some(s) = &status.release_image_source {
            writeln!(
                out,
                "Release image {}\n  served by {} ({})\n  digest {}\n  management mirrors {}",
                s.image,
                s.pulled_from,
                if s.via_mirror { "a mirror" } else { "the source" },
                s.digest,
                s.mirror_set_hash
            )?;
        }
        writeln!(out, "Conditions of clusters/example:")?;
        for c in &status.conditions {
            writeln!(
                out,
                "  {:<28} {:<5} {:<24} {}",
                c.type_, c.status, c.reason, c.message
            )?;
        }
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), CONTROL_PLANE);
        for name in ["control-plane-operator", "ignition-server"] {
            let d = deployments.get(name).await?;
            let c = d
                .spec
                .and_then(|s| s.template.spec)
                .and_then(|s| s.containers.into_iter().next())
                .context("a container")?;
            writeln!(
                out,
                "Deployment {CONTROL_PLANE}/{name}\n  image {}\n  args {}",
                c.image.unwrap_or_default(),
                c.args.unwrap_or_default().join(" ")
            )?;
            for e in c.env.unwrap_or_default() {
                writeln!(out, "  env {}={}", e.name, e.value.unwrap_or_default())?;
            }
        }
        self.report_control_plane(&mut out).await?;
        writeln!(out, "NodePool clusters/workers")?;
        for s in Api::<Secret>::namespaced(self.client.clone(), CONTROL_PLANE)
            .list(&ListParams::default().labels("hypershift.openshift.io/nodepool-name=workers"))
            .await?
        {
            let what = if s.name_any().starts_with("token-") {
                "token"
            } else {
                "user data"
            };
            writeln!(out, "  {what} Secret {CONTROL_PLANE}/{}", s.name_any())?;
        }
        Ok(out)
    }

    /// Step 8: puts a dead mirror first in the IDMS; returns how long until both Deployments
    /// carried it, and checks the release still resolves through the healthy mirror.
    pub async fn edit_mirrors(&mut self, p: &mut dyn Progress) -> Result<Duration> {
        p.step(8, "editing the IDMS: a dead mirror first, the healthy one second");
        let dead = format!("{}/openshift/release-images", refusing_address());
        let t = Instant::now();
        put_mirror_first(&self.client, &self.registry, &dead).await?;
        let client = self.client.clone();
        let dead_host = dead.split('/').next().unwrap_or_default().to_owned();
        for name in ["control-plane-operator", "ignition-server"] {
            let (c, dead_host) = (client.clone(), dead_host.clone());
            self.eventually(&format!("{name} to carry the new mirror"), || {
                let (c, dead_host) = (c.clone(), dead_host.clone());
                async move {
                    let d = Api::<Deployment>::namespaced(c, CONTROL_PLANE)
                        .get_opt(name)
                        .await
                        .ok()??;
                    let env = d.spec?.template.spec?.containers.into_iter().next()?.env?;
                    env.into_iter()
                        .any(|e| e.value.is_some_and(|v| v.contains(&dead_host)))
                        .then_some(())
                }
            })
            .await?;
        }
        let latency = t.elapsed();
        let c = client.clone();
        let message = self
            .eventually("the release to resolve again after the edit", || {
                let c = c.clone();
                async move {
                    let (status, message) = Self::condition(&c, "ReleaseImageResolved").await?;
                    (status == "True").then_some(message)
                }
            })
            .await?;
        let rolled = if self.runtime == Runtime::Containers {
            // Their new pods (the template changed) start under the node's new registries.conf.
            let t = Instant::now();
            self.wait_rolled_out().await?;
            format!(
                "; their new pods and every other workload's Ready {:.1} s later",
                t.elapsed().as_secs_f64()
            )
        } else {
            String::new()
        };
        if let Some(trouble) = self.operator_trouble().await {
            bail!("{trouble} after the IDMS edit");
        }
        p.done(
            &format!("both Deployments carry the dead mirror first, {message}; no operator restart{rolled}"),
            latency,
        );
        Ok(latency)
    }

    /// Containers: waits until every workload of the control plane and the operator runs its
    /// current template in a Ready pod (observed generation current, one ready replica), but the
    /// hosted-cluster-config-operator (not reimplemented: it crash-loops).
    async fn wait_rolled_out(&mut self) -> Result<()> {
        let c = self.client.clone();
        self.eventually("every workload's current pod to be Ready", || {
            let c = c.clone();
            async move {
                let mut settled = true;
                for ns in [CONTROL_PLANE, OPERATOR_NAMESPACE] {
                    let lp = ListParams::default();
                    for d in Api::<Deployment>::namespaced(c.clone(), ns)
                        .list(&lp)
                        .await
                        .ok()?
                    {
                        if d.name_any() == "hosted-cluster-config-operator" {
                            continue;
                        }
                        let status = d.status.clone().unwrap_or_default();
                        settled &= status.observed_generation >= d.metadata.generation
                            && status.ready_replicas.unwrap_or(0) >= 1;
                    }
                    for s in Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(c.clone(), ns)
                        .list(&lp)
                        .await
                        .ok()?
                    {
                        let status = s.status.clone().unwrap_or_default();
                        settled &= status.observed_generation >= s.metadata.generation
                            && status.ready_replicas.unwrap_or(0) >= 1;
                    }
                }
                settled.then_some(())
            }
        })
        .await
    }

    /// Step 9: the catalog images pinned on the HostedCluster, first with one annotation
    /// missing (the HostedCluster says which, and no catalog object changes), then all four (the
    /// catalog Deployments run exactly those). Returns the message the HostedCluster showed.
    pub async fn pin_catalogs(&mut self, p: &mut dyn Progress) -> Result<String> {
        use control_plane_operator::catalogs::CATALOGS;
        p.step(
            9,
            "pinning the OLM catalog images on the HostedCluster: three annotations, then four",
        );
        let t = Instant::now();
        let host = self.registry.host.clone();
        let digests = self.catalogs.clone();
        let pinned = |c: &control_plane_operator::catalogs::Catalog| pinned_catalog_image(&host, &digests, c);
        let hcs = Api::<HostedCluster>::namespaced(self.client.clone(), "clusters");
        let annotate = |annotations: serde_json::Map<String, serde_json::Value>| {
            let hcs = hcs.clone();
            async move {
                hcs.patch(
                    "example",
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"metadata": {"annotations": annotations}})),
                )
                .await
            }
        };
        let before = catalog_deployments(self.client.clone())
            .await
            .context("listing the catalogs")?;
        annotate(
            CATALOGS[..3]
                .iter()
                .map(|c| (c.annotation.to_owned(), pinned(c).into()))
                .collect(),
        )
        .await?;
        let c = self.client.clone();
        let shown = self
            .eventually("the HostedCluster's ValidOLMCatalogConfiguration=False", || {
                let c = c.clone();
                async move {
                    Self::condition(&c, "ValidOLMCatalogConfiguration")
                        .await
                        .filter(|(s, m)| s == "False" && m.contains(CATALOGS[3].annotation))
                        .map(|(_, m)| m)
                }
            })
            .await?;
        p.line(&format!("  ValidOLMCatalogConfiguration=False: {shown}"));
        if catalog_deployments(self.client.clone()).await.as_ref() != Some(&before) {
            bail!("an incomplete set of catalog annotations changed the catalog Deployments");
        }
        annotate(std::iter::once((CATALOGS[3].annotation.to_owned(), pinned(&CATALOGS[3]).into())).collect())
            .await?;
        let c = self.client.clone();
        self.eventually("the catalog Deployments to run the pinned images", || {
            let c = c.clone();
            let wanted: Vec<(String, String)> = CATALOGS
                .iter()
                .map(|cat| (cat.deployment(), pinned(cat)))
                .collect();
            async move {
                let now = catalog_deployments(c.clone()).await?;
                let ok = wanted
                    .iter()
                    .all(|(name, image)| now.iter().any(|(n, i, _)| n == name && i == image));
                let (status, _) = Self::condition(&c, "ValidOLMCatalogConfiguration").await?;
                (ok && status == "True").then_some(())
            }
        })
        .await?;
        p.done(
            "the missing annotation was named on the HostedCluster with nothing changed; all four pinned, no ImageStream",
            t.elapsed(),
        );
        Ok(shown)
    }

    /// The management node (containers only).
    fn node(&self) -> Result<&Podman> {
        self.node
            .as_ref()
            .map(|n| &n.podman)
            .context("only the containers flagship has a management node")
    }

    /// Containers: release component `component`'s image leaves the mirror `mirror` and the node
    /// (as image garbage collection would): its container goes with it, and the restart has to
    /// pull it again. Returns the image as pod specs name it (`quay.invalid/…@sha256:…`).
    ///
    /// # Errors
    /// When skopeo or podman fail.
    pub fn lose_component_image(&self, component: &str, mirror: &TestRegistry) -> Result<String> {
        let node = self.node()?;
        let digest = &self
            .release
            .components
            .get(component)
            .with_context(|| format!("no component {component}"))?
            .digest;
        let image = format!("{SOURCE_COMPONENTS}@{digest}");
        let mirrored = format!(
            "{}@{digest}",
            SyntheticRelease::mirror_components_repo(&mirror.host)
        );
        let out = node.node.delete(&mirrored)?;
        if !out.status.success() {
            bail!(
                "skopeo delete {mirrored}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = node.command().args(["rmi", "--force", &image]).output()?;
        if !out.status.success() {
            bail!("podman rmi {image}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(image)
    }

    /// Containers: the site moves its mirror to `second` (the release pushed there first; a
    /// host whose certificate the site's CA signed, so everything trusts it already): its
    /// credentials join the node's global pull secret and the HostedCluster's pull secret, and
    /// the IDMS names it; waits until the node's registries.conf (the machine-config-operator's
    /// part) follows. Nothing is restarted.
    ///
    /// # Errors
    /// When a file or the API refuses, or the registries.conf does not follow in time.
    pub async fn move_mirror(&mut self, second: &TestRegistry) -> Result<()> {
        let node = self.node()?.node.clone();
        let merged = {
            let mut auth: serde_json::Value = serde_json::from_slice(&std::fs::read(&node.auth_file)?)?;
            let extra: serde_json::Value = serde_json::from_slice(&second.pull_secret_json())?;
            auth["auths"][&second.host] = extra["auths"][&second.host].clone();
            auth.to_string()
        };
        std::fs::write(&node.auth_file, &merged)?;
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull-secret\n  namespace: clusters\n\
             type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{merged}'\n"
        );
        self.apply(&secret).await?;
        self.apply(&SyntheticRelease::idms_yaml("release-mirror", &second.host, true))
            .await?;
        let host = second.host.clone();
        let conf = node.registries_conf.clone();
        self.eventually("the node's registries.conf to follow the IDMS", || {
            let followed = std::fs::read_to_string(&conf).is_ok_and(|c| c.contains(&host));
            async move { followed.then_some(()) }
        })
        .await
    }

    /// Waits until the HostedCluster's condition `type_` has `status` with a message containing
    /// `naming`; returns the message.
    ///
    /// # Errors
    /// When it does not within two minutes, or the operator is in trouble.
    pub async fn wait_condition(&mut self, type_: &str, status: &str, naming: &str) -> Result<String> {
        let c = self.client.clone();
        self.eventually(
            &format!("the HostedCluster's {type_}={status} naming {naming:?}"),
            || {
                let c = c.clone();
                async move {
                    Self::condition(&c, type_)
                        .await
                        .filter(|(s, m)| s == status && m.contains(naming))
                        .map(|(_, m)| m)
                }
            },
        )
        .await
    }

    /// Containers: waits until every workload runs its current template in a Ready pod (the
    /// hosted-cluster-config-operator aside).
    ///
    /// # Errors
    /// When they do not within two minutes, or the operator is in trouble.
    pub async fn wait_settled(&mut self) -> Result<()> {
        self.wait_rolled_out().await
    }

    /// Stops the operator, the cluster (its pods first) and the registry, then the node.
    pub async fn shutdown(self) {
        drop(self.operator);
        self.cluster.shutdown().await;
        drop(self.node);
    }

    /// `kubectl get pods -A` (containers: every pod the kubelet runs).
    ///
    /// # Errors
    /// When kubectl fails.
    pub fn pods(&self) -> Result<String> {
        kubectl(&self.cluster, &["get", "pods", "-A"])
    }
}

/// A catalog's index as mirrored in step 1, by digest.
fn pinned_catalog_image(
    host: &str,
    digests: &BTreeMap<String, String>,
    c: &control_plane_operator::catalogs::Catalog,
) -> String {
    format!(
        "{}/{}@{}",
        hypershift_testkit::catalog_mirror(host),
        c.repository,
        digests.get(c.repository).map_or("", String::as_str)
    )
}

/// The catalog Deployments: (name, the `registry` container's image, resourceVersion).
async fn catalog_deployments(c: Client) -> Option<Vec<(String, String, Option<String>)>> {
    let list = Api::<Deployment>::namespaced(c, CONTROL_PLANE)
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=control-plane-operator"))
        .await
        .ok()?;
    Some(
        list.items
            .into_iter()
            .filter(|d| d.name_any().ends_with("-catalog"))
            .map(|d| {
                let image = d
                    .spec
                    .and_then(|s| s.template.spec)
                    .and_then(|s| s.containers.into_iter().next())
                    .and_then(|c| c.image)
                    .unwrap_or_default();
                (
                    d.metadata.name.unwrap_or_default(),
                    image,
                    d.metadata.resource_version,
                )
            })
            .collect(),
    )
}

/// What the booted node got.
#[derive(Debug, Clone)]
pub struct NodeBoot {
    /// `sha256:` of the payload the Ignition client fetched.
    pub payload_digest: String,
    /// The `/etc/containers/registries.conf` it wrote.
    pub registries_conf: String,
    /// The component image pulled by its `quay.invalid` name.
    pub pulled: String,
    /// The mirror repository that served it.
    pub mirror: String,
}

/// Edits the IDMS `release-mirror` so that `mirror` comes before the registry's release
/// repository.
///
/// # Errors
/// When the API refuses the patch.
pub async fn put_mirror_first(client: &Client, registry: &TestRegistry, mirror: &str) -> Result<()> {
    let patch = serde_json::json!({"spec": {"imageDigestMirrors": [
        {"source": SOURCE_RELEASE, "mirrors": [mirror, SyntheticRelease::mirror_release_repo(&registry.host)], "mirrorSourcePolicy": "NeverContactSource"},
        {"source": SOURCE_COMPONENTS, "mirrors": [SyntheticRelease::mirror_components_repo(&registry.host)], "mirrorSourcePolicy": "NeverContactSource"},
    ]}});
    Api::<ImageDigestMirrorSet>::all(client.clone())
        .patch("release-mirror", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}
