//! The container runtime: a kubelet (with the ReplicaSet and StatefulSet controllers' one job)
//! that runs every Deployment and StatefulSet as a Pod whose containers are real containers,
//! pulled by podman **by the names in the pod spec** through the node's registries.conf:
//!
//! ```text
//! Deployment / StatefulSet ──watch──► Pod object <name>-<template hash> | <name>-0 (owned by it)
//!      ▲ status from the pods             │ one task per pod (pod.rs)
//!      │                                  ▼
//!      │      network namespace (netns.rs) with the API server's and node_ports forwarded in
//!      │      podman pull <image as named>        ─► Pulling/Pulled | ErrImagePull/ImagePullBackOff
//!      │      volumes + service-account token + KUBERNETES_SERVICE_* + service links
//!      │      init containers to completion       ─► Init:N/M, Init:CrashLoopBackOff
//!      │      containers (podman run, attached)   ─► Running | CrashLoopBackOff (restart backoff)
//!      │      probes (probe.rs) from inside the pod ─► Ready; liveness failures restart
//!      └───── Pod /status and Events, written as they change; logs for `pods/log`
//! ```
//!
//! One pod per workload whatever `spec.replicas` says above zero (`replicas: 0` runs none), owned
//! directly by its workload (there are no ReplicaSet objects). A changed pod template, a deleted
//! Pod or a deleted workload stops the pod's containers (`podman stop`: SIGTERM, SIGKILL after
//! the grace period) and removes its network namespace; the first two start a new pod. Stopping
//! the kubelet stops every pod; dropping it removes every container of its store at once.
//!
//! The kubelet never logs a container's `podman run` arguments: they carry resolved environment
//! values, Secrets included. It logs pod, container and image names.

mod pod;
mod probe;
mod proxy;
mod status;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodTemplateSpec, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource as _, ResourceExt as _};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use super::plan;
use crate::error::StartError;

/// The node a kubelet runs pods on: podman, its image store, and what CRI-O reads on a node.
#[derive(Debug, Clone)]
pub struct Node {
    /// The podman executable.
    pub podman: PathBuf,
    /// `CONTAINERS_CONF` (runtime, cgroup manager), if not the system's.
    pub containers_conf: Option<PathBuf>,
    /// The image and container store (`storage/`, `run/`, vfs), private to this node.
    pub store: PathBuf,
    /// The node's registries.conf (rendered from the cluster's ICSP/IDMS/ITMS by whoever plays
    /// the machine-config-operator; read afresh by every pull).
    pub registries_conf: PathBuf,
    /// The node's global pull secret (an auth file), merged under each pod's `imagePullSecrets`.
    pub auth_file: Option<PathBuf>,
    /// Certificates trusted for registries (`ca.crt` in it, as `/etc/containers/certs.d/<host>`).
    pub cert_dir: Option<PathBuf>,
}

impl Node {
    /// `podman` with this node's store and configuration, and nothing from the caller's
    /// environment (no user registries.conf, auth file or XDG directories).
    pub fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.podman);
        if let Some(conf) = &self.containers_conf {
            c.env("CONTAINERS_CONF", conf);
        }
        c.env("HOME", self.store.join("home"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("REGISTRY_AUTH_FILE")
            // containers/image's own override of /etc/containers/registries.conf.
            .env("CONTAINERS_REGISTRIES_CONF", &self.registries_conf)
            .arg("--root")
            .arg(self.store.join("storage"))
            .arg("--runroot")
            .arg(self.store.join("run"))
            .args(["--storage-driver", "vfs"]);
        c
    }

    /// [`Node::command`] for async use (killed when dropped).
    pub fn async_command(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::from(self.command());
        c.kill_on_drop(true);
        c
    }

    /// Removes every container of the store at once (what dropping a kubelet does).
    pub fn remove_all_containers(&self) {
        let _ = self
            .command()
            .args(["rm", "--force", "--all", "--time=0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// How the kubelet runs pods.
#[derive(Debug, Clone)]
pub struct KubeletOptions {
    /// The node.
    pub node: Node,
    /// Node loopback ports forwarded into every pod besides the API server's (the registry).
    pub node_ports: Vec<u16>,
    /// Between SIGTERM and SIGKILL when a container is stopped.
    pub termination_grace: Duration,
    /// Longest wait before retrying a pull or restarting a container.
    pub max_backoff: Duration,
    /// Images (by binary name) the process runner runs instead: their workloads are left to it.
    pub process_binaries: BTreeMap<String, PathBuf>,
}

impl KubeletOptions {
    /// A kubelet on `node` with the defaults (10 s grace, 30 s maximum backoff).
    pub fn new(node: Node) -> Self {
        Self {
            node,
            node_ports: Vec::new(),
            termination_grace: Duration::from_secs(10),
            max_backoff: Duration::from_secs(30),
            process_binaries: BTreeMap::new(),
        }
    }
}

/// What pods need of the API server: its port (forwarded into each pod and named by
/// `KUBERNETES_SERVICE_PORT`), and the token and CA of the service-account volume.
#[derive(Debug, Clone)]
pub(crate) struct ApiAccess {
    pub port: u16,
    pub token: Option<String>,
    pub ca_pem: Option<String>,
}

/// A running kubelet. Dropping it removes every container of its store;
/// [`Kubelet::shutdown`] stops them gracefully first.
#[derive(Debug)]
pub struct Kubelet {
    dir: PathBuf,
    node: Node,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// What every pod task shares.
struct Ctx {
    client: Client,
    api: ApiAccess,
    dir: PathBuf,
    options: KubeletOptions,
    /// The Secrets and ConfigMaps pods are planned from.
    caches: super::Caches,
    /// The Services of the service links.
    services: Store<Service>,
}

/// A workload's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Deployment,
    StatefulSet,
}

/// (kind, namespace, name) of a workload.
type Key = (Kind, String, String);

/// The pod a workload wants now.
struct Want {
    pod: String,
    hash: String,
    template: PodTemplateSpec,
    owner: OwnerReference,
    generation: i64,
}

/// A running pod task.
struct Running {
    pod: String,
    hash: String,
    /// The pod task's report (with the Pod object's uid once created).
    view: Arc<Mutex<pod::View>>,
    /// Whether the watch cache has shown the Pod object (only then is its absence a deletion).
    seen: bool,
    stop: watch::Sender<bool>,
    /// `None` once awaited; aborted if dropped unawaited (the kubelet itself was dropped), so no
    /// pod task outlives it to restart containers its drop removed.
    task: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Kubelet {
    pub(crate) fn start(
        client: Client,
        api: ApiAccess,
        dir: &Path,
        options: KubeletOptions,
    ) -> Result<Self, StartError> {
        super::create_dirs(dir, &["pods", "logs"])?;
        super::create_dirs(&options.node.store, &["home"])?;
        let (stop, stop_rx) = watch::channel(false);
        let node = options.node.clone();
        let task = tokio::spawn(run(client, api, dir.to_path_buf(), options, stop_rx));
        Ok(Self {
            dir: dir.to_path_buf(),
            node,
            stop,
            task: Some(task),
        })
    }

    /// Where container logs go: `<dir>/<namespace>/<pod>/<container>.log` (and
    /// `<container>.previous.log`, the run before the last restart).
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// The node the pods run on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Every container log of every pod, each under a header line (for a test failure dump).
    pub fn dump_logs(&self) -> String {
        let mut files = Vec::new();
        collect_files(&self.logs_dir(), &mut files);
        files.sort();
        let mut out = String::new();
        for f in files {
            let rel = f
                .strip_prefix(self.logs_dir())
                .unwrap_or(&f)
                .display()
                .to_string();
            let _ = writeln!(out, "----- {rel} -----");
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()));
        }
        out
    }

    /// Stops every pod (SIGTERM, SIGKILL after the grace period), then removes what is left.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.node.remove_all_containers();
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
            // The pod tasks' podman clients die with them, not the containers (conmon keeps
            // those): remove them all, so nothing is left running.
            self.node.remove_all_containers();
        }
    }
}

async fn run(
    client: Client,
    api: ApiAccess,
    dir: PathBuf,
    options: KubeletOptions,
    mut stop: watch::Receiver<bool>,
) {
    let wake = Arc::new(Notify::new());
    let deployments = super::cache(Api::<Deployment>::all(client.clone()), Arc::clone(&wake));
    let sets = super::cache(Api::<StatefulSet>::all(client.clone()), Arc::clone(&wake));
    let pods = super::cache(Api::<Pod>::all(client.clone()), Arc::clone(&wake));
    let caches = super::Caches {
        secrets: super::cache(Api::<Secret>::all(client.clone()), Arc::clone(&wake)),
        config_maps: super::cache(Api::<ConfigMap>::all(client.clone()), Arc::clone(&wake)),
    };
    let services = super::cache(Api::<Service>::all(client.clone()), Arc::clone(&wake));
    let ready = async {
        let _ = deployments.wait_until_ready().await;
        let _ = sets.wait_until_ready().await;
        let _ = pods.wait_until_ready().await;
        let _ = caches.secrets.wait_until_ready().await;
        let _ = caches.config_maps.wait_until_ready().await;
        let _ = services.wait_until_ready().await;
    };
    tokio::select! {
        () = ready => {}
        _ = stop.changed() => return,
    }
    let ctx = Arc::new(Ctx {
        client,
        api,
        dir,
        options,
        caches,
        services,
    });
    let mut running: BTreeMap<Key, Running> = BTreeMap::new();
    let mut node_ports = proxy::NodePorts::default();
    // Pod tasks report through their views; the tick turns those into workload status.
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            () = wake.notified() => {}
            _ = tick.tick() => {}
        }
        let wants = wanted(&ctx, &deployments, &sets);
        reconcile(&ctx, &wants, &pods, &mut running).await;
        node_ports.sync(&ctx.services, endpoints(&wants, &running));
        for (key, want) in &wants {
            let view = running
                .get(key)
                .map(|r| r.view.lock().map(|v| v.clone()).unwrap_or_default());
            write_workload_status(&ctx, key, want, view.as_ref(), &deployments, &sets).await;
        }
    }
    let all = std::mem::take(&mut running);
    futures::future::join_all(all.into_values().map(stop_pod)).await;
}

/// The pod each workload wants (none for `replicas: 0` or for the process runner's).
fn wanted(ctx: &Ctx, deployments: &Store<Deployment>, sets: &Store<StatefulSet>) -> BTreeMap<Key, Want> {
    let mut wants = BTreeMap::new();
    let mut add = |kind: Kind,
                   meta: &kube::api::ObjectMeta,
                   owner: Option<OwnerReference>,
                   replicas: i32,
                   template: &PodTemplateSpec| {
        if replicas == 0 || plan::is_ours(template, &ctx.options.process_binaries) {
            return;
        }
        let (Some(owner), Some(ns), Some(name)) = (owner, meta.namespace.clone(), meta.name.clone()) else {
            return;
        };
        let hash = plan::template_hash(template);
        let pod = match kind {
            Kind::Deployment => format!("{name}-{hash}"),
            Kind::StatefulSet => format!("{name}-0"),
        };
        wants.insert(
            (kind, ns, name),
            Want {
                pod,
                hash,
                template: template.clone(),
                owner,
                generation: meta.generation.unwrap_or(0),
            },
        );
    };
    for d in deployments.state() {
        if let Some(spec) = &d.spec {
            add(
                Kind::Deployment,
                &d.metadata,
                d.controller_owner_ref(&()),
                spec.replicas.unwrap_or(1),
                &spec.template,
            );
        }
    }
    for s in sets.state() {
        if let Some(spec) = &s.spec {
            add(
                Kind::StatefulSet,
                &s.metadata,
                s.controller_owner_ref(&()),
                spec.replicas.unwrap_or(1),
                &spec.template,
            );
        }
    }
    wants
}

/// The ready pods node ports may lead to, by namespace and pod name.
fn endpoints(wants: &BTreeMap<Key, Want>, running: &BTreeMap<Key, Running>) -> Vec<proxy::Endpoint> {
    let mut out: Vec<proxy::Endpoint> = running
        .iter()
        .filter_map(|(key, r)| {
            let view = r.view.lock().ok()?.clone();
            let netns = view.netns.filter(|_| view.ready)?;
            let template = &wants.get(key)?.template;
            let named_ports = template
                .spec
                .iter()
                .flat_map(|s| &s.containers)
                .flat_map(|c| c.ports.iter().flatten())
                .filter_map(|p| Some((p.name.clone()?, u16::try_from(p.container_port).ok()?)))
                .collect();
            Some(proxy::Endpoint {
                namespace: key.1.clone(),
                pod: r.pod.clone(),
                labels: template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default(),
                named_ports,
                netns,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
    out
}

/// Starts the pods wanted, stops those no longer wanted (or whose Pod a user deleted).
async fn reconcile(
    ctx: &Arc<Ctx>,
    wants: &BTreeMap<Key, Want>,
    pods: &Store<Pod>,
    running: &mut BTreeMap<Key, Running>,
) {
    let mut stopping = Vec::new();
    let keys: Vec<Key> = running.keys().cloned().collect();
    for key in keys {
        let Some(r) = running.get_mut(&key) else { continue };
        let want = wants.get(&key);
        let uid = r.view.lock().ok().and_then(|v| v.uid.clone());
        let cached = pods.get(&ObjectRef::new(&r.pod).within(&key.1));
        let matches = uid.is_some() && cached.as_ref().and_then(|p| p.uid()) == uid;
        r.seen |= matches;
        let deleted_by_user = r.seen && !matches;
        let template_changed = want.is_some_and(|w| w.hash != r.hash);
        if want.is_none() || template_changed || deleted_by_user {
            let why = if deleted_by_user {
                "its Pod was deleted"
            } else if template_changed {
                "the pod template changed"
            } else {
                "the workload is gone or scaled to zero"
            };
            info!(namespace = %key.1, workload = %key.2, pod = %r.pod, "stopping the pod: {why}");
            if let Some(r) = running.remove(&key) {
                stopping.push((key.1.clone(), r, !deleted_by_user));
            }
        }
    }
    // Stopped concurrently; the old Pod object is deleted once its containers are gone.
    futures::future::join_all(stopping.into_iter().map(|(ns, r, delete)| {
        let client = ctx.client.clone();
        async move {
            let name = r.pod.clone();
            stop_pod(r).await;
            if delete {
                let _ = Api::<Pod>::namespaced(client, &ns)
                    .delete(&name, &DeleteParams::default())
                    .await;
            }
        }
    }))
    .await;
    for (key, want) in wants {
        if running.contains_key(key) {
            continue;
        }
        let view = Arc::new(Mutex::new(pod::View::default()));
        let (stop, stop_rx) = watch::channel(false);
        let input = pod::Input {
            namespace: key.1.clone(),
            name: want.pod.clone(),
            hash: want.hash.clone(),
            stateful: key.0 == Kind::StatefulSet,
            template: want.template.clone(),
            owner: want.owner.clone(),
        };
        debug!(namespace = %key.1, pod = %want.pod, "starting a pod");
        let task = tokio::spawn(pod::run(Arc::clone(ctx), input, Arc::clone(&view), stop_rx));
        running.insert(
            key.clone(),
            Running {
                pod: want.pod.clone(),
                hash: want.hash.clone(),
                view,
                seen: false,
                stop,
                task: Some(task),
            },
        );
    }
}

async fn stop_pod(mut r: Running) {
    let _ = r.stop.send(true);
    if let Some(task) = r.task.take() {
        let _ = task.await;
    }
}

/// The workload status its pod implies.
fn workload_status(kind: Kind, want: &Want, view: Option<&pod::View>, old: &Value, now: &str) -> Value {
    let exists = view.is_some_and(|v| v.uid.is_some());
    let ready = view.is_some_and(|v| v.ready);
    let count = |b: bool| i32::from(b);
    let message = match view {
        Some(v) if v.ready => format!("pod {} is ready", want.pod),
        Some(v) => format!("pod {}: {}", want.pod, v.summary),
        None => format!("pod {} is not started yet", want.pod),
    };
    match kind {
        Kind::Deployment => {
            let available = if ready { "True" } else { "False" };
            let reason = if ready {
                "MinimumReplicasAvailable"
            } else {
                "MinimumReplicasUnavailable"
            };
            let transition = |kind: &str, status: &str| status::kept_transition(old, kind, status, now);
            json!({
                "observedGeneration": want.generation,
                "replicas": count(exists),
                "updatedReplicas": count(exists),
                "readyReplicas": count(ready),
                "availableReplicas": count(ready),
                "unavailableReplicas": count(!ready),
                "conditions": [
                    {"type": "Available", "status": available, "reason": reason, "message": message,
                     "lastUpdateTime": transition("Available", available), "lastTransitionTime": transition("Available", available)},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "message": format!("pod {} runs the current template", want.pod),
                     "lastUpdateTime": transition("Progressing", "True"), "lastTransitionTime": transition("Progressing", "True")},
                ],
            })
        }
        Kind::StatefulSet => json!({
            "observedGeneration": want.generation,
            "replicas": count(exists),
            "currentReplicas": count(exists),
            "updatedReplicas": count(exists),
            "readyReplicas": count(ready),
            "availableReplicas": count(ready),
            "currentRevision": format!("{}-{}", want.owner.name, want.hash),
            "updateRevision": format!("{}-{}", want.owner.name, want.hash),
        }),
    }
}

async fn write_workload_status(
    ctx: &Ctx,
    key: &Key,
    want: &Want,
    view: Option<&pod::View>,
    deployments: &Store<Deployment>,
    sets: &Store<StatefulSet>,
) {
    let old = match key.0 {
        Kind::Deployment => deployments
            .get(&ObjectRef::new(&key.2).within(&key.1))
            .and_then(|d| d.status.as_ref().and_then(|s| serde_json::to_value(s).ok())),
        Kind::StatefulSet => sets
            .get(&ObjectRef::new(&key.2).within(&key.1))
            .and_then(|s| s.status.as_ref().and_then(|s| serde_json::to_value(s).ok())),
    }
    .unwrap_or(Value::Null);
    let desired = workload_status(key.0, want, view, &old, &crate::meta::now());
    if super::same_status(&old, &desired) {
        return;
    }
    let patch = Patch::Merge(json!({"status": desired}));
    let pp = PatchParams::default();
    let result = match key.0 {
        Kind::Deployment => Api::<Deployment>::namespaced(ctx.client.clone(), &key.1)
            .patch_status(&key.2, &pp, &patch)
            .await
            .map(|_| ()),
        Kind::StatefulSet => Api::<StatefulSet>::namespaced(ctx.client.clone(), &key.1)
            .patch_status(&key.2, &pp, &patch)
            .await
            .map(|_| ()),
    };
    if let Err(e) = result {
        debug!(namespace = %key.1, workload = %key.2, error = %e, "cannot write status; retrying on the next pass");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want() -> Want {
        Want {
            pod: "etcd-0".into(),
            hash: "h".into(),
            template: PodTemplateSpec::default(),
            owner: OwnerReference {
                name: "etcd".into(),
                ..OwnerReference::default()
            },
            generation: 2,
        }
    }

    #[test]
    fn a_deployment_is_available_when_its_pod_is_ready_and_says_why_not_otherwise() {
        let waiting = pod::View {
            uid: Some("u".into()),
            ready: false,
            summary: "container etcd: ErrImagePull: manifest unknown".into(),
            netns: None,
        };
        let s = workload_status(
            Kind::Deployment,
            &want(),
            Some(&waiting),
            &Value::Null,
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(s["availableReplicas"], 0);
        assert_eq!(s["replicas"], 1);
        assert_eq!(s["conditions"][0]["status"], "False");
        assert_eq!(
            s["conditions"][0]["message"],
            "pod etcd-0: container etcd: ErrImagePull: manifest unknown"
        );
        let ready = pod::View {
            ready: true,
            ..waiting
        };
        let s = workload_status(
            Kind::Deployment,
            &want(),
            Some(&ready),
            &Value::Null,
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(s["availableReplicas"], 1);
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["observedGeneration"], 2);
    }

    #[test]
    fn a_stateful_set_counts_its_ready_pod() {
        let ready = pod::View {
            uid: Some("u".into()),
            ready: true,
            summary: String::new(),
            netns: None,
        };
        let s = workload_status(Kind::StatefulSet, &want(), Some(&ready), &Value::Null, "t");
        assert_eq!(s["readyReplicas"], 1);
        assert_eq!(s["currentRevision"], "etcd-h");
    }
}
