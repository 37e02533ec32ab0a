//! Pods as containers (the container runtime's translation, issue 10): from a pod template to
//! `podman` command lines that run each container **from the image its spec names**, pulled
//! through a node's registries.conf, with the pod spec's command, environment, volumes and
//! securityContext honoured as a kubelet would. Pure: no IO; the caller writes the volumes (the
//! same files as the process runtime: [`plan::volume_content`]) and runs the commands.
//!
//! What is translated:
//! - `command` → `--entrypoint` (as a JSON array: no shell splitting), `args` → the arguments
//!   after the image (`command` empty: the image's entrypoint with `args`); `$(VAR)` expanded
//!   from the container's environment, as the kubelet does;
//! - `env`/`envFrom` resolved as in the process runtime (Secrets, ConfigMaps, `fieldRef`);
//! - `volumeMounts` → `--volume HOST:PATH[:ro]` (with `subPath`), every volume written under the
//!   pod directory; Secret, ConfigMap, projected and downward-API volumes always read-only;
//! - `securityContext` (container over pod): `runAsUser`/`runAsGroup` → `--user`,
//!   `readOnlyRootFilesystem` → `--read-only`, `capabilities` → `--cap-drop`/`--cap-add`,
//!   `allowPrivilegeEscalation: false` → `no-new-privileges`; `runAsNonRoot` is checked by the
//!   caller against the image's configured user (podman has no such flag);
//! - `workingDir` → `--workdir`;
//! - the image by its name in the spec, never pulled again by `run` (`--pull=never`): the caller
//!   pulls first, so a failed pull is reported as such (ErrImagePull) with the runtime's message.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, SecurityContext};

use super::plan::{self, Lookup, PodIdentity, VolumeContent};

/// One container to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRun {
    /// The container's name in the pod spec.
    pub name: String,
    /// The image, exactly as the spec names it.
    pub image: String,
    /// podman's name for the container (`--name`).
    pub container: String,
    /// `podman run` arguments after `run` (options, the image, the arguments). They carry the
    /// resolved environment, Secret values included: never log them.
    pub args: Vec<String>,
    /// Whether the pod spec asks for a non-root user (`runAsNonRoot`): the caller refuses to start
    /// it when the image's user is root and no `runAsUser` is set.
    pub run_as_non_root: bool,
}

/// A pod's containers in the order a kubelet starts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRun {
    /// Volumes by name (written by the caller to the directory `volume_dir(name)` named).
    pub volumes: BTreeMap<String, VolumeContent>,
    /// Init containers, each to run to completion in order.
    pub init: Vec<ContainerRun>,
    /// The containers, started once every init container succeeded.
    pub containers: Vec<ContainerRun>,
}

/// Plans `template` as containers; `Err` says what it waits for (a missing Secret, an unsupported
/// volume, a mount naming no volume). `network` is the `--network` value for every container
/// (the pod's network namespace), `volume_dir(name)` the host directory of volume `name`.
pub fn plan(
    template: &PodTemplateSpec,
    pod: &PodIdentity<'_>,
    lookup: &dyn Lookup,
    volume_dir: &dyn Fn(&str) -> PathBuf,
    network: &str,
) -> Result<PodRun, String> {
    plan_with(template, pod, lookup, volume_dir, network, &PodExtras::default())
}

/// What a kubelet adds to every container of a pod besides its spec: environment set before
/// the container's own (which wins: service links, `KUBERNETES_SERVICE_*`), read-only mounts
/// (the service-account token), and options for `podman run` (`--rm`, `--hostname`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodExtras {
    /// Variables given before the container's `env`/`envFrom`.
    pub env: Vec<(String, String)>,
    /// (host directory, container path), mounted read-only unless the spec mounts that path.
    pub mounts: Vec<(PathBuf, String)>,
    /// Options placed first.
    pub options: Vec<String>,
    /// Container names are `<prefix><container>` (default: `<pod>-<container>`).
    pub name_prefix: Option<String>,
}

/// [`plan`] with what the kubelet adds.
///
/// # Errors
/// As [`plan`].
pub fn plan_with(
    template: &PodTemplateSpec,
    pod: &PodIdentity<'_>,
    lookup: &dyn Lookup,
    volume_dir: &dyn Fn(&str) -> PathBuf,
    network: &str,
    extras: &PodExtras,
) -> Result<PodRun, String> {
    let spec = template.spec.as_ref().ok_or("the pod template has no spec")?;
    let mut volumes = BTreeMap::new();
    let mut paths = BTreeMap::new();
    for v in spec.volumes.iter().flatten() {
        let content = plan::volume_content(v, pod.namespace, lookup)?;
        let path = match &content {
            VolumeContent::HostPath(p) => p.clone(),
            VolumeContent::Files(_) => volume_dir(&v.name),
        };
        paths.insert(v.name.clone(), path);
        volumes.insert(v.name.clone(), content);
    }
    // Secret, ConfigMap, projected and downward-API volumes are mounted read-only, as a kubelet
    // mounts them.
    let read_only: BTreeSet<String> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| {
            v.secret.is_some() || v.config_map.is_some() || v.projected.is_some() || v.downward_api.is_some()
        })
        .map(|v| v.name.clone())
        .collect();
    let mounts = Mounts {
        paths: &paths,
        read_only: &read_only,
    };
    let run = |c: &Container| container(spec, c, pod, lookup, &mounts, network, extras);
    Ok(PodRun {
        volumes,
        init: spec
            .init_containers
            .iter()
            .flatten()
            .map(run)
            .collect::<Result<_, _>>()?,
        containers: spec.containers.iter().map(run).collect::<Result<_, _>>()?,
    })
}

/// The pod's volumes as containers mount them.
struct Mounts<'a> {
    paths: &'a BTreeMap<String, PathBuf>,
    read_only: &'a BTreeSet<String>,
}

fn container(
    spec: &PodSpec,
    c: &Container,
    pod: &PodIdentity<'_>,
    lookup: &dyn Lookup,
    mounts: &Mounts<'_>,
    network: &str,
    extras: &PodExtras,
) -> Result<ContainerRun, String> {
    let image = c
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| format!("container {}: no image", c.name))?;
    let env = plan::container_env(c, spec.service_account_name.as_deref(), pod, lookup)?;
    let container = extras.name_prefix.as_ref().map_or_else(
        || format!("{}-{}", pod.name, c.name),
        |p| format!("{p}{}", c.name),
    );
    let mut args = extras.options.clone();
    args.extend([
        "--name".to_owned(),
        container.clone(),
        "--pull=never".to_owned(),
        format!("--network={network}"),
    ]);
    let security = merged_security(spec, c.security_context.as_ref());
    if let Some(user) = security.run_as_user {
        args.push(format!(
            "--user={user}{}",
            security.run_as_group.map(|g| format!(":{g}")).unwrap_or_default()
        ));
    }
    if security.read_only_root_filesystem == Some(true) {
        args.push("--read-only".to_owned());
    }
    if security.allow_privilege_escalation == Some(false) {
        args.push("--security-opt=no-new-privileges".to_owned());
    }
    if let Some(caps) = &security.capabilities {
        for cap in caps.drop.iter().flatten() {
            args.push(format!("--cap-drop={cap}"));
        }
        for cap in caps.add.iter().flatten() {
            args.push(format!("--cap-add={cap}"));
        }
    }
    // podman keeps the last of repeated variables: the container's own win over the kubelet's.
    for (k, v) in extras.env.iter().chain(&env) {
        args.push(format!("--env={k}={v}"));
    }
    for m in c.volume_mounts.iter().flatten() {
        let base = mounts
            .paths
            .get(&m.name)
            .ok_or_else(|| format!("container {}: volumeMount {} names no volume", c.name, m.name))?;
        let host = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => base.join(sub),
            None => base.clone(),
        };
        let ro = if m.read_only == Some(true) || mounts.read_only.contains(&m.name) {
            ":ro"
        } else {
            ""
        };
        args.push(format!("--volume={}:{}{ro}", host.display(), m.mount_path));
    }
    for (host, path) in &extras.mounts {
        let taken = c.volume_mounts.iter().flatten().any(|m| &m.mount_path == path);
        if !taken {
            args.push(format!("--volume={}:{path}:ro", host.display()));
        }
    }
    if let Some(dir) = c.working_dir.as_deref().filter(|w| !w.is_empty()) {
        args.push(format!("--workdir={dir}"));
    }
    let expand = |items: &Option<Vec<String>>| -> Vec<String> {
        items
            .iter()
            .flatten()
            .map(|a| plan::expand_vars(a, &env))
            .collect()
    };
    let command = expand(&c.command);
    if !command.is_empty() {
        args.push(format!("--entrypoint={}", serde_json::Value::from(command)));
    }
    args.push(image.clone());
    args.extend(expand(&c.args));
    Ok(ContainerRun {
        name: c.name.clone(),
        image,
        container,
        args,
        run_as_non_root: security.run_as_non_root == Some(true),
    })
}

/// The container's securityContext over the pod's (the fields both have).
fn merged_security(spec: &PodSpec, container: Option<&SecurityContext>) -> SecurityContext {
    let mut s = container.cloned().unwrap_or_default();
    if let Some(pod) = &spec.security_context {
        s.run_as_user = s.run_as_user.or(pod.run_as_user);
        s.run_as_group = s.run_as_group.or(pod.run_as_group);
        s.run_as_non_root = s.run_as_non_root.or(pod.run_as_non_root);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};

    struct NoObjects;
    impl Lookup for NoObjects {
        fn secret(&self, _: &str, _: &str) -> Option<Secret> {
            None
        }
        fn config_map(&self, _: &str, _: &str) -> Option<ConfigMap> {
            None
        }
    }

    fn template(spec: &serde_json::Value) -> PodTemplateSpec {
        serde_json::from_value(serde_json::json!({"spec": spec})).unwrap()
    }

    fn pod() -> PodIdentity<'static> {
        PodIdentity {
            namespace: "clusters-example",
            name: "cvo-1",
            uid: "u",
        }
    }

    #[test]
    fn a_restricted_container_runs_its_command_from_its_image_with_its_volumes() {
        let t = template(&serde_json::json!({
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1001},
            "volumes": [{"name": "payload", "emptyDir": {}}],
            "initContainers": [{
                "name": "prepare", "image": "quay.invalid/r@sha256:aa",
                "command": ["/bin/sh", "-c", "cp -R /manifests /var/payload/"],
                "volumeMounts": [{"name": "payload", "mountPath": "/var/payload"}],
            }],
            "containers": [{
                "name": "cvo", "image": "quay.invalid/r@sha256:aa",
                "command": ["/usr/bin/cvo"], "args": ["start", "--dir=$(DIR)"],
                "env": [{"name": "DIR", "value": "/var/payload"}, {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "payload", "mountPath": "/var/payload", "readOnly": true}],
            }],
        }));
        let run = plan(
            &t,
            &pod(),
            &NoObjects,
            &|v| PathBuf::from("/pods/p").join(v),
            "none",
        )
        .unwrap();
        assert_eq!(run.volumes.len(), 1);
        assert_eq!(run.init.len(), 1);
        assert_eq!(
            run.init[0].args,
            [
                "--name",
                "cvo-1-prepare",
                "--pull=never",
                "--network=none",
                "--user=1001",
                "--volume=/pods/p/payload:/var/payload",
                r#"--entrypoint=["/bin/sh","-c","cp -R /manifests /var/payload/"]"#,
                "quay.invalid/r@sha256:aa",
            ]
        );
        let main = &run.containers[0];
        assert!(main.run_as_non_root);
        assert_eq!(
            main.args,
            [
                "--name",
                "cvo-1-cvo",
                "--pull=never",
                "--network=none",
                "--user=1001",
                "--read-only",
                "--security-opt=no-new-privileges",
                "--cap-drop=ALL",
                "--env=DIR=/var/payload",
                "--env=NS=clusters-example",
                "--volume=/pods/p/payload:/var/payload:ro",
                r#"--entrypoint=["/usr/bin/cvo"]"#,
                "quay.invalid/r@sha256:aa",
                "start",
                "--dir=/var/payload",
            ]
        );
    }

    #[test]
    fn a_missing_secret_or_a_mount_without_a_volume_waits_with_the_reason() {
        let t = template(&serde_json::json!({
            "volumes": [{"name": "s", "secret": {"secretName": "pull"}}],
            "containers": [{"name": "c", "image": "i"}],
        }));
        let e = plan(&t, &pod(), &NoObjects, &|v| PathBuf::from(v), "none").unwrap_err();
        assert!(e.contains("clusters-example/pull"), "{e}");
        let t = template(&serde_json::json!({
            "containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}],
        }));
        let e = plan(&t, &pod(), &NoObjects, &|v| PathBuf::from(v), "none").unwrap_err();
        assert_eq!(e, "container c: volumeMount x names no volume");
    }
}
