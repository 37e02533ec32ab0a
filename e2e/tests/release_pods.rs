//! The container tier: the synthetic release made of real images (`hypershift` is ours, every
//! other component the stand-in, `crates/standin`), pushed to the real registry (TLS + htpasswd)
//! in oc-mirror v2's layout. The control-plane-operator renders its workloads from it, and every
//! container and init container of every workload is then pulled **by the name in its pod spec**
//! (`quay.invalid/…@sha256:…`) by podman — containers/image, as CRI-O pulls on a management node
//! — through a registries.conf rendered from the IDMS held by the cluster, with the pull secret and
//! the registry CA, and run with the spec's command, environment, volumes and securityContext
//! (devcluster's container translation, `devcluster::runner::podman`). Needs `cargo xtask images`
//! (`cargo xtask test` runs it) and podman; fails loudly without them.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is the failure report"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use devcluster::runner::podman::{self, PodRun};
use devcluster::runner::{Lookup, PodIdentity};
use devcluster::{DevCluster, DevClusterOptions, KubeletOptions};
use hypershift_testkit::cluster as kit;
use hypershift_testkit::containers::{NodeConfig, Podman, node_registries_conf};
use hypershift_testkit::images::{BaseImages, PAYLOAD};
use hypershift_testkit::{BinaryProcess, SOURCE_COMPONENTS, SOURCE_RELEASE, SyntheticRelease, TestRegistry};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodTemplateSpec, Secret};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};

const NS: &str = "clusters-example";
const SELECTOR: &str = "app.kubernetes.io/managed-by=control-plane-operator";
const WITHIN: Duration = Duration::from_mins(2);
/// The control plane's workloads (no catalog is mirrored here, so none of theirs).
const WORKLOADS: usize = 9;

/// The Secrets and ConfigMaps of the namespace, as read once.
struct Objects {
    secrets: Vec<Secret>,
    config_maps: Vec<ConfigMap>,
}

impl Lookup for Objects {
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.secrets
            .iter()
            .find(|s| s.namespace().as_deref() == Some(namespace) && s.name_any() == name)
            .cloned()
    }
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap> {
        self.config_maps
            .iter()
            .find(|c| c.namespace().as_deref() == Some(namespace) && c.name_any() == name)
            .cloned()
    }
}

/// Removes every container of the store when dropped (a failed assertion included).
struct RemoveAll(Podman);

impl Drop for RemoveAll {
    fn drop(&mut self) {
        let _ = self.0.run(&args(&["rm", "--force", "--all", "--time=2"]));
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What the stand-in logs for a container of the pod spec: the spec's own `command` and `args`
/// (not our translation of them, so the translation is checked too; the control plane's specs
/// use no `$(VAR)`).
fn standin_line(component: &str, container: &Container) -> String {
    let argv: Vec<String> = container
        .command
        .iter()
        .chain(container.args.iter())
        .flatten()
        .cloned()
        .collect();
    format!("standin: {component} argv {}", serde_json::Value::from(argv))
}

/// The release, the management cluster with its IDMS, and the control-plane-operator as the
/// hypershift-operator leaves them.
struct ControlPlane {
    /// Its registries.conf, following the cluster's mirror sets (stopped before the cluster).
    _node_config: NodeConfig,
    release: SyntheticRelease,
    registry: TestRegistry,
    cluster: DevCluster,
    dir: tempfile::TempDir,
    /// The management node the kubelet runs pods on.
    node: Podman,
    /// The control-plane-operator as a process (without the kubelet; with it, it is a pod).
    _operator: Option<BinaryProcess>,
}

/// Where the control plane runs.
#[derive(PartialEq, Eq)]
enum Runtime {
    /// The control-plane-operator as a process; nothing runs the workloads it renders.
    Process,
    /// devcluster's kubelet runs everything as pods: the control-plane-operator from the
    /// release's `hypershift` image, then every workload it renders.
    Kubelet,
}

impl ControlPlane {
    async fn start(runtime: Runtime) -> Self {
        hypershift_releaseinfo::install_crypto_provider();
        let base = BaseImages::load().unwrap();
        let release = SyntheticRelease::runnable("4.99.0", &base).unwrap();
        let registry = TestRegistry::start();
        release.push(&registry).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        // The management node: its registries.conf is rendered once the IDMS is in the cluster.
        let node = Podman::node(dir.path(), "kubelet-store", &registry, "").unwrap();
        let kubelet = (runtime == Runtime::Kubelet).then(|| {
            let port = registry.host.rsplit(':').next().unwrap().parse().unwrap();
            KubeletOptions {
                node_ports: vec![port],
                termination_grace: Duration::from_secs(5),
                max_backoff: Duration::from_secs(8),
                ..KubeletOptions::new(node.kubelet_node())
            }
        });
        let cluster = DevCluster::start(DevClusterOptions {
            kubelet,
            ..DevClusterOptions::default()
        })
        .await
        .unwrap();
        let client = cluster.client();
        for crd in [kit::HCP_CRD, kit::IDMS_CRD, kit::ITMS_CRD, kit::ICSP_CRD] {
            kit::create_crd(&client, crd).await.unwrap();
        }
        let yaml = format!(
            "{}---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull-secret\n  namespace: {NS}\n\
             stringData:\n  .dockerconfigjson: '{}'\n---\n\
             apiVersion: hypershift.openshift.io/v1beta1\nkind: HostedControlPlane\nmetadata:\n  name: example\n  namespace: {NS}\n\
             \x20 annotations:\n    hypershift.openshift.io/olm-catalogs-is-registry-overrides: {}\n\
             spec:\n  releaseImage: {}\n  pullSecret:\n    name: pull-secret\n",
            SyntheticRelease::idms_yaml("release-mirror", &registry.host, true),
            String::from_utf8(registry.pull_secret_json()).unwrap(),
            hypershift_testkit::catalog_overrides(&registry.host),
            release.source_reference(),
        );
        kit::apply_yaml(&client, "e2e", &yaml).await.unwrap();
        // What the machine-config-operator does on OpenShift nodes.
        let node_config = NodeConfig::spawn(client.clone(), node.node.registries_conf.clone())
            .await
            .unwrap();
        std::fs::write(dir.path().join("registry-ca.pem"), &registry.ca_pem).unwrap();
        let overrides = SyntheticRelease::image_overrides_env(&registry.host);
        let operator = if runtime == Runtime::Kubelet {
            let image = format!("{SOURCE_COMPONENTS}@{}", release.components["hypershift"].digest);
            let yaml = cpo_deployment(&image, &overrides, &registry.ca_pem);
            kit::apply_yaml(&client, "e2e", &yaml).await.unwrap();
            None
        } else {
            Some(Self::cpo_process(&cluster, dir.path(), &overrides))
        };
        Self {
            release,
            registry,
            cluster,
            dir,
            node,
            _node_config: node_config,
            _operator: operator,
        }
    }

    /// The control-plane-operator as a process, as the hypershift-operator would start it.
    fn cpo_process(cluster: &DevCluster, dir: &std::path::Path, overrides: &str) -> BinaryProcess {
        BinaryProcess::spawn(
            &hypershift_testkit::binary("control-plane-operator"),
            &[
                "run".to_owned(),
                format!("--kubeconfig={}", cluster.kubeconfig_path().display()),
                format!("--namespace={NS}"),
                "--hosted-control-plane=example".to_owned(),
                format!("--registry-ca-bundle={}", dir.join("registry-ca.pem").display()),
                "--registry-timeout-seconds=3".to_owned(),
                "--leader-elect=false".to_owned(),
            ],
            &[("OPENSHIFT_IMG_OVERRIDES", overrides)],
            &dir.join("cpo.log"),
        )
        .unwrap()
    }

    /// The pod templates of every workload the control-plane-operator rendered.
    async fn templates(&self) -> BTreeMap<String, PodTemplateSpec> {
        let client = self.cluster.client();
        let deadline = Instant::now() + WITHIN;
        loop {
            let lp = ListParams::default().labels(SELECTOR);
            let mut found = BTreeMap::new();
            let deployments = Api::<Deployment>::namespaced(client.clone(), NS)
                .list(&lp)
                .await
                .unwrap();
            for d in deployments {
                found.insert(d.name_any(), d.spec.unwrap().template);
            }
            let sets = Api::<StatefulSet>::namespaced(client.clone(), NS)
                .list(&lp)
                .await
                .unwrap();
            for s in sets {
                found.insert(s.name_any(), s.spec.unwrap().template);
            }
            if found.len() == WORKLOADS {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {WORKLOADS} workloads rendered within {WITHIN:?}:\n{}",
                found.len(),
                std::fs::read_to_string(self.dir.path().join("cpo.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A management node: the cluster's IDMS as registries.conf, the pull secret, the CA.
    async fn node(&self) -> Podman {
        let conf = node_registries_conf(&self.cluster.client()).await.unwrap();
        Podman::node(self.dir.path(), "podman", &self.registry, &conf).unwrap()
    }

    async fn objects(&self) -> Objects {
        let client = self.cluster.client();
        let lp = ListParams::default();
        Objects {
            secrets: Api::<Secret>::namespaced(client.clone(), NS)
                .list(&lp)
                .await
                .unwrap()
                .items,
            config_maps: Api::<ConfigMap>::namespaced(client, NS)
                .list(&lp)
                .await
                .unwrap()
                .items,
        }
    }

    /// The release component (or [`PAYLOAD`]) an image names.
    fn component(&self, image: &str) -> String {
        if image.starts_with(SOURCE_RELEASE) {
            return PAYLOAD.to_owned();
        }
        self.release
            .components
            .iter()
            .find(|(_, i)| image.ends_with(&i.digest))
            .map(|(n, _)| n.clone())
            .unwrap()
    }
}

/// Pulls every image of `run` not pulled yet, and checks `runAsNonRoot` against the image.
fn pull(runtime: &Podman, workload: &str, run: &PodRun, pulled: &mut BTreeSet<String>) {
    for c in run.init.iter().chain(&run.containers) {
        assert!(
            c.image.starts_with(SOURCE_COMPONENTS) || c.image.starts_with(SOURCE_RELEASE),
            "{workload}/{}: {} is not a release image by its source name",
            c.name,
            c.image
        );
        if pulled.insert(c.image.clone()) {
            let out = runtime.pull(&c.image).unwrap();
            assert!(out.status.success(), "pulling {}:\n{}", c.image, text(&out));
        }
        if c.run_as_non_root {
            let user = runtime
                .run(&args(&[
                    "image",
                    "inspect",
                    "--format={{.Config.User}}",
                    &c.image,
                ]))
                .unwrap();
            let user = String::from_utf8_lossy(&user.stdout).trim().to_owned();
            let uid = user.split(':').next().unwrap_or_default();
            assert!(
                !uid.is_empty() && uid != "0" && uid != "root",
                "{workload}/{}: runAsNonRoot, but {} runs as {user:?}",
                c.name,
                c.image
            );
        }
    }
}

/// Runs `run`'s init containers to completion, then each container until its first log line, then
/// stops it (SIGTERM); one outcome line per container.
async fn run_pod(
    cp: &ControlPlane,
    runtime: &Podman,
    workload: &str,
    template: &PodTemplateSpec,
    run: &PodRun,
) -> Vec<String> {
    let mut outcomes = Vec::new();
    for init in &run.init {
        let mut a = args(&["run", "--rm"]);
        a.extend(init.args.iter().cloned());
        let out = runtime.run(&a).unwrap();
        outcomes.push(format!(
            "{workload}/{} (init, {}): exit {} {}",
            init.name,
            cp.component(&init.image),
            out.status.code().unwrap_or(-1),
            text(&out).trim()
        ));
    }
    for c in &run.containers {
        let mut a = args(&["run", "--detach"]);
        a.extend(c.args.iter().cloned());
        let out = runtime.run(&a).unwrap();
        assert!(out.status.success(), "{workload}/{}: {}", c.name, text(&out));
        let name = format!("{workload}-{}", c.name);
        let mut logs = String::new();
        for _ in 0..100 {
            logs = text(&runtime.run(&args(&["logs", &name])).unwrap());
            if !logs.trim().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        runtime.run(&args(&["stop", "--time=10", &name])).unwrap();
        let code = text(
            &runtime
                .run(&args(&["inspect", "--format={{.State.ExitCode}}", &name]))
                .unwrap(),
        );
        runtime.run(&args(&["rm", &name])).unwrap();
        let component = cp.component(&c.image);
        if component != "hypershift" {
            let spec = template
                .spec
                .iter()
                .flat_map(|s| &s.containers)
                .find(|s| s.name == c.name)
                .unwrap();
            let expected = standin_line(&component, spec);
            assert!(
                logs.contains(&expected),
                "{workload}/{}: the stand-in did not log the spec's command:\n{logs}\nexpected {expected}",
                c.name
            );
        }
        outcomes.push(format!(
            "{workload}/{} ({component}): exit {} {}",
            c.name,
            code.trim(),
            logs.lines().next().unwrap_or_default()
        ));
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_control_plane_container_starts_from_its_release_image_pulled_through_the_mirror() {
    let cp = ControlPlane::start(Runtime::Process).await;
    let templates = cp.templates().await;
    let runtime = cp.node().await;
    // Whatever happens below, no container is left running.
    let _cleanup = RemoveAll(runtime.clone());
    let objects = cp.objects().await;
    let mut pulled = BTreeSet::new();
    let mut outcomes = Vec::new();
    for (workload, template) in &templates {
        let pod_dir = cp.dir.path().join("pods").join(workload);
        let identity = PodIdentity {
            namespace: NS,
            name: workload,
            uid: "0d7f9a6e-0000-4000-8000-000000000000",
        };
        let run = podman::plan(template, &identity, &objects, &|v| pod_dir.join(v), "none").unwrap();
        devcluster::runner::materialise(&pod_dir, &run.volumes, 0o777).unwrap();
        pull(&runtime, workload, &run, &mut pulled);
        outcomes.extend(run_pod(&cp, &runtime, workload, template, &run).await);
    }
    let report = outcomes.join("\n");
    for line in &outcomes {
        if line.contains("(hypershift)") {
            // Our own image runs our own binary for the hosted-cluster-config-operator's
            // command, which does not implement that subcommand (docs/control-plane-operator.md):
            // the container starts from the mirrored image and says so.
            assert!(
                line.contains("exit 2 error: unrecognized subcommand 'hosted-cluster-config-operator'"),
                "{line}\n\nall:\n{report}"
            );
        } else {
            // Init tasks complete; the stand-ins stop gracefully on SIGTERM (exit 0).
            assert!(line.contains(": exit 0 "), "{line}\n\nall:\n{report}");
        }
    }
    // Every image came by its source name from the mirror (the source is under .invalid: a pull
    // that bypassed the mirror fails at DNS): the release image and each component the table
    // uses.
    assert_eq!(
        pulled.len(),
        control_plane_operator::components::required_components().len() + 1,
        "{pulled:?}"
    );
}

/// The control-plane-operator's Deployment as the hypershift-operator renders it (its command
/// line contract, `OPENSHIFT_IMG_OVERRIDES`, the admin port's probes, the registry CA from a
/// ConfigMap, restricted), with no kubeconfig: it runs on in-cluster configuration.
fn cpo_deployment(image: &str, overrides: &str, ca_pem: &str) -> String {
    let ca: String = ca_pem.lines().flat_map(|l| ["    ", l, "\n"]).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: registry-ca\n  namespace: {NS}\ndata:\n  ca.pem: |\n{ca}---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: control-plane-operator\n  namespace: {NS}\nspec:\n\
         \x20 replicas: 1\n  selector:\n    matchLabels:\n      app: control-plane-operator\n  template:\n\
         \x20   metadata:\n      labels:\n        app: control-plane-operator\n    spec:\n\
         \x20     serviceAccountName: control-plane-operator\n      imagePullSecrets:\n      - name: pull-secret\n\
         \x20     securityContext:\n        runAsNonRoot: true\n      containers:\n      - name: control-plane-operator\n\
         \x20       image: {image}\n        command: [/usr/bin/control-plane-operator]\n\
         \x20       args: [run, --namespace={NS}, --hosted-control-plane=example, --admin-addr=0.0.0.0:8080,\n\
         \x20              --registry-ca-bundle=/etc/registry-ca/ca.pem, --registry-timeout-seconds=3, --leader-elect=false]\n\
         \x20       env:\n        - name: OPENSHIFT_IMG_OVERRIDES\n          value: {overrides}\n\
         \x20       ports:\n        - name: admin\n          containerPort: 8080\n\
         \x20       readinessProbe:\n          httpGet: {{path: /readyz, port: admin}}\n          periodSeconds: 2\n\
         \x20       livenessProbe:\n          httpGet: {{path: /livez, port: admin}}\n          periodSeconds: 5\n\
         \x20       securityContext:\n          readOnlyRootFilesystem: true\n          allowPrivilegeEscalation: false\n\
         \x20         capabilities: {{drop: [ALL]}}\n\
         \x20       volumeMounts:\n        - name: registry-ca\n          mountPath: /etc/registry-ca\n\
         \x20     volumes:\n      - name: registry-ca\n        configMap:\n          name: registry-ca\n"
    )
}

/// The image leaves the mirror (`mirrored` names it there) and the node (`image`, its source
/// name: image garbage collection, which also removes its container).
fn lose(cp: &ControlPlane, mirrored: &str, image: &str) {
    let out = cp.node.node.delete(mirrored).unwrap();
    assert!(out.status.success(), "skopeo delete {mirrored}: {}", text(&out));
    let out = cp
        .node
        .command()
        .args(["rmi", "--force", image])
        .output()
        .unwrap();
    assert!(out.status.success(), "podman rmi {image}: {}", text(&out));
}

/// Waits until the HostedControlPlane's condition `kind` has `status` and a message containing
/// `naming`; the message.
async fn wait_condition(cp: &ControlPlane, kind: &str, status: &str, naming: &str) -> String {
    use hypershift_api::hosted_control_plane::HostedControlPlane;
    let api = Api::<HostedControlPlane>::namespaced(cp.cluster.client(), NS);
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        let hcp = api.get("example").await.unwrap();
        let found = hcp
            .status
            .iter()
            .flat_map(|s| s.conditions.iter())
            .find(|c| c.type_ == kind)
            .cloned();
        if let Some(c) = &found
            && c.status == status
            && c.message.contains(naming)
        {
            return c.message.clone();
        }
        assert!(
            Instant::now() < deadline,
            "HostedControlPlane condition {kind}={status} naming {naming:?} not within 2 minutes: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether `pod` is the pod of `workload` (`<name>-<template hash>` or `<name>-0`).
fn pod_of(pod: &str, workload: &str) -> bool {
    pod.strip_prefix(workload)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('-'))
}

fn kubectl(cp: &ControlPlane, a: &[&str]) -> String {
    let out = kit::kubectl(cp.cluster.kubeconfig_path(), a);
    assert!(out.status.success(), "kubectl {a:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl get pods -n NS` rows: name → (ready, status, restarts).
fn pod_rows(cp: &ControlPlane) -> BTreeMap<String, (String, String, u32)> {
    kubectl(cp, &["get", "pods", "-n", NS, "--no-headers"])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| {
                (
                    f[0].to_owned(),
                    (f[1].to_owned(), f[2].to_owned(), f[3].parse().unwrap_or(0)),
                )
            })
        })
        .collect()
}

/// Waits until `done` holds for the pods, with the kubelet's logs and the pods on failure.
async fn wait_pods(
    cp: &ControlPlane,
    what: &str,
    done: impl Fn(&BTreeMap<String, (String, String, u32)>) -> bool,
) -> BTreeMap<String, (String, String, u32)> {
    let deadline = Instant::now() + Duration::from_mins(4);
    loop {
        let rows = pod_rows(cp);
        if done(&rows) {
            return rows;
        }
        if Instant::now() > deadline {
            let describe = kit::kubectl(cp.cluster.kubeconfig_path(), &["describe", "pods", "-n", NS]);
            panic!(
                "{what}: not within 4 minutes:\n{rows:#?}\n{}\n{}",
                text(&describe),
                cp.cluster
                    .kubelet()
                    .map(devcluster::Kubelet::dump_logs)
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The flagship's control-plane half on the container runtime: devcluster's kubelet pulls the
/// control-plane-operator's image (the release's `hypershift` component, by its `quay.invalid`
/// name) through the node's registries.conf rendered from the cluster's IDMS, runs it in its own
/// network namespace on in-cluster configuration (service-account token, `KUBERNETES_SERVICE_*`),
/// its HTTP probes make it Ready; it renders the control plane, and every workload becomes a Pod
/// of real containers pulled the same way. `kubectl get pods`, `logs` and `describe` show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_runs_the_control_plane_operator_and_its_control_plane_as_pods_pulled_through_the_mirror()
{
    let cp = ControlPlane::start(Runtime::Kubelet).await;
    let cpo = the_control_plane_runs(&cp).await;
    node_ports_lead_into_ready_pods(&cp).await;
    let second = the_world_changes(&cp).await;
    a_missing_image_is_reported(&cp, &second).await;

    // Deleting a Deployment stops its pod's containers and removes the Pod.
    kubectl(&cp, &["delete", "deployment", "-n", NS, "control-plane-operator"]);
    wait_pods(&cp, "the operator's pod gone", |rows| !rows.contains_key(&cpo)).await;
    let node = cp.cluster.kubelet().unwrap().node().clone();
    let ps = node
        .command()
        .args(["ps", "--format={{.Names}}"])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    assert!(!ps.contains("control-plane-operator"), "{ps}");
    assert!(ps.contains("k8s_clusters-example_etcd"), "{ps}");
    // Stopping devcluster stops every container.
    let ControlPlane { cluster, .. } = cp;
    cluster.shutdown().await;
    let ps = node
        .command()
        .args(["ps", "--all", "--format={{.Names}}"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ps.stdout).trim(),
        "",
        "containers left after shutdown"
    );
}

/// `GET /readyz` on `127.0.0.1:port` from the node: the whole response, or the I/O error.
async fn get_readyz(port: u16) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n").await?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .map_err(|_| std::io::Error::other("no answer within 5 s"))??;
    Ok(out)
}

/// A NodePort Service's port on the node's loopback leads into the ready pod it selects (by the
/// container port's name); one selecting no pod answers nothing.
async fn node_ports_lead_into_ready_pods(cp: &ControlPlane) {
    let port = |addr: String| addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let (admin, nowhere) = (
        port(hypershift_testkit::free_address().unwrap()),
        port(hypershift_testkit::free_address().unwrap()),
    );
    let service = |name: &str, app: &str, node_port: u16| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  type: NodePort\n\
             \x20 selector:\n    app: {app}\n  ports:\n  - port: 8080\n    targetPort: admin\n    nodePort: {node_port}\n"
        )
    };
    let yaml = format!(
        "{}---\n{}",
        service("cpo-admin", "control-plane-operator", admin),
        service("nowhere", "no-such-pod", nowhere)
    );
    kit::apply_yaml(&cp.cluster.client(), "e2e", &yaml).await.unwrap();
    let deadline = Instant::now() + WITHIN;
    let answer = loop {
        match get_readyz(admin).await {
            Ok(a) if a.starts_with("HTTP/1.") => break a,
            other => assert!(
                Instant::now() < deadline,
                "node port {admin} never led to the operator's admin port: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "{answer}"
    );
    let nothing = get_readyz(nowhere).await;
    assert!(
        nothing.as_ref().map_or(true, String::is_empty),
        "a node port with no ready pod answered: {nothing:?}"
    );
    kit::kubectl(
        cp.cluster.kubeconfig_path(),
        &["delete", "service", "-n", NS, "cpo-admin", "nowhere"],
    );
}

/// Every pod Running and Ready (the HCCO restarting), their logs and events; the operator's pod.
async fn the_control_plane_runs(cp: &ControlPlane) -> String {
    let hcco = "hosted-cluster-config-operator";
    // The operator's pod and the nine it renders.
    let rows = wait_pods(cp, "every control-plane pod Running and Ready", |rows| {
        rows.len() == WORKLOADS + 1
            && rows.iter().all(|(name, (ready, status, restarts))| {
                if pod_of(name, hcco) {
                    // Our image does not implement the HCCO (docs/control-plane-operator.md): it
                    // starts from the mirrored image, exits 2 and is restarted with backoff.
                    *restarts >= 1 && ready == "0/1"
                } else {
                    status == "Running" && ready.split('/').next() == ready.split('/').nth(1)
                }
            })
    })
    .await;
    eprintln!("{}", kubectl(cp, &["get", "pods", "-n", NS]));
    let cpo = rows
        .keys()
        .find(|n| pod_of(n, "control-plane-operator"))
        .unwrap()
        .clone();
    // With no kubeconfig in its pod, the operator found the API server by in-cluster
    // configuration (the service-account token, `KUBERNETES_SERVICE_*`) through the pod's
    // forward, and rendered the control plane.
    let templates = cp.templates().await;
    assert_eq!(templates.len(), WORKLOADS);
    assert!(
        cp.cluster
            .requests()
            .iter()
            .any(|r| r.client == "control-plane-operator" && r.verb == "patch"),
        "the operator in its pod made no request"
    );
    eprintln!("{}", kubectl(cp, &["logs", "-n", NS, &cpo, "--tail=5"]));
    // Every stand-in logged its spec's command line (kubectl logs: the pods/log subresource).
    for (workload, template) in &templates {
        let pod = rows.keys().find(|n| pod_of(n, workload)).unwrap();
        let spec = template.spec.as_ref().unwrap();
        for c in &spec.containers {
            let component = cp.component(c.image.as_deref().unwrap());
            if component == "hypershift" {
                let out = kit::kubectl(
                    cp.cluster.kubeconfig_path(),
                    &["logs", "-n", NS, pod, "-c", &c.name],
                );
                assert!(
                    text(&out).contains("unrecognized subcommand 'hosted-cluster-config-operator'"),
                    "{pod}/{}: {}",
                    c.name,
                    text(&out)
                );
                continue;
            }
            let logs = kubectl(cp, &["logs", "-n", NS, pod, "-c", &c.name]);
            let expected = standin_line(&component, c);
            assert!(
                logs.contains(&expected),
                "{pod}/{}: {logs}\nexpected {expected}",
                c.name
            );
        }
    }
    // describe: the pull by the spec's name, from the mirror, and the HCCO's back-off.
    let described = kubectl(cp, &["describe", "pod", "-n", NS, &cpo]);
    assert!(
        described.contains(&format!("Successfully pulled image \"{SOURCE_COMPONENTS}@")),
        "{described}"
    );
    let hcco_pod = rows.keys().find(|n| pod_of(n, hcco)).unwrap();
    let described = kubectl(cp, &["describe", "pod", "-n", NS, hcco_pod]);
    assert!(
        described.contains("Back-off restarting failed container"),
        "{described}"
    );
    // The Deployments' status comes from their pods.
    let deployments = kubectl(cp, &["get", "deployments", "-n", NS, "--no-headers"]);
    let cpo_row = deployments
        .lines()
        .find(|l| l.starts_with("control-plane-operator "))
        .unwrap();
    assert!(cpo_row.split_whitespace().nth(1) == Some("1/1"), "{deployments}");
    cpo
}

/// The etcd image leaves the mirror and comes back; the IDMS moves to a new mirror host (the
/// new registry, returned).
async fn the_world_changes(cp: &ControlPlane) -> TestRegistry {
    // Change the world: the etcd image leaves the mirror, and the node loses its copy (image
    // garbage collection). The container is gone, its restart pulls, the pull fails: the pod
    // shows it, and so does the HostedControlPlane, naming the image.
    wait_condition(cp, "EtcdAvailable", "True", "").await;
    let etcd = cp.release.components["etcd"].digest.clone();
    let etcd_image = format!("{SOURCE_COMPONENTS}@{etcd}");
    let mirrored = format!(
        "{}@{etcd}",
        SyntheticRelease::mirror_components_repo(&cp.registry.host)
    );
    lose(cp, &mirrored, &etcd_image);
    wait_pods(cp, "etcd-0 unable to pull its image", |rows| {
        rows.get("etcd-0")
            .is_some_and(|(_, status, _)| status == "ErrImagePull" || status == "ImagePullBackOff")
    })
    .await;
    let condition = wait_condition(cp, "EtcdAvailable", "False", &etcd_image).await;
    eprintln!("EtcdAvailable=False: {condition}");
    wait_condition(cp, "Available", "False", &etcd_image).await;
    // The image comes back to the mirror: the next retry pulls it, and it converges.
    cp.release.push(&cp.registry).await.unwrap();
    wait_pods(cp, "etcd-0 Running again", |rows| {
        rows.get("etcd-0")
            .is_some_and(|(ready, status, _)| status == "Running" && ready == "1/1")
    })
    .await;
    wait_condition(cp, "EtcdAvailable", "True", "").await;

    // The IDMS moves to a new mirror host: the node's registries.conf follows it (as the MCO
    // renders it), and the next pull goes there with nothing restarted. The old mirror loses
    // the image, so only the new one can serve it.
    let second = TestRegistry::start();
    cp.release.push(&second).await.unwrap();
    std::fs::write(cp.node.node.cert_dir.join("second.crt"), &second.ca_pem).unwrap();
    let mut auth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cp.node.node.auth_file).unwrap()).unwrap();
    let extra: serde_json::Value = serde_json::from_slice(&second.pull_secret_json()).unwrap();
    auth["auths"][&second.host] = extra["auths"][&second.host].clone();
    std::fs::write(&cp.node.node.auth_file, auth.to_string()).unwrap();
    let idms = SyntheticRelease::idms_yaml("release-mirror", &second.host, true);
    kit::apply_yaml(&cp.cluster.client(), "e2e", &idms).await.unwrap();
    let deadline = Instant::now() + WITHIN;
    while !std::fs::read_to_string(&cp.node.node.registries_conf)
        .unwrap()
        .contains(&second.host)
    {
        assert!(
            Instant::now() < deadline,
            "the node's registries.conf did not follow the IDMS"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = pod_rows(cp)["etcd-0"].2;
    lose(cp, &mirrored, &etcd_image);
    wait_pods(cp, "etcd-0 restarted from the new mirror", |rows| {
        rows.get("etcd-0").is_some_and(|(ready, status, restarts)| {
            *restarts > before && status == "Running" && ready == "1/1"
        })
    })
    .await;
    second
}

async fn a_missing_image_is_reported(cp: &ControlPlane, second: &TestRegistry) {
    // An image the mirror does not have: ErrImagePull, then ImagePullBackOff, with the
    // runtime's message naming the (new) mirror; the Deployment says so. The source is blocked.
    let missing = format!("{SOURCE_COMPONENTS}@sha256:{}", "0".repeat(64));
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: missing\n  namespace: {NS}\nspec:\n\
         \x20 selector:\n    matchLabels: {{app: missing}}\n  template:\n    metadata:\n      labels: {{app: missing}}\n\
         \x20   spec:\n      containers:\n      - name: missing\n        image: {missing}\n"
    );
    kit::apply_yaml(&cp.cluster.client(), "e2e", &yaml).await.unwrap();
    wait_pods(cp, "the missing image's pod in ImagePullBackOff", |rows| {
        rows.iter()
            .any(|(n, (_, status, _))| n.starts_with("missing-") && status == "ImagePullBackOff")
    })
    .await;
    let pod: k8s_openapi::api::core::v1::Pod = {
        let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(cp.cluster.client(), NS)
            .list(&ListParams::default().labels("app=missing"))
            .await
            .unwrap();
        pods.items.into_iter().next().unwrap()
    };
    let waiting = pod.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    let message = waiting.message.unwrap_or_default();
    eprintln!("{}: {message}", waiting.reason.unwrap_or_default());
    assert!(
        message.contains(&second.host) && message.contains(&missing),
        "{message}"
    );
    let d = Api::<Deployment>::namespaced(cp.cluster.client(), NS)
        .get("missing")
        .await
        .unwrap();
    let available = d
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(available.status, "False");
    assert!(
        available.message.unwrap_or_default().contains("ImagePull"),
        "the Deployment names the pull failure"
    );
}
