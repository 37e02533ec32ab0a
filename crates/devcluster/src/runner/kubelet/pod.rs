//! One pod's life: its Pod object, network namespace, pulls, init containers, containers,
//! restarts, probes, status and events, until it is told to stop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod, PodTemplateSpec, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::process::Child;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::probe::{self, Check};
use super::status::{PodStatus, Which};
use super::{Ctx, Node};
use crate::runner::netns::PodNetwork;
use crate::runner::podman::{self, ContainerRun, PodExtras, PodRun};
use crate::runner::{Lookup as _, PodIdentity, materialise};

/// Where the service-account token, CA and namespace are mounted.
const SERVICE_ACCOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What the kubelet was asked to run.
pub(in crate::runner) struct Input {
    pub namespace: String,
    pub name: String,
    pub hash: String,
    pub stateful: bool,
    pub template: PodTemplateSpec,
    pub owner: OwnerReference,
}

/// What the workload's status is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(in crate::runner) struct View {
    /// The Pod object's uid, once created.
    pub uid: Option<String>,
    pub ready: bool,
    /// What keeps it from being ready.
    pub summary: String,
    /// Its network namespace, once created (where node ports lead).
    pub netns: Option<PathBuf>,
}

struct Task {
    ctx: Arc<Ctx>,
    input: Input,
    pods: Api<Pod>,
    events: Api<Event>,
    uid: String,
    status: PodStatus,
    written: Value,
    view: Arc<Mutex<View>>,
    /// (reason, message) → (event name, count): repeats raise the count, as the kubelet's
    /// recorder aggregates them.
    recorded: BTreeMap<(String, String), (String, i32)>,
    dir: PathBuf,
    logs: PathBuf,
    stop: watch::Receiver<bool>,
    /// Image → pull policy (`Always`, `IfNotPresent`, `Never`), as the API defaults it.
    policies: BTreeMap<String, String>,
}

/// A running container.
struct Live {
    /// The container's name in the spec, and podman's name for it.
    name: String,
    container: String,
    child: Option<Child>,
    next_start: Option<Instant>,
    /// Started before: a restart makes sure of the image first, as a kubelet does at every
    /// container start (the node may have lost it).
    started_once: bool,
    pull_failures: u32,
    /// When an ErrImagePull turns into ImagePullBackOff, and its message.
    pull_backoff: Option<(Instant, String)>,
    readiness: Option<(Check, Instant, u32, u32)>,
    liveness: Option<(Check, Instant, u32)>,
}

fn backoff(attempt: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << attempt.min(16)).min(max)
}

/// Runs the pod until `stop` says so, then stops its containers and removes its namespace.
pub(in crate::runner) async fn run(
    ctx: Arc<Ctx>,
    input: Input,
    view: Arc<Mutex<View>>,
    stop: watch::Receiver<bool>,
) {
    let now = crate::meta::now();
    let dir = ctx.dir.join("pods").join(&input.namespace).join(&input.name);
    let logs = ctx.dir.join("logs").join(&input.namespace).join(&input.name);
    let mut task = Task {
        pods: Api::namespaced(ctx.client.clone(), &input.namespace),
        events: Api::namespaced(ctx.client.clone(), &input.namespace),
        status: PodStatus::new(&input.template, &now),
        ctx,
        input,
        uid: String::new(),
        written: Value::Null,
        view,
        recorded: BTreeMap::new(),
        dir,
        logs,
        stop,
        policies: BTreeMap::new(),
    };
    if !task.create_object().await {
        return;
    }
    let msg = format!(
        "Successfully assigned {}/{} to devcluster",
        task.input.namespace, task.input.name
    );
    task.event_from("default-scheduler", "Normal", "Scheduled", &msg, None)
        .await;
    task.write().await;
    let mut live = Vec::new();
    let mut network = None;
    task.run(&mut network, &mut live).await;
    task.stop_all(&mut live).await;
    drop(network);
    let _ = std::fs::remove_dir_all(&task.dir);
}

impl Task {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps `d`; false when told to stop meanwhile.
    async fn sleep(&mut self, d: Duration) -> bool {
        if self.stopped() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => !self.stopped(),
            _ = self.stop.changed() => false,
        }
    }

    /// Creates the Pod object (replacing a stale one of the name); false when stopped first.
    async fn create_object(&mut self) -> bool {
        let spec = self.input.template.spec.clone().unwrap_or_default();
        let template_meta = self.input.template.metadata.clone().unwrap_or_default();
        let mut labels = template_meta.labels.unwrap_or_default();
        if self.input.stateful {
            labels.insert(
                "controller-revision-hash".into(),
                format!("{}-{}", self.input.owner.name, self.input.hash),
            );
            labels.insert(
                "statefulset.kubernetes.io/pod-name".into(),
                self.input.name.clone(),
            );
        } else {
            labels.insert("pod-template-hash".into(), self.input.hash.clone());
        }
        let mut spec = serde_json::to_value(&spec).unwrap_or_else(|_| json!({}));
        spec["nodeName"] = json!("devcluster");
        let body = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.input.name,
                "namespace": self.input.namespace,
                "labels": labels,
                "annotations": template_meta.annotations.unwrap_or_default(),
                "ownerReferences": [self.input.owner],
            },
            "spec": spec,
        });
        let Ok(pod) = serde_json::from_value::<Pod>(body) else {
            warn!(pod = %self.input.name, "the pod template does not make a Pod");
            return false;
        };
        let mut attempt = 0;
        loop {
            match self.pods.create(&PostParams::default(), &pod).await {
                Ok(created) => {
                    self.uid = created.metadata.uid.unwrap_or_default();
                    if let Ok(mut v) = self.view.lock() {
                        v.uid = Some(self.uid.clone());
                    }
                    return true;
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    let _ = self.pods.delete(&self.input.name, &DeleteParams::default()).await;
                }
                Err(e) => {
                    debug!(pod = %self.input.name, error = %e, "cannot create the Pod object; retrying");
                }
            }
            attempt += 1;
            if !self
                .sleep(backoff(attempt.min(3), self.ctx.options.max_backoff))
                .await
            {
                return false;
            }
        }
    }

    /// Writes the status when it changed, and the view the workload's status comes from.
    async fn write(&mut self) {
        let status = self.status.render(&crate::meta::now());
        if let Ok(mut v) = self.view.lock() {
            v.ready = self.status.ready();
            v.summary = self.status.summary();
        }
        if status == self.written {
            return;
        }
        match self
            .pods
            .patch_status(
                &self.input.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
        {
            Ok(_) => self.written = status,
            Err(e) => {
                debug!(pod = %self.input.name, error = %e, "cannot write the pod status; retrying on the next change");
            }
        }
    }

    async fn event(&mut self, kind: &str, reason: &str, message: &str, container: Option<&str>) {
        self.event_from("kubelet", kind, reason, message, container).await;
    }

    /// Records an Event on the Pod (`kubectl describe pod` lists them); repeats count up.
    async fn event_from(
        &mut self,
        component: &str,
        kind: &str,
        reason: &str,
        message: &str,
        container: Option<&str>,
    ) {
        let now = crate::meta::now();
        let key = (reason.to_owned(), message.to_owned());
        if let Some((name, count)) = self.recorded.get_mut(&key) {
            *count += 1;
            let patch = json!({"count": *count, "lastTimestamp": now});
            let name = name.clone();
            let _ = self
                .events
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await;
            return;
        }
        let name = format!(
            "{}.{}",
            self.input.name,
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let mut involved = json!({"apiVersion": "v1", "kind": "Pod", "namespace": self.input.namespace,
                                  "name": self.input.name, "uid": self.uid});
        if let Some(c) = container {
            involved["fieldPath"] = json!(format!("spec.containers{{{c}}}"));
        }
        let body = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": self.input.namespace},
            "involvedObject": involved,
            "reason": reason, "message": message, "type": kind,
            "source": {"component": component, "host": "devcluster"},
            "reportingComponent": component, "reportingInstance": "devcluster",
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        let Ok(event) = serde_json::from_value::<Event>(body) else {
            return;
        };
        match self.events.create(&PostParams::default(), &event).await {
            Ok(_) => {
                self.recorded.insert(key, (name, 1));
            }
            Err(e) => debug!(pod = %self.input.name, error = %e, "cannot record an event"),
        }
    }

    /// From the network namespace to running containers, then supervising them until stopped.
    async fn run(&mut self, network: &mut Option<Arc<PodNetwork>>, live: &mut Vec<Live>) {
        let Some(net) = self.network().await else { return };
        if let Ok(mut v) = self.view.lock() {
            v.netns = Some(net.path());
        }
        *network = Some(Arc::clone(&net));
        let Some(run) = self.plan(&net).await else { return };
        if !self.pull_images(&run).await || !self.check_users(&run).await {
            return;
        }
        for (i, init) in run.init.iter().enumerate() {
            if !self.run_init(i, init).await {
                return;
            }
        }
        self.status.initialized = true;
        let spec = self.input.template.spec.clone().unwrap_or_default();
        for c in &spec.containers {
            let probe = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
                p.as_ref().and_then(|p| probe::check(c, p).ok())
            };
            let started = Instant::now();
            let planned = run.containers.iter().find(|r| r.name == c.name);
            live.push(Live {
                name: c.name.clone(),
                container: planned.map(|r| r.container.clone()).unwrap_or_default(),
                child: None,
                next_start: Some(started),
                started_once: false,
                pull_failures: 0,
                pull_backoff: None,
                readiness: probe(&c.readiness_probe).map(|p| {
                    let due = started + p.initial_delay;
                    (p, due, 0, 0)
                }),
                liveness: probe(&c.liveness_probe).map(|p| {
                    let due = started + p.initial_delay;
                    (p, due, 0)
                }),
            });
        }
        self.supervise(&net, &run, live).await;
    }

    async fn network(&mut self) -> Option<Arc<PodNetwork>> {
        use sha2::Digest as _;
        // Unique per kubelet too (its directory): two devclusters on one machine (tests in
        // parallel) run pods of the same names.
        let digest = sha2::Sha256::digest(format!(
            "{}\n{}/{}",
            self.ctx.dir.display(),
            self.input.namespace,
            self.input.name
        ));
        let name = digest[..6].iter().fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        });
        let mut ports = vec![self.ctx.api.port];
        ports.extend(&self.ctx.options.node_ports);
        let mut attempt = 0;
        loop {
            match PodNetwork::create(&format!("dc-{name}"), &ports) {
                Ok(n) => return Some(Arc::new(n)),
                Err(e) => {
                    let msg = format!("cannot create the pod's network namespace: {e}");
                    self.status.all_waiting("ContainerCreating", &msg);
                    self.event("Warning", "FailedCreatePodSandBox", &msg, None).await;
                    self.write().await;
                }
            }
            attempt += 1;
            if !self.sleep(backoff(attempt, self.ctx.options.max_backoff)).await {
                return None;
            }
        }
    }

    /// The environment every container gets before its own: `KUBERNETES_SERVICE_*` (always)
    /// and the service links of the namespace's Services (unless `enableServiceLinks: false`).
    fn kubelet_env(&self) -> Vec<(String, String)> {
        let port = self.ctx.api.port.to_string();
        let mut env = links(
            "KUBERNETES",
            "127.0.0.1",
            &[(Some("https".into()), port.clone(), "TCP".into())],
        );
        env.push(("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into()));
        env.push(("KUBERNETES_SERVICE_PORT".into(), port));
        let service_links = self
            .input
            .template
            .spec
            .as_ref()
            .and_then(|s| s.enable_service_links)
            .unwrap_or(true);
        if service_links {
            let mut services: Vec<Arc<Service>> = self
                .ctx
                .services
                .state()
                .into_iter()
                .filter(|s| s.metadata.namespace.as_deref() == Some(self.input.namespace.as_str()))
                .collect();
            services.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            for s in services {
                env.extend(service_links_of(&s));
            }
        }
        env
    }

    /// Writes the service-account volume: the API server's CA, the token, the namespace.
    fn service_account(&self) -> Result<Option<PathBuf>, String> {
        use std::os::unix::fs::PermissionsExt as _;
        let spec = self.input.template.spec.clone().unwrap_or_default();
        if spec.automount_service_account_token == Some(false) {
            return Ok(None);
        }
        let dir = self.dir.join("serviceaccount");
        let io = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).map_err(|e| io(&dir, e))?;
        let mut files = vec![("namespace", self.input.namespace.clone())];
        if let Some(ca) = &self.ctx.api.ca_pem {
            files.push(("ca.crt", ca.clone()));
        }
        if let Some(token) = &self.ctx.api.token {
            files.push(("token", token.clone()));
        }
        for (name, content) in files {
            let p = dir.join(name);
            std::fs::write(&p, content).map_err(|e| io(&p, e))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).map_err(|e| io(&p, e))?;
        }
        Ok(Some(dir))
    }

    /// The containers as podman runs them; waits (ContainerCreating, FailedMount) for missing
    /// Secrets and ConfigMaps.
    async fn plan(&mut self, net: &PodNetwork) -> Option<PodRun> {
        let volumes_dir = self.dir.join("volumes");
        let mut last = String::new();
        loop {
            let planned = self.service_account().and_then(|sa| {
                let identity = PodIdentity {
                    namespace: &self.input.namespace,
                    name: &self.input.name,
                    uid: &self.uid,
                };
                let hostname: String = self.input.name.chars().take(63).collect();
                let extras = PodExtras {
                    env: self.kubelet_env(),
                    mounts: sa
                        .map(|d| (d, SERVICE_ACCOUNT_PATH.to_owned()))
                        .into_iter()
                        .collect(),
                    options: vec![format!("--hostname={}", hostname.trim_end_matches(['-', '.']))],
                    name_prefix: Some(format!("k8s_{}_{}_", self.input.namespace, self.input.name)),
                };
                let run = podman::plan_with(
                    &self.input.template,
                    &identity,
                    &self.ctx.caches,
                    &|v| volumes_dir.join(v),
                    &net.podman_network(),
                    &extras,
                )?;
                // emptyDirs are writable by any user, as a kubelet makes them.
                materialise(&volumes_dir, &run.volumes, 0o777)?;
                Ok(run)
            });
            match planned {
                Ok(run) => return Some(run),
                Err(why) => {
                    if why != last {
                        info!(namespace = %self.input.namespace, pod = %self.input.name, reason = %why, "waiting to start");
                        self.status.all_waiting("ContainerCreating", &why);
                        self.event("Warning", "FailedMount", &why, None).await;
                        self.write().await;
                        last = why;
                    }
                }
            }
            if !self.sleep(Duration::from_secs(1)).await {
                return None;
            }
        }
    }

    /// The auth file for this pod's pulls: the node's pull secret under the pod's
    /// `imagePullSecrets` (theirs win for a registry both name).
    fn auth_file(&self) -> Option<PathBuf> {
        let mut auths = serde_json::Map::new();
        if let Some(node) = &self.ctx.options.node.auth_file
            && let Ok(bytes) = std::fs::read(node)
            && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            && let Some(a) = v["auths"].as_object()
        {
            auths.extend(a.clone());
        }
        let spec = self.input.template.spec.clone().unwrap_or_default();
        for r in spec.image_pull_secrets.iter().flatten() {
            let secret = self.ctx.caches.secret(&self.input.namespace, &r.name);
            let data = secret
                .and_then(|s| s.data)
                .and_then(|d| d.get(".dockerconfigjson").cloned());
            if let Some(v) = data.and_then(|b| serde_json::from_slice::<Value>(&b.0).ok())
                && let Some(a) = v["auths"].as_object()
            {
                auths.extend(a.clone());
            }
        }
        if auths.is_empty() {
            return None;
        }
        let path = self.dir.join("auth.json");
        let written = std::fs::create_dir_all(&self.dir).and_then(|()| {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)?;
            f.write_all(json!({"auths": auths}).to_string().as_bytes())
        });
        written.ok().map(|()| path)
    }

    /// Pulls every image by its name in the spec (unless present and not `Always`), with
    /// ErrImagePull/ImagePullBackOff and backoff on failure; false when stopped.
    async fn pull_images(&mut self, run: &PodRun) -> bool {
        let spec = self.input.template.spec.clone().unwrap_or_default();
        self.policies = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .map(|c| {
                let image = c.image.clone().unwrap_or_default();
                let latest = !image.contains('@') && (image.ends_with(":latest") || !last_has_tag(&image));
                let default = if latest { "Always" } else { "IfNotPresent" };
                (
                    image,
                    c.image_pull_policy.clone().unwrap_or_else(|| default.to_owned()),
                )
            })
            .collect();
        let mut images: Vec<&str> = Vec::new();
        for c in run.init.iter().chain(&run.containers) {
            if !images.contains(&c.image.as_str()) {
                images.push(&c.image);
            }
        }
        for image in images {
            let mut attempt = 0;
            while let Err((reason, why)) = self.ensure_image(image).await {
                self.status.waiting_for_image(image, reason, &why);
                self.write().await;
                let delay = backoff(attempt + 1, self.ctx.options.max_backoff);
                attempt += 1;
                if !self.sleep(Duration::from_secs(1)).await {
                    return false;
                }
                let msg = format!("Back-off pulling image \"{image}\": {why}");
                self.status.waiting_for_image(image, "ImagePullBackOff", &msg);
                self.event(
                    "Normal",
                    "BackOff",
                    &format!("Back-off pulling image \"{image}\""),
                    None,
                )
                .await;
                self.write().await;
                if !self.sleep(delay.saturating_sub(Duration::from_secs(1))).await {
                    return false;
                }
            }
        }
        true
    }

    /// One attempt to have `image` on the node, as its pull policy says (events included);
    /// `Err((reason, message))` when it cannot be had.
    async fn ensure_image(&mut self, image: &str) -> Result<(), (&'static str, String)> {
        let policy = self
            .policies
            .get(image)
            .map_or("IfNotPresent", String::as_str)
            .to_owned();
        if policy != "Always"
            && let Some(id) = image_id(&self.ctx.options.node, image).await
        {
            let msg = format!("Container image \"{image}\" already present on machine");
            self.event("Normal", "Pulled", &msg, None).await;
            self.set_image_id(image, &id);
            return Ok(());
        }
        if policy == "Never" {
            let msg = format!("Container image \"{image}\" is not present with pull policy of Never");
            self.event("Warning", "ErrImageNeverPull", &msg, None).await;
            return Err(("ErrImageNeverPull", msg));
        }
        self.event("Normal", "Pulling", &format!("Pulling image \"{image}\""), None)
            .await;
        let began = Instant::now();
        // Read at every pull, as CRI-O reads the node's pull secret: an added registry counts.
        let auth = self.auth_file();
        match pull(&self.ctx.options.node, image, auth.as_deref()).await {
            Ok(id) => {
                let msg = format!(
                    "Successfully pulled image \"{image}\" in {:.3}s",
                    began.elapsed().as_secs_f64()
                );
                info!(namespace = %self.input.namespace, pod = %self.input.name, %image, "pulled");
                self.event("Normal", "Pulled", &msg, None).await;
                self.set_image_id(image, &id);
                Ok(())
            }
            Err(why) => {
                warn!(namespace = %self.input.namespace, pod = %self.input.name, %image, error = %why, "pull failed");
                let msg = format!("Failed to pull image \"{image}\": {why}");
                self.event("Warning", "Failed", &msg, None).await;
                // The status carries the runtime's own words, as a kubelet's does.
                Err(("ErrImagePull", why))
            }
        }
    }

    fn set_image_id(&mut self, image: &str, id: &str) {
        for c in self
            .status
            .init
            .iter_mut()
            .chain(self.status.containers.iter_mut())
        {
            if c.image == image {
                c.image_id = Some(format!("sha256:{}", id.trim_start_matches("sha256:")));
            }
        }
    }

    /// `runAsNonRoot` against each image's user (podman has no such check); a violation waits
    /// with CreateContainerConfigError until the pod is stopped.
    async fn check_users(&mut self, run: &PodRun) -> bool {
        let mut violations = Vec::new();
        for (i, c) in run
            .init
            .iter()
            .map(|c| (true, c))
            .chain(run.containers.iter().map(|c| (false, c)))
            .enumerate()
        {
            let (init, c) = c;
            if !c.run_as_non_root || c.args.iter().any(|a| a.starts_with("--user=")) {
                continue;
            }
            let mut cmd = self.ctx.options.node.async_command();
            cmd.args(["image", "inspect", "--format={{.Config.User}}", &c.image]);
            let user = cmd
                .output()
                .await
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            let uid = user.split(':').next().unwrap_or_default();
            if uid.is_empty() || uid == "0" || uid == "root" {
                let index = if init { i } else { i - run.init.len() };
                violations.push(((init, index), c.name.clone()));
            }
        }
        if violations.is_empty() {
            return true;
        }
        for (which, name) in violations {
            let msg = format!(
                "container has runAsNonRoot and image will run as root (pod: \"{}_{}({})\", container: {name})",
                self.input.name, self.input.namespace, self.uid
            );
            self.status.set_waiting(which, "CreateContainerConfigError", &msg);
            self.event("Warning", "Failed", &format!("Error: {msg}"), Some(&name))
                .await;
        }
        self.write().await;
        while self.sleep(self.ctx.options.max_backoff).await {}
        false
    }

    fn log_path(&self, container: &str, previous: bool) -> PathBuf {
        let suffix = if previous { ".previous.log" } else { ".log" };
        self.logs.join(format!("{container}{suffix}"))
    }

    /// Starts `podman run` attached, output to the container's log (the last run's kept as
    /// `.previous.log`).
    fn spawn(&self, c: &ContainerRun) -> std::io::Result<Child> {
        std::fs::create_dir_all(&self.logs)?;
        let current = self.log_path(&c.name, false);
        if current.exists() {
            std::fs::rename(&current, self.log_path(&c.name, true))?;
        }
        let log = std::fs::File::create(&current)?;
        let node = &self.ctx.options.node;
        let _ = node
            .command()
            .args(["rm", "--force", "--time=0", &c.container])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let mut cmd = node.async_command();
        cmd.arg("run")
            .arg("--rm")
            .args(&c.args)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        cmd.spawn()
    }

    /// Runs init container `i` to completion, restarting it with backoff while it fails.
    async fn run_init(&mut self, i: usize, c: &ContainerRun) -> bool {
        let which = (true, i);
        let mut attempt = 0;
        loop {
            let outcome = match self.spawn(c) {
                Ok(mut child) => {
                    self.started(which, &c.name).await;
                    self.write().await;
                    let status = tokio::select! {
                        s = child.wait() => s.ok(),
                        _ = self.stop.changed() => {
                            stop_container(&self.ctx.options.node, &c.container, self.ctx.options.termination_grace).await;
                            let _ = child.wait().await;
                            return false;
                        }
                    };
                    exit_code(status)
                }
                Err(e) => {
                    let msg = format!("cannot start podman: {e}");
                    self.event("Warning", "Failed", &msg, Some(&c.name)).await;
                    -1
                }
            };
            self.status.set_terminated(which, outcome, &crate::meta::now());
            if outcome == 0 {
                self.write().await;
                return true;
            }
            if let Some(s) = self.status.get_mut(which) {
                s.restarts += 1;
            }
            let delay = backoff(attempt, self.ctx.options.max_backoff);
            attempt += 1;
            self.crash_loop(which, &c.name, delay).await;
            if !self.sleep(delay).await {
                return false;
            }
        }
    }

    /// A container started: its events and running state.
    async fn started(&mut self, which: Which, name: &str) {
        let created = format!("Created container {name}");
        self.event("Normal", "Created", &created, Some(name)).await;
        let started = format!("Started container {name}");
        self.event("Normal", "Started", &started, Some(name)).await;
        self.status.set_running(which, &crate::meta::now());
    }

    async fn crash_loop(&mut self, which: Which, name: &str, delay: Duration) {
        let msg = format!(
            "back-off {}s restarting failed container={name} pod={}_{}({})",
            delay.as_secs(),
            self.input.name,
            self.input.namespace,
            self.uid
        );
        self.status.set_waiting(which, "CrashLoopBackOff", &msg);
        let event = format!(
            "Back-off restarting failed container {name} in pod {}_{}({})",
            self.input.name, self.input.namespace, self.uid
        );
        self.event("Warning", "BackOff", &event, Some(name)).await;
        self.write().await;
    }

    /// Starts the containers, restarts those that exit, runs their probes; until stopped.
    async fn supervise(&mut self, net: &Arc<PodNetwork>, run: &PodRun, live: &mut [Live]) {
        loop {
            let now = Instant::now();
            for (i, (c, l)) in run.containers.iter().zip(live.iter_mut()).enumerate() {
                let which = (false, i);
                if let Some(child) = &mut l.child
                    && let Ok(Some(status)) = child.try_wait()
                {
                    l.child = None;
                    let code = exit_code(Some(status));
                    info!(namespace = %self.input.namespace, pod = %self.input.name, container = %c.name, code, "container exited");
                    self.status.set_terminated(which, code, &crate::meta::now());
                    let restarts = self.status.get_mut(which).map_or(0, |s| {
                        s.restarts += 1;
                        s.restarts
                    });
                    let delay = backoff(
                        u32::try_from(restarts - 1).unwrap_or(0),
                        self.ctx.options.max_backoff,
                    );
                    self.crash_loop(which, &c.name, delay).await;
                    l.next_start = Some(now + delay);
                }
                if let Some((at, msg)) = &l.pull_backoff
                    && *at <= now
                {
                    self.status.set_waiting(which, "ImagePullBackOff", msg);
                    l.pull_backoff = None;
                }
                if l.child.is_none() && l.next_start.is_some_and(|t| t <= now) {
                    l.next_start = None;
                    if l.started_once
                        && let Err((reason, why)) = self.ensure_image(&c.image).await
                    {
                        self.status.set_waiting(which, reason, &why);
                        let delay = backoff(l.pull_failures + 1, self.ctx.options.max_backoff);
                        l.pull_failures += 1;
                        let msg = format!("Back-off pulling image \"{}\": {why}", c.image);
                        l.pull_backoff = Some((now + Duration::from_secs(1), msg));
                        l.next_start = Some(now + delay);
                        continue;
                    }
                    l.pull_failures = 0;
                    l.started_once = true;
                    match self.spawn(c) {
                        Ok(child) => {
                            l.child = Some(child);
                            self.started(which, &c.name).await;
                            if let Some(r) = &mut l.readiness {
                                r.1 = now + r.0.initial_delay;
                                (r.2, r.3) = (0, 0);
                            }
                            if let Some(p) = &mut l.liveness {
                                p.1 = now + p.0.initial_delay;
                                p.2 = 0;
                            }
                            if let Some(s) = self.status.get_mut(which) {
                                s.ready = l.readiness.is_none();
                            }
                        }
                        Err(e) => {
                            let delay = self.ctx.options.max_backoff;
                            self.event(
                                "Warning",
                                "Failed",
                                &format!("cannot start podman: {e}"),
                                Some(&c.name),
                            )
                            .await;
                            l.next_start = Some(now + delay);
                        }
                    }
                }
                if l.child.is_some() {
                    self.probe(net, c, which, l, now).await;
                }
            }
            self.status.running = true;
            self.write().await;
            if !self.sleep(Duration::from_millis(200)).await {
                return;
            }
        }
    }

    async fn probe(
        &mut self,
        net: &Arc<PodNetwork>,
        c: &ContainerRun,
        which: Which,
        l: &mut Live,
        now: Instant,
    ) {
        let node = self.ctx.options.node.clone();
        if let Some((check, due, ok, failed)) = &mut l.readiness
            && *due <= now
        {
            *due = now + check.period;
            match probe::run(check, net, &node, &c.container).await {
                Ok(()) => {
                    *ok += 1;
                    *failed = 0;
                    if *ok >= check.success_threshold
                        && let Some(s) = self.status.get_mut(which)
                    {
                        s.ready = true;
                    }
                }
                Err(why) => {
                    *failed += 1;
                    *ok = 0;
                    let threshold = check.failure_threshold;
                    let failed = *failed;
                    self.event(
                        "Warning",
                        "Unhealthy",
                        &format!("Readiness probe failed: {why}"),
                        Some(&c.name),
                    )
                    .await;
                    if failed >= threshold
                        && let Some(s) = self.status.get_mut(which)
                    {
                        s.ready = false;
                    }
                }
            }
        }
        if let Some((check, due, failed)) = &mut l.liveness
            && *due <= now
        {
            *due = now + check.period;
            match probe::run(check, net, &node, &c.container).await {
                Ok(()) => *failed = 0,
                Err(why) => {
                    *failed += 1;
                    let kill = *failed >= check.failure_threshold;
                    self.event(
                        "Warning",
                        "Unhealthy",
                        &format!("Liveness probe failed: {why}"),
                        Some(&c.name),
                    )
                    .await;
                    if kill {
                        let msg = format!("Container {} failed liveness probe, will be restarted", c.name);
                        self.event("Normal", "Killing", &msg, Some(&c.name)).await;
                        // It exits; the supervisor restarts it like any exit.
                        stop_container(&node, &c.container, self.ctx.options.termination_grace).await;
                    }
                }
            }
        }
    }

    /// Stops every running container (SIGTERM, SIGKILL after the grace period), concurrently.
    async fn stop_all(&mut self, live: &mut [Live]) {
        let mut stopping = Vec::new();
        for l in live.iter_mut() {
            if let Some(child) = l.child.take() {
                let name = l.name.clone();
                self.event(
                    "Normal",
                    "Killing",
                    &format!("Stopping container {name}"),
                    Some(&name),
                )
                .await;
                let container = l.container.clone();
                let node = self.ctx.options.node.clone();
                let grace = self.ctx.options.termination_grace;
                stopping.push(async move {
                    let mut child = child;
                    stop_container(&node, &container, grace).await;
                    if tokio::time::timeout(Duration::from_secs(5), child.wait())
                        .await
                        .is_err()
                    {
                        let _ = child.kill().await;
                    }
                });
            }
        }
        futures::future::join_all(stopping).await;
    }
}

/// `podman stop --time=GRACE NAME`: SIGTERM (the image's stop signal), SIGKILL after the grace.
async fn stop_container(node: &Node, container: &str, grace: Duration) {
    let mut cmd = node.async_command();
    cmd.arg("stop")
        .arg(format!("--time={}", grace.as_secs()))
        .arg(container)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _ = cmd.status().await;
}

fn exit_code(status: Option<std::process::ExitStatus>) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status.map_or(-1, |s| s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)))
}

/// Whether the last path component names a tag (`repo:tag`; a port is in an earlier one).
fn last_has_tag(image: &str) -> bool {
    image.rsplit('/').next().is_some_and(|last| last.contains(':'))
}

/// The image's ID in the node's store, if present.
async fn image_id(node: &Node, image: &str) -> Option<String> {
    let mut cmd = node.async_command();
    cmd.args(["image", "inspect", "--format={{.Id}}", image]);
    let out = cmd.output().await.ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// `podman pull` through the node's registries.conf, CA and `auth`; the image ID, or the
/// runtime's message.
async fn pull(node: &Node, image: &str, auth: Option<&Path>) -> Result<String, String> {
    let mut cmd = node.async_command();
    cmd.args(["pull", "--quiet"]);
    if let Some(a) = auth {
        cmd.arg("--authfile").arg(a);
    }
    if let Some(d) = &node.cert_dir {
        cmd.arg("--cert-dir").arg(d);
    }
    cmd.arg(image);
    let out = cmd
        .output()
        .await
        .map_err(|e| format!("cannot run podman: {e}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The runtime's own error line (`Error: …`), else its last words.
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Error: "))
        .or_else(|| stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("podman pull failed");
    Err(line.trim_start_matches("Error: ").to_owned())
}

/// A Service's link variables (`<NAME>_SERVICE_HOST`, `<NAME>_PORT_<port>_TCP`, …) as the
/// kubelet sets them; headless Services have none. devcluster has no service network: a Service
/// without a `clusterIP` is linked at 127.0.0.1.
fn service_links_of(s: &Service) -> Vec<(String, String)> {
    let Some(spec) = &s.spec else { return Vec::new() };
    let ip = spec
        .cluster_ip
        .clone()
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| "127.0.0.1".into());
    if ip == "None" {
        return Vec::new();
    }
    let name = s
        .metadata
        .name
        .clone()
        .unwrap_or_default()
        .to_uppercase()
        .replace('-', "_");
    let ports: Vec<(Option<String>, String, String)> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.clone(),
                p.port.to_string(),
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            )
        })
        .collect();
    links(&name, &ip, &ports)
}

fn links(name: &str, ip: &str, ports: &[(Option<String>, String, String)]) -> Vec<(String, String)> {
    let Some((_, first, first_proto)) = ports.first() else {
        return Vec::new();
    };
    let mut env = vec![
        (format!("{name}_SERVICE_HOST"), ip.to_owned()),
        (format!("{name}_SERVICE_PORT"), first.clone()),
    ];
    for (port_name, port, _) in ports {
        if let Some(n) = port_name.as_deref().filter(|n| !n.is_empty()) {
            env.push((
                format!("{name}_SERVICE_PORT_{}", n.to_uppercase().replace('-', "_")),
                port.clone(),
            ));
        }
    }
    env.push((
        format!("{name}_PORT"),
        format!("{}://{ip}:{first}", first_proto.to_lowercase()),
    ));
    for (_, port, proto) in ports {
        let prefix = format!("{name}_PORT_{port}_{}", proto.to_uppercase());
        env.push((prefix.clone(), format!("{}://{ip}:{port}", proto.to_lowercase())));
        env.push((format!("{prefix}_PROTO"), proto.to_lowercase()));
        env.push((format!("{prefix}_PORT"), port.clone()));
        env.push((format!("{prefix}_ADDR"), ip.to_owned()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_links_follow_the_kubelet_s_names() {
        let s: Service = serde_json::from_value(json!({
            "metadata": {"name": "ignition-server", "namespace": "ns"},
            "spec": {"clusterIP": "127.0.0.1", "ports": [{"name": "https", "port": 443}, {"port": 8080, "protocol": "TCP"}]},
        }))
        .unwrap();
        let env: BTreeMap<String, String> = service_links_of(&s).into_iter().collect();
        assert_eq!(env["IGNITION_SERVER_SERVICE_HOST"], "127.0.0.1");
        assert_eq!(env["IGNITION_SERVER_SERVICE_PORT"], "443");
        assert_eq!(env["IGNITION_SERVER_SERVICE_PORT_HTTPS"], "443");
        assert_eq!(env["IGNITION_SERVER_PORT"], "tcp://127.0.0.1:443");
        assert_eq!(env["IGNITION_SERVER_PORT_8080_TCP_ADDR"], "127.0.0.1");
        assert_eq!(env["IGNITION_SERVER_PORT_8080_TCP_PROTO"], "tcp");
        let headless: Service =
            serde_json::from_value(json!({"metadata": {"name": "etcd-discovery"}, "spec": {"clusterIP": "None", "ports": [{"port": 2380}]}}))
                .unwrap();
        assert!(service_links_of(&headless).is_empty());
    }

    #[test]
    fn image_pull_policy_defaults_follow_the_tag() {
        assert!(last_has_tag("127.0.0.1:5000/x/y:4.99"));
        assert!(!last_has_tag("127.0.0.1:5000/x/y"));
        assert!(!last_has_tag(
            "quay.invalid/x/y@sha256:aa".split('@').next().unwrap_or_default()
        ));
    }
}
