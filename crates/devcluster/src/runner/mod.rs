//! The runner: a small "kubelet" for our own binaries. It watches Deployments (through the
//! devcluster's API, with kube-rs, like any controller) and, for each whose every container image
//! names a configured binary, runs one process per container:
//!
//! ```text
//! Deployment ──watch──► plan (plan.rs: image → binary, argv, env, volumes, mount paths)
//!                         │ Secrets / ConfigMaps from watch caches
//!                         ▼
//!            <dir>/pods/<ns>/<deployment>-<template hash>/volumes/<volume>/…   (files written)
//!            <binary> <argv>   env: resolved + KUBECONFIG=<devcluster kubeconfig>
//!            stdout+stderr ──► <dir>/logs/<ns>/<deployment>/<container>.log   (kept across restarts)
//!                         │
//!                         ▼
//!            Deployment /status: observedGeneration, replicas, available…, conditions
//! ```
//!
//! Lifecycle: a changed pod template stops the old processes (SIGTERM, then SIGKILL after the
//! grace period) and starts new ones; a process that exits is restarted with exponential backoff
//! (1 s doubling to the maximum) and the Deployment reports it unavailable meanwhile; a
//! Deployment whose Secrets or ConfigMaps are missing waits, with the reason in its `Available`
//! condition, and starts when they appear; `replicas: 0` or deletion stops the processes. One
//! process per container whatever `spec.replicas` says (> 0), since our binaries bind fixed
//! ports. Deployments with other images are left alone: nothing runs them and their status is
//! not touched.

pub mod kubelet;
pub mod netns;
mod plan;
pub mod podman;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use plan::{ContainerPlan, PodPlan};
pub use plan::{Lookup, PodIdentity, VolumeContent, image_binary_name};

use crate::error::StartError;

/// What the runner runs and how.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Image name (last path component, without tag or digest) → executable to run for it.
    pub binaries: BTreeMap<String, PathBuf>,
    /// How long a process gets between SIGTERM and SIGKILL.
    pub termination_grace: Duration,
    /// Longest wait before restarting a process that exited.
    pub max_backoff: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            binaries: BTreeMap::new(),
            termination_grace: Duration::from_secs(10),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RunnerOptions {
    /// Runs `path` for images named `image_name` (`…/image_name:tag`).
    #[must_use]
    pub fn binary(mut self, image_name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.binaries.insert(image_name.into(), path.into());
        self
    }

    /// Runs `<dir>/<name>` for images named `name`, for each name (e.g. `target/debug` and
    /// `control-plane-operator`, `ignition-server`).
    #[must_use]
    pub fn from_dir(dir: &Path, names: &[&str]) -> Self {
        names
            .iter()
            .fold(Self::default(), |o, n| o.binary(*n, dir.join(n)))
    }
}

/// A running runner. Dropping it kills its processes; [`Runner::shutdown`] stops them gracefully.
#[derive(Debug)]
pub struct Runner {
    dir: PathBuf,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Runner {
    /// Starts watching Deployments through `client`; files go under `dir`.
    pub(crate) fn start(
        client: Client,
        kubeconfig: &Path,
        dir: &Path,
        options: RunnerOptions,
    ) -> Result<Self, StartError> {
        create_dirs(dir, &["pods", "logs"])?;
        let (stop, stop_rx) = watch::channel(false);
        let ctx = Ctx {
            client,
            kubeconfig: kubeconfig.to_path_buf(),
            dir: dir.to_path_buf(),
            options,
        };
        let task = tokio::spawn(run(ctx, stop_rx));
        Ok(Self {
            dir: dir.to_path_buf(),
            stop,
            task: Some(task),
        })
    }

    /// The log file of one container of a Deployment (stdout and stderr, every restart).
    pub fn log_path(&self, namespace: &str, deployment: &str, container: &str) -> PathBuf {
        self.dir
            .join("logs")
            .join(namespace)
            .join(deployment)
            .join(format!("{container}.log"))
    }

    /// Every container log of a Deployment, each under a header line (empty if none yet).
    pub fn logs(&self, namespace: &str, deployment: &str) -> String {
        let dir = self.dir.join("logs").join(namespace).join(deployment);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        let mut out = String::new();
        for f in files {
            let name = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(out, "----- {namespace}/{deployment} container {name} -----");
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()));
        }
        out
    }

    /// The logs of every Deployment the runner ran (for a test failure dump).
    pub fn dump_logs(&self) -> String {
        let mut out = String::new();
        let logs = self.dir.join("logs");
        let mut namespaces: Vec<PathBuf> = std::fs::read_dir(&logs)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        namespaces.sort();
        for ns in namespaces {
            let mut deployments: Vec<PathBuf> = std::fs::read_dir(&ns)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            deployments.sort();
            for d in deployments {
                let (Some(n), Some(dn)) = (ns.file_name(), d.file_name()) else {
                    continue;
                };
                out.push_str(&self.logs(&n.to_string_lossy(), &dn.to_string_lossy()));
            }
        }
        out
    }

    /// Stops every process (SIGTERM, then SIGKILL after the grace period) and the watch loop.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        // Aborting drops the children, which kills them (`kill_on_drop`).
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Creates `dir/<sub>` for each of `subs`.
fn create_dirs(dir: &Path, subs: &[&str]) -> Result<(), StartError> {
    for sub in subs {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|source| StartError::File {
            action: "create directory",
            path: p,
            source,
        })?;
    }
    Ok(())
}

struct Ctx {
    client: Client,
    kubeconfig: PathBuf,
    dir: PathBuf,
    options: RunnerOptions,
}

struct Caches {
    secrets: Store<Secret>,
    config_maps: Store<ConfigMap>,
}

impl Lookup for Caches {
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.secrets
            .get(&ObjectRef::new(name).within(namespace))
            .map(|s| (*s).clone())
    }

    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap> {
        self.config_maps
            .get(&ObjectRef::new(name).within(namespace))
            .map(|s| (*s).clone())
    }
}

/// One container process and its restart bookkeeping.
struct Proc {
    plan: ContainerPlan,
    child: Option<Child>,
    restarts: u32,
    next_start: Option<Instant>,
    last_exit: Option<String>,
}

/// The one "pod" of a Deployment.
struct Pod {
    hash: String,
    name: String,
    dir: PathBuf,
    waiting: Option<String>,
    procs: Vec<Proc>,
}

/// Collects the Deployment keys (namespace, name) we act on.
type Key = (String, String);

fn cache<K>(api: Api<K>, wake: Arc<Notify>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .for_each(move |_| {
            wake.notify_one();
            futures::future::ready(())
        });
    tokio::spawn(stream);
    reader
}

async fn run(ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let wake = Arc::new(Notify::new());
    let deployments = cache(Api::<Deployment>::all(ctx.client.clone()), Arc::clone(&wake));
    let caches = Caches {
        secrets: cache(Api::<Secret>::all(ctx.client.clone()), Arc::clone(&wake)),
        config_maps: cache(Api::<ConfigMap>::all(ctx.client.clone()), Arc::clone(&wake)),
    };
    let ready = async {
        let _ = deployments.wait_until_ready().await;
        let _ = caches.secrets.wait_until_ready().await;
        let _ = caches.config_maps.wait_until_ready().await;
    };
    tokio::select! {
        () = ready => {}
        _ = stop.changed() => return,
    }
    let mut pods: BTreeMap<Key, Pod> = BTreeMap::new();
    // Exits and backoff deadlines are noticed on this tick; changes wake the loop at once.
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            () = wake.notified() => {}
            _ = tick.tick() => {}
        }
        reconcile_all(&ctx, &deployments, &caches, &mut pods).await;
    }
    for (key, pod) in std::mem::take(&mut pods) {
        stop_pod(&ctx, &key, pod).await;
    }
}

async fn reconcile_all(
    ctx: &Ctx,
    deployments: &Store<Deployment>,
    caches: &Caches,
    pods: &mut BTreeMap<Key, Pod>,
) {
    let mut seen = Vec::new();
    for d in deployments.state() {
        let Some(template) = d.spec.as_ref().map(|s| &s.template) else {
            continue;
        };
        if !plan::is_ours(template, &ctx.options.binaries) {
            continue;
        }
        let key = (d.namespace().unwrap_or_default(), d.name_any());
        seen.push(key.clone());
        reconcile(ctx, &d, caches, pods, &key).await;
    }
    let gone: Vec<Key> = pods.keys().filter(|k| !seen.contains(k)).cloned().collect();
    for key in gone {
        if let Some(pod) = pods.remove(&key) {
            info!(namespace = %key.0, deployment = %key.1, "deployment gone or no longer ours; stopping");
            stop_pod(ctx, &key, pod).await;
        }
    }
}

async fn reconcile(ctx: &Ctx, d: &Deployment, caches: &Caches, pods: &mut BTreeMap<Key, Pod>, key: &Key) {
    let Some(spec) = &d.spec else { return };
    let hash = plan::template_hash(&spec.template);
    let replicas = spec.replicas.unwrap_or(1);
    let changed = pods.get(key).is_some_and(|p| p.hash != hash);
    if (changed || replicas == 0)
        && let Some(old) = pods.remove(key)
    {
        info!(namespace = %key.0, deployment = %key.1, "pod template changed or scaled to zero; stopping the old processes");
        stop_pod(ctx, key, old).await;
    }
    if replicas > 0 {
        let pod = pods.entry(key.clone()).or_insert_with(|| Pod {
            name: format!("{}-{hash}", key.1),
            dir: ctx
                .dir
                .join("pods")
                .join(&key.0)
                .join(format!("{}-{hash}", key.1)),
            hash: hash.clone(),
            waiting: Some("not started yet".into()),
            procs: Vec::new(),
        });
        if pod.waiting.is_some() {
            start_pod(ctx, d, caches, key, pod);
        }
        supervise(ctx, key, pod);
    }
    write_status(ctx, d, key, pods.get(key)).await;
}

fn start_pod(ctx: &Ctx, d: &Deployment, caches: &Caches, key: &Key, pod: &mut Pod) {
    let Some(template) = d.spec.as_ref().map(|s| &s.template) else {
        return;
    };
    let uid = d.uid().unwrap_or_default();
    let identity = PodIdentity {
        namespace: &key.0,
        name: &pod.name,
        uid: &uid,
    };
    let volumes_dir = pod.dir.join("volumes");
    let planned: Result<PodPlan, String> =
        plan::plan(template, &identity, &ctx.options.binaries, caches, &|v| {
            volumes_dir.join(v)
        });
    let planned = match planned.and_then(|p| materialise(&volumes_dir, &p.volumes, 0o700).map(|()| p)) {
        Ok(p) => p,
        Err(why) => {
            if pod.waiting.as_deref() != Some(why.as_str()) {
                info!(namespace = %key.0, deployment = %key.1, reason = %why, "waiting to start");
            }
            pod.waiting = Some(why);
            return;
        }
    };
    pod.waiting = None;
    pod.procs = planned
        .containers
        .into_iter()
        .map(|plan| Proc {
            plan,
            child: None,
            restarts: 0,
            next_start: Some(Instant::now()),
            last_exit: None,
        })
        .collect();
}

/// Writes every volume's files under `volumes_dir/<volume>` (directories with `dir_mode`: the
/// process runtime's are owner-only, a container's user is not the runner's; file modes as
/// asked).
pub fn materialise(
    volumes_dir: &Path,
    volumes: &BTreeMap<String, VolumeContent>,
    dir_mode: u32,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let io = |path: &Path, e: std::io::Error| format!("cannot write {}: {e}", path.display());
    for (name, content) in volumes {
        let VolumeContent::Files(files) = content else {
            continue;
        };
        let dir = volumes_dir.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(dir_mode)).map_err(|e| io(&dir, e))?;
        for (rel, bytes, mode) in files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))
                .map_err(|e| io(&path, e))?;
        }
    }
    Ok(())
}

/// Starts processes that are due, notices exits, schedules restarts.
fn supervise(ctx: &Ctx, key: &Key, pod: &mut Pod) {
    let now = Instant::now();
    for p in &mut pod.procs {
        if let Some(child) = &mut p.child {
            match child.try_wait() {
                Ok(None) => continue,
                Ok(Some(status)) => {
                    let delay = backoff(p.restarts, ctx.options.max_backoff);
                    warn!(namespace = %key.0, deployment = %key.1, container = %p.plan.name, %status, "process exited; restarting after {delay:?}");
                    note_exit(ctx, key, &p.plan.name, status);
                    p.last_exit = Some(format!("container {} exited ({status})", p.plan.name));
                    p.child = None;
                    p.restarts += 1;
                    p.next_start = Some(now + delay);
                }
                Err(e) => {
                    warn!(container = %p.plan.name, error = %e, "cannot poll process");
                    continue;
                }
            }
        }
        if p.next_start.is_some_and(|t| t <= now) {
            p.next_start = None;
            match spawn(ctx, key, &pod.dir, &p.plan) {
                Ok(child) => p.child = Some(child),
                Err(e) => {
                    let delay = backoff(p.restarts, ctx.options.max_backoff);
                    p.last_exit = Some(format!(
                        "container {}: cannot start {}: {e}",
                        p.plan.name,
                        p.plan.program.display()
                    ));
                    p.restarts += 1;
                    p.next_start = Some(now + delay);
                }
            }
        }
    }
}

fn backoff(restarts: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << restarts.min(16)).min(max)
}

fn log_file(ctx: &Ctx, key: &Key, container: &str) -> std::io::Result<std::fs::File> {
    let dir = ctx.dir.join("logs").join(&key.0).join(&key.1);
    std::fs::create_dir_all(&dir)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{container}.log")))
}

fn note_exit(ctx: &Ctx, key: &Key, container: &str, status: ExitStatus) {
    use std::io::Write as _;
    if let Ok(mut f) = log_file(ctx, key, container) {
        let _ = writeln!(
            f,
            "=== devcluster runner: process exited ({status}) at {} ===",
            crate::meta::now()
        );
    }
}

fn spawn(ctx: &Ctx, key: &Key, pod_dir: &Path, c: &ContainerPlan) -> std::io::Result<Child> {
    use std::io::Write as _;
    let mut log = log_file(ctx, key, &c.name)?;
    writeln!(
        log,
        "=== devcluster runner: starting {} (pod {}) at {} ===",
        c.program.display(),
        pod_dir
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        crate::meta::now()
    )?;
    let mut cmd = Command::new(&c.program);
    cmd.args(&c.args).env_clear();
    for inherited in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(inherited) {
            cmd.env(inherited, v);
        }
    }
    // The devcluster's kubeconfig, unless the container names its own (as in a real pod, where
    // KUBECONFIG set in the spec wins over in-cluster configuration).
    cmd.env("KUBECONFIG", &ctx.kubeconfig);
    cmd.envs(c.env.iter().map(|(k, v)| (k, v)));
    cmd.current_dir(c.working_dir.as_deref().unwrap_or(pod_dir))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    std::fs::create_dir_all(pod_dir)?;
    let child = cmd.spawn()?;
    debug!(namespace = %key.0, deployment = %key.1, container = %c.name, pid = child.id(), "started");
    Ok(child)
}

/// SIGTERM, wait up to the grace period, then SIGKILL; then remove the pod directory.
async fn stop_pod(ctx: &Ctx, key: &Key, pod: Pod) {
    for mut p in pod.procs {
        let Some(mut child) = p.child.take() else { continue };
        if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        let status =
            if let Ok(Ok(status)) = tokio::time::timeout(ctx.options.termination_grace, child.wait()).await {
                Some(status)
            } else {
                let _ = child.kill().await;
                child.wait().await.ok()
            };
        if let Some(status) = status {
            note_exit(ctx, key, &p.plan.name, status);
        }
    }
    let _ = std::fs::remove_dir_all(&pod.dir);
}

/// The Deployment status the runner's view implies.
fn desired_status(d: &Deployment, pod: Option<&Pod>, now: &str) -> Value {
    let generation = d.metadata.generation.unwrap_or(0);
    let running = pod.is_some_and(|p| {
        p.waiting.is_none() && !p.procs.is_empty() && p.procs.iter().all(|c| c.child.is_some())
    });
    let exists = pod.is_some_and(|p| p.waiting.is_none());
    let (available, reason, message) = match pod {
        None => ("True", "MinimumReplicasAvailable", "scaled to zero".to_owned()),
        Some(p) => match (&p.waiting, running) {
            (Some(why), _) => (
                "False",
                "MinimumReplicasUnavailable",
                format!("waiting to start: {why}"),
            ),
            (None, true) => (
                "True",
                "MinimumReplicasAvailable",
                "the devcluster runner is running every container".to_owned(),
            ),
            (None, false) => {
                let why: Vec<&str> = p.procs.iter().filter_map(|c| c.last_exit.as_deref()).collect();
                (
                    "False",
                    "MinimumReplicasUnavailable",
                    format!("restarting: {}", why.join("; ")),
                )
            }
        },
    };
    let old = d.status.as_ref().and_then(|s| s.conditions.as_ref());
    let transition = |kind: &str, status: &str| {
        old.and_then(|cs| cs.iter().find(|c| c.type_ == kind && c.status == status))
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or_else(|| json!(now))
    };
    let count = |b: bool| i32::from(b);
    json!({
        "observedGeneration": generation,
        "replicas": count(exists),
        "updatedReplicas": count(exists),
        "readyReplicas": count(running),
        "availableReplicas": count(running),
        "unavailableReplicas": count(pod.is_some() && !running),
        "conditions": [
            {"type": "Available", "status": available, "reason": reason, "message": message,
             "lastUpdateTime": transition("Available", available), "lastTransitionTime": transition("Available", available)},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": format!("pod {} runs the current template", pod.map_or("-", |p| p.name.as_str())),
             "lastUpdateTime": transition("Progressing", "True"), "lastTransitionTime": transition("Progressing", "True")},
        ],
    })
}

async fn write_status(ctx: &Ctx, d: &Deployment, key: &Key, pod: Option<&Pod>) {
    let now = crate::meta::now();
    let desired = desired_status(d, pod, &now);
    let current = d
        .status
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null);
    if same_status(&current, &desired) {
        return;
    }
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &key.0);
    if let Err(e) = api
        .patch_status(
            &key.1,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": desired})),
        )
        .await
    {
        debug!(namespace = %key.0, deployment = %key.1, error = %e, "cannot write status; retrying on the next pass");
    }
}

/// Equal except for condition timestamps (which the API server rounds to seconds).
fn same_status(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(Value::Array(cs)) = v.get_mut("conditions") {
            for c in cs {
                if let Some(m) = c.as_object_mut() {
                    m.remove("lastUpdateTime");
                    m.remove("lastTransitionTime");
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_the_maximum() {
        let max = Duration::from_secs(30);
        let got: Vec<u64> = (0..7).map(|r| backoff(r, max).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn status_of_a_waiting_pod_is_unavailable_with_the_reason() {
        let d: Deployment =
            serde_json::from_value(json!({"metadata": {"name": "d", "generation": 3}})).unwrap();
        let pod = Pod {
            hash: "h".into(),
            name: "d-h".into(),
            dir: PathBuf::from("/nonexistent"),
            waiting: Some("volume v: secret ns/s not found".into()),
            procs: Vec::new(),
        };
        let s = desired_status(&d, Some(&pod), "2026-01-01T00:00:00Z");
        assert_eq!(s["observedGeneration"], 3);
        assert_eq!(s["availableReplicas"], 0);
        assert_eq!(s["conditions"][0]["status"], "False");
        assert_eq!(
            s["conditions"][0]["message"],
            "waiting to start: volume v: secret ns/s not found"
        );
    }

    #[test]
    fn runner_options_from_dir_map_names_to_paths() {
        let o = RunnerOptions::from_dir(
            Path::new("target/debug"),
            &["control-plane-operator", "ignition-server"],
        );
        assert_eq!(
            o.binaries["ignition-server"],
            PathBuf::from("target/debug/ignition-server")
        );
    }
}
